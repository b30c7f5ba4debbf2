#!/usr/bin/env bash
# Where a greeting's work goes, counted in instructions (so the figures hold however busy the
# machine is): runs the release binary (dev profile) under valgrind's callgrind, learns the sample
# returning caller, warms up, then counts only while REQUESTS client-data calls are answered one
# after another on one kept-alive connection, and prints the functions that execute the most
# instructions (self and inclusive) and the instructions per request.
#
# Usage: scripts/profile-greeting.sh     (needs valgrind: apt-get install valgrind)
#   OPERATION=search-data   profiles the memory search instead
#   REQUESTS=2000  TOP=25  PORT=18070   BINARY=path/to/caller-memory (default: build it)
#   RUST_LOG=error          the log level of the run (info profiles the request log lines too)
# The callgrind output stays in $OUT (default: a new temporary folder) for callgrind_annotate
# or kcachegrind.
set -euo pipefail
cd "$(dirname "$0")/.."

OPERATION=${OPERATION:-client-data}
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
command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install valgrind"; exit 1; }
if [[ -z "${BINARY:-}" ]]; then
    cargo build --release --quiet --bin caller-memory
    BINARY="${CARGO_TARGET_DIR:-target}/release/caller-memory"
fi

DATA=$(mktemp -d)
export PAYLOAD_STORAGE_PATH="$DATA/payloads" OPENMEMORY_DB_PATH="$DATA/memory.sqlite3"
PORT="$PORT" HOST=127.0.0.1 valgrind --tool=callgrind --instr-atstart=no \
    --callgrind-out-file="$OUT/callgrind.out" "$BINARY" --dev serve >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT
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
HOST=127.0.0.1 callgrind_control --instr=on "$SERVER" >/dev/null
echo "== counting $REQUESTS requests"
send "$REQUESTS" >/dev/null
HOST=127.0.0.1 callgrind_control --instr=off "$SERVER" >/dev/null
# The counts are written when the service exits.
kill -INT "$SERVER"
wait "$SERVER" 2>/dev/null || true

PROFILE="$OUT/callgrind.out"
# head and awk stop reading early; that is not a failure.
set +o pipefail
TOTAL=$(callgrind_annotate "$PROFILE" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
echo "== $OPERATION: $TOTAL instructions for $REQUESTS requests: $((TOTAL / REQUESTS)) per request"
echo "== top $TOP functions by their own instructions"
callgrind_annotate --threshold=100 "$PROFILE" | grep -E '^ *[0-9,]+ \(' | head -n "$TOP"
echo "== top $TOP functions by inclusive instructions"
callgrind_annotate --inclusive=yes --threshold=100 "$PROFILE" | grep -E '^ *[0-9,]+ \(' | head -n "$TOP"
echo "(callgrind output: $PROFILE)"
