#!/usr/bin/env bash
# Long fuzz run (not part of the suite): every decoder target of
# shared/tests/fuzz.rs and backend/tests/fuzz.rs with MSS_FUZZ_CASES cases
# each (default 1,000,000), release build, then the hostile-input corpus.
# Prints each target's time. Usage: bash scripts/fuzz.sh [cases]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
export MSS_FUZZ_CASES="${1:-${MSS_FUZZ_CASES:-1000000}}"
# Fresh cases every run (the suite fixes the seed; see scripts/test.sh).
unset PROPTEST_RNG_SEED
echo "fuzzing with $MSS_FUZZ_CASES cases per target"
cargo build --release --locked -p shared -p backend --tests >/dev/null
for target in shared:fuzz backend:fuzz backend:corpus; do
  crate="${target%%:*}" test="${target##*:}"
  start=$(date +%s)
  cargo test --release --locked -q -p "$crate" --test "$test" -- --test-threads 2
  echo "== $crate/$test: $(( $(date +%s) - start )) s"
done
