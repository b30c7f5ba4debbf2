# Sourced by the privacy benchmarks (erase-time.sh, sweep-throughput.sh): a scratch data folder
# removed on exit, the binary of PROFILE (release, built first, or debug) as BINARY, and PORT set
# to a port nothing listens on, so the commands work on the stores directly.

PROFILE="${PROFILE:-release}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO/target}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

if [[ "$PROFILE" == release ]]; then
    echo "building the release binary..."
    cargo build --release --quiet --manifest-path "$REPO/Cargo.toml" --bin caller-memory
fi
BINARY="$TARGET_DIR/$PROFILE/caller-memory"
export PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
