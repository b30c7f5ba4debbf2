#!/usr/bin/env bash
# Load figures for the ring-time greeting and the mid-call search, against the release binary with
# the dev profile (embedded backend):
#
# 1. client-data against the framework itself, in one run: the service with metrics on, the same
#    service with METRICS_ENABLED=false, and examples/bare_greeting.rs (a bare poem server that
#    answers the same request with the same JSON and does nothing else), measured in interleaved
#    rounds with wrk. Printed: the mean rate and p99 of each, the service's share of the bare
#    server's rate, its p99 against the bare server's, and metrics on against metrics off. These
#    ratios are the figures: the absolute numbers move with the machine and whatever else runs.
# 2. client-data and search-data p50/p99 at a fixed 1,000 requests/s, and search-data's maximum
#    rate, with oha.
# 3. with EMBEDDING_MODEL_DIR (below): search-data's maximum rate with a sentence model.
#
# Usage: scripts/load-test.sh            (from anywhere; loopback only)
#   PORT=18080       the service with metrics (PORT+1 without metrics, PORT+2 the bare server)
#   DURATION=8s      the length of each wrk run      ROUNDS=3   interleaved rounds
#   CONNECTIONS=64   connections for the maximum-rate runs (wrk: 2 threads)
#   FIXED_RATE=1     0 skips part 2 (and oha)
#   ROUNDS=0         skips part 1
#   EMBEDDING_MODEL_DIR=folder
#                    also measures search-data's maximum rate against a service with that sentence
#                    model (for example target/test-assets/all-MiniLM-L6-v2), whose searches embed
#                    each question, beside the lexical service's, with wrk and MODEL_CONNECTIONS=4
#                    connections (part 3); the searches ranked by words only because the question
#                    was not embedded within its budget are counted from that service's log. The
#                    other servers run without a model.
#   BINARY=path      the service binary to measure (default: the one just built), for example a
#                    copy of an earlier build to compare with; with ROUNDS=0 nothing is built
#
# wrk comes from the distribution (`apt-get install wrk` when missing); oha from `cargo install
# oha --locked`. The servers and the load generator share the machine, so on a 2-core machine
# the figures are for 2 cores in total.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18080}
DURATION=${DURATION:-8s}
CONNECTIONS=${CONNECTIONS:-64}
ROUNDS=${ROUNDS:-3}
FIXED_RATE=${FIXED_RATE:-1}
MODEL_CONNECTIONS=${MODEL_CONNECTIONS:-4}
MODEL=${EMBEDDING_MODEL_DIR:-}
unset EMBEDDING_MODEL_DIR
BASE="http://127.0.0.1:${PORT}"
BASE_WITHOUT_METRICS="http://127.0.0.1:$((PORT + 1))"
BARE="http://127.0.0.1:$((PORT + 2))"

if ! command -v wrk >/dev/null 2>&1; then
    echo "== installing wrk (apt-get install wrk)"
    apt-get install -y wrk >/dev/null || {
        echo "wrk is missing and could not be installed; install it and run again"; exit 1; }
fi
if [[ "$FIXED_RATE" == 1 ]] && ! command -v oha >/dev/null 2>&1; then
    echo "== installing oha (cargo install oha --locked)"
    cargo install oha --locked
fi

TARGET="${CARGO_TARGET_DIR:-target}/release"
# A given binary with ROUNDS=0 needs no build: the bare server is only used in part 1.
if [[ -z "${BINARY:-}" || "$ROUNDS" -gt 0 ]]; then
    echo "== building the release binary and the bare server"
    cargo build --release --quiet --bin caller-memory --example bare_greeting
fi
BINARY=${BINARY:-$TARGET/caller-memory}

# Only errors are logged: the run measures the service, not the terminal.
export RUST_LOG=${RUST_LOG:-error}
source scripts/dev-server.sh
start_dev_server
METRICS_ENABLED=false PORT=$((PORT + 1)) start_dev_server
if [[ -n "$MODEL" ]]; then
    BASE_WITH_MODEL="http://127.0.0.1:$((PORT + 3))"
    # Its warnings name each search that fell back to ranking by words.
    RUST_LOG="$RUST_LOG,caller_memory::core::use_cases::search_memories=warn" \
        EMBEDDING_MODEL_DIR=$(realpath "$MODEL") PORT=$((PORT + 3)) start_dev_server
    MODEL_LOG="$DATA/server.log"
fi

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
[[ -z "$MODEL" ]] || learn_caller "$BASE_WITH_MODEL"

echo "== client-data answer for that caller"
GREETING=$(curl -s "$BASE/webhook/client-data" -H "content-type: application/json" \
    -H "X-Api-Key: dev-only-client-data-key" --data-binary @payloads/client_data.json)
echo "$GREETING"
[[ "$GREETING" == *'"user_name":"Maria"'* ]] || { echo "the caller was not recognised"; exit 1; }
echo "== search-data answer for that caller"
FOUND=$(curl -s "$BASE/webhook/search-data" -H "content-type: application/json" \
    -H "X-Api-Key: dev-only-search-data-key" --data-binary @payloads/search_data.json)
echo "$FOUND"
found_her_words() { # search-data answer
    [[ "$1" == *'"status":"ok"'* && "$1" == *'move my cleaning appointment'* ]] || {
        echo "the caller's memories were not found"; exit 1; }
}
found_her_words "$FOUND"
if [[ -n "$MODEL" ]]; then
    echo "== search-data answer for that caller, with the model $(basename "$MODEL")"
    FOUND=$(curl -s "$BASE_WITH_MODEL/webhook/search-data" -H "content-type: application/json" \
        -H "X-Api-Key: dev-only-search-data-key" --data-binary @payloads/search_data.json)
    echo "$FOUND"
    found_her_words "$FOUND"
fi

# The bare server answers with exactly the service's answer.
if [[ "$ROUNDS" -gt 0 ]]; then
    printf '%s' "$GREETING" >"$DATA/greeting.json"
    "$TARGET/examples/bare_greeting" "127.0.0.1:$((PORT + 2))" "$DATA/greeting.json" &
    DEV_SERVERS+=("$!")
    for _ in $(seq 100); do
        BARE_ANSWER=$(curl -s "$BARE/webhook/client-data" -H "content-type: application/json" \
            --data-binary @payloads/client_data.json || true)
        [[ -n "$BARE_ANSWER" ]] && break
        sleep 0.1
    done
    [[ "$BARE_ANSWER" == "$GREETING" ]] || { echo "the bare server answers differently"; exit 1; }
fi

# One wrk run: prints "<requests/s> <p99 in ms> <non-2xx responses> <socket errors>".
measure() { # base URL, then optionally the operation (client-data) and the connections
    local operation=${2:-client-data}
    WRK_BODY=payloads/${operation//-/_}.json WRK_KEY=dev-only-$operation-key \
        wrk -t2 -c "${3:-$CONNECTIONS}" -d "$DURATION" --latency -s scripts/wrk-post.lua \
        "$1/webhook/$operation" | python3 scripts/wrk_summary.py
}

if [[ "$ROUNDS" -gt 0 ]]; then
    echo "== client-data, maximum rate (wrk, 2 threads, $CONNECTIONS connections, $DURATION):" \
        "service with metrics, without metrics, bare server; $ROUNDS interleaved rounds"
    RESULTS="$DATA/rounds"
    : >"$RESULTS"
    NAMES=(metrics_on metrics_off bare)
    URLS=("$BASE" "$BASE_WITHOUT_METRICS" "$BARE")
    for round in $(seq "$ROUNDS"); do
        # Each round starts with a different server, so that none is always measured first.
        for step in 0 1 2; do
            index=$(((round + step) % 3))
            figures=$(measure "${URLS[$index]}")
            echo "round $round: ${NAMES[$index]}: $figures (requests/s, p99 ms, non-2xx, errors)"
            echo "${NAMES[$index]} $figures" >>"$RESULTS"
        done
    done
    python3 - "$RESULTS" <<'PY'
import sys
runs = {}
for line in open(sys.argv[1]):
    name, rate, p99, non_2xx, errors = line.split()
    runs.setdefault(name, []).append((float(rate), float(p99), int(non_2xx), int(errors)))
mean = lambda values: sum(values) / len(values)
rate = {name: mean([r[0] for r in rows]) for name, rows in runs.items()}
p99 = {name: mean([r[1] for r in rows]) for name, rows in runs.items()}
for name in ("metrics_on", "metrics_off", "bare"):
    failed = sum(r[2] + r[3] for r in runs[name])
    print(f"{name:>11}: {rate[name]:>9,.0f} requests/s, p99 {p99[name]:.2f} ms, "
          f"{failed} non-2xx or failed")
print(f"client-data / bare server: {100 * rate['metrics_on'] / rate['bare']:.1f}% of the rate "
      f"(target: at least 80%), p99 {p99['metrics_on'] / p99['bare']:.2f}x (target: at most 1.5x)")
print(f"metrics on / metrics off: {100 * rate['metrics_on'] / rate['metrics_off']:.1f}% of the "
      f"rate (target: at least 95%)")
if any(r[2] + r[3] for rows in runs.values() for r in rows):
    sys.exit("some requests failed: the figures above are not comparable")
PY
fi

if [[ "$FIXED_RATE" == 1 ]]; then
    # Status codes ("[200] 10000 responses") and client-side errors ("[64] aborted due to
    # deadline": requests still in flight when the run ends) are kept.
    summary() {
        grep -E "Success rate|Requests/sec|Slowest|Fastest|(50|90|99|99\.90)(\.00)?% in|^ *\[[0-9]+\] " || true
    }
    run() { # name, then oha arguments
        local name=$1
        shift
        echo "== $name"
        oha --no-tui -z "$DURATION" -m POST -T application/json "$@" | summary
    }
    CLIENT_DATA=(-H "X-Api-Key: dev-only-client-data-key" -D payloads/client_data.json "$BASE/webhook/client-data")
    SEARCH_DATA=(-H "X-Api-Key: dev-only-search-data-key" -D payloads/search_data.json "$BASE/webhook/search-data")
    run "client-data at 1,000 requests/s" -q 1000 -c 16 "${CLIENT_DATA[@]}"
    run "search-data at 1,000 requests/s" -q 1000 -c 16 "${SEARCH_DATA[@]}"
    run "search-data, maximum rate ($CONNECTIONS connections)" -c "$CONNECTIONS" "${SEARCH_DATA[@]}"
fi

if [[ -n "$MODEL" ]]; then
    echo "== search-data, maximum rate (wrk, 2 threads, $MODEL_CONNECTIONS connections, $DURATION):" \
        "lexical only, then with the model $(basename "$MODEL")"
    echo "lexical only: $(measure "$BASE" search-data "$MODEL_CONNECTIONS") (requests/s, p99 ms, non-2xx, errors)"
    fallbacks_before=$(grep -c "ranking by words only" "$MODEL_LOG" || true)
    echo "with the model: $(measure "$BASE_WITH_MODEL" search-data "$MODEL_CONNECTIONS") (requests/s, p99 ms, non-2xx, errors)"
    fallbacks=$(($(grep -c "ranking by words only" "$MODEL_LOG" || true) - fallbacks_before))
    echo "searches ranked by words only, the question not embedded within its budget: $fallbacks"
fi

for folder in "${DEV_FOLDERS[@]}"; do
    if grep -qi "error" "$folder/server.log"; then
        echo "== server errors during the run (first 5)"
        grep -i "error" "$folder/server.log" | head -5
    fi
done
