#!/usr/bin/env bash
# Installs what the service and its tests need, skipping what is already there
# (every step is guarded by a version check). Sourced by run.sh and test.sh.
#
#   setup.sh run    wasm target, Trunk, wasm-bindgen-cli, wasm-opt (binaryen@132)
#   setup.sh test   the above, plus Python ddsketch/hdrhistogram (interop tests)
#                   the Tansu broker (Kafka integration tests), Debian chromium
#                   and playwright-core (browser end-to-end test)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TRUNK_VERSION=0.21.14
# Must equal the wasm-bindgen version in Cargo.lock (and Trunk.toml).
WASM_BINDGEN_VERSION=0.2.130
BINARYEN_VERSION=132.0.0
TANSU_VERSION=0.6.0
PLAYWRIGHT_CORE_VERSION=1.65.1
TOOLS="$ROOT/.tools"

say() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

export PATH="$HOME/.cargo/bin:$TOOLS/node_modules/.bin:$PATH"

ensure_wasm_target() {
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding rust target wasm32-unknown-unknown"
    rustup target add wasm32-unknown-unknown
  fi
}

ensure_trunk() {
  if ! trunk --version 2>/dev/null | grep -q "$TRUNK_VERSION"; then
    say "installing trunk $TRUNK_VERSION (about 7 minutes on 2 cores, once)"
    cargo install trunk --version "$TRUNK_VERSION" --locked
  fi
}

ensure_wasm_bindgen() {
  if ! wasm-bindgen --version 2>/dev/null | grep -q "$WASM_BINDGEN_VERSION"; then
    say "installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes, once)"
    # Not --locked: its lockfile pins a crate version the registry lacks.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

ensure_wasm_opt() {
  if ! wasm-opt --version 2>/dev/null | grep -q "version ${BINARYEN_VERSION%%.*}"; then
    say "installing wasm-opt from npm binaryen@$BINARYEN_VERSION into .tools/"
    mkdir -p "$TOOLS"
    (cd "$TOOLS" && npm install --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION" >/dev/null)
  fi
}

ensure_tansu() {
  # `dynostore` gives memory:// (most tests); `libsql` gives a broker whose
  # log survives a restart (backend/tests/broker_faults.rs). cargo records the
  # features of an install in ~/.cargo/.crates2.json.
  if ! tansu --version 2>/dev/null | grep -q "$TANSU_VERSION" \
    || ! grep -qs '"tansu '"$TANSU_VERSION"'[^}]*"libsql"' "$HOME/.cargo/.crates2.json"; then
    say "installing tansu $TANSU_VERSION, a Kafka-protocol broker for the integration tests (about 12 minutes, once)"
    cargo install "tansu@$TANSU_VERSION" --locked --features dynostore,libsql
  fi
}

ensure_python_libs() {
  if ! python3 -c 'import ddsketch, hdrh, google.protobuf; assert ddsketch.__version__ == "3.0.1"' 2>/dev/null; then
    say "installing Python ddsketch==3.0.1, hdrhistogram, protobuf (interop tests)"
    python3 -m pip install --quiet --disable-pip-version-check "ddsketch==3.0.1" hdrhistogram protobuf
  fi
  # OpenTelemetry's Python SDK, its OTLP/HTTP exporter and the official
  # proto definitions (backend/tests/otlp.rs).
  if ! python3 -c 'import opentelemetry.sdk.version as v, opentelemetry.exporter.otlp.proto.http, opentelemetry.proto; assert v.__version__ == "1.45.2"' 2>/dev/null; then
    say "installing Python opentelemetry-sdk 1.45.2 with the OTLP/HTTP exporter (OTLP tests)"
    python3 -m pip install --quiet --disable-pip-version-check "opentelemetry-sdk==1.45.2" "opentelemetry-exporter-otlp-proto-http==1.45.2" "opentelemetry-proto==1.45.2"
  fi
  # A second Kafka client with every codec (backend/tests/kafka_clients.rs).
  if ! python3 -c 'import kafka, snappy, lz4, zstandard; assert kafka.__version__ == "3.0.12"' 2>/dev/null; then
    say "installing Python kafka-python==3.0.12 with snappy, lz4, zstd (Kafka client tests)"
    python3 -m pip install --quiet --disable-pip-version-check "kafka-python==3.0.12" python-snappy lz4 zstandard
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    say "installing Debian chromium + chromium-driver (browser tests; about a minute)"
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
}

ensure_playwright_core() {
  # The browser driver library only: it drives Debian's chromium (never
  # `npx playwright install`, which would download a browser).
  if ! grep -qs "\"version\": \"$PLAYWRIGHT_CORE_VERSION\"" "$TOOLS/node_modules/playwright-core/package.json"; then
    say "installing playwright-core@$PLAYWRIGHT_CORE_VERSION into .tools/ (browser end-to-end test)"
    mkdir -p "$TOOLS"
    (cd "$TOOLS" && npm install --no-audit --no-fund --silent "playwright-core@$PLAYWRIGHT_CORE_VERSION" >/dev/null)
  fi
}

setup_run() {
  ensure_wasm_target
  ensure_wasm_bindgen
  ensure_wasm_opt
  ensure_trunk
}

setup_test() {
  setup_run
  ensure_python_libs
  ensure_tansu
  ensure_chromium
  ensure_playwright_core
}

case "${1:-run}" in
  run) setup_run ;;
  test) setup_test ;;
  *) echo "usage: setup.sh run|test" >&2; exit 2 ;;
esac
