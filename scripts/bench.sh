#!/usr/bin/env bash
# Benchmarks: HubSpot contacts sandbox → braid → Parquet (records/s, peak RSS),
# and NDJSON → Parquet with braid's files connector beside DuckDB's COPY.
# Usage: bash scripts/bench.sh [N ...]   (default: 100000 1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/braid-target}"
VENV="${BRAID_VENV:-$HOME/.cache/braid/venv}"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
cargo build --release --locked -p braid-cli
exec "$VENV/bin/python" scripts/bench.py "$CARGO_TARGET_DIR/release/braid" "$@"
