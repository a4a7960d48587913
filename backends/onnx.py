"""ONNX backend: ONNX Runtime sessions created from bytes, run on CPU or CUDA.

A model is a graph and stays data (design rule 7): a model whose tensors point at external
files is refused before ORT could read them. Errors keep ORT's own text, minus the
"[ONNXRuntimeError] : n : CODE : " prefix that only the Python binding adds, so replies
match RedisAI's (which uses the C API). The two ONNX-only settings:

- MODEL_EXECUTION_TIMEOUT: one watchdog thread sets RunOptions.terminate on runs past their
  deadline (a Timer thread per run would cost more than a small model's run).
- BACKEND_MEMORY_LIMIT (best effort, CPU models): RedisAI counts every byte ORT allocates.
  The budget here counts what this module sees: each live model holds its blob's size
  (initializers dominate it) from load to release, and a run fails if its outputs do not
  fit beside the models. Intermediates are not seen.

Inside the server, CPU sessions allocate through the module's counting allocator (INFO's
ai_onnxruntime_memory and ai_onnxruntime_memory_access_num, src/onnx_memory.c): the module
is registered once as a custom-op library, which puts the allocator in ORT's environment,
and each CPU session uses the environment's allocator instead of an arena of its own.

Native runs: a CPU model whose inputs and outputs are numeric tensors also gets a session
of its own in _onnx_native.c, which workers run without Python (model.native_runner). Its
Python session is then made on the first Python run only (NATIVE_RUNS no, string inputs),
so that a model served natively holds its weights once.
"""

import itertools
import re
import signal
import threading
import time
import weakref

import numpy as np
import onnxruntime as ort
from onnxruntime.capi.onnxruntime_pybind11_state import Fail as _OrtFail

from . import BackendError, one_line, parse_device, policy

ort.set_default_logger_severity(4)  # backends never print; errors travel as exceptions

MEMORY_ERR = "Onnxruntime memory limit exceeded, memory allocation failed."
_PREFIX = re.compile(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ")


def version():
    return ort.__version__


def _error(exc):
    """ORT exception -> BackendError with the text the C API would have given."""
    return BackendError(one_line(_PREFIX.sub("", str(exc))))


def _has_external_data(blob):
    """True if a tensor of the model (initializer, attribute, subgraph) lives in a file."""
    if b"location" not in blob:  # every external_data entry carries this key
        return False
    import onnx
    from google.protobuf.message import DecodeError

    model = onnx.ModelProto()
    try:
        model.ParseFromString(blob)
    except DecodeError:
        return False  # not a model: ORT says why
    graphs, tensors = [model.graph, *model.functions], []
    while graphs:
        graph = graphs.pop()
        tensors += getattr(graph, "initializer", ())
        for sparse in getattr(graph, "sparse_initializer", ()):
            tensors += [sparse.values, sparse.indices]
        for attr in (a for node in graph.node for a in node.attribute):
            tensors += [attr.t, *attr.tensors, attr.sparse_tensor.values]
            graphs += [attr.g, *attr.graphs] if attr.HasField("g") else attr.graphs
    return any(t.data_location == onnx.TensorProto.EXTERNAL for t in tensors)


# ---------------------------------------------------------------- BACKEND_MEMORY_LIMIT
# ORT's own cap (a shared arena with max_mem) was tried and dropped: once a session's
# creation overflows a capped shared arena, ORT 1.31 silently stops enforcing the cap. The
# budget is kept here instead, see the module docstring.

_held_lock = threading.Lock()
_held = 0  # bytes of the live CPU models loaded under a limit


def _hold(nbytes, limit):
    global _held
    with _held_lock:
        if _held + nbytes > limit:
            raise BackendError("Exception during initialization: " + MEMORY_ERR)
        _held += nbytes
    _native_hold(nbytes)


def _release(nbytes):
    global _held
    with _held_lock:
        _held -= nbytes
    _native_hold(-nbytes)


# ----------------------------------------------------------------- counted allocations

# The module's soname: ORT's dlopen of this name finds the module the server loaded.
_COUNTING_LIBRARY = "cyrai.so"
_counting = None  # whether the counting allocator is in ORT's environment; None: not tried


def _use_counting_allocator(opts):
    """Points a CPU session at the module's counting allocator, registered on first use.
    Outside the server (unit tests) there is no such library: sessions keep ORT's own."""
    global _counting
    if _counting is None:
        try:
            opts.register_custom_ops_library(_COUNTING_LIBRARY)
            _counting = True
        except _OrtFail:  # no such library, or it could not register the allocator
            _counting = False
    if _counting:
        opts.add_session_config_entry("session.use_env_allocators", "1")
        opts.enable_cpu_mem_arena = False  # an arena would hold freed blocks from the count


# ------------------------------------------------------------- MODEL_EXECUTION_TIMEOUT


class _Watchdog:
    """One daemon thread; sets terminate on the RunOptions of runs past their deadline.

    watch/unwatch are dict operations (atomic under the GIL). The thread sleeps on an
    Event while no run is watched and polls every _POLL_S seconds while some are.
    """

    _POLL_S = 0.01

    def __init__(self):
        self._runs = {}
        self._ids = itertools.count()
        self._wake = threading.Event()
        self._start_lock = threading.Lock()
        self._thread = None

    def watch(self, run_options, timeout_ms):
        key = next(self._ids)
        self._runs[key] = (time.monotonic() + timeout_ms / 1000, run_options)
        if self._thread is None:
            self._start()
        if not self._wake.is_set():
            self._wake.set()
        return key

    def unwatch(self, key):
        self._runs.pop(key, None)

    def _start(self):
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="onnx-watchdog")
                self._thread.daemon = True
                self._thread.start()

    def _loop(self):
        signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())  # Redis's signals
        while True:
            self._wake.clear()  # clear, then look: a run added after this sets it again
            if not self._runs:
                self._wake.wait()
                continue
            now = time.monotonic()
            for key, (deadline, run_options) in self._runs.copy().items():
                if deadline <= now:
                    run_options.terminate = True
                    self._runs.pop(key, None)
            time.sleep(self._POLL_S)


_watchdog = _Watchdog()


# ------------------------------------------------------------------------ native runs

_native = None  # backends/_onnx_native once it has ORT's API; False: not available


def _native_module():
    """The runner extension (_onnx_native.c), registered once with ORT as a custom-op
    library so that it gets the API of the ORT this package runs; None if unavailable."""
    global _native
    if _native is None:
        _native = False
        from . import _native as loader

        extension = loader.load("_onnx_native")
        try:
            if extension is not None:
                ort.SessionOptions().register_custom_ops_library(extension.__file__)
                if extension.ready():
                    _native = extension
        except _OrtFail:
            pass
    return _native or None


def _native_hold(nbytes):
    """Tells the runners the bytes held under BACKEND_MEMORY_LIMIT changed by nbytes."""
    native = _native_module()
    if native is not None:
        native.hold(nbytes)


def _native_load(blob, intra_op, inter_op, timeout_ms, limit):
    """(runner, input names, output names) of a native session of a CPU model, or None: the
    model then runs through a Python session (strings, non-tensor values, no extension)."""
    native = _native_module()
    if native is None:
        return None
    try:
        return native.load(blob, intra_op, inter_op, bool(_counting), timeout_ms, limit)
    except native.Error:
        return None  # the Python session fails too, with the same words


# ------------------------------------------------------------------------- the model


def _as_array(x):
    """A NumPy view of an input; STRING tensors (object arrays of bytes) as str for ORT."""
    if not isinstance(x, np.ndarray):
        x = np.from_dlpack(x) if hasattr(x, "__dlpack__") else np.asarray(x)
    if x.dtype == object:
        strings = [s.decode() if isinstance(s, bytes) else s for s in x.flat]
        x = np.array(strings, dtype=object).reshape(x.shape)
    return x


def _from_ort(x):
    """ORT returns STRING outputs as str; the engine stores bytes."""
    if x.dtype == object:
        strings = [s.encode() if isinstance(s, str) else s for s in x.flat]
        x = np.array(strings, dtype=object).reshape(x.shape)
    return x


class Model:
    """native: what _native_load returned. A model with a native runner makes its Python
    session (a second copy of the weights) only when a Python run needs it."""

    native_runner = None

    def __init__(self, make_session, timeout_ms, limit, native=None):
        self._make_session = make_session
        self._python_session = None
        self._session_lock = threading.Lock()
        self._timeout_ms = timeout_ms
        self._limit = limit  # bytes of BACKEND_MEMORY_LIMIT, 0 if none
        if native is not None:
            self.native_runner, self.input_names, self.output_names = native
            return
        session = self._session
        self.input_names = [i.name for i in session.get_inputs()]
        self.output_names = [o.name for o in session.get_outputs()]

    @property
    def _session(self):
        if self._python_session is None:
            with self._session_lock:
                if self._python_session is None:
                    self._python_session = self._make_session()
        return self._python_session

    def run(self, inputs):
        if len(inputs) != len(self.input_names):
            raise BackendError(f"Expected {len(self.input_names)} inputs but got {len(inputs)}")
        try:
            feed = {name: _as_array(x) for name, x in zip(self.input_names, inputs)}
        except Exception as e:
            raise BackendError(one_line(e)) from e
        try:
            session = self._session
        except Exception as e:
            raise _error(e) from e
        run_options = key = None
        if self._timeout_ms > 0:
            run_options = ort.RunOptions()
            key = _watchdog.watch(run_options, self._timeout_ms)
        try:
            outputs = session.run(None, feed, run_options)
        except Exception as e:
            raise _error(e) from e
        finally:
            if key is not None:
                _watchdog.unwatch(key)
        if self._limit and _held + sum(x.nbytes for x in outputs) > self._limit:
            raise BackendError(MEMORY_ERR)
        return [_from_ort(x) for x in outputs]


# Without INTRA_OP_PARALLELISM: one thread per run, as for TORCH; the device queues give
# parallelism. A pool of ORT's own per session competed with the workers for the cores:
# 54k vs 70k rps, 27.6 vs 19.5 us of server CPU per request on the bench MLP, 50 clients.
DEFAULT_INTRA_OP = 1


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
    """ONNX bytes -> Model. Input/output names come from the graph; names given at store
    time are not needed."""
    blob = bytes(blob)
    kind, index = parse_device(device)
    providers = ["CPUExecutionProvider"]
    if kind == "GPU":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise BackendError("ERR GPU requested but ONNX couldn't find CUDA")
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
    if _has_external_data(blob):
        raise policy.ExternalData()
    opts = ort.SessionOptions()
    opts.log_severity_level = 4
    # Idle intra-op threads sleep rather than spin (as in _onnx_native.c): spinning took
    # 113 vs 28 us of server CPU per 1-client request of a 256x256 MLP, from the workers.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    intra_op = intra_op if intra_op > 0 else DEFAULT_INTRA_OP
    opts.intra_op_num_threads = intra_op
    if inter_op > 0:
        opts.inter_op_num_threads = inter_op
    if kind == "CPU":
        _use_counting_allocator(opts)
    limit = memory_limit_mb * 10**6 if kind == "CPU" else 0
    if limit:
        _hold(len(blob), limit)
    native = None
    if kind == "CPU":
        native = _native_load(blob, intra_op, inter_op, execution_timeout_ms, limit)
    try:
        model = Model(
            lambda: ort.InferenceSession(blob, opts, providers=providers),
            execution_timeout_ms,
            limit,
            native,
        )
    except Exception as e:
        if limit:
            _release(len(blob))
        raise _error(e) from e
    if limit:
        weakref.finalize(model, _release, len(blob))
    return model
