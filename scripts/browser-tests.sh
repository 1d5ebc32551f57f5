#!/usr/bin/env bash
# Real-browser tests of the respondent journey (tests/browser/):
#   a11y.js      axe-core at WCAG 2.2 A/AA on every page, voice, language and
#                error state, plus reflow at 320 px and link/button contrast
#                in hover, focus, active and visited states
#   keyboard.js  one whole survey with the keyboard alone
#   nojs.js      every survey to the confirmation page with JavaScript off
#   staff.js     axe-core on the staff pages (account, lead, analyst, admin)
#                and their forms' error states, signed in with every role
#
# Installs Debian's chromium if /usr/bin/chromium is missing, installs the
# pinned npm packages (npm ci), starts joinedup from an existing binary
# (${JOINEDUP_BIN:-target/debug/joinedup}; this script never builds Rust) on
# a free port with a throw-away SQLite database, runs the tests, and always
# stops the server. Exits non-zero if any test fails.
#
# Environment:
#   JOINEDUP_BIN          the binary to test (default target/debug/joinedup)
#   JOINEDUP_DEFINITIONS  survey definitions to serve (default survey-definitions)
#   BROWSER_TESTS         which scripts to run (default "a11y keyboard nojs staff")
#   A11Y_WORKERS          parallel survey/voice walks in a11y.js (default 2)
#   A11Y_STRICT=1         also fail on a11y.js "findings" (handler issues)
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${JOINEDUP_BIN:-target/debug/joinedup}"
definitions="${JOINEDUP_DEFINITIONS:-survey-definitions}"
tests="${BROWSER_TESTS:-a11y keyboard nojs staff}"

say() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

if [ ! -x "$bin" ]; then
  echo "error: no joinedup binary at $bin; build it first (cargo build) or set JOINEDUP_BIN" >&2
  exit 1
fi

say "chromium"
if [ ! -x /usr/bin/chromium ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
# Debian's wrapper script prints a harmless shell warning on some machines.
/usr/bin/chromium --version 2>/dev/null

say "node packages (npm ci)"
if ! command -v npm >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
node --version
(cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)

say "joinedup server"
work=$(mktemp -d "${TMPDIR:-/tmp}/joinedup-browser.XXXXXX")
server_pid=""
cleanup() {
  status=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -f "$work/server.log" ]; then
    echo "-- last lines of the server log:" >&2
    tail -n 20 "$work/server.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
base="http://127.0.0.1:$port"
# Explicit flags, so a DATABASE_URL or JOINEDUP_* in the environment cannot
# point the tests at a real database.
JOINEDUP_START_RATE=100000 "$bin" serve \
  --database-url "$work/browser-tests.sqlite3" \
  --bind "127.0.0.1:$port" \
  --base-url "$base" \
  --definitions "$definitions" \
  --start-rate 100000 \
  >"$work/server.log" 2>&1 &
server_pid=$!

ready=""
for _ in $(seq 1 120); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "error: joinedup exited before answering /healthz" >&2
    exit 1
  fi
  if node -e "require('http').get('$base/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"; then
    ready=yes
    break
  fi
  sleep 0.5
done
if [ -z "$ready" ]; then
  echo "error: joinedup did not answer $base/healthz within 60 s" >&2
  exit 1
fi
echo "joinedup (pid $server_pid) at $base, definitions $definitions"

# a11y.js issues invitation links into the same database with `joinedup token issue`.
export JOINEDUP_URL="$base" JOINEDUP_BIN="$bin" JOINEDUP_DEFINITIONS="$definitions"
export JOINEDUP_DATABASE_URL="$work/browser-tests.sqlite3"
failed=()
timings=()
for t in $tests; do
  say "tests/browser/$t.js"
  started=$(date +%s)
  if node "tests/browser/$t.js"; then
    result=passed
  else
    result=FAILED
    failed+=("$t")
  fi
  timings+=("$(printf '%-10s %-7s %4d s' "$t" "$result" $(($(date +%s) - started)))")
done

say "browser tests summary"
printf '%s\n' "${timings[@]}"
if [ "${#failed[@]}" -ne 0 ]; then
  echo "error: failed: ${failed[*]}" >&2
  exit 1
fi
echo "all browser tests passed"
