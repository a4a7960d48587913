"""The models of the model benchmarks (bench_models.py), built in the bench process the first
time a case needs them, and the same models called in process, for the baselines.

    TORCH_ADD, ONNX_ADD   a, b (FLOAT 1x4) -> a + b
    TF_MUL                a, b (FLOAT 1x4) -> c = a * b (a frozen GraphDef)
    TORCH_MLP, ONNX_MLP   x (FLOAT 1x256) -> relu(x W1 + b1) W2 + b2 (1x10)
    TORCH_MLP_1MS         x (FLOAT 8x1024) -> two 1024x1024 layers, ~1 ms of CPU on one thread
    TFLITE_MLP            the same, a tf.Module converted by tf.lite.TFLiteConverter
    SCRIPT_ADD            a, b (FLOAT 1x4) -> a + b (a TorchScript script's function add)
    SCRIPT_PRE            x (FLOAT 1x256) -> (x - 0.5) * 2.0 (the same script's pre)

Frameworks are imported on first use, so `--only TENSOR` imports none, and TensorFlow
(seconds to import) only for its cases. The in-process calls load the model from the bytes
the server gets and run on one thread (torch.set_num_threads(1), and the same for ONNX
Runtime, TF and TFLite), in a tight loop: torch's under inference_mode.
"""

import contextlib
import functools
import io
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

warnings.filterwarnings("ignore", r"\s*Warning: tf\.lite\.Interpreter is deprecated", UserWarning)
HIDDEN, CLASSES = 256, 10
TINY = np.arange(1, 5, dtype=np.float32).reshape(1, 4)
TINY_B = TINY * 10
X256 = np.random.default_rng(0).standard_normal((1, 256)).astype(np.float32)
SCRIPT_SOURCE = """
def pre(tensors: List[Tensor], keys: List[str], args: List[str]):
    return (tensors[0] - 0.5) * 2.0

def add(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]
"""
SCRIPT_ENTRY_POINTS = ("pre", "add")


@dataclass(frozen=True)
class Model:
    backend: str  # AI.MODELSTORE's backend, or SCRIPT for AI.SCRIPTSTORE
    inputs: tuple  # numpy arrays, in the model's order of inputs
    build: Callable[[], bytes]  # -> what the server stores (a blob, a script's source)
    load: Callable[[bytes, tuple], Callable[[], object]]  # (blob, inputs) -> a call
    names: tuple = ()  # INPUTS and OUTPUTS for AI.MODELSTORE (TF); SCRIPT: the function

    @functools.cached_property
    def blob(self):
        return self.build()

    @functools.cached_property
    def call(self):
        """The model called in process on its inputs."""
        return self.load(self.blob, self.inputs)

    def store_command(self, key, *options):
        if self.backend == "SCRIPT":
            entry = ("ENTRY_POINTS", len(SCRIPT_ENTRY_POINTS), *SCRIPT_ENTRY_POINTS)
            return ("AI.SCRIPTSTORE", key, "CPU", *entry, "SOURCE", self.blob)
        return ("AI.MODELSTORE", key, self.backend, "CPU", *options, *self.names, "BLOB", self.blob)

    def context(self):
        return _torch().inference_mode() if _uses_torch(self) else contextlib.nullcontext()

    def output(self):
        """The (only) output of a call in process, as a numpy array."""
        with self.context():
            out = self.call()
        out = out[0] if isinstance(out, list | tuple) else out
        return out.numpy() if hasattr(out, "numpy") else np.asarray(out)


def _uses_torch(model):
    return model.backend in ("TORCH", "SCRIPT")


def calls_per_second(model, seconds=1.0, warmup=0.2):
    """Calls of the model in process per second, over about `seconds`."""
    call = model.call
    with model.context():
        for limit in (warmup, seconds):
            n, t0 = 0, time.perf_counter()
            while True:
                for _ in range(100):
                    call()
                n += 100
                t = time.perf_counter()
                if t - t0 >= limit:
                    break
    return n / (t - t0)


# --- TorchScript ----------------------------------------------------------------------


@functools.cache
def _torch():
    import torch

    torch.set_num_threads(1)
    return torch


def _torch_bytes(module):
    buf = io.BytesIO()
    _torch().jit.save(module, buf)
    return buf.getvalue()


def _torch_add():
    torch = _torch()

    class Add(torch.nn.Module):
        def forward(self, a, b):
            return a + b

    return _torch_bytes(torch.jit.script(Add()))


def _torch_mlp():
    torch = _torch()
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(256, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, CLASSES)
    ).eval()
    return _torch_bytes(torch.jit.trace(mlp, torch.zeros(1, 256)))


def _torch_mlp_1ms():
    """About 1 ms of CPU a call on one thread: two 1024x1024 layers on 8 rows."""
    torch = _torch()
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(
        torch.nn.Linear(1024, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 1024)
    ).eval()
    return _torch_bytes(torch.jit.trace(mlp, torch.zeros(8, 1024)))


def _torch_load(blob, inputs):
    torch = _torch()
    module = torch.jit.load(io.BytesIO(blob))
    tensors = [torch.from_numpy(a) for a in inputs]
    return lambda: module(*tensors)


def _script_loader(function):
    def load(source, inputs):
        call = getattr(_torch().jit.CompilationUnit(source), function)
        tensors = [_torch().from_numpy(a) for a in inputs]
        return lambda: call(tensors, [], [])

    return load


# --- ONNX (opset 17, IR version 8) ------------------------------------------------------


def _onnx_bytes(nodes, inputs, outputs, initializers=()):
    from onnx import TensorProto, helper, numpy_helper

    def info(name, shape):
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    graph = helper.make_graph(
        nodes,
        "bench",
        [info(n, s) for n, s in inputs],
        [info(n, s) for n, s in outputs],
        initializer=[numpy_helper.from_array(a, n) for n, a in initializers],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def _onnx_add():
    from onnx import helper

    return _onnx_bytes(
        [helper.make_node("Add", ["a", "b"], ["c"])],
        [("a", [1, 4]), ("b", [1, 4])],
        [("c", [1, 4])],
    )


def _mlp_weights():
    rng = np.random.default_rng(1)
    shapes = {"w1": (256, HIDDEN), "b1": (HIDDEN,), "w2": (HIDDEN, CLASSES), "b2": (CLASSES,)}
    return {n: (rng.standard_normal(s) / 16).astype(np.float32) for n, s in shapes.items()}


def _onnx_mlp():
    from onnx import helper

    nodes = [
        helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["y"]),
    ]
    return _onnx_bytes(nodes, [("x", ["N", 256])], [("y", ["N", CLASSES])], _mlp_weights().items())


def _onnx_load(blob, inputs):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    session = ort.InferenceSession(blob, opts, providers=["CPUExecutionProvider"])
    feed = {i.name: a for i, a in zip(session.get_inputs(), inputs, strict=True)}
    return lambda: session.run(None, feed)


# --- TensorFlow ---------------------------------------------------------------------------


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


@functools.cache
def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet():
        import tensorflow as tf
    return tf


def _tf_mul():
    tf = _tf()
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.float32, name="a")
        b = tf.compat.v1.placeholder(tf.float32, name="b")
        tf.multiply(a, b, name="c")
    return graph.as_graph_def().SerializeToString()


def _tf_load(blob, inputs):
    tf = _tf()
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        graph_def = v1.GraphDef()
        graph_def.ParseFromString(blob)
        v1.import_graph_def(graph_def, name="")
    config = v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=1)
    session = v1.Session(graph=graph, config=config)
    feed = {"a:0": inputs[0], "b:0": inputs[1]}
    return lambda: session.run("c:0", feed)


def _tflite_mlp():
    tf = _tf()
    w = {n: tf.constant(a) for n, a in _mlp_weights().items()}

    class Dense(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 256], tf.float32, name="x")])
        def __call__(self, x):
            return tf.matmul(tf.nn.relu(tf.matmul(x, w["w1"]) + w["b1"]), w["w2"]) + w["b2"]

    module = Dense()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    with _quiet():
        return converter.convert()


def _tflite_load(blob, inputs):
    interpreter = _tf().lite.Interpreter(model_content=blob, num_threads=1)
    with _quiet():  # XNNPACK's INFO line
        interpreter.allocate_tensors()
    index = interpreter.get_input_details()[0]["index"]
    out = interpreter.get_output_details()[0]["index"]

    def call():
        interpreter.set_tensor(index, inputs[0])
        interpreter.invoke()
        return interpreter.get_tensor(out)

    return call


TORCH_ADD = Model("TORCH", (TINY, TINY_B), _torch_add, _torch_load)
TORCH_MLP = Model("TORCH", (X256,), _torch_mlp, _torch_load)
X8x1024 = np.random.default_rng(1).standard_normal((8, 1024)).astype(np.float32)
TORCH_MLP_1MS = Model("TORCH", (X8x1024,), _torch_mlp_1ms, _torch_load)
ONNX_ADD = Model("ONNX", (TINY, TINY_B), _onnx_add, _onnx_load)
ONNX_MLP = Model("ONNX", (X256,), _onnx_mlp, _onnx_load)
TF_MUL = Model("TF", (TINY, TINY_B), _tf_mul, _tf_load, ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "c"))
TFLITE_MLP = Model("TFLITE", (X256,), _tflite_mlp, _tflite_load)
SCRIPT_PRE = Model("SCRIPT", (X256,), lambda: SCRIPT_SOURCE, _script_loader("pre"), ("pre",))
SCRIPT_ADD = Model("SCRIPT", (TINY, TINY_B), lambda: SCRIPT_SOURCE, _script_loader("add"), ("add",))
