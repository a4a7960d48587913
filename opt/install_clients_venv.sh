#!/usr/bin/env bash
# Creates .venv-clients, the environment of the real client libraries (redisai-py,
# SmartRedis) used by tests/clients, and installs requirements-clients.txt when it changed
# since the last install. It is kept apart from .venv because the clients' pins clash with
# the test tools' (redis-py < 5 vs >= 5, numpy < 2): see design.md, pitfall 14.
# The module is not loaded from here, so any python3 works (3.11 has smartredis wheels).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv="$top/.venv-clients"
python=${PYTHON:-python3}
stamp="$venv/.requirements.installed"

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
if ! cmp -s "$top/requirements-clients.txt" "$stamp"; then
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$top/requirements-clients.txt"
    cp "$top/requirements-clients.txt" "$stamp"
fi
