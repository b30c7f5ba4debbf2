#!/usr/bin/env bash
# Post-call benchmark: starts the release server with the dev profile, sends one signed audio
# webhook of about 100 MB with chunked transfer encoding (no Content-Length), and reports how
# long the server took to accept it and how much its peak resident memory (VmHWM) grew.
#
# Usage: scripts/bench-post-call.sh [body-megabytes]   (default 100; Linux only: reads /proc)
#   RATE=1250k  send at most that many bytes a second (curl --limit-rate; 1250k is 10 Mbit/s)
#   BUCKET=1    store the audio in an S3 bucket (BLOB_STORE_URL=s3://...) of a local S3-protocol
#               server started by scripts/s3-test-server.sh, instead of the local disk
#   BUILD=debug use the debug binary (built by cargo build) instead of building the release one
set -euo pipefail

MEGABYTES="${1:-100}"
PORT="${BENCH_PORT:-18731}"
REPO="$(cd "$(dirname "$0")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

kib() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$SERVER_PID/status"; }

if [[ "${BUILD:-release}" == debug ]]; then
    BINARY="$TARGET_DIR/debug/caller-memory"
else
    echo "building the release binary..."
    cargo build --release --quiet --manifest-path "$REPO/Cargo.toml"
    BINARY="$TARGET_DIR/release/caller-memory"
fi

BUCKET_URL=""
if [[ -n "${BUCKET:-}" ]]; then
    # The server stops when this script ends and its input closes.
    coproc S3_SERVER { "$REPO/scripts/s3-test-server.sh" bench-post-call; }
    read -r LISTENING <&"${S3_SERVER[0]}"
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1 AWS_ALLOW_HTTP=true
    export AWS_ENDPOINT_URL="${LISTENING#listening on }" BLOB_STORE_URL="s3://bench-post-call/run"
    BUCKET_URL="$AWS_ENDPOINT_URL/bench-post-call/run/conv_bench/conv_bench_audio.mp3"
fi

echo "writing a ${MEGABYTES} MB post_call_audio event..."
python3 - "$WORK/audio.json" "$MEGABYTES" <<'PY'
import base64, os, sys
path, megabytes = sys.argv[1], int(sys.argv[2])
raw_bytes = megabytes * 1_000_000 * 3 // 4
with open(path, "wb") as out:
    out.write(b'{"type": "post_call_audio", "event_timestamp": 1768489272, "data": '
              b'{"agent_id": "agent_bench", "conversation_id": "conv_bench", "full_audio": "')
    block = os.urandom(3 * 1024 * 1024)
    written = 0
    while written < raw_bytes:
        piece = block[: min(len(block), raw_bytes - written)]
        out.write(base64.b64encode(piece))
        written += len(piece)
    out.write(b'"}}')
PY
BODY_BYTES=$(stat -c %s "$WORK/audio.json")

cd "$WORK"  # the dev profile keeps its data under ./.dev-data
PORT="$PORT" RUST_LOG=warn "$BINARY" --dev serve &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    sleep 0.1
done
SIGNATURE="$("$BINARY" --dev sign "$WORK/audio.json")"

# Warm up the code paths with a small delivery, so that the figure is the growth due to size.
python3 -c 'import json; print(json.dumps({"type": "post_call_audio", "data": {"conversation_id": "conv_warm", "full_audio": "SUQz"}}))' > warm.json
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/webhook/post-call" \
    -H "content-type: application/json" -H "ElevenLabs-Signature: $("$BINARY" --dev sign warm.json)" \
    --data-binary @warm.json

BEFORE_HWM=$(kib VmHWM)
BEFORE_RSS=$(kib VmRSS)
RESULT=$(curl -s -o "$WORK/response.json" -w '%{http_code} %{time_total}' -X POST \
    "http://127.0.0.1:$PORT/webhook/post-call" \
    -H "content-type: application/json" -H "Transfer-Encoding: chunked" \
    -H "ElevenLabs-Signature: $SIGNATURE" ${RATE:+--limit-rate "$RATE"} -T "$WORK/audio.json")
AFTER_HWM=$(kib VmHWM)
read -r STATUS ELAPSED <<<"$RESULT"

if [[ -n "$BUCKET_URL" ]]; then
    STORED=$(curl -sf -o /dev/null -w '%{size_download}' -H "Authorization: AWS4-HMAC-SHA256 Credential=bench/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0" "$BUCKET_URL" || echo 0)
else
    STORED=$(stat -c %s "$WORK/.dev-data/payloads/conv_bench/conv_bench_audio.mp3" 2>/dev/null || echo 0)
fi
echo "response:           $STATUS $(cat "$WORK/response.json")"
echo "body sent:          $BODY_BYTES bytes, chunked"
echo "audio stored:       $STORED bytes"
echo "time to accept:     ${ELAPSED} s"
echo "server VmRSS before: $((BEFORE_RSS / 1024)) MiB, VmHWM before: $((BEFORE_HWM / 1024)) MiB, after: $((AFTER_HWM / 1024)) MiB"
echo "peak memory growth: $(((AFTER_HWM - BEFORE_HWM) / 1024)) MiB ($((AFTER_HWM - BEFORE_HWM)) KiB; target under 32 MiB)"
[[ "$STATUS" == 200 ]]
