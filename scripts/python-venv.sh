#!/usr/bin/env bash
# Installs a PyPI package that the tests or the scripts run, once per machine, in its own virtual
# environment: `scripts/python-venv.sh VENV PACKAGE`. Safe when several processes run it at once:
# they take turns on a lock, and a half-made environment is made again. Needs python3 with venv
# and pip.
set -euo pipefail

VENV="$1"
PACKAGE="$2"

mkdir -p "$(dirname "$VENV")"
(
    flock 9
    if [ ! -f "$VENV/.installed" ] || [ "$(cat "$VENV/.installed")" != "$PACKAGE" ]; then
        rm -rf "$VENV"
        python3 -m venv "$VENV" >&2
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$PACKAGE" >&2
        echo "$PACKAGE" > "$VENV/.installed"
    fi
) 9>"$VENV.lock"
