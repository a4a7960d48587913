"""TFLITE backend: TensorFlow Lite flatbuffers run by tf.lite.Interpreter on the CPU.

Input and output names, and their order, are the interpreter's. An interpreter is not
thread-safe and computes into its own buffers, so a run holds the model's lock from the
first input to the last output (get_tensor returns a copy, so outputs outlive the lock).
An input whose shape differs from the tensor's current one resizes it first, as RedisAI
does (dynamic batch sizes, auto-batching). Quantized models (UINT8/INT8 in and out) run as
they are: values are neither quantized nor dequantized here.

tf.lite.Interpreter is deprecated in favour of the ai_edge_litert package, which is not
part of TF 2.21; its deprecation warning is filtered out (backends never print).
"""

import threading
import warnings

import numpy as np

from . import BackendError, one_line, parse_device, policy
from ._tensorflow import quiet_stderr, tf

warnings.filterwarnings("ignore", r"\s*Warning: tf\.lite\.Interpreter is deprecated", UserWarning)

DTYPE_ERR = "Input tensor type doesn't match the type expected by the model definition"
_announced = False  # XNNPACK logs one INFO line at the first allocation in the process


def version():
    return tf.__version__


def _allocate(interpreter):
    global _announced
    if _announced:
        interpreter.allocate_tensors()
        return
    with quiet_stderr():
        interpreter.allocate_tensors()
    _announced = True


class Model:
    def __init__(self, interpreter):
        self._interpreter = interpreter
        self._lock = threading.Lock()
        ins, outs = interpreter.get_input_details(), interpreter.get_output_details()
        self.input_names = [d["name"] for d in ins]
        self.output_names = [d["name"] for d in outs]
        self._inputs = [(d["index"], np.dtype(d["dtype"])) for d in ins]
        self._shapes = [tuple(map(int, d["shape"])) for d in ins]  # current; None: unknown
        self._outputs = [d["index"] for d in outs]

    def run(self, inputs):
        if len(inputs) != len(self._inputs):
            raise BackendError(f"Expected {len(self._inputs)} inputs but got {len(inputs)}")
        arrays = [np.asarray(x) for x in inputs]
        if any(a.dtype != dtype for a, (_, dtype) in zip(arrays, self._inputs)):
            raise BackendError(DTYPE_ERR)
        with self._lock:
            try:
                self._resize([a.shape for a in arrays])
                for array, (index, _) in zip(arrays, self._inputs):
                    self._interpreter.set_tensor(index, array)
                self._interpreter.invoke()
                return [self._interpreter.get_tensor(i) for i in self._outputs]
            except Exception as e:
                raise BackendError(one_line(e)) from e

    def _resize(self, shapes):
        """Resize the inputs whose shape changed, then reallocate (lock held)."""
        changed = [i for i, shape in enumerate(shapes) if shape != self._shapes[i]]
        if not changed:
            return
        self._shapes = [None] * len(shapes)  # unknown until the allocation succeeds
        for i in changed:
            self._interpreter.resize_tensor_input(self._inputs[i][0], shapes[i], strict=False)
        self._interpreter.allocate_tensors()
        self._shapes = [tuple(shape) for shape in shapes]


def load_model(
    blob,
    *,
    device,
    inputs=None,
    outputs=None,
    intra_op=0,
    inter_op=0,
    execution_timeout_ms=0,
    memory_limit_mb=0,
):
    """TFLite flatbuffer bytes -> Model. Names come from the model; intra_op sets the
    interpreter's threads; the other settings do not apply to TFLite."""
    if parse_device(device)[0] == "GPU":
        raise BackendError("ERR GPU requested but TFLITE couldn't find CUDA")
    policy.check_tflite(bytes(blob))
    try:
        interpreter = tf.lite.Interpreter(
            model_content=bytes(blob), num_threads=intra_op if intra_op > 0 else None
        )
        _allocate(interpreter)
        return Model(interpreter)
    except Exception as e:
        raise BackendError(one_line(e)) from e
