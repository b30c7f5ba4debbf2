#!/usr/bin/env bash
# Start-to-ready time and idle memory of the release binary (dev profile, embedded store):
# starts the service RUNS times, measures the time until /ready answers 200, and reads the idle
# process's VmRSS. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
PORT=${PORT:-18555}
cargo build --release --quiet
BINARY="${CARGO_TARGET_DIR:-target}/release/caller-memory"
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT

for run in $(seq "$RUNS"); do
    started=$(date +%s%N)
    (cd "$DATA" && PORT=$PORT RUST_LOG=error exec "$BINARY" --dev serve >/dev/null 2>&1) &
    server=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready"; do sleep 0.002; done
    ready=$(date +%s%N)
    sleep 1
    rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
    kill "$server"; wait "$server" 2>/dev/null || true
    echo "run $run: ready in $(( (ready - started) / 1000000 )) ms, idle VmRSS $(( rss / 1024 )) MiB"
done
