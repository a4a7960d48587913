"""TF models end to end (spec 3.1, 3.2 step 9, 3.5, 3.6, 8.1-8.3): frozen GraphDefs and a
zipped TF2 SavedModel stored with their INPUTS/OUTPUTS node names, outputs equal to
TensorFlow run in process, every TF-specific parse error of AI.MODELSTORE and AI.MODELSET,
backend errors that store or write nothing, output dtypes, STRING tensors, and TF models
across DEBUG RELOAD, restarts, AOF rewrite and replication. The tests share one server (and
replica): every process that loads TF spends seconds importing it."""

import numpy as np
from error_texts import (
    EXPECTED_BLOB,
    INPUTS_MISMATCH,
    INPUT_COUNT,
    MISSING_BLOB,
    NO_INPUTS,
    NO_OUTPUTS,
    OUTPUTS_MISMATCH,
    OUTPUT_COUNT,
    TF_GPU,
    TF_INCOMPATIBLE,
    TF_INPUTS_ARGS,
    TF_INVALID_GRAPH,
    TF_NO_INPUTS,
    TF_NO_INPUT_NODE,
    TF_NO_OUTPUT_NODE,
    TF_NO_IO,
    TF_NO_OUTPUTS,
    TF_OUTPUTS_ARGS,
    WRONGTYPE,
)
from includes import (
    aof_modelstore,
    rewrite_aof,
    RawConnection,
    error_text,
    keyspace,
    meta_dict,
    string_blob,
    wait_replica,
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
)
from RLTest import Env
from tf_zoo import (
    DTYPE_OUTPUTS,
    GRAPH_IO,
    saved_model_run,
    saved_model_zip,
    start_replica_sync,
    tf,
    tf_blob,
    tf_run,
)

STORE, MSET = "AI.MODELSTORE", "AI.MODELSET"


def store_tf(con, key, name, inputs=None, outputs=None, *options, device="CPU", blob=None):
    """AI.MODELSTORE of a named graph (or blob) with its node names (or the given ones)."""
    ins, outs = GRAPH_IO.get(name, (None, None))
    ins, outs = inputs or ins, outputs or outs
    return con.execute_command(
        STORE,
        key,
        "TF",
        device,
        *options,
        "INPUTS",
        len(ins),
        *ins,
        "OUTPUTS",
        len(outs),
        *outs,
        "BLOB",
        tf_blob(name) if blob is None else blob,
    )


# key -> (graph, input nodes, output nodes, input shapes); all FLOAT
MODELS = {
    "tf:mul": ("mul", ["a", "b"], ["mul"], [(2, 3), (2, 3)]),
    "tf:addmul": ("addmul", ["a", "b"], ["mul", "add"], [(4,), (4,)]),  # client's order
    "tf:matmul": ("matmul", ["x"], ["y"], [(5, 4)]),
}


def store_models(con):
    for key, (name, ins, outs, _) in MODELS.items():
        store_tf(con, key, name, ins, outs, "TAG", key)
    con.execute_command(
        STORE,
        "tf:saved",
        "TF",
        "CPU",
        "INPUTS",
        2,
        "a",
        "b",
        "OUTPUTS",
        2,
        "prod",
        "sum",
        "BLOB",
        saved_model_zip(),
    )
    return [*MODELS, "tf:saved"]


def run_models(env, con, rng, prefix):
    """Runs every model on fresh inputs, checks outputs against TF in process; returns
    {output key: expected array}."""
    expected = {}
    for key, (name, ins, outs, shapes) in MODELS.items():
        arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
        in_keys = [f"{prefix}:{key}:{n}" for n in ins]
        out_keys = [f"{prefix}:{key}:{n}" for n in outs]
        for k, a in zip(in_keys, arrays):
            set_array(con, k, a)
        env.assertEqual(execute(con, key, in_keys, out_keys), b"OK", message=key)
        for k, want in zip(out_keys, tf_run(name, ins, outs, *arrays)):
            got = get_array(con, k)
            env.assertEqual((got.dtype, got.shape), (want.dtype, want.shape), message=k)
            np.testing.assert_array_equal(got, want, err_msg=k)
            expected[k] = want
    a, b = (rng.standard_normal(6).astype(np.float32) for _ in range(2))
    set_array(con, f"{prefix}:sa", a)
    set_array(con, f"{prefix}:sb", b)
    outs = [f"{prefix}:prod", f"{prefix}:sum"]
    env.assertEqual(execute(con, "tf:saved", [f"{prefix}:sa", f"{prefix}:sb"], outs), b"OK")
    want = saved_model_run(a, b)
    for k, name in zip(outs, ("prod", "sum")):
        np.testing.assert_array_equal(get_array(con, k), want[name], err_msg=k)
        expected[k] = want[name]
    return expected


TF_MODELS = RoundTrip(store_models, run_models)


# Spec 3.2 step 9 and 10-11 for TF: (arguments after the key, error without "ERR ").
B = b"<blob>"  # never looked at: parsing fails first
TF_PARSE_ERRORS = [
    (("TF", "CPU", "BLOB", B), TF_NO_INPUTS),
    (("TF", "CPU", "TAG", "t", "BLOB", B), TF_NO_INPUTS),
    (("TF", "CPU", "OUTPUTS", 1, "mul", "BLOB", B), TF_NO_INPUTS),
    (("TF", "CPU", "INPUTS", "two", "a", "b", "BLOB", B), INPUT_COUNT),
    (
        ("TF", "CPU", "INPUTS", 0, "OUTPUTS", 1, "mul", "BLOB", B),
        INPUT_COUNT,
    ),
    (
        ("TF", "CPU", "INPUTS", -1, "a", "OUTPUTS", 1, "mul", "BLOB", B),
        INPUT_COUNT,
    ),
    (
        ("TF", "CPU", "INPUTS", 3, "a", "b"),
        TF_INPUTS_ARGS,
    ),
    (
        ("TF", "CPU", "TAG", "t", "BATCHSIZE", 2, "INPUTS", 9, "a", "b", "OUTPUTS", 1, "mul"),
        TF_INPUTS_ARGS,
    ),
    (("TF", "CPU", "INPUTS", 2, "a", "b"), TF_NO_OUTPUTS),
    (("TF", "CPU", "INPUTS", 2, "a", "b", "BLOB", B), TF_NO_OUTPUTS),
    # The count is trusted: "OUTPUTS" is taken as the second input name here.
    (
        ("TF", "CPU", "INPUTS", 2, "a", "OUTPUTS", 1, "mul", "BLOB", B),
        TF_NO_OUTPUTS,
    ),
    (
        ("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 0, "mul", "BLOB", B),
        OUTPUT_COUNT,
    ),
    (
        ("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", "one", "mul", "BLOB", B),
        OUTPUT_COUNT,
    ),
    (("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS"), OUTPUT_COUNT),
    (
        ("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 4, "mul", "BLOB"),
        TF_OUTPUTS_ARGS,
    ),
    (("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul"), EXPECTED_BLOB),
    (
        ("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul", "NOTBLOB", B),
        EXPECTED_BLOB,
    ),
    (
        ("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul", "mul2", "BLOB", B),
        EXPECTED_BLOB,
    ),
    (
        ("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul", "BLOB"),
        MISSING_BLOB,
    ),
    # Options after INPUTS/OUTPUTS are out of order: they fall through to the BLOB check.
    (
        ("TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul", "TAG", "t", "BLOB", B),
        EXPECTED_BLOB,
    ),
]
# AI.MODELSET's TF form (spec 3.6): names without counts.
MODELSET_ERRORS = [
    (("TF", "CPU", "BLOB", B), TF_NO_IO),
    (
        ("TF", "CPU", "TAG", "t", "BLOB", B),
        TF_NO_IO,
    ),
    (("TF", "CPU", "a", "b", "OUTPUTS", "mul", "BLOB", B), NO_INPUTS),
    (("TF", "CPU", "OUTPUTS", "mul", "BLOB", B), NO_INPUTS),
    (("TF", "CPU", "INPUTS", "a", "b", "BLOB", B), NO_OUTPUTS),
    (
        ("TF", "CPU", "INPUTS", "a", "b", "OUTPUTS", "mul"),
        MISSING_BLOB,
    ),
    (
        ("TF", "CPU", "INPUTS", "a", "b", "OUTPUTS", "mul", "BLOB"),
        MISSING_BLOB,
    ),
]


class TestTF:
    """One server (and replica) for every test: each TF import costs seconds per process."""

    def __init__(self):
        self.env = Env()
        start_replica_sync(self.env)

    def setUp(self):
        self.env.flush()

    def test_mul_matches_tensorflow(self):
        """The RedisAI example: a * b, stored with its node names, runs like TF in process."""
        env = self.env
        con = env.getConnection()
        blob = tf_blob("mul")
        env.assertEqual(
            con.execute_command(
                STORE, "m", "TF", "CPU", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul", "BLOB", blob
            ),
            b"OK",
        )
        env.assertEqual(
            model_meta(con, "m"),
            {
                "backend": b"TF",
                "device": b"CPU",
                "tag": b"",
                "batchsize": 0,
                "minbatchsize": 0,
                "inputs": [b"a", b"b"],
                "outputs": [b"mul"],
                "minbatchtimeout": 0,
            },
        )
        env.assertEqual(con.type("m"), b"AI__MODEL")
        env.assertEqual(model_blob(con, "m"), blob)
        env.assertEqual(meta_dict(con.execute_command("AI.MODELGET", "m"))["blob"], blob)
        con.execute_command("AI.TENSORSET", "a", "FLOAT", 2, 2, "VALUES", 2, 3, 2, 3)
        con.execute_command("AI.TENSORSET", "b", "FLOAT", 2, 2, "VALUES", 2, 3, 2, 3)
        env.assertEqual(execute(con, "m", ["a", "b"], ["c"]), b"OK")
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "c", "META", "VALUES"),
            [b"dtype", b"FLOAT", b"shape", [2, 2], b"values", [b"4", b"9", b"4", b"9"]],
        )
        # Random inputs of several shapes (broadcasting included) against TF in process.
        rng = np.random.default_rng(1)
        for sa, sb in (((2, 3), (2, 3)), ((5,), (5,)), ((3, 1), (1, 4)), ((), (7,))):
            a, b = (
                rng.standard_normal(sa).astype(np.float32),
                rng.standard_normal(sb).astype(np.float32),
            )
            set_array(con, "a", a)
            set_array(con, "b", b)
            env.assertEqual(execute(con, "m", ["a", "b"], ["c"]), b"OK")
            (want,) = tf_run("mul", ["a", "b"], ["mul"], a, b)
            got = get_array(con, "c")
            env.assertEqual(got.shape, want.shape)
            np.testing.assert_array_equal(got, want)
        # AI.MODELRUN and MODELEXECUTE with TIMEOUT run it too.
        env.assertEqual(
            con.execute_command("AI.MODELRUN", "m", "INPUTS", "a", "b", "OUTPUTS", "d"), b"OK"
        )
        env.assertEqual(execute(con, "m", ["a", "b"], ["e"], "TIMEOUT", 5000), b"OK")
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "d", "BLOB"),
            con.execute_command("AI.TENSORGET", "c", "BLOB"),
        )
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "e", "BLOB"),
            con.execute_command("AI.TENSORGET", "c", "BLOB"),
        )
        wait_replica(env, con)
        for c in servers(env)[1:]:
            env.assertEqual(c.execute_command("AI.TENSORGET", "c", "BLOB"), got.tobytes())

    def test_graphs_and_saved_model(self):
        """Several outputs in the client's order, a subset of outputs, a batch dimension,
        the SavedModel's signature names, MODELGET BLOB byte-identical for both formats."""
        env = self.env
        con = env.getConnection()
        keys = store_models(con)
        for key, (name, ins, outs, _) in MODELS.items():
            meta = model_meta(con, key)
            env.assertEqual((meta["backend"], meta["tag"]), (b"TF", key.encode()))
            env.assertEqual(meta["inputs"], [n.encode() for n in ins])
            env.assertEqual(meta["outputs"], [n.encode() for n in outs])
            env.assertEqual(model_blob(con, key), tf_blob(name))
        meta = model_meta(con, "tf:saved")
        env.assertEqual((meta["inputs"], meta["outputs"]), ([b"a", b"b"], [b"prod", b"sum"]))
        env.assertEqual(model_blob(con, "tf:saved"), saved_model_zip())
        expected = run_models(env, con, np.random.default_rng(2), "r")
        env.assertEqual(len(expected), 6)
        # The same graph with one output of two, and the SavedModel with its inputs swapped
        # and one output: each input name is fed the tensor in its position.
        store_tf(con, "only_add", "addmul", ["a", "b"], ["add"])
        con.execute_command(
            STORE,
            "saved_ba",
            "TF",
            "CPU",
            "INPUTS",
            2,
            "b",
            "a",
            "OUTPUTS",
            1,
            "sum",
            "BLOB",
            saved_model_zip(),
        )
        env.assertEqual(model_meta(con, "saved_ba")["inputs"], [b"b", b"a"])
        env.assertEqual(model_meta(con, "saved_ba")["outputs"], [b"sum"])
        set_array(con, "x", np.array([1, 2], np.float32))
        set_array(con, "y", np.array([10, 20], np.float32))
        env.assertEqual(execute(con, "only_add", ["x", "y"], ["o"]), b"OK")
        env.assertEqual(get_array(con, "o").tolist(), [11, 22])
        env.assertEqual(execute(con, "saved_ba", ["y", "x"], ["o"]), b"OK")
        env.assertEqual(get_array(con, "o").tolist(), [11, 22])
        con.execute_command(
            STORE,
            "saved_prod",
            "TF",
            "CPU",
            "INPUTS",
            2,
            "a",
            "b",
            "OUTPUTS",
            1,
            "prod",
            "BLOB",
            saved_model_zip(),
        )
        env.assertEqual(execute(con, "saved_prod", ["x", "y"], ["o"]), b"OK")
        env.assertEqual(get_array(con, "o").tolist(), [30, 120])  # a * b * 3
        # Counts checked against the stored names (no-ERR texts).
        env.assertEqual(
            error_text(env, *modelexecute("tf:addmul", ["x"], ["p", "q"])),
            INPUTS_MISMATCH,
        )
        env.assertEqual(
            error_text(env, *modelexecute("tf:addmul", ["x", "y"], ["p"])),
            OUTPUTS_MISMATCH,
        )
        env.assertEqual(
            error_text(env, *modelexecute("only_add", ["x", "y"], ["p", "q"])),
            OUTPUTS_MISMATCH,
        )
        env.assertEqual(con.exists("p", "q"), 0)
        TF_MODELS.check_replicas(env, con, expected, keys)

    def test_dtypes(self):
        """Outputs keep the dtype TF produced (INT64, BOOL, INT32, UINT8, INT8, INT16,
        UINT16, FLOAT16, DOUBLE); INT32 inputs feed an INT32 placeholder."""
        env = self.env
        con = env.getConnection()
        store_tf(con, "d", "dtypes")
        rng = np.random.default_rng(3)
        x = rng.standard_normal((4, 3)).astype(np.float32)
        n = rng.integers(-100, 100, (4, 3), dtype=np.int32)
        set_array(con, "x", x)
        set_array(con, "n", n)
        outs = list(DTYPE_OUTPUTS)
        env.assertEqual(execute(con, "d", ["x", "n"], outs), b"OK")
        for key, want in zip(outs, tf_run("dtypes", ["x", "n"], outs, x, n)):
            meta = con.execute_command("AI.TENSORGET", key, "META")
            env.assertEqual(
                meta,
                [b"dtype", DTYPE_OUTPUTS[key].encode(), b"shape", list(want.shape)],
                message=key,
            )
            env.assertEqual(
                con.execute_command("AI.TENSORGET", key, "BLOB"), want.tobytes(), message=key
            )
        env.assertEqual(get_array(con, "argmax").tolist(), x.argmax(axis=1).tolist())
        # An INT32 scalar broadcasts like in TF.
        con.execute_command("AI.TENSORSET", "n0", "INT32", "VALUES", 7)
        env.assertEqual(execute(con, "d", ["x", "n0"], outs), b"OK")
        np.testing.assert_array_equal(get_array(con, "i32"), x.astype(np.int32) + 7)
        # A FLOAT fed to the INT32 placeholder (and an INT32 to the FLOAT one) is TF's error.
        for ins in (["x", "x"], ["n", "n"]):
            text = error_text(
                env,
                "AI.MODELEXECUTE",
                "d",
                "INPUTS",
                2,
                *ins,
                "OUTPUTS",
                len(outs),
                *[o + "2" for o in outs],
            )
            env.assertTrue(text and "\n" not in text, message=text)
            env.assertEqual(con.exists(*[o + "2" for o in outs]), 0)
        wait_replica(env, con)
        for c in servers(env)[1:]:
            for key in outs:
                env.assertEqual(
                    c.execute_command("AI.TENSORGET", key, "META", "BLOB"),
                    con.execute_command("AI.TENSORGET", key, "META", "BLOB"),
                )

    def test_strings(self):
        """STRING tensors go through a string identity graph unchanged (binary-safe)."""
        env = self.env
        con = env.getConnection()
        store_tf(con, "s", "string")
        env.assertEqual(
            con.execute_command("AI.TENSORSET", "in", "STRING", 2, "VALUES", "ab", "cd"), b"OK"
        )
        env.assertEqual(execute(con, "s", ["in"], ["out"]), b"OK")
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "out", "META", "VALUES"),
            [b"dtype", b"STRING", b"shape", [2], b"values", [b"ab", b"cd"]],
        )
        env.assertEqual(con.execute_command("AI.TENSORGET", "out", "BLOB"), b"ab\0cd\0")
        elements = [b"", b"\xff\xfe binary", "ünïcode".encode(), b"x" * 300, b"e", b"f"]
        blob = string_blob(elements)
        con.execute_command("AI.TENSORSET", "in2", "STRING", 3, 2, "BLOB", blob)
        env.assertEqual(execute(con, "s", ["in2"], ["out2"]), b"OK")
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "out2", "META", "BLOB"),
            [b"dtype", b"STRING", b"shape", [3, 2], b"blob", blob],
        )
        (want,) = tf_run("string", ["s"], ["out"], np.array(elements, dtype=object).reshape(3, 2))
        env.assertEqual(want.ravel().tolist(), elements)
        con.execute_command("AI.TENSORSET", "one", "STRING", "VALUES", "alone")
        env.assertEqual(execute(con, "s", ["one"], ["out3"]), b"OK")
        env.assertEqual(
            con.execute_command("AI.TENSORGET", "out3", "META", "VALUES"),
            [b"dtype", b"STRING", b"shape", [], b"values", [b"alone"]],
        )
        wait_replica(env, con)
        for c in servers(env)[1:]:
            env.assertEqual(c.execute_command("AI.TENSORGET", "out2", "BLOB"), blob)

    def test_parse_errors(self):
        """Every TF-specific parse error, with its ERR prefix on the wire; nothing stored."""
        env = self.env
        con = env.getConnection()
        store_tf(con, "m", "mul")
        con.set("str", "x")
        snapshot = keyspace(con)
        with RawConnection(con) as raw:
            for command, table in ((STORE, TF_PARSE_ERRORS), (MSET, MODELSET_ERRORS)):
                for args, expected in table:
                    for key in ("new", "m"):
                        msg = repr((command, key, *args))
                        env.assertEqual(error_text(env, command, key, *args), expected, message=msg)
                        env.assertEqual(
                            raw.call(command, key, *args),
                            ("-", b"ERR " + expected.encode()),
                            message=msg,
                        )
                    env.assertEqual(keyspace(con), snapshot, message=msg)
        # Case-insensitive keywords and backend name; TAG and batching options before INPUTS.
        env.assertEqual(
            con.execute_command(
                STORE,
                "lower",
                "tf",
                "cpu",
                "tag",
                "t",
                "batchsize",
                2,
                "inputs",
                2,
                "a",
                "b",
                "outputs",
                1,
                "mul",
                "blob",
                tf_blob("mul"),
            ),
            b"OK",
        )
        meta = model_meta(con, "lower")
        env.assertEqual(
            (meta["backend"], meta["device"], meta["tag"], meta["batchsize"]),
            (b"TF", b"cpu", b"t", 2),
        )
        env.assertEqual((meta["inputs"], meta["outputs"]), ([b"a", b"b"], [b"mul"]))
        # The chunks after BLOB are concatenated.
        blob = tf_blob("mul")
        env.assertEqual(
            con.execute_command(
                STORE,
                "chunks",
                "TF",
                "CPU",
                "INPUTS",
                2,
                "a",
                "b",
                "OUTPUTS",
                1,
                "mul",
                "BLOB",
                blob[:7],
                blob[7:],
            ),
            b"OK",
        )
        env.assertEqual(model_blob(con, "chunks"), blob)
        if env.useSlaves:
            wait_replica(env, con)
            replica = env.getSlaveConnection()
            env.assertEqual(replica.exists("new"), 0)
            env.assertEqual(model_meta(replica, "lower"), meta)

    def test_modelset_tf(self):
        """AI.MODELSET's TF form stores the same model as MODELSTORE; its backend errors are
        the same."""
        env = self.env
        con = env.getConnection()
        blob = tf_blob("mul")
        env.assertEqual(
            con.execute_command(
                MSET, "m", "TF", "CPU", "INPUTS", "a", "b", "OUTPUTS", "mul", "BLOB", blob
            ),
            b"OK",
        )
        env.assertEqual(
            con.execute_command(
                MSET,
                "m2",
                "tf",
                "CPU",
                "TAG",
                "v1",
                "inputs",
                "a",
                "b",
                "outputs",
                "mul",
                "add",
                "blob",
                tf_blob("addmul"),
            ),
            b"OK",
        )
        store_tf(con, "ref", "mul")
        env.assertEqual(model_meta(con, "m"), model_meta(con, "ref"))
        env.assertEqual(model_blob(con, "m"), blob)
        meta = model_meta(con, "m2")
        env.assertEqual(
            (meta["tag"], meta["inputs"], meta["outputs"]), (b"v1", [b"a", b"b"], [b"mul", b"add"])
        )
        a = np.arange(4, dtype=np.float32)
        set_array(con, "a", a)
        env.assertEqual(
            con.execute_command("AI.MODELRUN", "m", "INPUTS", "a", "a", "OUTPUTS", "c"), b"OK"
        )
        env.assertEqual(get_array(con, "c").tolist(), (a * a).tolist())
        env.assertEqual(execute(con, "m2", ["a", "a"], ["p", "q"]), b"OK")
        env.assertEqual(
            (get_array(con, "p").tolist(), get_array(con, "q").tolist()),
            ((a * a).tolist(), (a + a).tolist()),
        )
        snapshot = keyspace(con)
        env.assertEqual(
            error_text(
                env,
                MSET,
                "x",
                "TF",
                "CPU",
                "INPUTS",
                "bad_input",
                "b",
                "OUTPUTS",
                "mul",
                "BLOB",
                blob,
            ),
            TF_NO_INPUT_NODE % "bad_input",
        )
        env.assertEqual(
            error_text(
                env, MSET, "x", "TF", "CPU", "INPUTS", "a", "b", "OUTPUTS", "mult", "BLOB", blob
            ),
            TF_NO_OUTPUT_NODE % "mult",
        )
        env.assertEqual(
            error_text(
                env,
                MSET,
                "x",
                "TF",
                "CPU",
                "INPUTS",
                "a",
                "b",
                "OUTPUTS",
                "mul",
                "BLOB",
                b"garbage",
            ),
            TF_INVALID_GRAPH,
        )
        env.assertEqual(keyspace(con), snapshot)
        wait_replica(env, con)
        for c in servers(env)[1:]:
            env.assertEqual(model_meta(c, "m2"), meta)
            env.assertEqual(get_array(c, "q").tolist(), (a + a).tolist())

    def test_backend_errors(self):
        """Graphs that cannot be built and runs TF rejects: TF's one-line text, no key created
        or written, an existing model or output kept, the model still usable."""
        env = self.env
        con = env.getConnection()
        blob = tf_blob("mul")
        store_tf(con, "m", "mul")
        set_array(con, "a2", np.ones(2, np.float32))
        set_array(con, "b223", np.ones((2, 2, 3), np.float32))
        set_array(con, "d", np.ones(2, np.float64))
        set_array(con, "old", np.arange(3, dtype=np.int8))
        con.execute_command("AI.TENSORSET", "s", "STRING", 2, "VALUES", "1", "2")
        con.set("str", "x")
        snapshot = keyspace(con)
        cases = [
            (("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul", "BLOB", b"garbage"), TF_INVALID_GRAPH),
            (
                ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul", "BLOB", b"\x08\xff\xff not a graph"),
                TF_INVALID_GRAPH,
            ),
            (
                ("INPUTS", 2, "bad_input", "b", "OUTPUTS", 1, "mul", "BLOB", blob),
                TF_NO_INPUT_NODE % "bad_input",
            ),
            (
                ("INPUTS", 2, "a", "mul", "OUTPUTS", 1, "mul", "BLOB", blob),  # not a Placeholder
                TF_NO_INPUT_NODE % "mul",
            ),
            (
                ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mult", "BLOB", blob),
                TF_NO_OUTPUT_NODE % "mult",
            ),
            (
                ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul:0", "BLOB", blob),  # a tensor's name
                TF_NO_OUTPUT_NODE % "mul:0",
            ),
            (
                ("INPUTS", 2, "a", "c", "OUTPUTS", 1, "sum", "BLOB", saved_model_zip()),
                TF_NO_INPUT_NODE % "c",
            ),
            (
                ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mean", "BLOB", saved_model_zip()),
                TF_NO_OUTPUT_NODE % "mean",
            ),
        ]
        with RawConnection(con) as raw:
            for args, expected in cases:
                for key in ("new", "m", "str"):  # a backend error wins over WRONGTYPE
                    env.assertEqual(
                        error_text(env, STORE, key, "TF", "CPU", *args),
                        expected,
                        message=(key, args[:7]),
                    )
                if expected.startswith(("Input", "Output")):  # sent with the ERR prefix
                    env.assertEqual(
                        raw.call(STORE, "new", "TF", "CPU", *args),
                        ("-", b"ERR " + expected.encode()),
                    )
                env.assertEqual(keyspace(con), snapshot)
        text = error_text(
            env,
            STORE,
            "new",
            "TF",
            "CPU",
            "INPUTS",
            2,
            "a",
            "b",
            "OUTPUTS",
            1,
            "mul",
            "BLOB",
            saved_model_zip()[:100],
        )
        env.assertTrue(text and "\n" not in text)
        env.assertEqual(
            error_text(
                env,
                STORE,
                "str",
                "TF",
                "CPU",
                "INPUTS",
                2,
                "a",
                "b",
                "OUTPUTS",
                1,
                "mul",
                "BLOB",
                blob,
            ),
            WRONGTYPE,
        )
        if not tf.config.list_physical_devices("GPU"):
            env.assertEqual(
                error_text(
                    env,
                    STORE,
                    "new",
                    "TF",
                    "GPU",
                    "INPUTS",
                    2,
                    "a",
                    "b",
                    "OUTPUTS",
                    1,
                    "mul",
                    "BLOB",
                    blob,
                ),
                TF_GPU,
            )
        env.assertEqual(keyspace(con), snapshot)
        # Runs TF rejects: the C API's one-line message; nothing written.
        for out in ("new", "old"):
            env.assertEqual(
                error_text(
                    env, "AI.MODELEXECUTE", "m", "INPUTS", 2, "a2", "b223", "OUTPUTS", 1, out
                ),
                TF_INCOMPATIBLE,
            )
            text = error_text(
                env, "AI.MODELEXECUTE", "m", "INPUTS", 2, "d", "a2", "OUTPUTS", 1, out
            )
            env.assertTrue(text and "\n" not in text and "double" in text, message=text)
            text = error_text(
                env, "AI.MODELEXECUTE", "m", "INPUTS", 2, "s", "a2", "OUTPUTS", 1, out
            )  # STRING fed to a FLOAT placeholder
            env.assertTrue(text and "\n" not in text, message=text)
            env.assertEqual(keyspace(con), snapshot)
        env.assertEqual(execute(con, "m", ["a2", "a2"], ["new"]), b"OK")
        env.assertEqual(get_array(con, "new").tolist(), [1, 1])
        wait_replica(env, con)
        for c in servers(env)[1:]:
            env.assertEqual(get_array(c, "old").tolist(), [0, 1, 2])
            env.assertEqual(get_array(c, "new").tolist(), [1, 1])

    def test_debug_reload(self):
        env = self.env
        con = env.getConnection()
        keys, expected, state = TF_MODELS.start(env, con, 5)
        env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
        TF_MODELS.check_everywhere(env, state, expected)
        payload = con.dump("tf:saved")
        env.assertTrue(con.restore("copy", 0, payload))
        env.assertEqual(model_state(con, ["copy"])["copy"], state["tf:saved"])
        set_array(con, "x", np.array([2], np.float32))
        env.assertEqual(execute(con, "copy", ["x", "x"], ["p", "s"]), b"OK")
        env.assertEqual((get_array(con, "p").tolist(), get_array(con, "s").tolist()), ([12], [4]))

    def test_restart(self):
        """SAVE, stop, start (the AOF env replays its AOF): TF models survive and run."""
        env = self.env
        con = env.getConnection()
        keys, expected, state = TF_MODELS.start(env, con, 6)
        wait_replica(env, con)
        env.assertTrue(con.save())
        env.stop()
        env.start()
        start_replica_sync(env)
        TF_MODELS.check_everywhere(env, state, expected)

    def test_aof_rewrite(self):
        """The rewritten AOF re-emits TF models with INPUTS/OUTPUTS before BLOB; replaying it
        rebuilds them."""
        env = self.env
        if not env.useAof:
            env.skip()
        con = env.getConnection()
        blob, saved = tf_blob("addmul"), saved_model_zip()
        store_tf(con, "m", "addmul", ["a", "b"], ["mul", "add"], "TAG", "t1", device="cpu")
        con.execute_command(
            MSET, "s", "TF", "CPU", "INPUTS", "b", "a", "OUTPUTS", "sum", "BLOB", saved
        )
        state = model_state(con, ["m", "s"])
        con.config_set("aof-use-rdb-preamble", "no")
        base = rewrite_aof(con)
        env.assertEqual(base.count(b"\r\nAI.MODELSTORE\r\n"), 2)
        env.assertContains(
            aof_modelstore(
                "m", "TF", "cpu", blob, inputs=["a", "b"], outputs=["mul", "add"], tag="t1"
            ),
            base,
        )
        env.assertContains(
            aof_modelstore("s", "TF", "CPU", saved, inputs=["b", "a"], outputs=["sum"]),
            base,
        )
        env.stop()
        env.start()
        con = env.getConnection()
        env.assertEqual(model_state(con, ["m", "s"]), state)
        set_array(con, "x", np.array([1, 2], np.float32))
        set_array(con, "y", np.array([3, 4], np.float32))
        env.assertEqual(execute(con, "m", ["x", "y"], ["p", "q"]), b"OK")
        env.assertEqual(
            (get_array(con, "p").tolist(), get_array(con, "q").tolist()), ([3, 8], [4, 6])
        )
        env.assertEqual(execute(con, "s", ["y", "x"], ["t"]), b"OK")
        env.assertEqual(get_array(con, "t").tolist(), [4, 6])

    def test_replication(self):
        """The replica compiles the TF models itself and gets the run outputs as AI.TENSORSET."""
        env = self.env
        if not env.useSlaves:
            env.skip()
        con = env.getConnection()
        replica = env.getSlaveConnection()
        wait_replica(env, con)  # synced: what follows travels as commands
        replica.config_resetstat()
        keys = store_models(con)
        store_tf(con, "s", "string")
        con.execute_command("AI.TENSORSET", "in", "STRING", 2, "VALUES", "ab", "cd")
        env.assertEqual(execute(con, "s", ["in"], ["out"]), b"OK")
        expected = run_models(env, con, np.random.default_rng(7), "r")
        env.assertEqual(con.execute_command("WAIT", 1, 10000), 1)
        TF_MODELS.check_replica_copies(env, con, keys, [*expected, "out"], ("META", "BLOB"))
        stats = replica.info("commandstats")
        env.assertContains("cmdstat_ai.modelstore", stats)
        env.assertNotContains("cmdstat_ai.modelexecute", stats)
        # Deletions follow.
        env.assertEqual(con.execute_command("AI.MODELDEL", "tf:mul"), b"OK")
        wait_replica(env, con)
        env.assertEqual(replica.exists("tf:mul"), 0)
        env.assertEqual(model_meta(replica, "tf:saved")["outputs"], [b"prod", b"sum"])
