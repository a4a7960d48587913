"""The native runners of the TF and ONNX backends (backends/_tf_native.c,
backends/_onnx_native.c; contract in src/native_runner.h), called as the core's workers call
them: models are loaded through the backends, the runner is taken from the capsule the model
carries, and its C function is called with DLTensors and no GIL (through ctypes, and from C
threads by tests/unit/c/native_harness.c). Every run is compared with the same model's
Python run: outputs (values, dtypes, shapes) and error texts are the same.

Per-call times of both paths on the bench models (opt/bench_zoo.py) are printed.
"""

import ctypes
import functools
import io
import os
import resource
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import backends  # noqa: E402
from backends import BackendError  # noqa: E402

# ------------------------------------------------------------- DLPack through ctypes


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int), ("device_id", ctypes.c_int)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLManagedTensor(ctypes.Structure):
    pass


DLManagedTensor._fields_ = [
    ("dl_tensor", DLTensor),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))),
]
RUN = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.POINTER(DLTensor)),
    ctypes.c_int,
    ctypes.POINTER(ctypes.POINTER(DLManagedTensor)),
    ctypes.c_int,
    ctypes.c_char_p,
    ctypes.c_size_t,
)


class AINativeRunner(ctypes.Structure):
    _fields_ = [("abi", ctypes.c_int), ("ctx", ctypes.c_void_p), ("run", RUN)]


# numpy dtype <-> DLPack (code, bits); 6 is kDLBool
DTYPES = {
    np.dtype(t): code_bits
    for t, code_bits in [
        (np.float16, (2, 16)),
        (np.float32, (2, 32)),
        (np.float64, (2, 64)),
        (np.int8, (0, 8)),
        (np.int16, (0, 16)),
        (np.int32, (0, 32)),
        (np.int64, (0, 64)),
        (np.uint8, (1, 8)),
        (np.uint16, (1, 16)),
        (np.uint32, (1, 32)),
        (np.uint64, (1, 64)),
        (np.bool_, (6, 8)),
    ]
}
NUMPY = {v: k for k, v in DTYPES.items()}
_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]
_capsule_pointer.restype = ctypes.c_void_p


class NativeError(Exception):
    pass


class Inputs:
    """DLTensors over numpy arrays (kept alive with them)."""

    def __init__(self, arrays):
        self.arrays = [np.require(a, requirements="C") for a in arrays]
        self.shapes = [(ctypes.c_int64 * max(a.ndim, 1))(*a.shape) for a in self.arrays]
        self.tensors = [
            DLTensor(
                data=a.ctypes.data,
                device=DLDevice(1, 0),
                ndim=a.ndim,
                dtype=DLDataType(*DTYPES[a.dtype], 1),
                shape=shape,
            )
            for a, shape in zip(self.arrays, self.shapes)
        ]
        self.pointers = (ctypes.POINTER(DLTensor) * max(len(arrays), 1))(
            *[ctypes.pointer(t) for t in self.tensors]
        )


def to_numpy(managed):
    t = managed.contents.dl_tensor
    dtype = NUMPY[(t.dtype.code, t.dtype.bits)]
    shape = tuple(t.shape[i] for i in range(t.ndim))
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    data = ctypes.string_at(t.data, nbytes) if nbytes else b""
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


class Native:
    """The runner in a model's capsule, called from Python (the GIL released by ctypes)."""

    def __init__(self, model):
        capsule = model.native_runner
        assert capsule is not None
        self.capsule = capsule  # keeps the runner alive
        self.runner = AINativeRunner.from_address(_capsule_pointer(capsule, b"cyrai.native_runner"))
        assert self.runner.abi == 1
        self.noutputs = len(model.output_names)
        self.deleted = 0

    def run(self, arrays, noutputs=None):
        noutputs = self.noutputs if noutputs is None else noutputs
        inputs = Inputs(arrays)
        outputs = (ctypes.POINTER(DLManagedTensor) * max(noutputs, 1))()
        err = ctypes.create_string_buffer(512)
        rc = self.runner.run(
            self.runner.ctx, inputs.pointers, len(arrays), outputs, noutputs, err, len(err)
        )
        if rc != 0:
            assert rc == -1 and not any(outputs)
            raise NativeError(err.value.decode())
        result = [to_numpy(outputs[i]) for i in range(noutputs)]
        for i in range(noutputs):
            outputs[i].contents.deleter(outputs[i])
            self.deleted += 1
        return result


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    lib = tmp_path_factory.mktemp("harness") / "native_harness.so"
    subprocess.run(
        ["gcc", "-std=gnu11", "-O2", "-shared", "-fPIC", "-pthread", "-I", f"{ROOT}/src"]
        + [f"{ROOT}/tests/unit/c/native_harness.c", "-o", str(lib)],
        check=True,
    )
    h = ctypes.CDLL(str(lib))
    h.harness_time.restype = ctypes.c_double
    h.harness_time.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 3
    h.harness_threads.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 4
    h.harness_threads.argtypes += [ctypes.POINTER(ctypes.c_double)]
    return h


def native_time(harness, native, arrays, iters):
    """Seconds per native run, timed in C."""
    inputs = Inputs(arrays)
    ns = harness.harness_time(
        ctypes.addressof(native.runner), inputs.pointers, len(arrays), native.noutputs, iters
    )
    assert ns > 0
    return ns / 1e9


def python_time(model, arrays, iters):
    model.run(arrays)
    t0 = time.perf_counter()
    for _ in range(iters):
        model.run(arrays)
    return (time.perf_counter() - t0) / iters


def run_threads(harness, native, arrays, nthreads, iters):
    inputs = Inputs(arrays)
    firsts = (ctypes.c_double * nthreads)()
    failures = harness.harness_threads(
        ctypes.addressof(native.runner),
        inputs.pointers,
        len(arrays),
        native.noutputs,
        nthreads,
        iters,
        firsts,
    )
    return failures, list(firsts)


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def assert_same(native_outputs, python_outputs):
    assert len(native_outputs) == len(python_outputs)
    for n, p in zip(native_outputs, map(np.asarray, python_outputs)):
        assert n.dtype == p.dtype and n.shape == p.shape
        np.testing.assert_array_equal(n, p)


def same_error(model, arrays, noutputs=None):
    """The error text of both paths, asserted equal and on one line."""
    with pytest.raises(BackendError) as python:
        model.run(arrays)
    with pytest.raises(NativeError) as native:
        Native(model).run(arrays, noutputs)
    assert str(native.value) == str(python.value)
    assert "\n" not in str(native.value)
    return str(native.value)


def print_times(capsys, name, native, python):
    with capsys.disabled():
        print(
            f"\n{name}: native {native * 1e6:.1f} us/call, Python path {python * 1e6:.1f} us/call"
            f" ({python / native:.1f}x)"
        )


RNG = np.random.default_rng(5)


def rand(shape, dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return RNG.integers(0, 2, shape).astype(bool)
    if dtype.kind in "iu":
        return RNG.integers(0, 100, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


# ========================================================================== TF


@functools.cache
def tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        return backends.get("TF"), pytest.importorskip("tensorflow")
    except BackendError:
        pytest.skip("no TensorFlow")


def frozen(build):
    _, tf_ = tf()
    graph = tf_.Graph()
    with graph.as_default():
        build(tf_, tf_.compat.v1.placeholder)
    return graph.as_graph_def().SerializeToString()


def load_tf(blob, inputs, outputs):
    backend, _ = tf()
    return backend.load_model(blob, device="CPU", inputs=inputs, outputs=outputs)


def binary(op, dtype):
    def build(tf_, placeholder):
        op(tf_, placeholder(dtype, name="a"), placeholder(dtype, name="b"))

    return build


TF_CASES = [  # (dtype, op) on inputs a, b of shape (2, 3) -> c
    ("float32", lambda tf_, a, b: tf_.multiply(a, b, name="c")),
    ("float64", lambda tf_, a, b: tf_.add(a, b, name="c")),
    ("float16", lambda tf_, a, b: tf_.multiply(a, b, name="c")),
    ("int32", lambda tf_, a, b: tf_.multiply(a, b, name="c")),
    ("int64", lambda tf_, a, b: tf_.subtract(a, b, name="c")),
    ("uint8", lambda tf_, a, b: tf_.add(a, b, name="c")),
    ("int8", lambda tf_, a, b: tf_.maximum(a, b, name="c")),
    ("bool", lambda tf_, a, b: tf_.logical_and(a, b, name="c")),
]


@pytest.mark.parametrize("dtype,op", TF_CASES, ids=[c[0] for c in TF_CASES])
def test_tf_native_matches_python(dtype, op):
    _, tf_ = tf()
    model = load_tf(frozen(binary(op, getattr(tf_, dtype))), ["a", "b"], ["c"])
    for shape in [(2, 3), (1,), (4, 1, 5), ()]:
        arrays = [rand(shape, dtype), rand(shape, dtype)]
        assert_same(Native(model).run(arrays), model.run(arrays))


def test_tf_native_several_outputs_and_dtypes():
    def build(tf_, placeholder):
        x = placeholder(tf_.float32, name="x")
        n = placeholder(tf_.int64, name="n")
        tf_.reduce_sum(x, axis=-1, name="total")
        tf_.cast(x, tf_.int32, name="ints")
        tf_.identity(n * 2, name="twice")
        tf_.shape(x, name="shape", out_type=tf_.int64)

    model = load_tf(frozen(build), ["n", "x"], ["twice", "total", "ints", "shape"])
    native = Native(model)
    for shape in [(3, 4), (0, 2), (1, 1, 7)]:
        arrays = [rand((5,), np.int64), rand(shape, np.float32) * 10]
        assert_same(native.run(arrays), model.run(arrays))
    assert native.deleted == 12


def test_tf_native_saved_model(tmp_path):
    _, tf_ = tf()

    class Scaled(tf_.Module):
        def __init__(self):
            super().__init__()
            self.w = tf_.Variable(3.0)

        @tf_.function(
            input_signature=[
                tf_.TensorSpec([None], tf_.float32, name="a"),
                tf_.TensorSpec([None], tf_.float32, name="b"),
            ]
        )
        def __call__(self, a, b):
            return {"sum": a + b, "prod": a * b * self.w}

    module = Scaled()
    tf_.saved_model.save(module, str(tmp_path / "m"), signatures=module.__call__)
    blob = pathlib_zip(tmp_path / "m")
    model = load_tf(blob, ["b", "a"], ["prod", "sum"])
    arrays = [rand((6,), np.float32), rand((6,), np.float32)]
    assert_same(Native(model).run(arrays), model.run(arrays))


def pathlib_zip(folder):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for root, _, files in os.walk(folder):
            for f in files:
                path = os.path.join(root, f)
                z.write(path, os.path.relpath(path, folder))
    return buf.getvalue()


def test_tf_native_errors_are_the_python_path_errors():
    _, tf_ = tf()
    model = load_tf(frozen(binary(TF_CASES[0][1], tf_.float32)), ["a", "b"], ["c"])
    f = np.ones((2,), np.float32)
    text = same_error(model, [f, np.ones((2, 2, 3), np.float32)])
    assert text.startswith("Incompatible shapes: [2] vs. [2,2,3]")
    assert same_error(model, [f]) == "Expected 2 inputs but got 1"
    # A feed of another dtype: TF_SessionRun's text (RedisAI's, which runs that function);
    # the Python path's callable names an internal node instead.
    wrong = [f, np.ones((2,), np.int32)]
    with pytest.raises(NativeError, match=r"^Expects arg\[1\] to be float but int32 is provided$"):
        Native(model).run(wrong)
    with pytest.raises(BackendError, match=r"^Type mismatch: actual int32 vs\. expect float"):
        model.run(wrong)
    with pytest.raises(NativeError, match="Expected 1 outputs but got 2"):
        Native(model).run([f, f], noutputs=2)


def test_tf_string_models_stay_on_python():
    def build(tf_, placeholder):
        tf_.identity(placeholder(tf_.string, name="s"), name="out")

    assert load_tf(frozen(build), ["s"], ["out"]).native_runner is None


def test_tf_native_concurrent_and_no_leak(harness):
    _, tf_ = tf()
    model = load_tf(frozen(binary(TF_CASES[0][1], tf_.float32)), ["a", "b"], ["c"])
    native = Native(model)
    a, b = np.full((1, 4096), 2, np.float32), np.full((1, 4096), 3, np.float32)
    failures, firsts = run_threads(harness, native, [a, b], 4, 300)
    assert failures == 0 and firsts == [6.0] * 4
    native_time(harness, native, [a, b], 2000)
    before = rss_mb()
    native_time(harness, native, [a, b], 20000)  # 16 KB out each: 320 MB if never freed
    assert rss_mb() - before < 40


def test_tf_bench_model_times(harness, capsys):
    tf()
    from opt import bench_zoo

    case = bench_zoo.TF_MUL
    n = len(case.names) and case.names.index("OUTPUTS")
    model = load_tf(case.blob, list(case.names[2:n]), list(case.names[n + 2 :]))
    native = Native(model)
    assert_same(native.run(list(case.inputs)), model.run(list(case.inputs)))
    t_native = native_time(harness, native, list(case.inputs), 5000)
    t_python = python_time(model, list(case.inputs), 5000)
    print_times(capsys, "TF mul 1x4", t_native, t_python)
