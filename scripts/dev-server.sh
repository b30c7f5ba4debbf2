# Sourced by the scripts that measure or fuzz the running service.
#
# start_dev_server: runs "$BINARY --dev serve" on 127.0.0.1:$PORT with its data in a throw-away
# folder ($DATA, the log in $DATA/server.log; RUST_LOG and other settings such as METRICS_ENABLED
# are taken from the environment), waits until /health answers, and stops the server and removes
# the folder when the calling script exits. Sets DATA and SERVER, and exports the storage paths so
# that later commands of the script (such as `caller-memory --dev sign`) use the same folder.
# Called again (with another PORT), it starts one more server; every one is stopped at exit.
DEV_SERVERS=()
DEV_FOLDERS=()
stop_dev_servers() {
    local server
    for server in "${DEV_SERVERS[@]}"; do kill "$server" 2>/dev/null || true; done
    for server in "${DEV_SERVERS[@]}"; do wait "$server" 2>/dev/null || true; done
    rm -rf "${DEV_FOLDERS[@]}"
}
start_dev_server() {
    DATA=$(mktemp -d)
    export PAYLOAD_STORAGE_PATH="$DATA/payloads" OPENMEMORY_DB_PATH="$DATA/memory.sqlite3"
    PORT="$PORT" HOST=127.0.0.1 "$BINARY" --dev serve >"$DATA/server.log" 2>&1 &
    SERVER=$!
    DEV_SERVERS+=("$SERVER")
    DEV_FOLDERS+=("$DATA")
    trap stop_dev_servers EXIT
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the service did not start:" >&2
    cat "$DATA/server.log" >&2
    return 1
}
