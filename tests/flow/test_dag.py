"""AI.DAGEXECUTE, AI.DAGEXECUTE_RO, AI.DAGRUN and AI.DAGRUN_RO (spec 5, 6.1, 7.1, 7.2, 8.3):
a pre-process / model / post-process pipeline equal to the same steps run one by one, the
reply shapes of spec 5.4, tensor versions, volatile names and LOAD snapshots, PERSIST
(last version only, WRONGTYPE element, nothing after a failed op, replication, AOF),
read-only DAGs (on replicas too), TIMEOUT behind a slow run, ops on two devices that wait
for each other, AI.INFO counts, COMMAND GETKEYS, the deprecated commands and MULTI/Lua.
Parse errors are in test_dag_errors.py."""

import io
import os
import threading
import time

import numpy as np
import torch
from error_texts import (
    INPUT_UNKNOWN,
    MISSING_FUNCTION,
    PERSIST_RO,
    READONLY,
    SCRIPT_RO,
    TRANSACTION,
    WRONGTYPE,
)
from includes import (
    Call,
    wait_blocked,
    RawConnection,
    error_text,
    keyspace,
    meta_dict,
    run_checks,
    wait_replica,
)
from model_zoo import (
    connect,
    execute,
    get_array,
    servers,
    set_array,
    store,
    torch_blob,
    torch_bytes,
    torch_run,
)

DAG, DAG_RO, DAGRUN, DAGRUN_RO = "AI.DAGEXECUTE", "AI.DAGEXECUTE_RO", "AI.DAGRUN", "AI.DAGRUN_RO"
SLOW_MS = 500  # how long the run that occupies the CPU queue lasts

SOURCE = """\
def pre(tensors: List[Tensor], keys: List[str], args: List[str]):
    return (tensors[0] - float(args[0])) * float(args[1])

def post(tensors: List[Tensor], keys: List[str], args: List[str]):
    return torch.softmax(tensors[0], dim=1), torch.argmax(tensors[0], dim=1)

def add(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]
"""
ENTRY_POINTS = ["pre", "post", "add"]


class Mul(torch.nn.Module):
    def forward(self, a, b):
        return a * b


def mul_blob():
    return torch_bytes(torch.jit.script(Mul()))


def mul_error_text(a, b):
    """The one-line error of the stored Mul model run in process on a and b."""
    model = torch.jit.load(io.BytesIO(mul_blob()))
    try:
        with torch.inference_mode():
            model(torch.from_numpy(a), torch.from_numpy(b))
    except Exception as e:  # noqa: BLE001 - any framework error is the expected text
        return str(e).replace("\r", " ").replace("\n", " ")
    return None


def dag_args(command, header, *ops):
    args = [command, *header]
    for op in ops:
        args += ["|>", *op]
    return args


def run_dag(con, command, header, *ops):
    return con.execute_command(*dag_args(command, header, *ops))


def fresh(env):
    """The master's connection on an empty keyspace (and an empty replica)."""
    con = connect(env)
    con.flushall()
    wait_replica(env, con)
    return con


def store_script(con, key="s", device="CPU"):
    return con.execute_command(
        "AI.SCRIPTSTORE",
        key,
        device,
        "ENTRY_POINTS",
        len(ENTRY_POINTS),
        *ENTRY_POINTS,
        "SOURCE",
        SOURCE,
    )


def info(con, key):
    return meta_dict(con.execute_command("AI.INFO", key))


def calls_errors(con, key):
    i = info(con, key)
    return i["calls"], i["errors"]


def norm(reply):
    """A DAG reply with every VALUES element as floats (RESP2 sends FLOAT values as bulk
    strings, integers as integers)."""
    return [[float(v) for v in e] if isinstance(e, list) else e for e in reply]


def setup_slow(con, key="slow"):
    """Stores the slow model and slow:x, slow:n for a run of about SLOW_MS on CPU."""
    store(con, key, "TORCH", torch_blob("slow1"))
    set_array(con, "slow:x", np.ones(2, np.float32))
    set_array(con, "slow:n", np.array(2, np.int64))
    for _ in range(3):  # TorchScript optimises a graph over its first runs
        execute(con, key, ["slow:x", "slow:n"], ["slow:warm"])
    set_array(con, "slow:n", np.array(40, np.int64))
    start = time.monotonic()
    execute(con, key, ["slow:x", "slow:n"], ["slow:warm"])
    per_round = max((time.monotonic() - start) / 40, 1e-5)
    set_array(con, "slow:n", np.array(max(40, int(SLOW_MS / 1000 / per_round)), np.int64))
    con.delete("slow:warm")


# ---------------------------------------------------------------------------------------
# Results. The checks of a group share one server: a server imports torch once per start,
# which costs more than all the checks of a group together.


def check_pipeline_matches_single_commands(env):
    """set -> script (pre-process) -> model -> script (post-process, two outputs) -> get
    in one AI.DAGEXECUTE gives the same bytes as the same steps as single commands, and
    the values torch gives in process; only the PERSIST name reaches the keyspace."""
    con = fresh(env)
    store(con, "mlp", "TORCH", torch_blob("mlp"))
    store_script(con)
    raw = np.random.default_rng(3).standard_normal((5, 4)).astype(np.float32)
    reply = run_dag(
        con,
        DAG,
        ["PERSIST", 1, "label"],
        ("AI.TENSORSET", "raw", "FLOAT", 5, 4, "BLOB", raw.tobytes()),
        # inside a DAG, ARGS may come before INPUTS
        (
            "AI.SCRIPTEXECUTE",
            "s",
            "pre",
            "ARGS",
            2,
            "0.5",
            "2",
            "INPUTS",
            1,
            "raw",
            "OUTPUTS",
            1,
            "x",
        ),
        ("AI.MODELEXECUTE", "mlp", "INPUTS", 1, "x", "OUTPUTS", 1, "y"),
        ("AI.SCRIPTEXECUTE", "s", "post", "INPUTS", 1, "y", "OUTPUTS", 2, "probs", "label"),
        ("AI.TENSORGET", "probs", "META", "BLOB"),
        ("AI.TENSORGET", "label", "VALUES"),
        ("AI.TENSORGET", "y", "BLOB"),
    )
    env.assertEqual(reply[:4], [b"OK"] * 4)
    env.assertEqual(len(reply), 7)
    env.assertEqual(sorted(con.keys("*")), [b"label", b"mlp", b"s"])
    # The same steps one by one.
    set_array(con, "one:raw", raw)
    env.assertEqual(
        con.execute_command(
            "AI.SCRIPTEXECUTE",
            "s",
            "pre",
            "INPUTS",
            1,
            "one:raw",
            "ARGS",
            2,
            "0.5",
            "2",
            "OUTPUTS",
            1,
            "one:x",
        ),
        b"OK",
    )
    env.assertEqual(execute(con, "mlp", ["one:x"], ["one:y"]), b"OK")
    env.assertEqual(
        con.execute_command(
            "AI.SCRIPTEXECUTE",
            "s",
            "post",
            "INPUTS",
            1,
            "one:y",
            "OUTPUTS",
            2,
            "one:probs",
            "one:label",
        ),
        b"OK",
    )
    env.assertEqual(reply[4], con.execute_command("AI.TENSORGET", "one:probs", "META", "BLOB"))
    env.assertEqual(reply[5], con.execute_command("AI.TENSORGET", "one:label", "VALUES"))
    env.assertEqual(reply[6], con.execute_command("AI.TENSORGET", "one:y", "BLOB"))
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "label", "BLOB"),
        con.execute_command("AI.TENSORGET", "one:label", "BLOB"),
    )
    # And what torch computes in process.
    y = torch_run("mlp", (raw - np.float32(0.5)) * np.float32(2))[0]
    got_y = np.frombuffer(reply[6], np.float32).reshape(5, 3)
    np.testing.assert_allclose(got_y, y, rtol=1e-5, atol=1e-6)
    probs = meta_dict(reply[4])
    env.assertEqual(probs["shape"], [5, 3])
    np.testing.assert_allclose(
        np.frombuffer(probs["blob"], np.float32).reshape(5, 3),
        torch.softmax(torch.from_numpy(y), dim=1).numpy(),
        rtol=1e-5,
    )
    env.assertEqual([int(v) for v in reply[5]], y.argmax(1).tolist())
    env.assertEqual(
        meta_dict(con.execute_command("AI.TENSORGET", "label", "META"))["dtype"], b"INT64"
    )


def check_spec_examples(env):
    """The three examples of spec 5.4, reply types checked on the wire: simple-string OK and
    NA, tensor replies as AI.TENSORGET gives them, a backend error inside the array."""
    con = fresh(env)
    store(con, "mul{u}", "TORCH", mul_blob())
    set_array(con, "x{u}", np.array([[1, 2]], np.float32))
    with RawConnection(con) as raw:
        got = raw.call(
            DAG,
            "PERSIST",
            1,
            "out{u}",
            "|>",
            "AI.TENSORSET",
            "out{u}",
            "INT32",
            2,
            "VALUES",
            7,
            8,
            "|>",
            "AI.TENSORGET",
            "out{u}",
            "VALUES",
        )
        env.assertEqual(got, ("*", [("+", b"OK"), ("*", [(":", 7), (":", 8)])]))
        env.assertEqual(con.type("out{u}"), b"AI_TENSOR")
        env.assertEqual(raw.call("AI.TENSORGET", "out{u}", "VALUES"), got[1][1])

        got = raw.call(DAG, "LOAD", 1, "x{u}", "|>", "AI.TENSORGET", "x{u}", "META")
        meta = (
            "*",
            [("$", b"dtype"), ("$", b"FLOAT"), ("$", b"shape"), ("*", [(":", 1), (":", 2)])],
        )
        env.assertEqual(got, ("*", [meta]))
        env.assertEqual(raw.call("AI.TENSORGET", "x{u}", "META"), meta)

        got = raw.call(
            DAG_RO,
            "ROUTING",
            "{u}",
            "|>",
            "AI.TENSORSET",
            "p",
            "FLOAT",
            2,
            "VALUES",
            1,
            2,
            "|>",
            "AI.TENSORSET",
            "q",
            "FLOAT",
            3,
            "|>",
            "AI.MODELEXECUTE",
            "mul{u}",
            "INPUTS",
            2,
            "p",
            "q",
            "OUTPUTS",
            1,
            "r",
            "|>",
            "AI.TENSORGET",
            "r",
            "VALUES",
        )
        want = mul_error_text(np.array([1, 2], np.float32), np.zeros(3, np.float32))
        env.assertTrue(want)
        env.assertEqual(
            got, ("*", [("+", b"OK"), ("+", b"OK"), ("-", want.encode()), ("+", b"NA")])
        )
        # The same text as the single command gives.
        set_array(con, "p{u}", np.array([1, 2], np.float32))
        set_array(con, "q{u}", np.zeros(3, np.float32))
        env.assertEqual(
            raw.call(
                "AI.MODELEXECUTE", "mul{u}", "INPUTS", 2, "p{u}", "q{u}", "OUTPUTS", 1, "r{u}"
            ),
            ("-", want.encode()),
        )
    env.assertEqual(sorted(con.keys("*")), [b"mul{u}", b"out{u}", b"p{u}", b"q{u}", b"x{u}"])


def check_versions(env):
    """Every producing op makes a new version of its name; an op or TENSORGET sees the
    version made by the latest earlier op, whichever device runs what when."""
    con = fresh(env)
    got = run_dag(
        con,
        DAG_RO,
        ["ROUTING", "t"],
        ("AI.TENSORSET", "t", "INT32", 1, "VALUES", 1),
        ("AI.TENSORGET", "t", "VALUES"),
        ("AI.TENSORSET", "t", "INT32", 1, "VALUES", 2),
        ("AI.TENSORGET", "t", "VALUES"),
    )
    env.assertEqual(got, [b"OK", [1], b"OK", [2]])
    store(con, "add", "TORCH", torch_blob("add"))
    store(con, "add1", "TORCH", torch_blob("add"), device="CPU:1")
    set_array(con, "k", np.array([100, 100], np.float32))
    got = run_dag(
        con,
        DAG,
        ["LOAD", 1, "k", "PERSIST", 2, "a", "k"],
        ("AI.TENSORGET", "k", "VALUES"),  # the LOADed version
        ("AI.TENSORSET", "a", "FLOAT", 2, "VALUES", 1, 1),
        ("AI.MODELEXECUTE", "add1", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "b"),  # b = 2
        ("AI.TENSORGET", "a", "VALUES"),  # 1
        ("AI.TENSORSET", "a", "FLOAT", 2, "VALUES", 10, 10),
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "a"),  # a = 12
        ("AI.TENSORGET", "a", "VALUES"),  # 12
        ("AI.MODELEXECUTE", "add1", "INPUTS", 2, "a", "k", "OUTPUTS", 1, "k"),  # k = 112
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "a"),  # a = 24
        ("AI.TENSORGET", "b", "VALUES"),
        ("AI.TENSORGET", "a", "VALUES"),
        ("AI.TENSORGET", "k", "VALUES"),
    )
    env.assertEqual(
        norm(got),
        [
            [100.0, 100.0],
            b"OK",
            b"OK",
            [1.0, 1.0],
            b"OK",
            b"OK",
            [12.0, 12.0],
            b"OK",
            b"OK",
            [2.0, 2.0],
            [24.0, 24.0],
            [112.0, 112.0],
        ],
    )
    # PERSIST writes the last versions.
    env.assertEqual(get_array(con, "a").tolist(), [24, 24])
    env.assertEqual(get_array(con, "k").tolist(), [112, 112])
    env.assertEqual(con.exists("b", "t"), 0)


def check_volatile_names_and_load(env):
    """A DAG reads only what it LOADs (a snapshot taken at parse time): a name that exists
    in Redis but was not LOADed is unknown; names an op produces never reach the keyspace
    unless PERSISTed, even names of existing keys of other types."""
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    store_script(con)
    set_array(con, "k", np.array([5, 5], np.float32))
    set_array(con, "other", np.array([7, 7], np.float32))
    con.set("str", "text")
    snapshot = keyspace(con)
    env.assertEqual(
        error_text(env, *dag_args(DAG, ["LOAD", 1, "k"], ("AI.TENSORGET", "other", "VALUES"))),
        INPUT_UNKNOWN,
    )
    # ROUTING names a key for routing only: it is not loaded.
    env.assertEqual(
        error_text(
            env,
            *dag_args(
                DAG,
                ["ROUTING", "k"],
                ("AI.MODELEXECUTE", "add", "INPUTS", 2, "k", "k", "OUTPUTS", 1, "z"),
            ),
        ),
        INPUT_UNKNOWN,
    )
    got = run_dag(
        con,
        DAG,
        ["LOAD", 1, "k"],
        ("AI.TENSORSET", "v", "FLOAT", 2, "VALUES", 1, 2),
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "k", "v", "OUTPUTS", 1, "w"),
        ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "w", "k", "OUTPUTS", 1, "k"),
        ("AI.TENSORSET", "str", "INT8", 1, "VALUES", 3),  # shadows a string key
        ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "str", "str", "OUTPUTS", 1, "other"),
        ("AI.TENSORGET", "k", "VALUES"),
        ("AI.TENSORGET", "other", "VALUES"),
    )
    env.assertEqual(norm(got), [b"OK", b"OK", b"OK", b"OK", b"OK", [11.0, 12.0], [6]])
    env.assertEqual(keyspace(con), snapshot)
    env.assertEqual(con.exists("v", "w"), 0)
    # A key written after parsing does not change what the DAG loaded: see
    # check_timeout_and_load_snapshot.
    wait_replica(env, con)
    for c in servers(env):
        env.assertEqual(c.exists("v", "w"), 0)
        env.assertEqual(get_array(c, "k").tolist(), [5, 5])


def check_persist(env):
    """PERSIST writes exactly the listed names with their last version (a LOADed name
    unchanged too) and replicates them as AI.TENSORSET, not the DAG; a key of another type
    ends the writes with an extra WRONGTYPE element; a failing op leaves the later ops NA
    and persists nothing."""
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    store_script(con)
    set_array(con, "kept", np.array([9], np.int32))
    got = run_dag(
        con,
        DAG,
        ["LOAD", 1, "kept", "PERSIST", 3, "p", "q", "kept"],
        ("AI.TENSORSET", "p", "INT32", 1, "VALUES", 1),
        ("AI.TENSORSET", "tmp", "INT32", 1, "VALUES", 5),
        ("AI.TENSORSET", "q", "INT8", 2, "VALUES", -1, 1),
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "p", "tmp", "OUTPUTS", 1, "p"),
        ("AI.TENSORGET", "p", "VALUES"),
    )
    env.assertEqual(got, [b"OK", b"OK", b"OK", b"OK", [6]])
    env.assertEqual(sorted(con.keys("*")), [b"add", b"kept", b"p", b"q", b"s"])
    env.assertEqual(get_array(con, "p").tolist(), [6])
    env.assertEqual(get_array(con, "q").tolist(), [-1, 1])
    env.assertEqual(get_array(con, "kept").tolist(), [9])

    # A PERSIST key holding another type: the earlier keys are written, then the error
    # element, and the later keys are not.
    con.set("str", "text")
    with RawConnection(con) as raw:
        got = raw.call(
            *dag_args(
                DAG,
                ["PERSIST", 3, "w1", "str", "w2"],
                ("AI.TENSORSET", "w1", "INT32", 1, "VALUES", 1),
                ("AI.TENSORSET", "str", "INT32", 1, "VALUES", 2),
                ("AI.MODELEXECUTE", "add", "INPUTS", 2, "w1", "str", "OUTPUTS", 1, "w2"),
            )
        )
        env.assertEqual(
            got, ("*", [("+", b"OK"), ("+", b"OK"), ("+", b"OK"), ("-", WRONGTYPE.encode())])
        )
        # A failing op: later ops NA (a TENSORGET of a name produced before the failure
        # still has its tensor), nothing persisted.
        got = raw.call(
            *dag_args(
                DAG,
                ["PERSIST", 3, "f1", "f2", "f3"],
                ("AI.TENSORSET", "f1", "FLOAT", 2, "VALUES", 1, 2),
                ("AI.SCRIPTEXECUTE", "s", "wrong_fn", "INPUTS", 1, "f1", "OUTPUTS", 1, "f2"),
                ("AI.MODELEXECUTE", "add", "INPUTS", 2, "f2", "f2", "OUTPUTS", 1, "f3"),
                ("AI.TENSORGET", "f2", "VALUES"),
                ("AI.TENSORGET", "f3", "VALUES"),
                ("AI.TENSORGET", "f1", "META"),
            )
        )
        env.assertEqual(
            got,
            (
                "*",
                [
                    ("+", b"OK"),
                    ("-", (MISSING_FUNCTION % "wrong_fn").encode()),
                    ("+", b"NA"),
                    ("+", b"NA"),
                    ("+", b"NA"),
                    ("*", [("$", b"dtype"), ("$", b"FLOAT"), ("$", b"shape"), ("*", [(":", 2)])]),
                ],
            ),
        )
    env.assertEqual(con.get("str"), b"text")
    env.assertEqual(get_array(con, "w1").tolist(), [1])
    env.assertEqual(con.exists("w2", "f1", "f2", "f3", "tmp"), 0)

    if env.useSlaves:  # the DAG's writes are this client's: WAIT covers them
        env.assertEqual(con.execute_command("WAIT", 1, 10000), 1)
    wait_replica(env, con)
    for c in servers(env):
        env.assertEqual(sorted(c.keys("*")), [b"add", b"kept", b"p", b"q", b"s", b"str", b"w1"])
        for key in (b"p", b"q", b"kept", b"w1"):
            env.assertEqual(
                c.execute_command("AI.TENSORGET", key, "META", "BLOB"),
                con.execute_command("AI.TENSORGET", key, "META", "BLOB"),
            )
    if env.useSlaves:
        stats = env.getSlaveConnection().info("commandstats")
        env.assertContains("cmdstat_ai.tensorset", stats)
        env.assertNotContains("cmdstat_ai.dagexecute", stats)


def check_read_only(env):
    """_RO refuses PERSIST and AI.SCRIPTEXECUTE, runs models and writes nothing."""
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    store_script(con)
    set_array(con, "x", np.array([1, 2], np.float32))
    snapshot = keyspace(con)
    tensorset = ("AI.TENSORSET", "y", "FLOAT", 1, "VALUES", 1)
    env.assertEqual(error_text(env, *dag_args(DAG_RO, ["PERSIST", 1, "y"], tensorset)), PERSIST_RO)
    env.assertEqual(
        error_text(env, *dag_args(DAGRUN_RO, ["PERSIST", 1, "y"], tensorset)), PERSIST_RO
    )
    env.assertEqual(
        error_text(
            env,
            *dag_args(
                DAG_RO,
                ["LOAD", 1, "x"],
                ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "y"),
            ),
        ),
        SCRIPT_RO,
    )
    got = run_dag(
        con,
        DAG_RO,
        ["LOAD", 1, "x"],
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "x"),
        ("AI.TENSORGET", "x", "VALUES"),
    )
    env.assertEqual(norm(got), [b"OK", [2.0, 4.0]])
    env.assertEqual(keyspace(con), snapshot)
    env.assertEqual(calls_errors(con, "add"), (1, 0))


def getkeys(raw, *args):
    kind, keys = raw.call("COMMAND", "GETKEYS", *args)
    return [k for _, k in keys] if kind == "*" else (kind, keys)


def check_getkeys(env):
    """COMMAND GETKEYS lists the LOAD and PERSIST keys, the ROUTING value and the model and
    script keys; tensor names inside ops and the TIMEOUT value are not keys."""
    con = fresh(env)
    ops = [
        ("AI.TENSORSET", "t", "FLOAT", 1, "VALUES", 1),
        ("AI.MODELEXECUTE", "m{a}", "INPUTS", 2, "t", "l1{a}", "OUTPUTS", 1, "o"),
        ("AI.SCRIPTEXECUTE", "s{a}", "fn", "KEYS", 1, "k", "INPUTS", 1, "o", "OUTPUTS", 1, "p{a}"),
        ("AI.TENSORGET", "p{a}", "VALUES"),
    ]
    with RawConnection(con) as raw:
        header = [
            "LOAD",
            2,
            "l1{a}",
            "l2{a}",
            "PERSIST",
            1,
            "p{a}",
            "ROUTING",
            "{a}",
            "TIMEOUT",
            500,
        ]
        env.assertEqual(
            getkeys(raw, *dag_args(DAG, header, *ops)),
            [b"l1{a}", b"l2{a}", b"p{a}", b"{a}", b"m{a}", b"s{a}"],
        )
        env.assertEqual(
            getkeys(raw, *dag_args(DAG_RO, ["TIMEOUT", 5, "ROUTING", "r"], ops[1])), [b"r", b"m{a}"]
        )
        env.assertEqual(
            getkeys(raw, *dag_args(DAG_RO, ["LOAD", 1, "x"], ("AI.TENSORGET", "x", "VALUES"))),
            [b"x"],
        )
        env.assertEqual(
            getkeys(
                raw,
                *dag_args(
                    DAGRUN, ["PERSIST", 2, "a", "b"], ("AI.TENSORSET", "a", "FLOAT", 1, "VALUES", 1)
                ),
            ),
            [b"a", b"b"],
        )
    env.assertEqual(con.keys("*"), [])


def check_deprecated_dagrun(env):
    """AI.DAGRUN and AI.DAGRUN_RO take AI.MODELRUN and AI.SCRIPTRUN ops, need no header
    keyword (ROUTING is accepted), and PERSIST works in AI.DAGRUN."""
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    store_script(con)
    set_array(con, "k", np.array([1, 2], np.float32))
    ops = [
        ("AI.TENSORSET", "a", "FLOAT", 2, "VALUES", 1, 1),
        ("AI.MODELRUN", "add", "INPUTS", "a", "k", "OUTPUTS", "b"),
        ("AI.SCRIPTRUN", "s", "add", "INPUTS", "b", "k", "OUTPUTS", "c"),
        ("AI.TENSORGET", "c", "VALUES"),
    ]
    want = [b"OK", b"OK", b"OK", [3.0, 5.0]]
    env.assertEqual(norm(run_dag(con, DAGRUN, ["LOAD", 1, "k", "PERSIST", 1, "c"], *ops)), want)
    env.assertEqual(get_array(con, "c").tolist(), [3, 5])
    env.assertEqual(norm(run_dag(con, DAGRUN_RO, ["LOAD", 1, "k"], *ops)), want)
    env.assertEqual(norm(run_dag(con, DAGRUN, ["ROUTING", "k", "LOAD", 1, "k"], *ops)), want)
    env.assertEqual(
        run_dag(
            con,
            DAGRUN,
            [],
            ("AI.TENSORSET", "a", "INT32", 1, "VALUES", 4),
            ("AI.MODELRUN", "add", "INPUTS", "a", "a", "OUTPUTS", "a"),
            ("AI.TENSORGET", "a", "VALUES"),
        ),
        [b"OK", b"OK", [8]],
    )
    with RawConnection(con) as raw:
        got = raw.call(
            *dag_args(
                DAGRUN_RO,
                ["LOAD", 1, "k"],
                ("AI.SCRIPTRUN", "s", "missing", "INPUTS", "k", "OUTPUTS", "c"),
                ("AI.TENSORGET", "c", "VALUES"),
            )
        )
    env.assertEqual(got, ("*", [("-", (MISSING_FUNCTION % "missing").encode()), ("+", b"NA")]))
    env.assertEqual(calls_errors(con, "add"), (4, 0))
    env.assertEqual(calls_errors(con, "s"), (4, 1))
    env.assertEqual(sorted(con.keys("*")), [b"add", b"c", b"k", b"s"])


def check_multi_and_lua(env):
    """All four DAG commands are refused inside MULTI and Lua before any parsing; the same
    command works outside."""
    con = fresh(env)
    set_array(con, "k", np.array([1], np.float32))
    commands = [
        dag_args(DAG, ["PERSIST", 1, "out"], ("AI.TENSORSET", "out", "INT8", 1)),
        dag_args(DAG_RO, ["LOAD", 1, "k"], ("AI.TENSORGET", "k", "VALUES")),
        dag_args(DAGRUN, [], ("AI.TENSORSET", "out", "INT8", 1)),
        dag_args(DAGRUN_RO, [], ("AI.TENSORGET", "k", "VALUES")),
        [DAG],
        [DAGRUN_RO, "junk"],
    ]
    pipe = con.pipeline(transaction=True)
    for args in commands:
        pipe.execute_command(*args)
    pipe.execute_command("AI.TENSORGET", "k", "VALUES")
    res = pipe.execute(raise_on_error=False)
    env.assertEqual([str(r) for r in res[:-1]], [TRANSACTION] * len(commands))
    env.assertEqual(res[-1], con.execute_command("AI.TENSORGET", "k", "VALUES"))
    lua = "return redis.pcall(unpack(ARGV))['err']"
    for args in commands:
        env.assertEqual(con.eval(lua, 0, *args), b"ERR " + TRANSACTION.encode())
    env.assertEqual(con.exists("out"), 0)
    env.assertEqual(con.execute_command(*commands[0]), [b"OK"])
    env.assertEqual(con.type("out"), b"AI_TENSOR")


def test_dag_results(env):
    """Reply shapes, versions, volatile names, PERSIST, read-only DAGs, GETKEYS, the
    deprecated commands and transactions."""
    run_checks(
        env,
        check_pipeline_matches_single_commands,
        check_spec_examples,
        check_versions,
        check_volatile_names_and_load,
        check_persist,
        check_read_only,
        check_getkeys,
        check_deprecated_dagrun,
        check_multi_and_lua,
    )


# ---------------------------------------------------------------------------------------
# Execution: queues, devices, timeouts, statistics


def check_timeout_and_load_snapshot(env):
    """Behind a slow run on the CPU queue: a DAG with TIMEOUT 1 replies +TIMEDOUT and
    persists nothing; one whose CPU:1 op ran before its CPU op timed out replies TIMEDOUT
    too (the CPU:1 op is counted, the CPU one not); one with a large TIMEOUT runs on the
    tensor LOADed at parse time although the key changed while it waited."""
    con = fresh(env)
    setup_slow(con)
    store(con, "add", "TORCH", torch_blob("add"))
    store(con, "add1", "TORCH", torch_blob("add"), device="CPU:1")
    set_array(con, "a", np.ones(2, np.float32))
    slow = Call(
        env, "AI.MODELEXECUTE", "slow", "INPUTS", 2, "slow:x", "slow:n", "OUTPUTS", 1, "slow:out"
    )
    wait_blocked(env, con, 1)
    t1 = Call(
        env,
        *dag_args(
            DAG,
            ["LOAD", 1, "a", "PERSIST", 1, "t1", "TIMEOUT", 1],
            ("AI.MODELEXECUTE", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "t1"),
        ),
        raw=True,
    )
    wait_blocked(env, con, 2)
    # TIMEOUT well below SLOW_MS, and well above the time the idle CPU:1 worker needs.
    t2 = Call(
        env,
        *dag_args(
            DAG,
            ["TIMEOUT", SLOW_MS // 3, "LOAD", 1, "a", "PERSIST", 1, "t2"],
            ("AI.MODELEXECUTE", "add1", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "b"),
            ("AI.MODELEXECUTE", "add", "INPUTS", 2, "b", "b", "OUTPUTS", 1, "t2"),
            ("AI.TENSORGET", "b", "VALUES"),
        ),
        raw=True,
    )
    wait_blocked(env, con, 3)
    t3 = Call(
        env,
        *dag_args(
            DAG,
            ["LOAD", 1, "a", "PERSIST", 1, "t3", "TIMEOUT", 100000],
            ("AI.MODELEXECUTE", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "t3"),
            ("AI.TENSORGET", "t3", "VALUES"),
        ),
    )
    wait_blocked(env, con, 4)
    set_array(con, "a", np.full(2, 10, np.float32))  # after t3 took its snapshot
    env.assertEqual(t1.wait(), ("+", b"TIMEDOUT"))
    env.assertEqual(t2.wait(), ("+", b"TIMEDOUT"))
    env.assertEqual(norm(t3.wait()), [b"OK", [2.0, 2.0]])
    env.assertEqual(slow.wait(), b"OK")
    env.assertEqual(con.exists("t1", "t2", "b"), 0)
    env.assertEqual(get_array(con, "t3").tolist(), [2, 2])
    env.assertEqual(calls_errors(con, "add1"), (1, 0))
    env.assertEqual(calls_errors(con, "add"), (1, 0))
    wait_replica(env, con)
    for c in servers(env):
        env.assertEqual(c.exists("t1", "t2"), 0)
        env.assertEqual(get_array(c, "t3").tolist(), [2, 2])


def check_two_devices(env):
    """Ops on CPU and CPU:1 that each wait for the other's output give the right result,
    also with several clients running such DAGs at once."""
    con = fresh(env)
    store(con, "slow", "TORCH", torch_blob("slow1"))
    store(con, "add", "TORCH", torch_blob("add"))
    store(con, "add1", "TORCH", torch_blob("add"), device="CPU:1")

    def ops(x, rounds):
        return [
            ("AI.TENSORSET", "x", "FLOAT", 2, "VALUES", *x),
            ("AI.TENSORSET", "n", "INT64", 1, "VALUES", rounds),
            ("AI.MODELEXECUTE", "slow", "INPUTS", 2, "x", "n", "OUTPUTS", 1, "s"),  # CPU: x
            ("AI.MODELEXECUTE", "add1", "INPUTS", 2, "s", "x", "OUTPUTS", 1, "b"),  # 2x
            ("AI.MODELEXECUTE", "add", "INPUTS", 2, "b", "s", "OUTPUTS", 1, "c"),  # 3x
            ("AI.MODELEXECUTE", "add1", "INPUTS", 2, "c", "b", "OUTPUTS", 1, "out"),  # 5x
            ("AI.TENSORGET", "out", "VALUES"),
        ]

    got = run_dag(con, DAG, ["PERSIST", 1, "out"], *ops([1, 2], 100))
    env.assertEqual(norm(got), [b"OK"] * 6 + [[5.0, 10.0]])
    env.assertEqual(get_array(con, "out").tolist(), [5, 10])
    env.assertEqual(
        [calls_errors(con, k) for k in ("slow", "add", "add1")], [(1, 0), (1, 0), (2, 0)]
    )
    failures = []

    def client(i):
        c = env.getConnection()
        try:
            for r in range(3):
                x = [i, r]
                reply = run_dag(c, DAG_RO, ["ROUTING", "x"], *ops(x, 5 + i % 3))
                want = [b"OK"] * 6 + [[5.0 * i, 5.0 * r]]
                if norm(reply) != want:
                    failures.append((i, r, reply))
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((i, repr(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    env.assertEqual(failures, [])
    env.assertEqual(calls_errors(con, "add1"), (2 + 8 * 3 * 2, 0))
    env.assertEqual(con.info("clients")["blocked_clients"], 0)
    env.assertEqual(sorted(con.keys("*")), [b"add", b"add1", b"out", b"slow"])


def check_info_counts(env):
    """Every model/script op that ran counts a call (a failing one an error too) under its
    key; ops skipped after a failure and DAGs refused at parse time count nothing."""
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    store_script(con)
    set_array(con, "x", np.ones((3, 2), np.float32))
    ok = [
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "y"),
        ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "y", "x", "OUTPUTS", 1, "z"),
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "z", "y", "OUTPUTS", 1, "w"),
    ]
    env.assertEqual(run_dag(con, DAG, ["LOAD", 1, "x"], *ok), [b"OK"] * 3)
    model, script = info(con, "add"), info(con, "s")
    env.assertEqual((model["calls"], model["errors"], model["samples"]), (2, 0, 6))
    env.assertEqual((script["calls"], script["errors"], script["samples"]), (1, 0, -1))
    env.assertGreater(model["duration"], 0)
    env.assertGreater(script["duration"], 0)
    # A failing script op: counted as an error; the model ops after it are skipped.
    failing = [ok[0], ("AI.SCRIPTEXECUTE", "s", "nope", "INPUTS", 1, "y", "OUTPUTS", 1, "z"), ok[2]]
    got = run_dag(con, DAG, ["LOAD", 1, "x"], *failing)
    env.assertEqual([got[0], str(got[1]), got[2]], [b"OK", MISSING_FUNCTION % "nope", b"NA"])
    env.assertEqual(calls_errors(con, "add"), (3, 0))
    env.assertEqual(calls_errors(con, "s"), (2, 1))
    # A failing model op (shapes that do not broadcast).
    got = run_dag(
        con,
        DAG,
        ["LOAD", 1, "x"],
        ("AI.TENSORSET", "v", "FLOAT", 4, "VALUES", 1, 2, 3, 4),
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "x", "v", "OUTPUTS", 1, "y"),
        ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "y", "x", "OUTPUTS", 1, "z"),
    )
    env.assertEqual(got[0], b"OK")
    env.assertContains("must match the size of tensor b", str(got[1]))
    env.assertEqual(got[2], b"NA")
    env.assertEqual(calls_errors(con, "add"), (4, 1))
    env.assertEqual(calls_errors(con, "s"), (2, 1))
    # Refused at parse time: nothing runs, nothing counts.
    env.assertEqual(
        error_text(env, *dag_args(DAG, ["LOAD", 1, "x"], *ok, ("AI.TENSORGET", "nowhere", "META"))),
        INPUT_UNKNOWN,
    )
    env.assertEqual(calls_errors(con, "add"), (4, 1))
    env.assertEqual(info(con, "add")["samples"], 6 + 3)


def test_dag_execution(env):
    """TIMEOUT, LOAD snapshots while queued, two devices, AI.INFO counts."""
    run_checks(env, check_timeout_and_load_snapshot, check_two_devices, check_info_counts)


# ---------------------------------------------------------------------------------------
# Persistence and replication (their own environments)


def aof_bytes(con):
    """Everything in the AOF directory (Redis 7 multi-part AOF)."""
    directory = con.config_get("dir")["dir"]
    aofdir = os.path.join(directory, con.config_get("appenddirname")["appenddirname"])
    data = b""
    for name in sorted(os.listdir(aofdir)):
        with open(os.path.join(aofdir, name), "rb") as f:
            data += f.read()
    return data


def test_persist_after_aof_restart(env):
    """The AOF holds the PERSIST writes as AI.TENSORSET (not the DAG); a restart replays
    them; volatile names stay absent."""
    if not env.useAof:
        env.skip()
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    got = run_dag(
        con,
        DAG,
        ["PERSIST", 2, "sum", "set"],
        ("AI.TENSORSET", "set", "INT16", 2, "VALUES", 3, 4),
        ("AI.TENSORSET", "gone", "INT16", 2, "VALUES", 10, 20),
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "set", "gone", "OUTPUTS", 1, "sum"),
    )
    env.assertEqual(got, [b"OK", b"OK", b"OK"])
    before = {k: con.execute_command("AI.TENSORGET", k, "META", "BLOB") for k in ("sum", "set")}
    env.assertEqual(get_array(con, "sum").tolist(), [13, 24])
    aof = aof_bytes(con)
    env.assertContains(b"AI.TENSORSET", aof)
    env.assertNotContains(b"AI.DAGEXECUTE", aof.upper())
    env.stop()
    env.start()
    con = connect(env)
    env.assertEqual(sorted(con.keys("*")), [b"add", b"set", b"sum"])
    for key, want in before.items():
        env.assertEqual(con.execute_command("AI.TENSORGET", key, "META", "BLOB"), want)


def test_read_only_on_replica(env):
    """DAGEXECUTE_RO and DAGRUN_RO run on a read-only replica (models and LOADed tensors
    replicated to it) with the master's results; the writing forms are refused there."""
    if not env.useSlaves:
        env.skip()
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    store(con, "add1", "TORCH", torch_blob("add"), device="CPU:1")
    set_array(con, "x", np.array([1, 2], np.float32))
    wait_replica(env, con)
    replica = env.getSlaveConnection()
    env.assertEqual(replica.config_get("replica-read-only")["replica-read-only"], "yes")
    snapshot = keyspace(replica)
    ops = [
        ("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 3, 4),
        ("AI.MODELEXECUTE", "add1", "INPUTS", 2, "x", "t", "OUTPUTS", 1, "y"),
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "y", "y", "OUTPUTS", 1, "z"),
        ("AI.TENSORGET", "z", "VALUES"),
    ]
    want = [b"OK", b"OK", b"OK", [8.0, 12.0]]
    env.assertEqual(norm(run_dag(con, DAG_RO, ["LOAD", 1, "x"], *ops)), want)
    env.assertEqual(norm(run_dag(replica, DAG_RO, ["LOAD", 1, "x"], *ops)), want)
    old = [
        ("AI.TENSORSET", "t", "FLOAT", 2, "VALUES", 3, 4),
        ("AI.MODELRUN", "add", "INPUTS", "x", "t", "OUTPUTS", "y"),
        ("AI.TENSORGET", "y", "VALUES"),
    ]
    env.assertEqual(
        norm(run_dag(replica, DAGRUN_RO, ["LOAD", 1, "x"], *old)), [b"OK", b"OK", [4.0, 6.0]]
    )
    env.assertEqual(calls_errors(replica, "add"), (2, 0))
    for command, header, op in (
        (DAG, ["PERSIST", 1, "t"], ops[0]),
        (DAG, ["LOAD", 1, "x"], ops[1]),
        (DAGRUN, [], old[0]),
    ):
        got = error_text(env, *dag_args(command, header, op), conn=replica)
        env.assertEqual(got, READONLY, message=command)
    env.assertEqual(keyspace(replica), snapshot)
