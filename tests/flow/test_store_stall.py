"""Storing, replacing and dropping big models never holds Redis's main thread, and
whatever they release is really released.

While the loader thread loads a big TorchScript model (holding the GIL in
torch.jit.load), the main thread answers DEL and overwrites of other big models, INFO,
AI.CONFIG GET, AI.MODELDEL and PING before that store completes: none of them waits for
the GIL. The models they drop are freed afterwards off the main thread (the Python object
on the loader thread, the blob and the stored command's arguments on the free thread),
and the server's resident memory comes back down: no model, blob or argument is kept.
The free thread runs at a lower CPU priority than the main thread.

Memory is read from /proc (the server runs on this machine): torch allocates outside
Redis's accounting. Nothing here is timed; waits poll with a deadline."""

import io
import os

import numpy as np
import torch
from includes import blocked_clients, wait_until
from model_zoo import connect, execute, get_array, set_array, store, torch_blob

BIG_MB = 80
DEADLINE_S = 60


def big_blob(seed):
    """A TorchScript Linear with about BIG_MB MB of weights (seeded: each its own)."""
    n = int((BIG_MB * 1024 * 1024 / 4) ** 0.5)
    torch.manual_seed(seed)
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(n, n, bias=False)), buf)
    return buf.getvalue()


def rss_mb(con):
    pid = con.info("server")["process_id"]
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def thread_nices(con):
    """The nice value of each of the server's threads."""
    pid = con.info("server")["process_id"]
    nices = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/stat") as f:
            nices.append(int(f.read().rsplit(")", 1)[1].split()[16]))
    return nices


def settled_rss(env, con, below_mb):
    """Polls until the server's RSS is below below_mb; returns the last reading."""
    readings = []

    def fell():
        readings.append(rss_mb(con))
        return readings[-1] < below_mb

    wait_until(env, fell, DEADLINE_S, f"RSS below {below_mb:.0f} MB", 0.01)
    return readings[-1]


def baseline_rss(con):
    """RSS with torch imported and one tiny model loaded and run: what the big models
    add is measured from here."""
    store(con, "tiny", "TORCH", torch_blob("add"))
    set_array(con, "x", np.ones((1, 2), np.float32))
    execute(con, "tiny", ["x", "x"], ["y"])
    return rss_mb(con)


def check_tiny(env, con):
    env.assertEqual(execute(con, "tiny", ["x", "x"], ["y"]), b"OK")
    env.assertEqual(get_array(con, "y").tolist(), [[2, 2]])


def test_main_thread_answers_during_a_load(env):
    con = connect(env)
    base = baseline_rss(con)
    for key, seed in (("big:del", 1), ("big:set", 2), ("big:modeldel", 3)):
        store(con, key, "TORCH", big_blob(seed))
    loaded = rss_mb(con)
    env.assertGreater(loaded - base, 3 * BIG_MB)  # three blobs and three torch modules

    # A store of a fourth model keeps the loader (and the GIL) busy for a while.
    loader = env.getConnection()
    blob = big_blob(4)
    pending = loader.connection_pool.get_connection("AI.MODELSTORE")
    pending.send_command("AI.MODELSTORE", "big:new", "TORCH", "CPU", "BLOB", blob)
    wait_until(env, lambda: blocked_clients(con) == 1, DEADLINE_S, "the store to block")

    env.assertEqual(con.delete("big:del"), 1)
    env.assertTrue(con.set("big:set", "a string now"))
    env.assertEqual(con.execute_command("AI.MODELDEL", "big:modeldel"), b"OK")
    env.assertIn("ai_threads_per_queue", con.info("everything"))
    env.assertEqual(con.execute_command("AI.CONFIG", "GET", "MODEL_CHUNK_SIZE"), 511 * 1024 * 1024)
    env.assertTrue(con.ping())
    keys = con.keys("big:*")
    # Everything above was answered while the big store was still in flight.
    env.assertEqual(blocked_clients(con), 1)
    env.assertEqual(keys, [b"big:set"])

    env.assertEqual(pending.read_response(), b"OK")
    loader.connection_pool.release(pending)
    env.assertEqual(con.type("big:new"), b"AI__MODEL")
    check_tiny(env, con)
    # One big model is left: one blob and one torch module over the baseline. Keeping
    # any dropped model, blob or argument would add at least another BIG_MB.
    settled_rss(env, con, base + 2.5 * BIG_MB)


def test_replacing_keeps_one_model(env):
    """Storing over the same key again and again, blocking or in MULTI, leaves one
    model's memory: the replaced models and the stored commands' arguments are all
    released."""
    con = connect(env)
    base = baseline_rss(con)
    blob = big_blob(5)
    for _ in range(3):
        env.assertEqual(store(con, "big", "TORCH", blob), b"OK")
    pipe = con.pipeline(transaction=True)  # built in place: a client in MULTI cannot block
    pipe.execute_command("AI.MODELSTORE", "big", "TORCH", "CPU", "BLOB", blob)
    env.assertEqual(pipe.execute(), [b"OK"])
    settled_rss(env, con, base + 2.5 * BIG_MB)
    env.assertEqual(con.delete("big"), 1)
    settled_rss(env, con, base + 0.5 * BIG_MB)
    check_tiny(env, con)


def test_free_thread_yields_to_the_main_thread(env):
    """The free thread (which has freed a model by now) runs at a lower CPU priority than
    Redis's threads; the loader and the workers do not (the frameworks' own pools are
    created there and would inherit it)."""
    con = connect(env)
    store(con, "m", "TORCH", torch_blob("add"))
    con.delete("m")
    wait_until(env, lambda: thread_nices(con).count(10) == 1, DEADLINE_S, "a thread at nice 10")
    pid = con.info("server")["process_id"]
    with open(f"/proc/{pid}/stat") as f:
        env.assertEqual(int(f.read().rsplit(")", 1)[1].split()[16]), 0)  # the main thread
