#!/usr/bin/env bash
# The main job: install what is missing, build the dashboard, start the service
# on http://127.0.0.1:8080 (override with MSS_LISTEN) with the embedded Kafka
# broker, replaying HDFS-like latencies, and receiving OpenTelemetry metrics
# on http://127.0.0.1:4318/v1/metrics (override with MSS_OTLP_LISTEN).
# Extra arguments go to `mss serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh run
export PATH="$HOME/.cargo/bin:$ROOT/.tools/node_modules/.bin:$PATH"
trunk build --release --offline
# The `dist` profile: release + LTO + one codegen unit (Cargo.toml).
cargo build --profile dist --locked -p backend
# Replay the real HDFS trace if it is there (see data/README.md), else
# synthetic HDFS-like rows, forever, at a pace a person can watch.
CSV=data/HDFS_v1/preprocessed/Event_traces.csv
if [ -f "$CSV" ]; then SOURCE=(--csv "$CSV"); else SOURCE=(--synthetic); fi
exec "${CARGO_TARGET_DIR:-$ROOT/target}/dist/mss" serve "${SOURCE[@]}" --loop --rate "${MSS_RATE:-2000}" \
  --static-dir frontend/dist --otlp-listen "${MSS_OTLP_LISTEN:-127.0.0.1:4318}" "$@"
