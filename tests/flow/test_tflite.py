"""TFLITE models end to end (spec 3.1, 3.5, 3.6, 8.1-8.3): a float model with a dynamic
batch dimension and a fully integer-quantized (INT8) one, outputs equal to the TFLite
interpreter run in process, input/output names from the interpreter, dtype errors that
write nothing, AI.MODELSET's refusal of BATCHSIZE, and TFLITE models across DEBUG RELOAD,
restarts, AOF rewrite and replication."""

import threading

import numpy as np
from error_texts import (
    INPUTS_MISMATCH,
    NOT_FOR_BACKEND,
    OUTPUTS_MISMATCH,
    TFLITE_BATCHING,
    TFLITE_DTYPE,
    WRONGTYPE,
)
from includes import (
    aof_modelstore,
    RawConnection,
    error_text,
    keyspace,
    wait_replica,
    rewrite_aof,
)
from model_zoo import (
    modelexecute,
    RoundTrip,
    execute,
    get_array,
    model_blob,
    model_meta,
    model_state,
    servers,
    set_array,
    store,
)
from RLTest import Env
from tf_zoo import (
    dense_inputs,
    quant_input,
    start_replica_sync,
    tflite_blob,
    tflite_details,
    tflite_names,
    tflite_run,
)

MODELS = {"tflite:dense": "dense", "tflite:quant": "quant"}


def store_models(con):
    for key, name in MODELS.items():
        store(con, key, "TFLITE", tflite_blob(name), "TAG", name)
    return list(MODELS)


def run_dense(env, con, key, rng, prefix, batch):
    """Runs the float model on a fresh batch; checks it against the interpreter and numpy;
    returns {output key: expected array}."""
    arrays, by_arg = dense_inputs(rng, batch)
    ins = [f"{prefix}:in{i}" for i in range(2)]
    outs = [f"{prefix}:out{i}" for i in range(2)]
    for k, a in zip(ins, arrays):
        set_array(con, k, a)
    env.assertEqual(execute(con, key, ins, outs), b"OK", message=(key, batch))
    want = tflite_run("dense", *arrays)
    for k, w in zip(outs, want):
        got = get_array(con, k)
        env.assertEqual((got.dtype, got.shape), (w.dtype, w.shape), message=k)
        np.testing.assert_array_equal(got, w, err_msg=k)
    # The interpreter computes what the model says: x + y and max(x * y, axis 1).
    x, y = by_arg["x"], by_arg["y"]
    by_shape = {w.shape: w for w in want}
    np.testing.assert_allclose(by_shape[(batch, 3)], x + y, rtol=1e-6)
    np.testing.assert_allclose(by_shape[(batch,)], (x * y).max(axis=1), rtol=1e-6)
    return dict(zip(outs, want))


def run_quant(env, con, key, rng, prefix):
    x = quant_input(rng)
    set_array(con, f"{prefix}:qin", x)
    env.assertEqual(execute(con, key, [f"{prefix}:qin"], [f"{prefix}:qout"]), b"OK")
    (want,) = tflite_run("quant", x)
    got = get_array(con, f"{prefix}:qout")
    env.assertEqual((got.dtype, got.shape), (np.dtype(np.int8), (1, 3)))
    np.testing.assert_array_equal(got, want)
    return {f"{prefix}:qout": want}


def run_models(env, con, rng, prefix):
    expected = run_dense(env, con, "tflite:dense", rng, prefix + ":d", 3)
    expected.update(run_quant(env, con, "tflite:quant", rng, prefix))
    return expected


TFLITE_MODELS = RoundTrip(store_models, run_models)


class TestTFLite:
    """One server (and replica) for every test: importing TF costs seconds per process."""

    def __init__(self):
        self.env = Env()
        start_replica_sync(self.env)

    def setUp(self):
        self.env.flush()

    def test_outputs_match_interpreter(self):
        """Names and order from the interpreter; float outputs at several batch sizes (the
        inputs are resized as they come) and quantized outputs equal the interpreter's."""
        env = self.env
        con = env.getConnection()
        keys = store_models(con)
        for key, name in MODELS.items():
            ins, outs = tflite_names(name)
            env.assertEqual(
                model_meta(con, key),
                {
                    "backend": b"TFLITE",
                    "device": b"CPU",
                    "tag": name.encode(),
                    "batchsize": 0,
                    "minbatchsize": 0,
                    "inputs": [n.encode() for n in ins],
                    "outputs": [n.encode() for n in outs],
                    "minbatchtimeout": 0,
                },
                message=key,
            )
            env.assertEqual(model_blob(con, key), tflite_blob(name))
        env.assertEqual(
            sorted(model_meta(con, "tflite:dense")["inputs"]),
            [b"serving_default_x:0", b"serving_default_y:0"],
        )
        env.assertEqual(len(model_meta(con, "tflite:dense")["outputs"]), 2)
        # The quantized model really is INT8 in and out.
        ins, outs = tflite_details("quant")
        env.assertEqual([d["dtype"] for d in ins + outs], [np.int8, np.int8])
        rng = np.random.default_rng(1)
        expected = {}
        for i, batch in enumerate((1, 4, 2, 2, 7, 1)):
            expected.update(run_dense(env, con, "tflite:dense", rng, f"r{i}", batch))
        for i in range(5):
            expected.update(run_quant(env, con, "tflite:quant", rng, f"q{i}"))
        # Extreme quantized inputs.
        for i, value in enumerate((-128, 127, 0)):
            x = np.full((1, 4), value, np.int8)
            set_array(con, "qx", x)
            env.assertEqual(execute(con, "tflite:quant", ["qx"], [f"qe{i}"]), b"OK")
            np.testing.assert_array_equal(get_array(con, f"qe{i}"), tflite_run("quant", x)[0])
        # The deprecated forms run them too.
        env.assertEqual(
            con.execute_command("AI.MODELRUN", "tflite:quant", "INPUTS", "qx", "OUTPUTS", "qrun"),
            b"OK",
        )
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "qrun", "BLOB"),
            con.execute_command("AI.TENSORGET", "qe2", "BLOB"),
        )
        TFLITE_MODELS.check_replicas(env, con, expected, keys)

    def test_errors(self):
        """Wrong input dtype: the TFLite text, nothing written, the model still runs; wrong
        counts; blobs that are no model; MODELSET refuses BATCHSIZE for TFLITE."""
        env = self.env
        con = env.getConnection()
        store_models(con)
        set_array(con, "f13", np.ones((1, 3), np.float32))
        set_array(con, "d13", np.ones((1, 3), np.float64))
        set_array(con, "f14", np.ones((1, 4), np.float32))
        set_array(con, "u14", np.ones((1, 4), np.uint8))
        set_array(con, "i14", np.ones((1, 4), np.int8))
        set_array(con, "old", np.arange(3, dtype=np.int8))
        con.execute_command("AI.TENSORSET", "s", "STRING", 1, 4, "VALUES", "a", "b", "c", "d")
        con.set("str", "x")
        snapshot = keyspace(con)
        runs = [
            ("tflite:dense", ["d13", "f13"]),
            ("tflite:dense", ["f13", "d13"]),
            ("tflite:dense", ["i14", "i14"]),
            ("tflite:quant", ["f14"]),
            ("tflite:quant", ["u14"]),  # UINT8 is not INT8
            ("tflite:quant", ["s"]),
        ]
        with RawConnection(con) as raw:
            for model, ins in runs:
                outs = ["new", "old"] if model == "tflite:dense" else ["old"]
                env.assertEqual(
                    error_text(
                        env,
                        "AI.MODELEXECUTE",
                        model,
                        "INPUTS",
                        len(ins),
                        *ins,
                        "OUTPUTS",
                        len(outs),
                        *outs,
                    ),
                    TFLITE_DTYPE,
                    message=(model, ins),
                )
                reply = raw.call(
                    "AI.MODELEXECUTE", model, "INPUTS", len(ins), *ins, "OUTPUTS", len(outs), *outs
                )
                env.assertEqual(reply[0], "-")
                env.assertTrue(reply[1].endswith(TFLITE_DTYPE.encode()), message=reply)
                env.assertEqual(keyspace(con), snapshot)
        env.assertEqual(
            error_text(env, *modelexecute("tflite:dense", ["f13"], ["p", "q"])),
            INPUTS_MISMATCH,
        )
        env.assertEqual(
            error_text(env, *modelexecute("tflite:dense", ["f13", "f13"], ["p"])),
            OUTPUTS_MISMATCH,
        )
        # Shapes the model cannot take: an error on one line, nothing written.
        text = error_text(env, *modelexecute("tflite:quant", ["old"], ["new"]))
        env.assertTrue(text and "\n" not in text, message=text)
        env.assertEqual(keyspace(con), snapshot)
        # Both models still run.
        env.assertEqual(execute(con, "tflite:dense", ["f13", "f13"], ["p", "q"]), b"OK")
        got = {get_array(con, k).shape: get_array(con, k).tolist() for k in ("p", "q")}
        env.assertEqual(got, {(1, 3): [[2, 2, 2]], (1,): [1]})
        env.assertEqual(execute(con, "tflite:quant", ["i14"], ["r"]), b"OK")
        np.testing.assert_array_equal(
            get_array(con, "r"), tflite_run("quant", np.ones((1, 4), np.int8))[0]
        )
        snapshot = keyspace(con)
        # Bytes that are no TFLite model: an error on one line, no key, nothing replaced.
        blob = tflite_blob("dense")
        for payload in (b"not a flatbuffer at all", blob[: len(blob) // 2], b"\0" * 64):
            for key in ("new", "tflite:dense", "str"):
                text = error_text(env, "AI.MODELSTORE", key, "TFLITE", "CPU", "BLOB", payload)
                env.assertTrue(
                    text and "\n" not in text and not text.startswith("WRONGTYPE"),
                    message=(key, text),
                )
        env.assertEqual(
            error_text(env, "AI.MODELSTORE", "str", "TFLITE", "CPU", "BLOB", blob),
            WRONGTYPE,
        )
        env.assertEqual(
            error_text(
                env, "AI.MODELSTORE", "new", "TFLITE", "CPU", "INPUTS", 1, "x", "BLOB", blob
            ),
            NOT_FOR_BACKEND,
        )
        # AI.MODELSET: no auto-batching for TFLITE, whatever precedes BATCHSIZE.
        for args in (
            ("BATCHSIZE", 2),
            ("TAG", "t", "BATCHSIZE", 2),
            ("BATCHSIZE", 2, "MINBATCHSIZE", 1),
            ("BATCHSIZE", 0),
        ):
            for key in ("new", "tflite:dense"):
                env.assertEqual(
                    error_text(env, "AI.MODELSET", key, "TFLITE", "CPU", *args, "BLOB", blob),
                    TFLITE_BATCHING,
                    message=args,
                )
        with RawConnection(con) as raw:
            env.assertEqual(
                raw.call("AI.MODELSET", "new", "TFLITE", "CPU", "BATCHSIZE", 2, "BLOB", blob),
                ("-", b"ERR " + TFLITE_BATCHING.encode()),
            )
        env.assertEqual(keyspace(con), snapshot)
        wait_replica(env, con)
        for c in servers(env)[1:]:
            env.assertEqual(keyspace(c), snapshot)

    def test_modelset_and_batching(self):
        """AI.MODELSET without BATCHSIZE stores the same model; AI.MODELSTORE accepts
        BATCHSIZE for TFLITE and batches requests like the other backends."""
        env = self.env
        con = env.getConnection()
        blob = tflite_blob("dense")
        env.assertEqual(
            con.execute_command("AI.MODELSET", "ms", "tflite", "CPU", "TAG", "t", "BLOB", blob),
            b"OK",
        )
        meta = model_meta(con, "ms")
        env.assertEqual((meta["backend"], meta["tag"], meta["batchsize"]), (b"TFLITE", b"t", 0))
        env.assertEqual(meta["inputs"], [n.encode() for n in tflite_names("dense")[0]])
        run_dense(env, con, "ms", np.random.default_rng(2), "ms", 2)
        env.assertEqual(
            store(
                con, "b", "TFLITE", blob, "BATCHSIZE", 8, "MINBATCHSIZE", 4, "MINBATCHTIMEOUT", 2000
            ),
            b"OK",
        )
        env.assertEqual(model_meta(con, "b")["batchsize"], 8)
        # Two requests of 2 rows each reach MINBATCHSIZE 4 together: one run, each gets its
        # own rows back.
        rng = np.random.default_rng(3)
        requests = [dense_inputs(rng, 2)[0] for _ in range(2)]
        for i, arrays in enumerate(requests):
            for j, a in enumerate(arrays):
                set_array(con, f"b{i}:in{j}", a)
        replies = [None, None]

        def client(i):
            c = env.getConnection()
            replies[i] = execute(c, "b", [f"b{i}:in0", f"b{i}:in1"], [f"b{i}:out0", f"b{i}:out1"])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        env.assertEqual(replies, [b"OK", b"OK"])
        for i, arrays in enumerate(requests):
            for j, want in enumerate(tflite_run("dense", *arrays)):
                np.testing.assert_array_equal(get_array(con, f"b{i}:out{j}"), want)

    def test_debug_reload(self):
        env = self.env
        con = env.getConnection()
        keys, expected, state = TFLITE_MODELS.start(env, con, 5)
        env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
        TFLITE_MODELS.check_everywhere(env, state, expected)
        env.assertTrue(con.restore("copy", 0, con.dump("tflite:quant")))
        env.assertEqual(model_state(con, ["copy"])["copy"], state["tflite:quant"])
        run_quant(env, con, "copy", np.random.default_rng(8), "copy")

    def test_restart(self):
        """SAVE, stop, start (the AOF env replays its AOF): TFLITE models survive and run.
        Not in the replica env, where test_tf's restart already resyncs a replica (seconds
        per TF import)."""
        env = self.env
        if env.useSlaves:
            env.skip()
        con = env.getConnection()
        keys, expected, state = TFLITE_MODELS.start(env, con, 6)
        wait_replica(env, con)
        env.assertTrue(con.save())
        env.stop()
        env.start()
        start_replica_sync(env)
        TFLITE_MODELS.check_everywhere(env, state, expected)

    def test_aof_rewrite(self):
        """The rewritten AOF holds one AI.MODELSTORE per model with every option and no
        INPUTS/OUTPUTS; replaying it rebuilds the models."""
        env = self.env
        if not env.useAof:
            env.skip()
        con = env.getConnection()
        dense, quant = tflite_blob("dense"), tflite_blob("quant")
        store(con, "d", "TFLITE", dense, "TAG", "t1", "BATCHSIZE", 4, device="cpu")
        con.execute_command("AI.MODELSET", "q", "TFLITE", "CPU", "BLOB", quant)
        state = model_state(con, ["d", "q"])
        con.config_set("aof-use-rdb-preamble", "no")
        base = rewrite_aof(con)
        env.assertEqual(base.count(b"\r\nAI.MODELSTORE\r\n"), 2)
        env.assertContains(
            aof_modelstore("d", "TFLITE", "cpu", dense, tag="t1", batchsize=4),
            base,
        )
        env.assertContains(
            aof_modelstore("q", "TFLITE", "CPU", quant),
            base,
        )
        env.stop()
        env.start()
        con = env.getConnection()
        env.assertEqual(model_state(con, ["d", "q"]), state)
        run_dense(env, con, "d", np.random.default_rng(9), "d", 2)
        run_quant(env, con, "q", np.random.default_rng(9), "q")

    def test_replication(self):
        """The replica builds the models from the replicated MODELSTORE/MODELSET and gets
        the outputs of runs as AI.TENSORSET."""
        env = self.env
        if not env.useSlaves:
            env.skip()
        con = env.getConnection()
        replica = env.getSlaveConnection()
        wait_replica(env, con)  # synced: what follows travels as commands
        replica.config_resetstat()
        keys = store_models(con)
        con.execute_command("AI.MODELSET", "ms", "TFLITE", "CPU", "BLOB", tflite_blob("quant"))
        expected = run_models(env, con, np.random.default_rng(7), "r")
        expected.update(run_quant(env, con, "ms", np.random.default_rng(7), "ms"))
        env.assertEqual(con.execute_command("WAIT", 1, 10000), 1)
        TFLITE_MODELS.check_replica_copies(env, con, [*keys, "ms"], expected, ("META", "BLOB"))
        stats = replica.info("commandstats")
        env.assertContains("cmdstat_ai.modelstore", stats)
        env.assertContains("cmdstat_ai.modelset", stats)
        env.assertNotContains("cmdstat_ai.modelexecute", stats)
        env.assertEqual(con.execute_command("AI.MODELDEL", "ms"), b"OK")
        wait_replica(env, con)
        env.assertEqual(replica.exists("ms"), 0)
