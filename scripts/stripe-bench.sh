#!/usr/bin/env bash
# Stripe sync and webhook speed (issue 17), against localstripe filled by Stripe's
# official Python library:
#   scripts/stripe-bench.sh [--customers N] [--events N] [--db URL] [--debug]
# Prints localstripe's own fill time, then the back-fill (first sync: customers and
# invoices per second), a steady-state sync with nothing changed, and the delay from
# a signed event's delivery to the account's MRR written (the webhook answers once the
# lines are written). Without --db, a new SQLite file in a temporary directory. Needs a
# Python with localstripe and stripe ($LAER_TEST_STRIPE_PYTHON, as scripts/test makes).
set -euo pipefail
cd "$(dirname "$0")/.."
customers=300 events=50 db="" profile=release
while [ $# -gt 0 ]; do
  case "$1" in
    --customers) customers=$2; shift 2 ;;
    --events) events=$2; shift 2 ;;
    --db) db=$2; shift 2 ;;
    --debug) profile=debug; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
python=${LAER_TEST_STRIPE_PYTHON:-python3}
"$python" -c "import localstripe, stripe" || { echo "$python lacks localstripe or stripe: pip install localstripe==1.15.10 stripe==16.1.0" >&2; exit 1; }
if [ "$profile" = release ]; then cargo build --release --locked -p laer >&2; else cargo build --locked -p laer >&2; fi
laer=$PWD/target/$profile/laer
data=$(mktemp -d)
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
stripe_port=$(free_port) port=$(free_port)
(cd "$data" && exec "$python" -m localstripe --port "$stripe_port" --from-scratch >"$data/localstripe.log" 2>&1) &
localstripe=$!
server=""
trap 'kill $localstripe $server 2>/dev/null || true; rm -rf "$data"' EXIT
base=http://127.0.0.1:$stripe_port
for _ in $(seq 100); do curl -s "$base" >/dev/null && break; sleep 0.1; done
export LAER_DATA_DIR=$data LAER_LOG=warn
[ -n "$db" ] && export LAER_DATABASE_URL=$db
echo "localstripe filled with $customers customers and subscriptions: $("$python" scripts/stripe_bench.py "$base" fill "$customers")"
secret=whsec_bench_$RANDOM$RANDOM
LAER_STRIPE_KEY=sk_test_laer_bench LAER_STRIPE_WEBHOOK_SECRET=$secret \
  "$laer" connect stripe --api-base "$base" --link-rule create_account >/dev/null
timed() { local started; started=$(date +%s.%N); "$@" >/dev/null 2>&1; python3 -c "import sys; print(round($(date +%s.%N) - $started, 2))"; }
started=$(date +%s.%N)
"$laer" stripe sync --json >"$data/first.json" 2>/dev/null
first=$(python3 -c "print(round($(date +%s.%N) - $started, 2))")
invoices=$(python3 -c "import json; print(json.load(open('$data/first.json'))['invoices'])")
echo "back-fill: $customers customers, $invoices invoices and $customers subscriptions in ${first} s" \
  "($(python3 -c "print(round($customers / $first))") customers/s and $(python3 -c "print(round($invoices / $first))") invoices/s, reading from localstripe included)"
again=$(timed "$laer" stripe sync)
echo "steady state (nothing changed, nothing written): ${again} s"
"$laer" serve --listen "127.0.0.1:$port" >"$data/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
echo "event to MRR written: $("$python" scripts/stripe_bench.py "$base" events "http://127.0.0.1:$port/webhooks/stripe" "$secret" "$events")"
