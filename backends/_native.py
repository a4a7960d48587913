"""Loads a backend's compiled native runner extension (src/native_runner.h).

setup.py builds each one into build/ when its framework is installed. A backend asks for
its extension by name; without one (not built, or it fails to load) the backend's models
simply carry no native runner and run through Python, so a missing build is never an error.
"""

import glob
import importlib.util
import os

_BUILD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build")
_loaded = {}


def load(name):
    """The extension module `name` from build/, or None."""
    if name in _loaded:
        return _loaded[name]
    module = None
    paths = sorted(glob.glob(os.path.join(_BUILD, name + ".*.so")))
    if paths:
        try:
            spec = importlib.util.spec_from_file_location(name, paths[0])
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        except (ImportError, OSError):
            module = None
    _loaded[name] = module
    return module
