"""Backend registry: maps RedisAI backend ids to the Python modules that run them.

Each backend (torch.py, onnx.py, tf.py, tflite.py) is a plain module with the same small
surface -- load_model(blob, *, device, ...) -> Model with input_names, output_names and
run(inputs) -> outputs, plus version() -- and knows nothing about Redis. A framework costs
up to seconds to import, so a backend module is imported the first time get() asks for it
(design rules 5 and 8): importing this package pulls in no framework. Backends raise only
BackendError; its text is the one-line error reply the client gets. Where the spec fixes
that reply and the server has the text (src/messages.h), a backend raises a kind of
BackendError instead and the bridge replies with the server's text.
"""

import importlib

__all__ = [
    "BackendError",
    "InvalidDevice",
    "get",
    "loaded",
    "one_line",
    "parse_device",
    "version",
]

# RedisAI backend id -> module name inside this package.
_MODULES = {"TF": "tf", "TFLITE": "tflite", "TORCH": "torch", "ONNX": "onnx"}
_loaded = {}


class BackendError(Exception):
    """The one exception backends raise; str(err) is the client's error reply."""


class InvalidDevice(BackendError):
    """A device string that names no device. Inside the server the bridge replies with the
    spec's text from src/messages.h (AI_MSG_INVALID_DEVICE); this one is for callers
    without the server, such as the unit tests."""

    def __init__(self):
        super().__init__("ERR Invalid DEVICE")


def one_line(text):
    """Framework messages span lines; a Redis error reply may not. The server flattens
    what it replies itself; backends flatten too, so that str(BackendError) is the reply
    wherever it is read (inside a script's error, in tests without the server)."""
    return str(text).replace("\r", " ").replace("\n", " ")


def parse_device(device):
    """'CPU', 'gpu:1', 'GPU:' -> ('CPU', 0), ('GPU', 1), ('GPU', 0)."""
    kind, _, index = device.upper().partition(":")
    if kind not in ("CPU", "GPU") or not (index.isdigit() or index == ""):
        raise InvalidDevice()
    return kind, int(index or 0)


def get(name):
    """The backend module for a (case-insensitive) id, imported on first use."""
    key = name.upper()
    module = _loaded.get(key)
    if module is not None:
        return module
    if key not in _MODULES:
        raise BackendError("ERR Could not load backend")
    try:
        module = importlib.import_module("." + _MODULES[key], __name__)
    except Exception as e:  # a missing or broken framework disables only this backend
        raise BackendError("ERR Could not load backend") from e
    _loaded[key] = module
    return module


def loaded():
    """Ids of the backends imported so far, in load order."""
    return list(_loaded)


def version(name):
    """The framework version of a backend (loading it if needed)."""
    return get(name).version()
