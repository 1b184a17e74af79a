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

step "PostgreSQL server on loopback (postgres connector tests)"
pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
PG_BIN="$(pg_bin)"
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ] || [ ! -x "$PG_BIN/pg_ctl" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  PG_BIN="$(pg_bin)"
fi
PG_DIR="$(mktemp -d -t braid-pg.XXXXXX)"
PG_PORT="$(free_port)"
PG_PASSWORD="braid-test-$RANDOM$RANDOM"
# initdb and the server refuse to run as root: run them as the `postgres` user the package creates.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
printf '%s\n' "$PG_PASSWORD" >"$PG_DIR/pw"
if [ "$(id -u)" = 0 ]; then chown -R postgres "$PG_DIR"; fi
as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U braid --auth=scram-sha-256 --pwfile="$PG_DIR/pw" \
  -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log"; exit 1; }
as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
  -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" start >/dev/null
CLEANUP+=("as_pg $PG_BIN/pg_ctl -D $PG_DIR/data -m immediate stop >/dev/null 2>&1; rm -rf $PG_DIR")
export BRAID_TEST_PG_URL="postgres://braid:$PG_PASSWORD@127.0.0.1:$PG_PORT/postgres"
echo "PostgreSQL $("$PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (log: $PG_DIR/server.log)"

step "real Airbyte and Singer connectors in their own virtualenvs (subprocess connector tests)"
# Each connector pins its own dependencies (airbyte-source-faker: numpy/pandas
# through airbyte-cdk), so each gets a virtualenv of its own; versions pinned.
connector_venv() { # name package==version command; prints the command's path
  local dir="$HOME/.cache/braid/$1"
  if [ ! -x "$dir/bin/$3" ] || ! cmp -s <(echo "$2") "$dir/.braid-package" 2>/dev/null; then
    rm -f "$dir/.braid-package"
    python3 -m venv "$dir" >&2 || return 1
    "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$2" >&2 || return 1
    echo "$2" >"$dir/.braid-package"
  fi
  echo "$dir/bin/$3"
}
AIRBYTE_SOURCE_FAKER="$(connector_venv airbyte-faker airbyte-source-faker==7.2.1 source-faker)"
TAP_JSONL="$(connector_venv tap-jsonl tap-jsonl==0.3.1 tap-jsonl)"
export AIRBYTE_SOURCE_FAKER TAP_JSONL
echo "AIRBYTE_SOURCE_FAKER=$AIRBYTE_SOURCE_FAKER"
echo "TAP_JSONL=$TAP_JSONL"

step "rustfmt"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build the braid binary the end-to-end tests drive"
cargo build --locked -p braid-cli -p braid-connector-loyaltylion
export BRAID_BIN="$CARGO_TARGET_DIR/debug/braid"

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
  # nextest does not run doctests
  cargo test --workspace --locked --doc
else
  cargo test --workspace --locked --no-fail-fast
fi
