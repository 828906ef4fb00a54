#!/usr/bin/env bash
# The soak (issue #15): a broker, `mss serve --synthetic --rate 20000` with
# `--retention 10m`, a `mss view` over the sketch log and 50 WebSocket
# clients on serve, for SOAK_MINUTES (default 30). Every 30 s it writes one
# line per process to $OUT/samples.csv: RSS, records counted, the summed
# partition lag, rejects, /readyz status (and the broker's RSS). At the end
# it prints the RSS of each process at the end of the warm-up (the
# retention, 10 min) and at the end, and the growth between them. Not part
# of the test suite (30 min).
#
#   bash scripts/soak.sh                       # results in /tmp/mss-soak-<date>/
#   SOAK_MINUTES=12 bash scripts/soak.sh
#   SOAK_BROKER=tansu-sqlite bash scripts/soak.sh
#
# SOAK_BROKER: `mock` (default: `mss broker`, librdkafka's mock cluster in a
# process of its own, which keeps the last ~5 MiB of each partition),
# `tansu-memory` (Tansu keeping every record in RAM: slowed to ~3,000/s
# after 20 minutes at 20,000/s on this 2-core VM) or `tansu-sqlite` (Tansu on
# libSQL: ~2,200-3,300/s here). Figures in docs/benchmarks.md.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PATH="$HOME/.cargo/bin:$PATH"
MINUTES="${SOAK_MINUTES:-30}"
RATE="${SOAK_RATE:-20000}"
CLIENTS="${SOAK_CLIENTS:-50}"
BROKER="${SOAK_BROKER:-mock}"
OUT="${SOAK_OUT:-/tmp/mss-soak-$(date +%Y%m%d-%H%M%S)}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$OUT"

cargo build --profile dist --locked -p backend
cargo build --release --locked -p backend --example ws_clients
MSS="$TARGET/dist/mss"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
BROKER_PORT=$(free_port); SERVE_PORT=$(free_port); VIEW_PORT=$(free_port)
BROKERS="127.0.0.1:$BROKER_PORT"
PIDS=()
# Stop in reverse start order, each one gone (or 30 s) before the next, so
# serve and view flush their last windows to a broker that still answers.
cleanup() {
  local i n
  for ((i=${#PIDS[@]}-1; i>=0; i--)); do
    kill "${PIDS[$i]}" 2>/dev/null || continue
    for ((n=0; n<150; n++)); do kill -0 "${PIDS[$i]}" 2>/dev/null || break; sleep 0.2; done
  done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Waits until `check` succeeds, while process $2 lives, for at most 60 s.
wait_for() {
  local what=$1 pid=$2 check=$3 log=$4 deadline=$(( $(date +%s) + 60 ))
  until eval "$check"; do
    kill -0 "$pid" 2>/dev/null || { echo "waiting for $what: the process died; see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
    [ "$(date +%s)" -lt "$deadline" ] || { echo "waiting for $what: gave up after 60 s; see $log" >&2; exit 1; }
    sleep 0.2
  done
}

start_tansu() {
  mkdir -p "$OUT/broker"
  (cd "$OUT/broker" && exec tansu broker --storage-engine "$1" --listener-url "tcp://$BROKERS" \
    --advertised-listener-url "tcp://$BROKERS" >"$OUT/broker.log" 2>&1) &
  BROKER_PID=$!; PIDS+=("$BROKER_PID")
}
case "$BROKER" in
  mock)
    rm -f "$OUT/broker.addr"
    "$MSS" broker >"$OUT/broker.addr" 2>"$OUT/broker.log" &
    BROKER_PID=$!; PIDS+=("$BROKER_PID")
    wait_for "the broker's address" "$BROKER_PID" '[ -s "$OUT/broker.addr" ]' "$OUT/broker.log"
    BROKERS=$(head -n 1 "$OUT/broker.addr"); BROKER_PORT=${BROKERS##*:} ;;
  tansu-sqlite) start_tansu "sqlite://tansu.db" ;;
  tansu-memory) start_tansu "memory://tansu/" ;;
  *) echo "SOAK_BROKER must be mock, tansu-sqlite or tansu-memory, not $BROKER" >&2; exit 2 ;;
esac
wait_for "the broker's port" "$BROKER_PID" '(exec 3<>"/dev/tcp/127.0.0.1/$BROKER_PORT") 2>/dev/null' "$OUT/broker.log"
RUST_LOG=warn,backend=info "$MSS" serve --brokers "$BROKERS" --synthetic --loop --rate "$RATE" \
  --retention 10m --listen "127.0.0.1:$SERVE_PORT" >"$OUT/serve.log" 2>&1 &
SERVE_PID=$!; PIDS+=("$SERVE_PID")
# The view needs the sketch log serve creates.
wait_for "serve to be ready" "$SERVE_PID" 'curl -sf "http://127.0.0.1:$SERVE_PORT/readyz" >/dev/null' "$OUT/serve.log"
RUST_LOG=warn,backend=info "$MSS" view --brokers "$BROKERS" --retention 10m \
  --listen "127.0.0.1:$VIEW_PORT" >"$OUT/view.log" 2>&1 &
VIEW_PID=$!; PIDS+=("$VIEW_PID")
"$TARGET/release/examples/ws_clients" "$SERVE_PORT" "$CLIENTS" >"$OUT/clients.log" 2>&1 &
PIDS+=($!)

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
sample() {
  local name=$1 pid=$2 port=$3 s ready
  s=$(curl -sf "http://127.0.0.1:$port/api/summary" || echo '{}')
  ready=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" || true)
  python3 - "$name" "$(rss_kb "$pid")" "$ready" "$s" "$1" <<'PY' >>"$OUT/samples.csv"
import json, sys, time
name, rss, ready, raw = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
s = json.loads(raw or "{}")
lag = sum(max(p.get("lag", 0), 0) for p in s.get("partitions", []))
rej = sum(s.get("rejected", {}).values()) if s.get("rejected") else 0
print(f"{int(time.time())},{name},{rss},{s.get('messages_processed', -1)},{lag},{rej},{ready}")
PY
}
echo "unix_s,process,rss_kb,messages_processed,lag,rejected,readyz" >"$OUT/samples.csv"
END=$(( $(date +%s) + MINUTES * 60 ))
while [ "$(date +%s)" -lt "$END" ]; do
  sleep 30
  for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null || { echo "process $p died; see $OUT" >&2; exit 1; }; done
  sample serve "$SERVE_PID" "$SERVE_PORT"
  sample view "$VIEW_PID" "$VIEW_PORT"
  echo "$(date +%s),broker,$(rss_kb "$BROKER_PID"),-1,-1,-1,-" >>"$OUT/samples.csv"
  tail -n 3 "$OUT/samples.csv"
done
echo "ERROR lines:"; grep -c -E ' ERROR ' "$OUT/serve.log" "$OUT/view.log" || true
echo "WARN lines:"; grep -c -E ' WARN ' "$OUT/serve.log" "$OUT/view.log" || true
python3 - "$OUT/samples.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
start = int(rows[0]["unix_s"])
for name in ("serve", "view"):
    mine = [r for r in rows if r["process"] == name]
    warm = [r for r in mine if int(r["unix_s"]) - start >= 600]
    if not warm:
        print(f"{name}: shorter than the 10 min warm-up"); continue
    a, b = int(warm[0]["rss_kb"]), int(mine[-1]["rss_kb"])
    peak = max(int(r["rss_kb"]) for r in warm)
    print(f"{name}: RSS after warm-up {a/1024:.0f} MiB, at the end {b/1024:.0f} MiB "
          f"({(b-a)/a*100:+.1f} %), peak after warm-up {peak/1024:.0f} MiB; "
          f"records {mine[-1]['messages_processed']}, lag at end {mine[-1]['lag']}")
PY
tail -n 1 "$OUT/clients.log"
echo "samples and logs: $OUT"
