#!/usr/bin/env bash
# Makes .venv at the top of the checkout with the reference libraries of
# tests/reference/requirements.txt; the tests that run them find it there.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/requirements.stamp
if ! cmp -s tests/reference/requirements.txt "$stamp" 2>/dev/null; then
    .venv/bin/pip install -q --disable-pip-version-check -r tests/reference/requirements.txt
    cp tests/reference/requirements.txt "$stamp"
fi
