"""Asynchronous DAGs in a 3-shard Redis Cluster (run under `--env oss-cluster`): hash tags
and ROUTING send AI.DAGEXECUTE_ASYNC / AI.DAGRUNASYNC to the shard that owns the keys, which
runs them, writes their PERSIST keys and notifies its subscribers; the id is that shard's
alone; keys of different slots are refused (CROSSSLOT), a foreign shard redirects."""

import time

import numpy as np
from error_texts import CROSSSLOT, DAG_UNKNOWN_ID
from includes import RawConnection, error_text
from model_zoo import get_array, set_array, torch_blob
from test_cluster import _slot_owner, node_for

ASYNC, RUNASYNC, INFO = "AI.DAGEXECUTE_ASYNC", "AI.DAGRUNASYNC", "AI.DAGINFO"


def tags_on_every_shard(env):
    """One hash tag per master."""
    tags = {}
    for i in range(1000):
        tag = f"{{t{i}}}"
        tags.setdefault(_slot_owner(env, tag)[2], tag)
        if len(tags) == env.shardsCount:
            break
    return list(tags.values())


def daginfo(con, dag_id):
    reply = con.execute_command(INFO, dag_id)
    return {reply[i].decode(): reply[i + 1] for i in range(0, len(reply), 2)}


def wait_finished(env, con, dag_id, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    info = daginfo(con, dag_id)
    while info["status"] in (b"QUEUED", b"RUNNING") and time.monotonic() < deadline:
        time.sleep(0.002)
        info = daginfo(con, dag_id)
    return info


def dag(command, header, *ops):
    args = [command, *header]
    for op in ops:
        args += ["|>", *op]
    return args


def submit_everywhere(env, cluster, tags):
    """On each tag's shard: a LOAD/PERSIST DAG through the cluster client (routed by its
    keys) and a ROUTING DAG on volatile tensors sent to the owner; {node: [(id, want)]}."""
    runs = {}
    for n, tag in enumerate(tags):
        cluster.execute_command(
            "AI.MODELSTORE", f"m{tag}", "TORCH", "CPU", "BLOB", torch_blob("add")
        )
        set_array(cluster, f"x{tag}", np.array([n, 1], np.float32))
        add = ("AI.MODELEXECUTE", f"m{tag}", "INPUTS", 2, f"x{tag}", f"x{tag}", "OUTPUTS", 1)
        loaded = cluster.execute_command(
            *dag(
                ASYNC,
                ["LOAD", 1, f"x{tag}", "PERSIST", 1, f"y{tag}"],
                (*add, f"y{tag}"),
                ("AI.TENSORGET", f"y{tag}", "VALUES"),
            )
        )
        node = node_for(env, f"x{tag}")
        routed = node.execute_command(
            *dag(
                ASYNC,
                ["ROUTING", tag],
                ("AI.TENSORSET", "p", "FLOAT", 2, "VALUES", 3, n),
                ("AI.MODELEXECUTE", f"m{tag}", "INPUTS", 2, "p", "p", "OUTPUTS", 1, "q"),
                ("AI.TENSORGET", "q", "VALUES"),
            )
        )
        old = node.execute_command(
            *dag(
                RUNASYNC,
                ["LOAD", 1, f"x{tag}", "PERSIST", 1, f"z{tag}"],
                ("AI.MODELRUN", f"m{tag}", "INPUTS", f"x{tag}", f"x{tag}", "OUTPUTS", f"z{tag}"),
            )
        )
        runs[tag] = [
            (loaded, [b"OK", [str(2 * n).encode(), b"2"]]),
            (routed, [b"OK", b"OK", [b"6", str(2 * n).encode()]]),
            (old, [b"OK"]),
        ]
    return runs


def test_async_dags_on_every_shard(env):
    if not env.isCluster():
        env.skip()
    cluster = env.getClusterConnectionIfNeeded()
    tags = tags_on_every_shard(env)
    env.assertEqual(len(tags), 3)
    subscribers, nodes = {}, []
    for tag in tags:
        node = node_for(env, tag)
        node.config_set("notify-keyspace-events", "Ed")
        sub = node.pubsub()
        sub.subscribe("__keyevent@0__:ai.dagdone")
        env.assertEqual(sub.get_message(timeout=10)["type"], "subscribe")
        subscribers[tag] = sub
        nodes.append(node)  # a client's pool (the subscriber's too) closes with it
    runs = submit_everywhere(env, cluster, tags)
    for n, tag in enumerate(tags):
        node = node_for(env, tag)
        for dag_id, want in runs[tag]:
            info = wait_finished(env, node, dag_id)
            env.assertEqual((info["status"], info["reply"]), (b"DONE", want), message=tag)
            for other in tags:
                if other != tag:
                    got = error_text(env, INFO, dag_id, conn=node_for(env, other))
                    env.assertEqual(got, DAG_UNKNOWN_ID)
        env.assertEqual(get_array(cluster, f"y{tag}").tolist(), [2 * n, 2])
        env.assertEqual(get_array(cluster, f"z{tag}").tolist(), [2 * n, 2])
    for tag in tags:
        heard = set()
        deadline = time.monotonic() + 10
        while len(heard) < len(runs[tag]) and time.monotonic() < deadline:
            m = subscribers[tag].get_message(timeout=1)
            if m and m["type"] == "message":
                heard.add(m["data"])
        env.assertEqual(heard, {dag_id for dag_id, _ in runs[tag]})
    for tag in tags:
        subscribers[tag].close()
        node_for(env, tag).config_set("notify-keyspace-events", "")


def test_async_dag_slots(env):
    """Keys of two slots: CROSSSLOT, as for the synchronous DAG; keys of another shard:
    MOVED; nothing is queued."""
    if not env.isCluster():
        env.skip()
    a, b = tags_on_every_shard(env)[:2]
    cluster = env.getClusterConnectionIfNeeded()
    set_array(cluster, f"x{a}", np.ones(2, np.float32))
    node_a = node_for(env, f"x{a}")
    crossed = [
        dag(
            ASYNC, ["LOAD", 1, f"x{a}", "PERSIST", 1, f"y{b}"], ("AI.TENSORGET", f"x{a}", "VALUES")
        ),
        dag(ASYNC, ["ROUTING", b, "LOAD", 1, f"x{a}"], ("AI.TENSORGET", f"x{a}", "VALUES")),
        dag(
            RUNASYNC,
            ["LOAD", 1, f"x{a}", "PERSIST", 1, f"y{b}"],
            ("AI.TENSORGET", f"x{a}", "VALUES"),
        ),
    ]
    for args in crossed:
        text = error_text(env, *args, conn=node_a)
        env.assertEqual(text, CROSSSLOT, message=args)
    with RawConnection(node_for(env, b)) as raw:
        kind, text = raw.call(
            *dag(ASYNC, ["LOAD", 1, f"x{a}"], ("AI.TENSORGET", f"x{a}", "VALUES"))
        )
        env.assertEqual(kind, "-")
        env.assertTrue(text.startswith(b"MOVED "), message=text)
    for tag in (a, b):
        queued = node_for(env, tag).info("ai_async_dags")
        env.assertEqual(queued["ai_async_dags_queued"] + queued["ai_async_dags_running"], 0)
