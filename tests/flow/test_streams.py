"""Streams in DAGs (roadmap R2.1, R2.2): LOAD of a stream reads the tensor of its newest
entry in every DAG form (AI.DAGEXECUTE, _RO, _ASYNC, the deprecated AI.DAGRUN, _RO and
AI.DAGRUNASYNC); PERSIST into a stream appends an entry (dtype, shape, blob), trimmed to
about STREAM_MAXLEN, replicated as the XADD it is with its id, kept by the AOF; every
stream-entry error leaves the keyspace as it was. Triggers: test_triggers.py."""

import time

import numpy as np
from error_texts import (
    STREAM_MAXLEN_INVALID,
    STREAM_MAXLEN_MISSING,
    STREAM_NOT_TENSOR,
    WRONGTYPE,
)
from includes import error_text, keyspace, refused_load, run_checks, string_blob, wait_replica
from model_zoo import connect, get_array, set_array
from RLTest import Env
from test_dag import aof_bytes, dag_args, fresh

ADD1 = """
def add1(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + 1
"""
DTYPES = {np.float32: "FLOAT", np.int32: "INT32", np.int64: "INT64", np.uint8: "UINT8"}


def entry(arr, **extra):
    """The fields of a stream entry holding arr (R2.1)."""
    arr = np.ascontiguousarray(arr)
    shape = " ".join(str(d) for d in arr.shape)
    return {"dtype": DTYPES[arr.dtype.type], "shape": shape, "blob": arr.tobytes(), **extra}


def entry_array(fields):
    """The tensor of an entry, as returned by XRANGE."""
    dtype = {v: k for k, v in DTYPES.items()}[fields[b"dtype"].decode()]
    shape = [int(d) for d in fields[b"shape"].split()]
    return np.frombuffer(fields[b"blob"], dtype=dtype).reshape(shape)


def store_add1(con, key="s"):
    con.execute_command("AI.SCRIPTSTORE", key, "CPU", "ENTRY_POINTS", 1, "add1", "SOURCE", ADD1)


def wait_async(con, dag_id, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reply = con.execute_command("AI.DAGINFO", dag_id)
        if reply[1] not in (b"QUEUED", b"RUNNING"):
            return reply[-1]
        time.sleep(0.005)
    raise AssertionError("asynchronous DAG did not finish")


# ---------------------------------------------------------------------------------------
# LOAD


def check_load_every_form(env):
    """The newest entry is what every DAG form loads; other fields are ignored."""
    con = fresh(env)
    store_add1(con)
    con.xadd("in", entry(np.array([1, 2], np.float32)))
    con.xadd("in", entry(np.array([[5, 6, 7]], np.int32), note="ignored"))
    want = [[6, 7, 8]]
    run = ("AI.SCRIPTEXECUTE", "s", "add1", "INPUTS", 1, "in", "OUTPUTS", 1, "y")
    get = ("AI.TENSORGET", "y", "VALUES")
    for command in ("AI.DAGEXECUTE", "AI.DAGEXECUTE_ASYNC"):
        reply = con.execute_command(*dag_args(command, ["LOAD", 1, "in"], run, get))
        if command.endswith("ASYNC"):
            reply = wait_async(con, reply)
        env.assertEqual(reply[0], b"OK", message=command)
        env.assertEqual(np.array(reply[1]).reshape(1, 3).tolist(), want, message=command)
    old_run = ("AI.SCRIPTRUN", "s", "add1", "INPUTS", "in", "OUTPUTS", "y")
    for command in ("AI.DAGRUN", "AI.DAGRUNASYNC"):
        reply = con.execute_command(*dag_args(command, ["LOAD", 1, "in"], old_run, get))
        if command.endswith("ASYNC"):
            reply = wait_async(con, reply)
        env.assertEqual(np.array(reply[1]).reshape(1, 3).tolist(), want, message=command)
    for command in ("AI.DAGEXECUTE_RO", "AI.DAGRUN_RO"):
        reply = con.execute_command(
            *dag_args(command, ["LOAD", 1, "in"], ("AI.TENSORGET", "in", "META"))
        )
        env.assertEqual(reply[0], [b"dtype", b"INT32", b"shape", [1, 3]], message=command)
    env.assertEqual(con.xlen("in"), 2)  # reading changes nothing


def check_load_scalar_and_strings(env):
    """A scalar has an empty shape; a STRING tensor's blob holds NUL-ended elements."""
    con = fresh(env)
    con.xadd("sc", {"dtype": "DOUBLE", "shape": "", "blob": np.float64(2.5).tobytes()})
    con.xadd("st", {"dtype": "STRING", "shape": "2", "blob": string_blob([b"ab", b"c"])})
    reply = con.execute_command(
        *dag_args(
            "AI.DAGEXECUTE_RO",
            ["LOAD", 2, "sc", "st"],
            ("AI.TENSORGET", "sc", "META", "VALUES"),
            ("AI.TENSORGET", "st", "VALUES"),
        )
    )
    env.assertEqual(reply[0][:4], [b"dtype", b"DOUBLE", b"shape", []])
    env.assertEqual([float(v) for v in reply[0][5]], [2.5])
    env.assertEqual(reply[1], [b"ab", b"c"])


def not_tensor_entries():
    """Entries that do not make a tensor: each is `stream entry is not a tensor`."""
    blob = np.array([1, 2], np.float32).tobytes()
    return [
        {"shape": "2", "blob": blob},  # no dtype
        {"dtype": "FLOAT", "blob": blob},  # no shape
        {"dtype": "FLOAT", "shape": "2"},  # no blob
        {"dtype": "FLOAT32", "shape": "2", "blob": blob},  # no such dtype
        {"dtype": "FLOAT", "shape": "3", "blob": blob},  # blob too short
        {"dtype": "FLOAT", "shape": "1", "blob": blob},  # blob too long
        {"dtype": "FLOAT", "shape": "2 ", "blob": blob},
        {"dtype": "FLOAT", "shape": "1  2", "blob": blob},
        {"dtype": "FLOAT", "shape": "-2", "blob": blob},
        {"dtype": "FLOAT", "shape": "0", "blob": b""},
        {"dtype": "FLOAT", "shape": "x", "blob": blob},
        {"dtype": "FLOAT", "shape": "99999999999999999999", "blob": blob},
        {"dtype": "BOOL", "shape": "2", "blob": b"\x00\x02"},  # not 0 or 1
        {"dtype": "STRING", "shape": "2", "blob": b"a\x00"},  # one element, not two
        {"unrelated": "1"},
    ]


def check_load_errors(env):
    """An empty stream and every inconsistent entry; the DAG writes nothing."""
    con = fresh(env)
    store_add1(con)
    con.xgroup_create("empty", "g", "$", mkstream=True)
    header = ["LOAD", 1, "in", "PERSIST", 1, "y"]
    run = ("AI.SCRIPTEXECUTE", "s", "add1", "INPUTS", 1, "in", "OUTPUTS", 1, "y")
    empty = dag_args("AI.DAGEXECUTE", ["LOAD", 1, "empty"], ("AI.TENSORGET", "empty", "META"))
    env.assertEqual(error_text(env, *empty), STREAM_NOT_TENSOR)
    for fields in not_tensor_entries():
        con.xadd("in", fields)
        before = keyspace(con)
        for command in ("AI.DAGEXECUTE", "AI.DAGEXECUTE_ASYNC", "AI.DAGRUN"):
            op = (
                run
                if command != "AI.DAGRUN"
                else ("AI.SCRIPTRUN", "s", "add1", "INPUTS", "in", "OUTPUTS", "y")
            )
            env.assertEqual(
                error_text(env, *dag_args(command, header, op)), STREAM_NOT_TENSOR, message=fields
            )
        env.assertEqual(keyspace(con), before, message=fields)
    # A tensor key still loads as before, and another type is still WRONGTYPE.
    con.set("str", "x")
    wrong = dag_args("AI.DAGEXECUTE_RO", ["LOAD", 1, "str"], ("AI.TENSORGET", "str", "META"))
    env.assertEqual(error_text(env, *wrong), WRONGTYPE)


# ---------------------------------------------------------------------------------------
# PERSIST


def persist_add1(con, src="x", out="out"):
    return con.execute_command(
        *dag_args(
            "AI.DAGEXECUTE",
            ["LOAD", 1, src, "PERSIST", 1, out],
            ("AI.SCRIPTEXECUTE", "s", "add1", "INPUTS", 1, src, "OUTPUTS", 1, out),
        )
    )


def check_persist_appends(env):
    """An entry with dtype, shape and blob (no source: no trigger); a name with no key
    becomes a tensor key, as in RedisAI; a key of another type is refused."""
    con = fresh(env)
    store_add1(con)
    set_array(con, "x", np.array([[1, 2], [3, 4]], np.int64))
    con.xgroup_create("out", "g", "$", mkstream=True)
    env.assertEqual(persist_add1(con), [b"OK"])
    env.assertEqual(persist_add1(con), [b"OK"])
    entries = con.xrange("out")
    env.assertEqual(len(entries), 2)
    for _, fields in entries:
        env.assertEqual(sorted(fields), [b"blob", b"dtype", b"shape"])
        env.assertEqual(fields[b"shape"], b"2 2")
        env.assertEqual(entry_array(fields).tolist(), [[2, 3], [4, 5]])
    env.assertEqual(persist_add1(con, out="plain"), [b"OK"])
    env.assertEqual(con.type("plain"), b"AI_TENSOR")
    env.assertEqual(get_array(con, "plain").tolist(), [[2, 3], [4, 5]])
    # The appended entry reads back as the tensor it holds.
    reply = con.execute_command(
        *dag_args("AI.DAGEXECUTE_RO", ["LOAD", 1, "out"], ("AI.TENSORGET", "out", "VALUES"))
    )
    env.assertEqual(reply, [[2, 3, 4, 5]])
    con.set("str", "x")
    reply = persist_add1(con, out="str")
    env.assertEqual(str(reply[-1]), WRONGTYPE)
    env.assertEqual(con.get("str"), b"x")


def check_persist_notifies_xadd(env):
    """The append is notified as XADD: a blocked XREAD wakes up."""
    con = fresh(env)
    store_add1(con)
    set_array(con, "x", np.array([1], np.int32))
    con.xgroup_create("out", "g", "$", mkstream=True)
    pubsub = con.pubsub()
    con.config_set("notify-keyspace-events", "Et")
    pubsub.psubscribe("__keyevent@*__:xadd")
    pubsub.get_message(timeout=1)
    persist_add1(con)
    msg = None
    deadline = time.monotonic() + 5
    while msg is None and time.monotonic() < deadline:
        msg = pubsub.get_message(timeout=0.5)
    con.config_set("notify-keyspace-events", "")
    pubsub.close()
    env.assertEqual(msg and msg["data"], b"out")


def check_trimming(env):
    """MAXLEN ~ STREAM_MAXLEN: about that many entries are kept; 0 never trims."""
    con = fresh(env)
    store_add1(con)
    set_array(con, "x", np.array([1], np.int32))
    con.xgroup_create("out", "g", "$", mkstream=True)
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "STREAM_MAXLEN"), 10000)
    env.assertEqual(con.execute_command("AI.CONFIG", "STREAM_MAXLEN", 50), b"OK")
    try:
        for _ in range(400):
            persist_add1(con)
        length = con.xlen("out")
        env.assertGreaterEqual(length, 50)
        env.assertLess(length, 400)
        env.assertEqual(con.execute_command("AI.CONFIG", "STREAM_MAXLEN", 0), b"OK")
        for _ in range(300):
            persist_add1(con)
        env.assertEqual(con.xlen("out"), length + 300)
        env.assertEqual(error_text(env, "AI.CONFIG", "STREAM_MAXLEN"), STREAM_MAXLEN_MISSING)
        for bad in ("-1", "x", "1.5"):
            env.assertEqual(
                error_text(env, "AI.CONFIG", "STREAM_MAXLEN", bad), STREAM_MAXLEN_INVALID
            )
        env.assertEqual(con.execute_command("AI.CONFIG", "GET", "STREAM_MAXLEN"), 0)
    finally:
        con.execute_command("AI.CONFIG", "STREAM_MAXLEN", 10000)
    if env.useSlaves:
        wait_replica(env, con)
        env.assertEqual(env.getSlaveConnection().xrange("out"), con.xrange("out"))


def test_streams(env):
    run_checks(
        env,
        check_load_every_form,
        check_load_scalar_and_strings,
        check_load_errors,
        check_persist_appends,
        check_persist_notifies_xadd,
        check_trimming,
    )


def test_stream_maxlen_at_load_time():
    env = Env(moduleArgs="STREAM_MAXLEN 7")
    con = env.getConnection()
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "STREAM_MAXLEN"), 7)
    for bad in ("-1", "x"):
        rc, text = refused_load("STREAM_MAXLEN", bad)
        env.assertEqual(rc, 1, message=bad)
        env.assertContains(f"ERR error processing argument: STREAM_MAXLEN {bad}", text)


def test_persist_replication(env):
    """The replica gets the XADD with the master's id, and the exact outcome of trimming."""
    if not env.useSlaves:
        env.skip()
    con = fresh(env)
    store_add1(con)
    set_array(con, "x", np.array([1.5], np.float32))
    con.xgroup_create("out", "g", "$", mkstream=True)
    con.execute_command("AI.CONFIG", "STREAM_MAXLEN", 20)
    try:
        for _ in range(250):
            persist_add1(con)
    finally:
        con.execute_command("AI.CONFIG", "STREAM_MAXLEN", 10000)
    wait_replica(env, con)
    replica = env.getSlaveConnection()
    env.assertEqual(replica.xrange("out"), con.xrange("out"))
    env.assertEqual(keyspace(replica), keyspace(con))


def test_persist_aof(env):
    """The AOF holds the appends as XADD with their ids: a restart gives the same stream."""
    if not env.useAof:
        env.skip()
    con = fresh(env)
    store_add1(con)
    set_array(con, "x", np.array([7], np.int32))
    con.xgroup_create("out", "g", "$", mkstream=True)
    for _ in range(5):
        persist_add1(con)
    before = con.xrange("out")
    env.assertContains(b"XADD", aof_bytes(con).upper())
    env.stop()
    env.start()
    con = connect(env)
    env.assertEqual(con.xrange("out"), before)
