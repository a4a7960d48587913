"""AI.DAGEXECUTE_ASYNC, AI.DAGRUNASYNC and AI.DAGINFO (roadmap R1): an asynchronous DAG
gives the synchronous command's reply and keyspace writes (every op kind, two backends,
two devices, the deprecated form), its status while queued and running, after an op error
and after TIMEOUT; unknown, expired and deleted ids; the DAG_ASYNC_MAX bound; MULTI/EXEC
and Lua; the ai.dagdone notification; clients that go away; DAG_RESULT_TTL and
DAG_ASYNC_MAX at load time and in AI.CONFIG; the parse errors of the synchronous table;
PERSIST writes on a replica and across an AOF restart. Cluster: test_dag_async_cluster.py."""

import re
import time

import numpy as np
import redis
from error_texts import (
    ARITY,
    DAG_ASYNC_FULL,
    DAG_CONFIG_INVALID,
    DAG_CONFIG_MISSING,
    DAG_UNKNOWN_ID,
    MISSING_ARGS,
    READONLY,
    SYNTAX,
    TENSOR_EMPTY,
    TRANSACTION,
    err,
)
from includes import (
    RawConnection,
    error_text,
    keyspace,
    run_checks,
    wait_replica,
    wait_until,
)
from model_zoo import connect, get_array, onnx_blob, servers, set_array, store, torch_blob
from RLTest import Env
from test_dag import DAG, DAGRUN, aof_bytes, dag_args, fresh, mul_blob, setup_slow, store_script
from test_dag_errors import ERRORS
from test_dag_errors import setup as setup_error_table

ASYNC, RUNASYNC, INFO = "AI.DAGEXECUTE_ASYNC", "AI.DAGRUNASYNC", "AI.DAGINFO"
PENDING = (b"QUEUED", b"RUNNING")
ID = re.compile(rb"^(\d+)-(\d+)$")
TTL_DEFAULT, MAX_DEFAULT = 60000, 100000


def submit(con, command, header, *ops):
    dag_id = con.execute_command(*dag_args(command, header, *ops))
    assert ID.match(dag_id), dag_id
    return dag_id


def daginfo(con, dag_id, *extra):
    """AI.DAGINFO as a dict with str field names."""
    reply = con.execute_command(INFO, dag_id, *extra)
    return {reply[i].decode(): reply[i + 1] for i in range(0, len(reply), 2)}


def wait_finished(env, con, dag_id, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while True:
        info = daginfo(con, dag_id)
        if info["status"] not in PENDING or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    env.assertNotContains(info["status"], PENDING, message=dag_id)
    return info


def raw_finished(env, raw, dag_id, timeout_s=60):
    """AI.DAGINFO of a finished id as (type, payload) tuples: the status and the reply."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = raw.call(INFO, dag_id)[1]
        if got[1][1] not in PENDING or time.monotonic() > deadline:
            break
        time.sleep(0.002)
    env.assertEqual([f[1] for f in got[0::2]], [b"status", b"queued_ms", b"run_ms", b"reply"])
    return got[1][1], got[7]


def restore_config(con):
    con.execute_command("AI.CONFIG", "DAG_RESULT_TTL", TTL_DEFAULT)
    con.execute_command("AI.CONFIG", "DAG_ASYNC_MAX", MAX_DEFAULT)


# ---------------------------------------------------------------------------------------
# The same reply and the same keyspace writes as the synchronous command


def same_as_sync_cases():
    """(synchronous command, its asynchronous twin, header, ops) of every op kind."""
    x = np.random.default_rng(5).standard_normal((5, 4)).astype(np.float32)
    ab = np.arange(6, dtype=np.float32).reshape(2, 3)
    return [
        (
            DAG,
            ASYNC,
            ["PERSIST", 1, "out"],
            [
                ("AI.TENSORSET", "out", "INT32", 2, "VALUES", 7, 8),
                ("AI.TENSORGET", "out", "VALUES"),
                ("AI.TENSORGET", "out", "META", "BLOB"),
            ],
        ),
        (
            DAG,
            ASYNC,
            ["LOAD", 1, "x", "PERSIST", 2, "y", "label"],
            [
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
                    "x",
                    "OUTPUTS",
                    1,
                    "x",
                ),
                ("AI.MODELEXECUTE", "mlp", "INPUTS", 1, "x", "OUTPUTS", 1, "y"),
                ("AI.SCRIPTEXECUTE", "s", "post", "INPUTS", 1, "y", "OUTPUTS", 2, "p", "label"),
                ("AI.TENSORGET", "p", "META", "BLOB"),
                ("AI.TENSORGET", "label", "VALUES"),
            ],
        ),
        (
            DAG,
            ASYNC,
            ["PERSIST", 2, "sum", "y"],
            [
                ("AI.TENSORSET", "a", "FLOAT", 2, 3, "BLOB", ab.tobytes()),
                ("AI.MODELEXECUTE", "oadd", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "sum"),
                ("AI.TENSORSET", "x", "FLOAT", 5, 4, "BLOB", x.tobytes()),
                ("AI.MODELEXECUTE", "omlp", "INPUTS", 1, "x", "OUTPUTS", 2, "y", "l"),
                ("AI.TENSORGET", "sum", "VALUES"),
                ("AI.TENSORGET", "l", "META", "VALUES"),
            ],
        ),
        (  # two devices waiting for each other
            DAG,
            ASYNC,
            ["ROUTING", "r", "PERSIST", 1, "c"],
            [
                ("AI.TENSORSET", "a", "FLOAT", 2, "VALUES", 1, 2),
                ("AI.MODELEXECUTE", "add1", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "b"),
                ("AI.MODELEXECUTE", "add", "INPUTS", 2, "b", "a", "OUTPUTS", 1, "c"),
                ("AI.MODELEXECUTE", "add1", "INPUTS", 2, "c", "b", "OUTPUTS", 1, "d"),
                ("AI.TENSORGET", "d", "VALUES"),
            ],
        ),
        (
            DAGRUN,
            RUNASYNC,
            ["LOAD", 1, "x", "PERSIST", 1, "z"],
            [
                ("AI.MODELRUN", "add", "INPUTS", "x", "x", "OUTPUTS", "y"),
                ("AI.SCRIPTRUN", "s", "add", "INPUTS", "y", "x", "OUTPUTS", "z"),
                ("AI.TENSORGET", "z", "BLOB"),
            ],
        ),
    ]


def store_models(con):
    store(con, "mlp", "TORCH", torch_blob("mlp"))
    store(con, "add", "TORCH", torch_blob("add"))
    store(con, "add1", "TORCH", torch_blob("add"), device="CPU:1")
    store(con, "oadd", "ONNX", onnx_blob("add"))
    store(con, "omlp", "ONNX", onnx_blob("mlp"))
    store_script(con)


def written(con, before):
    """The keys written since the keyspace snapshot `before`, with their dumps."""
    now = keyspace(con)
    return {k: v for k, v in now.items() if before.get(k) != v}


def check_same_as_sync(env):
    """Each DAG sent synchronously, then (its PERSIST keys deleted) asynchronously: DAGINFO
    gives DONE and the very reply on the wire, and the same keys hold the same bytes, on
    the replica too; the ops count in AI.INFO as synchronous ones do."""
    con = fresh(env)
    store_models(con)
    set_array(con, "x", np.random.default_rng(7).standard_normal((3, 4)).astype(np.float32))
    with RawConnection(con) as raw:
        for sync, asynchronous, header, ops in same_as_sync_cases():
            before = keyspace(con)
            want = raw.call(*dag_args(sync, header, *ops))
            env.assertEqual(want[0], "*", message=want)
            env.assertNotContains("-", [e[0] for e in want[1]], message=want)
            sync_writes = written(con, before)
            env.assertTrue(sync_writes, message=header)
            con.delete(*sync_writes)
            kind, dag_id = raw.call(*dag_args(asynchronous, header, *ops))
            env.assertEqual(kind, "$")
            env.assertTrue(ID.match(dag_id), message=dag_id)
            status, reply = raw_finished(env, raw, dag_id)
            env.assertEqual((status, reply), (b"DONE", want), message=ops)
            env.assertEqual(written(con, before), sync_writes, message=ops)
            wait_replica(env, con)
            for c in servers(env)[1:]:
                env.assertEqual(written(c, before), sync_writes, message=ops)
    calls = {k: con.execute_command("AI.INFO", k)[15] for k in ("mlp", "omlp", "add1", "s")}
    env.assertEqual(calls, {"mlp": 2, "omlp": 2, "add1": 4, "s": 6})


def check_ids(env):
    """Ids are `<unix ms>-<seq>`, increasing, with the server's clock; the commands report
    the keys of the synchronous ones."""
    con = fresh(env)
    start_ms = int(time.time() * 1000)
    ids = [
        submit(con, ASYNC, ["ROUTING", "r"], ("AI.TENSORSET", "t", "INT8", 1, "VALUES", i))
        for i in range(50)
    ]
    parts = [tuple(int(p) for p in ID.match(i).groups()) for i in ids]
    env.assertEqual(parts, sorted(parts))
    env.assertEqual(len(set(parts)), 50)
    env.assertLessEqual(start_ms - 1000, parts[0][0])
    env.assertLessEqual(parts[-1][0], int(time.time() * 1000) + 1000)
    # The keys Redis (and a cluster client) sees: those of the synchronous commands.
    for command in (ASYNC, RUNASYNC):
        op = "AI.MODELEXECUTE" if command == ASYNC else "AI.MODELRUN"
        args = dag_args(
            command,
            ["LOAD", 1, "x", "PERSIST", 1, "y", "ROUTING", "r", "TIMEOUT", 5],
            (op, "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y"),
        )
        env.assertEqual(con.command_getkeys(*args), ["x", "y", "r", "m"])


# ---------------------------------------------------------------------------------------
# Status and timings


def slow_dag(con, header=(), out="slow:out"):
    return submit(
        con,
        ASYNC,
        ["LOAD", 2, "slow:x", "slow:n", "PERSIST", 1, out, *header],
        ("AI.MODELEXECUTE", "slow", "INPUTS", 2, "slow:x", "slow:n", "OUTPUTS", 1, out),
    )


def check_status_queued_running_timedout(env):
    """Behind a slow run on the CPU queue: the slow DAG is RUNNING (no reply yet), one
    queued behind it is QUEUED with run_ms 0, one with TIMEOUT 1 ends TIMEDOUT (+TIMEDOUT,
    nothing persisted, never ran); all finish with their timings."""
    con = fresh(env)
    setup_slow(con)
    store(con, "add", "TORCH", torch_blob("add"))
    set_array(con, "a", np.ones(2, np.float32))
    before = async_info(con)
    first = slow_dag(con)
    wait_until(env, lambda: daginfo(con, first)["status"] == b"RUNNING", 30, "RUNNING")
    running = daginfo(con, first)
    env.assertEqual(running["reply"], None)
    env.assertGreaterEqual(running["run_ms"], 0)
    queued = submit(
        con,
        ASYNC,
        ["LOAD", 1, "a", "PERSIST", 1, "q"],
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "q"),
        ("AI.TENSORGET", "q", "VALUES"),
    )
    late = submit(
        con,
        ASYNC,
        ["LOAD", 1, "a", "PERSIST", 1, "late", "TIMEOUT", 1],
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "late"),
    )
    info, counts = daginfo(con, queued), async_info(con)
    if daginfo(con, first)["status"] == b"RUNNING":  # the CPU worker is still busy
        env.assertEqual((info["status"], info["run_ms"], info["reply"]), (b"QUEUED", 0, None))
        env.assertEqual((counts["async_dags_queued"], counts["async_dags_running"]), (2, 1))
    done = wait_finished(env, con, first)
    env.assertEqual((done["status"], done["reply"]), (b"DONE", [b"OK"]))
    env.assertGreater(done["run_ms"], 0)
    info = wait_finished(env, con, queued)
    env.assertEqual((info["status"], info["reply"]), (b"DONE", [b"OK", [b"2", b"2"]]))
    with RawConnection(con) as raw:
        env.assertEqual(raw_finished(env, raw, late), (b"TIMEDOUT", ("+", b"TIMEDOUT")))
    info = daginfo(con, late)
    env.assertEqual(info["run_ms"], 0)
    env.assertGreater(info["queued_ms"], 0)
    env.assertEqual(con.exists("late"), 0)
    env.assertEqual(get_array(con, "q").tolist(), [2, 2])
    env.assertEqual(con.type("slow:out"), b"AI_TENSOR")
    after = async_info(con)
    env.assertEqual(
        [
            after[k] - before[k]
            for k in ("async_dags_done", "async_dags_errors", "async_dags_timedout")
        ],
        [2, 0, 1],
    )
    env.assertEqual((after["async_dags_queued"], after["async_dags_running"]), (0, 0))
    env.assertEqual(after["async_dags_kept"] - before["async_dags_kept"], 3)


def check_op_errors(env):
    """A failing op: status ERROR and the synchronous reply (the error element inside the
    array, NA after it); a PERSIST key of another type: the extra WRONGTYPE element."""
    con = fresh(env)
    store(con, "mul", "TORCH", mul_blob())
    store_script(con)
    con.set("str", "text")
    cases = [
        (
            ["ROUTING", "r", "PERSIST", 1, "r"],
            [
                ("AI.TENSORSET", "p", "FLOAT", 2, "VALUES", 1, 2),
                ("AI.TENSORSET", "q", "FLOAT", 3),
                ("AI.MODELEXECUTE", "mul", "INPUTS", 2, "p", "q", "OUTPUTS", 1, "r"),
                ("AI.TENSORGET", "r", "VALUES"),
            ],
        ),
        (
            ["ROUTING", "r", "PERSIST", 1, "p"],
            [
                ("AI.TENSORSET", "p", "FLOAT", 2, "VALUES", 1, 2),
                ("AI.SCRIPTEXECUTE", "s", "nope", "INPUTS", 1, "p", "OUTPUTS", 1, "o"),
                ("AI.MODELEXECUTE", "mul", "INPUTS", 2, "p", "p", "OUTPUTS", 1, "r"),
            ],
        ),
        (
            ["PERSIST", 2, "ok", "str"],
            [
                ("AI.TENSORSET", "ok", "FLOAT", 1, "VALUES", 1),
                ("AI.TENSORSET", "str", "FLOAT", 1, "VALUES", 1),
                ("AI.MODELEXECUTE", "mul", "INPUTS", 2, "ok", "ok", "OUTPUTS", 1, "m"),
            ],
        ),
    ]
    with RawConnection(con) as raw:
        for header, ops in cases:
            want = raw.call(*dag_args(DAG, header, *ops))
            env.assertContains("-", [e[0] for e in want[1]], message=want)
            con.delete("ok")
            snapshot = keyspace(con)
            dag_id = raw.call(*dag_args(ASYNC, header, *ops))[1]
            env.assertEqual(raw_finished(env, raw, dag_id), (b"ERROR", want))
            env.assertEqual(written(con, snapshot).keys(), {b"ok"} if "ok" in header else set())
    env.assertEqual(con.get("str"), b"text")


# ---------------------------------------------------------------------------------------
# Ids: unknown, deleted, expired; the bound


def check_unknown_del_and_arity(env):
    """Unknown ids, DEL of a finished id (the same reply, then unknown), DEL of a pending
    one (forgotten at once; the run still completes and persists), arity and syntax."""
    con = fresh(env)
    for bad in ("0-0", "nope", "", "99999999999999-0"):
        env.assertEqual(error_text(env, INFO, bad), DAG_UNKNOWN_ID)
    env.assertEqual(error_text(env, INFO), ARITY % INFO)
    env.assertEqual(error_text(env, INFO, "0-0", "DEL", "x"), ARITY % INFO)
    dag_id = submit(
        con,
        ASYNC,
        ["PERSIST", 1, "t"],
        ("AI.TENSORSET", "t", "INT8", 2, "VALUES", 1, 2),
        ("AI.TENSORGET", "t", "VALUES"),
    )
    env.assertEqual(error_text(env, INFO, dag_id, "REMOVE"), SYNTAX)
    want = daginfo(con, dag_id)
    env.assertEqual((want["status"], want["reply"]), (b"DONE", [b"OK", [1, 2]]))
    env.assertEqual(daginfo(con, dag_id, "del"), want)
    env.assertEqual(error_text(env, INFO, dag_id), DAG_UNKNOWN_ID)
    env.assertEqual(error_text(env, INFO, dag_id, "DEL"), DAG_UNKNOWN_ID)
    # A pending run, deleted.
    setup_slow(con)
    pending = slow_dag(con)
    info = daginfo(con, pending, "DEL")
    env.assertContains(info["status"], PENDING)
    env.assertEqual(info["reply"], None)
    env.assertEqual(error_text(env, INFO, pending), DAG_UNKNOWN_ID)
    wait_until(env, lambda: con.exists("slow:out"), 30, "the deleted run's PERSIST key")
    env.assertEqual(error_text(env, INFO, pending), DAG_UNKNOWN_ID)


def check_expiry(env):
    """DAG_RESULT_TTL: a finished id is known for TTL ms, then unknown; the sweep forgets
    expired results nobody asks for."""
    con = fresh(env)
    forget_all(env, con)
    try:
        env.assertEqual(con.execute_command("AI.CONFIG", "DAG_RESULT_TTL", 3000), b"OK")
        start = time.monotonic()
        ids = [
            submit(con, ASYNC, ["ROUTING", "r"], ("AI.TENSORSET", "t", "INT8", 1, "VALUES", i))
            for i in range(3)
        ]
        env.assertEqual(daginfo(con, ids[0])["status"], b"DONE")
        env.assertEqual(async_info(con)["async_dags_kept"], 3)
        wait_until(env, lambda: async_info(con)["async_dags_kept"] == 0, 10, "no sweep")
        env.assertGreaterEqual(time.monotonic() - start, 3.0)
        for dag_id in ids:
            env.assertEqual(error_text(env, INFO, dag_id), DAG_UNKNOWN_ID)
        # A TTL of 0 keeps nothing: the id is unknown once the run completed.
        env.assertEqual(con.execute_command("AI.CONFIG", "DAG_RESULT_TTL", 0), b"OK")
        dag_id = submit(con, ASYNC, ["ROUTING", "r"], ("AI.TENSORSET", "t", "INT8", 1))
        env.assertEqual(error_text(env, INFO, dag_id), DAG_UNKNOWN_ID)
    finally:
        restore_config(con)


def async_info(con):
    """The ai_async_dags section of INFO MODULES, without the ai_ prefixes."""
    return {k.removeprefix("ai_"): v for k, v in con.info("ai_async_dags").items()}


def forget_all(env, con):
    """Lets every kept result expire (the registry is the server's, not the keyspace's)."""
    con.execute_command("AI.CONFIG", "DAG_RESULT_TTL", 0)
    wait_until(env, lambda: async_info(con)["async_dags_kept"] == 0, 10, "results still kept")
    con.execute_command("AI.CONFIG", "DAG_RESULT_TTL", TTL_DEFAULT)


def check_bound(env):
    """DAG_ASYNC_MAX ids pending or kept at most: beyond it `too many asynchronous DAGs`
    (after the parse errors), until one is forgotten."""
    con = fresh(env)
    forget_all(env, con)
    try:
        con.execute_command("AI.CONFIG", "DAG_ASYNC_MAX", 3)
        header, op = ["ROUTING", "r"], ("AI.TENSORSET", "t", "INT8", 1)
        ids = [submit(con, ASYNC, header, op) for _ in range(3)]
        env.assertEqual(error_text(env, *dag_args(ASYNC, header, op)), DAG_ASYNC_FULL)
        env.assertEqual(error_text(env, *dag_args(RUNASYNC, [], op)), DAG_ASYNC_FULL)
        env.assertEqual(error_text(env, ASYNC, "ROUTING", "r"), MISSING_ARGS % DAG)
        daginfo(con, ids[1], "DEL")
        submit(con, RUNASYNC, [], op)
        env.assertEqual(error_text(env, *dag_args(ASYNC, header, op)), DAG_ASYNC_FULL)
        con.execute_command("AI.CONFIG", "DAG_ASYNC_MAX", 4)
        submit(con, ASYNC, header, op)
    finally:
        restore_config(con)
    for dag_id in (ids[0], ids[2]):
        env.assertEqual(daginfo(con, dag_id)["status"], b"DONE")


# ---------------------------------------------------------------------------------------
# Transactions, Lua, notifications, clients that go away


def check_multi_and_lua(env):
    """MULTI/EXEC and Lua submit asynchronous DAGs (the synchronous ones stay refused);
    the runs complete with their writes."""
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    set_array(con, "x", np.array([1, 2], np.float32))
    op = ("AI.MODELEXECUTE", "add", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "m")
    pipe = con.pipeline(transaction=True)
    pipe.execute_command(*dag_args(ASYNC, ["LOAD", 1, "x", "PERSIST", 1, "m"], op))
    pipe.execute_command(*dag_args(DAG, ["LOAD", 1, "x", "PERSIST", 1, "m"], op))
    pipe.execute_command(*dag_args(RUNASYNC, ["PERSIST", 1, "r"], ("AI.TENSORSET", "r", "INT8", 1)))
    pipe.execute_command(*dag_args(ASYNC, ["LOAD", 1, "nope"], op))
    got = pipe.execute(raise_on_error=False)
    env.assertTrue(ID.match(got[0]), message=got)
    env.assertEqual(str(got[1]), TRANSACTION)
    env.assertTrue(ID.match(got[2]), message=got)
    env.assertEqual(str(got[3]), TENSOR_EMPTY)
    env.assertEqual(wait_finished(env, con, got[0])["reply"], [b"OK"])
    env.assertEqual(wait_finished(env, con, got[2])["reply"], [b"OK"])
    env.assertEqual(get_array(con, "m").tolist(), [2, 4])
    env.assertEqual(con.type("r"), b"AI_TENSOR")
    lua = "return redis.call(unpack(ARGV))"
    args = dag_args(ASYNC, ["LOAD", 1, "x", "PERSIST", 1, "l"], (*op[:-1], "l"))
    dag_id = con.eval(lua, 0, *args)
    env.assertTrue(ID.match(dag_id), message=dag_id)
    env.assertEqual(wait_finished(env, con, dag_id)["reply"], [b"OK"])
    env.assertEqual(get_array(con, "l").tolist(), [2, 4])
    lua_error = con.eval("return redis.pcall(unpack(ARGV))['err']", 0, ASYNC, "LOAD", 1, "x")
    env.assertEqual(lua_error, (err(MISSING_ARGS) % DAG).encode())
    wait_replica(env, con)
    for c in servers(env):
        env.assertEqual(get_array(c, "l").tolist(), [2, 4])


def check_notifications(env):
    """With `notify-keyspace-events Ed` a subscriber gets `ai.dagdone` once per id, on the
    submitter's database's channel, only once the run is over; nothing without `d`."""
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    set_array(con, "x", np.array([1, 2], np.float32))
    port = con.connection_pool.connection_kwargs["port"]
    db1 = redis.Redis(port=port, db=1)
    try:
        con.config_set("notify-keyspace-events", "KEd")
        sub = con.pubsub()
        sub.psubscribe("__key*@*__:*")
        env.assertEqual(sub.get_message(timeout=10)["type"], "psubscribe")
        op = ("AI.MODELEXECUTE", "add", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "y")
        ids = {
            submit(con, ASYNC, ["LOAD", 1, "x"], op, ("AI.TENSORGET", "y", "VALUES")): 0
            for _ in range(20)
        }
        ids[submit(con, ASYNC, ["ROUTING", "r"], ("AI.TENSORSET", "t", "INT8", 1))] = 0
        store(db1, "add", "TORCH", torch_blob("add"))
        set_array(db1, "x", np.array([1, 2], np.float32))
        ids1 = {submit(db1, ASYNC, ["LOAD", 1, "x", "PERSIST", 1, "y"], op): 1 for _ in range(3)}
        want = {**ids, **ids1}
        con0 = env.getConnection()
        events, spaces = {}, {}
        deadline = time.monotonic() + 30
        while (len(events) < len(want) or len(spaces) < len(want)) and time.monotonic() < deadline:
            m = sub.get_message(timeout=1)
            if not m or m["type"] != "pmessage":
                continue
            channel = m["channel"].decode()
            if channel.endswith(":ai.dagdone"):
                env.assertNotContains(m["data"], events)
                events[m["data"]] = channel
                env.assertNotContains(daginfo(con0, m["data"])["status"], PENDING)
            elif m["data"] == b"ai.dagdone":
                spaces[channel.split(":", 1)[1].encode()] = channel
        env.assertEqual(events, {i: f"__keyevent@{db}__:ai.dagdone" for i, db in want.items()})
        env.assertEqual(spaces, {i: f"__keyspace@{db}__:{i.decode()}" for i, db in want.items()})
        # The PERSIST writes went to the submitter's database.
        env.assertEqual((db1.type("y"), con.exists("y")), (b"AI_TENSOR", 0))
        # Without the module class (d), no event.
        con.config_set("notify-keyspace-events", "KEg$")
        quiet = submit(con, ASYNC, ["ROUTING", "r"], ("AI.TENSORSET", "t", "INT8", 1))
        con.set("marker", 1)
        seen = []
        while True:
            m = sub.get_message(timeout=5)
            if not m:
                break
            seen.append(m["data"])
            if m["data"] == b"set":
                break
        env.assertNotContains(quiet, seen)
        env.assertNotContains(b"ai.dagdone", seen)
        sub.close()
    finally:
        con.config_set("notify-keyspace-events", "")
        db1.flushdb()
        db1.close()


def check_disconnect(env):
    """A client that submits and goes away: its DAG runs to completion and persists; its id
    is known to everyone."""
    con = fresh(env)
    setup_slow(con)
    gone = env.getConnection()
    dag_id = slow_dag(gone)
    gone.close()
    gone.connection_pool.disconnect()
    info = wait_finished(env, con, dag_id)
    env.assertEqual((info["status"], info["reply"]), (b"DONE", [b"OK"]))
    env.assertEqual(con.type("slow:out"), b"AI_TENSOR")
    wait_replica(env, con)
    for c in servers(env):
        env.assertEqual(c.type("slow:out"), b"AI_TENSOR")


def check_watch(env):
    """A PERSIST write at completion touches the key as a command's write does: a
    transaction that WATCHed it fails."""
    con = fresh(env)
    setup_slow(con)
    set_array(con, "slow:out", np.zeros(2, np.float32))
    watcher = env.getConnection()
    pipe = watcher.pipeline(transaction=True)
    pipe.watch("slow:out")
    dag_id = slow_dag(con)
    env.assertEqual(wait_finished(env, con, dag_id)["status"], b"DONE")
    pipe.multi()
    pipe.set("after", 1)
    try:
        pipe.execute()
        aborted = False
    except redis.WatchError:
        aborted = True
    env.assertTrue(aborted)
    env.assertEqual(con.exists("after"), 0)
    env.assertEqual(get_array(con, "slow:out").tolist(), [1, 1])


# ---------------------------------------------------------------------------------------
# Options, parse errors


def check_config(env):
    """AI.CONFIG GET shows both options (integers), AI.CONFIG sets them; bad values are
    refused with the option's name."""
    con = fresh(env)
    get = lambda name: con.execute_command("AI.CONFIG", "GET", name)  # noqa: E731
    env.assertEqual((get("DAG_RESULT_TTL"), get("dag_async_max")), (TTL_DEFAULT, MAX_DEFAULT))
    try:
        env.assertEqual(con.execute_command("AI.CONFIG", "dag_result_ttl", 5), b"OK")
        env.assertEqual(con.execute_command("AI.CONFIG", "DAG_ASYNC_MAX", 9), b"OK")
        env.assertEqual((get("DAG_RESULT_TTL"), get("DAG_ASYNC_MAX")), (5, 9))
        for name, bad in (
            ("DAG_RESULT_TTL", "-1"),
            ("DAG_RESULT_TTL", "x"),
            ("DAG_ASYNC_MAX", "0"),
            ("DAG_ASYNC_MAX", "1.5"),
        ):
            env.assertEqual(error_text(env, "AI.CONFIG", name, bad), DAG_CONFIG_INVALID % name)
            env.assertEqual(error_text(env, "AI.CONFIG", name.lower()), DAG_CONFIG_MISSING % name)
        env.assertEqual((get("DAG_RESULT_TTL"), get("DAG_ASYNC_MAX")), (5, 9))
    finally:
        restore_config(con)


def async_error_table():
    """The synchronous DAG error table with each DAGEXECUTE / DAGRUN command in its
    asynchronous form (the read-only commands have none): arity errors of DAGRUN name the
    command as typed, every other text is the synchronous one."""
    names = {DAG.lower(): ASYNC, DAGRUN.lower(): RUNASYNC}
    out = []
    for args, want in ERRORS:
        name = str(args[0])
        if name.lower() not in names:
            continue
        twin = names[name.lower()]
        twin = twin.lower() if name.islower() else twin
        out.append(([twin, *args[1:]], err(ARITY) % twin if want == err(ARITY) % name else want))
    return out


def check_error_table(env):
    """Each refused asynchronous command replies the synchronous error, queues nothing and
    changes nothing."""
    con = connect(env)
    forget_all(env, con)
    setup_error_table(con)
    snapshot = keyspace(con)
    table = async_error_table()
    env.assertGreater(len(table), 80)
    with RawConnection(con) as raw:
        for args, want in table:
            env.assertEqual(raw.call(*args), ("-", want.encode()), message=args)
            env.assertEqual(keyspace(con), snapshot, message=args)
    counts = async_info(con)
    env.assertEqual((counts["async_dags_queued"], counts["async_dags_running"]), (0, 0))
    env.assertEqual(counts["async_dags_kept"], 0)


def test_dag_async(env):
    run_checks(
        env,
        check_same_as_sync,
        check_ids,
        check_status_queued_running_timedout,
        check_op_errors,
        check_unknown_del_and_arity,
        check_expiry,
        check_bound,
        check_multi_and_lua,
        check_notifications,
        check_disconnect,
        check_watch,
        check_config,
        check_error_table,
    )


def test_dag_async_load_time_options():
    """DAG_RESULT_TTL and DAG_ASYNC_MAX given on the module's load line."""
    env = Env(moduleArgs="DAG_RESULT_TTL 1234 DAG_ASYNC_MAX 2")
    con = env.getConnection()
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "DAG_RESULT_TTL"), 1234)
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "DAG_ASYNC_MAX"), 2)
    op = ("AI.TENSORSET", "t", "INT8", 1)
    submit(con, ASYNC, ["ROUTING", "r"], op)
    submit(con, ASYNC, ["ROUTING", "r"], op)
    env.assertEqual(error_text(env, *dag_args(ASYNC, ["ROUTING", "r"], op)), DAG_ASYNC_FULL)


# ---------------------------------------------------------------------------------------
# Replication and AOF (their own environments)


def test_dag_async_replication(env):
    """The PERSIST writes of an asynchronous DAG reach the replica as AI.TENSORSET; the id
    is the master's alone."""
    if not env.useSlaves:
        env.skip()
    con = fresh(env)
    store_models(con)
    set_array(con, "x", np.ones((2, 4), np.float32))
    ids = [
        submit(
            con,
            ASYNC,
            ["LOAD", 1, "x", "PERSIST", 2, f"y{i}", f"o{i}"],
            ("AI.MODELEXECUTE", "mlp", "INPUTS", 1, "x", "OUTPUTS", 1, f"y{i}"),
            ("AI.MODELEXECUTE", "omlp", "INPUTS", 1, "x", "OUTPUTS", 2, f"o{i}", "l"),
        )
        for i in range(5)
    ]
    for dag_id in ids:
        env.assertEqual(wait_finished(env, con, dag_id)["status"], b"DONE")
    wait_replica(env, con)
    replica = env.getSlaveConnection()
    env.assertEqual(keyspace(replica), keyspace(con))
    env.assertEqual(error_text(env, INFO, ids[0], conn=replica), DAG_UNKNOWN_ID)
    refused = dag_args(ASYNC, ["LOAD", 1, "x"], ("AI.TENSORGET", "x", "VALUES"))
    env.assertEqual(error_text(env, *refused, conn=replica), READONLY)
    env.assertEqual(keyspace(replica), keyspace(con))


def test_dag_async_aof_restart(env):
    """The AOF holds an asynchronous DAG's PERSIST writes (not the command); a restart
    replays them, and forgets the ids."""
    if not env.useAof:
        env.skip()
    con = fresh(env)
    store(con, "add", "TORCH", torch_blob("add"))
    dag_id = submit(
        con,
        ASYNC,
        ["PERSIST", 2, "sum", "set"],
        ("AI.TENSORSET", "set", "INT16", 2, "VALUES", 3, 4),
        ("AI.TENSORSET", "gone", "INT16", 2, "VALUES", 10, 20),
        ("AI.MODELEXECUTE", "add", "INPUTS", 2, "set", "gone", "OUTPUTS", 1, "sum"),
    )
    env.assertEqual(wait_finished(env, con, dag_id)["reply"], [b"OK", b"OK", b"OK"])
    before = keyspace(con)
    aof = aof_bytes(con)
    env.assertContains(b"AI.TENSORSET", aof)
    env.assertNotContains(b"AI.DAGEXECUTE", aof.upper())
    env.stop()
    env.start()
    con = connect(env)
    env.assertEqual(keyspace(con), before)
    env.assertEqual(get_array(con, "sum").tolist(), [13, 24])
    env.assertEqual(error_text(env, INFO, dag_id), DAG_UNKNOWN_ID)
