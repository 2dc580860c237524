#!/usr/bin/env bash
# laer's health model against the book's own logistic regression (Fighting Churn With Data,
# PyPI fightchurn 1.2.0) on the same data, with the figures side by side.
#
#   bash scripts/compare-book.sh DIR [CONFIG] [OUT]      # DIR: the book's four CSV tables
#   bash scripts/compare-book.sh --demo [ACCOUNTS] [OUT] # laer's demo company, exported
#
# DIR is an export of the book's simulator (shared/tools/fightchurn-data.sh) and CONFIG its
# config name (crm5, crm6, socialnet7, ...; it picks the book's ratio metrics and metric-group
# threshold from fightchurn/listings/conf). OUT defaults to /tmp/compare-book/NAME.
#
# laer side (target/release/laer, or $LAER): import into a fresh SQLite file, then
#   report health-validation  over laer's default replay range (month ends to 90 days
#                             before the last day the data speaks of) and over the range
#                             the data can judge (to 90 days before the last subscription
#                             start: the simulation's end; the same since laer judges so),
#   health fit                on the judged range (held-out: the last quarter of its days),
#   report health-validation  of the fitted model on the same range (in-sample),
# each timed. Book side: scripts/compare_book.py (the book's SQL and Python, see its header)
# in the book's PostgreSQL database (env CHURN_DB..., as fightchurn-data.sh sets up) with
# the venv $FC_VENV (default ~/.cache/fightchurn-venv; scikit-learn and scipy are added).
# The table of results is OUT/summary.md, with the book's regression on laer's definition
# for feature sets that isolate what laer's fit lacks (compare_book.py ablate; laer's own
# signals are read with `laer report health --as-of` for each replayed day); every figure is
# in OUT/*.json. A dataset too short for laer's 90-day horizon (socialnet7's five months)
# gets the book's figures only; replay one day by hand there (--from/--to).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
LAER=${LAER:-$here/../target/release/laer}
[ -x "$LAER" ] || LAER=${CARGO_TARGET_DIR:-$here/../target}/release/laer
VENV=${FC_VENV:-$HOME/.cache/fightchurn-venv}
export CHURN_DB=${CHURN_DB:-churn} CHURN_DB_USER=${CHURN_DB_USER:-fightchurn} CHURN_DB_PASS=${CHURN_DB_PASS:-fightchurn}
export CHURN_DB_HOST=${CHURN_DB_HOST:-localhost}
[ -x "$LAER" ] || { echo "build laer first: cargo build --release -p laer (or set LAER)" >&2; exit 1; }
"$VENV/bin/python" -c "import fightchurn, sklearn, scipy" 2>/dev/null ||
  "$VENV/bin/pip" install -q scikit-learn scipy

demo=
if [ "${1:-}" = "--demo" ]; then
  demo=${2:-300}; name=demo-$demo; config=; OUT=${3:-/tmp/compare-book/$name}
else
  DIR=$(cd "${1:?usage: compare-book.sh DIR [CONFIG] [OUT] | --demo [ACCOUNTS] [OUT]}" && pwd)
  name=$(basename "$DIR"); config=${2:-}; OUT=${3:-/tmp/compare-book/$name}
fi
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
db="sqlite://$OUT/laer.db"
rm -f "$OUT"/laer.db*
timed() { # timed LABEL CMD... : stdout to OUT/LABEL.json, seconds to OUT/LABEL.seconds
  local label=$1; shift
  local t0; t0=$(date +%s.%N)
  "$@" >"$OUT/$label.json" 2>"$OUT/$label.err" || { echo "$label failed:" >&2; cat "$OUT/$label.err" >&2; return 0; }
  echo "$(date +%s.%N) - $t0" | bc >"$OUT/$label.seconds"
  echo "  $label: $(cat "$OUT/$label.seconds") s" >&2
}
if [ -n "$demo" ]; then
  echo "laer demo --accounts $demo" >&2
  timed demo "$LAER" --db "$db" demo --accounts "$demo"
  DIR=$OUT/book-tables
  "$VENV/bin/python" "$here/compare_book.py" export-laer --sqlite "$OUT/laer.db" --to "$DIR"
  to=$(date -d "$(date +%F) - 90 days" +%F)
else
  echo "laer import fightchurn $DIR" >&2
  timed import "$LAER" --db "$db" import fightchurn "$DIR"
  last_start=$(awk -F, 'NR > 1 && $3 > m { m = $3 } END { print m }' "$DIR/subscription.csv")
  to=$(date -d "$last_start - 90 days" +%F)
fi
echo "laer (replay to $to)" >&2
timed validation-default-range "$LAER" --db "$db" report health-validation --json
timed validation "$LAER" --db "$db" report health-validation --to "$to" --json
timed fit "$LAER" --db "$db" health fit --to "$to" --json --write "$OUT/fitted.toml"
[ -f "$OUT/fitted.toml" ] &&
  timed fitted-validation "$LAER" --db "$db" --health-model "$OUT/fitted.toml" report health-validation --to "$to" --json
days=$("$VENV/bin/python" -c "import json,sys; d=json.load(open(sys.argv[1]))['days']; print(d[0]['as_of'], d[-1]['as_of']) if d else print('')" "$OUT/validation.json" 2>/dev/null || true)
echo "the book (days $days)" >&2
schema=cmp_$(echo "$name" | tr -c 'a-zA-Z0-9\n' _)
set -- $days
"$VENV/bin/python" -W ignore "$here/compare_book.py" run --data "$DIR" --schema "$schema" --config "$config" \
  --out "$OUT" ${1:+--laer-from $1 --laer-to $2} >"$OUT/book.log" 2>&1 || { tail -20 "$OUT/book.log" >&2; exit 1; }
"$VENV/bin/python" "$here/compare_book.py" summary --out "$OUT" >"$OUT/summary.md"
if [ -f "$OUT/laer_def_dataset.csv" ]; then
  "$VENV/bin/python" "$here/compare_book.py" laer-signals --laer "$LAER" --db "$db" --out "$OUT" >&2
  "$VENV/bin/python" -W ignore "$here/compare_book.py" ablate --out "$OUT" >>"$OUT/summary.md"
fi
cat "$OUT/summary.md"
