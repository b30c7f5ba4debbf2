#!/usr/bin/env bash
# Retention sweep benchmark: archives CALLS transcriptions (one caller per 10 calls, each with a
# 64 KiB recording) dated 2026-01-15 with the dev profile (embedded store), learns from them with
# `replay --all`, then times `sweep` runs with every retention period at 1 day, until a sweep says
# nothing more is due, and checks that no archived file is left.
#
# Usage: scripts/sweep-throughput.sh [calls]   (default 500; PROFILE=debug to skip the release
# build; BATCH sets RETENTION_SWEEP_BATCH, default 500; MEMORY_DAYS=off keeps the memories, to
# time the archive alone)
set -euo pipefail

CALLS="${1:-500}"
BATCH="${BATCH:-500}"
source "$(dirname "$0")/privacy-bench-setup.sh"

echo "archiving $CALLS calls..."
python3 - "$REPO/payloads/post_call_transcription.json" "$WORK/.dev-data/payloads" "$CALLS" <<'PY'
import json, os, sys
sample, root, calls = sys.argv[1], sys.argv[2], int(sys.argv[3])
event = json.load(open(sample))
for n in range(calls):
    conversation = f"conv_sweep_{n:06d}"
    number = f"+1415555{n // 10:04d}"
    data = event["data"]
    data["conversation_id"] = conversation
    data["metadata"]["phone_call"]["external_number"] = number
    data["conversation_initiation_client_data"]["dynamic_variables"]["system__caller_id"] = number
    folder = os.path.join(root, conversation)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{conversation}_transcription.json"), "w") as out:
        json.dump(event, out)
    with open(os.path.join(folder, f"{conversation}_audio.mp3"), "wb") as out:
        out.write(os.urandom(64 * 1024))
PY

cd "$WORK"
"$BINARY" --dev replay --all
export RETENTION_AUDIO_DAYS=1 RETENTION_TRANSCRIPT_DAYS=1
if [[ "${MEMORY_DAYS:-1}" != off ]]; then
    export RETENTION_MEMORY_DAYS="${MEMORY_DAYS:-1}"
fi
export RETENTION_SWEEP_BATCH="$BATCH"
runs=0
start=$(date +%s%N)
while :; do
    runs=$((runs + 1))
    report="$("$BINARY" --dev sweep)"
    grep -q '"unfinished": true' <<<"$report" || break
done
end=$(date +%s%N)
elapsed_ms=$(( (end - start) / 1000000 ))
left=$(find .dev-data/payloads -maxdepth 1 -name 'conv_sweep_*' -type d -exec sh -c 'ls "$1" | grep -q .' _ {} \; -print | wc -l)
echo "last report: $report"
echo "sweep of $CALLS calls (memory retention ${MEMORY_DAYS:-1}; batch $BATCH): $runs runs, ${elapsed_ms} ms, $(( CALLS * 1000 / (elapsed_ms > 0 ? elapsed_ms : 1) )) calls/s ($PROFILE build); calls with files left: $left"
