"""Redis Cluster (run under `--env oss-cluster`): every AI command's keys must share a
slot (CROSSSLOT otherwise, from the key positions the module reports), hash tags keep a
model, its script and its tensors together, and MIGRATE moves AI keys intact."""

import numpy as np
from error_texts import TENSOR_EMPTY
from includes import error_text
from model_zoo import get_array, set_array, torch_blob

SCRIPT = """
def double(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * 2
"""


def node_for(env, key):
    """A plain connection to the master that owns key's slot."""
    _, _, port = _slot_owner(env, key)
    return next(
        c
        for c in env.getOSSMasterNodesConnectionList()
        if c.connection_pool.connection_kwargs["port"] == port
    )


def test_crossslot_is_refused(env):
    if not env.isCluster():
        env.skip()
    con = env.getClusterConnectionIfNeeded()
    con.execute_command("AI.MODELSTORE", "m{a}", "TORCH", "CPU", "BLOB", torch_blob("add"))
    set_array(con, "x{a}", np.ones((2,), np.float32))
    c = node_for(env, "m{a}")
    cases = [
        ("AI.MODELEXECUTE", "m{a}", "INPUTS", 2, "x{a}", "x{a}", "OUTPUTS", 1, "y{b}"),
        ("AI.MODELRUN", "m{a}", "INPUTS", "x{a}", "x{b}", "OUTPUTS", "y{a}"),
        ("AI.SCRIPTEXECUTE", "s{a}", "f", "KEYS", 1, "k{b}", "INPUTS", 1, "x{a}"),
        (
            "AI.DAGEXECUTE",
            "LOAD",
            1,
            "x{a}",
            "PERSIST",
            1,
            "y{b}",
            "|>",
            "AI.TENSORGET",
            "x{a}",
            "VALUES",
        ),
        (
            "AI.DAGEXECUTE",
            "ROUTING",
            "{b}",
            "|>",
            "AI.MODELEXECUTE",
            "m{a}",
            "INPUTS",
            2,
            "p",
            "p",
            "OUTPUTS",
            1,
            "q",
        ),
    ]
    for cmd in cases:
        # redis-py turns CROSSSLOT into ClusterCrossSlotError with this text.
        text = error_text(env, *cmd, conn=c)
        env.assertEqual(text, "Keys in request don't hash to the same slot", message=str(cmd))


def test_hash_tags_colocate_everything(env):
    if not env.isCluster():
        env.skip()
    con = env.getClusterConnectionIfNeeded()
    con.execute_command("AI.MODELSTORE", "m{u}", "TORCH", "CPU", "BLOB", torch_blob("add"))
    con.execute_command(
        "AI.SCRIPTSTORE", "s{u}", "CPU", "ENTRY_POINTS", 1, "double", "SOURCE", SCRIPT
    )
    a = np.arange(4, dtype=np.float32)
    set_array(con, "a{u}", a)
    env.assertEqual(
        con.execute_command(
            "AI.MODELEXECUTE", "m{u}", "INPUTS", 2, "a{u}", "a{u}", "OUTPUTS", 1, "b{u}"
        ),
        b"OK",
    )
    env.assertEqual(
        con.execute_command(
            "AI.SCRIPTEXECUTE", "s{u}", "double", "INPUTS", 1, "b{u}", "OUTPUTS", 1, "c{u}"
        ),
        b"OK",
    )
    np.testing.assert_array_equal(get_array(con, "c{u}"), a * 4)
    reply = con.execute_command(
        "AI.DAGEXECUTE",
        "ROUTING",
        "{u}",
        "|>",
        "AI.TENSORSET",
        "p",
        "FLOAT",
        4,
        "VALUES",
        1,
        2,
        3,
        4,
        "|>",
        "AI.MODELEXECUTE",
        "m{u}",
        "INPUTS",
        2,
        "p",
        "p",
        "OUTPUTS",
        1,
        "q",
        "|>",
        "AI.TENSORGET",
        "q",
        "VALUES",
    )
    env.assertEqual([float(v) for v in reply[2]], [2.0, 4.0, 6.0, 8.0])
    # A key in the right slot that does not exist is reported as such.
    text = error_text(env, "AI.TENSORGET", "nothere{u}", conn=node_for(env, "a{u}"))
    env.assertEqual(text, TENSOR_EMPTY)


def _slot_owner(env, key):
    con = env.getConnection()
    slot = con.execute_command("CLUSTER", "KEYSLOT", key)
    for start, end, master, *_ in con.execute_command("CLUSTER", "SLOTS"):
        if start <= slot <= end:
            return slot, master[0].decode(), master[1]
    raise AssertionError("no owner")


def _node_id(con):
    return con.execute_command("CLUSTER", "MYID").decode()


def test_resharding_moves_ai_keys_intact(env):
    """The slot of a model, a script and a tensor moves to another master the way
    redis-cli --cluster reshard does it: IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE."""
    if not env.isCluster():
        env.skip()
    con = env.getClusterConnectionIfNeeded()
    blob = torch_blob("add")
    con.execute_command("AI.MODELSTORE", "mm{mig}", "TORCH", "CPU", "TAG", "v1", "BLOB", blob)
    con.execute_command(
        "AI.SCRIPTSTORE", "ss{mig}", "CPU", "ENTRY_POINTS", 1, "double", "SOURCE", SCRIPT
    )
    set_array(con, "tt{mig}", np.arange(3, dtype=np.int32))
    slot, host, port = _slot_owner(env, "tt{mig}")
    src = node_for(env, "tt{mig}")
    masters = env.getOSSMasterNodesConnectionList()
    dst = next(c for c in masters if c.connection_pool.connection_kwargs["port"] != port)
    dst_port = dst.connection_pool.connection_kwargs["port"]
    src_id, dst_id = _node_id(src), _node_id(dst)
    dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
    src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
    for key in ("mm{mig}", "ss{mig}", "tt{mig}"):
        env.assertEqual(src.execute_command("MIGRATE", host, dst_port, key, 0, 5000), b"OK")
    for m in masters:
        m.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
    env.assertEqual(dst.execute_command("AI.MODELGET", "mm{mig}", "BLOB"), blob)
    env.assertEqual(dst.execute_command("AI.MODELGET", "mm{mig}", "META")[5], b"v1")
    np.testing.assert_array_equal(get_array(dst, "tt{mig}"), np.arange(3, dtype=np.int32))
    env.assertEqual(dst.execute_command("AI.SCRIPTGET", "ss{mig}", "SOURCE").decode(), SCRIPT)
    # The moved model and script still run on their new shard.
    env.assertEqual(
        dst.execute_command(
            "AI.MODELEXECUTE", "mm{mig}", "INPUTS", 2, "tt{mig}", "tt{mig}", "OUTPUTS", 1, "o{mig}"
        ),
        b"OK",
    )
    np.testing.assert_array_equal(get_array(dst, "o{mig}"), np.arange(3, dtype=np.int32) * 2)
    env.assertEqual(
        dst.execute_command(
            "AI.SCRIPTEXECUTE", "ss{mig}", "double", "INPUTS", 1, "tt{mig}", "OUTPUTS", 1, "d{mig}"
        ),
        b"OK",
    )
    env.assertEqual(src.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot), 0)
