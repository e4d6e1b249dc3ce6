#!/usr/bin/env bash
# Makes sure e2e/.venv holds moto's server and boto3, then prints the venv's bin directory.
# Idempotent and quiet when the venv is already complete, so tests may call it every run.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${SWITCHYARD_MOTO_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/moto_server" || ! -x "$venv/bin/python" ]] \
    || ! "$venv/bin/python" -c 'import boto3, moto.server' >/dev/null 2>&1; then
    # A lock keeps parallel test binaries from building the same venv at once.
    exec 9>"${TMPDIR:-/tmp}/switchyard-moto-venv.lock"
    flock 9
    if [[ ! -x "$venv/bin/moto_server" ]] \
        || ! "$venv/bin/python" -c 'import boto3, moto.server' >/dev/null 2>&1; then
        "$python" -m venv "$venv" >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            'moto[server]>=5.1,<6' 'boto3>=1.34' >&2
    fi
fi

echo "$venv/bin"
