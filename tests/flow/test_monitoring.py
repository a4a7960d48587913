"""Monitoring (roadmap R4): AI.INFO without arguments (per device queue its threads and the
runs queued, running and done, the estimated work queued and the delay of replies; per
loaded backend its version and the memory its models hold; the asynchronous DAGs' and the
triggers' totals), the percentile fields AI.INFO <key> adds after RedisAI's, and the
per-device counts of INFO MODULES' ai_queues. Each field is checked present, then moving:
runs make done grow, a run behind a slow one makes queued and the queue-wait percentiles
grow, RESETSTAT clears them."""

import numpy as np
import torch
from includes import meta_dict, read, run_checks, send, wait_blocked, wait_until
from model_zoo import connect, execute, onnx_blob, set_array, store, torch_blob, torch_module
from test_dag import setup_slow
from test_info import section
from test_ttr import blocker

INFO_NAMES = ["key", "type", "backend", "device", "tag", "duration", "samples", "calls", "errors"]
ADDED = ["duration_p50", "duration_p99", "queue_wait_p50", "queue_wait_p99"]
TTR_COUNTS = ["ttr_rejected", "ttr_missed"]
ASYNC = [
    "async_dags_queued",
    "async_dags_running",
    "async_dags_kept",
    "async_dags_done",
    "async_dags_errors",
    "async_dags_timedout",
]
# The CPU queue of a server that has run nothing.
IDLE_CPU = {
    "CPU": {"threads": 1, "queued": 0, "running": 0, "done": 0, "work_us": 0, "reply_lag_us": 0}
}
TRIGGERS = ["triggers", "trigger_runs_in_flight", "trigger_runs", "trigger_errors"]


def server_info(con):
    """AI.INFO without arguments as (queues, backends, totals): {name: {field: value}} for
    the first two, {field: value} for the totals, every name a str."""
    reply = con.execute_command("AI.INFO")
    assert len(reply) % 2 == 0, reply
    queues, backends, totals, current = {}, {}, {}, None
    for raw_name, value in zip(reply[0::2], reply[1::2]):
        name = raw_name.decode()
        if name == "queue":
            current = queues.setdefault(value.decode(), {})
        elif name == "backend":
            current = backends.setdefault(value.decode(), {})
        elif name.startswith(("async_dags_", "trigger")):
            totals[name] = value
        else:
            current[name] = value.decode() if isinstance(value, bytes) else value
    return queues, backends, totals


def weights_bytes(name):
    module = torch_module(name)
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])


def check_server_info_fresh_and_moving(env):
    """A fresh server: no queue, no backend, zero totals; the reply is a flat list of
    name/value pairs. A TORCH model adds the CPU queue and the TORCH backend (its torch
    version, its weights as memory); runs count as done; an ONNX model adds ONNX; a
    deleted model gives its memory back; async DAGs count in the totals."""
    con = connect(env)
    queues, backends, totals = server_info(con)
    env.assertEqual(queues, IDLE_CPU)
    env.assertEqual(backends, {})
    env.assertEqual(list(totals), ASYNC + TRIGGERS)
    env.assertEqual(set(totals.values()), {0})
    store(con, "m", "TORCH", torch_blob("mlp"))
    queues, backends, _ = server_info(con)
    env.assertEqual(queues, IDLE_CPU)
    env.assertEqual(
        backends,
        {"TORCH": {"version": torch.__version__.split("+")[0], "memory": weights_bytes("mlp")}},
    )
    set_array(con, "x", np.ones((2, 4), np.float32))
    for _ in range(3):
        execute(con, "m", ["x"], ["y"])
    # A worker counts a run done once it handed the reply over: the count may lag the
    # reply by a moment.
    wait_until(env, lambda: server_info(con)[0]["CPU"]["done"] == 3, message="3 runs done")
    env.assertGreaterEqual(server_info(con)[0]["CPU"]["reply_lag_us"], 0)
    store(con, "m2", "TORCH", torch_blob("mlp"))
    env.assertEqual(server_info(con)[1]["TORCH"]["memory"], 2 * weights_bytes("mlp"))
    con.delete("m2")
    wait_until(
        env,
        lambda: server_info(con)[1]["TORCH"]["memory"] == weights_bytes("mlp"),
        message="the deleted model's memory to be given back",
    )
    store(con, "o", "ONNX", onnx_blob("add"))
    onnx = server_info(con)[1]["ONNX"]
    env.assertTrue(onnx["version"].count(".") >= 1, message=onnx)
    env.assertGreater(onnx["memory"], 0)
    dag_id = con.execute_command(
        "AI.DAGEXECUTE_ASYNC",
        "LOAD",
        1,
        "x",
        "|>",
        "AI.MODELEXECUTE",
        "m",
        "INPUTS",
        1,
        "x",
        "OUTPUTS",
        1,
        "y",
    )
    wait_until(env, lambda: server_info(con)[2]["async_dags_done"] == 1, message="the DAG")
    env.assertEqual(con.execute_command("AI.DAGINFO", dag_id)[1], b"DONE")
    env.assertEqual(server_info(con)[2]["async_dags_kept"], 1)
    wait_until(env, lambda: server_info(con)[0]["CPU"]["done"] == 4, message="4 runs done")


def check_queued_and_running(env):
    """Behind a slow run: AI.INFO shows it running and the others queued, with the queued
    runs' estimated work; INFO MODULES' ai_queues shows the same counts; once drained,
    nothing is queued or running and every run is done."""
    con = connect(env)
    setup_slow(con, key="cal")
    store(con, "m", "TORCH", torch_blob("mlp"))
    set_array(con, "x", np.ones((2, 4), np.float32))
    for _ in range(5):  # m's estimate is learnt from its third run
        execute(con, "m", ["x"], ["y"])
    wait_until(env, lambda: server_info(con)[0]["CPU"]["running"] == 0, message="idle")
    done = server_info(con)[0]["CPU"]["done"]
    hold = blocker(con)
    waiting = [
        send(con, "AI.MODELEXECUTE", "m", "INPUTS", 1, "x", "OUTPUTS", 1, f"y{i}") for i in range(3)
    ]
    wait_blocked(env, con, 4)
    cpu = server_info(con)[0]["CPU"]
    env.assertEqual((cpu["queued"], cpu["running"], cpu["done"]), (3, 1, done))
    env.assertGreater(cpu["work_us"], 0)  # m's three runs, as m's estimate has them
    env.assertEqual(
        section(con, "ai_queues")["ai_CPU"], f"queued=3,running=1,done={done},threads=1"
    )
    env.assertEqual(read(hold), ("+", b"OK"))
    for raw in waiting:
        env.assertEqual(read(raw), ("+", b"OK"))
    wait_until(env, lambda: server_info(con)[0]["CPU"]["done"] == done + 4, message="done")
    cpu = server_info(con)[0]["CPU"]
    env.assertEqual((cpu["queued"], cpu["running"], cpu["done"]), (0, 0, done + 4))
    env.assertEqual(cpu["work_us"], 0)
    env.assertEqual(
        section(con, "ai_queues")["ai_CPU"], f"queued=0,running=0,done={done + 4},threads=1"
    )
    # m's runs waited behind the blocker: its queue-wait percentiles show it.
    d = meta_dict(con.execute_command("AI.INFO", "m"))
    env.assertGreater(d["queue_wait_p99"], 10_000)
    env.assertLessEqual(d["queue_wait_p50"], d["queue_wait_p99"])


def check_info_key_fields(env):
    """AI.INFO <key> keeps RedisAI's nine fields first, then duration_p50, duration_p99,
    queue_wait_p50, queue_wait_p99 (µs) and ttr_rejected, ttr_missed: zero before any
    run, moving with runs (p50 <= p99 <= the total duration), cleared by RESETSTAT; the
    same for a script."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("mlp"))
    reply = con.execute_command("AI.INFO", "m")
    env.assertEqual([n.decode() for n in reply[0::2]], INFO_NAMES + ADDED + TTR_COUNTS)
    env.assertEqual(reply[19::2], [0] * 6)
    set_array(con, "x", np.ones((2, 4), np.float32))
    for _ in range(5):
        execute(con, "m", ["x"], ["y"])
    d = meta_dict(con.execute_command("AI.INFO", "m"))
    env.assertGreater(d["duration_p50"], 0)
    env.assertLessEqual(d["duration_p50"], d["duration_p99"])
    env.assertLessEqual(d["duration_p99"], d["duration"])
    env.assertGreaterEqual(d["queue_wait_p50"], 0)
    env.assertLessEqual(d["queue_wait_p50"], d["queue_wait_p99"])
    env.assertEqual(con.execute_command("AI.INFO", "m", "RESETSTAT"), b"OK")
    env.assertEqual(con.execute_command("AI.INFO", "m")[19::2], [0] * 6)
    con.execute_command(
        "AI.SCRIPTSTORE",
        "s",
        "CPU",
        "ENTRY_POINTS",
        1,
        "add",
        "SOURCE",
        "def add(tensors: List[Tensor], keys: List[str], args: List[str]):\n"
        "    return tensors[0] + tensors[1]\n",
    )
    con.execute_command("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "x", "x", "OUTPUTS", 1, "z")
    d = meta_dict(con.execute_command("AI.INFO", "s"))
    env.assertEqual(list(d)[9:], ADDED + TTR_COUNTS)
    env.assertGreater(d["duration_p99"], 0)


def test_monitoring(env):
    if env.useSlaves or env.useAof:
        env.skip()  # statistics and queues are per server: the same in every env
    run_checks(
        env,
        check_server_info_fresh_and_moving,
        check_info_key_fields,
        check_queued_and_running,
    )
