"""The TORCH and ONNX backends without Redis: models are built here, loaded from bytes the
way AI.MODELSTORE hands them over, and their runs compared with the framework's own.

Tests that change process-wide framework state (torch's thread pools) or check what gets
imported run in a subprocess.
"""

import io
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import backends
from backends import BackendError
from tests.flow.error_texts import EXTERNAL, ONNX_GPU, TORCH_GPU

torch = pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")
TensorProto, helper, numpy_helper = onnx.TensorProto, onnx.helper, onnx.numpy_helper

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# torch.jit.* is deprecated in favour of torch.export; TorchScript is what RedisAI stores.
pytestmark = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning",
    "ignore:The given NumPy array is not writable:UserWarning",
)

TORCH = backends.get("torch")
ONNX = backends.get("onnx")
RNG = np.random.default_rng(7)


def run_python(code):
    """Run code in a fresh interpreter at the repository root; fail with its stderr."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def readonly(a):
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def assert_one_line(err):
    text = str(err.value)
    assert text and "\n" not in text and "\r" not in text
    return text


# ------------------------------------------------------------------------ registry


def test_import_is_lazy_and_missing_framework_is_an_error():
    out = run_python(
        """
        import sys
        import backends
        assert "torch" not in sys.modules and "onnxruntime" not in sys.modules
        assert backends.loaded() == []
        backends.get("onnx")
        assert "onnxruntime" in sys.modules and "torch" not in sys.modules
        sys.modules["torch"] = None  # as if torch were not installed
        try:
            backends.get("TORCH")
        except backends.BackendError as e:
            print(e)
        print(backends.loaded())
        """
    )
    assert out.splitlines() == ["ERR Could not load backend", "['ONNX']"]


def test_registry():
    assert backends.get("Torch") is TORCH is backends.get("TORCH")
    assert backends.get("onnx") is ONNX
    assert {"TORCH", "ONNX"} <= set(backends.loaded())
    assert backends.version("torch") == torch.__version__.split("+")[0]
    assert backends.version("ONNX") == ort.__version__
    with pytest.raises(BackendError, match="^ERR Could not load backend$"):
        backends.get("CAFFE")


@pytest.mark.parametrize(
    "device, parsed",
    [("CPU", ("CPU", 0)), ("cpu:3", ("CPU", 3)), ("GPU", ("GPU", 0)), ("gpu:", ("GPU", 0))],
)
def test_parse_device(device, parsed):
    assert backends.parse_device(device) == parsed


@pytest.mark.parametrize("device", ["TPU", "CPU::", "CPU:1.8"])
def test_parse_device_rejects(device):
    with pytest.raises(BackendError, match="^ERR Invalid DEVICE$"):
        backends.parse_device(device)


# --------------------------------------------------------------------------- TORCH


class Add(torch.nn.Module):
    def forward(self, a, b):
        return a + b


class Pair(torch.nn.Module):
    def forward(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        return x * 2, x + 1


class ArgMax(torch.nn.Module):
    def forward(self, x):
        return torch.argmax(x, dim=1)


class Same(torch.nn.Module):
    def forward(self, x):
        return x


def torch_blob(scripted):
    buf = io.BytesIO()
    torch.jit.save(scripted, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def mlp():
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(256, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
    ).eval()
    traced = torch.jit.trace(net, torch.zeros(1, 256))
    return net, TORCH.load_model(
        torch_blob(traced), device="CPU", inputs=None, outputs=None, intra_op=0, inter_op=0
    )


def load_torch(module, device="CPU"):
    return TORCH.load_model(
        torch_blob(torch.jit.script(module)),
        device=device,
        inputs=None,
        outputs=None,
        intra_op=0,
        inter_op=0,
    )


def test_torch_add():
    model = load_torch(Add())
    assert model.input_names == ["a", "b"] and model.output_names == [""]
    a, b = RNG.random((2, 3), np.float32), RNG.random((2, 3), np.float32)
    (out,) = model.run([readonly(a), readonly(b)])
    np.testing.assert_array_equal(out.numpy(), a + b)


def test_torch_mlp_matches_framework(mlp):
    net, model = mlp
    assert len(model.input_names) == 1 and model.output_names == [""]
    x = RNG.standard_normal((4, 256), np.float32)
    (out,) = model.run([readonly(x)])
    with torch.no_grad():
        want = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out.numpy(), want, rtol=1e-5, atol=1e-6)


def test_torch_tuple_counts_each_tensor():
    model = load_torch(Pair())
    assert model.input_names == ["x"] and model.output_names == ["", ""]
    x = RNG.random((3,), np.float32)
    doubled, plus_one = model.run([readonly(x)])
    np.testing.assert_array_equal(doubled.numpy(), x * 2)
    np.testing.assert_array_equal(plus_one.numpy(), x + 1)


def test_torch_int64_output():
    (out,) = load_torch(ArgMax()).run([readonly(np.array([[1, 5, 2], [7, 0, 1]], np.float32))])
    assert out.dtype == torch.int64
    np.testing.assert_array_equal(out.numpy(), [1, 0])


def test_torch_inputs_are_not_copied():
    a = readonly(RNG.random((4, 4), np.float32))
    assert TORCH._as_tensor(a).data_ptr() == a.ctypes.data  # DLPack, read-only included
    view = memoryview(a)  # buffer protocol only
    assert TORCH._as_tensor(view).data_ptr() == a.ctypes.data
    (out,) = load_torch(Same()).run([a])
    assert np.shares_memory(out.numpy(), a)


def test_torch_runs_without_grad(mlp):
    (out,) = mlp[1].run([np.zeros((1, 256), np.float32)])
    assert not out.requires_grad and out.is_inference()


def test_torch_bad_blob():
    for blob in (b"", b"not a torchscript archive", b"PK\x03\x04garbage"):
        with pytest.raises(BackendError) as err:
            TORCH.load_model(blob, device="CPU", inputs=None, outputs=None, intra_op=0, inter_op=0)
        assert_one_line(err)


def test_torch_wrong_shape_and_count(mlp):
    with pytest.raises(BackendError) as err:
        mlp[1].run([np.zeros((1, 128), np.float32)])
    assert "128" in assert_one_line(err)
    with pytest.raises(BackendError) as err:
        load_torch(Add()).run([np.zeros(2, np.float32)])
    assert_one_line(err)


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
@pytest.mark.parametrize("device", ["GPU", "gpu:1"])
def test_torch_gpu_without_cuda(device):
    with pytest.raises(BackendError) as err:
        load_torch(Add(), device=device)
    assert str(err.value) == TORCH_GPU


def test_torch_thread_settings():
    out = run_python(
        """
        import io, torch, backends
        buf = io.BytesIO()
        torch.jit.save(torch.jit.script(torch.nn.ReLU()), buf)
        load = lambda **kw: backends.get("TORCH").load_model(
            buf.getvalue(), device="CPU", inputs=None, outputs=None, **kw)
        load(intra_op=1, inter_op=3)
        print(torch.get_num_threads(), torch.get_num_interop_threads())
        load(intra_op=1, inter_op=3)  # same values: nothing to change
        try:
            load(intra_op=1, inter_op=2)
        except backends.BackendError as e:
            print(e)
        """
    )
    assert out.splitlines() == [
        "1 3",
        "Cannot set number of inter-op threads after parallel work has started",
    ]


# ---------------------------------------------------------------------------- ONNX


def onnx_blob(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def value(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


ADD = onnx_blob(
    [helper.make_node("Add", ["a", "b"], ["c"])],
    [value("a", TensorProto.FLOAT, [2]), value("b", TensorProto.FLOAT, [2])],
    [value("c", TensorProto.FLOAT, [2])],
)


def load_onnx(blob, device="CPU", **kw):
    kw.setdefault("intra_op", 0)
    kw.setdefault("inter_op", 0)
    return ONNX.load_model(blob, device=device, inputs=None, outputs=None, **kw)


def slow_chain(n=512, depth=120):
    """`depth` MatMuls of an n x n input by the identity: slow enough to be interrupted."""
    nodes = [
        helper.make_node("MatMul", ["x" if i == 0 else f"y{i - 1}", "w"], [f"y{i}"])
        for i in range(depth)
    ]
    return onnx_blob(
        nodes,
        [value("x", TensorProto.FLOAT, [n, n])],
        [value(f"y{depth - 1}", TensorProto.FLOAT, [n, n])],
        [numpy_helper.from_array(np.eye(n, dtype=np.float32), "w")],
    )


def test_onnx_add():
    model = load_onnx(ADD)
    assert model.input_names == ["a", "b"] and model.output_names == ["c"]
    a, b = np.array([1, 2], np.float32), np.array([3, 5], np.float32)
    (out,) = model.run([readonly(a), readonly(b)])
    np.testing.assert_array_equal(out, [4, 7])


def test_onnx_mlp_matches_framework():
    w1, b1 = RNG.standard_normal((256, 256), np.float32), RNG.standard_normal(256, np.float32)
    w2, b2 = RNG.standard_normal((256, 10), np.float32), RNG.standard_normal(10, np.float32)
    blob = onnx_blob(
        [
            helper.make_node("MatMul", ["x", "w1"], ["h"]),
            helper.make_node("Add", ["h", "b1"], ["hb"]),
            helper.make_node("Relu", ["hb"], ["r"]),
            helper.make_node("MatMul", ["r", "w2"], ["o"]),
            helper.make_node("Add", ["o", "b2"], ["y"]),
        ],
        [value("x", TensorProto.FLOAT, ["N", 256])],
        [value("y", TensorProto.FLOAT, ["N", 10])],
        [
            numpy_helper.from_array(v, k)
            for k, v in {"w1": w1, "b1": b1, "w2": w2, "b2": b2}.items()
        ],
    )
    model = load_onnx(blob, intra_op=1, inter_op=1)
    assert model.input_names == ["x"] and model.output_names == ["y"]
    x = RNG.standard_normal((3, 256), np.float32)
    (out,) = model.run([readonly(x)])
    want = ort.InferenceSession(blob, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(out, want, rtol=1e-6)
    np.testing.assert_allclose(out, np.maximum(x @ w1 + b1, 0) @ w2 + b2, rtol=1e-3, atol=1e-3)


def test_onnx_strings_are_bytes():
    model = load_onnx(
        onnx_blob(
            [helper.make_node("Identity", ["s"], ["o"])],
            [value("s", TensorProto.STRING, [None])],
            [value("o", TensorProto.STRING, [None])],
        )
    )
    words = np.array([b"ab", "\u00e9t\u00e9".encode(), b""], dtype=object)
    (out,) = model.run([words])
    assert out.dtype == object and list(out) == list(words)


class DLPackOnly:
    """An input that offers DLPack and nothing else, like a C tensor view might."""

    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kw):
        return self._array.__dlpack__(**kw)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


def test_onnx_accepts_dlpack_and_buffer_inputs():
    a, b = readonly(np.array([1, 2], np.float32)), np.array([10, 20], np.float32)
    (out,) = load_onnx(ADD).run([DLPackOnly(a), memoryview(b)])
    np.testing.assert_array_equal(out, [11, 22])
    assert np.shares_memory(ONNX._as_array(DLPackOnly(a)), a)


def test_onnx_bad_blob():
    with pytest.raises(BackendError) as err:
        load_onnx(b"")
    assert str(err.value) == "No graph was found in the protobuf."
    with pytest.raises(BackendError) as err:
        load_onnx(b"\x00garbage bytes \xff\xfe")
    assert not assert_one_line(err).startswith("[ONNXRuntimeError]")


def test_onnx_wrong_shape_dtype_count():
    model = load_onnx(ADD)
    with pytest.raises(BackendError) as err:
        model.run([np.zeros(3, np.float32), np.zeros(2, np.float32)])
    text = assert_one_line(err)
    assert text.startswith("Got invalid dimensions for input: a for the following indices")
    assert "index: 0 Got: 3 Expected: 2" in text
    with pytest.raises(BackendError) as err:
        model.run([np.zeros(2, np.float64), np.zeros(2, np.float32)])
    assert assert_one_line(err).startswith("Unexpected input data type.")
    with pytest.raises(BackendError, match="^Expected 2 inputs but got 1$"):
        model.run([np.zeros(2, np.float32)])


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CUDA here")
def test_onnx_gpu_without_cuda():
    with pytest.raises(BackendError) as err:
        load_onnx(ADD, device="GPU:0")
    assert str(err.value) == "ERR " + ONNX_GPU


def test_onnx_refuses_external_data(tmp_path, monkeypatch):
    weights = numpy_helper.from_array(np.ones(4, np.float32), "w")
    onnx.external_data_helper.set_external_data(weights, location="w.bin")
    weights.ClearField("raw_data")
    weights.data_location = TensorProto.EXTERNAL
    np.ones(4, np.float32).tofile(tmp_path / "w.bin")  # would be found from this directory
    monkeypatch.chdir(tmp_path)
    blob = onnx_blob(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        [value("x", TensorProto.FLOAT, [4])],
        [value("y", TensorProto.FLOAT, [4])],
        [weights],
    )
    with pytest.raises(BackendError) as err:
        load_onnx(blob)
    assert str(err.value) == EXTERNAL


def test_onnx_execution_timeout():
    slow = load_onnx(slow_chain(), execution_timeout_ms=50)
    started = time.monotonic()
    with pytest.raises(BackendError) as err:
        slow.run([np.eye(512, dtype=np.float32)])
    assert str(err.value) == "Exiting due to terminate flag being set to true."
    assert time.monotonic() - started < 5
    # Later runs, of this model or another, are not affected.
    (out,) = load_onnx(ADD, execution_timeout_ms=50).run([np.ones(2, np.float32)] * 2)
    np.testing.assert_array_equal(out, [2, 2])
    assert ONNX._watchdog._runs == {}


def matmul_blob(n, batch):
    """y = x @ ones(n, n): n * n * 4 bytes of weights, batch * n * 4 bytes of output."""
    return onnx_blob(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [value("x", TensorProto.FLOAT, [batch, n])],
        [value("y", TensorProto.FLOAT, [batch, n])],
        [numpy_helper.from_array(np.ones((n, n), np.float32), "w")],
    )


def test_onnx_memory_limit():
    err = "Onnxruntime memory limit exceeded, memory allocation failed."

    def load(blob):
        return load_onnx(blob, memory_limit_mb=1)

    with pytest.raises(BackendError) as e:
        load(matmul_blob(600, 1))  # 1.44 MB of weights
    assert str(e.value) == "Exception during initialization: " + err
    small, wide = load(matmul_blob(100, 1)), load(matmul_blob(100, 4000))  # 40 kB each
    (out,) = small.run([np.ones((1, 100), np.float32)])
    np.testing.assert_array_equal(out, np.full((1, 100), 100, np.float32))
    with pytest.raises(BackendError, match=f"^{err}$"):
        wide.run([np.ones((4000, 100), np.float32)])  # 1.6 MB of output
    models = []
    with pytest.raises(BackendError) as e:
        while True:
            models.append(load(matmul_blob(200, 1)))  # 160 kB each
    assert str(e.value) == "Exception during initialization: " + err
    assert len(models) == 5  # 80 kB + 5 * 160 kB fits in 1 MB, a sixth does not
    models.clear()  # released models give their share back
    models.append(load(matmul_blob(200, 1)))
    assert load_onnx(matmul_blob(600, 1), memory_limit_mb=2).output_names == ["y"]
    del small, wide, models
    assert ONNX._held == 0
