"""ONNX models end to end (spec 3.1, 3.5, 8.1-8.3), built with onnx.helper: outputs equal
onnxruntime run in process, graph input/output names, ORT's own error texts for bad
models and bad inputs (writing nothing), and models across DEBUG RELOAD, restarts and
replication."""

import numpy as np
import onnx
import onnxruntime as ort
from error_texts import EXTERNAL, NO_GRAPH, ONNX_GPU, err
from includes import RawConnection, error_text, keyspace, wait_replica
from model_zoo import (
    modelexecute,
    RoundTrip,
    connect,
    execute,
    get_array,
    model_meta,
    onnx_blob,
    onnx_error_text,
    onnx_run,
    onnx_session,
    servers,
    set_array,
    store,
    torch_blob,
)
from onnx import TensorProto


def store_models(con):
    store(con, "onnx:add", "ONNX", onnx_blob("add"), "TAG", "add")
    store(con, "onnx:mlp", "ONNX", onnx_blob("mlp"), "TAG", "mlp")
    return ["onnx:add", "onnx:mlp"]


def run_models(env, con, rng, prefix):
    """Runs both models on fresh inputs, checks them against onnxruntime in process and
    returns {output key: expected array}."""
    a, b = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2))
    x = rng.standard_normal((5, 4)).astype(np.float32)
    set_array(con, prefix + ":a", a)
    set_array(con, prefix + ":b", b)
    set_array(con, prefix + ":x", x)
    env.assertEqual(
        execute(con, "onnx:add", [prefix + ":a", prefix + ":b"], [prefix + ":sum"]), b"OK"
    )
    env.assertEqual(
        execute(con, "onnx:mlp", [prefix + ":x"], [prefix + ":y", prefix + ":label"]), b"OK"
    )
    expected = {prefix + ":sum": onnx_run("add", a=a, b=b)[0]}
    y, label = onnx_run("mlp", x=x)
    expected[prefix + ":y"] = y
    expected[prefix + ":label"] = label
    ONNX_MODELS.check_outputs(env, con, expected)
    return expected


ONNX_MODELS = RoundTrip(store_models, run_models, tolerance=1e-6)


def test_outputs_match_onnxruntime(env):
    con = connect(env)
    store_models(con)
    env.assertEqual(
        model_meta(con, "onnx:add"),
        {
            "backend": b"ONNX",
            "device": b"CPU",
            "tag": b"add",
            "batchsize": 0,
            "minbatchsize": 0,
            "inputs": [b"a", b"b"],
            "outputs": [b"sum"],
            "minbatchtimeout": 0,
        },
    )
    env.assertEqual(model_meta(con, "onnx:mlp")["inputs"], [b"x"])
    env.assertEqual(model_meta(con, "onnx:mlp")["outputs"], [b"y", b"label"])
    expected = run_models(env, con, np.random.default_rng(1), "r")
    env.assertEqual(get_array(con, "r:label").dtype, np.int64)
    env.assertEqual(get_array(con, "r:y").shape, (5, 3))
    # The symbolic batch dimension takes any size, through AI.MODELRUN too.
    x = np.random.default_rng(2).standard_normal((1, 4)).astype(np.float32)
    set_array(con, "x1", x)
    env.assertEqual(
        con.execute_command("AI.MODELRUN", "onnx:mlp", "INPUTS", "x1", "OUTPUTS", "y1", "l1"), b"OK"
    )
    np.testing.assert_allclose(get_array(con, "y1"), onnx_run("mlp", x=x)[0], rtol=1e-6)
    for key in ("onnx:add", "onnx:mlp"):
        env.assertEqual(con.execute_command("AI.MODELGET", key, "BLOB"), onnx_blob(key[5:]))
    ONNX_MODELS.check_replicas(env, con, expected)


def test_bad_models(env):
    """Bytes ORT cannot load give its own text (a protobuf without a graph, garbage, a
    TorchScript archive), a model with external data is refused before ORT reads it: every
    one an error that leaves no key and keeps an existing model."""
    con = connect(env)
    store(con, "m", "ONNX", onnx_blob("add"))
    snapshot = keyspace(con)
    no_graph = onnx.ModelProto(ir_version=8).SerializeToString()
    for blob in (no_graph, b"garbage", b"", torch_blob("add"), onnx_blob("mlp")[:-20]):
        try:
            ort.InferenceSession(blob, providers=["CPUExecutionProvider"])
            want = None
        except Exception as e:  # noqa: BLE001 - the in-process text is the expectation
            want = onnx_error_text(e)
        env.assertTrue(want, message=repr(blob[:20]))
        for key in ("new", "m"):
            env.assertEqual(
                error_text(env, "AI.MODELSTORE", key, "ONNX", "CPU", "BLOB", blob),
                want,
                message=repr(blob[:20]),
            )
            env.assertEqual(keyspace(con), snapshot)
    env.assertEqual(
        error_text(env, "AI.MODELSTORE", "new", "ONNX", "CPU", "BLOB", no_graph),
        NO_GRAPH,
    )
    # An initializer whose data lives in a file.
    model = onnx.ModelProto()
    model.ParseFromString(onnx_blob("mlp"))
    init = model.graph.initializer[0]
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    entry = init.external_data.add()
    entry.key, entry.value = "location", "w1.bin"
    with RawConnection(con) as raw:
        env.assertEqual(
            raw.call("AI.MODELSTORE", "new", "ONNX", "CPU", "BLOB", model.SerializeToString()),
            ("-", EXTERNAL.encode()),
        )
        env.assertEqual(keyspace(con), snapshot)
    env.assertTrue(con.ping())


def test_gpu_without_cuda(env):
    """A model for a GPU on a host without CUDA is refused and leaves no key."""
    if "CUDAExecutionProvider" in ort.get_available_providers():
        env.skip()  # needs a host without CUDA
    con = connect(env)
    store(con, "m", "ONNX", onnx_blob("add"))
    snapshot = keyspace(con)
    with RawConnection(con) as raw:
        for device in ("GPU", "gpu:0", "GPU:"):
            env.assertEqual(
                raw.call("AI.MODELSTORE", "new", "ONNX", device, "BLOB", onnx_blob("add")),
                ("-", err(ONNX_GPU).encode()),
            )
            env.assertEqual(keyspace(con), snapshot)
    env.assertTrue(con.ping())


def onnx_error_in_order(name, feeds):
    """ORT's in-process text for a failing run with the inputs taken in the graph's order, as
    its C API takes them (RedisAI, native runs): of several bad inputs the first is named.
    (The Python binding's run() keeps its feeds in an unordered map, which may name
    another; run_with_iobinding keeps the order but prefixes its text.)"""
    session = onnx_session(name)
    binding = session.io_binding()
    for n, x in feeds.items():
        binding.bind_cpu_input(n, x)
    for output in session.get_outputs():
        binding.bind_output(output.name)
    try:
        session.run_with_iobinding(binding)
    except Exception as e:  # noqa: BLE001 - the in-process text is the expectation
        return onnx_error_text(e).removeprefix("Error in execution: ")
    return None


def test_bad_inputs_write_nothing(env):
    """Inputs ORT rejects (dimensions, dtype, rank) reply ORT's text as onnxruntime gives
    it in process, without the binding's prefix, and write no output."""
    con = connect(env)
    store_models(con)
    feeds = {
        "a3": np.ones((3, 3), np.float32),
        "a2": np.ones((2, 3), np.float32),
        "d": np.ones((2, 3), np.float64),
        "x1d": np.ones(4, np.float32),
        "x5": np.ones((2, 5), np.float32),
    }
    for key, arr in feeds.items():
        set_array(con, key, arr)
    set_array(con, "old", np.arange(3, dtype=np.int16))
    snapshot = keyspace(con)
    cases = [
        ("add", ["a3", "a3"], ["out"]),
        ("add", ["a2", "a3"], ["old"]),
        ("add", ["d", "d"], ["out"]),
        ("mlp", ["x1d"], ["out", "old"]),
        ("mlp", ["x5"], ["out", "out2"]),
    ]
    for name, ins, outs in cases:
        graph_inputs = [i.name for i in onnx.load_from_string(onnx_blob(name)).graph.input]
        want = onnx_error_in_order(name, {n: feeds[k] for n, k in zip(graph_inputs, ins)})
        env.assertTrue(want, message=(name, ins))
        got = error_text(
            env,
            "AI.MODELEXECUTE",
            "onnx:" + name,
            "INPUTS",
            len(ins),
            *ins,
            "OUTPUTS",
            len(outs),
            *outs,
        )
        env.assertEqual(got, want, message=(name, ins))
        env.assertEqual(keyspace(con), snapshot)
    env.assertContains(
        "Got invalid dimensions for input: a for the following indices",
        error_text(env, *modelexecute("onnx:add", ["a3", "a2"], ["out"])),
    )
    run_models(env, con, np.random.default_rng(3), "after")
    wait_replica(env, con)
    for c in servers(env)[1:]:
        env.assertEqual(c.exists("out", "out2"), 0)
        env.assertEqual(get_array(c, "old").tolist(), [0, 1, 2])


def test_debug_reload_and_restart(env):
    """DEBUG RELOAD (master and replica), SAVE + restart, and a restart after
    BGREWRITEAOF keep the models byte-identical and runnable."""
    con = connect(env)
    keys, expected, state = ONNX_MODELS.start(env, con, 4)
    env.dumpAndReload()
    ONNX_MODELS.check_everywhere(env, state, expected)
    env.assertTrue(con.save())
    env.stop()
    env.start()
    ONNX_MODELS.check_everywhere(env, state, expected)
    env.restartAndReload()
    ONNX_MODELS.check_everywhere(env, state, expected)


def test_replication(env):
    """The replica builds the models from the replicated MODELSTORE and receives the
    outputs; a replaced or deleted model follows."""
    if not env.useSlaves:
        env.skip()
    con = connect(env)
    replica = env.getSlaveConnection()
    keys = store_models(con)
    expected = run_models(env, con, np.random.default_rng(5), "r")
    ONNX_MODELS.check_replica_copies(env, con, keys, expected)
    store(con, "onnx:add", "ONNX", onnx_blob("mlp"), "TAG", "replaced")
    env.assertEqual(con.execute_command("AI.MODELDEL", "onnx:mlp"), b"OK")
    wait_replica(env, con)
    env.assertEqual(model_meta(replica, "onnx:add")["outputs"], [b"y", b"label"])
    env.assertEqual(model_meta(replica, "onnx:add")["tag"], b"replaced")
    env.assertEqual(replica.exists("onnx:mlp"), 0)
