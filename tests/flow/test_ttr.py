"""Time to response (roadmap R3): TTR <ms> on AI.MODELEXECUTE, AI.MODELRUN,
AI.SCRIPTEXECUTE, AI.SCRIPTRUN and the DAG commands. A run whose estimated response time
(the work queued ahead on its queue plus its own expected time) exceeds its TTR is
refused at once, nothing queued; an admitted run still waiting at its TTR is dropped
with TIMEDOUT; runs with a TTR are served earliest-deadline-first, and runs without one
are not starved; a batch stops waiting for mates in time for its earliest member.
ttr_rejected and ttr_missed count in AI.INFO.

The queue is made "visibly full" with runs of a slow TorchScript model (a loop of
matmuls sized for a few hundred ms) whose run time the server has seen once; a model
stored afresh has no estimate (its first runs count as 0), which lets a test queue work
the admission does not see. The tests assert outcomes and orders, never timings."""

import re
import time

import numpy as np
from error_texts import err
from includes import (
    RawConnection,
    check_refused,
    error_text,
    keyspace,
    meta_dict,
    read,
    run_checks,
    send,
    wait_blocked,
    wait_until,
)
from model_zoo import connect, execute, get_array, set_array, store, torch_blob, torch_run
from script_zoo import CALLS, CALL_ENTRY_POINTS, SIMPLE, scriptstore
from test_dag import setup_slow

UNMET = re.compile(r"TTR cannot be met \(estimated (\d+) ms\)")
TTR_MISSING = "No value provided for TTR"
TTR_INVALID = "Invalid value for TTR"
TTR_IN_OP = "TTR not allowed within a DAG command"


def standalone(env):
    if env.useSlaves or env.useAof:
        env.skip()  # queues and their order are the same in every env


def info(con, key):
    """AI.INFO key as a dict with str names."""
    return meta_dict(con.execute_command("AI.INFO", key))


def setup(con):
    """mlp (m, and m1 on CPU:1) and its input x; busy: the slow model with a known
    estimate, slow:x and slow:n for a run of about test_dag's SLOW_MS; the counter script
    (s) and the adder (t)."""
    setup_slow(con, key="cal")
    store(con, "m", "TORCH", torch_blob("mlp"))
    set_array(con, "x", np.ones((2, 4), np.float32))
    store(con, "m1", "TORCH", torch_blob("mlp"), device="CPU:1")  # a queue of its own
    for _ in range(20):  # the estimates settle (the first runs are the slowest)
        execute(con, "m", ["x"], ["y"])
        execute(con, "m1", ["x"], ["y"])
    store(con, "busy", "TORCH", torch_blob("slow1"))
    for _ in range(3):  # its estimate: the third run (the first two are not learnt)
        execute(con, "busy", ["slow:x", "slow:n"], ["busy:y"])
    scriptstore(con, "s", CALLS, CALL_ENTRY_POINTS)
    scriptstore(con, "t", SIMPLE, ["bar"])
    con.delete("y", "busy:y")


def blocker(con):
    """Occupies the CPU worker with a run of a model stored afresh (no estimate): the
    admission does not see it. Returns the connection to read its reply from."""
    store(con, "fresh", "TORCH", torch_blob("slow1"))
    before = con.info("clients")["blocked_clients"]
    raw = send(con, "AI.MODELEXECUTE", "fresh", "INPUTS", 2, "slow:x", "slow:n", "OUTPUTS", 1, "f")
    wait_until_running(con, before + 1)
    return raw


def queue_field(con, queue, field):
    """A field of a device queue in AI.INFO without arguments."""
    reply, current = con.execute_command("AI.INFO"), None
    for name, value in zip(reply[0::2], reply[1::2]):
        if name == b"queue":
            current = value.decode()
        elif current == queue and name == field.encode():
            return value
    raise KeyError((queue, field))


def wait_until_running(con, blocked):
    """Until `blocked` clients are blocked and the CPU worker runs one of them."""

    def started():
        running = queue_field(con, "CPU", "running")
        return con.info("clients")["blocked_clients"] == blocked and running == 1

    deadline = time.monotonic() + 20
    while not started():
        assert time.monotonic() < deadline, "the blocker never started"
        time.sleep(0.002)


# ---------------------------------------------------------------------------------------
# Commands


def run_m(out, *tail, model="m", x="x"):
    """AI.MODELEXECUTE of model on x into out."""
    return ("AI.MODELEXECUTE", model, "INPUTS", 1, x, "OUTPUTS", 1, out, *tail)


def count(out, *tail, key="c"):
    """AI.SCRIPTEXECUTE of the counter script: INCR key, its new value into out."""
    return (
        "AI.SCRIPTEXECUTE",
        "s",
        "counter",
        "KEYS",
        1,
        key,
        "ARGS",
        1,
        1,
        "OUTPUTS",
        1,
        out,
        *tail,
    )


def dag_m(out, *header, command="AI.DAGEXECUTE"):
    """A DAG that runs m on x and persists out."""
    return (command, "LOAD", 1, "x", "PERSIST", 1, out, *header, "|>", *run_m(out))


def run_busy(out):
    return ("AI.MODELEXECUTE", "busy", "INPUTS", 2, "slow:x", "slow:n", "OUTPUTS", 1, out)


# ---------------------------------------------------------------------------------------
# Admission


def check_refused_when_full_admitted_when_empty(env):
    """With three runs of busy queued, a run of m (or a script, or a DAG) whose TTR is
    below the estimate is refused at once with the estimate in the text, leaving the
    keyspace as it was and counting in ttr_rejected; a TTR above it is admitted; once the
    queue drained, the same small TTR is admitted."""
    con = connect(env)
    setup(con)
    env.assertEqual(con.execute_command(*run_m("y", "TTR", 100)), b"OK")  # an empty queue
    busy = [send(con, *run_busy(f"b{i}")) for i in range(3)]
    wait_blocked(env, con, 3)
    work = queue_field(con, "CPU", "work_us")
    env.assertGreater(work, 100_000)  # visibly full: more than the TTR below
    before = keyspace(con)
    text = error_text(env, *run_m("z", "TTR", 100))
    match = UNMET.fullmatch(text)
    env.assertTrue(match is not None, message=text)
    env.assertGreaterEqual(int(match.group(1)), 100)
    for args in (
        ("AI.MODELRUN", "m", "TTR", 100, "INPUTS", "x", "OUTPUTS", "z"),
        run_m("z", "TIMEOUT", 9000, "TTR", 50),
        count("z", "TTR", 100),
        ("AI.SCRIPTRUN", "t", "bar", "TTR", 100, "INPUTS", "x", "x", "OUTPUTS", "z"),
        dag_m("z", "TTR", 100),
        dag_m("z", "TTR", 100, command="AI.DAGEXECUTE_ASYNC"),
    ):
        env.assertTrue(UNMET.fullmatch(error_text(env, *args)) is not None, message=args)
    env.assertEqual(keyspace(con), before)  # nothing written, nothing queued
    # Another device's queue is empty: its runs are admitted, unless a DAG also waits here.
    env.assertEqual(con.execute_command(*run_m("z1", "TTR", 100, model="m1")), b"OK")
    two = (*dag_m("z2", "TTR", 100), "|>", *run_m("z3", model="m1"))
    env.assertTrue(UNMET.fullmatch(error_text(env, *two)) is not None)
    con.delete("z1")
    env.assertEqual(info(con, "m")["ttr_rejected"], 6)  # modelexecute x2, modelrun, 3 DAGs
    env.assertEqual(info(con, "m1")["ttr_rejected"], 1)
    env.assertEqual(info(con, "s")["ttr_rejected"], 1)
    env.assertEqual(info(con, "t")["ttr_rejected"], 1)
    # A TTR the estimate fits in is admitted, behind the busy runs.
    ok = send(con, *run_m("z", "TTR", 600_000))
    for raw in busy:
        env.assertEqual(read(raw), ("+", b"OK"))
    env.assertEqual(read(ok), ("+", b"OK"))
    # Drained: the small TTR is admitted again.
    env.assertEqual(con.execute_command(*run_m("y", "TTR", 100)), b"OK")
    env.assertEqual(con.execute_command(*dag_m("w", "TTR", 100)), [b"OK"])
    env.assertEqual(info(con, "m")["ttr_rejected"], 6)
    env.assertEqual(info(con, "m")["ttr_missed"], 0)


def check_parse_errors(env):
    """TTR takes a positive integer where TIMEOUT is accepted, with or beside TIMEOUT;
    refused inside a DAG op like TIMEOUT; a repeated TTR is an unexpected argument."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"))
    set_array(con, "x", np.ones((2, 4), np.float32))
    scriptstore(con, "s", CALLS, CALL_ENTRY_POINTS)
    scriptstore(con, "t", SIMPLE, ["bar"])
    me = ("AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    se = ("AI.SCRIPTEXECUTE", "s", "counter", "KEYS", 1, "c", "ARGS", 1, 1, "OUTPUTS", 1, "y")
    op = ("|>", "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, "y")
    table = [
        ((*me, "TTR"), TTR_MISSING),
        ((*me, "TTR", 0), TTR_INVALID),
        ((*me, "TTR", -5), TTR_INVALID),
        ((*me, "TTR", "soon"), TTR_INVALID),
        ((*me, "TIMEOUT", 10, "TTR"), TTR_MISSING),
        (("AI.MODELRUN", "m", "TTR", 0, "INPUTS", "x", "OUTPUTS", "y"), TTR_INVALID),
        ((*se, "TTR"), TTR_MISSING),
        ((*se, "TTR", "0"), TTR_INVALID),
        ((*se, "TTR", 5, "KEYS"), "Encountered problem parsing AI.SCRIPTEXECUTE"),
        (("AI.SCRIPTRUN", "t", "bar", "TTR", "x", "INPUTS", "x", "x", "OUTPUTS", "y"), TTR_INVALID),
        (("AI.DAGEXECUTE", "ROUTING", "x", "LOAD", 1, "x", "TTR"), TTR_MISSING),
        (("AI.DAGEXECUTE", "LOAD", 1, "x", "TTR", -1, *op), TTR_INVALID),
        (
            ("AI.DAGEXECUTE", "LOAD", 1, "x", "TTR", 5, "TTR", 5, *op),
            "Invalid DAG command. Unexpected argument:  TTR",
        ),
        (("AI.DAGEXECUTE", "LOAD", 1, "x", "|>", *me[:8], "TTR", 5), TTR_IN_OP),
        (("AI.DAGEXECUTE_ASYNC", "LOAD", 1, "x", "|>", *se, "TTR", 5), TTR_IN_OP),
    ]
    check_refused(env, con, table, wire_error=lambda text: err(text).encode())
    # RedisAI's text for an unexpected argument after the outputs has no ERR prefix.
    check_refused(
        env,
        con,
        [
            ((*me, "TTR", 10, "TTR", 10), "Invalid argument: TTR"),
            ((*me, "TTR", 10, "x"), "Invalid argument: x"),
        ],
    )
    # The largest TTR is no overflow.
    env.assertEqual(execute(con, "m", ["x"], ["y"], "TTR", 2**63 - 1), b"OK")
    env.assertEqual(con.execute_command(*dag_m("y", "TTR", 2**63 - 1)), [b"OK"])
    # Both limits, in either order, everywhere.
    for tail in (("TIMEOUT", 5000, "TTR", 5000), ("TTR", 5000, "TIMEOUT", 5000)):
        env.assertEqual(execute(con, "m", ["x"], ["y"], *tail), b"OK")
        env.assertEqual(con.execute_command(*se, *tail), b"OK")
        env.assertEqual(con.execute_command("AI.DAGEXECUTE", "LOAD", 1, "x", *tail, *op), [b"OK"])
    env.assertEqual(
        con.execute_command(
            "AI.MODELRUN", "m", "TTR", 5000, "TIMEOUT", 5000, "INPUTS", "x", "OUTPUTS", "y"
        ),
        b"OK",
    )
    env.assertEqual(
        con.execute_command(
            "AI.SCRIPTRUN", "t", "bar", "TTR", 5000, "INPUTS", "x", "x", "OUTPUTS", "y"
        ),
        b"OK",
    )


def check_getkeys(env):
    """TTR and its value are no keys, wherever they stand (cluster routing, ACL)."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"))
    scriptstore(con, "s", CALLS, CALL_ENTRY_POINTS)
    scriptstore(con, "t", SIMPLE, ["bar"])
    for args, keys in (
        (run_m("y", "TTR", 5, "TIMEOUT", 5), ["m", "x", "y"]),
        (
            ("AI.MODELRUN", "m", "TTR", 5, "TIMEOUT", 5, "INPUTS", "x", "OUTPUTS", "y"),
            ["m", "x", "y"],
        ),
        (count("y", "TTR", 5), ["s", "c", "y"]),
        (
            ("AI.SCRIPTRUN", "t", "bar", "TTR", 5, "INPUTS", "x", "x", "OUTPUTS", "y"),
            ["t", "x", "x", "y"],
        ),
        (dag_m("y", "TTR", 5), ["x", "y", "m"]),
    ):
        with RawConnection(con) as raw:
            kind, got = raw.call("COMMAND", "GETKEYS", *args)
        env.assertEqual((kind, [k.decode() for _, k in got]), ("*", keys), message=args)


# ---------------------------------------------------------------------------------------
# Expiry, order, batching


def check_timedout_at_expiry(env):
    """Behind a run the admission cannot see (a model with no estimate yet), runs with a
    short TTR are admitted, then dropped with TIMEDOUT when their turn comes after their
    TTR: a model run, a script run, a DAG and an asynchronous DAG (whose status is then
    TIMEDOUT). They count in ttr_missed, not in calls."""
    con = connect(env)
    setup(con)
    calls = info(con, "m")["calls"]
    hold = blocker(con)
    late = [
        send(con, *run_m("late", "TTR", 50)),
        send(con, *count("late2", "TTR", 50)),
        send(con, *dag_m("late3", "TTR", 50)),
    ]
    wait_blocked(env, con, 4)
    dag_id = con.execute_command(*dag_m("late4", "TTR", 50, command="AI.DAGEXECUTE_ASYNC"))
    env.assertEqual(read(hold), ("+", b"OK"))
    for raw in late:
        env.assertEqual(read(raw), ("+", b"TIMEDOUT"))
    wait_until(
        env,
        lambda: con.execute_command("AI.DAGINFO", dag_id)[1] == b"TIMEDOUT",
        message="the asynchronous DAG to time out",
    )
    env.assertEqual(con.exists("late", "late2", "late3", "late4", "c"), 0)
    env.assertEqual(info(con, "m")["ttr_missed"], 3)
    env.assertEqual(info(con, "s")["ttr_missed"], 1)
    env.assertEqual(info(con, "m")["calls"], calls)
    # A run that starts in time but ends after its TTR is answered, and counted missed.
    store(con, "fresh2", "TORCH", torch_blob("slow1"))
    env.assertEqual(execute(con, "fresh2", ["slow:x", "slow:n"], ["f2"], "TTR", 100), b"OK")
    env.assertEqual(info(con, "fresh2")["ttr_missed"], 1)


def check_edf_order(env):
    """Runs queued behind the blocker in the order A (no TTR), B (TTR 60 s), C (TTR 5 s),
    D (TTR 20 s) run A, C, D, B: earliest deadline first among runs with a TTR, and A,
    which has none, is not passed by runs due later than shortly after it came. The
    counter script numbers the runs in the order they ran."""
    con = connect(env)
    setup(con)
    hold = blocker(con)
    runs = {}
    for name, ttr in (("A", None), ("B", 60_000), ("C", 5_000), ("D", 20_000)):
        tail = ("TTR", ttr) if ttr else ()
        runs[name] = send(con, *count(f"n:{name}", *tail, key="order"))
        wait_blocked(env, con, 1 + len(runs))
    env.assertEqual(read(hold), ("+", b"OK"))
    for raw in runs.values():
        env.assertEqual(read(raw), ("+", b"OK"))
    order = {name: int(get_array(con, f"n:{name}")) for name in runs}
    env.assertEqual(order, {"A": 1, "C": 2, "D": 3, "B": 4})


def check_batching_with_ttr(env):
    """A model with BATCHSIZE 4 MINBATCHSIZE 4 and a long MINBATCHTIMEOUT: a lone run
    with a TTR does not wait for mates past its TTR, it is answered in time; a batch waits
    only as long as its earliest member's TTR allows (a run with a long TTR is answered
    with its short-TTR mate, not after MINBATCHTIMEOUT); four runs with TTRs form a batch
    at once, each answered with its own rows."""
    con = connect(env)
    store(
        con,
        "b",
        "TORCH",
        torch_blob("mlp"),
        "BATCHSIZE",
        4,
        "MINBATCHSIZE",
        4,
        "MINBATCHTIMEOUT",
        60_000,
    )
    rows = [np.full((1, 4), i, np.float32) for i in range(4)]
    for i, x in enumerate(rows):
        set_array(con, f"x{i}", x)
    start = time.monotonic()
    env.assertEqual(execute(con, "b", ["x0"], ["y0"], "TTR", 400), b"OK")
    long_one = send(con, *run_m("y1", "TTR", 600_000, model="b", x="x1"))
    wait_blocked(env, con, 1)
    env.assertEqual(execute(con, "b", ["x2"], ["y2"], "TTR", 400), b"OK")
    env.assertEqual(read(long_one), ("+", b"OK"))
    env.assertLess(time.monotonic() - start, 30)  # well before MINBATCHTIMEOUT
    four = [send(con, *run_m(f"z{i}", "TTR", 600_000, model="b", x=f"x{i}")) for i in range(4)]
    for raw in four:
        env.assertEqual(read(raw), ("+", b"OK"))
    for i, x in enumerate(rows):
        (want,) = torch_run("mlp", x)
        env.assertTrue(np.allclose(get_array(con, f"z{i}"), want, atol=1e-5), message=i)
        if i < 3:
            env.assertTrue(np.allclose(get_array(con, f"y{i}"), want, atol=1e-5), message=i)
    env.assertEqual(info(con, "b")["calls"], 7)


def test_ttr(env):
    standalone(env)
    run_checks(
        env,
        check_parse_errors,
        check_getkeys,
        check_refused_when_full_admitted_when_empty,
        check_timedout_at_expiry,
        check_edf_order,
        check_batching_with_ttr,
    )
