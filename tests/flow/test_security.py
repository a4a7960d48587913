"""A server shared by many clients (roadmap R5): models and scripts cannot reach the host,
scripts' model calls obey the caller's ACL, one command cannot allocate without bound.

Every hostile model here is made by the test itself. Each is refused when stored with the
spec's text, reads and creates no file, leaves the keyspace as it was and the server up.
A hostile model or script that arrives as the server's own data (RESTORE here, then DEBUG
RELOAD / AOF reload / a replica) is kept, but every run of it is refused with that text.
"""

import io
import os
import shutil
import tempfile
import zipfile

import numpy as np
import onnx
import redis
import torch
import error_texts as texts
from error_texts import CALL_ERROR, EXTERNAL, NOPERM_KEYS, err
from includes import RawConnection, keyspace, resp_command, wait_replica
from model_zoo import connect, get_array, onnx_blob, servers, set_array, store, torch_blob
from onnx import TensorProto
from RLTest import Env
from tf_zoo import saved_model_zip, tflite_blob

# Texts as they travel on the wire (raw_error reads them with their prefix).
MODEL_FORBIDDEN = err(texts.MODEL_FORBIDDEN)
SCRIPT_FORBIDDEN = err(texts.SCRIPT_FORBIDDEN)
TOO_LARGE = err(texts.TENSOR_TOO_LARGE)


def scratch_dir():
    """A fresh directory for files a hostile model would create: it must stay empty."""
    return tempfile.mkdtemp(prefix="cyrai-sec-")


def raw_error(con, *args, auth=None):
    """The exact error line of a command (prefix included), or fails; auth: (user,
    password) to send it as."""
    with RawConnection(con) as raw:
        if auth:
            assert raw.call("AUTH", *auth) == ("+", b"OK")
        kind, text = raw.call(*args)
    assert kind == "-", (args[:2], kind, text)
    return text.decode()


# ---------------------------------------------------------------------------------------
# Hostile TorchScript, built here


class FromFile(torch.nn.Module):
    """Returns the first bytes of /etc/passwd as a tensor (the first hole)."""

    def forward(self, x):
        return torch.from_file("/etc/passwd", False, 16, dtype=torch.uint8).float() + x


class Saver(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def forward(self, x):
        torch.save(x, self.path)
        return x


class Outer(torch.nn.Module):
    """The file-writing operator sits in a submodule's helper method."""

    def __init__(self, path):
        super().__init__()
        self.inner = Inner(path)

    def forward(self, x):
        return self.inner(x) + 1


class Inner(torch.nn.Module):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def forward(self, x):
        return self.helper(x)

    @torch.jit.export
    def helper(self, x):
        torch.save(x, self.path)
        return x


class SetState(torch.nn.Module):
    """torch.jit.load runs __setstate__ while loading: the write would happen at store."""

    def __init__(self, path: str):
        super().__init__()
        self.path = path

    def forward(self, x):
        return x

    @torch.jit.export
    def __getstate__(self):
        return (self.path, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]):
        self.path = state[0]
        self.training = state[1]
        torch.save(torch.ones(1), self.path)


def torch_bytes(module):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buf)
    return buf.getvalue()


def hostile_torch(path):
    """(name, blob, forbidden operator)."""
    return [
        ("from_file", torch_bytes(FromFile()), "aten::from_file"),
        ("save", torch_bytes(Saver(path)), "aten::save"),
        ("submodule", torch_bytes(Outer(path)), "aten::save"),
        ("setstate", torch_bytes(SetState(path)), "aten::save"),
    ]


ENTRY = "f"
HOSTILE_SCRIPTS = [
    (
        "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
        '    return torch.from_file("/etc/passwd", False, 16, dtype=torch.uint8)\n',
        "aten::from_file",
    ),
    (
        "def g(t: Tensor, path: str):\n"
        "    torch.save(t, path)\n"
        "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
        "    g(tensors[0], args[0])\n"
        "    return tensors[0]\n",
        "aten::save",
    ),
]
SAFE_SCRIPT = (
    "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n    return tensors[0] + 1\n"
)


# ---------------------------------------------------------------------------------------
# Hostile TF, ONNX, TFLite


def _graph_def(build):
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        build(tf)
    return graph.as_graph_def().SerializeToString()


SAVED_NAMES = ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "sum")


def tf_read_file():
    def build(tf):
        a = tf.compat.v1.placeholder(tf.string, name="a")
        tf.identity(tf.io.read_file(a), name="out")

    return _graph_def(build)


def tf_write_file(path):
    def build(tf):
        a = tf.compat.v1.placeholder(tf.string, name="a")
        with tf.control_dependencies([tf.io.write_file(path, a)]):
            tf.identity(a, name="out")

    return _graph_def(build)


def tf_restore_absolute():
    """The test SavedModel, its restore function reading from an absolute path instead of
    the directory the loader gives it."""
    from tensorflow.core.framework import node_def_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    src = zipfile.ZipFile(io.BytesIO(saved_model_zip()))
    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(src.read("saved_model.pb"))
    for function in saved.meta_graphs[0].graph_def.library.function:
        for node in function.node_def:
            if node.op == "RestoreV2":
                const = node_def_pb2.NodeDef(name="abs_prefix", op="Const")
                const.attr["dtype"].type = 7  # DT_STRING
                const.attr["value"].tensor.dtype = 7
                const.attr["value"].tensor.string_val.append(b"/etc/cyrai/variables")
                function.node_def.append(const)
                node.input[0] = "abs_prefix:output:0"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = saved.SerializeToString() if name == "saved_model.pb" else src.read(name)
            dst.writestr(name, data)
    return out.getvalue()


def onnx_external(location):
    model = onnx.ModelProto()
    model.ParseFromString(onnx_blob("mlp"))
    init = model.graph.initializer[0]
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", location
    return model.SerializeToString()


def tflite_flex_read_file():
    """A TFLite model whose one operator is TF's ReadFile, run through the Flex delegate."""
    import tensorflow as tf

    class ReadIt(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string, name="p")])
        def __call__(self, p):
            return tf.strings.length(tf.io.read_file(p))

    module = ReadIt()
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.__call__.get_concrete_function()], module
    )
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    return converter.convert()


def check_store_refused(env, con, args, want, files=()):
    """Refused with want, nothing stored, no file made, server up."""
    snapshot = keyspace(con)
    env.assertEqual(raw_error(con, *args), want, message=str(args[:3]))
    env.assertEqual(keyspace(con), snapshot)
    for path in files:
        env.assertFalse(os.path.exists(path), message=path)
    env.assertTrue(con.ping())


def test_torch_hostile_models(env):
    """The first hole: a model reading /etc/passwd into a tensor; also writes through
    torch.save, in a submodule's method, and in __setstate__ (run by the loader)."""
    con = connect(env)
    set_array(con, "x", np.ones(16, np.float32))
    tmp = scratch_dir()
    try:
        path = os.path.join(tmp, "written")
        hostile = hostile_torch(path)
        for name, blob, op in hostile:
            for command in ("AI.MODELSTORE", "AI.MODELSET"):
                args = (command, name, "TORCH", "CPU", "BLOB", blob)
                check_store_refused(env, con, args, MODEL_FORBIDDEN % op, [path])
        for source, op in HOSTILE_SCRIPTS:
            for args in (
                ("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, ENTRY, "SOURCE", source),
                ("AI.SCRIPTSET", "s", "CPU", "SOURCE", source),
            ):
                check_store_refused(env, con, args, SCRIPT_FORBIDDEN % op, [path])
        # Inside MULTI the model is built in place: refused all the same.
        pipe = con.pipeline(transaction=True)
        pipe.execute_command("AI.MODELSTORE", "multi", "TORCH", "CPU", "BLOB", hostile[0][1])
        (reply,) = pipe.execute(raise_on_error=False)
        env.assertEqual(str(reply), texts.MODEL_FORBIDDEN % "aten::from_file")
        env.assertEqual(con.exists("multi"), 0)
        # Legitimate models and scripts still load and run.
        env.assertEqual(store(con, "m", "TORCH", torch_blob("add")), b"OK")
        env.assertEqual(
            con.execute_command(
                "AI.SCRIPTSTORE", "ok", "CPU", "ENTRY_POINTS", 1, ENTRY, "SOURCE", SAFE_SCRIPT
            ),
            b"OK",
        )
        env.assertEqual(os.listdir(tmp), [])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_tf_hostile_models(env):
    con = connect(env)
    tmp = scratch_dir()
    try:
        path = os.path.join(tmp, "written")
        io_args = ("INPUTS", 1, "a", "OUTPUTS", 1, "out")
        table = [
            (tf_read_file(), io_args, "ReadFile"),
            (tf_write_file(path), io_args, "WriteFile"),
            (tf_restore_absolute(), SAVED_NAMES, "RestoreV2"),
        ]
        for blob, names, op in table:
            args = ("AI.MODELSTORE", "m", "TF", "CPU", *names, "BLOB", blob)
            check_store_refused(env, con, args, MODEL_FORBIDDEN % op, [path])
        env.assertEqual(store(con, "ok", "TF", saved_model_zip(), *SAVED_NAMES), b"OK")
        env.assertEqual(os.listdir(tmp), [])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_onnx_and_tflite_hostile_models(env):
    con = connect(env)
    for location in ("/etc/passwd", "../../etc/passwd", "w.bin"):
        args = ("AI.MODELSTORE", "m", "ONNX", "CPU", "BLOB", onnx_external(location))
        check_store_refused(env, con, args, EXTERNAL)
    args = ("AI.MODELSTORE", "m", "TFLITE", "CPU", "BLOB", tflite_flex_read_file())
    check_store_refused(env, con, args, MODEL_FORBIDDEN % "FlexReadFile")
    env.assertEqual(store(con, "ok", "TFLITE", tflite_blob("dense")), b"OK")
    env.assertEqual(store(con, "ok2", "ONNX", onnx_blob("mlp")), b"OK")


# ---------------------------------------------------------------------------------------
# Kept from the server's own data: a DUMP payload made here stands for an old RDB file


def crc64(data):
    """Redis's CRC-64 (Jones polynomial, reflected)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x95AC9329AC4BC9B5 if crc & 1 else 0)
    return crc


def rdb_len(n):
    if n < 64:
        return bytes([n])
    if n < 16384:
        return bytes([0x40 | (n >> 8), n & 0xFF])
    if n < 2**32:
        return b"\x80" + n.to_bytes(4, "big")
    return b"\x81" + n.to_bytes(8, "big")


def swap_payload(payload, old, new, extra=b""):
    """A DUMP payload of a module value with one string field old (and any `extra` bytes
    that follow it in the same field) replaced by new, its framing and checksum redone."""
    body = payload[:-10]
    field = b"\x05" + rdb_len(len(old + extra)) + old + extra
    at = body.find(field)
    assert at > 0 and body.count(field) == 1
    body = body[:at] + b"\x05" + rdb_len(len(new + extra)) + new + extra + body[at + len(field) :]
    return body, payload[-10:-8]


def model_payload(con, hostile):
    """The DUMP payload a model with blob `hostile` would have (stored as the "add" model)."""
    con.config_set("rdbcompression", "no")  # the bytes are found as they are
    store(con, "legit", "TORCH", torch_blob("add"))
    payload = con.dump("legit")
    con.delete("legit")
    legit = torch_blob("add")
    # bloblen (unsigned), chunk count, the one chunk.
    old = b"\x02" + rdb_len(len(legit)) + b"\x02\x01"
    new = b"\x02" + rdb_len(len(hostile)) + b"\x02\x01"
    at = payload.find(old + b"\x05" + rdb_len(len(legit)) + legit)
    assert at > 0
    body = (
        payload[:at]
        + new
        + b"\x05"
        + rdb_len(len(hostile))
        + hostile
        + payload[at + len(old) + 1 + len(rdb_len(len(legit))) + len(legit) : -10]
    )
    version = payload[-10:-8]
    return body + version + crc64(body + version).to_bytes(8, "little")


def script_payload(con, hostile):
    con.config_set("rdbcompression", "no")
    con.execute_command(
        "AI.SCRIPTSTORE", "legit", "CPU", "ENTRY_POINTS", 1, ENTRY, "SOURCE", SAFE_SCRIPT
    )
    payload = con.dump("legit")
    con.delete("legit")
    body, version = swap_payload(payload, SAFE_SCRIPT.encode(), hostile.encode(), b"\0")
    return body + version + crc64(body + version).to_bytes(8, "little")


def test_kept_but_never_run(env):
    """RESTORE (and, after it, RDB reload, AOF reload and the replica) keeps a refused
    model and script: the keys survive byte for byte, every run is refused."""
    con = connect(env)
    set_array(con, "x", np.ones(16, np.float32))
    model = model_payload(con, torch_bytes(FromFile()))
    script = script_payload(con, HOSTILE_SCRIPTS[0][0])
    env.assertEqual(con.restore("m", 0, model), b"OK")
    env.assertEqual(con.restore("s", 0, script), b"OK")
    want_model = MODEL_FORBIDDEN % "aten::from_file"
    want_script = SCRIPT_FORBIDDEN % "aten::from_file"
    run_model = ("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    run_script = ("AI.SCRIPTEXECUTE", "s", ENTRY, "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    dag = ("AI.DAGEXECUTE", "LOAD", 1, "x", "|>", *run_model)
    call = (
        "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
        "    return redisAI.model_execute(keys[0], tensors, 1)[0]\n"
    )
    con.execute_command("AI.SCRIPTSTORE", "caller", "CPU", "ENTRY_POINTS", 1, ENTRY, "SOURCE", call)
    by_script = ("AI.SCRIPTEXECUTE", "caller", ENTRY, "KEYS", 1, "m", "INPUTS", 1, "x")
    by_script += ("OUTPUTS", 1, "y")
    digests = [con.execute_command("DEBUG", "DIGEST-VALUE", "m", "s")]
    for reload in (False, True):
        if reload:
            env.dumpAndReload()
            con = env.getConnection()
        env.assertEqual(raw_error(con, *run_model), want_model)
        env.assertEqual(raw_error(con, *run_script), want_script)
        env.assertEqual(raw_error(con, *dag), want_model)
        env.assertEqual(raw_error(con, *by_script), want_model)
        env.assertEqual(con.exists("y"), 0)
        env.assertEqual(con.execute_command("AI.MODELGET", "m", "META")[1], b"TORCH")
        digests.append(con.execute_command("DEBUG", "DIGEST-VALUE", "m", "s"))
    env.assertEqual(digests[0], digests[1])
    wait_replica(env, con)
    for c in servers(env)[1:]:
        env.assertEqual(c.execute_command("DEBUG", "DIGEST-VALUE", "m", "s"), digests[0])


def aof_incr_file(con):
    """The path of the AOF's current incremental file (Redis 7 multi-part AOF)."""
    directory = con.config_get("dir")["dir"]
    aofdir = os.path.join(directory, con.config_get("appenddirname")["appenddirname"])
    manifest = os.path.join(aofdir, con.config_get("appendfilename")["appendfilename"])
    with open(manifest + ".manifest") as f:
        files = [line.split() for line in f]
    incr = [f[f.index("file") + 1] for f in files if f[f.index("type") + 1] == "i"]
    return os.path.join(aofdir, incr[-1])


def test_kept_from_aof(env):
    """AI.MODELSTORE and AI.SCRIPTSTORE of refused bytes replayed from the AOF (as an
    older server would have written them) keep the keys, unrunnable."""
    if not env.useAof:
        env.skip()
    con = connect(env)
    set_array(con, "x", np.ones(16, np.float32))
    con.execute_command("DEBUG", "LOADAOF")  # everything so far is on disk
    with open(aof_incr_file(con), "ab") as f:
        f.write(resp_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", torch_bytes(FromFile())))
        f.write(resp_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, ENTRY, "SOURCE",
                     HOSTILE_SCRIPTS[0][0]))  # fmt: skip
    con.execute_command("DEBUG", "LOADAOF")
    env.assertEqual(
        raw_error(con, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"),
        MODEL_FORBIDDEN % "aten::from_file",
    )
    env.assertEqual(
        raw_error(con, "AI.SCRIPTEXECUTE", "s", ENTRY, "INPUTS", 1, "x", "OUTPUTS", 1, "y"),
        SCRIPT_FORBIDDEN % "aten::from_file",
    )
    env.assertEqual(
        con.execute_command("AI.SCRIPTGET", "s", "SOURCE"), HOSTILE_SCRIPTS[0][0].encode()
    )
    env.assertEqual(sorted(con.keys("*")), [b"m", b"s", b"x"])


# ---------------------------------------------------------------------------------------
# ACL inside scripts


def user_connection(con, user, password):
    kw = con.connection_pool.connection_kwargs
    return redis.Redis(
        host=kw.get("host", "localhost"), port=kw["port"], username=user, password=password
    )


CALLS = """\
def model(tensors: List[Tensor], keys: List[str], args: List[str]):
    return redisAI.model_execute(args[0], [tensors[0], tensors[0]], 1)[0]

def get(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("GET", args[0])
    return tensors[0]

def set(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", args[0], "v")
    return tensors[0]

def same(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0]
"""


def test_acl(env):
    """A user limited to ~allowed:* runs nothing of secret:* from inside a script: not
    the model (the second hole), not GET/SET, not inputs or outputs; nothing written."""
    con = connect(env)
    con.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~allowed:*", "+@all")
    store(con, "secret:m", "TORCH", torch_blob("add"))
    store(con, "allowed:m", "TORCH", torch_blob("add"))
    con.execute_command(
        "AI.SCRIPTSTORE", "allowed:s", "CPU", "ENTRY_POINTS", 4, "model", "get", "set", "same",
        "SOURCE", CALLS,
    )  # fmt: skip
    for key in ("allowed:x", "secret:x"):
        set_array(con, key, np.ones(2, np.float32))
    con.set("secret:k", "v")
    app = user_connection(con, "app", "pw")
    env.assertEqual(app.execute_command("ACL", "WHOAMI"), b"app")

    def script(fn, key, inp="allowed:x", out="allowed:y", arg="allowed:a"):
        """The key is declared, arg is not (the script names it to redis.execute)."""
        return ("AI.SCRIPTEXECUTE", "allowed:s", fn, "KEYS", 1, key, "INPUTS", 1, inp,
                "ARGS", 1, arg, "OUTPUTS", 1, out)  # fmt: skip

    denied = [
        (script("model", "allowed:k", arg="secret:m"), NOPERM_KEYS),
        (script("model", "secret:m"), NOPERM_KEYS),
        (script("get", "allowed:k", arg="secret:k"), CALL_ERROR + NOPERM_KEYS),
        (script("set", "allowed:k", arg="secret:k"), CALL_ERROR + NOPERM_KEYS),
        (script("get", "secret:k"), NOPERM_KEYS),
        (script("same", "allowed:k", inp="secret:x"), NOPERM_KEYS),
        (script("same", "allowed:k", out="secret:y"), NOPERM_KEYS),
        (
            (
                "AI.MODELEXECUTE",
                "secret:m",
                "INPUTS",
                2,
                "allowed:x",
                "allowed:x",
                "OUTPUTS",
                1,
                "allowed:y",
            ),
            NOPERM_KEYS,
        ),  # fmt: skip
        (
            ("AI.DAGEXECUTE", "LOAD", 1, "secret:x", "|>", "AI.TENSORGET", "secret:x", "META"),
            NOPERM_KEYS,
        ),  # fmt: skip
        (
            (
                "AI.DAGEXECUTE",
                "LOAD",
                1,
                "allowed:x",
                "|>",
                "AI.MODELEXECUTE",
                "secret:m",
                "INPUTS",
                2,
                "allowed:x",
                "allowed:x",
                "OUTPUTS",
                1,
                "y",
            ),  # fmt: skip
            NOPERM_KEYS,
        ),
        (
            (
                "AI.DAGEXECUTE",
                "LOAD",
                1,
                "allowed:x",
                "|>",
                "AI.SCRIPTEXECUTE",
                "secret:s",
                "f",
                "INPUTS",
                1,
                "allowed:x",
                "OUTPUTS",
                1,
                "y",
            ),  # fmt: skip
            NOPERM_KEYS,
        ),
        (("AI.MODELGET", "secret:m", "META"), NOPERM_KEYS),
        (
            (
                "AI.DAGEXECUTE",
                "LOAD",
                1,
                "allowed:x",
                "PERSIST",
                1,
                "secret:y",
                "|>",
                "AI.SCRIPTEXECUTE",
                "allowed:s",
                "same",
                "INPUTS",
                1,
                "allowed:x",
                "OUTPUTS",
                1,
                "secret:y",
            ),
            NOPERM_KEYS,
        ),  # fmt: skip
    ]
    snapshot = keyspace(con)
    for args, want in denied:
        env.assertEqual(raw_error(con, *args, auth=("app", "pw")), want, message=str(args[:3]))
        env.assertEqual(keyspace(con), snapshot, message=str(args[:3]))
    # What the user may do still works.
    env.assertEqual(app.execute_command(*script("model", "allowed:k", arg="allowed:m")), b"OK")
    env.assertEqual(get_array(con, "allowed:y").tolist(), [2.0, 2.0])
    env.assertTrue(con.ping())


# ---------------------------------------------------------------------------------------
# Memory


def test_tensor_too_large(env):
    """The third hole: 2^33 one-byte elements would be an 8 GB allocation; refused at
    once under the default cap, and under a small one, the server up."""
    con = connect(env)
    set_array(con, "kept", np.ones(2048, np.float32))  # 8 KB, stored under the default cap
    snapshot = keyspace(con)
    env.assertEqual(raw_error(con, "AI.TENSORSET", "big", "UINT8", 2**33), TOO_LARGE)
    env.assertEqual(raw_error(con, "AI.TENSORSET", "big", "FLOAT", 2**30, 2**30), TOO_LARGE)
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "TENSOR_MAX_BYTES"), 512 * 2**20)
    try:
        env.assertEqual(con.execute_command("AI.CONFIG", "TENSOR_MAX_BYTES", 4096), b"OK")
        env.assertEqual(con.execute_command("AI.CONFIG", "GET", "TENSOR_MAX_BYTES"), 4096)
        env.assertEqual(raw_error(con, "AI.TENSORSET", "big", "UINT8", 2**33), TOO_LARGE)
        env.assertEqual(raw_error(con, "AI.TENSORSET", "big", "UINT8", 4097), TOO_LARGE)
        env.assertEqual(
            raw_error(con, "AI.TENSORSET", "big", "FLOAT", 1025, "BLOB", b"\0" * 4100), TOO_LARGE
        )
        env.assertEqual(keyspace(con), snapshot)
        env.assertEqual(con.execute_command("AI.TENSORSET", "ok", "UINT8", 4096), b"OK")
        # A model's output over the cap is an error reply, and writes nothing.
        big = (
            "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
            "    return torch.zeros(100000)\n"
        )
        con.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, ENTRY, "SOURCE", big)
        env.assertEqual(
            raw_error(con, "AI.SCRIPTEXECUTE", "s", ENTRY, "INPUTS", 1, "ok", "OUTPUTS", 1, "y"),
            TOO_LARGE,
        )
        env.assertEqual(con.exists("y"), 0)
        # What the server holds loads whatever the cap is now.
        env.dumpAndReload()
        con = env.getConnection()
        env.assertEqual(get_array(con, "kept").tolist(), [1.0] * 2048)
        for bad in ("0", "-1", "x"):
            env.assertEqual(
                raw_error(con, "AI.CONFIG", "TENSOR_MAX_BYTES", bad),
                err(texts.TENSOR_MAX_INVALID),
            )
        env.assertEqual(
            raw_error(con, "AI.CONFIG", "TENSOR_MAX_BYTES"), err(texts.TENSOR_MAX_MISSING)
        )
    finally:
        con.execute_command("AI.CONFIG", "TENSOR_MAX_BYTES", 512 * 2**20)
    env.assertTrue(con.ping())


def test_tensor_max_bytes_at_load():
    env = Env(moduleArgs="TENSOR_MAX_BYTES 64")
    con = connect(env)
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "TENSOR_MAX_BYTES"), 64)
    env.assertEqual(raw_error(con, "AI.TENSORSET", "t", "FLOAT", 17), TOO_LARGE)
    env.assertEqual(con.execute_command("AI.TENSORSET", "t", "FLOAT", 16), b"OK")
    env.assertEqual(raw_error(con, "AI.TENSORSET", "big", "UINT8", 2**33), TOO_LARGE)
    env.assertTrue(con.ping())
