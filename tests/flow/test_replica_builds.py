"""A replica stores the models and scripts its master sends at once and builds them on its
loader thread afterwards (src/pending.h), so that its main thread never waits for a
backend: every command that needs the built value then waits for that value alone.
Runs under `--use-slaves`."""

import numpy as np
from includes import wait_replica
from model_zoo import connect, get_array, model_meta, onnx_blob, set_array, store, torch_blob
from script_zoo import SIMPLE
from tf_zoo import tf_blob

A = np.arange(6, dtype=np.float32).reshape(2, 3)


def dag_ro(con, *ops):
    """AI.DAGEXECUTE_RO loading a and b, running ops, returning the tensor `out`."""
    reply = con.execute_command(
        "AI.DAGEXECUTE_RO", "LOAD", 2, "a", "b", "|>", *ops, "|>", "AI.TENSORGET", "out", "BLOB"
    )
    return np.frombuffer(reply[-1], dtype=np.float32).reshape(2, 3)


def pair(env):
    """The master, with the operands a and b, and its replica."""
    master = connect(env)
    set_array(master, "a", A)
    set_array(master, "b", A + 1)
    return master, env.getSlaveConnection()


def model_op(key):
    return ("AI.MODELEXECUTE", key, "INPUTS", 2, "a", "b", "OUTPUTS", 1, "out")


def test_replica_runs_what_it_was_just_sent(env):
    if not env.useSlaves:
        env.skip()
    master, replica = pair(env)
    store(master, "mt", "TORCH", torch_blob("add"))
    store(master, "mo", "ONNX", onnx_blob("add"))
    store(master, "mtf", "TF", tf_blob("mul"), "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul")
    master.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "bar", "SOURCE", SIMPLE)
    wait_replica(env, master)
    # Each first use waits for its own build, then sees the model the master has.
    for key, expected in (("mt", 2 * A + 1), ("mo", 2 * A + 1), ("mtf", A * (A + 1))):
        env.assertEqual(model_meta(replica, key), model_meta(master, key))
        np.testing.assert_array_equal(dag_ro(replica, *model_op(key)), expected)
    for key in ("mt", "mo", "mtf", "s"):
        env.assertEqual(
            replica.execute_command("DEBUG", "DIGEST-VALUE", key),
            master.execute_command("DEBUG", "DIGEST-VALUE", key),
        )


def test_replica_follows_replacements_and_deletes(env):
    if not env.useSlaves:
        env.skip()
    master, replica = pair(env)
    # Stores that replace each other, and a delete, arrive while earlier builds are queued:
    # the replica ends with the master's last model, and drops the deleted one.
    for _ in range(5):
        store(master, "m", "TORCH", torch_blob("add"))
        store(master, "m", "ONNX", onnx_blob("add"))
        store(master, "gone", "TORCH", torch_blob("add"))
        master.delete("gone")
    wait_replica(env, master)
    env.assertEqual(model_meta(replica, "m")["backend"], b"ONNX")
    np.testing.assert_array_equal(dag_ro(replica, *model_op("m")), 2 * A + 1)
    env.assertEqual(replica.exists("gone"), 0)
    # Promoted right after it was sent a model and a script (builds perhaps unfinished),
    # it runs them and saves them.
    store(master, "late", "TORCH", torch_blob("add"))
    master.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "bar", "SOURCE", SIMPLE)
    wait_replica(env, master)
    replica.execute_command("REPLICAOF", "NO", "ONE")
    replica.execute_command("AI.MODELEXECUTE", *model_op("late")[1:])
    np.testing.assert_array_equal(get_array(replica, "out"), 2 * A + 1)
    replica.execute_command(
        "AI.SCRIPTEXECUTE", "s", "bar", "INPUTS", 2, "out", "a", "OUTPUTS", 1, "out2"
    )
    np.testing.assert_array_equal(get_array(replica, "out2"), 3 * A + 1)
    replica.execute_command("DEBUG", "RELOAD")
    env.assertEqual(model_meta(replica, "late"), model_meta(master, "late"))
    port = master.connection_pool.connection_kwargs["port"]
    replica.execute_command("REPLICAOF", "127.0.0.1", port)
    wait_replica(env, master)
