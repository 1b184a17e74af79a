#!/usr/bin/env bash
# The test command: installs what the tests need, then runs every check.
#   - a Python virtualenv with DuckDB and pyarrow (real Parquet readers) under ~/.cache/braid
#   - cargo fmt --check, cargo clippy (warnings are errors), cargo nextest/test over the workspace
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/braid-target}"
VENV="${BRAID_VENV:-$HOME/.cache/braid/venv}"
REQ=scripts/requirements-test.txt

step() { printf '\n==> %s\n' "$*"; }

step "python test readers ($VENV)"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! cmp -s "$REQ" "$VENV/.braid-requirements" 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
  cp "$REQ" "$VENV/.braid-requirements"
fi
"$VENV/bin/python" -c 'import duckdb, pyarrow; print("duckdb", duckdb.__version__, "pyarrow", pyarrow.__version__)'
export BRAID_PYTHON="$VENV/bin/python"

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the braid binary the end-to-end tests drive"
cargo build --locked -p braid-cli
export BRAID_BIN="$CARGO_TARGET_DIR/debug/braid"

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
