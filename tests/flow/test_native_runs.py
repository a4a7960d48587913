"""Native runs (NATIVE_RUNS, src/native_run.h): every backend's models and scripts give the
same replies, outputs and error texts whether workers run them natively or through Python.

Two servers of their own run side by side, one loaded with `NATIVE_RUNS no` (every run on
the Python path) and one with the default; each case sends the same commands to both and
compares every reply. Both keep running for the whole file."""

import atexit
import threading
import time

import numpy as np
import redis
from includes import MODULE, RedisServer, refused_load
from model_zoo import get_array, onnx_blob, set_array, store, torch_blob, torch_bytes


class Server:
    """A server of its own with the module loaded with module_args (verbose log: the bridge
    logs the native runners it takes)."""

    def __init__(self, *module_args):
        self.server = RedisServer(MODULE, module_args, ["--loglevel", "verbose"])
        self.server.start()
        self.con = self.connection()

    @property
    def log(self):
        return self.server.log_path

    def connection(self, **kwargs):
        return redis.Redis(host=self.server.host, port=self.server.port, **kwargs)

    def stop(self):
        self.server.stop()


_servers = {}


def servers():
    """{"python": server with NATIVE_RUNS no, "native": server with the default}, both
    kept for the whole file."""
    if not _servers:
        _servers["python"] = Server("NATIVE_RUNS", "no")
        _servers["native"] = Server("THREADS_PER_QUEUE", "2")
        atexit.register(lambda: [s.stop() for s in _servers.values()])
    return _servers


def reply(con, *args):
    """A command's reply, or ("error", its text)."""
    try:
        return con.execute_command(*args)
    except redis.ResponseError as e:
        return ("error", str(e))


def both(env, *commands):
    """Sends each command to both servers; asserts the replies agree; returns them."""
    replies = []
    for args in commands:
        got = {name: reply(s.con, *args) for name, s in servers().items()}
        env.assertEqual(got["native"], got["python"], message=f"{args[:2]}")
        replies.append(got["native"])
    return replies


def set_both(key, arr):
    for s in servers().values():
        set_array(s.con, key, arr)


def store_both(env, key, backend, blob, *options):
    for s in servers().values():
        env.assertEqual(store(s.con, key, backend, blob, *options), b"OK")


def outputs_agree(env, keys):
    """The output tensors are equal on both servers, dtype, shape and bytes."""
    for key in keys:
        got = [reply(s.con, "AI.TENSORGET", key, "META", "BLOB") for s in servers().values()]
        env.assertEqual(got[0], got[1], message=key)


def execute(model, inputs, outputs, *tail):
    return (
        "AI.MODELEXECUTE",
        model,
        "INPUTS",
        len(inputs),
        *inputs,
        "OUTPUTS",
        len(outputs),
        *outputs,
        *tail,
    )


RNG = np.random.default_rng(12)


# ---------------------------------------------------------------------------------------
# TORCH models


def test_native_runs_no_is_the_only_other_value(env):
    status, log = refused_load("NATIVE_RUNS", "maybe")
    env.assertNotEqual(status, 0)
    env.assertContains("ERR error processing argument: NATIVE_RUNS maybe", log)


def test_torch_models_both_ways(env):
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    b = RNG.standard_normal((2, 3)).astype(np.float32)
    set_both("ta", a)
    set_both("tb", b)
    set_both("tx", RNG.standard_normal((5, 4)).astype(np.float32))
    set_both("ti", np.arange(6, dtype=np.int32).reshape(2, 3))
    set_both("tc", RNG.standard_normal((3, 3)).astype(np.float32))
    for name in ("add", "addmul", "argmax", "mlp", "sum5"):
        store_both(env, f"torch_{name}", "TORCH", torch_blob(name))
    both(
        env,
        execute("torch_add", ["ta", "tb"], ["o_add"]),
        execute("torch_add", ["ti", "ti"], ["o_iadd"]),
        execute("torch_addmul", ["ta", "tb"], ["o_sum", "o_prod"]),
        execute("torch_argmax", ["ta"], ["o_argmax"]),
        execute("torch_mlp", ["tx"], ["o_mlp"]),
        execute("torch_sum5", ["ta", "tb", "ta", "tb", "ta"], ["o_sum5"]),
        # torch's own errors: a shape mismatch, a dtype mismatch
        execute("torch_add", ["ta", "tc"], ["o_bad"]),
        execute("torch_mlp", ["ti"], ["o_bad"]),
        ("AI.MODELRUN", "torch_add", "INPUTS", "ta", "tb", "OUTPUTS", "o_run"),
    )
    outputs_agree(env, ["o_add", "o_iadd", "o_sum", "o_prod", "o_argmax", "o_mlp", "o_sum5"])
    con = servers()["native"].con
    np.testing.assert_allclose(get_array(con, "o_add"), a + b, rtol=1e-6)
    env.assertEqual(get_array(con, "o_argmax").tolist(), np.argmax(a, axis=1).tolist())
    env.assertFalse(con.exists("o_bad"))


def _module_without_runner():
    """A model whose forward takes an Optional tensor: it keeps the Python path."""
    import torch

    class Maybe(torch.nn.Module):
        def forward(self, x, y: torch.Tensor | None):
            return x if y is None else x - y

    return torch_bytes(torch.jit.script(Maybe()))


def test_model_without_runner_still_runs(env):
    set_both("wa", np.ones((2, 2), np.float32))
    set_both("wb", np.full((2, 2), 3, np.float32))
    store_both(env, "torch_maybe", "TORCH", _module_without_runner())
    both(env, execute("torch_maybe", ["wa", "wb"], ["w_out"]))
    outputs_agree(env, ["w_out"])
    env.assertEqual(get_array(servers()["native"].con, "w_out").tolist(), [[-2, -2], [-2, -2]])


def test_non_contiguous_and_scalar_outputs(env):
    import torch

    class Shapes(torch.nn.Module):
        def forward(self, x) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            return x.t(), x.sum(), x[:, ::2].to(torch.float64)

    store_both(env, "torch_shapes", "TORCH", torch_bytes(torch.jit.script(Shapes())))
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    set_both("sx", x)
    both(env, execute("torch_shapes", ["sx"], ["s_t", "s_sum", "s_half"]))
    outputs_agree(env, ["s_t", "s_sum", "s_half"])
    con = servers()["native"].con
    env.assertEqual(get_array(con, "s_t").tolist(), x.T.tolist())
    env.assertEqual(get_array(con, "s_half").tolist(), x[:, ::2].tolist())


def test_wrong_output_kind_and_count(env):
    import torch

    class Three(torch.nn.Module):
        def forward(self, x) -> list[torch.Tensor]:
            return [x, x, x]

    class Number(torch.nn.Module):
        def forward(self, x) -> int:
            return 3

    store_both(env, "torch_three", "TORCH", torch_bytes(torch.jit.script(Three())))
    store_both(env, "torch_number", "TORCH", torch_bytes(torch.jit.script(Number())))
    set_both("nx", np.ones(2, np.float32))
    (three, number) = both(
        env, execute("torch_three", ["nx"], ["n1"]), execute("torch_number", ["nx"], ["n1"])
    )
    env.assertEqual(three[0], "error")
    env.assertEqual(number[0], "error")


# ---------------------------------------------------------------------------------------
# Other backends (their native runners are their own; the Python path stays the reference)


def test_onnx_models_both_ways(env):
    store_both(env, "onnx_add", "ONNX", onnx_blob("add"))
    store_both(env, "onnx_mlp", "ONNX", onnx_blob("mlp"))
    set_both("oa", RNG.standard_normal((2, 3)).astype(np.float32))
    set_both("ob", RNG.standard_normal((2, 3)).astype(np.float32))
    set_both("ox", RNG.standard_normal((4, 4)).astype(np.float32))
    set_both("obad", RNG.standard_normal((3, 3)).astype(np.float32))
    both(
        env,
        execute("onnx_add", ["oa", "ob"], ["o_onnx_add"]),
        execute("onnx_mlp", ["ox"], ["o_onnx_y", "o_onnx_label"]),
        execute("onnx_add", ["oa", "obad"], ["o_onnx_bad"]),
    )
    outputs_agree(env, ["o_onnx_add", "o_onnx_y", "o_onnx_label"])


def test_tf_and_tflite_models_both_ways(env):
    from tf_zoo import tf_blob, tflite_blob

    store_both(env, "tf_mul", "TF", tf_blob("mul"), "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul")
    store_both(env, "tf_str", "TF", tf_blob("string"), "INPUTS", 1, "s", "OUTPUTS", 1, "out")
    store_both(env, "tfl_dense", "TFLITE", tflite_blob("dense"))
    set_both("fa", RNG.standard_normal((2, 2)).astype(np.float32))
    set_both("fb", RNG.standard_normal((2, 2)).astype(np.float32))
    set_both("fbad", RNG.standard_normal((3, 3)).astype(np.float32))
    set_both("fx", RNG.standard_normal((1, 4)).astype(np.float32))
    both(env, ("AI.TENSORSET", "fs", "STRING", 2, "VALUES", "x", "yz"))
    both(
        env,
        execute("tf_mul", ["fa", "fb"], ["o_tf_mul"]),
        execute("tf_mul", ["fa", "fbad"], ["o_tf_bad"]),
        execute("tf_str", ["fs"], ["o_tf_str"]),
        execute("tfl_dense", ["fx"], ["o_tfl"]),
    )
    outputs_agree(env, ["o_tf_mul", "o_tfl"])
    both(env, ("AI.TENSORGET", "o_tf_str", "VALUES"))


# ---------------------------------------------------------------------------------------
# Scripts

SCRIPT = """
def add(a, b):
    return a + b

def tail(a, rest: List[Tensor]):
    return a * len(rest)

def entry(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * float(args[0]), tensors[1][:, 0]

def with_redis(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], args[0])
    return tensors[0] + 1

def calls_model(tensors: List[Tensor], keys: List[str], args: List[str]):
    return redisAI.model_execute(keys[0], tensors, 1)

def nothing(tensors: List[Tensor], keys: List[str], args: List[str]):
    return 7

def broken(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]
"""
ENTRIES = ["entry", "with_redis", "calls_model", "nothing", "broken"]


def test_scripts_both_ways(env):
    store_both(env, "torch_add", "TORCH", torch_blob("add"))
    for s in servers().values():
        s.con.execute_command(
            "AI.SCRIPTSTORE", "sc", "CPU", "ENTRY_POINTS", len(ENTRIES), *ENTRIES, "SOURCE", SCRIPT
        )
    set_both("ca", RNG.standard_normal((2, 3)).astype(np.float32))
    set_both("cb", RNG.standard_normal((2, 3)).astype(np.float32))
    set_both("cc", RNG.standard_normal((3, 2)).astype(np.float32))
    both(env, ("AI.TENSORSET", "cs", "STRING", 1, "VALUES", "x"))

    def se(fn, inputs, outputs, keys=(), args=()):
        cmd = ["AI.SCRIPTEXECUTE", "sc", fn]
        for scope, items in (("KEYS", keys), ("INPUTS", inputs), ("ARGS", args)):
            if items:
                cmd += [scope, len(items), *items]
        if outputs:
            cmd += ["OUTPUTS", len(outputs), *outputs]
        return tuple(cmd)

    both(
        env,
        se("add", ["ca", "cb"], ["c_add"]),
        se("tail", ["ca", "cb", "cb"], ["c_tail"]),
        se("entry", ["ca", "cb"], ["c_e1", "c_e2"], args=["2.5"]),
        se("with_redis", ["ca"], ["c_redis"], keys=["c_str"], args=["hello"]),
        se("calls_model", ["ca", "cb"], ["c_model"], keys=["torch_add"]),
        se("nothing", ["ca"], []),
        # errors: torch's, a non-tensor result, a count, a missing function, a bad mapping,
        # a STRING input
        se("broken", ["ca", "cc"], ["c_bad"]),
        se("nothing", ["ca"], ["c_bad"]),
        se("entry", ["ca", "cb"], ["c_bad"], args=["2"]),
        se("missing", ["ca"], ["c_bad"]),
        se("add", ["ca"], ["c_bad"]),
        se("add", ["cs", "cs"], ["c_bad"]),
        ("GET", "c_str"),
        ("AI.SCRIPTRUN", "sc", "add", "INPUTS", "ca", "cb", "OUTPUTS", "c_run"),
    )
    outputs_agree(env, ["c_add", "c_tail", "c_e1", "c_e2", "c_redis", "c_model", "c_run"])
    env.assertFalse(servers()["native"].con.exists("c_bad"))


def test_dag_both_ways(env):
    store_both(env, "torch_add", "TORCH", torch_blob("add"))
    store_both(env, "onnx_add", "ONNX", onnx_blob("add"))
    for s in servers().values():
        s.con.execute_command("AI.SCRIPTSET", "dag_sc", "CPU", "SOURCE", SCRIPT)
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    set_both("da", a)
    blob = a.tobytes()
    both(
        env,
        (
            "AI.DAGEXECUTE", "LOAD", 1, "da", "|>",
            "AI.TENSORSET", "db", "FLOAT", 2, 3, "BLOB", blob, "|>",
            "AI.MODELEXECUTE", "torch_add", "INPUTS", 2, "da", "db", "OUTPUTS", 1, "dt", "|>",
            "AI.SCRIPTEXECUTE", "dag_sc", "add", "INPUTS", 2, "dt", "da", "OUTPUTS", 1, "ds",
            "|>",
            "AI.MODELEXECUTE", "onnx_add", "INPUTS", 2, "ds", "db", "OUTPUTS", 1, "do", "|>",
            "AI.TENSORGET", "do", "BLOB",
        ),
    )  # fmt: skip
    (out,) = both(
        env,
        (
            "AI.DAGEXECUTE", "LOAD", 1, "da", "|>",
            "AI.MODELEXECUTE", "torch_add", "INPUTS", 2, "da", "da", "OUTPUTS", 1, "dt", "|>",
            "AI.TENSORGET", "dt", "VALUES",
        ),
    )  # fmt: skip
    np.testing.assert_allclose(np.array(out[-1], np.float32), (a + a).ravel(), rtol=1e-6)


# ---------------------------------------------------------------------------------------
# Batching and TIMEOUT on the native path


def _in_threads(fns):
    results = [None] * len(fns)

    def call(i):
        try:
            results[i] = fns[i]()
        except Exception as e:  # noqa: BLE001 - reported as the result
            results[i] = e

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(fns))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_batching_native(env):
    """With MINBATCHSIZE 3 a run waits for two more: three concurrent requests complete
    only merged into one call, and each gets its own rows back."""
    infos = {}
    for name, s in servers().items():
        store(s.con, "torch_batch", "TORCH", torch_blob("add"), "BATCHSIZE", 4, "MINBATCHSIZE", 3)
        arrays = [np.full((1, 3), i, np.float32) for i in range(3)]
        for i, arr in enumerate(arrays):
            set_array(s.con, f"bx{i}", arr)

        def run(i, s=s):
            con = s.connection(socket_timeout=30)
            return con.execute_command(*execute("torch_batch", [f"bx{i}", f"bx{i}"], [f"by{i}"]))

        env.assertEqual(_in_threads([lambda i=i: run(i) for i in range(3)]), [b"OK"] * 3)
        for i in range(3):
            env.assertEqual(get_array(s.con, f"by{i}").tolist(), [[2 * i] * 3], message=name)
        info = dict(zip(*[iter(s.con.execute_command("AI.INFO", "torch_batch"))] * 2))
        infos[name] = (info[b"calls"], info[b"samples"], info[b"errors"])
    env.assertEqual(infos["native"], infos["python"])


def test_timeout_native(env):
    """A run queued behind long ones past its TIMEOUT replies TIMEDOUT on both paths."""
    from model_zoo import torch_blob as blob

    for name, s in servers().items():
        store(s.con, "torch_slow", "TORCH", blob("slow1"))
        store(s.con, "torch_fast", "TORCH", torch_blob("add"))
        set_array(s.con, "sl_x", np.ones((2, 2), np.float32))
        set_array(s.con, "sl_n", np.array(2000, np.int64))

        def slow(s=s):
            con = s.connection(socket_timeout=60)
            return con.execute_command(*execute("torch_slow", ["sl_x", "sl_n"], ["sl_y"]))

        def fast(s=s):
            time.sleep(0.2)  # the slow runs are on the workers by now
            con = s.connection(socket_timeout=60)
            return con.execute_command(
                *execute("torch_fast", ["sl_x", "sl_x"], ["sl_z"], "TIMEOUT", 1)
            )

        results = _in_threads([slow, slow, fast])
        env.assertEqual(results, [b"OK", b"OK", b"TIMEDOUT"], message=name)


def test_native_runners_in_use_only_by_default(env):
    """The bridge logs each native runner it takes (verbose): none with NATIVE_RUNS no."""
    store_both(env, "torch_log", "TORCH", torch_blob("add"))
    for s in servers().values():
        s.con.execute_command("AI.SCRIPTSET", "sc_log", "CPU", "SOURCE", SCRIPT)
    logs = {name: open(s.log).read() for name, s in servers().items()}
    for line in (
        "backends.torch object: native_runner",
        "backends.torch_script object: native_script",
    ):
        env.assertContains(line, logs["native"])
        env.assertNotContains(line, logs["python"])
