"""Loading the module: identity, load-time arguments, and refusals that never crash."""

from includes import own_server, refused_load


def test_identity(env):
    con = env.getConnection()
    modules = [dict(zip(m[::2], m[1::2])) for m in con.execute_command("MODULE", "LIST")]
    ai = [m for m in modules if m[b"name"] == b"ai"]
    env.assertEqual(len(ai), 1)
    env.assertEqual(ai[0][b"ver"], 10207)


def test_good_arguments_load(env):
    with own_server(
        env,
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
    ) as con:
        env.assertEqual(
            con.execute_command("AI.TENSORSET", "t", "FLOAT", "1", "VALUES", "1"), b"OK"
        )


def test_bad_arguments_refuse_to_load(env):
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
        rc, text = refused_load(*args)
        # A refused module makes redis-server exit with an error, not a crash signal.
        env.assertEqual(rc, 1, message=f"{args}")
        env.assertContains("ERR error processing argument", text, message=f"{args}")
        env.assertNotContains("crashed", text)


def test_sigterm_still_stops_the_server(env):
    """Python must not take SIGTERM away from Redis, even after frameworks loaded."""
    with own_server(env) as con:
        con.execute_command("AI.TENSORSET", "t", "FLOAT", "1", "VALUES", "1")
