"""TORCH scripts: TorchScript source compiled into free functions and called the RedisAI way
(spec 4.1, 4.4, 4.8).

A script is a torch.jit.CompilationUnit (pitfall 10) whose names resolve like RedisAI's
resolver: `torch` to torch, `redis` and `redisAI` (any case) to the ops registered below;
TorchScript's own type names (Tensor, List, Tuple, Optional, Any, Dict) need no import.

The ops are torch.library operators with Python kernels, registered once at import:
    redis::execute(str cmd, str[] args) -> Any      varargs: TorchScript packs trailing
    redis::execute.cmd(str cmd) -> Any              positional strs into the last list
    redis::asList(Any obj) -> Any[]
    redisAI::model_execute(str key, Tensor[] inputs, int num_outputs) -> Tensor[]
execute and model_execute are CONSERVATIVE (side effects): the JIT may neither drop an
unused call nor merge two equal ones. Their kernels call the hooks of script_ops.

A Python kernel cannot return a heterogeneous list as `Any` (torch infers one element type
for a list), so an array reply travels as a tuple inside `Any`; redis.asList turns it into
List[Any]. str() of an unconverted array reply therefore prints `(a, b)`, not `[a, b]`.

Inputs arrive as zero-copy views and are wrapped with DLPack; calls run under
inference_mode because worker threads start with grad enabled (pitfall 10).
"""

import threading
import warnings

import numpy as np
import torch

from . import BackendError, _native, _torch_threads, one_line, policy, script_ops

__all__ = ["Script", "compile_script"]

warnings.filterwarnings("ignore", r"`torch\.jit\.\w+` is deprecated", DeprecationWarning)
warnings.filterwarnings("ignore", r"The given (NumPy array|buffer) is not writable", UserWarning)

_NO_FUNCTION = "Function {} does not exist in the given script."
_ARG_COUNT = "Wrong number of inputs in function {}. Expected 3 but was {}"
_ARG_TYPES = (
    "Wrong inputs type in function {0}. Expected signature similar to: "
    "def {0}(tensors: List[Tensor], keys: List[str], args: List[str])"
)
_MISSING = "Function does not exist: {}"
_LEGACY_COUNT = "Wrong number of inputs provided to function: {}"
_LEGACY_TYPE = "Unsupported input type in function definition: {}"
_NON_TENSOR = "Function returned non-tensor values{}"
_OUTPUT_COUNT = "Function returned unexpected number of outputs - {}"


# ---------------------------------------------------------------------------------------
# Ops visible to scripts

# The text of the op error that is failing the current run, per thread: the reply is that
# text alone, not TorchScript's traceback around a Python exception.
_op_failure = threading.local()


def _op_error(e):
    text = one_line(e) or type(e).__name__
    _op_failure.text = text
    return RuntimeError(text)


def _to_any(value):
    """A hook's reply as something torch can hold in `Any` (arrays as tuples)."""
    if isinstance(value, (list, tuple)):
        return tuple(_to_any(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return value


def _execute(cmd, args=()):
    try:
        return _to_any(script_ops.execute([cmd, *args]))
    except Exception as e:
        raise _op_error(e) from e


def _as_list(value):
    if isinstance(value, (list, tuple)):
        return list(value)
    kind = {str: "String", int: "Int", float: "Double", bool: "Bool"}.get(type(value))
    if value is None:
        kind = "None"
    raise _op_error(f"Expected GenericList but got {kind or type(value).__name__}")


def _model_execute(key, inputs, num_outputs):
    try:
        outputs = script_ops.model_execute(key, list(inputs), num_outputs)
        return [t if isinstance(t, torch.Tensor) else _as_tensor(t) for t in outputs]
    except Exception as e:
        raise _op_error(e) from e


def _register_ops():
    """Define the ops once per process; the Library objects must stay referenced."""
    try:
        torch.ops.redis.execute  # noqa: B018 - lookup only: already defined?
        return []
    except AttributeError:
        pass
    redis = torch.library.Library("redis", "DEF")
    redis.define("execute(str cmd, str[] args) -> Any", alias_analysis="CONSERVATIVE")
    redis.define("execute.cmd(str cmd) -> Any", alias_analysis="CONSERVATIVE")
    redis.define("asList(Any obj) -> Any[]")
    redis_ai = torch.library.Library("redisAI", "DEF")
    redis_ai.define(
        "model_execute(str key, Tensor[] inputs, int num_outputs) -> Tensor[]",
        alias_analysis="CONSERVATIVE",
    )
    # CompositeImplicitAutograd serves every dispatch key, tensor arguments or none.
    for lib, name, fn in (
        (redis, "execute", _execute),
        (redis, "execute.cmd", _execute),
        (redis, "asList", _as_list),
        (redis_ai, "model_execute", _model_execute),
    ):
        lib.impl(name, fn, "CompositeImplicitAutograd")
    return [redis, redis_ai]


_LIBRARIES = _register_ops()


def _resolve(name):
    """Resolution callback for free names in script source (RedisAI's redisResolver)."""
    lowered = name.lower()
    if lowered == "redis":
        return torch.ops.redis
    if lowered == "redisai":
        return torch.ops.redisAI
    if name == "torch":
        return torch
    return None


# ---------------------------------------------------------------------------------------
# Compile


def _device(device):
    """RedisAI's device parsing: any 'CPU...' is the CPU; 'GPU' or 'GPU:<n>' CUDA."""
    upper = device.upper()
    if upper.startswith("CPU"):
        return torch.device("cpu")
    if upper != "GPU" and not upper.startswith("GPU:"):
        raise BackendError("ERR unsupported device")
    if not torch.cuda.is_available():
        raise BackendError("GPU requested but Torch couldn't find CUDA")
    digits = upper[4:]
    index = len(digits) - len(digits.lstrip("0123456789"))
    return torch.device("cuda", int(digits[:index] or 0))


def _is_list_of(ty, element_kind):
    return ty.kind() == "ListType" and ty.getElementType().kind() == element_kind


def _check_entry_point(cu, fn):
    function = cu.find_function(fn)
    if function is None:
        raise BackendError(_NO_FUNCTION.format(fn))
    params = function.schema.arguments
    if len(params) != 3:
        raise BackendError(_ARG_COUNT.format(fn, len(params)))
    kinds = ("TensorType", "StringType", "StringType")
    if not all(_is_list_of(p.type, k) for p, k in zip(params, kinds)):
        raise BackendError(_ARG_TYPES.format(fn))


def compile_script(source, *, device, entry_points=None):
    """Source text -> Script. entry_points: the AI.SCRIPTSTORE list, each checked to take
    (List[Tensor], List[str], List[str]); None for AI.SCRIPTSET (nothing checked)."""
    dev = _device(device)
    cu = torch.jit.CompilationUnit()
    try:
        cu.define(source, rcb=_resolve)
    except Exception as e:
        raise BackendError(one_line(e).strip()) from e
    policy.check_torch_script(source, cu)
    for fn in entry_points or ():
        _check_entry_point(cu, fn)
    return Script(cu, dev, list(entry_points or ()))


# ---------------------------------------------------------------------------------------
# Run


def _as_tensor(x):
    """Zero-copy tensor over an input view (DLPack first, then NumPy's buffer view)."""
    if isinstance(x, torch.Tensor):
        return x
    if hasattr(x, "__dlpack__"):
        return torch.from_dlpack(x)
    return torch.as_tensor(np.asarray(x))


def _legacy_args(function, fn, tensors):
    """RedisAI's best-effort mapping of inputs onto a non-entry function's parameters."""
    params = function.schema.arguments
    if len(params) > len(tensors):
        raise BackendError(_LEGACY_COUNT.format(fn))
    args = []
    for i, param in enumerate(params):
        if param.type.kind() == "TensorType":
            args.append(tensors[i])
        elif _is_list_of(param.type, "TensorType"):
            args.append(tensors[i:])
            break
        else:
            raise BackendError(_LEGACY_TYPE.format(fn))
    return args


def _flatten(value, fn):
    """The tensors a function returned: a Tensor, or a list/tuple of Tensors."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in value):
        return list(value)
    raise BackendError(_NON_TENSOR.format(fn))


def take_op_failure():
    """The text of the op error that failed this thread's last call run natively (the
    worker called the function itself, not run() below), cleared; or None."""
    text = getattr(_op_failure, "text", None)
    _op_failure.text = None
    return text.strip() if text else None


def _native_script(cu, device, entry_points):
    """Native calls (backends/_torch_native.cpp) of the script's functions, or None. The
    redis.* and redisAI.* ops stay Python kernels: a native call takes the GIL in them
    only."""
    native = _native.load("_torch_native")
    if native is None or device.type != "cpu":
        return None
    names = [f.name for f in cu.get_functions()]
    return native.make_script_runner(cu, list(entry_points), names)


class Script:
    """A compiled script: its free functions, the entry points checked at store time."""

    def __init__(self, cu, device, entry_points):
        self._cu = cu
        self.device = device
        self.entry_points = entry_points
        self._entry_set = frozenset(entry_points)
        self.native_script = _native_script(cu, device, entry_points)

    @property
    def function_names(self):
        return [f.name for f in self._cu.get_functions()]

    def run(self, fn, tensors, keys, args, noutputs=None):
        """Call fn and return its outputs as contiguous CPU tensors.

        An entry point gets (tensors, keys, args); any other function the legacy mapping
        of spec 4.8 (keys and args unused). noutputs: the OUTPUTS count the result must
        have; 0 ignores the return value (returns []); None returns whatever it flattens to.
        """
        function = self._cu.find_function(fn)
        if function is None:
            raise BackendError(_MISSING.format(fn))
        _torch_threads.apply()
        try:
            inputs = [_as_tensor(x) for x in tensors]
        except Exception as e:  # e.g. a STRING tensor: no numeric view
            raise BackendError(one_line(e)) from e
        if fn in self._entry_set:
            call_args = [inputs, list(keys), list(args)]
        else:
            call_args = _legacy_args(function, fn, inputs)
        _op_failure.text = None
        try:
            with torch.inference_mode():
                result = function(*call_args)
        except Exception as e:
            text = _op_failure.text or one_line(e)
            raise BackendError(text.strip()) from e
        finally:
            _op_failure.text = None
        if noutputs == 0:
            return []
        outputs = _flatten(result, fn)
        if noutputs is not None and len(outputs) != noutputs:
            raise BackendError(_OUTPUT_COUNT.format(fn))
        return [t.contiguous().cpu() for t in outputs]
