#!/usr/bin/env bash
# The two attacks of "Deploying on the internet" in README.md, against the release binary with
# the dev profile and the default edge limits, on loopback only, each bounded in time:
#   1. 20 concurrent fake-signature post-call uploads of 200 MB (fresh timestamp, made-up
#      digest), sent chunked and restarted when refused;
#   2. 3,000 connections sending request headers one line every 5 seconds, reopened when closed.
# During each it prints, every second: the disk used by bodies waiting for verification, the
# server's open connections, and the status and latency of a genuine signed transcription and a
# genuine ring, each on a new connection. Exits non-zero if a genuine request failed.
#
# Usage: scripts/attack-edge.sh [upload|slowloris|both]   (default both; Linux: reads /proc)
#   PORT=18090  DURATION=30 (seconds per attack, at most 120)  CONCURRENCY=20  UPLOAD_MB=200
#   CONNECTIONS=3000 (at most 5000)  LINE_EVERY=5
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/dev-server.sh
source scripts/dev-server.sh

ATTACK=${1:-both}
export PORT=${PORT:-18090}
export DURATION=${DURATION:-30}
(( DURATION <= 120 )) || { echo "DURATION is at most 120 seconds" >&2; exit 1; }
(( ${CONNECTIONS:-3000} <= 5000 )) || { echo "CONNECTIONS is at most 5000" >&2; exit 1; }
# The attacking connections need file descriptors of their own.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

echo "== building the release binary"
cargo build --release --quiet
BINARY="${CARGO_TARGET_DIR:-target}/release/caller-memory"
export RUST_LOG=${RUST_LOG:-warn}
# The server keeps the usual open-file limit of a service, whatever this shell allows.
ulimit -S -n 1024

status=0
for attack in upload slowloris; do
    [[ "$ATTACK" == both || "$ATTACK" == "$attack" ]] || continue
    start_dev_server
    export SERVER STAGING="$PAYLOAD_STORAGE_PATH/.staging" SAMPLE=payloads/post_call_transcription.json
    echo "== $attack (server pid $SERVER, open-file limit 1024)"
    ( ulimit -n "$(ulimit -Hn)"; python3 scripts/edge_attack.py "$attack" ) || status=1
    echo "== server warnings during the attack"
    grep -E "WARN|warn" "$DATA/server.log" | tail -n 5 || true
    kill "$SERVER" 2>/dev/null || true
    wait "$SERVER" 2>/dev/null || true
    rm -rf "$DATA"
    trap - EXIT
done
exit $status
