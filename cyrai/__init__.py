"""cyrai: a Redis module that runs deep-learning models with RedisAI's commands.

This package holds the module (`module_path()`, the file for redis-server's --loadmodule),
its Python backends and the native runners built for the frameworks of the environment it
was built in. The module embeds the Python of the environment it is installed in: it finds
that environment from its own location when Redis loads it.

    python -m cyrai              # the module's path and the frameworks it will use
    cyrai-server [redis-server arguments] [-- module arguments]
"""

import importlib.metadata
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
# Installed, the package holds the module and the backends; in a checkout they are
# build/cyrai.so and backends/ beside this folder.
_INSTALLED = os.path.exists(os.path.join(_HERE, "backends", "__init__.py"))
_TOP = _HERE if _INSTALLED else os.path.dirname(_HERE)

# (backends, the Python package of their framework, its native runner or None)
FRAMEWORKS = (
    ("TORCH", "torch", "_torch_native"),
    ("ONNX", "onnxruntime", "_onnx_native"),
    ("TF, TFLITE", "tensorflow", "_tf_native"),
)


def module_path():
    """The Redis module file of this installation."""
    if _INSTALLED:
        return os.path.join(_HERE, "cyrai.so")
    return os.path.join(_TOP, "build", "cyrai.so")


def _native_loader():
    """backends/_native.py, read as a file: it imports nothing of its package."""
    path = os.path.join(_TOP, "backends", "_native.py")
    spec = importlib.util.spec_from_file_location("_cyrai_native", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _version(package):
    """The version of the distribution that installs an import package, or None."""
    if importlib.util.find_spec(package) is None:
        return None
    dists = importlib.metadata.packages_distributions().get(package, [package])
    try:
        return importlib.metadata.version(dists[0])
    except importlib.metadata.PackageNotFoundError:
        return "unknown version"


def frameworks():
    """One line per backend family: the framework version it will use and how it runs."""
    native = _native_loader()
    lines = []
    for backends, package, runner in FRAMEWORKS:
        version = _version(package)
        if version is None:
            lines.append(f"{backends}: {package} is not installed: storing such a model is refused")
            continue
        _, why_not = native.find(runner)
        how = "native runner" if why_not is None else f"runs through Python ({why_not})"
        lines.append(f"{backends}: {package} {version}, {how}")
    return lines


def describe():
    """What `python -m cyrai` prints."""
    module = module_path()
    state = "" if os.path.exists(module) else "  (missing: build it with `make build`)"
    return "\n".join(
        [
            f"module: {module}{state}",
            f"python: {sys.version.split()[0]} in {sys.prefix}",
            f"numpy: {_version('numpy') or 'not installed (required)'}",
            *frameworks(),
            f"load it with: redis-server --loadmodule {module}",
        ]
    )
