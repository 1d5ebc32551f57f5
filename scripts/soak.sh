#!/usr/bin/env bash
# A soak run against a release build: respondents all the time, and every
# minute a lead's draft upload, a sample import and an analyst's download,
# bounded in count and time. Prints the server's memory at 5 minutes and at
# the end, every error, and the respondents' page-submit p99.
#
#   scripts/soak.sh [sqlite|postgres] [--minutes N] [--users N] [--no-build]
#
# Passes when: RSS at the end <= 110% of RSS at 5 minutes; no error from
# any actor; page-submit p99 under 100 ms. Default 30 minutes, 16 users.
# (`--minutes 2` is a smoke run: the memory rule then compares minute 1.)
set -euo pipefail
cd "$(dirname "$0")/.."

backend=sqlite minutes=30 users=16 build=1
while [ $# -gt 0 ]; do
  case "$1" in
    sqlite|postgres) backend=$1 ;;
    --minutes) minutes=$2; shift ;;
    --users) users=$2; shift ;;
    --no-build) build=0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[ "$build" = 1 ] && cargo build -q --release -p joinedup -p joinedup-loadtest
bin="$PWD/target/release/joinedup"
driver="$PWD/target/release/joinedup-loadtest"

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
case "$backend" in
  sqlite) db="$work/soak.sqlite3" ;;
  postgres)
    admin="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    name="joinedup_soak_$$"
    psql "$admin" -qc "CREATE DATABASE $name"
    db="${admin%/*}/$name" ;;
esac
export DATABASE_URL="$db" RUST_LOG=warn JOINEDUP_START_RATE=100000000

server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  [ "$backend" = postgres ] && psql "$admin" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --bind "127.0.0.1:$port" >>"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 200); do curl -sf "$base/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "$base/healthz" >/dev/null || { cat "$work/server.log" >&2; exit 1; }

password="soak-password-$(date +%s)-long-enough"
echo "$password" | "$bin" user add --email lead@soak.invalid --role survey_lead >/dev/null
echo "$password" | "$bin" user add --email analyst@soak.invalid --role analyst >/dev/null

# A signed-in browser: a cookie jar and the CSRF token of a page.
sign_in() { # jar email
  local token
  token=$(curl -sf -c "$1" -b "$1" "$base/sign-in" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1)
  curl -sf -o /dev/null -c "$1" -b "$1" --data-urlencode "csrf_token=$token" --data-urlencode "email=$2" \
    --data-urlencode "password=$password" "$base/sign-in"
}
token_of() { curl -sf -c "$1" -b "$1" "$base$2" | sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' | head -1; }
sign_in "$work/lead.jar" lead@soak.invalid
sign_in "$work/analyst.jar" analyst@soak.invalid

rss() { awk '/^VmRSS/ { print $2 }' "/proc/$server_pid/status"; }
errors=0
fail() { echo "error: $*" >&2; errors=$((errors + 1)); }

"$driver" --host "$base" --users "$users" --increase-rate "$users" --run-time "${minutes}m" \
  --quiet --no-error-summary >"$work/driver.log" 2>&1 &
driver_pid=$!

started=$(date +%s)
rss_early="" minute=0
early_at=$(( minutes >= 10 ? 5 : 1 ))
while kill -0 "$driver_pid" 2>/dev/null && [ "$minute" -lt "$minutes" ]; do
  minute=$((minute + 1))
  # A lead uploads a draft (the shipped example under a new id).
  token=$(token_of "$work/lead.jar" /lead/drafts/new)
  sed "s/^id: format_example/id: soak_$minute/" survey-definitions/format-example.yaml >"$work/draft.yaml"
  code=$(curl -s -o /dev/null -w '%{http_code}' -b "$work/lead.jar" -F "csrf_token=$token" \
    -F "file=@$work/draft.yaml" "$base/lead/drafts")
  [ "$code" = 303 ] || fail "minute $minute: draft upload answered $code"
  # A sample of 5,000 people imported alongside.
  python3 -c "
import sys
m = int(sys.argv[1])
print('email,ics,age_band,sex,imd_quintile,selection_probability,language')
for i in range(5000):
    print(f'soak{m}-{i}@example.org,E54000008,65-74,female,{i % 5 + 1},0.02,')
" "$minute" >"$work/sample.csv"
  "$bin" invite --survey integration_index --sample "$work/sample.csv" --no-send >"$work/import.log" 2>&1 \
    || fail "minute $minute: import: $(tail -1 "$work/import.log")"
  # An analyst downloads the latest release (or is told there is none yet).
  code=$(curl -s -o /dev/null -w '%{http_code}' -b "$work/analyst.jar" \
    "$base/analyst/surveys/integration_index/download?format=csv")
  case "$code" in 200|400) ;; *) fail "minute $minute: download answered $code" ;; esac
  [ "$minute" = "$early_at" ] && rss_early=$(rss) && echo "RSS at minute $minute: $((rss_early / 1024)) MiB"
  next=$(( started + minute * 60 ))
  now=$(date +%s)
  [ "$now" -lt "$next" ] && sleep $(( next - now ))
done
rss_end=$(rss)
wait "$driver_pid" || fail "the respondents' driver exited with an error"
echo "== soak, $backend, $minutes min, $users respondents"
sed -n '/== joinedup load figures ==/,$p' "$work/driver.log"
echo "RSS at minute $early_at: $((rss_early / 1024)) MiB; at the end: $((rss_end / 1024)) MiB ($(( rss_end * 100 / rss_early ))%)"
grep -ciE ' ERROR |panicked' "$work/server.log" >/dev/null && fail "the server logged errors: $(grep -iE ' ERROR |panicked' "$work/server.log" | head -3)"
p99=$(sed -n 's/^page submit latency: .* p99 \([0-9.]*\) ms.*/\1/p' "$work/driver.log")
verdict=pass
[ "$(( rss_end * 100 ))" -le "$(( rss_early * 110 ))" ] || { verdict=fail; echo "memory grew more than 10%"; }
awk -v p="${p99:-9999}" 'BEGIN { exit !(p < 100) }' || { verdict=fail; echo "page-submit p99 ${p99:-?} ms is not under 100 ms"; }
[ "$errors" = 0 ] || verdict=fail
echo "errors: $errors; verdict: $verdict"
[ "$verdict" = pass ]
