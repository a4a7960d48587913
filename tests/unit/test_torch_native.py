"""The TORCH native runner (backends/_torch_native.cpp) called as a worker calls it: through
the capsule's C function pointers, from ctypes, which releases the GIL around the call.
Its outputs and error texts are those of the Python path (backends/torch.py)."""

import ctypes
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from backends import BackendError, _native  # noqa: E402
from backends import torch as torch_backend  # noqa: E402
from backends import torch_script as ts  # noqa: E402

pytestmark = [
    pytest.mark.skipif(_native.load("_torch_native") is None, reason="not built"),
    pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning"),
]


from dlpack_ctypes import RUN, DLDataType, DLDevice, DLManagedTensor, DLTensor  # noqa: E402

CALL = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.POINTER(ctypes.POINTER(DLTensor)),
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_char_p),
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_char_p),
    ctypes.c_int,
    ctypes.POINTER(ctypes.POINTER(DLManagedTensor)),
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_size_t,
)


class Runner(ctypes.Structure):
    _fields_ = [("abi", ctypes.c_int), ("ctx", ctypes.c_void_p), ("run", RUN)]


class Script(ctypes.Structure):
    _fields_ = [
        ("abi", ctypes.c_int),
        ("ctx", ctypes.c_void_p),
        ("has", ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p)),
        ("call", CALL),
    ]


def _pointer(capsule, name, struct):
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    return ctypes.cast(get(capsule, name), ctypes.POINTER(struct)).contents


def _dl(arrays):
    """DLTensors over numpy arrays (kept alive by the caller), as the core passes inputs."""
    codes = {"f": 2, "i": 0, "u": 1, "b": 6}
    tensors = []
    for a in arrays:
        shape = (ctypes.c_int64 * max(a.ndim, 1))(*a.shape)
        t = DLTensor(a.ctypes.data, DLDevice(1, 0), a.ndim)
        t.dtype = DLDataType(codes[a.dtype.kind], a.itemsize * 8, 1)
        t.shape, t._keep = shape, shape
        tensors.append(t)
    return (ctypes.POINTER(DLTensor) * max(len(arrays), 1))(*[ctypes.pointer(t) for t in tensors])


def _take(outputs, n):
    """numpy copies of the outputs, each released with its deleter."""
    result = []
    for i in range(n):
        m = outputs[i].contents
        t = m.dl_tensor
        shape = tuple(t.shape[k] for k in range(t.ndim))
        dtype = {(2, 32): np.float32, (0, 64): np.int64, (6, 8): np.bool_}[
            (t.dtype.code, t.dtype.bits)
        ]
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        buf = ctypes.string_at(t.data + t.byte_offset, size)
        result.append(np.frombuffer(buf, dtype).reshape(shape).copy())
        m.deleter(outputs[i])
    return result


def model_of(module):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buf)
    return torch_backend.load_model(buf.getvalue(), device="CPU")


def run_native(model, arrays, noutputs):
    runner = _pointer(model.native_runner, b"cyrai.native_runner", Runner)
    assert runner.abi == 1
    outputs = (ctypes.POINTER(DLManagedTensor) * max(noutputs, 1))()
    err = ctypes.create_string_buffer(4096)
    ins = _dl(arrays)
    rc = runner.run(runner.ctx, ins, len(arrays), outputs, noutputs, err, len(err))
    return (_take(outputs, noutputs), None) if rc == 0 else (None, err.value.decode())


class AddMul(torch.nn.Module):
    def forward(self, a, b) -> tuple[torch.Tensor, torch.Tensor]:
        return a + b, (a * b).t()


def test_model_outputs_match_the_python_path():
    model = model_of(AddMul())
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.full((2, 3), 2, np.float32)
    native, err = run_native(model, [a, b], 2)
    assert err is None
    python = [t.numpy() for t in model.run([a, b])]
    for x, y in zip(native, python):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("ninputs", [1, 2, 3])
def test_model_error_text_is_the_python_paths(ninputs):
    """A failing op, too few or too many inputs (torch's own check of forward's schema,
    which the runner skips for a call that fits it)."""
    model = model_of(AddMul())
    arrays = [np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float32), np.zeros(1)]
    native, err = run_native(model, arrays[:ninputs], 2)
    with pytest.raises(BackendError) as python:
        model.run(arrays[:ninputs])
    assert native is None and err == str(python.value)


def test_models_with_non_tensor_parameters_have_no_runner():
    class Scale(torch.nn.Module):
        def forward(self, x, k: int):
            return x * k

    assert model_of(Scale()).native_runner is None


SOURCE = """
def entry(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * float(args[0]) + len(keys)

def legacy(a, rest: List[Tensor]):
    return a + rest[0]

def calls(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], args[0])
    return tensors[0]
"""


def test_script_calls_and_which_functions_are_native():
    script = ts.compile_script(SOURCE, device="CPU", entry_points=["entry", "calls"])
    s = _pointer(script.native_script, b"cyrai.native_script", Script)
    assert [s.has(s.ctx, fn) for fn in (b"entry", b"legacy", b"calls", b"nope")] == [1, 1, 1, 0]
    a = np.arange(4, dtype=np.float32)
    outputs = (ctypes.POINTER(DLManagedTensor) * 1)()
    err = ctypes.create_string_buffer(4096)
    keys = (ctypes.c_char_p * 2)(b"k1", b"k2")
    args = (ctypes.c_char_p * 1)(b"2.5")
    rc = s.call(s.ctx, b"entry", _dl([a]), 1, keys, 2, args, 1, outputs, 1, err, len(err))
    assert rc == 0
    np.testing.assert_array_equal(_take(outputs, 1)[0], a * 2.5 + 2)
    rc = s.call(s.ctx, b"legacy", _dl([a, a]), 2, keys, 0, args, 0, outputs, 1, err, len(err))
    assert rc == 0
    np.testing.assert_array_equal(_take(outputs, 1)[0], a + a)
    # Inputs that do not fit: declined, the Python path gives the error.
    rc = s.call(s.ctx, b"legacy", _dl([a]), 1, keys, 0, args, 0, outputs, 1, err, len(err))
    assert rc == 1
    rc = s.call(s.ctx, b"nope", _dl([a]), 1, keys, 1, args, 1, outputs, 1, err, len(err))
    assert rc == 1
    # redis.execute runs as a Python kernel, taking the GIL itself; without Redis it fails,
    # and the op's own text is kept for the reply.
    rc = s.call(s.ctx, b"calls", _dl([a]), 1, keys, 1, args, 1, outputs, 1, err, len(err))
    assert rc == -1 and "no Redis context" in err.value.decode()
    assert ts.take_op_failure() == "Redis command returned an error: no Redis context"
    assert ts.take_op_failure() is None
