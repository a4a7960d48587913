"""Replication of every AI type (run under `--use-slaves`): a replica that syncs after the
data exists gets it all, execution results reach it as tensors, and a promoted replica
serves the same models and scripts."""

import time

import numpy as np
from includes import wait_replica
from model_zoo import connect, get_array, onnx_blob, set_array, torch_blob

SCRIPT = """
def double(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * 2
"""
KEYS = ["mt", "mo", "s", "a", "out", "dag_out", "script_out"]


def fill(con):
    con.execute_command(
        "AI.MODELSTORE", "mt", "TORCH", "CPU", "TAG", "t", "BLOB", torch_blob("add")
    )
    con.execute_command("AI.MODELSTORE", "mo", "ONNX", "CPU", "BLOB", onnx_blob("add"))
    con.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "double", "SOURCE", SCRIPT)
    set_array(con, "a", np.arange(6, dtype=np.float32).reshape(2, 3))
    con.execute_command("AI.MODELEXECUTE", "mt", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "out")
    con.execute_command(
        "AI.SCRIPTEXECUTE", "s", "double", "INPUTS", 1, "out", "OUTPUTS", 1, "script_out"
    )
    con.execute_command(
        "AI.DAGEXECUTE",
        "LOAD",
        1,
        "a",
        "PERSIST",
        1,
        "dag_out",
        "|>",
        "AI.MODELEXECUTE",
        "mo",
        "INPUTS",
        2,
        "a",
        "a",
        "OUTPUTS",
        1,
        "dag_out",
    )


def digests(con):
    return {k: con.execute_command("DEBUG", "DIGEST-VALUE", k) for k in KEYS}


def resync(env, master, replica):
    """Makes the replica forget everything and sync again from scratch."""
    replica.execute_command("REPLICAOF", "NO", "ONE")
    replica.execute_command("FLUSHALL")
    env.assertEqual(replica.execute_command("DBSIZE"), 0)
    port = master.connection_pool.connection_kwargs["port"]
    replica.execute_command("REPLICAOF", "127.0.0.1", port)
    deadline = time.monotonic() + 30
    while replica.info("replication").get("master_link_status") != "up":
        env.assertLess(time.monotonic(), deadline)
        time.sleep(0.05)
    wait_replica(env, master)


def test_full_sync_execution_results_and_promotion(env):
    if not env.useSlaves:
        env.skip()
    master = connect(env)
    replica = env.getSlaveConnection()
    fill(master)
    wait_replica(env, master)
    # Execution commands themselves never reach the replica, only their outputs.
    stats = replica.info("commandstats")
    for cmd in ("ai.modelexecute", "ai.scriptexecute", "ai.dagexecute"):
        env.assertNotContains(f"cmdstat_{cmd}", stats)
    env.assertEqual(digests(replica), digests(master))

    resync(env, master, replica)
    env.assertEqual(digests(replica), digests(master))
    env.assertEqual(replica.execute_command("AI.MODELGET", "mt", "BLOB"), torch_blob("add"))

    # Promoted, the replica runs what it was given and agrees with the master.
    replica.execute_command("REPLICAOF", "NO", "ONE")
    for con in (master, replica):
        con.execute_command("AI.MODELEXECUTE", "mt", "INPUTS", 2, "a", "out", "OUTPUTS", 1, "p")
        con.execute_command("AI.MODELEXECUTE", "mo", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "q")
        con.execute_command("AI.SCRIPTEXECUTE", "s", "double", "INPUTS", 1, "q", "OUTPUTS", 1, "r")
    for key in ("p", "q", "r"):
        np.testing.assert_array_equal(get_array(replica, key), get_array(master, key))
    np.testing.assert_array_equal(
        get_array(replica, "r"), np.arange(6, dtype=np.float32).reshape(2, 3) * 4
    )
    port = master.connection_pool.connection_kwargs["port"]
    replica.execute_command("REPLICAOF", "127.0.0.1", port)
    wait_replica(env, master)
