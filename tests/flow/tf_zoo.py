"""TensorFlow and TensorFlow Lite models for the flow tests, built in the test process and
cached for the whole RLTest run: frozen GraphDefs (TF), an archived TF2 SavedModel (TF),
TFLite flatbuffers (float, and fully quantized to INT8), plus what TensorFlow itself
computes with each, to compare the server's outputs with.

Kept apart from model_zoo.py so that only the tests that need TF import it (importing TF
takes seconds)."""

import contextlib
import os
import shutil
import tempfile
import warnings

import numpy as np


@contextlib.contextmanager
def _quiet():
    """fd 2 to /dev/null: TF and its converter log to stderr past TF_CPP_MIN_LOG_LEVEL."""
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
with _quiet():
    import tensorflow as tf

warnings.filterwarnings("ignore", r"\s*Warning: tf\.lite\.Interpreter is deprecated", UserWarning)
v1 = tf.compat.v1
_cache = {}


def _cached(fn):
    def wrapper(*args):
        key = (fn.__name__, *args)
        if key not in _cache:
            _cache[key] = fn(*args)
        return _cache[key]

    wrapper.__name__ = fn.__name__
    return wrapper


# ---------------------------------------------------------------------------------------
# TF frozen graphs: placeholders and ops, no variables. The names of the graphs' nodes:
#   mul:    a, b (FLOAT) -> mul = a * b
#   addmul: a, b (FLOAT) -> add = a + b, mul = a * b
#   string: s (STRING) -> out = identity(s)
#   matmul: x (FLOAT [N,4]) -> y = relu(x @ w + bias) with constant weights
#   dtypes: x (FLOAT [N,3]), n (INT32) -> argmax (INT64), pos (BOOL), i32 (INT32 x + n),
#           u8, i8, i16, u16, f16, f64 (casts of x)


def _mul():
    tf.multiply(
        v1.placeholder(tf.float32, name="a"), v1.placeholder(tf.float32, name="b"), name="mul"
    )


def _addmul():
    a, b = v1.placeholder(tf.float32, name="a"), v1.placeholder(tf.float32, name="b")
    tf.add(a, b, name="add")
    tf.multiply(a, b, name="mul")


def _string():
    tf.identity(v1.placeholder(tf.string, name="s"), name="out")


def _matmul():
    rng = np.random.default_rng(21)
    x = v1.placeholder(tf.float32, shape=[None, 4], name="x")
    w = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))
    bias = tf.constant(rng.standard_normal(3).astype(np.float32))
    tf.nn.relu(tf.matmul(x, w) + bias, name="y")


DTYPE_OUTPUTS = {
    "argmax": "INT64",
    "pos": "BOOL",
    "i32": "INT32",
    "u8": "UINT8",
    "i8": "INT8",
    "i16": "INT16",
    "u16": "UINT16",
    "f16": "FLOAT16",
    "f64": "DOUBLE",
}


def _dtypes():
    x = v1.placeholder(tf.float32, shape=[None, 3], name="x")
    n = v1.placeholder(tf.int32, name="n")
    tf.argmax(x, axis=1, name="argmax")
    tf.greater(x, 0.0, name="pos")
    tf.add(tf.cast(x, tf.int32), n, name="i32")
    small = tf.abs(x) * 10
    for name, dtype in (
        ("u8", tf.uint8),
        ("i8", tf.int8),
        ("i16", tf.int16),
        ("u16", tf.uint16),
        ("f16", tf.float16),
        ("f64", tf.float64),
    ):
        tf.cast(small, dtype, name=name)


GRAPHS = {"mul": _mul, "addmul": _addmul, "string": _string, "matmul": _matmul, "dtypes": _dtypes}
GRAPH_IO = {  # name -> (input node names, output node names)
    "mul": (["a", "b"], ["mul"]),
    "addmul": (["a", "b"], ["add", "mul"]),
    "string": (["s"], ["out"]),
    "matmul": (["x"], ["y"]),
    "dtypes": (["x", "n"], list(DTYPE_OUTPUTS)),
}


@_cached
def tf_blob(name):
    """GraphDef bytes of a named frozen graph."""
    graph = tf.Graph()
    with graph.as_default():
        GRAPHS[name]()
    return graph.as_graph_def().SerializeToString()


@_cached
def _tf_session(name):
    graph = tf.Graph()
    with graph.as_default():
        graph_def = v1.GraphDef()
        graph_def.ParseFromString(tf_blob(name))
        v1.import_graph_def(graph_def, name="")
    return v1.Session(graph=graph)


def tf_run(name, inputs, outputs, *arrays):
    """What TensorFlow computes with the graph: the named output nodes (port 0) fed the
    named input nodes."""
    feeds = {f"{n}:0": a for n, a in zip(inputs, arrays)}
    with _quiet():  # oneDNN logs an error line for FLOAT16 kernels without AVX-512
        return list(_tf_session(name).run([f"{n}:0" for n in outputs], feeds))


def tf_error_text(name, inputs, outputs, *arrays):
    """TF's one-line error of a run, as the server replies it, or None."""
    try:
        tf_run(name, inputs, outputs, *arrays)
    except tf.errors.OpError as e:
        return e.message.replace("\r", " ").replace("\n", " ")
    return None


# ---------------------------------------------------------------------------------------
# A TF2 SavedModel, zipped: signature 'serving_default' with inputs a, b (FLOAT [None])
# and outputs prod = a * b * w (w a variable, 3.0) and sum = a + b.


class _Scaled(tf.Module):
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


@_cached
def _saved_model():
    tmp = tempfile.mkdtemp(prefix="cyrai-flow-tf-")
    try:
        module = _Scaled()
        path = os.path.join(tmp, "model")
        with _quiet():
            tf.saved_model.save(module, path, signatures=module.__call__)
        archive = shutil.make_archive(os.path.join(tmp, "model"), "zip", path)
        with open(archive, "rb") as f:
            blob = f.read()
        signature = tf.saved_model.load(path).signatures["serving_default"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return blob, signature


def saved_model_zip():
    """The zip archive's bytes."""
    return _saved_model()[0]


def saved_model_run(a, b):
    """{output name: array} of the signature run in process."""
    out = _saved_model()[1](a=tf.constant(a), b=tf.constant(b))
    return {k: v.numpy() for k, v in out.items()}


# ---------------------------------------------------------------------------------------
# TFLite
#   dense: x, y (FLOAT [N,3]) -> x + y [N,3] and max(x * y, axis 1) [N]
#   quant: x (INT8 [1,4]) -> relu(x @ w) (INT8 [1,3]), fully integer-quantized


class _Dense(tf.Module):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, 3], tf.float32, name="x"),
            tf.TensorSpec([None, 3], tf.float32, name="y"),
        ]
    )
    def __call__(self, x, y):
        return {"sum": x + y, "max": tf.reduce_max(x * y, axis=1)}


class _Quantizable(tf.Module):
    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(22)
        self.w = tf.constant(rng.standard_normal((4, 3)).astype(np.float32))

    @tf.function(input_signature=[tf.TensorSpec([1, 4], tf.float32, name="x")])
    def __call__(self, x):
        return tf.nn.relu(tf.matmul(x, self.w))


@_cached
def tflite_blob(name):
    module = {"dense": _Dense, "quant": _Quantizable}[name]()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    if name == "quant":
        rng = np.random.default_rng(23)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.uniform(-1, 1, (1, 4)).astype(np.float32)] for _ in range(50)
        )
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = converter.inference_output_type = tf.int8
    with _quiet():
        return converter.convert()


@_cached
def tflite_details(name):
    """(input details, output details) of the interpreter, in its order."""
    interpreter = tf.lite.Interpreter(model_content=tflite_blob(name))
    with _quiet():  # XNNPACK announces itself at the first allocation
        interpreter.allocate_tensors()
    return interpreter.get_input_details(), interpreter.get_output_details()


def tflite_names(name):
    """(input names, output names) as the interpreter gives them."""
    ins, outs = tflite_details(name)
    return [d["name"] for d in ins], [d["name"] for d in outs]


def tflite_run(name, *arrays):
    """What the TFLite interpreter computes (inputs in the interpreter's order; resized to
    the arrays' shapes)."""
    interpreter = tf.lite.Interpreter(model_content=tflite_blob(name))
    for detail, a in zip(interpreter.get_input_details(), arrays):
        if tuple(detail["shape"]) != a.shape:
            interpreter.resize_tensor_input(detail["index"], a.shape, strict=False)
    with _quiet():
        interpreter.allocate_tensors()
    for detail, a in zip(interpreter.get_input_details(), arrays):
        interpreter.set_tensor(detail["index"], a)
    interpreter.invoke()
    return [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]


def dense_inputs(rng, batch):
    """Random inputs of the dense model in the interpreter's order, and the same keyed by
    the model's own argument name (x, y)."""
    by_arg = {
        "x": rng.standard_normal((batch, 3)).astype(np.float32),
        "y": rng.standard_normal((batch, 3)).astype(np.float32),
    }
    names = tflite_names("dense")[0]
    ordered = [by_arg["x"] if n.endswith("x:0") else by_arg["y"] for n in names]
    return ordered, by_arg


def quant_input(rng):
    return rng.integers(-128, 128, (1, 4), dtype=np.int8)


# ---------------------------------------------------------------------------------------


def start_replica_sync(env):
    """RLTest starts each test while the replica's first full sync is still waiting out
    repl-diskless-sync-delay (5 s): start it at the next replication cron tick instead. No-op
    without replicas."""
    if env.useSlaves:
        env.getConnection().config_set("repl-diskless-sync-delay", 0)
