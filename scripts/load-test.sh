#!/usr/bin/env bash
# Concurrent respondents through the whole survey against a real server,
# then a check that the database holds exactly what was acknowledged.
#
#   scripts/load-test.sh [sqlite|postgres] [options]
#     --users N        concurrent respondents (default 64)
#     --run-time T     goose duration, e.g. 30s (default 30s)
#     --kill           SIGKILL the server halfway and restart it; every
#                      acknowledged page and submission must survive
#     --debug          use debug builds (the CI smoke run) instead of release
#     --no-build       use the binaries already built
#     --metrics on|off count requests for /metrics (default on): run both
#                      ways to measure what the metrics cost per page submit;
#                      with on, /metrics is scraped (as Prometheus would, with
#                      an admin API token) halfway and at the end, and a
#                      summary of the scrape is printed
#     --import N       5 s into the run, import an N-line sample (the CLI's
#                      `joinedup invite --no-send`) alongside the respondents,
#                      and print how long it took; their page-submit p99 is
#                      the figure to watch
#
# PostgreSQL: a fresh database on TEST_POSTGRES_URL's server (default
# postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite users=64 run_time=30s kill=0 profile=release build=1 import=0 metrics=on
while [ $# -gt 0 ]; do
  case "$1" in
    sqlite|postgres) backend=$1 ;;
    --users) users=$2; shift ;;
    --run-time) run_time=$2; shift ;;
    --kill) kill=1 ;;
    --debug) profile=debug ;;
    --no-build) build=0 ;;
    --import) import=$2; shift ;;
    --metrics) metrics=$2; shift ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

if [ "$build" = 1 ]; then
  if [ "$profile" = release ]; then cargo build -q --release -p joinedup -p joinedup-loadtest
  else cargo build -q -p joinedup -p joinedup-loadtest; fi
fi
bin="target/$profile/joinedup"
driver="target/$profile/joinedup-loadtest"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case "$backend" in
  sqlite) db="$work/load.sqlite3" ;;
  postgres)
    admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    name="joinedup_load_$$"
    psql "$admin" -qc "CREATE DATABASE $name"
    db="${admin%/*}/$name" ;;
esac

server_pid=""
start_server() {
  JOINEDUP_START_RATE=100000000 RUST_LOG=warn DATABASE_URL="$db" JOINEDUP_METRICS="$metrics" \
    "$bin" serve --bind "127.0.0.1:$port" >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2; cat "$work/server.log" >&2; return 1
}
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "$backend" = postgres ] && psql "$admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

start_server
token=""
if [ "$metrics" = on ] && [ "$kill" = 0 ]; then
  head -c 24 /dev/urandom | base64 | DATABASE_URL="$db" "$bin" user add --email metrics@example.org --role admin >/dev/null
  token=$(DATABASE_URL="$db" "$bin" user token metrics@example.org --name "load-test scrape" 2>"$work/token.err") \
    || { echo "cannot issue the scrape's API token:" >&2; cat "$work/token.err" >&2; exit 1; }
fi
# The run time in seconds (30s, 2m), for the halfway scrape.
case "$run_time" in
  *m) run_seconds=$(( ${run_time%m} * 60 )) ;;
  *s) run_seconds=${run_time%s} ;;
  *) run_seconds=$run_time ;;
esac
scrape() { curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" >"$1"; }
echo "== $backend, $users respondents, $run_time, $profile build, metrics $metrics$([ "$kill" = 1 ] && echo ', server killed halfway')"
DATABASE_URL="$db" "$driver" --host "http://127.0.0.1:$port" --users "$users" --increase-rate "$users" \
  --run-time "$run_time" --quiet --no-error-summary >"$work/driver.log" 2>&1 &
driver_pid=$!
import_pid=""
if [ "$import" -gt 0 ]; then
  python3 - "$import" "$work/sample.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
codes = ["E54000008", "E54000010", "E54000048", "E54000050", "E54000057"]
with open(path, "w") as f:
    f.write("email,ics,age_band,sex,imd_quintile,selection_probability,language\n")
    for i in range(n):
        f.write(f"load{i}@example.org,{codes[i % 5]},65-74,female,{i % 5 + 1},0.01,\n")
PY
  (
    sleep 5
    started=$(date +%s.%N)
    DATABASE_URL="$db" RUST_LOG=warn "$bin" invite --survey integration_index --sample "$work/sample.csv" --no-send \
      >"$work/import.log" 2>&1 || { echo "the import failed:" >&2; cat "$work/import.log" >&2; exit 1; }
    awk -v s="$started" -v e="$(date +%s.%N)" -v n="$import" 'BEGIN { printf "sample import alongside: %d lines in %.1f s\n", n, e - s }'
  ) &
  import_pid=$!
fi
if [ "$kill" = 1 ]; then
  seconds=${run_time%s}
  sleep $(( seconds / 2 ))
  kill -9 "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  echo "server killed with SIGKILL at $(date +%T); restarting"
  start_server
fi
if [ -n "$token" ]; then
  ( sleep $(( run_seconds / 2 )); scrape "$work/metrics-mid.txt" || true ) &
fi
status=0
wait "$driver_pid" || status=$?
if [ -n "$import_pid" ]; then wait "$import_pid" || status=$?; fi
sed -n '/== joinedup load figures ==/,$p' "$work/driver.log"
# The server's own CPU time (user + system, every thread) over the run: a
# figure that depends less than throughput on what else the machine does.
if [ "$kill" = 0 ] && [ -r "/proc/$server_pid/stat" ]; then
  ticks=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  submits=$(sed -n 's/^page submits (POST + redirected GET): \([0-9]*\).*/\1/p' "$work/driver.log")
  if [ -n "$submits" ] && [ "$submits" -gt 0 ]; then
    awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" -v n="$submits" \
      'BEGIN { printf "server CPU: %.0f us per page submit (%.1f s in all)\n", t / hz * 1e6 / n, t / hz }'
  fi
fi
if [ -n "$token" ] && scrape "$work/metrics-end.txt"; then
  # What a Prometheus scrape saw: halfway, then at the end.
  for when in mid end; do
    f="$work/metrics-$when.txt"
    [ -s "$f" ] || { echo "/metrics ($when): no scrape"; continue; }
    awk -v when="$when" '
      /^joinedup_http_requests_total\{/ { n += $NF; if ($0 ~ /status="5/) e += $NF }
      /^joinedup_page_submits_total/ { s += $NF }
      /^joinedup_submissions_total / { sub_n = $NF }
      /^joinedup_db_pool_wait_seconds_count / { wc += $NF }
      /^joinedup_db_pool_wait_seconds_sum / { ws += $NF }
      /^joinedup_db_group_commit_seconds_count / { gc = $NF }
      /^joinedup_db_group_commit_seconds_sum / { gs = $NF }
      /^joinedup_db_group_commit_writes_sum / { gw = $NF }
      /^joinedup_db_queued_writes / { q = $NF }
      END {
        printf "/metrics (%s): %d requests (%d 5xx), %d page submits, %d submissions; pool waits %d (mean %.3f ms)", when, n, e, s, sub_n, wc, wc ? ws / wc * 1000 : 0
        if (gc) printf "; group commits %d (mean %.2f ms, %.1f writes each), queue now %d", gc, gs / gc * 1000, gw / gc, q
        printf "\n"
      }' "$f"
  done
  printf '/metrics: %s series in the last scrape\n' "$(grep -c '^joinedup_' "$work/metrics-end.txt" || true)"
fi
if [ "$status" != 0 ]; then
  echo "load run failed (exit $status):" >&2
  tail -20 "$work/driver.log" >&2
  exit "$status"
fi
