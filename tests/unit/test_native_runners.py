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
import gc
import io
import os
import resource
import subprocess
import time
import zipfile

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import backends  # noqa: E402
from backends import BackendError  # noqa: E402

# ------------------------------------------------------------- DLPack through ctypes


from dlpack_ctypes import RUN, DLDataType, DLDevice, DLManagedTensor, DLTensor  # noqa: E402


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
try:  # BFLOAT16 as TF gives it to NumPy
    import ml_dtypes

    DTYPES[np.dtype(ml_dtypes.bfloat16)] = (4, 16)
except ImportError:
    pass
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
    return RNG.standard_normal(shape).astype(np.float32).astype(dtype)


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
    ("bfloat16", lambda tf_, a, b: tf_.multiply(a, b, name="c")),
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
    with pytest.raises(NativeError, match="^model returned 1 outputs, expected 2$"):
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


# ======================================================================== ONNX


@functools.cache
def onnx_modules():
    try:
        backend = backends.get("ONNX")
    except BackendError:
        pytest.skip("no ONNX Runtime")
    return backend, pytest.importorskip("onnx")


def onnx_blob(nodes, inputs, outputs, initializers=()):
    _, onnx = onnx_modules()
    h = onnx.helper
    graph = h.make_graph(
        nodes,
        "g",
        [h.make_tensor_value_info(n, t, s) for n, t, s in inputs],
        [h.make_tensor_value_info(n, t, s) for n, t, s in outputs],
        initializer=[onnx.numpy_helper.from_array(v, k) for k, v in initializers],
    )
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def load_onnx(blob, **kw):
    backend, _ = onnx_modules()
    kw.setdefault("intra_op", 0)
    kw.setdefault("inter_op", 0)
    return backend.load_model(blob, device="CPU", **kw)


def elem(dtype):
    _, onnx = onnx_modules()
    return onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def binary_onnx(op, dtype, **attrs):
    _, onnx = onnx_modules()
    t = elem(dtype)
    return onnx_blob(
        [onnx.helper.make_node(op, ["a", "b"], ["c"], **attrs)],
        [("a", t, ["N", "M"]), ("b", t, ["N", "M"])],
        [("c", t, None)],
    )


ONNX_CASES = [
    ("float32", "Add", {}),
    ("float64", "Mul", {}),
    ("int32", "Sub", {}),
    ("int64", "Add", {}),
    ("float16", "Concat", {"axis": 0}),
    ("uint8", "Concat", {"axis": 1}),
    ("int8", "Concat", {"axis": 0}),
    ("int16", "Concat", {"axis": 0}),
    ("uint16", "Concat", {"axis": 0}),
    ("bool", "And", {}),
]


@pytest.mark.parametrize("dtype,op,attrs", ONNX_CASES, ids=[c[0] for c in ONNX_CASES])
def test_onnx_native_matches_python(dtype, op, attrs):
    model = load_onnx(binary_onnx(op, dtype, **attrs))
    assert model.native_runner is not None and model.input_names == ["a", "b"]
    native = Native(model)
    for shape in [(2, 3), (1, 1), (0, 4), (5, 7)]:
        arrays = [rand(shape, dtype), rand(shape, dtype)]
        assert_same(native.run(arrays), model.run(arrays))


def test_onnx_native_bfloat16():
    """ORT's Python binding takes no BFLOAT16 arrays; the runner does."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    model = load_onnx(binary_onnx("Concat", ml_dtypes.bfloat16, axis=1))
    a, b = rand((2, 3), ml_dtypes.bfloat16), rand((2, 1), ml_dtypes.bfloat16)
    (out,) = Native(model).run([a, b])
    assert out.dtype == a.dtype and out.tobytes() == np.concatenate([a, b], axis=1).tobytes()


def test_onnx_native_any_rank():
    _, onnx = onnx_modules()
    f = elem(np.float32)
    blob = onnx_blob(
        [onnx.helper.make_node("Mul", ["a", "b"], ["c"])],
        [("a", f, None), ("b", f, None)],
        [("c", f, None)],
    )
    model = load_onnx(blob)
    for shape in [(), (3,), (2, 1, 2, 1, 2)]:
        arrays = [rand(shape, np.float32), rand(shape, np.float32)]
        assert_same(Native(model).run(arrays), model.run(arrays))


def test_onnx_native_several_outputs():
    _, onnx = onnx_modules()
    mk = onnx.helper.make_node
    f, i64 = elem(np.float32), elem(np.int64)
    blob = onnx_blob(
        [
            mk("Add", ["x", "x"], ["twice"]),
            mk("Cast", ["x"], ["ints"], to=i64),
            mk("Shape", ["x"], ["shape"]),
            mk("ReduceSum", ["x", "axes"], ["total"], keepdims=0),
        ],
        [("x", f, ["N", 3])],
        [("twice", f, None), ("ints", i64, None), ("shape", i64, None), ("total", f, None)],
        [("axes", np.array([1], np.int64))],
    )
    model = load_onnx(blob)
    native = Native(model)
    for n in (1, 4, 0):
        arrays = [rand((n, 3), np.float32) * 10]
        assert_same(native.run(arrays), model.run(arrays))
    assert native.deleted == 12


def test_onnx_native_mlp_matches_python():
    from opt import bench_zoo

    model = load_onnx(bench_zoo.ONNX_MLP.blob, intra_op=1, inter_op=1)
    x = rand((3, 256), np.float32)
    (native,), (python,) = Native(model).run([x]), model.run([x])
    assert native.dtype == python.dtype and native.shape == python.shape == (3, 10)
    np.testing.assert_allclose(native, python, rtol=1e-6)


def test_onnx_python_session_is_made_on_first_python_run():
    model = load_onnx(binary_onnx("Add", np.float32))
    assert model._python_session is None  # the native session serves the runs
    a = np.ones((1, 2), np.float32)
    Native(model).run([a, a])
    assert model._python_session is None
    model.run([a, a])
    assert model._python_session is not None


def test_onnx_native_errors_are_the_python_path_errors():
    model = load_onnx(binary_onnx("Add", np.float32))
    a = np.ones((2, 3), np.float32)
    text = same_error(model, [a, np.ones((2, 3, 1), np.float32)])
    assert text.startswith("Invalid rank for input: b Got: 3 Expected: 2")
    text = same_error(model, [a, np.ones((2, 3), np.float64)])
    assert text.startswith("Unexpected input data type.")
    assert same_error(model, [a]) == "Expected 2 inputs but got 1"
    text = same_error(model, [a, np.ones((4, 3), np.float32)])  # ORT's broadcast error
    assert "Add" in text
    fixed = load_onnx(
        onnx_blob(
            [onnx_modules()[1].helper.make_node("Add", ["a", "b"], ["c"])],
            [("a", elem(np.float32), [2]), ("b", elem(np.float32), [2])],
            [("c", elem(np.float32), [2])],
        )
    )
    text = same_error(fixed, [np.ones(3, np.float32), np.ones(2, np.float32)])
    assert text.startswith("Got invalid dimensions for input: a for the following indices")


def test_onnx_strings_stay_on_python():
    _, onnx = onnx_modules()
    s = onnx.TensorProto.STRING
    blob = onnx_blob(
        [onnx.helper.make_node("Identity", ["s"], ["o"])], [("s", s, [None])], [("o", s, [None])]
    )
    assert load_onnx(blob).native_runner is None


def slow_chain(n=512, depth=120):
    _, onnx = onnx_modules()
    nodes = [
        onnx.helper.make_node("MatMul", ["x" if i == 0 else f"y{i - 1}", "w"], [f"y{i}"])
        for i in range(depth)
    ]
    f = elem(np.float32)
    return onnx_blob(
        nodes,
        [("x", f, [n, n])],
        [(f"y{depth - 1}", f, [n, n])],
        [("w", np.eye(n, dtype=np.float32))],
    )


def test_onnx_native_execution_timeout(harness):
    slow = load_onnx(slow_chain(), execution_timeout_ms=50)
    native = Native(slow)
    started = time.monotonic()
    with pytest.raises(NativeError) as err:
        native.run([np.eye(512, dtype=np.float32)])
    assert str(err.value) == "Exiting due to terminate flag being set to true."
    assert time.monotonic() - started < 5
    # Runs past their deadline on several threads at once are each terminated.
    failures, _ = run_threads(harness, native, [np.eye(512, dtype=np.float32)], 3, 2)
    assert failures == 6
    # Runs within their deadline, on several threads at once, are not affected.
    quick = load_onnx(binary_onnx("Add", np.float32), execution_timeout_ms=1000)
    a = np.ones((1, 2), np.float32)
    failures, firsts = run_threads(harness, Native(quick), [a, a], 3, 500)
    assert failures == 0 and firsts == [2.0] * 3


def test_onnx_native_memory_limit():
    err = "Onnxruntime memory limit exceeded, memory allocation failed."
    backend, _ = onnx_modules()

    def matmul(n, batch):
        f = elem(np.float32)
        nodes = [onnx_modules()[1].helper.make_node("MatMul", ["x", "w"], ["y"])]
        w = [("w", np.ones((n, n), np.float32))]
        return onnx_blob(nodes, [("x", f, [batch, n])], [("y", f, [batch, n])], w)

    small = load_onnx(matmul(100, 1), memory_limit_mb=1)
    wide = load_onnx(matmul(100, 4000), memory_limit_mb=1)
    (out,) = Native(small).run([np.ones((1, 100), np.float32)])
    np.testing.assert_array_equal(out, np.full((1, 100), 100, np.float32))
    x = np.ones((4000, 100), np.float32)  # 1.6 MB of output
    assert same_error(wide, [x]) == err
    del small, wide
    gc.collect()  # the tracebacks same_error kept
    assert backend._held == 0


def test_onnx_native_concurrent_and_no_leak(harness):
    model = load_onnx(binary_onnx("Add", np.float32))
    native = Native(model)
    a, b = np.full((1, 4096), 2, np.float32), np.full((1, 4096), 3, np.float32)
    failures, firsts = run_threads(harness, native, [a, b], 4, 300)
    assert failures == 0 and firsts == [5.0] * 4
    native_time(harness, native, [a, b], 2000)
    before = rss_mb()
    native_time(harness, native, [a, b], 20000)  # 16 KB out each: 320 MB if never freed
    assert rss_mb() - before < 40


@pytest.mark.parametrize("name", ["ONNX_ADD", "ONNX_MLP"])
def test_onnx_bench_model_times(harness, capsys, name):
    from opt import bench_zoo

    case = getattr(bench_zoo, name)
    model = load_onnx(case.blob, intra_op=1, inter_op=1)
    native = Native(model)
    inputs = list(case.inputs)
    np.testing.assert_allclose(native.run(inputs)[0], model.run(inputs)[0], rtol=1e-6)
    t_native = native_time(harness, native, inputs, 5000)
    t_python = python_time(model, inputs, 5000)
    print_times(capsys, name, t_native, t_python)


def test_onnx_memory_one_session(capsys):
    """A model with a runner holds one session until a Python run needs the other."""
    n = 2048  # 16 MB of weights
    f = elem(np.float32)
    nodes = [onnx_modules()[1].helper.make_node("MatMul", ["x", "w"], ["y"])]
    w = [("w", np.random.default_rng(0).standard_normal((n, n)).astype(np.float32))]
    blob = onnx_blob(nodes, [("x", f, [1, n])], [("y", f, [1, n])], w)
    x = np.ones((1, n), np.float32)
    base = rss_mb()
    model = load_onnx(blob)
    Native(model).run([x])
    native_only = rss_mb() - base
    model.run([x])
    both = rss_mb() - base
    with capsys.disabled():
        print(
            f"\nONNX {len(blob) / 2**20:.0f} MB model: RSS +{native_only:.0f} MB with the native"
            f" session (and the blob kept), +{both:.0f} MB once the Python session is made"
        )
    assert both - native_only > 8  # the Python session is a second copy of the weights


def test_runners_release_their_sessions():
    """A dropped model takes its runner's session with it."""
    import weakref

    _, tf_ = tf()
    model = load_tf(frozen(binary(TF_CASES[0][1], tf_.float32)), ["a", "b"], ["c"])
    session = weakref.ref(model._session)
    Native(model).run([np.ones(2, np.float32)] * 2)
    del model
    gc.collect()
    assert session() is None

    n = 1024  # 4 MB of weights, loaded 20 times: 80 MB if the sessions stayed
    f = elem(np.float32)
    nodes = [onnx_modules()[1].helper.make_node("MatMul", ["x", "w"], ["y"])]
    w = [("w", np.ones((n, n), np.float32))]
    blob = onnx_blob(nodes, [("x", f, [1, n])], [("y", f, [1, n])], w)
    Native(load_onnx(blob)).run([np.ones((1, n), np.float32)])
    before = rss_mb()
    for _ in range(20):
        Native(load_onnx(blob)).run([np.ones((1, n), np.float32)])
    gc.collect()
    assert rss_mb() - before < 30
