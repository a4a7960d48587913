"""Loads a backend's compiled native runner extension (src/native_runner.h).

setup.py builds each one when its framework is installed, against that framework's headers
and libraries, and records beside it the framework's version (native_runners.json). They
lie beside this file in an installed package (site-packages/cyrai/backends/) and in build/
in a checkout. A backend asks for its extension by name; without one (not built, built for
another version of its framework, or failing to load) the backend's models simply carry no
native runner and run through Python, so a missing build is never an error.
"""

import glob
import importlib.metadata
import importlib.util
import json
import os

_HERE = os.path.dirname(os.path.abspath(__file__))
# An installed package's runners lie beside this file, a checkout's in its build/.
FOLDERS = (_HERE, os.path.join(os.path.dirname(_HERE), "build"))
RECORD = "native_runners.json"  # written by setup.py
_loaded = {}


def find(name):
    """(path of the extension `name`, None), or (None or its path, why it is not usable)."""
    for folder in FOLDERS:
        paths = sorted(glob.glob(os.path.join(folder, name + ".*.so")))
        if paths:
            return paths[0], _version_mismatch(folder, name)
    return None, "not built"


def _version_mismatch(folder, name):
    """Why the runner does not fit the installed framework, or None when it does."""
    try:
        with open(os.path.join(folder, RECORD)) as f:
            dist, version = json.load(f)[name]
    except (OSError, ValueError, KeyError, TypeError):
        return "no record of the framework version it was built for"
    try:
        installed = importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return f"{dist} is not installed"
    if installed != version:
        return f"built for {dist} {version}, {installed} is installed"
    return None


def load(name):
    """The extension module `name`, or None."""
    if name in _loaded:
        return _loaded[name]
    module = None
    path, why_not = find(name)
    if path and not why_not:
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except (ImportError, OSError):
            module = None
    _loaded[name] = module
    return module
