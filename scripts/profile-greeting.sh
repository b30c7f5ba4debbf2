#!/usr/bin/env bash
# Where a greeting's work goes, counted in instructions (so the figures hold however busy the
# machine is): runs the release binary (dev profile) under valgrind's callgrind, learns the sample
# returning caller, warms up, then counts only while REQUESTS client-data calls are answered one
# after another on one kept-alive connection, and prints the functions that execute the most
# instructions (self and inclusive) and the instructions per request.
#
# Usage: scripts/profile-greeting.sh     (needs valgrind: apt-get install valgrind)
#   OPERATION=search-data   profiles the memory search instead
#   SERVER=bare             profiles examples/bare_greeting.rs answering the service's own greeting
#                           for the same requests: the floor the framework sets
#   REQUESTS=2000  TOP=25  PORT=18070   BINARY=path/to/caller-memory (default: build it)
#   BARE_BINARY=path/to/bare_greeting (default: build it)
#   RUST_LOG=error          the log level of the run (info profiles the request log lines too)
# The callgrind output stays in $OUT (default: a new temporary folder) for callgrind_annotate
# or kcachegrind.
set -euo pipefail
cd "$(dirname "$0")/.."

OPERATION=${OPERATION:-client-data}
SERVER=${SERVER:-service}
REQUESTS=${REQUESTS:-2000}
TOP=${TOP:-25}
PORT=${PORT:-18070}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
BASE="http://127.0.0.1:$PORT"
export RUST_LOG=${RUST_LOG:-error}
# vgdb, behind callgrind_control, finds the process by its USER and HOST (the service's HOST).
export USER=${USER:-$(id -un)}

case "$OPERATION" in
    client-data) BODY=payloads/client_data.json KEY=dev-only-client-data-key ;;
    search-data) BODY=payloads/search_data.json KEY=dev-only-search-data-key ;;
    *) echo "OPERATION is client-data or search-data"; exit 2 ;;
esac
case "$SERVER" in
    service) ;;
    bare) [[ "$OPERATION" == client-data ]] || { echo "the bare server only answers client-data"; exit 2; } ;;
    *) echo "SERVER is service or bare"; exit 2 ;;
esac
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind"; exit 1; }
TARGET="${CARGO_TARGET_DIR:-target}/release"
if [[ -z "${BINARY:-}" || ( "$SERVER" == bare && -z "${BARE_BINARY:-}" ) ]]; then
    cargo build --release --quiet --bin caller-memory --example bare_greeting
fi
BINARY=${BINARY:-$TARGET/caller-memory}
BARE_BINARY=${BARE_BINARY:-$TARGET/examples/bare_greeting}

DATA=$(mktemp -d)
export PAYLOAD_STORAGE_PATH="$DATA/payloads" OPENMEMORY_DB_PATH="$DATA/memory.sqlite3"
SERVED=
trap 'kill $SERVED 2>/dev/null || true; wait $SERVED 2>/dev/null || true; rm -rf "$DATA"' EXIT

# Starts the service on PORT, with the caller of the sample transcription learnt.
start_service() { # command prefix (valgrind and its options, or nothing)
    PORT="$PORT" HOST=127.0.0.1 "$@" "$BINARY" --dev serve >"$DATA/server.log" 2>&1 &
    SERVED=$!
    for _ in $(seq 600); do
        curl -sf "$BASE/health" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -sf "$BASE/health" >/dev/null || { echo "the service did not start:"; cat "$DATA/server.log"; exit 1; }
    SIGNATURE=$("$BINARY" --dev sign payloads/post_call_transcription.json)
    curl -sf -o /dev/null "$BASE/webhook/post-call" -H "content-type: application/json" \
        -H "ElevenLabs-Signature: $SIGNATURE" --data-binary @payloads/post_call_transcription.json
    for _ in $(seq 600); do
        curl -s "$BASE/ready" | grep -q '"pending_ingestions":0' && break
        sleep 0.1
    done
}
PROFILED=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.out")
if [[ "$SERVER" == service ]]; then
    start_service "${PROFILED[@]}"
else
    # The bare server answers with the service's own greeting for the caller.
    start_service
    curl -sf -o "$DATA/greeting.json" "$BASE/webhook/client-data" -H "content-type: application/json" \
        -H "X-Api-Key: $KEY" --data-binary @"$BODY"
    kill "$SERVED"
    wait "$SERVED" 2>/dev/null || true
    HOST=127.0.0.1 "${PROFILED[@]}" "$BARE_BINARY" "127.0.0.1:$PORT" "$DATA/greeting.json" >"$DATA/server.log" 2>&1 &
    SERVED=$!
    for _ in $(seq 600); do
        curl -sf -o /dev/null "$BASE/webhook/client-data" --data-binary @"$BODY" && break
        sleep 0.1
    done
fi

# Sends COUNT requests on one connection and checks every answer; the first answer is printed.
send() { # count
    python3 - "$PORT" "$OPERATION" "$BODY" "$KEY" "$1" <<'PY'
import http.client, sys
port, operation, body, key, count = sys.argv[1], sys.argv[2], open(sys.argv[3], "rb").read(), sys.argv[4], int(sys.argv[5])
connection = http.client.HTTPConnection("127.0.0.1", int(port))
headers = {"Content-Type": "application/json", "X-Api-Key": key}
for index in range(count):
    connection.request("POST", f"/webhook/{operation}", body, headers)
    response = connection.getresponse()
    answer = response.read()
    if response.status != 200 or b"Maria" not in answer:
        sys.exit(f"unexpected answer {response.status}: {answer[:300]!r}")
    if index == 0:
        print(answer.decode())
PY
}
echo "== warming up ($OPERATION)"
send 200
HOST=127.0.0.1 callgrind_control --instr=on "$SERVED" >/dev/null
echo "== counting $REQUESTS requests"
send "$REQUESTS" >/dev/null
HOST=127.0.0.1 callgrind_control --instr=off "$SERVED" >/dev/null
# The counts are written when the service exits.
kill -TERM "$SERVED"
wait "$SERVED" 2>/dev/null || true

PROFILE="$OUT/callgrind.out"
# head and awk stop reading early; that is not a failure.
set +o pipefail
TOTAL=$(callgrind_annotate "$PROFILE" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
echo "== $OPERATION ($SERVER): $TOTAL instructions for $REQUESTS requests: $((TOTAL / REQUESTS)) per request"
echo "== top $TOP functions by their own instructions"
callgrind_annotate --threshold=100 "$PROFILE" | grep -E '^ *[0-9,]+ \(' | head -n "$TOP"
echo "== top $TOP functions by inclusive instructions"
callgrind_annotate --inclusive=yes --threshold=100 "$PROFILE" | grep -E '^ *[0-9,]+ \(' | head -n "$TOP"
echo "(callgrind output: $PROFILE)"
