"""The execution engine under load (spec 7): many concurrent clients, clients that
disconnect while their run is queued or running, TIMEOUT behind a long run, BGSAVE during
runs, PING latency while a large model is stored, and models replaced or deleted while
runs that use them are queued. One worker serves the CPU queue (THREADS_PER_QUEUE 1), so
a long run holds every later CPU run behind it."""

import threading
import time

import numpy as np
from includes import (
    RawConnection,
    wait_replica,
    wait_until,
    Call,
    blocked_clients,
    wait_blocked,
    resp_command,
)
from model_zoo import (
    big_onnx_chunks,
    connect,
    execute,
    get_array,
    model_blob,
    modelexecute,
    onnx_blob,
    onnx_run,
    servers,
    set_array,
    store,
    torch_blob,
    torch_run,
)

SLOW_MS = 400  # how long the runs that occupy the queue should take


def setup_slow(env, con, key="slow", scale=1):
    """Stores a slow model and the inputs of a run of about SLOW_MS: slow:x and slow:n."""
    store(con, key, "TORCH", torch_blob(f"slow{scale}"))
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    set_array(con, "slow:x", x)
    set_array(con, "slow:n", np.array(2, np.int64))
    for _ in range(3):  # TorchScript optimises a graph over its first runs
        execute(con, key, ["slow:x", "slow:n"], ["slow:warm"])
    start = time.monotonic()
    set_array(con, "slow:n", np.array(40, np.int64))
    execute(con, key, ["slow:x", "slow:n"], ["slow:warm"])
    per_round = max((time.monotonic() - start) / 40, 1e-5)
    set_array(con, "slow:n", np.array(max(40, int(SLOW_MS / 1000 / per_round)), np.int64))
    con.delete("slow:warm")
    return x


def slow_run(key, out):
    return ("AI.MODELEXECUTE", key, "INPUTS", 2, "slow:x", "slow:n", "OUTPUTS", 1, out)


def test_concurrent_clients(env):
    """50 clients, each on its own connection, run TORCH and ONNX models at once on their
    own inputs and outputs and get their own results."""
    con = connect(env)
    store(con, "torch", "TORCH", torch_blob("add"))
    store(con, "onnx", "ONNX", onnx_blob("add"))
    clients, rounds = 50, 4
    barrier = threading.Barrier(clients)
    failures, outputs = [], {}

    def client(i):
        c = env.getConnection()
        rng = np.random.default_rng(i)
        model = "torch" if i % 2 else "onnx"
        try:
            barrier.wait(timeout=30)
            for r in range(rounds):
                a, b = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2))
                set_array(c, f"a:{i}", a)
                set_array(c, f"b:{i}", b)
                out = f"out:{i}:{r}"
                reply = execute(c, model, [f"a:{i}", f"b:{i}"], [out])
                got = get_array(c, out)
                if reply != b"OK" or not np.array_equal(got, a + b):
                    failures.append((i, r, reply, got, a + b))
                outputs[out] = a + b
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((i, repr(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    env.assertEqual(failures, [])
    env.assertEqual(len(outputs), clients * rounds)
    env.assertEqual(blocked_clients(con), 0)
    wait_replica(env, con)
    for c in servers(env):
        for key, want in outputs.items():
            np.testing.assert_array_equal(get_array(c, key), want, err_msg=key)


def test_pipelined_runs(env):
    """Runs pipelined on one connection are each answered, in order: a blocked client's
    next command is read after Redis replied to it (the worker wake-ups of that part of
    the event loop are not deferred), while other clients' runs are queued beside them."""
    con = connect(env)
    store(con, "torch", "TORCH", torch_blob("add"))
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    set_array(con, "a", a)
    set_array(con, "b", a * 10)
    for _ in range(3):  # learnt estimates: quick runs from here on
        execute(con, "torch", ["a", "b"], ["warm"])
    failures = []

    def pipelined(i, n):
        c = env.getConnection()
        try:
            pipe = c.pipeline(transaction=False)
            for r in range(n):
                pipe.execute_command(*modelexecute("torch", ["a", "b"], [f"p:{i}:{r}"]))
                pipe.execute_command("AI.TENSORGET", f"p:{i}:{r}", "BLOB")
            replies = pipe.execute()
            for r in range(n):
                got = np.frombuffer(replies[2 * r + 1], np.float32).reshape(2, 3)
                if replies[2 * r] != b"OK" or not np.array_equal(got, a * 11):
                    failures.append((i, r, replies[2 * r]))
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((i, repr(e)))

    threads = [threading.Thread(target=pipelined, args=(i, 300)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    env.assertEqual([t for t in threads if t.is_alive()], [])  # a lost wake-up hangs one
    env.assertEqual(failures, [])
    env.assertEqual(blocked_clients(con), 0)


def test_client_disconnects(env):
    """A client that goes away while its run is running, or queued behind another, gets
    nothing written: the work runs, the outputs are dropped; the server stays up. A model
    whose client went away while it was being built is stored all the same."""
    con = connect(env)
    setup_slow(env, con)
    store(con, "add", "TORCH", torch_blob("add"))
    a = np.ones((2, 2), np.float32)
    set_array(con, "a", a)
    clients_before = con.info("clients")["connected_clients"]
    # A slow run whose client leaves while it runs.
    running = RawConnection(con)
    running.sock.sendall(resp_command(*slow_run("slow", "gone:running")))
    wait_blocked(env, con, 1)
    running.close()
    wait_blocked(env, con, 0)
    # A run queued behind it whose client leaves before it starts.
    queued = RawConnection(con)
    queued.sock.sendall(
        resp_command("AI.MODELEXECUTE", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "gone:queued")
    )
    wait_blocked(env, con, 1)
    queued.close()
    wait_blocked(env, con, 0)
    # A client still there queues behind both and is answered after them.
    start = time.monotonic()
    env.assertEqual(execute(con, "add", ["a", "a"], ["kept"]), b"OK")
    env.assertGreater(time.monotonic() - start, 0.05)  # it did wait for the slow run
    np.testing.assert_array_equal(get_array(con, "kept"), a + a)
    env.assertEqual(con.exists("gone:running", "gone:queued"), 0)
    # A MODELSTORE is another matter: RedisAI stores synchronously, so a model whose
    # client left while the loader was building it is stored all the same.
    left = RawConnection(con)
    left.sock.sendall(
        resp_command("AI.MODELSTORE", "left", "ONNX", "CPU", "BLOB", *big_onnx_chunks(60))
    )
    wait_blocked(env, con, 1)
    left.close()
    wait_blocked(env, con, 0)
    env.assertEqual(con.exists("left"), 0)  # still being built when its client left
    deadline = time.monotonic() + 20
    while not con.exists("left") and time.monotonic() < deadline:
        time.sleep(0.01)
    set_array(con, "x", np.array([7], np.float32))
    env.assertEqual(execute(con, "left", ["x"], ["y"]), b"OK")
    env.assertEqual(get_array(con, "y").tolist(), [7])
    env.assertTrue(con.ping())
    env.assertEqual(con.info("clients")["connected_clients"], clients_before)
    wait_replica(env, con)
    for c in servers(env):
        env.assertEqual(c.exists("gone:running", "gone:queued"), 0)
        np.testing.assert_array_equal(get_array(c, "kept"), a + a)
        env.assertEqual(c.type("left"), b"AI__MODEL")


def test_timeouts_and_queues(env):
    """Behind a long run on the CPU queue, runs with TIMEOUT 1 reply TIMEDOUT (a simple
    string) and write nothing, one with a large TIMEOUT completes; a model on CPU:1 has a
    queue of its own and runs meanwhile. SLOWLOG counts the run's background time."""
    con = connect(env)
    x = setup_slow(env, con)
    store(con, "add", "TORCH", torch_blob("add"))
    store(con, "add1", "TORCH", torch_blob("add"), device="CPU:1")
    con.config_set("slowlog-log-slower-than", 100000)
    con.slowlog_reset()
    a = np.full((3,), 2, np.float32)
    set_array(con, "a", a)
    slow = Call(env, *slow_run("slow", "slow:out"))
    wait_blocked(env, con, 1)
    env.assertEqual(execute(con, "add1", ["a", "a"], ["q1"]), b"OK")
    env.assertFalse(slow.done.is_set())  # CPU:1 did not wait for the CPU queue
    run_timed_out = Call(
        env, "AI.MODELRUN", "add", "TIMEOUT", 1, "INPUTS", "a", "a", "OUTPUTS", "t:run", raw=True
    )
    wait_blocked(env, con, 2)
    patient = Call(
        env,
        "AI.MODELEXECUTE",
        "add",
        "INPUTS",
        2,
        "a",
        "a",
        "OUTPUTS",
        1,
        "t:ok",
        "TIMEOUT",
        100000,
    )
    wait_blocked(env, con, 3)
    env.assertEqual(execute(con, "add", ["a", "a"], ["t:exec"], "TIMEOUT", 1), b"TIMEDOUT")
    env.assertEqual(run_timed_out.wait(), ("+", b"TIMEDOUT"))
    env.assertEqual(patient.wait(), b"OK")
    env.assertEqual(slow.wait(), b"OK")
    np.testing.assert_array_equal(get_array(con, "slow:out"), x)
    np.testing.assert_array_equal(get_array(con, "t:ok"), a + a)
    np.testing.assert_array_equal(get_array(con, "q1"), a + a)
    env.assertEqual(con.exists("t:run", "t:exec"), 0)
    slow_entries = [
        e for e in con.slowlog_get(128) if e["command"].startswith(b"AI.MODELEXECUTE slow ")
    ]
    env.assertEqual(len(slow_entries), 1)
    env.assertGreaterEqual(slow_entries[0]["duration"], 100000)
    wait_replica(env, con)
    for c in servers(env)[1:]:
        env.assertEqual(c.exists("t:run", "t:exec"), 0)
        np.testing.assert_array_equal(get_array(c, "t:ok"), a + a)


def test_changes_under_queued_runs(env):
    """While a long run holds the queue: MODELSTORE over its model (it finishes with the
    old model, later runs use the new one), MODELDEL and DEL of the models of runs queued
    behind it, new values written to or deleting their input keys. The queued runs
    complete with the models and tensors they were given when their command was parsed."""
    con = connect(env)
    x = setup_slow(env, con, "m", scale=1)
    store(con, "d", "TORCH", torch_blob("mlp"))
    store(con, "od", "ONNX", onnx_blob("mlp"))
    rng = np.random.default_rng(8)
    xs = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(4)]
    for i, arr in enumerate(xs):
        set_array(con, f"x{i}", arr)
    old = Call(env, *slow_run("m", "out:old"))
    wait_blocked(env, con, 1)
    queued = [
        Call(env, "AI.MODELEXECUTE", "d", "INPUTS", 1, "x0", "OUTPUTS", 1, "y0"),
        Call(env, "AI.MODELEXECUTE", "d", "INPUTS", 1, "x1", "OUTPUTS", 1, "y1"),
        Call(env, "AI.MODELRUN", "d", "INPUTS", "x2", "OUTPUTS", "y2"),
        Call(env, "AI.MODELEXECUTE", "od", "INPUTS", 1, "x3", "OUTPUTS", 2, "y3", "l3"),
    ]
    wait_blocked(env, con, 5)
    env.assertEqual(store(con, "m", "TORCH", torch_blob("slow2")), b"OK")
    env.assertEqual(con.execute_command("AI.MODELDEL", "d"), b"OK")
    env.assertEqual(con.delete("od", "x1"), 2)
    set_array(con, "x0", np.zeros((3, 4), np.float32))
    env.assertFalse(old.done.is_set())  # all of it happened while the long run went on
    env.assertEqual(con.exists("d", "od"), 0)
    env.assertEqual([c.wait() for c in queued], [b"OK"] * 4)
    env.assertEqual(old.wait(), b"OK")
    np.testing.assert_array_equal(get_array(con, "out:old"), x)
    for i in range(3):
        np.testing.assert_allclose(get_array(con, f"y{i}"), torch_run("mlp", xs[i])[0], rtol=1e-6)
    y3, l3 = onnx_run("mlp", x=xs[3])
    np.testing.assert_allclose(get_array(con, "y3"), y3, rtol=1e-6)
    np.testing.assert_array_equal(get_array(con, "l3"), l3)
    # The replacement serves the runs after it.
    env.assertEqual(model_blob(con, "m"), torch_blob("slow2"))
    set_array(con, "slow:n", np.array(1, np.int64))
    env.assertEqual(execute(con, "m", ["slow:x", "slow:n"], ["out:new"]), b"OK")
    np.testing.assert_array_equal(get_array(con, "out:new"), x * 2)
    env.assertEqual(con.execute_command("AI._MODELSCAN"), [[b"m", b""]])
    wait_replica(env, con)
    for c in servers(env)[1:]:
        env.assertEqual(c.exists("d", "od", "x1"), 0)
        for key in ("out:old", "out:new", "y0", "y1", "y2", "y3", "l3"):
            env.assertEqual(
                c.execute_command("AI.TENSORGET", key, "BLOB"),
                con.execute_command("AI.TENSORGET", key, "BLOB"),
                message=key,
            )


def test_bgsave_while_running(env):
    """BGSAVE while 8 clients run models in a loop; the RDB it wrote loads (DEBUG RELOAD
    NOSAVE) and every model in it runs."""
    if env.useSlaves or env.useAof:
        env.skip()  # one fork during runs is enough; the other envs add nothing here
    con = connect(env)
    models = {
        "add": ("TORCH", torch_blob("add")),
        "mlp": ("TORCH", torch_blob("mlp")),
        "oadd": ("ONNX", onnx_blob("add")),
    }
    for key, (backend, blob) in models.items():
        store(con, key, backend, blob)
    stop, failures, runs = threading.Event(), [], [0] * 8

    def client(i):
        c = env.getConnection()
        rng = np.random.default_rng(100 + i)
        try:
            while not stop.is_set():
                a = rng.standard_normal((2, 3)).astype(np.float32)
                set_array(c, f"a{i}", a)
                key = ("add", "oadd")[runs[i] % 2]
                execute(c, key, [f"a{i}", f"a{i}"], [f"out{i}"])
                if not np.array_equal(get_array(c, f"out{i}"), a + a):
                    failures.append((i, key))
                runs[i] += 1
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((i, repr(e)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    # Every client runs before, during and after the fork (or has failed: reported below).
    wait_until(env, lambda: failures or min(runs) > 0, message="every client's first run")
    env.assertTrue(con.bgsave())
    wait_until(
        env,
        lambda: not con.info("persistence")["rdb_bgsave_in_progress"],
        timeout_s=60,
        message="BGSAVE to end",
    )
    after_save = list(runs)
    wait_until(
        env,
        lambda: failures or all(n > m for n, m in zip(runs, after_save)),
        message="every client's run after BGSAVE",
    )
    stop.set()
    for t in threads:
        t.join(30)
    env.assertEqual(failures, [])
    env.assertGreater(min(runs), 0)
    env.assertEqual(con.info("persistence")["rdb_last_bgsave_status"], "ok")
    env.assertEqual(con.execute_command("DEBUG", "RELOAD", "NOSAVE"), b"OK")
    for key, (_, blob) in models.items():
        env.assertEqual(model_blob(con, key), blob)
    x = np.random.default_rng(9).standard_normal((2, 4)).astype(np.float32)
    a = np.ones((2, 3), np.float32)
    set_array(con, "x", x)
    set_array(con, "a", a)
    env.assertEqual(execute(con, "mlp", ["x"], ["y"]), b"OK")
    np.testing.assert_allclose(get_array(con, "y"), torch_run("mlp", x)[0], rtol=1e-6)
    for key in ("add", "oadd"):
        env.assertEqual(execute(con, key, ["a", "a"], ["c"]), b"OK")
        np.testing.assert_array_equal(get_array(con, "c"), a + a)


def test_ping_latency_during_large_store(env):
    """While another client stores a ~150 MB model, PING keeps answering: the model is
    built on the loader thread, not on Redis' main thread."""
    if env.useSlaves or env.useAof:
        env.skip()  # replicating or appending 150 MB measures those, not the module
    con = connect(env)
    chunks = big_onnx_chunks(150)
    stored = Call(env, "AI.MODELSTORE", "big", "ONNX", "CPU", "BLOB", *chunks)
    start, pings = time.monotonic(), []
    while not stored.done.is_set():
        t = time.perf_counter()
        con.ping()
        pings.append(time.perf_counter() - t)
        time.sleep(0.001)  # leave the CPU to the server
    store_s = time.monotonic() - start
    env.assertEqual(stored.wait(), b"OK")
    env.debugPrint(f"store {store_s:.3f} s, {len(pings)} PINGs, max {max(pings) * 1000:.1f} ms")
    env.assertGreater(len(pings), 10)
    env.assertLess(max(pings), 0.2)
    env.assertGreater(store_s, max(pings))
    set_array(con, "x", np.array([41], np.float32))
    env.assertEqual(execute(con, "big", ["x"], ["y"]), b"OK")
    env.assertEqual(get_array(con, "y").tolist(), [41])
    env.assertEqual(con.execute_command("AI.MODELGET", "big", "META")[11], [b"x"])
