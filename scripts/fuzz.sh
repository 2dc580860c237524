#!/usr/bin/env bash
# Runs laer's fuzz targets (docs/fuzzing.md), one after the other, each for RUNS
# executions (default a million) on one core, starting from the seeds in fuzz/seeds and
# the corpus kept in fuzz/corpus. laer has no unsafe code of its own to check, so the
# targets are built without AddressSanitizer (about twice as fast), with debug assertions
# and overflow checks. Needs a nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
#   scripts/fuzz.sh [RUNS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
runs=${1:-1000000}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv_rows tracking_calls health_model playbooks coverage)
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  start=$(date +%s)
  set +e
  cargo +nightly fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
    -runs="$runs" -print_final_stats=1 >"corpus/$target.log" 2>&1
  status=$?
  set -e
  grep -E "^(stat::|Done|==[0-9]+==|SUMMARY|thread .* panicked)" "corpus/$target.log" || true
  echo "$target: exit $status, $(( $(date +%s) - start )) s"
  [ "$status" = 0 ] || exit "$status"
done
