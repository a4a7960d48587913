"""TORCH models end to end (spec 3.1, 3.5, 8.1-8.3): outputs equal the same TorchScript
module run in process, input/output names, output dtypes, backend errors that write
nothing, and models across DEBUG RELOAD, restarts, AOF rewrite and replication."""

import numpy as np
from includes import (
    aof_modelstore,
    NUMERIC_DTYPES,
    error_text,
    keyspace,
    tensor_data,
    wait_replica,
    rewrite_aof,
)
from model_zoo import (
    modelexecute,
    RoundTrip,
    connect,
    execute,
    get_array,
    model_meta,
    model_state,
    servers,
    set_array,
    store,
    torch_blob,
    torch_error_text,
    torch_input_names,
    torch_run,
)

# name -> shapes of its FLOAT inputs
MODELS = {
    "add": [(3, 4), (3, 4)],
    "mlp": [(5, 4)],
    "addmul": [(2, 3), (2, 3)],
    "argmax": [(4, 6)],
}
OUTPUTS = {"add": 1, "mlp": 1, "addmul": 2, "argmax": 1}
DTYPE_NAMES = {np.dtype(t): name for name, t in NUMERIC_DTYPES.items()}


def store_models(con):
    for name in MODELS:
        store(con, "torch:" + name, "TORCH", torch_blob(name), "TAG", "tag:" + name)
    return ["torch:" + name for name in MODELS]


def run_models(env, con, rng, prefix):
    """Runs every model on fresh random inputs; checks the outputs against torch in
    process; returns {output key: expected array}."""
    expected = {}
    for name, shapes in MODELS.items():
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        ins = [f"{prefix}:{name}:in{i}" for i in range(len(arrays))]
        outs = [f"{prefix}:{name}:out{i}" for i in range(OUTPUTS[name])]
        for key, arr in zip(ins, arrays):
            set_array(con, key, arr)
        env.assertEqual(execute(con, "torch:" + name, ins, outs), b"OK", message=name)
        for key, want in zip(outs, torch_run(name, *arrays)):
            got = get_array(con, key)
            env.assertEqual(got.dtype, want.dtype, message=key)
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6, err_msg=key)
            expected[key] = want
    return expected


TORCH_MODELS = RoundTrip(store_models, run_models, tolerance=1e-6)


def test_outputs_match_torch(env):
    """Every model's outputs equal the module run in process; META shows forward's
    parameter names and one empty name per output; outputs keep the dtype torch produced
    (every dtype both can hold), 0-dim outputs have shape []."""
    con = connect(env)
    keys = store_models(con)
    for name, key in zip(MODELS, keys):
        meta = model_meta(con, key)
        env.assertEqual(meta["backend"], b"TORCH")
        env.assertEqual(meta["tag"], b"tag:" + name.encode())
        # TORCH: forward's parameter names; one empty name per output tensor.
        env.assertEqual(meta["inputs"], [n.encode() for n in torch_input_names(name)])
        env.assertEqual(meta["outputs"], [b""] * OUTPUTS[name])
    env.assertEqual(model_meta(con, "torch:add")["inputs"], [b"a", b"b"])
    env.assertEqual(model_meta(con, "torch:mlp")["inputs"], [b"x"])
    expected = run_models(env, con, np.random.default_rng(1), "r")
    env.assertEqual(get_array(con, "r:argmax:out0").dtype, np.int64)
    # The same through AI.MODELRUN.
    x = np.random.default_rng(2).standard_normal((7, 4)).astype(np.float32)
    set_array(con, "x", x)
    env.assertEqual(
        con.execute_command("AI.MODELRUN", "torch:mlp", "INPUTS", "x", "OUTPUTS", "y"), b"OK"
    )
    np.testing.assert_allclose(get_array(con, "y"), torch_run("mlp", x)[0], rtol=1e-6, atol=1e-6)
    TORCH_MODELS.check_replicas(env, con, expected)
    # Output dtypes follow the inputs through torch's add, scalars included.
    store(con, "m", "TORCH", torch_blob("add"))
    rng = np.random.default_rng(3)
    for dtype in ("FLOAT", "DOUBLE", "FLOAT16", "INT8", "INT16", "INT32", "INT64", "UINT8", "BOOL"):
        a, b = tensor_data(rng, dtype, (2, 3)), tensor_data(rng, dtype, (2, 3))
        set_array(con, "a", a)
        set_array(con, "b", b)
        env.assertEqual(execute(con, "m", ["a", "b"], ["c"]), b"OK", message=dtype)
        want = torch_run("add", a, b)[0]
        meta = con.execute_command("AI.TENSORGET", "c", "META")
        env.assertEqual(
            meta, [b"dtype", DTYPE_NAMES[want.dtype].encode(), b"shape", [2, 3]], message=dtype
        )
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "c", "BLOB"), want.tobytes(), message=dtype
        )
    con.execute_command("AI.TENSORSET", "s", "FLOAT", "VALUES", 2.5)
    env.assertEqual(execute(con, "m", ["s", "s"], ["c"]), b"OK")
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "c", "META", "VALUES"),
        [b"dtype", b"FLOAT", b"shape", [], b"values", [b"5"]],
    )


def test_backend_errors_write_nothing(env):
    """A run the model rejects replies torch's one-line error, writes no output (an
    existing one keeps its value) and leaves the model usable."""
    con = connect(env)
    store(con, "mlp", "TORCH", torch_blob("mlp"))
    store(con, "add", "TORCH", torch_blob("add"))
    rng = np.random.default_rng(4)
    bad = {
        "x5": rng.standard_normal((2, 5)).astype(np.float32),  # 5 features, not 4
        "x1d": rng.standard_normal(4).astype(np.float32),
        "xi": np.ones((2, 4), np.int32),  # wrong dtype
        "a": np.ones((2, 2), np.float32),
        "b3": np.ones(3, np.float32),
    }
    for key, arr in bad.items():
        set_array(con, key, arr)
    set_array(con, "old", np.arange(3, dtype=np.int8))
    snapshot = keyspace(con)
    cases = [("mlp", ["x5"]), ("mlp", ["xi"]), ("add", ["a", "b3"])]
    for model, ins in cases:
        want = torch_error_text(model, *[bad[k] for k in ins])
        env.assertTrue(want, message=model)
        for out in ("new", "old"):
            got = error_text(
                env, "AI.MODELEXECUTE", model, "INPUTS", len(ins), *ins, "OUTPUTS", 1, out
            )
            env.assertEqual(got, want, message=(model, ins))
            env.assertNotContains("\n", got)
            env.assertEqual(keyspace(con), snapshot)
    env.assertContains(
        "mat1 and mat2 shapes cannot be multiplied (2x5 and 4x8)",
        error_text(env, *modelexecute("mlp", ["x5"], ["new"])),
    )
    # A 1-D input is fine for Linear: the model still works after the failures.
    env.assertEqual(execute(con, "mlp", ["x1d"], ["y"]), b"OK")
    np.testing.assert_allclose(get_array(con, "y"), torch_run("mlp", bad["x1d"])[0], rtol=1e-6)
    wait_replica(env, con)
    for c in servers(env)[1:]:
        env.assertEqual(c.exists("new"), 0)
        env.assertEqual(get_array(c, "old").tolist(), [0, 1, 2])


def test_reload_and_restart(env):
    """DEBUG RELOAD (master and replica), DUMP/RESTORE, SAVE + stop + start (the AOF env
    replays the commands it appended), and in the AOF env a restart from a rewritten AOF
    without RDB preamble, which holds one AI.MODELSTORE per model with every option:
    models stay byte-identical with the same META, their outputs survive, they run."""
    con = connect(env)
    keys = store_models(con)
    store(
        con,
        "opts",
        "TORCH",
        torch_blob("add"),
        "TAG",
        "t1",
        "BATCHSIZE",
        4,
        "MINBATCHSIZE",
        2,
        device="cpu",
    )
    keys.append("opts")
    expected = run_models(env, con, np.random.default_rng(5), "r")
    state = model_state(con, keys)
    env.dumpAndReload()
    TORCH_MODELS.check_everywhere(env, state, expected)
    env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
    TORCH_MODELS.check_everywhere(env, state, expected)
    payload = con.dump("torch:mlp")
    env.assertTrue(con.restore("copy", 0, payload))
    env.assertEqual(model_state(con, ["copy"])["copy"], state["torch:mlp"])
    x = np.ones((1, 4), np.float32)
    set_array(con, "x", x)
    env.assertEqual(execute(con, "copy", ["x"], ["y"]), b"OK")
    np.testing.assert_allclose(get_array(con, "y"), torch_run("mlp", x)[0], rtol=1e-6)
    state = model_state(con, [*keys, "copy"])
    expected["y"] = get_array(con, "y")
    wait_replica(env, con)
    env.assertTrue(con.save())
    env.stop()
    env.start()
    TORCH_MODELS.check_everywhere(env, state, expected)
    if env.useAof:
        check_rewritten_aof(env, state, expected)


def check_rewritten_aof(env, state, expected):
    """Rewrites the AOF without RDB preamble: one AI.MODELSTORE per model with every
    option; a restart replays them."""
    con = connect(env)
    con.config_set("aof-use-rdb-preamble", "no")
    base = rewrite_aof(con)
    env.assertEqual(base.count(b"\r\nAI.MODELSTORE\r\n"), len(state))
    env.assertContains(
        aof_modelstore(
            "opts", "TORCH", "cpu", torch_blob("add"), tag="t1", batchsize=4, minbatchsize=2
        ),
        base,
    )
    env.assertContains(
        aof_modelstore("copy", "TORCH", "CPU", torch_blob("mlp"), tag="tag:mlp"),
        base,
    )
    env.stop()
    env.start()
    TORCH_MODELS.check_everywhere(env, state, expected)


def test_replication(env):
    """The replica builds the models itself from the replicated MODELSTORE, gets the
    outputs of runs as AI.TENSORSET (the run itself is not replicated), and follows
    replacements and deletions."""
    if not env.useSlaves:
        env.skip()
    con = connect(env)  # linked first: what follows travels as commands, not an RDB
    replica = env.getSlaveConnection()
    keys = store_models(con)
    expected = run_models(env, con, np.random.default_rng(7), "r")
    TORCH_MODELS.check_replica_copies(env, con, keys, expected)
    stats = replica.info("commandstats")
    env.assertContains("cmdstat_ai.modelstore", stats)
    env.assertContains("cmdstat_ai.tensorset", stats)
    env.assertNotContains("cmdstat_ai.modelexecute", stats)
    # Replacing and deleting follow on the replica.
    store(con, "torch:add", "TORCH", torch_blob("addmul"), "TAG", "replaced")
    env.assertEqual(con.execute_command("AI.MODELDEL", "torch:mlp"), b"OK")
    wait_replica(env, con)
    env.assertEqual(model_meta(replica, "torch:add")["tag"], b"replaced")
    env.assertEqual(model_meta(replica, "torch:add")["outputs"], [b"", b""])
    env.assertEqual(replica.exists("torch:mlp"), 0)
