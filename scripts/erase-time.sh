#!/usr/bin/env bash
# Erasure benchmark: archives CALLS transcriptions of one caller (and one recording each) with the
# dev profile (embedded store), learns from them with `replay --all`, then times `forget` of that
# caller with no server running, and checks that nothing of theirs is left.
#
# Usage: scripts/erase-time.sh [calls]   (default 100; PROFILE=debug to skip the release build)
set -euo pipefail

CALLS="${1:-100}"
source "$(dirname "$0")/privacy-bench-setup.sh"

echo "archiving $CALLS calls of one caller..."
python3 - "$REPO/payloads/post_call_transcription.json" "$WORK/.dev-data/payloads" "$CALLS" <<'PY'
import json, os, sys
sample, root, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
event = json.load(open(sample))
for n in range(calls):
    conversation = f"conv_erase_{n:05d}"
    event["data"]["conversation_id"] = conversation
    folder = os.path.join(root, conversation)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{conversation}_transcription.json"), "w") as out:
        json.dump(event, out)
    with open(os.path.join(folder, f"{conversation}_audio.mp3"), "wb") as out:
        out.write(os.urandom(64 * 1024))
PY

cd "$WORK"
"$BINARY" --dev replay --all
start=$(date +%s%N)
"$BINARY" --dev forget +14155550123
end=$(date +%s%N)
left=$(grep -rl -e '+14155550123' -e 'Lopez' -e '14155550123' .dev-data | wc -l || true)
echo "forget of a caller with $CALLS calls: $(( (end - start) / 1000000 )) ms ($PROFILE build); files still naming them: $left"
