"""Loading the module: identity, load-time arguments, and refusals that never crash."""

import os
import socket
import subprocess
import time

import redis

MODULE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "build", "cyrai.so"))
SCRATCH = os.path.join(os.path.dirname(MODULE), "scratch")
os.makedirs(SCRATCH, exist_ok=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp, *module_args):
    """A redis-server of its own; returns the process and its log path."""
    port = free_port()
    log = os.path.join(tmp, f"load-{port}.log")
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            tmp,
            "--logfile",
            log,
            "--loadmodule",
            MODULE,
            *module_args,
        ]
    )
    return proc, port, log


def wait_ready(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return redis.Redis(port=port).ping()
        except redis.ConnectionError:
            time.sleep(0.05)
    return False


def test_identity(env):
    con = env.getConnection()
    modules = [dict(zip(m[::2], m[1::2])) for m in con.execute_command("MODULE", "LIST")]
    ai = [m for m in modules if m[b"name"] == b"ai"]
    env.assertEqual(len(ai), 1)
    env.assertEqual(ai[0][b"ver"], 10207)


def test_good_arguments_load(env):
    tmp = SCRATCH
    proc, port, _ = start_server(
        tmp,
        "THREADS_PER_QUEUE",
        "2",
        "INTRA_OP_PARALLELISM",
        "1",
        "INTER_OP_PARALLELISM",
        "1",
        "MODEL_CHUNK_SIZE",
        "1024",
        "MODEL_EXECUTION_TIMEOUT",
        "2000",
        "BACKEND_MEMORY_LIMIT",
        "100",
        "TORCH",
        "/opt/redisai/backends/redisai_torch.so",
        "BACKENDSPATH",
        "/opt/redisai/backends",
    )
    try:
        env.assertTrue(wait_ready(port))
        con = redis.Redis(port=port)
        env.assertEqual(
            con.execute_command("AI.TENSORSET", "t", "FLOAT", "1", "VALUES", "1"), b"OK"
        )
    finally:
        proc.terminate()
        env.assertEqual(proc.wait(timeout=20), 0)


def test_bad_arguments_refuse_to_load(env):
    tmp = SCRATCH
    cases = [
        ("THREADS_PER_QUEUE", "0"),
        ("THREADS_PER_QUEUE", "abc"),
        ("INTRA_OP_PARALLELISM", "0"),
        ("MODEL_EXECUTION_TIMEOUT", "999"),
        ("MODEL_CHUNK_SIZE", "-1"),
        ("NO_SUCH_OPTION", "1"),
        ("THREADS_PER_QUEUE",),
    ]
    for args in cases:
        proc, _, log = start_server(tmp, *args)
        rc = proc.wait(timeout=30)
        # A refused module makes redis-server exit with an error, not a crash signal.
        env.assertEqual(rc, 1, message=f"{args}")
        with open(log) as f:
            text = f.read()
        env.assertContains("ERR error processing argument", text, message=f"{args}")
        env.assertNotContains("crashed", text)


def test_sigterm_still_stops_the_server(env):
    """Python must not take SIGTERM away from Redis, even after frameworks loaded."""
    tmp = SCRATCH
    proc, port, _ = start_server(tmp)
    try:
        env.assertTrue(wait_ready(port))
        redis.Redis(port=port).execute_command("AI.TENSORSET", "t", "FLOAT", "1", "VALUES", "1")
    finally:
        proc.terminate()
        env.assertEqual(proc.wait(timeout=20), 0)
