"""Models for the model flow tests, built in the test process (TorchScript through
torch.jit.script/trace, ONNX through onnx.helper) and cached for the whole RLTest run,
plus helpers to move numpy arrays in and out of tensor keys.

Kept apart from includes.py so that the tensor tests never import a framework."""

import io
import re

import numpy as np
import onnx
import onnxruntime as ort
import torch
from includes import NUMERIC_DTYPES, meta_dict, wait_replica
from onnx import TensorProto, helper

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
# TorchScript


class Add(torch.nn.Module):
    def forward(self, a, b):
        return a + b


class Sum5(torch.nn.Module):
    def forward(self, a, b, c, d, e):
        return a + b + c + d + e


class AddMul(torch.nn.Module):
    def forward(self, a, b) -> tuple[torch.Tensor, torch.Tensor]:
        return a + b, a * b


class Argmax(torch.nn.Module):
    def forward(self, x):
        return torch.argmax(x, dim=1)


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Slow(torch.nn.Module):
    """x * scale after n rounds of a 256x256 matmul: n (an INT64 scalar input) sets how
    long a run takes, so tests can occupy a queue for a chosen time."""

    def __init__(self, scale: float):
        super().__init__()
        self.scale = scale
        self.w = torch.nn.Parameter(torch.randn(256, 256) / 16.0, requires_grad=False)

    def forward(self, x, n):
        t = self.w
        for _ in range(int(n.item())):
            t = torch.tanh(torch.mm(self.w, t))
        return x * self.scale + t.sum() * 0.0


def torch_bytes(module, extra_files=None):
    buf = io.BytesIO()
    torch.jit.save(module, buf, _extra_files=extra_files or {})
    return buf.getvalue()


@_cached
def torch_module(name):
    """The in-process TorchScript module of a named test model."""
    torch.manual_seed(0)
    if name == "add":
        return torch.jit.script(Add())
    if name == "sum5":
        return torch.jit.script(Sum5())
    if name == "addmul":
        return torch.jit.script(AddMul())
    if name == "argmax":
        return torch.jit.script(Argmax())
    if name == "mlp":
        return torch.jit.trace(MLP().eval(), torch.zeros(2, 4))
    if name.startswith("slow"):  # slow1, slow2: the scale
        return torch.jit.script(Slow(float(name[4:])))
    raise KeyError(name)


@_cached
def torch_blob(name):
    """The serialized bytes of a named TorchScript test model."""
    return torch_bytes(torch_module(name))


def torch_run(name, *arrays):
    """Outputs of the in-process model as numpy arrays (a list, one per output)."""
    with torch.inference_mode():
        out = torch_module(name)(*[torch.from_numpy(np.ascontiguousarray(a)) for a in arrays])
    if isinstance(out, torch.Tensor):
        out = [out]
    return [t.numpy() for t in out]


@_cached
def torch_loaded(name):
    """The module as the server has it: loaded back from its bytes (its error texts quote
    the serialized code, not the Python source)."""
    return torch.jit.load(io.BytesIO(torch_blob(name)))


def torch_error_text(name, *arrays):
    """The one-line error of running the loaded model in process, or None."""
    try:
        with torch.inference_mode():
            torch_loaded(name)(*[torch.from_numpy(np.ascontiguousarray(a)) for a in arrays])
    except Exception as e:  # noqa: BLE001 - any framework error is the expected text
        return str(e).replace("\r", " ").replace("\n", " ")
    return None


def torch_input_names(name):
    return [a.name for a in torch_module(name).forward.schema.arguments[1:]]


def torch_blob_of_length_multiple(chunk):
    """A TorchScript add model whose archive length is an exact multiple of chunk, made by
    padding an extra file (TorchScript's zip aligns records, so search for a size)."""
    for pad in range(4 * chunk):
        blob = torch_bytes(torch_module("add"), {"pad": b"x" * pad})
        if len(blob) % chunk == 0:
            return blob
    raise AssertionError("no padding gives an exact multiple")


# ---------------------------------------------------------------------------------------
# ONNX (opset 17, IR version 8: what onnxruntime 1.x loads)

OPSET = 17
IR_VERSION = 8


def _onnx_model(nodes, inputs, outputs, initializers=()):
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _float_info(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


@_cached
def onnx_blob(name):
    """Serialized bytes of a named ONNX test model:
    add: a, b [2,3] -> sum; mlp: x [N,4] -> y [N,3] and label [N] (INT64 ArgMax of y)."""
    if name == "add":
        return _onnx_model(
            [helper.make_node("Add", ["a", "b"], ["sum"])],
            [_float_info("a", [2, 3]), _float_info("b", [2, 3])],
            [_float_info("sum", [2, 3])],
        )
    if name == "mlp":
        rng = np.random.default_rng(1)
        weights = {"w1": (4, 8), "b1": (8,), "w2": (8, 3), "b2": (3,)}
        inits = [
            onnx.numpy_helper.from_array(rng.standard_normal(s).astype(np.float32), n)
            for n, s in weights.items()
        ]
        nodes = [
            helper.make_node("MatMul", ["x", "w1"], ["h0"]),
            helper.make_node("Add", ["h0", "b1"], ["h1"]),
            helper.make_node("Relu", ["h1"], ["h2"]),
            helper.make_node("MatMul", ["h2", "w2"], ["h3"]),
            helper.make_node("Add", ["h3", "b2"], ["y"]),
            helper.make_node("ArgMax", ["y"], ["label"], axis=1, keepdims=0),
        ]
        return _onnx_model(
            nodes,
            [_float_info("x", ["N", 4])],
            [
                _float_info("y", ["N", 3]),
                helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            ],
            inits,
        )
    raise KeyError(name)


@_cached
def onnx_session(name):
    return ort.InferenceSession(onnx_blob(name), providers=["CPUExecutionProvider"])


def onnx_run(name, **feeds):
    return onnx_session(name).run(None, feeds)


def onnx_error_text(exc):
    """An in-process ORT error as the module replies it: without the Python binding's
    "[ONNXRuntimeError] : n : CODE : " prefix, on one line."""
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", str(exc))
    return text.replace("\r", " ").replace("\n", " ")


def _varint(n):
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _length_delimited(field, payload_len):
    """The key and length of a length-delimited protobuf field (its payload follows)."""
    return _varint(field << 3 | 2) + _varint(payload_len)


def big_onnx_chunks(megabytes):
    """An ONNX model (x [1] -> x + w[0]) with a zero initializer w of about `megabytes` MB,
    as byte strings to concatenate (AI.MODELSTORE takes them as chunks after BLOB).

    Going through the protobuf runtime would copy the bytes twice (seconds on a busy
    host), so w is appended to the serialized model as a second `graph` field holding only
    that initializer: protobuf parsers merge repeated occurrences of a message field."""
    n = megabytes * 1024 * 1024 // 4
    nodes = [
        helper.make_node("Slice", ["w", "zero", "one"], ["w0"]),
        helper.make_node("Add", ["x", "w0"], ["y"]),
    ]
    inits = [
        onnx.numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
        onnx.numpy_helper.from_array(np.array([1], dtype=np.int64), "one"),
    ]
    graph = helper.make_graph(
        nodes, "big", [_float_info("x", [1])], [_float_info("y", [1])], initializer=inits
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    head = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[n]).SerializeToString()
    tensor_len = len(head) + len(_length_delimited(9, 4 * n)) + 4 * n  # 9: raw_data
    graph_len = len(_length_delimited(5, tensor_len)) + tensor_len  # 5: initializer
    return [
        model.SerializeToString()
        + _length_delimited(7, graph_len)  # ModelProto.graph
        + _length_delimited(5, tensor_len)
        + head
        + _length_delimited(9, 4 * n),
        bytes(4 * n),
    ]


# ---------------------------------------------------------------------------------------
# Tensors as numpy arrays

_DTYPE_NAMES = {np.dtype(t): name for name, t in NUMERIC_DTYPES.items()}


def set_array(con, key, arr):
    arr = np.ascontiguousarray(arr)
    return con.execute_command(
        "AI.TENSORSET", key, _DTYPE_NAMES[arr.dtype], *arr.shape, "BLOB", arr.tobytes()
    )


def get_array(con, key):
    meta = meta_dict(con.execute_command("AI.TENSORGET", key, "META", "BLOB"))
    dtype = NUMERIC_DTYPES[meta["dtype"].decode()]
    return np.frombuffer(meta["blob"], dtype=dtype).reshape(meta["shape"])


def store(con, key, backend, blob, *options, device="CPU"):
    return con.execute_command("AI.MODELSTORE", key, backend, device, *options, "BLOB", blob)


def modelexecute(model, inputs, outputs, *tail):
    """The arguments of AI.MODELEXECUTE model INPUTS n ... OUTPUTS m ... *tail."""
    scopes = ("INPUTS", len(inputs), *inputs, "OUTPUTS", len(outputs), *outputs)
    return ("AI.MODELEXECUTE", model, *scopes, *tail)


def execute(con, model, inputs, outputs, *tail):
    return con.execute_command(*modelexecute(model, inputs, outputs, *tail))


def set_operands(con):
    """The keys the error tables name: a and b (FLOAT 2x2), str (a string), lst (a list)."""
    set_array(con, "a", np.arange(4, dtype=np.float32).reshape(2, 2))
    set_array(con, "b", np.ones((2, 2), dtype=np.float32))
    con.set("str", "value")
    con.rpush("lst", "x", "y")


def model_meta(con, key):
    return meta_dict(con.execute_command("AI.MODELGET", key, "META"))


def model_blob(con, key):
    """The model bytes of AI.MODELGET BLOB, joined if chunked."""
    reply = con.execute_command("AI.MODELGET", key, "BLOB")
    return b"".join(reply) if isinstance(reply, list) else reply


def model_state(con, keys):
    """{key: (META dict, bytes)} of models, to compare across reloads and servers."""
    return {k: (model_meta(con, k), model_blob(con, k)) for k in keys}


def connect(env):
    """The master's connection. With a replica, the replica is linked first: Redis would
    wait repl-diskless-sync-delay (5 s) before the first sync, and stopping a server
    during that wait costs as much again."""
    con = env.getConnection()
    if env.useSlaves:
        con.config_set("repl-diskless-sync-delay", 0)
        wait_replica(env, con)
    return con


def servers(env):
    """The master's connection, and the replica's when the env has one."""
    cons = [env.getConnection()]
    if env.useSlaves:
        cons.append(env.getSlaveConnection())
    return cons


# ---------------------------------------------------------------------------------------
# A backend's round trip: its models stored and run against the framework in process, then
# found intact, outputs included, after a reload, a restart or a sync. Each backend's test
# file gives its own store_models(con) -> keys and run_models(env, con, rng, prefix) ->
# {output key: expected array}.


class RoundTrip:
    def __init__(self, store_models, run_models, tolerance=0.0):
        self.store_models = store_models
        self.run_models = run_models
        self.tolerance = tolerance  # 0: outputs bit-identical to the framework's

    def check_outputs(self, env, con, expected):
        for key, want in expected.items():
            got = get_array(con, key)
            env.assertEqual(got.dtype, want.dtype, message=key)
            if self.tolerance:
                tol = self.tolerance
                np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=key)
            else:
                np.testing.assert_array_equal(got, want, err_msg=key)

    def start(self, env, con, seed):
        """Stores the models and runs them once: (keys, expected outputs, model state)."""
        keys = self.store_models(con)
        expected = self.run_models(env, con, np.random.default_rng(seed), "r")
        return keys, expected, model_state(con, keys)

    def check_replicas(self, env, con, expected, keys=()):
        """The replica, if any, once in sync: the same models (keys) and outputs."""
        wait_replica(env, con)
        for c in servers(env)[1:]:
            if keys:
                env.assertEqual(model_state(c, keys), model_state(con, keys))
            self.check_outputs(env, c, expected)

    def check_replica_copies(self, env, con, keys, outputs, fmt=("BLOB",)):
        """Once in sync, the replica has the same models (keys) and output tensors (AI.TENSORGET
        key *fmt) as con's server."""
        wait_replica(env, con)
        replica = env.getSlaveConnection()
        env.assertEqual(model_state(replica, keys), model_state(con, keys))
        for key in outputs:
            env.assertEqual(
                replica.execute_command("AI.TENSORGET", key, *fmt),
                con.execute_command("AI.TENSORGET", key, *fmt),
                message=key,
            )

    def check_everywhere(self, env, state, expected):
        """Every server has the models (META and bytes as before) and their earlier
        outputs; the models run again with the framework's results."""
        con = connect(env)
        for c in servers(env):
            env.assertEqual(model_state(c, list(state)), state)
            self.check_outputs(env, c, expected)
        self.run_models(env, con, np.random.default_rng(99), "again")
