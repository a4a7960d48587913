"""Triggers in a 3-shard Redis Cluster (run under `--env oss-cluster`): with hash tags the
trigger, its stream, its script and its output stream live on one shard, which runs the
DAG for every entry a client adds; a trigger whose stream or DAG keys hash elsewhere is
refused with CROSSSLOT, like every other command."""

import numpy as np
from error_texts import CROSSSLOT
from includes import error_text, wait_until
from test_cluster import node_for
from test_dag_async_cluster import tags_on_every_shard
from test_streams import ADD1, entry, entry_array


def trigger_args(tag, stream=None, script=None, out=None):
    stream, script, out = stream or f"cam{tag}", script or f"s{tag}", out or f"out{tag}"
    return ["AI.TRIGGERSTORE", f"t{tag}", "ON", stream, "DAG", "LOAD", 1, stream, "PERSIST", 1,
            out, "|>", "AI.SCRIPTEXECUTE", script, "add1", "INPUTS", 1, stream, "OUTPUTS", 1,
            out]  # fmt: skip


def test_triggers_on_every_shard(env):
    if not env.isCluster():
        env.skip()
    cluster = env.getClusterConnectionIfNeeded()
    tags = tags_on_every_shard(env)
    for tag in tags:
        cluster.execute_command(
            "AI.SCRIPTSTORE", f"s{tag}", "CPU", "ENTRY_POINTS", 1, "add1", "SOURCE", ADD1
        )
        cluster.xgroup_create(f"out{tag}", "g", "$", mkstream=True)
        env.assertEqual(cluster.execute_command(*trigger_args(tag)), b"OK")
    ids = {tag: [cluster.xadd(f"cam{tag}", entry(np.array([n, k], np.int32))) for k in range(20)]
           for n, tag in enumerate(tags)}  # fmt: skip
    for n, tag in enumerate(tags):
        node = node_for(env, f"cam{tag}")
        out = f"out{tag}"
        wait_until(env, lambda n=node, o=out: n.xlen(o) == 20, message=f"outputs of {tag}")
        got = [(f[b"source"], entry_array(f).tolist()) for _, f in node.xrange(out)]
        env.assertEqual(got, [(i, [n + 1, k + 1]) for k, i in enumerate(ids[tag])])
        env.assertEqual(node.execute_command("AI.TRIGGERGET", f"t{tag}")[5], 20)


def test_triggers_crossslot(env):
    if not env.isCluster():
        env.skip()
    tag, other = tags_on_every_shard(env)[:2]
    node = node_for(env, f"t{tag}")
    for args in (
        trigger_args(tag, stream=f"cam{other}"),
        trigger_args(tag, script=f"s{other}"),
        trigger_args(tag, out=f"out{other}"),
    ):
        env.assertEqual(error_text(env, *args, conn=node), CROSSSLOT, message=args)
    env.assertEqual(node.exists(f"t{tag}"), 0)
