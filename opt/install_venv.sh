#!/usr/bin/env bash
# Creates .venv (on a Python built with a shared libpython, which the module embeds) and
# installs the pinned requirements when requirements.txt changed since the last install.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
venv="$top/.venv"
python=${PYTHON:-python3}
stamp="$venv/.requirements.installed"

if [ "$("$python" -c 'import sysconfig; print(sysconfig.get_config_var("Py_ENABLE_SHARED"))')" != 1 ]; then
    echo "$python has no shared libpython; set PYTHON to one that does" >&2
    exit 1
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
if ! cmp -s "$top/requirements.txt" "$stamp"; then
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$top/requirements.txt"
    cp "$top/requirements.txt" "$stamp"
fi
