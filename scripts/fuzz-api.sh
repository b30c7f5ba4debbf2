#!/usr/bin/env bash
# API fuzzing from the OpenAPI spec with schemathesis, against the running service (dev profile,
# embedded store, a throw-away data directory), every operation, with valid credentials.
# Fails on any 5xx and on any response that breaks the spec.
#
#   scripts/fuzz-api.sh              quick run (about a minute; what CI runs)
#   FUZZ_MAX_TIME=900 scripts/fuzz-api.sh   longer run
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_TIME="${FUZZ_MAX_TIME:-60}"
PORT="${FUZZ_PORT:-18431}"
VENV="${FUZZ_VENV:-target/fuzz-venv}"

if [ ! -x "$VENV/bin/schemathesis" ]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==4.32.5"
fi

cargo build --quiet
BINARY="${CARGO_TARGET_DIR:-target}/debug/caller-memory"
DATA="$(mktemp -d)"
export CLIENT_DATA_KEY=dev-only-client-data-key SEARCH_DATA_KEY=dev-only-search-data-key POST_CALL_KEY=dev-only-post-call-key
PORT="$PORT" PAYLOAD_STORAGE_PATH="$DATA/payloads" OPENMEMORY_DB_PATH="$DATA/memory.sqlite3" RUST_LOG=warn \
    "$BINARY" --dev serve >"$DATA/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true; rm -rf "$DATA"' EXIT

for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break
    sleep 0.1
done

SCHEMATHESIS_HOOKS=scripts.fuzz.hooks "$VENV/bin/schemathesis" \
    --config-file scripts/fuzz/schemathesis.toml \
    run "http://127.0.0.1:$PORT/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
    --max-time "$MAX_TIME" \
    --workers 2 \
    --seed 1 \
    --no-color
