#!/usr/bin/env bash
# The integration index at scale, end to end from the database: loads the
# demo responses, copies the main survey's submitted responses and result
# rows until there are N, all dated in last month (one release), then times
# `joinedup results` computing that release (every cell: index, domains,
# questions with their SEs, every dimension, both samples; stored; CSV
# written) with its peak memory, then serving the stored release, and the
# researcher's microdata download through a real server (time to first
# byte, total, and the server's peak memory).
#
#   scripts/index-perf.sh [sqlite|postgres] [N ...]   (default: sqlite 100000 1000000)
#     --no-build      use the release binary already built
#     --keep          keep the grown database and print where it is (for profiling)
#     --before BIN    also time an earlier build's `joinedup results` on the
#                     same rows, run for run beside this one's (before/after)
#
# The copies repeat the demo's ~15,000 people, each copy moved to other
# ICSs, and about one in six of the invited copies answered on paper (the
# demo's own responses are all online), so results by mode have both modes;
# the figures measure speed and memory, not statistics.
# PostgreSQL: a fresh database on TEST_POSTGRES_URL's server, dropped
# afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite build=1 keep=0 sizes=() before=""
while [ $# -gt 0 ]; do
  case "$1" in
    sqlite|postgres) backend=$1 ;;
    --no-build) build=0 ;;
    --keep) keep=1 ;;
    --before) before=$(realpath "$2"); shift ;;
    *[!0-9]*) echo "unknown argument: $1" >&2; exit 2 ;;
    *) sizes+=("$1") ;;
  esac
  shift
done
[ ${#sizes[@]} -gt 0 ] || sizes=(100000 1000000)
[ "$build" = 1 ] && cargo build -q --release -p joinedup
# Where cargo puts it: CARGO_TARGET_DIR when set (a shared build cache).
bin="$(realpath "${CARGO_TARGET_DIR:-target}")/release/joinedup"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case "$backend" in
  sqlite) db="$work/perf.sqlite3"; sql() { sqlite3 "$db" "$1"; } ;;
  postgres)
    admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    name="joinedup_perf_$$"
    psql "$admin" -qc "CREATE DATABASE $name"
    db="${admin%/*}/$name"
    sql() { psql "$db" -qtAc "$1"; } ;;
esac
export DATABASE_URL="$db" RUST_LOG=warn

server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$keep" = 1 ]; then
    if [ "$backend" = sqlite ]; then
      mkdir -p target/index-perf && rm -f target/index-perf/perf.sqlite3*; mv "$work"/perf.sqlite3* target/index-perf/ && db="$PWD/target/index-perf/perf.sqlite3"
    fi
    echo "kept: DATABASE_URL=$db"
    [ "$backend" = sqlite ] && rm -rf "$work"
    return 0
  fi
  [ "$backend" = postgres ] && psql "$admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_server() {
  "$bin" serve --bind "127.0.0.1:$port" "$@" >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 1200); do
    curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "the server did not start:" >&2; cat "$work/server.log" >&2; return 1
}
stop_server() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }

echo "== $backend: loading the demo responses"
start_server --demo
stop_server
printf 'perf-analyst-password-2026\n' | "$bin" user add --email perf-analyst@example.org --role analyst,researcher >/dev/null
# Every row in one closed month: last month's release holds them all.
release=$(date -u -d "$(date -u +%Y-%m-01) -1 month" +%Y-%m)
sql "UPDATE response_results SET submitted_on = '$release-15' WHERE survey_id = 'integration_index'" >/dev/null
base_max=$(sql "SELECT MAX(response_id) FROM response_results WHERE survey_id = 'integration_index'")
base_n=$(sql "SELECT COUNT(*) FROM response_results WHERE survey_id = 'integration_index'")
offset=$(sql "SELECT MAX(id) FROM responses")
echo "demo: $base_n responses to integration_index"

# Copies k = 1, 2, ... of the demo rows get ids shifted by k * offset.
grow_to() {
  local target=$1 have need rounds
  have=$(sql "SELECT COUNT(*) FROM response_results WHERE survey_id = 'integration_index'")
  need=$(( target - have ))
  [ "$need" -gt 0 ] || return 0
  local first_round=$(( (have - base_n + base_n - 1) / base_n + 1 ))
  rounds=$(( (need + base_n - 1) / base_n + first_round ))
  # Copy k moves each person k ICSs along (in code order), so every ICS
  # gets people from many others: as varied as real responses are, not the
  # same few hundred people over and over.
  local copies="WITH RECURSIVE k(n) AS (SELECT $first_round UNION ALL SELECT n + 1 FROM k WHERE n < $rounds),
    codes AS (SELECT DISTINCT ons_code FROM icss),
    ranked AS (SELECT ons_code, ROW_NUMBER() OVER (ORDER BY ons_code) - 1 AS i, COUNT(*) OVER () AS total FROM codes)"
  local moved="LEFT JOIN ranked a ON a.ons_code = rr.ics_code LEFT JOIN ranked b ON b.i = (a.i + k.n) % a.total"
  local pick="rr.survey_id = 'integration_index' AND rr.response_id <= $base_max ORDER BY k.n, rr.response_id LIMIT $need"
  # A response and its result row get the same mode.
  local mode="CASE WHEN rr.channel = 'invitation' AND (rr.response_id + k.n) % 6 = 0 THEN 'paper' ELSE rr.mode END"
  sql "$copies INSERT INTO responses (id, survey_version_id, channel, status, voice, language, ics_code, created_at, updated_at, submitted_at, voice_preset, ics_preset, mode)
       SELECT r.id + k.n * $offset, r.survey_version_id, r.channel, r.status, r.voice, r.language, COALESCE(b.ons_code, r.ics_code), r.created_at, r.updated_at, r.submitted_at, r.voice_preset, r.ics_preset, $mode
       FROM response_results rr JOIN responses r ON r.id = rr.response_id CROSS JOIN k $moved WHERE $pick"
  sql "$copies INSERT INTO response_results (response_id, survey_version_id, survey_id, scoring_signature, submitted_on, channel, voice, ics_code, age_band, sex, ethnicity, long_term_condition, imd_quintile, base_weight, index_score, domain_scores, choices, mode)
       SELECT rr.response_id + k.n * $offset, rr.survey_version_id, rr.survey_id, rr.scoring_signature, rr.submitted_on, rr.channel, rr.voice, COALESCE(b.ons_code, rr.ics_code), rr.age_band, rr.sex, rr.ethnicity, rr.long_term_condition, rr.imd_quintile, rr.base_weight, rr.index_score, rr.domain_scores, rr.choices, $mode
       FROM response_results rr CROSS JOIN k $moved WHERE $pick"
  # Let the bulk load settle before timing, as a database that grew over
  # months has: PostgreSQL's first reads of new rows would otherwise set
  # their hint bits (writes) while autovacuum runs beside them, and
  # SQLite's write-ahead log is folded in and the dirty pages written out.
  if [ "$backend" = postgres ]; then
    psql "$db" -qc "VACUUM ANALYZE responses" -qc "VACUUM ANALYZE response_results"
  else
    sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
  fi
  sync
}

for n in "${sizes[@]}"; do
  grow_to "$n"
  have=$(sql "SELECT COUNT(*) FROM response_results WHERE survey_id = 'integration_index'")
  echo "== $backend, $have submitted responses"
  for run in 1 2 3; do
    if [ -n "$before" ]; then
      # Computed afresh, not the release the other build stored.
      sql "DELETE FROM result_releases" >/dev/null
      /usr/bin/time -f "%e %M" -o "$work/time" "$before" results --survey integration_index --release "$release" --format csv --out "$work/before.csv"
      read -r seconds kb <"$work/time"
      echo "before: joinedup results (run $run): ${seconds} s, peak RSS $(( kb / 1024 )) MiB, $(grep -vc '^#' "$work/before.csv") CSV lines"
    fi
    sql "DELETE FROM result_releases" >/dev/null
    /usr/bin/time -f "%e %M" -o "$work/time" "$bin" results --survey integration_index --release "$release" --format csv --out "$work/results.csv"
    read -r seconds kb <"$work/time"
    echo "after: joinedup results computing release $release (run $run): ${seconds} s, peak RSS $(( kb / 1024 )) MiB, $(grep -vc '^#' "$work/results.csv") CSV lines"
  done
  /usr/bin/time -f "%e %M" -o "$work/time" "$bin" results --survey integration_index --release "$release" --format csv --out "$work/results.csv"
  read -r seconds kb <"$work/time"
  echo "after: joinedup results serving the stored release: ${seconds} s, peak RSS $(( kb / 1024 )) MiB"
  grep '^# information loss' "$work/results.csv" || true
  start_server
  jar="$work/cookies"
  rm -f "$jar"
  token=$(curl -s -c "$jar" "http://127.0.0.1:$port/sign-in" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -n 1)
  curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf_token=$token" \
    --data-urlencode "email=perf-analyst@example.org" --data-urlencode "password=perf-analyst-password-2026" \
    "http://127.0.0.1:$port/sign-in"
  rss_before=$(ps -o rss= -p "$server_pid")
  curl -s -b "$jar" -o "$work/micro.csv" -w '%{http_code} %{time_starttransfer} %{time_total}\n' \
    "http://127.0.0.1:$port/research/surveys/integration_index/microdata?release=$release" >"$work/curl"
  read -r code first total <"$work/curl"
  peak=$(grep VmHWM "/proc/$server_pid/status" | awk '{print $2}')
  echo "microdata: HTTP $code, first byte ${first} s, all ${total} s, $(grep -vc '^#' "$work/micro.csv") lines; server RSS $(( rss_before / 1024 )) MiB before, peak $(( peak / 1024 )) MiB"
  stop_server
done
