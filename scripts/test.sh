#!/usr/bin/env bash
# The whole test suite: formatting, lints, native tests (sketch crate, CLI,
# Python interop, Kafka via Tansu), the sketch and dashboard-store tests in
# wasm32 (Node.js), a release build of the frontend with Trunk, and the
# dashboard end-to-end in headless Chromium. Installs what it needs first.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh test
export PATH="$HOME/.cargo/bin:$ROOT/.tools/node_modules/.bin:$PATH"

# Property tests draw the same cases on every run, so a run's verdict never
# depends on its luck (a fresh seed once failed a fresh-machine run);
# scripts/fuzz.sh explores with fresh seeds.
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-20261204}"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "native tests"
cargo test --workspace --locked

step "sketch and dashboard-store tests in wasm32 (wasm-bindgen-test, Node.js)"
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
cargo test -p shared --target wasm32-unknown-unknown --test wasm --locked
cargo test -p frontend --target wasm32-unknown-unknown --test wasm --locked

step "frontend release build (Trunk, offline, pinned tools)"
trunk build --release --offline
ls -l frontend/dist/*.wasm
echo "gzipped: $(gzip -9 -c frontend/dist/*.wasm | wc -c) bytes"

step "dashboard end-to-end in headless Chromium (playwright-core) against mss serve"
# `cargo test` above built the debug mss binary.
MSS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/mss" node --test frontend/e2e/

echo
echo "all tests passed"
