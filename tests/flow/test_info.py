"""Run statistics, configuration and server information (spec 6): every field and reply
type of AI.INFO, what counts as a call and an error, RESETSTAT, when statistics appear and
disappear; every subcommand and error text of AI.CONFIG and MODEL_CHUNK_SIZE's effect on
AI.MODELGET, the RDB and the AOF; the INFO MODULES sections (plus cyrai's ai_queues and
ai_latency) and the load-time arguments they report."""

import re
import time

import numpy as np
import torch
from error_texts import ARITY, LOAD_BACKEND, NO_RUN_INFO, READONLY, UNSUPPORTED_BACKEND
from includes import (
    aof_modelstore,
    rewrite_aof,
    resp_command,
    RawConnection,
    error_text,
    meta_dict,
    own_server,
    replied,
    wait_replica,
    wait_until,
)
from model_zoo import (
    modelexecute,
    connect,
    execute,
    get_array,
    model_blob,
    onnx_blob,
    set_array,
    store,
    torch_blob,
    torch_blob_of_length_multiple,
    torch_bytes,
    torch_run,
)

DEFAULT_CHUNK = 511 * 1024 * 1024
INFO_NAMES = ["key", "type", "backend", "device", "tag", "duration", "samples", "calls", "errors"]
SECTIONS = [
    "ai_versions",
    "ai_git",
    "ai_load_time_configs",
    "ai_backends_info",
    "ai_cpu",
    "ai_queues",
    "ai_latency",
    "ai_async_dags",
]
LOAD_TIME_FIELDS = [
    "ai_threads_per_queue",
    "ai_inter_op_parallelism",
    "ai_intra_op_parallelism",
    "ai_model_execution_timeout",
    "ai_backend_memory_limit",
]
CPU_FIELDS = [
    "ai_self_used_cpu_sys",
    "ai_self_used_cpu_user",
    "ai_children_used_cpu_sys",
    "ai_children_used_cpu_user",
    "ai_main_thread_used_cpu_sys",
    "ai_main_thread_used_cpu_user",
]


class FirstRow(torch.nn.Module):
    """(x[:1], x): the first output always has one row, whatever x has, so the samples
    AI.INFO counts (dim 0 of the first output) differ from the rows of the input."""

    def forward(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        return x[:1], x


FIRST_ROW = torch_bytes(torch.jit.script(FirstRow()))


def info(con, key):
    """AI.INFO as a dict with str names."""
    return meta_dict(con.execute_command("AI.INFO", key))


def counters(con, key):
    """(duration, samples, calls, errors) of key."""
    d = info(con, key)
    return d["duration"], d["samples"], d["calls"], d["errors"]


def modules_info(con):
    """The ai_* sections of INFO MODULES in order: [(section, [(field, value)])]."""
    with RawConnection(con) as raw:
        kind, text = raw.call("INFO", "MODULES")
    assert kind == "$", kind
    sections = []
    for line in text.decode().splitlines():
        if line.startswith("# "):
            sections.append((line[2:], []))
        elif line:
            name, _, value = line.partition(":")
            sections[-1][1].append((name, value))
    return [s for s in sections if s[0] != "Modules"]


def section(con, name):
    """{field: value} of one ai_* section."""
    return dict(dict(modules_info(con))[name])


def latency(con, key):
    """The ai_latency entry of a model as a dict: type, calls, errors, p50_us, p99_us."""
    value = section(con, "ai_latency")["ai_" + key]
    fields = dict(f.split("=") for f in value.split(","))
    return {k: v if k == "type" else int(v) for k, v in fields.items()}


def run_mlp(con, key, rows, out="y"):
    x = np.random.default_rng(rows).standard_normal((rows, 4)).astype(np.float32)
    set_array(con, "x", x)
    return execute(con, key, ["x"], [out])


# ---------------------------------------------------------------------------------------
# AI.INFO


def test_info_reply(env):
    """*18 of name/value pairs: bulk key, type, backend, device as given at store time,
    tag (empty if none), then integer duration, samples, calls, errors; all counters zero
    until the first run. cyrai's fields come after them (roadmap R3, R4:
    test_monitoring.py)."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"), "TAG", "v1", device="cpu")
    store(con, "untagged", "TORCH", torch_blob("mlp"))
    with RawConnection(con) as raw:
        kind, reply = raw.call("AI.INFO", "m")
        env.assertEqual(kind, "*")
        env.assertEqual(len(reply), 18 + 12)
        reply = reply[:18]
        env.assertEqual(reply[0::2], [("$", n.encode()) for n in INFO_NAMES])
        env.assertEqual(
            reply[1::2],
            [
                ("$", b"m"),
                ("$", b"MODEL"),
                ("$", b"TORCH"),
                ("$", b"cpu"),
                ("$", b"v1"),
                (":", 0),
                (":", 0),
                (":", 0),
                (":", 0),
            ],
        )
        env.assertEqual(raw.call("AI.INFO", "untagged")[1][8:10], [("$", b"tag"), ("$", b"")])
        env.assertEqual(raw.call("AI.INFO", "untagged")[1][6:8], [("$", b"device"), ("$", b"CPU")])
    env.assertEqual(run_mlp(con, "m", 3), b"OK")
    d = info(con, "m")
    env.assertGreater(d["duration"], 0)
    env.assertEqual((d["samples"], d["calls"], d["errors"]), (3, 1, 0))
    env.assertEqual(run_mlp(con, "m", 5), b"OK")
    d2 = info(con, "m")
    env.assertGreater(d2["duration"], d["duration"])
    env.assertEqual((d2["samples"], d2["calls"], d2["errors"]), (8, 2, 0))
    env.assertEqual(counters(con, "untagged"), (0, 0, 0, 0))  # per key


def test_samples_count_first_output(env):
    """samples adds dim 0 of the first output of each successful run, not of the inputs
    (FirstRow's first output always has one row); the deprecated AI.MODELRUN counts too."""
    con = connect(env)
    store(con, "f", "TORCH", FIRST_ROW)
    set_array(con, "x", np.ones((5, 2), np.float32))
    env.assertEqual(execute(con, "f", ["x"], ["first", "all"]), b"OK")
    env.assertEqual(get_array(con, "first").shape, (1, 2))
    env.assertEqual(
        con.execute_command("AI.MODELRUN", "f", "INPUTS", "x", "OUTPUTS", "a", "b"), b"OK"
    )
    env.assertEqual(counters(con, "f")[1:], (2, 2, 0))


def test_errors_and_parse_errors(env):
    """A run the backend fails counts as a call and an error (no duration, no samples);
    commands refused while parsing, before anything is queued, count nothing; nor does a
    run that timed out before it started."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"))
    env.assertEqual(run_mlp(con, "m", 2), b"OK")
    before = counters(con, "m")
    set_array(con, "bad", np.ones((2, 5), np.float32))  # the MLP wants 4 columns
    err = error_text(env, *modelexecute("m", ["bad"], ["y"]))
    env.assertContains("mat1 and mat2 shapes cannot be multiplied", err)
    env.assertEqual(counters(con, "m"), (before[0], before[1], before[2] + 1, 1))
    before = counters(con, "m")
    con.set("str", "x")
    refused = [
        ("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1),
        ("AI.MODELEXECUTE", "m", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "y"),
        ("AI.MODELEXECUTE", "m", "INPUTS", 1, "nokey", "OUTPUTS", 1, "y"),
        ("AI.MODELEXECUTE", "m", "INPUTS", 1, "str", "OUTPUTS", 1, "y"),
        ("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "TIMEOUT", 0),
        ("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "JUNK"),
        ("AI.MODELRUN", "m", "INPUTS", "x", "x", "OUTPUTS", "y"),
    ]
    for args in refused:
        error_text(env, *args)
    env.assertEqual(counters(con, "m"), before)
    # A request that waits for a second one (MINBATCHSIZE) until its TIMEOUT passes.
    store(con, "w", "TORCH", torch_blob("mlp"), "BATCHSIZE", 2, "MINBATCHSIZE", 2)
    set_array(con, "x", np.ones((1, 4), np.float32))
    env.assertEqual(execute(con, "w", ["x"], ["y"], "TIMEOUT", 50), b"TIMEDOUT")
    env.assertEqual(counters(con, "w"), (0, 0, 0, 0))


def test_resetstat(env):
    """RESETSTAT (any case) zeroes the four counters and replies +OK; counting resumes
    from zero; any other third argument is ignored; arity is 2 or 3."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"), "TAG", "t")
    run_mlp(con, "m", 2)
    set_array(con, "bad", np.ones((1, 3), np.float32))
    error_text(env, *modelexecute("m", ["bad"], ["y"]))
    env.assertEqual(counters(con, "m")[1:], (2, 2, 1))
    env.assertEqual(latency(con, "m")["calls"], 2)
    with RawConnection(con) as raw:
        env.assertEqual(raw.call("AI.INFO", "m", "RESETSTAT"), ("+", b"OK"))
    env.assertEqual(counters(con, "m"), (0, 0, 0, 0))
    env.assertEqual(info(con, "m")["tag"], b"t")  # only the counters change
    env.assertEqual(
        latency(con, "m"), {"type": "MODEL", "calls": 0, "errors": 0, "p50_us": 0, "p99_us": 0}
    )
    run_mlp(con, "m", 4)
    env.assertEqual(counters(con, "m")[1:], (4, 1, 0))
    env.assertEqual(con.execute_command("AI.INFO", "m", "resetstat"), b"OK")
    env.assertEqual(counters(con, "m"), (0, 0, 0, 0))
    run_mlp(con, "m", 1)
    env.assertEqual(meta_dict(con.execute_command("AI.INFO", "m", "NOTRESET"))["calls"], 1)
    # AI.INFO alone is the server's information (roadmap R4, test_monitoring.py).
    env.assertEqual(error_text(env, "AI.INFO", "m", "RESETSTAT", "x"), ARITY % "AI.INFO")
    env.assertEqual(error_text(env, "ai.info", "m", "RESETSTAT", "x"), ARITY % "ai.info")
    env.assertEqual(error_text(env, "AI.INFO", "nokey", "RESETSTAT"), NO_RUN_INFO)
    env.assertEqual(counters(con, "m")[2], 1)


def test_no_run_info(env):
    """`cannot find run info for key` for a key that never held a model, a tensor key, and
    once the model is gone: AI.MODELDEL, DEL, overwritten by another type, expired,
    FLUSHALL. Storing again under the same key starts from zero."""
    con = connect(env)
    set_array(con, "t", np.ones(2, np.float32))
    for key in ("nokey", "t"):
        env.assertEqual(error_text(env, "AI.INFO", key), NO_RUN_INFO)
    gone = {
        "modeldel": lambda k: con.execute_command("AI.MODELDEL", k),
        "del": con.delete,
        "set": lambda k: con.set(k, "a string now"),
        "expired": lambda k: (
            con.pexpire(k, 1),
            wait_until(env, lambda: not con.exists(k), message=f"{k} to expire"),
        ),
        "flushall": lambda k: con.flushall(),
    }
    for name, remove in gone.items():
        key = "m:" + name
        store(con, key, "TORCH", torch_blob("mlp"))
        run_mlp(con, key, 2)
        env.assertEqual(info(con, key)["calls"], 1, message=name)
        remove(key)
        env.assertEqual(con.type(key), b"string" if name == "set" else b"none", message=name)
        env.assertEqual(error_text(env, "AI.INFO", key), NO_RUN_INFO, message=name)
        env.assertEqual(error_text(env, "AI.INFO", key, "RESETSTAT"), NO_RUN_INFO, message=name)
        env.assertNotContains("ai_" + key.replace(":", "_"), section(con, "ai_latency"))
    # Storing again (MODELSTORE or the deprecated MODELSET) replaces the statistics.
    store(con, "m", "TORCH", torch_blob("mlp"), "TAG", "old")
    run_mlp(con, "m", 3)
    store(con, "m", "TORCH", torch_blob("mlp"), "TAG", "new", device="cpu")
    d = info(con, "m")
    env.assertEqual((d["tag"], d["device"]), (b"new", b"cpu"))
    env.assertEqual(counters(con, "m"), (0, 0, 0, 0))
    run_mlp(con, "m", 3)
    env.assertEqual(
        con.execute_command("AI.MODELSET", "m", "TORCH", "CPU", "BLOB", torch_blob("mlp")), b"OK"
    )
    env.assertEqual(counters(con, "m"), (0, 0, 0, 0))
    # A model stored where a tensor was starts with zeros too.
    set_array(con, "t", np.ones(2, np.float32))
    env.assertEqual(con.delete("t"), 1)
    store(con, "t", "TORCH", torch_blob("mlp"))
    env.assertEqual(counters(con, "t"), (0, 0, 0, 0))


def test_info_keyed_by_name(env):
    """Statistics belong to the key name, not to the database or the value's later name:
    AI.INFO from another DB sees them; RENAME leaves them under the old name (and the
    renamed model still counts there); the later of two same-named models in two DBs owns
    the entry, and deleting the earlier one leaves it."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"), "TAG", "db0")
    run_mlp(con, "m", 2)
    other = env.getConnection()
    other.connection_pool.connection_kwargs["db"] = 1  # a fresh client: every connection
    env.assertEqual(info(other, "m")["calls"], 1)
    # RENAME: the entry stays under "m" and runs of "renamed" are counted there.
    env.assertEqual(con.rename("m", "renamed"), True)
    env.assertEqual(error_text(env, "AI.INFO", "renamed"), NO_RUN_INFO)
    env.assertEqual(info(con, "m")["calls"], 1)
    run_mlp(con, "renamed", 2)
    env.assertEqual(info(con, "m")["calls"], 2)
    env.assertEqual(con.delete("renamed"), 1)
    env.assertEqual(error_text(env, "AI.INFO", "m"), NO_RUN_INFO)
    # Two DBs, one name: the later store owns it; freeing the other does not remove it.
    store(con, "k", "TORCH", torch_blob("mlp"), "TAG", "db0")
    store(other, "k", "TORCH", torch_blob("mlp"), "TAG", "db1")
    env.assertEqual(info(con, "k")["tag"], b"db1")
    env.assertEqual(con.delete("k"), 1)
    env.assertEqual(info(con, "k")["tag"], b"db1")
    env.assertEqual(other.delete("k"), 1)
    env.assertEqual(error_text(env, "AI.INFO", "k"), NO_RUN_INFO)


def test_info_after_reload(env):
    """DEBUG RELOAD (and in the AOF env, replaying the AOF) rebuilds the models with zeroed
    statistics; deleted models do not come back with theirs."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"), "TAG", "t", device="cpu")
    run_mlp(con, "m", 2)
    env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
    d = info(con, "m")
    env.assertEqual((d["tag"], d["device"]), (b"t", b"cpu"))
    env.assertEqual(counters(con, "m"), (0, 0, 0, 0))
    run_mlp(con, "m", 2)
    if env.useAof:
        env.assertEqual(con.execute_command("DEBUG", "LOADAOF"), b"OK")
        env.assertEqual(counters(con, "m"), (0, 0, 0, 0))


def test_info_not_replicated(env):
    """Each node keeps its own statistics: the replica builds zeroed ones from the
    replicated AI.MODELSTORE, and runs or RESETSTAT on the master do not reach them."""
    if not env.useSlaves:
        env.skip()
    con = connect(env)
    replica = env.getSlaveConnection()
    store(con, "m", "TORCH", torch_blob("mlp"), "TAG", "t")
    run_mlp(con, "m", 3)
    con.execute_command("AI.INFO", "m", "RESETSTAT")
    run_mlp(con, "m", 2)
    wait_replica(env, con)
    env.assertEqual(info(replica, "m")["tag"], b"t")
    env.assertEqual(counters(replica, "m"), (0, 0, 0, 0))
    env.assertEqual(counters(con, "m")[1:], (2, 1, 0))
    env.assertEqual(replica.execute_command("AI.INFO", "m", "RESETSTAT"), b"OK")
    env.assertEqual(counters(con, "m")[1:], (2, 1, 0))
    con.execute_command("AI.MODELDEL", "m")
    wait_replica(env, con)
    env.assertEqual(error_text(env, "AI.INFO", "m", conn=replica), NO_RUN_INFO)


def test_info_during_async_flush(env):
    """FLUSHALL ASYNC frees the models on Redis's lazyfree thread, each free removing its
    statistics, while the main thread goes on reading them (INFO MODULES walks them all)
    and storing new models. The server must stay up, and once the flush is over only the
    new models have statistics. (A race: before stats.c queued removals from other
    threads, INFO MODULES crashed in rax iteration in 20-60% of these runs, more on a busy
    host; passing once proves little, failing is a real bug.)"""
    if env.useSlaves or env.useAof:
        env.skip()  # a stress of one server's threads; 300k keys to log or replicate
    con = connect(env)
    blob = torch_blob("add")
    for rnd in range(2):
        new = []  # what the flush of this round leaves
        pipe = con.pipeline(transaction=False)
        for i in range(200):
            pipe.execute_command("AI.MODELSTORE", f"old{i}", "TORCH", "CPU", "BLOB", blob)
        pipe.execute()
        con.execute_command("DEBUG", "POPULATE", 300000)  # keeps the flush going longer
        pipe = con.pipeline(transaction=False)
        pipe.execute_command("FLUSHALL", "ASYNC")
        for n in range(400):
            pipe.execute_command("INFO", "MODULES")
            if n % 40 == 0:
                new.append(f"new{rnd}:{n}")
                pipe.execute_command("AI.MODELSTORE", new[-1], "TORCH", "CPU", "BLOB", blob)
        pipe.execute()
        deadline = time.monotonic() + 30
        while con.info("memory")["lazyfree_pending_objects"]:
            env.assertLess(time.monotonic(), deadline)
            time.sleep(0.01)
        env.assertEqual(error_text(env, "AI.INFO", "old5"), NO_RUN_INFO)
    env.assertEqual(
        sorted(k for k, _ in con.execute_command("AI._MODELSCAN")), sorted(k.encode() for k in new)
    )
    env.assertEqual(
        sorted(section(con, "ai_latency")), sorted("ai_" + k.replace(":", "_") for k in new)
    )
    env.assertEqual(counters(con, new[0]), (0, 0, 0, 0))


# ---------------------------------------------------------------------------------------
# AI.CONFIG


def test_config_get_and_set(env):
    """GET BACKENDSPATH is a bulk string (default: backends/ beside the module),
    GET MODEL_CHUNK_SIZE an integer (default 511 MiB), any other name a null; setting
    either replies +OK and GET shows it; subcommands and names in any case."""
    con = connect(env)
    with RawConnection(con) as raw:
        kind, path = raw.call("AI.CONFIG", "GET", "BACKENDSPATH")
        env.assertEqual(kind, "$")
        env.assertTrue(path.endswith(b"/backends"), message=path)
        env.assertEqual(raw.call("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"), (":", DEFAULT_CHUNK))
        env.assertEqual(raw.call("AI.CONFIG", "get", "model_chunk_size"), (":", DEFAULT_CHUNK))
        for name in ("NOSUCHNAME", "THREADS_PER_QUEUE", "LOADBACKEND", ""):
            env.assertEqual(raw.call("AI.CONFIG", "GET", name), ("$", None), message=name)
        env.assertEqual(raw.call("AI.CONFIG", "MODEL_CHUNK_SIZE", 1000), ("+", b"OK"))
        env.assertEqual(raw.call("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"), (":", 1000))
        env.assertEqual(raw.call("ai.config", "model_chunk_size", "2048"), ("+", b"OK"))
        env.assertEqual(raw.call("AI.CONFIG", "GET", "Model_Chunk_Size"), (":", 2048))
        env.assertEqual(raw.call("AI.CONFIG", "BACKENDSPATH", "/no/such/dir"), ("+", b"OK"))
        env.assertEqual(raw.call("AI.CONFIG", "GET", "BACKENDSPATH"), ("$", b"/no/such/dir"))
        env.assertEqual(raw.call("AI.CONFIG", "backendspath", "relative"), ("+", b"OK"))
        env.assertEqual(raw.call("AI.CONFIG", "get", "backendspath"), ("$", b"relative"))
    if env.useSlaves:
        # Not replicated. AI.CONFIG is a write command (as RedisAI registers it), so a
        # read-only replica refuses it altogether, GET included.
        wait_replica(env, con)
        replica = env.getSlaveConnection()
        env.assertEqual(
            error_text(env, "AI.CONFIG", "GET", "MODEL_CHUNK_SIZE", conn=replica),
            READONLY,
        )
        replica.config_set("replica-read-only", "no")
        env.assertEqual(
            replica.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"), DEFAULT_CHUNK
        )
        env.assertEqual(replica.execute_command("AI.CONFIG", "GET", "BACKENDSPATH"), path)


def test_config_errors(env):
    """Every refusal of AI.CONFIG with its exact text; none changes a setting."""
    con = connect(env)
    con.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 4096)
    cases = [
        (("AI.CONFIG",), ARITY % "AI.CONFIG"),
        (("ai.config",), ARITY % "ai.config"),
        (("AI.CONFIG", "NOSUCH"), "unsupported subcommand"),
        (("AI.CONFIG", "NOSUCH", "x", "y"), "unsupported subcommand"),
        (("AI.CONFIG", "SET", "MODEL_CHUNK_SIZE", "1"), "unsupported subcommand"),
        (("AI.CONFIG", "GET"), ARITY % "AI.CONFIG"),
        (("AI.CONFIG", "LOADBACKEND"), ARITY % "AI.CONFIG"),
        (("AI.CONFIG", "LOADBACKEND", "TORCH"), ARITY % "AI.CONFIG"),
        (("AI.CONFIG", "LOADBACKEND", "NOSUCH", "x.so"), UNSUPPORTED_BACKEND),
        (("AI.CONFIG", "LOADBACKEND", "TORCHX", "x.so"), UNSUPPORTED_BACKEND),
        (("AI.CONFIG", "BACKENDSPATH"), "BACKENDSPATH: missing path argument"),
        (("AI.CONFIG", "MODEL_CHUNK_SIZE"), "MODEL_CHUNK_SIZE: missing chunk size"),
    ]
    for bad in ("0", "-1", "abc", "1.5", "", "99999999999999999999"):
        cases.append(
            (("AI.CONFIG", "MODEL_CHUNK_SIZE", bad), "MODEL_CHUNK_SIZE: invalid chunk size")
        )
    for args, text in cases:
        env.assertEqual(error_text(env, *args), text, message=args)
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"), 4096)
    env.assertTrue(con.execute_command("AI.CONFIG", "GET", "BACKENDSPATH").endswith(b"/backends"))


def test_config_loadbackend(env):
    """LOADBACKEND imports a backend now (ai_backends_info shows it, models of it store);
    a backend already loaded, by LOADBACKEND or by a first model, answers `error loading
    backend`; names in any case."""
    if env.useSlaves or env.useAof:
        env.skip()  # node-local, nothing persisted or replicated
    con = connect(env)
    env.assertEqual(section(con, "ai_backends_info"), {})
    env.assertEqual(
        con.execute_command("AI.CONFIG", "LOADBACKEND", "torch", "redisai_torch/redisai_torch.so"),
        b"OK",
    )
    env.assertEqual(list(section(con, "ai_backends_info")), ["ai_Torch_version"])
    for name in ("TORCH", "Torch"):
        env.assertEqual(
            error_text(env, "AI.CONFIG", "LOADBACKEND", name, "/abs/x.so"), LOAD_BACKEND
        )
    store(con, "o", "ONNX", onnx_blob("add"))  # loads ONNX on first use
    env.assertEqual(error_text(env, "AI.CONFIG", "LOADBACKEND", "ONNX", "x.so"), LOAD_BACKEND)
    backends = section(con, "ai_backends_info")
    env.assertEqual(
        list(backends),
        [
            "ai_Torch_version",
            "ai_onnxruntime_version",
            "ai_onnxruntime_memory",
            "ai_onnxruntime_memory_access_num",
            "ai_onnxruntime_maximum_run_sessions_number",
        ],
    )
    # One worker thread for the CPU queue (THREADS_PER_QUEUE 1): one session at a time.
    env.assertEqual(int(backends["ai_onnxruntime_maximum_run_sessions_number"]), 1)


# ---------------------------------------------------------------------------------------
# MODEL_CHUNK_SIZE at run time


def chunks_of(blob, size):
    """The chunking rule of spec 3.3: floor(len/size)+1 pieces, one bulk if just one."""
    if len(blob) < size:
        return blob
    return [blob[i : i + size] for i in range(0, len(blob) - len(blob) % size + 1, size)]


def test_model_chunk_size_changes_modelget(env):
    """AI.CONFIG MODEL_CHUNK_SIZE applies to the next AI.MODELGET: 450 gives chunks of 450
    and the rest (an empty last chunk when the length is an exact multiple), in both the
    BLOB and the META BLOB forms; a size above the length gives one bulk string again."""
    con = connect(env)
    blob, exact = torch_blob("mlp"), torch_blob_of_length_multiple(450)
    store(con, "m", "TORCH", blob)
    store(con, "exact", "TORCH", exact)
    env.assertEqual(con.execute_command("AI.MODELGET", "m", "BLOB"), blob)
    env.assertEqual(con.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 450), b"OK")
    want = [blob[i : i + 450] for i in range(0, len(blob), 450)]
    env.assertEqual(len(want), len(blob) // 450 + 1)
    with RawConnection(con) as raw:
        env.assertEqual(raw.call("AI.MODELGET", "m", "BLOB"), ("*", [("$", c) for c in want]))
    env.assertEqual(
        meta_dict(con.execute_command("AI.MODELGET", "m", "META", "BLOB"))["blob"], want
    )
    exact_want = [exact[i : i + 450] for i in range(0, len(exact), 450)] + [b""]
    env.assertEqual(con.execute_command("AI.MODELGET", "exact", "BLOB"), exact_want)
    env.assertEqual(chunks_of(exact, 450), exact_want)
    # The length itself as chunk size: one full chunk and an empty one.
    con.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", len(blob))
    env.assertEqual(con.execute_command("AI.MODELGET", "m", "BLOB"), [blob, b""])
    con.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", len(blob) + 1)
    with RawConnection(con) as raw:
        env.assertEqual(raw.call("AI.MODELGET", "m", "BLOB"), ("$", blob))
    con.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 1)
    env.assertEqual(
        con.execute_command("AI.MODELGET", "exact", "BLOB"),
        [exact[i : i + 1] for i in range(len(exact))] + [b""],
    )
    if env.useSlaves:  # the replica's setting is its own
        wait_replica(env, con)
        env.assertEqual(env.getSlaveConnection().execute_command("AI.MODELGET", "m", "BLOB"), blob)


def check_models_run(env, con, models):
    """Every model has its bytes and computes what torch computes in process."""
    x = np.random.default_rng(3).standard_normal((2, 4)).astype(np.float32)
    a = np.ones((2, 4), np.float32)
    set_array(con, "x", x)
    set_array(con, "a", a)
    for key, blob in models.items():
        env.assertEqual(model_blob(con, key), blob, message=key)
    env.assertEqual(execute(con, "m", ["x"], ["y"]), b"OK")
    np.testing.assert_allclose(get_array(con, "y"), torch_run("mlp", x)[0], rtol=1e-6)
    env.assertEqual(execute(con, "exact", ["a", "a"], ["c"]), b"OK")
    np.testing.assert_array_equal(get_array(con, "c"), a + a)


def test_model_chunk_size_persistence(env):
    """With a chunk size set at run time the RDB (DEBUG RELOAD) and, in the AOF env, the
    rewritten AOF hold the models in chunks of that size (the exact multiple with its
    empty last chunk) and load them back intact."""
    con = connect(env)
    models = {"m": torch_blob("mlp"), "exact": torch_blob_of_length_multiple(450)}
    for key, blob in models.items():
        store(con, key, "TORCH", blob)
    con.execute_command("AI.CONFIG", "MODEL_CHUNK_SIZE", 450)
    env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
    check_models_run(env, con, models)
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"), 450)
    if env.useAof:
        con.config_set("aof-use-rdb-preamble", "no")
        base = rewrite_aof(con)
        for key, blob in models.items():
            env.assertContains(
                aof_modelstore(key, "TORCH", "CPU", chunks_of(blob, 450)),
                base,
                message=key,
            )
        env.assertEqual(con.execute_command("DEBUG", "LOADAOF"), b"OK")
        check_models_run(env, con, models)
    if env.useSlaves:
        wait_replica(env, con)
        replica = env.getSlaveConnection()
        for key, blob in models.items():
            env.assertEqual(model_blob(replica, key), blob, message=key)


# ---------------------------------------------------------------------------------------
# INFO MODULES


def test_info_modules_sections(env):
    """In a fresh server: the sections in order, versions/git/load_time_configs with their
    exact fields, no backend until one is used, the CPU fields (the CPU queue's worker
    included), the CPU queue's depth and no latency entries. A TORCH model adds
    ai_Torch_version, and its runs a latency entry."""
    con = connect(env)
    sections = modules_info(con)
    env.assertEqual([name for name, _ in sections], SECTIONS)
    got = dict(sections)
    env.assertEqual(
        got["ai_versions"],
        [
            ("ai_RedisAI_version", "1.2.7"),
            ("ai_low_level_API_version", "1"),
            ("ai_rdb_version", "4"),
        ],
    )
    env.assertEqual([name for name, _ in got["ai_git"]], ["ai_git_sha"])
    env.assertTrue(
        re.fullmatch(r"[0-9a-f]{7,40}|unknown", got["ai_git"][0][1]), message=got["ai_git"]
    )
    env.assertEqual(
        got["ai_load_time_configs"], list(zip(LOAD_TIME_FIELDS, ["1", "0", "0", "5000", "0"]))
    )
    env.assertEqual(got["ai_backends_info"], [])
    env.assertEqual([name for name, _ in got["ai_cpu"][:6]], CPU_FIELDS)
    for name, value in got["ai_cpu"][:6]:
        env.assertTrue(re.fullmatch(r"\d+\.\d{6}", value), message=(name, value))
    env.assertEqual(
        [name for name, _ in got["ai_cpu"][6:]], ["ai_queue_CPU_bthread_n1_used_cpu_total"]
    )
    env.assertTrue(re.fullmatch(r"\d+\.\d+|N/A", got["ai_cpu"][6][1]), message=got["ai_cpu"])
    env.assertEqual(
        got["ai_queues"],
        [("ai_queue_CPU_depth", "0"), ("ai_CPU", "queued=0,running=0,done=0,threads=1")],
    )
    env.assertEqual(got["ai_latency"], [])
    # The first TORCH model loads the backend.
    store(con, "m", "TORCH", torch_blob("mlp"))
    env.assertEqual(
        [name for name, _ in section(con, "ai_backends_info").items()], ["ai_Torch_version"]
    )
    env.assertNotEqual(section(con, "ai_backends_info")["ai_Torch_version"], "")
    env.assertEqual(
        latency(con, "m"), {"type": "MODEL", "calls": 0, "errors": 0, "p50_us": 0, "p99_us": 0}
    )
    for rows in (1, 2, 3):
        run_mlp(con, "m", rows)
    set_array(con, "bad", np.ones((1, 3), np.float32))
    error_text(env, *modelexecute("m", ["bad"], ["y"]))
    lat = latency(con, "m")
    env.assertEqual((lat["type"], lat["calls"], lat["errors"]), ("MODEL", 4, 1))
    env.assertGreater(lat["p50_us"], 0)
    env.assertLessEqual(lat["p50_us"], lat["p99_us"])
    env.assertLessEqual(lat["p99_us"], info(con, "m")["duration"])
    # Worker CPU time grew with the runs; the sections keep their order.
    cpu = section(con, "ai_cpu")["ai_queue_CPU_bthread_n1_used_cpu_total"]
    if cpu != "N/A":
        env.assertGreater(float(cpu), 0)
    env.assertEqual([name for name, _ in modules_info(con)], SECTIONS)


SCRIPT = """
def add(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]
"""


def test_info_latency_names(env):
    """ai_latency has one entry per stored model or script named ai_<key>, with the
    characters an INFO line cannot hold (':' ',' '=' space CR LF) shown as '_'; entries
    leave with their values."""
    con = connect(env)
    for key in ("plain", "a:b c", "x=1,y"):
        store(con, key, "TORCH", torch_blob("mlp"))
    con.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "add", "SOURCE", SCRIPT)
    run_mlp(con, "a:b c", 2)
    set_array(con, "a", np.ones(3, np.float32))
    env.assertEqual(
        con.execute_command(
            "AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "c"
        ),
        b"OK",
    )
    lat = section(con, "ai_latency")
    env.assertEqual(sorted(lat), ["ai_a_b_c", "ai_plain", "ai_s", "ai_x_1_y"])
    env.assertTrue(lat["ai_a_b_c"].startswith("type=MODEL,calls=1,errors=0,p50_us="), message=lat)
    env.assertEqual(latency(con, "s")["type"], "SCRIPT")
    env.assertEqual(latency(con, "s")["calls"], 1)
    con.delete("a:b c", "plain", "s")
    env.assertEqual(list(section(con, "ai_latency")), ["ai_x_1_y"])


def test_info_queue_depth(env):
    """ai_queue_CPU_depth counts the requests waiting in the CPU queue: one request of a
    MINBATCHSIZE 2 model waits there until a second one arrives."""
    if env.useSlaves or env.useAof:
        env.skip()  # the queue is the same in every env
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"), "BATCHSIZE", 2, "MINBATCHSIZE", 2)
    x = np.ones((1, 4), np.float32)
    set_array(con, "x", x)
    with RawConnection(con) as first, RawConnection(con) as second:
        first.sock.sendall(
            resp_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y1")
        )
        wait_until(
            env,
            lambda: section(con, "ai_queues")["ai_queue_CPU_depth"] == "1",
            timeout_s=10,
            message="the request to be queued",
        )
        # It stays queued: no reply comes while it waits for a second request.
        env.assertFalse(replied(first, timeout_s=0.05))
        env.assertEqual(section(con, "ai_queues")["ai_queue_CPU_depth"], "1")
        second.sock.sendall(
            resp_command("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y2")
        )
        env.assertEqual(first._read(), ("+", b"OK"))
        env.assertEqual(second._read(), ("+", b"OK"))
    env.assertEqual(section(con, "ai_queues")["ai_queue_CPU_depth"], "0")
    env.assertEqual(counters(con, "m")[1:], (2, 2, 0))


# ---------------------------------------------------------------------------------------
# Load-time arguments, on servers of their own


def test_load_time_configs(env):
    """The load-time arguments show in ai_load_time_configs (names in any case), one CPU
    worker per THREADS_PER_QUEUE in ai_cpu, MODEL_CHUNK_SIZE and BACKENDSPATH in
    AI.CONFIG GET; a backend named at load time is loaded before any model."""
    if env.useSlaves or env.useAof:
        env.skip()  # servers of their own: the env's kind changes nothing
    with own_server(
        env,
        "THREADS_PER_QUEUE",
        "2",
        "INTER_OP_PARALLELISM",
        "1",
        "INTRA_OP_PARALLELISM",
        "1",
        "MODEL_EXECUTION_TIMEOUT",
        "2000",
        "BACKEND_MEMORY_LIMIT",
        "100",
        "MODEL_CHUNK_SIZE",
        "1024",
        "TORCH",
        "redisai_torch/redisai_torch.so",
        "BACKENDSPATH",
        "/opt/redisai/backends",
    ) as con:
        got = dict(modules_info(con))
        env.assertEqual([name for name, _ in modules_info(con)], SECTIONS)
        env.assertEqual(
            got["ai_load_time_configs"], list(zip(LOAD_TIME_FIELDS, ["2", "1", "1", "2000", "100"]))
        )
        env.assertEqual(
            [name for name, _ in got["ai_cpu"][6:]],
            ["ai_queue_CPU_bthread_n1_used_cpu_total", "ai_queue_CPU_bthread_n2_used_cpu_total"],
        )
        env.assertEqual([name for name, _ in got["ai_backends_info"]], ["ai_Torch_version"])
        env.assertEqual(con.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"), 1024)
        env.assertEqual(
            con.execute_command("AI.CONFIG", "GET", "BACKENDSPATH"), b"/opt/redisai/backends"
        )
        store(con, "m", "TORCH", torch_blob("mlp"))
        env.assertEqual(
            len(con.execute_command("AI.MODELGET", "m", "BLOB")), len(torch_blob("mlp")) // 1024 + 1
        )
        env.assertEqual(run_mlp(con, "m", 2), b"OK")
    with own_server(
        env,
        "threads_per_queue",
        "3",
        "model_execution_timeout",
        "1000",
        "backend_memory_limit",
        "7",
    ) as con:
        got = dict(modules_info(con))
        env.assertEqual(
            got["ai_load_time_configs"], list(zip(LOAD_TIME_FIELDS, ["3", "0", "0", "1000", "7"]))
        )
        env.assertEqual(len(got["ai_cpu"]), 6 + 3)
        env.assertEqual(got["ai_backends_info"], [])
