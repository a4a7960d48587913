"""TORCH backend: TorchScript models loaded from bytes and run on CPU or CUDA.

Loading goes through torch.jit.load only (a TorchScript archive is a graph, not pickled
Python: design rule 7). Inputs arrive as zero-copy views of C memory and become tensors
through DLPack without a copy; runs happen under inference_mode because worker threads
start with grad enabled (pitfall 10). Thread settings are process-global in torch, so a
model asking for other inter-op threads after parallel work started is refused with
RedisAI's message.
"""

import io
import warnings

import numpy as np
import torch

from . import BackendError, _native, _torch_threads, one_line, parse_device, policy

# The native runner (backends/_torch_native.cpp): workers run forward without Python.
_NATIVE = _native.load("_torch_native")

# Deprecation notes and the read-only-buffer notice are noise here: backends never print.
warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning)
warnings.filterwarnings("ignore", r"The given (NumPy array|buffer) is not writable", UserWarning)

_INTER_OP_ERR = "Cannot set number of inter-op threads after parallel work has started"
_INTRA_OP_ERR = "Cannot set number of intra-op threads after parallel work has started"


def version():
    return torch.__version__.split("+")[0]


def _set_threads(intra_op, inter_op):
    """Apply INTRA/INTER_OP_PARALLELISM; only a change can fail."""
    if inter_op > 0 and torch.get_num_interop_threads() != inter_op:
        try:
            torch.set_num_interop_threads(inter_op)
        except RuntimeError as e:
            raise BackendError(_INTER_OP_ERR) from e
    try:
        _torch_threads.configure(intra_op)
    except RuntimeError as e:
        raise BackendError(_INTRA_OP_ERR) from e
    if _NATIVE is not None:
        _NATIVE.set_intra_op_threads(_torch_threads.DEFAULT_INTRA_OP if intra_op <= 0 else intra_op)


def _torch_device(device):
    kind, index = parse_device(device)
    if kind == "CPU":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise BackendError("GPU requested but Torch couldn't find CUDA")
    return torch.device("cuda", index)


def _count_tensors(ty):
    """Output tensors in a declared return type: Tensor 1, Tuple its Tensor members."""
    kind = ty.kind()
    if kind == "TensorType":
        return 1
    if kind == "TupleType":
        return sum(el.kind() == "TensorType" for el in ty.elements())
    return 0


def _as_tensor(x):
    """Zero-copy tensor over an input view (DLPack first, then NumPy's buffer view)."""
    if hasattr(x, "__dlpack__"):
        return torch.from_dlpack(x)
    return torch.as_tensor(np.asarray(x))


def _flatten(out):
    """The tensors a forward returned: a Tensor, or a tuple/list of Tensors."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in out):
        return list(out)
    raise BackendError("Function returned non-tensor values - forward")


class Model:
    def __init__(self, module, device):
        self._forward = module.forward  # the method itself: skips nn.Module.__call__
        self._device = None if device.type == "cpu" else device
        schema = self._forward.schema
        self.input_names = [arg.name for arg in schema.arguments[1:]]
        self.output_names = [""] * sum(_count_tensors(r.type) for r in schema.returns)
        self.native_runner = _native_runner(module, device, schema)
        # What the server reports as this backend's memory (best effort): the weights.
        self.memory_bytes = sum(
            t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()]
        )

    def run(self, inputs):
        _torch_threads.apply()
        try:
            args = [_as_tensor(x) for x in inputs]
            if self._device is not None:
                args = [a.to(self._device) for a in args]
            with torch.inference_mode():
                outputs = _flatten(self._forward(*args))
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(one_line(e)) from e
        if len(outputs) != len(self.output_names):
            raise BackendError("Function returned unexpected number of outputs - forward")
        if self._device is not None:
            outputs = [t.cpu() for t in outputs]
        return outputs


def _native_runner(module, device, schema):
    """A native runner over forward, or None: on the CPU, and only when every parameter is a
    Tensor, so that any error on the way in is torch's own text on either path."""
    if _NATIVE is None or device.type != "cpu":
        return None
    if not all(arg.type.kind() == "TensorType" for arg in schema.arguments[1:]):
        return None
    return _NATIVE.make_runner(module)


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
    """A TorchScript archive -> Model. Names given at store time are not needed: TORCH
    takes inputs from forward's parameters; the two limits are ONNX-only settings."""
    dev = _torch_device(device)
    _set_threads(intra_op, inter_op)
    policy.check_torch_archive(bytes(blob))  # before load runs any __setstate__
    try:
        module = torch.jit.load(io.BytesIO(blob), map_location=dev)
    except Exception as e:
        raise BackendError(one_line(e)) from e
    policy.check_torch_module(module)
    try:
        return Model(module, dev)
    except Exception as e:
        raise BackendError(one_line(e)) from e


# Scripts live in their own module; loading the TORCH backend loads them too, so
# backends.get("TORCH").compile_script and backends.torch_script.compile_script both work.
from .torch_script import Script, compile_script  # noqa: E402, F401
