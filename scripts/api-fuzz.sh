#!/usr/bin/env bash
# Property-based fuzzing of /api/v1 against its own OpenAPI document:
# schemathesis (PyPI, pinned) generates requests from
# /api/v1/openapi.json, valid and invalid, and checks every answer: no 5xx,
# only documented statuses and content types, bodies matching the schemas.
# The app runs on a fresh SQLite database with the demo data, as an API
# token of an account holding every role.
#
#   scripts/api-fuzz.sh [--max-examples N]     (default 25 per operation)
#
# JOINEDUP_BIN picks the binary (default target/debug/joinedup, built if
# missing). The venv lives in ~/.cache so a second run installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

examples=25
while [ $# -gt 0 ]; do
  case "$1" in
    --max-examples) examples="$2"; shift 2 ;;
    *) echo "usage: $0 [--max-examples N]" >&2; exit 2 ;;
  esac
done

SCHEMATHESIS_VERSION=4.32.5
venv="${HOME}/.cache/joinedup-schemathesis-${SCHEMATHESIS_VERSION}"
if [ ! -x "$venv/bin/st" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" 2>/dev/null; then
    # Debian's own python3 makes venvs only with python3-venv installed.
    apt-get install -y -qq python3-venv >/dev/null 2>&1 \
      || { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null; }
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install -q "schemathesis==${SCHEMATHESIS_VERSION}"
fi

bin="${JOINEDUP_BIN:-target/debug/joinedup}"
[ -x "$bin" ] || cargo build -q -p joinedup
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DATABASE_URL="sqlite://$work/fuzz.db" JOINEDUP_BIND="127.0.0.1:$port"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" serve --demo >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do
  grep -q -- "--demo: loaded" "$work/server.log" && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.5
done
grep -- "--demo: loaded" "$work/server.log" || { echo "error: the demo did not load in 60 s:" >&2; cat "$work/server.log" >&2; exit 1; }

email=fuzz@example.org
head -c 24 /dev/urandom | base64 | "$bin" user add --email "$email" --role admin,survey_lead,analyst
token=$("$bin" user token "$email" --name "api fuzzing")
auth="Authorization: Bearer $token"
curl -fsS -H "$auth" "http://127.0.0.1:$port/api/v1/openapi.json" >"$work/openapi.json"

# Every check but one, bounded examples per operation. Left out:
# positive_data_acceptance, which counts a documented 400 for a well-formed
# request as a failure; but a well-formed month may be a release still in
# fieldwork or one without responses, and the API says so with 400 and the
# reason. DELETE goes last, alone: it may revoke this very token, after
# which every call is (rightly) 401.
run() {
  "$venv/bin/st" run "$work/openapi.json" --url "http://127.0.0.1:$port" \
    -H "$auth" --checks all --exclude-checks positive_data_acceptance \
    --max-examples "$examples" --request-timeout 120 \
    --phases examples,coverage,fuzzing --workers 1 --no-color "$@"
}
started=$(date +%s)
run --exclude-method DELETE
run --include-method DELETE
# The access log writes `status=500`; a panic is a server error too.
if grep -E 'status=5[0-9][0-9]|panicked' "$work/server.log" >/dev/null; then
  echo "error: the server logged a server error:" >&2
  grep -E 'status=5[0-9][0-9]|panicked' "$work/server.log" >&2
  exit 1
fi
echo "api fuzz: clean in $(( $(date +%s) - started )) s, $examples examples per operation"
