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

# Services started for the tests are stopped on exit, whatever happens.
CLEANUP=()
cleanup() { for c in "${CLEANUP[@]}"; do eval "$c" || true; done; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

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

step "S3-compatible server (moto) on loopback"
MOTO_PORT="$(free_port)"
MOTO_LOG="$(mktemp -t braid-moto.XXXXXX.log)"
"$VENV/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
CLEANUP+=("kill $MOTO_PID 2>/dev/null; wait $MOTO_PID 2>/dev/null")
for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/')" 2>/dev/null; then break; fi
  sleep 0.1
done
export BRAID_TEST_S3_ENDPOINT="http://127.0.0.1:$MOTO_PORT"
echo "moto on $BRAID_TEST_S3_ENDPOINT (log: $MOTO_LOG)"

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
