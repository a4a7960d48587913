"""What the deployment tests share: the checkout's paths, the flow tests' models and server
launcher, and the check that a server runs TorchScript and ONNX models."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The flow tests' helpers (model_zoo, includes) and, through includes, opt/redis_launcher.
sys.path.insert(0, os.path.join(ROOT, "tests", "flow"))

import model_zoo as zoo  # noqa: E402
import numpy as np  # noqa: E402
from includes import MODULE  # noqa: E402, F401
from redis_launcher import RedisServer, ServerError, free_ports, resp_call  # noqa: E402, F401

VENV = os.path.join(ROOT, ".venv")
PYTHON_DIR = f"python{sys.version_info.major}.{sys.version_info.minor}"


def serve_models(con):
    """Stores a TorchScript and an ONNX model on the server and checks what they compute."""
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 10, dtype=np.float32)
    zoo.set_array(con, "a", a)
    zoo.set_array(con, "b", b)
    assert zoo.store(con, "torch_add", "TORCH", zoo.torch_blob("add")) == b"OK"
    assert zoo.store(con, "onnx_add", "ONNX", zoo.onnx_blob("add")) == b"OK"
    assert zoo.execute(con, "torch_add", ["a", "b"], ["t"]) == b"OK"
    assert zoo.execute(con, "onnx_add", ["a", "b"], ["o"]) == b"OK"
    assert np.array_equal(zoo.get_array(con, "t"), a + b)
    assert np.array_equal(zoo.get_array(con, "o"), a + b)


def mapped_files(pid):
    """The files a process has mapped (its shared libraries among them)."""
    with open(f"/proc/{pid}/maps") as f:
        return {line.split(None, 5)[5].strip() for line in f if len(line.split(None, 5)) == 6}
