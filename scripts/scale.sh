#!/usr/bin/env bash
# How laer's costs grow with the company (README, "Performance", "Scale"): builds laer
# (release), then measures one size from outside the server with scripts/scale.py —
# generating the demo company, the database's size, the reports, the server's start-up
# work, every page, the first pages after a write, and peak memory.
#   scripts/scale.sh --accounts N [--months 12] [--dir DIR] [--rounds 40] [--settle 900]
# DIR is kept: a second run measures the same database again. Without it, a new
# temporary directory (left in place, with the figures in DIR/scale-N.json).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p laer >&2
exec python3 scripts/scale.py --laer target/release/laer "$@"
