#!/usr/bin/env bash
# The main job: install what is missing, build the dashboard, start the service
# on http://127.0.0.1:8080 (override with MSS_LISTEN). Extra arguments go to
# `mss serve`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh run
export PATH="$HOME/.cargo/bin:$ROOT/.tools/node_modules/.bin:$PATH"
trunk build --release --offline
cargo build --release --locked -p backend
exec "${CARGO_TARGET_DIR:-$ROOT/target}/release/mss" serve --static-dir frontend/dist "$@"
