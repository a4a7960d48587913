"""Triggers (roadmap R2.3): AI.TRIGGERSTORE / AI.TRIGGERGET / DEL of AI_TRIGGER keys, which
run a DAG for every entry a client adds to a stream: in entry order, with the entry id as
`source` of what they append, a bounded number in flight (a burst waits in the stream),
errors counted without stopping, AI.INFO's runs / errors / last_error / lag; the stored
DAG's errors; the key in RDB (DEBUG RELOAD), AOF and on replicas; restarts (RDB and AOF)
and the promotion of a replica in the middle of a backlog process every entry at least
once. Cluster: test_triggers_cluster.py."""

import time

import numpy as np
import redis
from error_texts import (
    ARITY,
    BAD_DATA_FORMAT,
    CALL_ERROR,
    DAG_UNSUPPORTED,
    MISSING_ARGS,
    MODEL_EMPTY,
    NOPERM_KEYS,
    STREAM_NOT_TENSOR,
    SYNTAX,
    TENSOR_EMPTY,
    TRIGGER_EMPTY,
    WRONGTYPE,
)
from includes import (
    MODULE,
    RawConnection,
    RedisServer,
    error_text,
    keyspace,
    rewrite_aof,
    run_checks,
    wait_replica,
    wait_until,
)
from model_zoo import connect, set_array
from test_dag import fresh, getkeys, setup_slow
from test_rdb_legacy import dump_payload
from test_tensor_persistence import module_string, module_uint
from test_streams import entry, entry_array, store_add1

WINDOW = 64  # AI_TRIGGER_WINDOW: runs of one trigger in flight at most


def add1_dag(src="in", out="out", script="s", fn="add1"):
    """The DAG of a trigger: the entry through a script, appended to out."""
    return ["LOAD", 1, src, "PERSIST", 1, out, "|>", "AI.SCRIPTEXECUTE", script, fn,
            "INPUTS", 1, src, "OUTPUTS", 1, out]  # fmt: skip


def store_trigger(con, name="t", stream="in", dag=None):
    return con.execute_command("AI.TRIGGERSTORE", name, "ON", stream, "DAG", *(dag or add1_dag()))


def info(con, key="t"):
    reply = con.execute_command("AI.INFO", key)
    return {reply[i].decode(): reply[i + 1] for i in range(0, len(reply), 2)}


def add_entries(con, values, stream="in", batch=2000):
    """XADDs one INT32 entry per value, pipelined; their ids."""
    ids = []
    pipe = con.pipeline(transaction=False)
    for start in range(0, len(values), batch):
        for v in values[start : start + batch]:
            pipe.xadd(stream, entry(np.array([v], np.int32)))
        ids += pipe.execute()
    return ids


def wait_processed(env, con, last_id, key="t", timeout_s=60):
    """Until the trigger's last processed entry is last_id."""
    wait_until(env, lambda: info(con, key)["last_processed"] == last_id, timeout_s, "trigger", 0.02)


def outputs(con, out="out"):
    """(source id, value) of every output entry, in stream order."""
    return [(f[b"source"], int(entry_array(f)[0])) for _, f in con.xrange(out)]


def setup(con, stream="in", out="out"):
    store_add1(con)
    con.xgroup_create(out, "g", "$", mkstream=True)
    store_trigger(con, stream=stream, dag=add1_dag(stream, out))


# ---------------------------------------------------------------------------------------
# The key


def check_store_get(env):
    con = fresh(env)
    store_add1(con)
    env.assertEqual(store_trigger(con), b"OK")
    dag = [str(a).encode() for a in add1_dag()]
    env.assertEqual(
        con.execute_command("AI.TRIGGERGET", "t"),
        [b"stream", b"in", b"dag", dag, b"runs", 0, b"errors", 0, b"last_error", None],
    )
    env.assertEqual(con.type("t"), b"AITRIGGER")
    env.assertGreater(con.memory_usage("t"), 100)
    env.assertEqual(sorted(con.scan_iter()), [b"s", b"t"])
    env.assertEqual(
        info(con),
        {"key": b"t", "type": b"TRIGGER", "stream": b"in", "runs": 0, "errors": 0,
         "last_error": None, "lag": 0, "in_flight": 0, "last_processed": b"0-0"},
    )  # fmt: skip
    env.assertEqual(con.execute_command("AI.INFO", "t", "RESETSTAT"), b"OK")
    with RawConnection(con) as raw:
        keys = getkeys(raw, "AI.TRIGGERSTORE", "t", "ON", "in", "DAG", *add1_dag())
    env.assertEqual(keys, [b"t", b"in", b"in", b"out", b"s"])
    # Entries already in the stream are not run: only those added later.
    con.xadd("in2", entry(np.array([1], np.int32)))
    last = con.xadd("in2", entry(np.array([2], np.int32)))
    store_trigger(con, "t2", "in2", add1_dag("in2"))
    env.assertEqual(info(con, "t2")["last_processed"], last)
    env.assertEqual(info(con, "t2")["lag"], 0)
    env.assertEqual(con.exists("out"), 0)


def check_errors(env):
    """Each error leaves the keyspace as it was."""
    con = fresh(env)
    store_add1(con)
    con.set("str", "x")
    set_array(con, "x", np.array([1], np.int32))
    before = keyspace(con)
    bad_model = ["LOAD", 1, "in", "|>", "AI.MODELEXECUTE", "nomodel", "INPUTS", 1, "in",
                 "OUTPUTS", 1, "y"]  # fmt: skip
    unsupported = ["ROUTING", "in", "|>", "AI.NOPE", "x"]
    table = [
        (("AI.TRIGGERSTORE", "t", "ON", "in"), ARITY % "AI.TRIGGERSTORE"),
        (("AI.TRIGGERSTORE", "t", "AT", "in", "DAG", *add1_dag()), SYNTAX),
        (("AI.TRIGGERSTORE", "t", "ON", "in", "DAGS", *add1_dag()), SYNTAX),
        (("AI.TRIGGERSTORE", "t", "ON", "str", "DAG", *add1_dag("str")), WRONGTYPE),
        (("AI.TRIGGERSTORE", "t", "ON", "x", "DAG", *add1_dag("x")), WRONGTYPE),
        (("AI.TRIGGERSTORE", "str", "ON", "in", "DAG", *add1_dag()), WRONGTYPE),
        (("AI.TRIGGERSTORE", "t", "ON", "in", "DAG"), MISSING_ARGS % "AI.DAGEXECUTE"),
        (("AI.TRIGGERSTORE", "t", "ON", "in", "DAG", *unsupported), DAG_UNSUPPORTED),
        (("AI.TRIGGERSTORE", "t", "ON", "in", "DAG", *bad_model), MODEL_EMPTY),
        (("AI.TRIGGERSTORE", "t", "ON", "in", "DAG", *add1_dag("nokey")), TENSOR_EMPTY),
        (("AI.TRIGGERGET", "nothere"), TRIGGER_EMPTY),
        (("AI.TRIGGERGET", "str"), WRONGTYPE),
        (("AI.TRIGGERGET",), ARITY % "AI.TRIGGERGET"),
        (("AI._TRIGGERPROGRESS", "nothere", "1-1"), TRIGGER_EMPTY),
    ]  # fmt: skip
    for args, want in table:
        env.assertEqual(error_text(env, *args), want, message=args)
        env.assertEqual(keyspace(con), before, message=args)


def check_overwrite_and_del(env):
    """A new TRIGGERSTORE replaces the DAG; DEL stops new runs, even with runs in flight."""
    con = fresh(env)
    setup(con)
    ids = add_entries(con, [1])
    wait_processed(env, con, ids[-1])
    store_trigger(con, dag=add1_dag(out="out2"))
    con.xgroup_create("out2", "g", "$", mkstream=True)
    ids = add_entries(con, [2])
    wait_processed(env, con, ids[-1])
    env.assertEqual([v for _, v in outputs(con)], [2])
    env.assertEqual(outputs(con, "out2"), [(ids[0], 3)])
    # DEL in the middle of a backlog: runs in flight end, nothing new starts.
    add_entries(con, list(range(500)))
    con.delete("t")
    time.sleep(0.3)
    settled = con.xlen("out2")
    env.assertLessEqual(settled, 1 + 500)
    add_entries(con, [7, 8])
    time.sleep(0.3)
    env.assertEqual(con.xlen("out2"), settled)
    env.assertEqual(con.ping(), True)
    # RENAME stops it too: the key keeps its DAG, which no longer runs.
    store_trigger(con, dag=add1_dag(out="out2"))
    con.rename("t", "t:renamed")
    add_entries(con, [9])
    time.sleep(0.3)
    env.assertEqual(con.xlen("out2"), settled)
    env.assertEqual(con.execute_command("AI.TRIGGERGET", "t:renamed")[1], b"in")


def check_entry_order_and_values(env):
    """10,000 entries: one output each, in entry order, with its source and value."""
    con = fresh(env)
    setup(con)
    n = 10000
    ids = add_entries(con, list(range(n)))
    wait_processed(env, con, ids[-1])
    got = outputs(con)
    env.assertEqual(len(got), n)
    env.assertTrue(got == [(i, v + 1) for i, v in zip(ids, range(n))], message="order")
    stats = info(con)
    env.assertEqual((stats["runs"], stats["errors"], stats["lag"]), (n, 0, 0))
    if env.useSlaves:
        wait_replica(env, con)
        replica = env.getSlaveConnection()
        env.assertEqual(replica.xlen("out"), n)
        env.assertEqual(info(replica)["last_processed"], ids[-1])
        env.assertEqual(info(replica)["runs"], 0)  # runs happen on the master only


def server_totals(con):
    """The triggers' totals of AI.INFO without arguments."""
    reply = con.execute_command("AI.INFO")
    pairs = zip(reply[0::2], reply[1::2])
    return {k.decode(): v for k, v in pairs if k.startswith(b"trigger")}


def check_run_errors(env):
    """A bad entry is counted and kept in last_error; the next entries still run. AI.INFO
    without arguments counts the runs and errors of every trigger."""
    con = fresh(env)
    before = server_totals(con)
    setup(con)
    con.xadd("in", {"dtype": "FLOAT", "shape": "3", "blob": b"123"})
    ids = add_entries(con, [41])
    wait_processed(env, con, ids[-1])
    stats = info(con)
    env.assertEqual((stats["runs"], stats["errors"]), (2, 1))
    env.assertEqual(stats["last_error"], ("ERR " + STREAM_NOT_TENSOR).encode())
    env.assertEqual(outputs(con), [(ids[0], 42)])
    get = con.execute_command("AI.TRIGGERGET", "t")
    env.assertEqual(get[4:], [b"runs", 2, b"errors", 1, b"last_error", stats["last_error"]])
    after = server_totals(con)
    env.assertEqual((after["triggers"], after["trigger_runs_in_flight"]), (1, 0))
    env.assertEqual(after["trigger_runs"] - before["trigger_runs"], 2)
    env.assertEqual(after["trigger_errors"] - before["trigger_errors"], 1)
    # A DAG that stops parsing (its script deleted) fails each run the same way.
    con.delete("s")
    ids = add_entries(con, [1])
    wait_processed(env, con, ids[-1])
    env.assertEqual(info(con)["last_error"], b"ERR script key is empty")


def check_own_appends(env):
    """A DAG that appends to its own stream does not trigger itself."""
    con = fresh(env)
    store_add1(con)
    store_trigger(con, dag=add1_dag("in", "in"))
    add_entries(con, [1, 2])
    wait_until(env, lambda: info(con)["runs"] == 2 and info(con)["lag"] == 0, message="runs")
    time.sleep(0.1)
    env.assertEqual(con.xlen("in"), 4)
    env.assertEqual(info(con)["runs"], 2)


def check_reload(env):
    """DEBUG RELOAD keeps the trigger and where it stands; it goes on afterwards."""
    con = fresh(env)
    setup(con)
    ids = add_entries(con, [1, 2])
    wait_processed(env, con, ids[-1])
    con.execute_command("DEBUG", "RELOAD")
    env.assertEqual(info(con)["last_processed"], ids[-1])
    ids = add_entries(con, [3])
    wait_processed(env, con, ids[-1])
    env.assertEqual([v for _, v in outputs(con)], [2, 3, 4])


def trigger_payload(n_args, args, ms=0, seq=0, user=b"", encver=1):
    """A DUMP payload of an AI_TRIGGER value (trigger_type.c's RDB layout)."""
    fields = [module_string(b"in"), module_uint(n_args), *[module_string(a) for a in args]]
    fields += [module_uint(ms), module_uint(seq), module_string(user)]
    return dump_payload("AITRIGGER", encver, fields)


def check_restore(env):
    """RESTORE of a crafted value makes a working trigger; a corrupt one is refused and
    leaves the keyspace as it was."""
    con = fresh(env)
    setup(con)
    args = [str(a).encode() for a in add1_dag()]
    con.restore("t2", 0, trigger_payload(len(args), args))
    env.assertEqual(con.execute_command("AI.TRIGGERGET", "t2")[3], args)
    before = keyspace(con)
    for payload in (
        trigger_payload(len(args) + 1, args),  # an argument short
        trigger_payload(1 << 40, args),  # an absurd count
        trigger_payload(len(args), args, encver=2),  # a future encoding
    ):
        env.assertEqual(error_text(env, "RESTORE", "bad", 0, payload), BAD_DATA_FORMAT)
        env.assertEqual(keyspace(con), before)
    con.delete("t")
    ids = add_entries(con, [1])
    wait_processed(env, con, ids[-1], key="t2")
    env.assertEqual(outputs(con), [(ids[0], 2)])


def check_flush_and_reload_with_runs_in_flight(env):
    """FLUSHALL ASYNC (values freed on another thread) and DEBUG RELOAD while runs are in
    flight: the server stays up, nothing runs for the dropped trigger, a new one works."""
    con = fresh(env)
    setup(con)
    add_entries(con, list(range(3000)))
    con.execute_command("DEBUG", "RELOAD")
    add_entries(con, list(range(3000)))
    con.flushall(asynchronous=True)
    env.assertEqual(con.ping(), True)
    time.sleep(0.2)
    env.assertEqual(con.dbsize(), 0)
    setup(con)
    ids = add_entries(con, [5])
    wait_processed(env, con, ids[-1])
    env.assertEqual(outputs(con), [(ids[0], 6)])


SETTER = """
def set(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", args[0], "v")
    return tensors[0]
"""


def check_acl(env):
    """The runs' scripts call Redis as the user who stored the trigger, after a reload too."""
    con = fresh(env)
    con.execute_command("ACL", "SETUSER", "app", "on", ">pw", "~allowed:*", "+@all")
    try:
        con.execute_command(
            "AI.SCRIPTSTORE", "allowed:s", "CPU", "ENTRY_POINTS", 1, "set", "SOURCE", SETTER
        )
        kw = con.connection_pool.connection_kwargs
        app = redis.Redis(host=kw.get("host"), port=kw["port"], username="app", password="pw")
        for name, target in (("allowed:t1", "allowed:k"), ("allowed:t2", "secret:k")):
            dag = ["LOAD", 1, "allowed:in", "|>", "AI.SCRIPTEXECUTE", "allowed:s", "set",
                   "KEYS", 1, "allowed:in", "INPUTS", 1, "allowed:in", "ARGS", 1, target,
                   "OUTPUTS", 1, "allowed:y"]  # fmt: skip
            store_trigger(app, name, "allowed:in", dag)
        for reload in (False, True):
            if reload:
                con.execute_command("DEBUG", "RELOAD")
            ids = add_entries(con, [1], stream="allowed:in")
            wait_processed(env, con, ids[-1], key="allowed:t2")
            wait_processed(env, con, ids[-1], key="allowed:t1")
            env.assertEqual(info(con, "allowed:t1")["errors"], 0)
            env.assertEqual(con.get("allowed:k"), b"v")
            env.assertEqual(info(con, "allowed:t2")["errors"], 1)  # counts restart at 0
            text = info(con, "allowed:t2")["last_error"].decode()
            env.assertEqual(text, CALL_ERROR + NOPERM_KEYS)
            env.assertEqual(con.exists("secret:k"), 0)
    finally:
        con.execute_command("ACL", "DELUSER", "app")


def test_triggers(env):
    run_checks(
        env,
        check_store_get,
        check_errors,
        check_overwrite_and_del,
        check_entry_order_and_values,
        check_run_errors,
        check_own_appends,
        check_reload,
        check_flush_and_reload_with_runs_in_flight,
        check_restore,
        check_acl,
    )


def server_memory(con):
    """used_memory without the buffers of clients, replicas and the AOF, which a burst of
    writes fills whatever the module does."""
    m = con.info("memory")
    buffers = ("mem_clients_slaves", "mem_clients_normal", "mem_replication_backlog",
               "mem_aof_buffer")  # fmt: skip
    return m["used_memory"] - sum(m.get(b, 0) for b in buffers)


def test_burst_waits_in_the_stream(env):
    """100,000 entries sent faster than they run: at most WINDOW runs in flight, the
    server's memory grows with the stream, not with pending runs; all are processed."""
    con = fresh(env)
    store_add1(con)
    store_trigger(con, dag=["LOAD", 1, "in", "PERSIST", 1, "y", "|>", "AI.SCRIPTEXECUTE",
                            "s", "add1", "INPUTS", 1, "in", "OUTPUTS", 1, "y"])  # fmt: skip
    base = server_memory(con)
    n, ids, peak_in_flight, extra = 100000, [], 0, []
    for start in range(0, n, 10000):
        ids += add_entries(con, list(range(start, start + 10000)))
        stats = info(con)
        peak_in_flight = max(peak_in_flight, stats["in_flight"])
        extra.append(server_memory(con) - base - con.memory_usage("in"))
    env.assertGreater(info(con)["lag"], 0)  # a backlog did build up
    env.assertLessEqual(peak_in_flight, WINDOW)
    env.assertLess(max(extra), 4 << 20, message=extra)  # not 100,000 pending runs
    wait_processed(env, con, ids[-1], timeout_s=120)
    env.assertEqual(info(con)["runs"], n)
    reply = con.execute_command("AI.TENSORGET", "y", "VALUES")
    env.assertEqual(reply, [n])


def test_trigger_aof(env):
    """The AOF keeps the trigger and its progress: after a restart it goes on."""
    if not env.useAof:
        env.skip()
    con = fresh(env)
    setup(con)
    ids = add_entries(con, [1, 2, 3])
    wait_processed(env, con, ids[-1])
    env.stop()
    env.start()
    con = connect(env)
    env.assertEqual(info(con)["last_processed"], ids[-1])
    ids = add_entries(con, [4])
    wait_processed(env, con, ids[-1])
    env.assertEqual([v for _, v in outputs(con)], [2, 3, 4, 5])
    # A rewrite without the RDB preamble emits the trigger and where it stands.
    con.config_set("aof-use-rdb-preamble", "no")
    base = rewrite_aof(con)
    env.assertContains(b"AI.TRIGGERSTORE", base)
    env.assertContains(b"AI._TRIGGERPROGRESS", base)
    get = con.execute_command("AI.TRIGGERGET", "t")[:4]
    env.stop()
    env.start()
    con = connect(env)
    env.assertEqual(con.execute_command("AI.TRIGGERGET", "t")[:4], get)
    env.assertEqual(info(con)["last_processed"], ids[-1])
    ids = add_entries(con, [5])
    wait_processed(env, con, ids[-1])
    env.assertEqual([v for _, v in outputs(con)], [2, 3, 4, 5, 6])


# ---------------------------------------------------------------------------------------
# Restarts and failover in the middle of a backlog (servers of their own)

FIRST, BACKLOG = 200, 1000  # entries processed before, and waiting at, the restart


def plain_env_only(env):
    if env.useSlaves or env.useAof:
        env.skip()  # these tests start their own servers: once is enough


def backlog_setup(env, con, replica=None):
    """FIRST entries processed, then BACKLOG more waiting behind a slow run that holds the
    CPU queue (the trigger's runs queue behind it); the ids of all. A replica has the
    first outputs (and has loaded the models) before the queue is held."""
    setup_slow(con)
    setup(con)
    ids = add_entries(con, list(range(FIRST)))
    wait_processed(env, con, ids[-1])
    if replica:
        wait_until(env, lambda: replica.xlen("out") == FIRST, message="replica")
    con.execute_command(
        "AI.DAGEXECUTE_ASYNC", "LOAD", 2, "slow:x", "slow:n", "|>", "AI.MODELEXECUTE", "slow",
        "INPUTS", 2, "slow:x", "slow:n", "OUTPUTS", 1, "slow:y",
    )  # fmt: skip
    ids += add_entries(con, list(range(FIRST, FIRST + BACKLOG)))
    env.assertGreater(info(con)["lag"], BACKLOG - WINDOW)  # in the middle
    return ids


def check_every_entry(env, con, ids):
    """Every entry processed at least once, none skipped, each with the right output."""
    wait_processed(env, con, ids[-1], timeout_s=120)
    got = {}
    for source, value in outputs(con):
        got.setdefault(source, set()).add(value)
    env.assertEqual(sorted(got), sorted(ids), message="every entry has an output")
    env.assertTrue(all(got[i] == {v + 1} for v, i in enumerate(ids)), message="values")


def restart_in_the_middle(env, persistence):
    with RedisServer(MODULE, extra_args=persistence) as server:
        con = redis.Redis(host=server.host, port=server.port)
        ids = backlog_setup(env, con)
        con.shutdown(save="--save" in persistence)
        server.proc.wait(30)
        server.start()
        con = redis.Redis(host=server.host, port=server.port)
        check_every_entry(env, con, ids)
        env.assertGreater(info(con)["runs"], 0)  # the restarted server did the rest


def test_restart_rdb(env):
    plain_env_only(env)
    restart_in_the_middle(env, ["--save", "3600 1"])


def test_restart_aof(env):
    plain_env_only(env)
    restart_in_the_middle(env, ["--appendonly", "yes", "--appendfsync", "always"])


def test_promotion(env):
    """The replica, promoted while the master is in the middle of a backlog, resumes after
    the last entry the master told it was processed."""
    plain_env_only(env)
    with RedisServer(MODULE) as master, RedisServer(MODULE) as replica:
        mcon = redis.Redis(host=master.host, port=master.port)
        rcon = redis.Redis(host=replica.host, port=replica.port)
        mcon.config_set("repl-diskless-sync-delay", 0)
        rcon.replicaof(master.host, master.port)
        wait_until(env, lambda: rcon.info("replication")["master_link_status"] == "up")
        ids = backlog_setup(env, mcon, rcon)
        wait_until(env, lambda: rcon.xlen("in") == len(ids), message="the entries on the replica")
        env.assertGreater(info(rcon)["lag"], 0)  # the master is held: a backlog remains
        rcon.replicaof("NO", "ONE")
        check_every_entry(env, rcon, ids)
        env.assertGreater(info(rcon)["runs"], 0)
