#!/usr/bin/env bash
# Fuzzes the REST API against its own OpenAPI document with Schemathesis: a live
# `laer serve --demo` on SQLite and, when LAER_TEST_POSTGRES_URL is set, on PostgreSQL,
# with an API token of the admin role. Every operation gets generated valid and invalid
# inputs; the checks: no 5xx, every status code documented, every answer matching the
# document's schema. Prints the number of generated requests per backend.
#
#   scripts/schemathesis.sh [SCHEMATHESIS_BIN]
#
# LAER_SCHEMATHESIS_EXAMPLES (default 25) bounds the test cases per operation and phase.
set -euo pipefail
cd "$(dirname "$0")/.."
schemathesis=${1:-${LAER_TEST_VENV:-$HOME/.cache/laer-test-venv}/bin/schemathesis}
examples=${LAER_SCHEMATHESIS_EXAMPLES:-25}
cargo build -q -p laer --locked
laer=$PWD/target/debug/laer
work=$(mktemp -d)
server=
pg_db=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  if [ -n "$pg_db" ]; then psql -q "$LAER_TEST_POSTGRES_URL" -c "DROP DATABASE IF EXISTS $pg_db" >/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# Fuzzes a server on database URL $2, named $1 in the output.
fuzz() {
  local name=$1 db=$2
  # The demo company, smaller than `serve --demo`'s 300 accounts over 24 months, which
  # takes minutes to make in a debug build.
  "$laer" --db "$db" demo --accounts 40 --months 6 >/dev/null
  local token
  token=$("$laer" --db "$db" tokens create --name schemathesis --role admin --json |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')
  # --demo: the database holds the demo company already, so this only prints its logins.
  "$laer" --db "$db" serve --demo --listen 127.0.0.1:0 >"$work/$name.out" 2>"$work/$name.log" &
  server=$!
  local url=
  for _ in $(seq 1500); do
    url=$(sed -n 's|^laer is serving on \(http://[^/]*\)/$|\1|p' "$work/$name.out")
    [ -n "$url" ] && break
    sleep 0.2
  done
  [ -n "$url" ] || { cat "$work/$name.log" >&2; echo "laer serve did not start" >&2; exit 1; }
  echo "schemathesis on $name ($url, $examples examples per operation and phase)"
  local status=0
  # Run in the scratch folder: Schemathesis keeps a cache folder where it runs. One
  # worker: with two threads, Hypothesis's ast.parse calls race in CPython 3.11.7 (the
  # AST recursion depth is shared between threads, fixed in 3.11.8: gh-106905) and a run
  # can end with "AST constructor recursion depth mismatch", a Python error, not laer's.
  (cd "$work" && "$schemathesis" run "$url/api/v1/openapi.json" \
    --header "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,response_schema_conformance \
    --max-examples "$examples" --seed 14 --workers 1 \
    --generation-database none --no-color \
    --report ndjson --report-ndjson-path "$work/$name.ndjson") || status=$?
  python3 - "$work/$name.ndjson" "$name" <<'PY' || true
import json, sys
calls = 0
for line in open(sys.argv[1]):
    event = json.loads(line)
    body = next(iter(event.values())) if len(event) == 1 else event
    recorder = body.get("recorder") if isinstance(body, dict) else None
    if recorder:
        calls += len(recorder.get("interactions", {}))
print(f"schemathesis on {sys.argv[2]}: {calls} generated requests")
PY
  kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  server=
  if [ "$status" != 0 ]; then
    echo "--- server log ($name) ---" >&2
    tail -n 50 "$work/$name.log" >&2
    exit "$status"
  fi
}

fuzz sqlite "sqlite://$work/laer.db"
if [ -n "${LAER_TEST_POSTGRES_URL:-}" ]; then
  pg_db="laer_schemathesis_$$"
  psql -q "$LAER_TEST_POSTGRES_URL" -c "CREATE DATABASE $pg_db" >/dev/null
  fuzz postgres "${LAER_TEST_POSTGRES_URL%/*}/$pg_db"
fi
