#!/usr/bin/env bash
# Tracking API load from a separate process: builds laer (release), serves a fresh
# database, sends batches of 100 track calls with wrk over keep-alive connections, then
# checks that every acknowledged event is stored.
#   scripts/ingest-load.sh [--connections N] [--seconds S] [--db URL]
# Without --db, a new SQLite file in a temporary directory. wrk: apt-get install wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
connections=32 seconds=20 db=""
while [ $# -gt 0 ]; do
  case "$1" in
    --connections) connections=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --db) db=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --release --locked -p laer >&2
laer=target/release/laer
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
export LAER_DATA_DIR=$data
[ -n "$db" ] && export LAER_DATABASE_URL=$db
key=$("$laer" keys create --name load --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["write_key"])')
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$laer" serve --listen "127.0.0.1:$port" >"$data/serve.log" 2>&1 &
server=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
wrk -t2 -c"$connections" -d"${seconds}s" --latency -s scripts/ingest-load.lua "http://127.0.0.1:$port" -- "$key" 100
kill "$server"; wait "$server" 2>/dev/null || true
echo "stored events: $("$laer" status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["events"])')"
