#!/usr/bin/env bash
# Load figures for the ring-time greeting and the mid-call search:
#   client-data p50/p99 at a fixed 1,000 requests/s, client-data maximum sustained rate, and
#   search-data p50/p99, against the release binary with the dev profile (embedded backend); first
#   the cost of metrics: client-data's maximum rate with metrics on and with METRICS_ENABLED=false,
#   two servers measured in turn, ROUNDS times each.
#
# Usage: scripts/load-test.sh            (from anywhere; loopback only)
#   PORT=18080  the port to serve on (PORT+1 for the server without metrics)
#   DURATION=10s  the length of each run (at most 20s)
#   CONNECTIONS=64  connections for the maximum-rate runs     ROUNDS=3  on/off rounds
#
# Installs oha with `cargo install oha --locked` when it is not on PATH. The server and the load
# generator share the machine, so on a 2-core machine the figures are for 2 cores in total.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18080}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
BASE="http://127.0.0.1:${PORT}"
BASE_WITHOUT_METRICS="http://127.0.0.1:$((PORT + 1))"

if ! command -v oha >/dev/null 2>&1; then
    echo "== installing oha (cargo install oha --locked)"
    cargo install oha --locked
fi

echo "== building the release binary"
cargo build --release --quiet
BINARY="${CARGO_TARGET_DIR:-target}/release/caller-memory"

# Only errors are logged: the run measures the service, not the terminal.
export RUST_LOG=${RUST_LOG:-error}
source scripts/dev-server.sh
start_dev_server
METRICS_ENABLED=false PORT=$((PORT + 1)) start_dev_server

# The returning caller is learnt from the signed sample transcription, as in production.
learn_caller() { # base URL
    local base=$1 status
    echo "== $base: learning a returning caller from payloads/post_call_transcription.json"
    SIGNATURE=$("$BINARY" --dev sign payloads/post_call_transcription.json)
    status=$(curl -s -o /dev/null -w '%{http_code}' "$base/webhook/post-call" \
        -H "content-type: application/json" -H "ElevenLabs-Signature: $SIGNATURE" \
        --data-binary @payloads/post_call_transcription.json)
    echo "post-call of the sample transcription: HTTP $status"
    [[ "$status" == 200 ]] || exit 1
    for _ in $(seq 100); do
        curl -s "$base/ready" | grep -q '"pending_ingestions":0' && return 0
        sleep 0.1
    done
    echo "the transcription was not learnt within 10 s:"; curl -s "$base/ready"; exit 1
}
learn_caller "$BASE"
learn_caller "$BASE_WITHOUT_METRICS"

echo "== client-data answer for that caller"
GREETING=$(curl -s "$BASE/webhook/client-data" -H "content-type: application/json" \
    -H "X-Api-Key: dev-only-client-data-key" --data-binary @payloads/client_data.json)
echo "$GREETING"
[[ "$GREETING" == *'"user_name":"Maria"'* ]] || { echo "the caller was not recognised"; exit 1; }
echo "== search-data answer for that caller"
FOUND=$(curl -s "$BASE/webhook/search-data" -H "content-type: application/json" \
    -H "X-Api-Key: dev-only-search-data-key" --data-binary @payloads/search_data.json)
echo "$FOUND"
[[ "$FOUND" == *'"status":"ok"'* && "$FOUND" == *'move my cleaning appointment'* ]] || {
    echo "the caller's memories were not found"; exit 1; }

run() { # name, then oha arguments
    local name=$1
    shift
    echo "== $name"
    oha --no-tui -z "$DURATION" -m POST -T application/json "$@" | summary
}

# Status codes ("[200] 10000 responses") and client-side errors ("[64] aborted due to deadline":
# requests still in flight when the run ends) are kept.
summary() {
    grep -E "Success rate|Requests/sec|Slowest|Fastest|(50|90|99|99\.90)(\.00)?% in|^ *\[[0-9]+\] " || true
}

CLIENT_DATA=(-H "X-Api-Key: dev-only-client-data-key" -D payloads/client_data.json "$BASE/webhook/client-data")
SEARCH_DATA=(-H "X-Api-Key: dev-only-search-data-key" -D payloads/search_data.json "$BASE/webhook/search-data")

# Metrics on and off, taken in turn so that both see the same machine, and first, so that both
# servers have served the same requests before; each figure is a mean.
rate() { # base URL
    oha --no-tui -z "$DURATION" -m POST -T application/json -c "$CONNECTIONS" \
        -H "X-Api-Key: dev-only-client-data-key" -D payloads/client_data.json \
        "$1/webhook/client-data" | awk '/Requests\/sec/ { printf "%d", $2 }'
}
echo "== client-data, maximum rate ($CONNECTIONS connections): metrics on vs off, $ROUNDS rounds"
ON=()
OFF=()
for round in $(seq "$ROUNDS"); do
    # Odd rounds measure metrics on first, even rounds metrics off first.
    if ((round % 2)); then
        ON+=("$(rate "$BASE")")
        OFF+=("$(rate "$BASE_WITHOUT_METRICS")")
    else
        OFF+=("$(rate "$BASE_WITHOUT_METRICS")")
        ON+=("$(rate "$BASE")")
    fi
    echo "round $round: metrics on ${ON[-1]} requests/s, metrics off ${OFF[-1]} requests/s"
done
python3 - "${ROUNDS}" "${ON[@]}" "${OFF[@]}" <<'PY'
import sys
rounds = int(sys.argv[1])
on, off = [float(x) for x in sys.argv[2:2 + rounds]], [float(x) for x in sys.argv[2 + rounds:]]
mean_on, mean_off = sum(on) / rounds, sum(off) / rounds
print(f"metrics on: {mean_on:,.0f} requests/s; metrics off: {mean_off:,.0f} requests/s; "
      f"on is {100 * mean_on / mean_off:.1f}% of off (target: at least 95%)")
PY

run "client-data at 1,000 requests/s" -q 1000 -c 16 "${CLIENT_DATA[@]}"
run "client-data, maximum rate ($CONNECTIONS connections)" -c "$CONNECTIONS" "${CLIENT_DATA[@]}"
run "search-data at 1,000 requests/s" -q 1000 -c 16 "${SEARCH_DATA[@]}"
run "search-data, maximum rate ($CONNECTIONS connections)" -c "$CONNECTIONS" "${SEARCH_DATA[@]}"


for folder in "${DEV_FOLDERS[@]}"; do
    if grep -qi "error" "$folder/server.log"; then
        echo "== server errors during the run (first 5)"
        grep -i "error" "$folder/server.log" | head -5
    fi
done
