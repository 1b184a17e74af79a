#!/usr/bin/env bash
# Benchmark: airbyte-source-faker alone (its JSON lines to /dev/null) beside
# the same source through braid's Airbyte adapter (`connector: airbyte:…`,
# its records typed into Arrow and landed as Parquet).
# Usage: bash scripts/bench_airbyte.sh [COUNT ...]   (default: 100000)
# Needs the release braid binary and the faker's virtualenv (scripts/test.sh makes it).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/braid-target}"
FAKER="${AIRBYTE_SOURCE_FAKER:-$HOME/.cache/braid/airbyte-faker/bin/source-faker}"
if [ ! -x "$FAKER" ]; then
  python3 -m venv "$HOME/.cache/braid/airbyte-faker"
  "$HOME/.cache/braid/airbyte-faker/bin/pip" install --quiet airbyte-source-faker==7.2.1
fi
cargo build --release --locked -p braid-cli
BRAID="$CARGO_TARGET_DIR/release/braid"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

now() { date +%s.%N; }
for COUNT in "${@:-100000}"; do
  cat > "$WORK/config.json" <<JSON
{"count": $COUNT, "seed": 42, "records_per_slice": 1000, "always_updated": false, "parallelism": 1}
JSON
  # The faker alone: discover, every stream full refresh, output to /dev/null.
  "$FAKER" discover --config "$WORK/config.json" | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("type") == "CATALOG":
        streams = [{"stream": s, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"} for s in m["catalog"]["streams"]]
        print(json.dumps({"streams": streams}))
' > "$WORK/catalog.json"
  RECORDS=$("$FAKER" read --config "$WORK/config.json" --catalog "$WORK/catalog.json" | grep -c '"type": *"RECORD"' || true)
  T0=$(now)
  "$FAKER" read --config "$WORK/config.json" --catalog "$WORK/catalog.json" > /dev/null
  T1=$(now)
  ALONE=$(python3 -c "print(f'{$RECORDS / ($T1 - $T0):.0f}')")
  echo "source-faker alone: count=$COUNT, $RECORDS records in $(python3 -c "print(f'{$T1 - $T0:.2f}')") s = $ALONE records/s (to /dev/null)"

  # Through braid: the same config, every stream full refresh, landed as Parquet.
  cat > "$WORK/faker.yaml" <<YAML
name: bench_airbyte_faker
sources:
  - name: faker
    connector: "airbyte:$FAKER"
    config:
      connector_config: {count: $COUNT, seed: 42, records_per_slice: 1000, always_updated: false, parallelism: 1}
    streams:
      - {name: users, sync_mode: full_refresh}
      - {name: purchases, sync_mode: full_refresh}
      - {name: products, sync_mode: full_refresh}
unify: {enabled: false}
YAML
  rm -rf "$WORK/wh"
  T0=$(now)
  "$BRAID" run "$WORK/faker.yaml" --warehouse "$WORK/wh" --report "$WORK/report.json" > /dev/null 2>"$WORK/stderr" || { cat "$WORK/stderr"; exit 1; }
  T1=$(now)
  python3 - "$WORK/report.json" "$T0" "$T1" "$RECORDS" <<'PY'
import json, sys
rep = json.load(open(sys.argv[1]))
t0, t1, alone = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
rows = sum(s.get("rows_committed", 0) for s in rep["streams"])
wall = t1 - t0
assert rows == alone, f"braid landed {rows} records, the faker emitted {alone}"
print(f"through braid:      {rows} records in {wall:.2f} s = {rows / wall:.0f} records/s (landed as Parquet)")
PY
done
