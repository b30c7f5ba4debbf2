#!/usr/bin/env bash
# Start-to-ready time and idle memory of the release binary (dev profile, embedded store):
# starts the service RUNS times, measures the time until /ready answers 200, and reads the idle
# process's VmRSS 1 s and 15 s after (and VmHWM, its peak, which includes loading a model).
# Loopback only.
#
# With EMBEDDING_MODEL_DIR set to a sentence model folder (for example the test model,
# target/test-assets/all-MiniLM-L6-v2), each run starts the service twice: lexical only, then
# with that model loaded, and prints both. BINARY=path measures that binary instead of building
# the release one.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
PORT=${PORT:-18555}
# When idle memory is read, in whole seconds after ready: the allocator returns memory freed
# while starting (such as the model file read to load its weights) at its next collection.
IDLE_AFTER=${IDLE_AFTER:-1 15}
MODEL=${EMBEDDING_MODEL_DIR:-}
unset EMBEDDING_MODEL_DIR
if [[ -n "$MODEL" ]]; then
    MODEL=$(realpath "$MODEL")
fi
if [[ -z "${BINARY:-}" ]]; then
    cargo build --release --quiet
    BINARY="${CARGO_TARGET_DIR:-target}/release/caller-memory"
fi
BINARY=$(realpath "$BINARY")
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT

measure() { # run number, label, then settings as NAME=value
    local run=$1 label=$2 started ready rss peak server
    shift 2
    rm -rf "${DATA:?}"/*
    started=$(date +%s%N)
    (cd "$DATA" && exec env "$@" PORT="$PORT" RUST_LOG=error "$BINARY" --dev serve >/dev/null 2>&1) &
    server=$!
    until curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready"; do
        kill -0 "$server" 2>/dev/null || { echo "run $run, $label: the service stopped"; exit 1; }
        sleep 0.002
    done
    ready=$(date +%s%N)
    local idle="" waited=0 seconds
    for seconds in $IDLE_AFTER; do
        sleep $((seconds - waited))
        waited=$seconds
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$server/status")
        idle+=" after ${seconds} s $((rss / 1024)) MiB,"
    done
    peak=$(awk '/^VmHWM/ {print $2}' "/proc/$server/status")
    kill "$server"
    wait "$server" 2>/dev/null || true
    echo "run $run, $label: ready in $(( (ready - started) / 1000000 )) ms," \
        "idle VmRSS$idle peak VmHWM $((peak / 1024)) MiB"
}

for run in $(seq "$RUNS"); do
    measure "$run" "lexical only"
    if [[ -n "$MODEL" ]]; then
        measure "$run" "model $(basename "$MODEL")" EMBEDDING_MODEL_DIR="$MODEL"
    fi
done
