"""The TF and TFLITE backends without Redis: models are built here (frozen graphs, an archived
SavedModel, TFLite flatbuffers, float and fully quantized), loaded from bytes the way
AI.MODELSTORE hands them over, and their runs compared with TensorFlow's own.

What importing TF does to the process (signal handlers, stderr) is checked in a fresh
interpreter.
"""

import ctypes
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import backends
from backends import BackendError, _tensorflow
from tests.flow.error_texts import TF_INCOMPATIBLE, TFLITE_DTYPE

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
tf = pytest.importorskip("tensorflow")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TF = backends.get("TF")
TFLITE = backends.get("tflite")
v1 = tf.compat.v1
pytestmark = pytest.mark.filterwarnings(  # the reference interpreters built here
    r"ignore:\s*Warning. tf\.lite\.Interpreter is deprecated:UserWarning"
)
RNG = np.random.default_rng(11)
HAS_GPU = bool(tf.config.list_physical_devices("GPU"))


def load(backend, blob, inputs=None, outputs=None, device="CPU", **options):
    return backend.load_model(blob, device=device, inputs=inputs, outputs=outputs, **options)


def readonly(a):
    """Inputs arrive as read-only views of C memory."""
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


def error_text(excinfo):
    text = str(excinfo.value)
    assert text and "\n" not in text and "\r" not in text
    return text


# ------------------------------------------------------------------------ the models


def frozen_graph(build):
    """GraphDef bytes of the graph build() makes (placeholders and ops, no variables)."""
    graph = tf.Graph()
    with graph.as_default():
        build()
    return graph.as_graph_def().SerializeToString()


def mul_graph():
    tf.multiply(
        v1.placeholder(tf.float32, name="a"), v1.placeholder(tf.float32, name="b"), name="mul"
    )


def string_graph():
    tf.identity(v1.placeholder(tf.string, name="s"), name="out")


def run_in_session(blob, feeds, fetches):
    """What TensorFlow itself computes for a frozen graph."""
    graph = tf.Graph()
    with graph.as_default():
        graph_def = v1.GraphDef()
        graph_def.ParseFromString(blob)
        v1.import_graph_def(graph_def, name="")
    with v1.Session(graph=graph) as session:
        return session.run(fetches, feeds)


class Scaled(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(3.0)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="a"),
            tf.TensorSpec([None], tf.float32, name="b"),
        ]
    )
    def __call__(self, a, b):
        return {"sum": a + b, "prod": a * b * self.w}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """(zip bytes, tar.gz bytes, the signature as TF loads it)."""
    tmp = tmp_path_factory.mktemp("saved")
    module = Scaled()
    tf.saved_model.save(module, str(tmp / "model"), signatures=module.__call__)
    archives = [
        shutil.make_archive(str(tmp / "model"), kind, str(tmp / "model"))
        for kind in ("zip", "gztar")
    ]
    signature = tf.saved_model.load(str(tmp / "model")).signatures["serving_default"]
    return *[pathlib.Path(path).read_bytes() for path in archives], signature


class Dense(tf.Module):
    """Two float inputs (dynamic batch), two outputs."""

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 3], tf.float32, name="x"),
            tf.TensorSpec([None, 3], tf.float32, name="y"),
        ]
    )
    def __call__(self, x, y):
        return {"sum": x + y, "max": tf.reduce_max(x * y, axis=1)}


class Quantizable(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.constant(RNG.standard_normal((4, 3)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def __call__(self, x):
        return tf.nn.relu(tf.matmul(x, self.w))


def tflite_blob(module, quantized=False):
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    if quantized:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [RNG.uniform(-1, 1, (1, 4)).astype(np.float32)] for _ in range(50)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.uint8
    return converter.convert()


@pytest.fixture(scope="module")
def dense_tflite():
    return tflite_blob(Dense())


@pytest.fixture(scope="module")
def quantized_tflite():
    return tflite_blob(Quantizable(), quantized=True)


def run_in_interpreter(blob, inputs):
    """What TensorFlow Lite itself computes (inputs of the model's shapes)."""
    interpreter = tf.lite.Interpreter(model_content=blob)
    interpreter.allocate_tensors()
    for detail, x in zip(interpreter.get_input_details(), inputs):
        interpreter.set_tensor(detail["index"], x)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


# -------------------------------------------------------------- import side effects


def test_registry_and_version():
    assert backends.get("tf") is TF and backends.get("TFLITE") is TFLITE
    assert backends.version("TF") == backends.version("tflite") == tf.__version__


def test_signals_kept_undoes_python_and_c_handlers():
    libc = ctypes.CDLL(None)
    libc.signal.argtypes, libc.signal.restype = [ctypes.c_int, ctypes.c_void_p], ctypes.c_void_p
    kernel = _tensorflow._sigaction

    term = signal.getsignal(signal.SIGTERM), kernel(signal.SIGTERM).key()
    int_python, int_kernel = signal.getsignal(signal.SIGINT), kernel(signal.SIGINT).key()
    # Another disposition than the one inherited (a shell may start the tests with SIGINT
    # ignored): SIG_IGN, or SIG_DFL where it was ignored.
    other = 0 if int_python is signal.SIG_IGN else 1
    with _tensorflow.signals_kept():
        signal.signal(signal.SIGTERM, lambda *_: None)
        libc.signal(signal.SIGINT, other)  # from C, behind Python's back
        assert kernel(signal.SIGINT).key() != int_kernel
    assert (signal.getsignal(signal.SIGTERM), kernel(signal.SIGTERM).key()) == term
    assert kernel(signal.SIGINT).key() == int_kernel
    assert signal.getsignal(signal.SIGINT) is int_python


def test_import_keeps_signal_handlers_and_prints_nothing(tmp_path, dense_tflite):
    """A fresh process: a handler of its own on SIGTERM, Python's on SIGINT; importing both
    backends and loading a model of each changes neither, and nothing reaches stderr."""
    (tmp_path / "m.tflite").write_bytes(dense_tflite)
    (tmp_path / "m.pb").write_bytes(frozen_graph(mul_graph))
    code = f"""
        import ctypes, signal
        SIGNALS = (signal.SIGTERM, signal.SIGINT)
        libc = ctypes.CDLL(None)
        def kernel(signum):  # handler, 64 signals of the mask, flags less SA_RESTORER
            buf = (ctypes.c_uint64 * 20)()  # glibc's struct sigaction, with room to spare
            assert libc.sigaction(signum, None, buf) == 0
            return buf[0], buf[1], buf[17] & 0xFFFFFFFF & ~0x04000000
        signal.signal(signal.SIGTERM, lambda *_: None)
        before = [(signal.getsignal(s), kernel(s)) for s in SIGNALS]
        import backends
        for name, path in (("TF", "m.pb"), ("TFLITE", "m.tflite")):
            blob = open({str(tmp_path)!r} + "/" + path, "rb").read()
            backends.get(name).load_model(blob, device="CPU", inputs=["a", "b"], outputs=["mul"])
        assert "tensorflow" in __import__("sys").modules
        after = [(signal.getsignal(s), kernel(s)) for s in SIGNALS]
        assert before == after, (before, after)
    """
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == proc.stderr == ""


# ------------------------------------------------------------------ TF frozen graphs


def test_tf_mul_matches_tensorflow():
    blob = frozen_graph(mul_graph)
    model = load(TF, blob, ["a", "b"], ["mul"])
    assert model.input_names == ["a", "b"] and model.output_names == ["mul"]
    a, b = RNG.random((2, 3), np.float32), RNG.random((2, 3), np.float32)
    (out,) = model.run([readonly(a), memoryview(readonly(b))])
    assert out.dtype == np.float32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out, run_in_session(blob, {"a:0": a, "b:0": b}, "mul:0"))


def test_tf_run_error_is_tensorflow_text():
    model = load(TF, frozen_graph(mul_graph), ["a", "b"], ["mul"])
    with pytest.raises(BackendError) as e:
        model.run([np.ones(2, np.float32), np.ones((2, 2, 3), np.float32)])
    assert error_text(e) == TF_INCOMPATIBLE
    with pytest.raises(BackendError) as e:  # fed as is, never cast to the placeholder's type
        model.run([np.ones(2, np.float64), np.ones(2, np.float32)])
    assert "double" in error_text(e) and "float" in str(e.value)
    with pytest.raises(BackendError, match="^Expected 2 inputs but got 1$"):
        model.run([np.ones(2, np.float32)])


def test_tf_strings_in_and_out():
    model = load(TF, frozen_graph(string_graph), ["s"], ["out"])
    strings = np.array([[b"ab", b""], [b"c\x00d", b"\xff" * 300]], dtype=object)
    (out,) = model.run([strings])
    assert out.dtype == object and out.shape == (2, 2)
    assert all(isinstance(s, bytes) for s in out.flat)
    np.testing.assert_array_equal(out, strings)


def test_tf_bad_graph():
    with pytest.raises(BackendError) as e:
        load(TF, b"\x08\xff\xff not a graph", ["a"], ["mul"])
    assert error_text(e) == "Invalid GraphDef"


@pytest.mark.parametrize(
    "inputs, outputs, text",
    [
        (["bad_input", "b"], ["mul"], 'ERR Input node named "bad_input" not found in TF graph.'),
        (["a", "mul"], ["mul"], 'ERR Input node named "mul" not found in TF graph.'),
        (["a:0", "b"], ["mul"], 'ERR Input node named "a:0" not found in TF graph.'),
        (["a", "b"], ["mult"], 'ERR Output node named "mult" not found in TF graph'),
    ],
)
def test_tf_node_names(inputs, outputs, text):
    with pytest.raises(BackendError) as e:
        load(TF, frozen_graph(mul_graph), inputs, outputs)
    assert error_text(e) == text


def test_tf_thread_settings():
    model = load(TF, frozen_graph(mul_graph), ["a", "b"], ["mul"], intra_op=1, inter_op=1)
    (out,) = model.run([np.full(3, 2, np.float32), np.full(3, 4, np.float32)])
    np.testing.assert_array_equal(out, [8, 8, 8])


@pytest.mark.skipif(HAS_GPU, reason="TensorFlow sees a GPU")
def test_tf_gpu_without_cuda():
    with pytest.raises(BackendError) as e:
        load(TF, frozen_graph(mul_graph), ["a", "b"], ["mul"], device="GPU:0")
    assert error_text(e) == "ERR GPU requested but TF couldn't find CUDA"


# ------------------------------------------------------------------ TF SavedModel


def test_saved_model_archives(saved_model):
    *archives, signature = saved_model
    a, b = RNG.random(5, np.float32), RNG.random(5, np.float32)
    want = signature(a=tf.constant(a), b=tf.constant(b))
    for blob in archives:
        model = load(TF, blob)
        assert model.input_names == ["a", "b"] and model.output_names == ["prod", "sum"]
        prod, total = model.run([readonly(a), readonly(b)])
        np.testing.assert_array_equal(prod, want["prod"].numpy())
        np.testing.assert_array_equal(total, want["sum"].numpy())


def test_saved_model_names_given_by_the_client(saved_model):
    model = load(TF, saved_model[0], ["b", "a"], ["sum"])
    assert model.input_names == ["b", "a"] and model.output_names == ["sum"]
    (out,) = model.run([np.array([1, 2], np.float32), np.array([10, 20], np.float32)])
    np.testing.assert_array_equal(out, [11, 22])


@pytest.mark.parametrize(
    "inputs, outputs, text",
    [
        (["a", "c"], ["sum"], 'ERR Input node named "c" not found in TF graph.'),
        (["a"], ["sum"], "ERR SavedModel signature 'serving_default' takes the inputs a, b"),
        (["a", "b"], ["mean"], 'ERR Output node named "mean" not found in TF graph'),
    ],
)
def test_saved_model_wrong_names(saved_model, inputs, outputs, text):
    with pytest.raises(BackendError) as e:
        load(TF, saved_model[0], inputs, outputs)
    assert error_text(e) == text


def test_saved_model_bad_archives(tmp_path):
    """An archive without saved_model.pb, or an unreadable one, is not a GraphDef either:
    RedisAI's reply."""
    (tmp_path / "readme.txt").write_text("no model here")
    empty = pathlib.Path(shutil.make_archive(str(tmp_path / "x"), "zip", str(tmp_path)))
    empty = empty.read_bytes()
    for blob in (empty, b"PK\x03\x04" + b"\x00" * 40):
        with pytest.raises(BackendError) as e:
            load(TF, blob)
        assert error_text(e) == "Invalid GraphDef"


# -------------------------------------------------------------------------- TFLITE


def test_tflite_matches_interpreter(dense_tflite):
    model = load(TFLITE, dense_tflite)
    reference = tf.lite.Interpreter(model_content=dense_tflite)
    assert model.input_names == [d["name"] for d in reference.get_input_details()]
    assert model.output_names == [d["name"] for d in reference.get_output_details()]
    assert sorted(model.input_names) == ["serving_default_x:0", "serving_default_y:0"]
    x_first = model.input_names[0].endswith("x:0")
    for batch in (1, 4, 2):  # resized to each batch size as it comes
        x, y = RNG.random((batch, 3), np.float32), RNG.random((batch, 3), np.float32)
        inputs = [readonly(x), memoryview(readonly(y))]
        outputs = model.run(inputs if x_first else inputs[::-1])
        want = {"sum": x + y, "max": (x * y).max(axis=1)}
        by_shape = {o.shape: o for o in outputs}
        np.testing.assert_allclose(by_shape[(batch, 3)], want["sum"], rtol=1e-6)
        np.testing.assert_allclose(by_shape[(batch,)], want["max"], rtol=1e-6)
    x, y = RNG.random((1, 3), np.float32), RNG.random((1, 3), np.float32)
    for got, want in zip(model.run([x, y]), run_in_interpreter(dense_tflite, [x, y])):
        np.testing.assert_array_equal(got, want)


def test_tflite_outputs_are_copies(dense_tflite):
    model = load(TFLITE, dense_tflite)
    first = model.run([np.ones((1, 3), np.float32), np.ones((1, 3), np.float32)])
    kept = [o.copy() for o in first]
    model.run([np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32)])
    for o, k in zip(first, kept):
        np.testing.assert_array_equal(o, k)


def test_tflite_quantized(quantized_tflite):
    model = load(TFLITE, quantized_tflite, intra_op=1)
    x = RNG.integers(0, 256, (1, 4), dtype=np.uint8)
    (out,) = model.run([readonly(x)])
    assert out.dtype == np.uint8 and out.shape == (1, 3)
    np.testing.assert_array_equal(out, run_in_interpreter(quantized_tflite, [x])[0])


def test_tflite_input_errors(dense_tflite, quantized_tflite):
    model = load(TFLITE, dense_tflite)
    with pytest.raises(BackendError) as e:
        model.run([np.ones((1, 3), np.float64), np.ones((1, 3), np.float32)])
    assert error_text(e) == TFLITE_DTYPE
    with pytest.raises(BackendError, match="^Input tensor type doesn't match"):
        load(TFLITE, quantized_tflite).run([np.ones((1, 4), np.float32)])
    with pytest.raises(BackendError, match="^Expected 2 inputs but got 1$"):
        model.run([np.ones((1, 3), np.float32)])
    with pytest.raises(BackendError) as e:  # shapes the model cannot take
        model.run([np.ones((1, 3), np.float32), np.ones((2, 5), np.float32)])
    error_text(e)
    (total, _) = model.run([np.ones((1, 3), np.float32), np.ones((1, 3), np.float32)])
    np.testing.assert_array_equal(total, [[2, 2, 2]])  # the model still runs


def test_tflite_bad_model_and_gpu(dense_tflite):
    with pytest.raises(BackendError) as e:
        load(TFLITE, b"not a flatbuffer at all")
    error_text(e)
    with pytest.raises(BackendError) as e:
        load(TFLITE, dense_tflite, device="GPU")
    assert error_text(e) == "ERR GPU requested but TFLITE couldn't find CUDA"


def test_tflite_concurrent_runs(dense_tflite):
    model = load(TFLITE, dense_tflite)
    failures = []

    def worker(seed):
        rng = np.random.default_rng(seed)
        for _ in range(50):
            batch = int(rng.integers(1, 5))
            x, y = rng.random((batch, 3), np.float32), rng.random((batch, 3), np.float32)
            outputs = {o.shape: o for o in model.run([x, y])}
            if not np.allclose(outputs[(batch, 3)], x + y):
                failures.append(seed)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
