#!/usr/bin/env bash
# Starts an S3-protocol server for the tests (moto's standalone S3 service from PyPI), on a free
# port of 127.0.0.1, with the buckets named as arguments; it prints "listening on
# http://127.0.0.1:PORT" and runs until its standard input closes.
#
# Once per machine, moto is installed in a virtual environment under
# target/test-assets/moto-venv (or $S3_TEST_SERVER_VENV), by `scripts/python-venv.sh`.
# Needs python3 with venv and pip. `scripts/s3-test-server.sh --install` only installs.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${S3_TEST_SERVER_VENV:-target/test-assets/moto-venv}"
PACKAGE="moto[server]==5.2.5"

scripts/python-venv.sh "$VENV" "$PACKAGE"

if [ "${1:-}" = "--install" ]; then
    exit 0
fi
exec "$VENV/bin/python" scripts/s3_test_server.py "$@"
