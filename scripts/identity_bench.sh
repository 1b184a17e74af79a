#!/usr/bin/env bash
# Identity stitching benchmark: generated records (≈2.7 identifiers each)
# through braid-identity's stitcher and persisted graph, beside a DuckDB
# connected-components query over the same edge file, each in its own
# process (seconds and peak RSS of that process). Release build, niced.
# Usage: bash scripts/identity_bench.sh [N ...]   (default: 1000000 5000000)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/braid-target}"
VENV="${BRAID_VENV:-$HOME/.cache/braid/venv}"
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/python" -c 'import duckdb' 2>/dev/null ||
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export BRAID_PYTHON="$VENV/bin/python"
[ "$#" -gt 0 ] || set -- 1000000 5000000
exec nice -n 10 cargo bench --locked -p braid-identity --bench stitch -- "$@"
