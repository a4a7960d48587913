"""Model commands (spec 3.2-3.8) with TorchScript models: what they accept and reply for
AI.MODELSTORE, AI.MODELSET, AI.MODELGET, AI.MODELDEL, AI.MODELEXECUTE, AI.MODELRUN and
AI._MODELSCAN; MODELGET reply shapes and chunking; transactions. Their error replies are in
test_model_errors.py."""

import numpy as np
import redis
from error_texts import (
    MODEL_EMPTY,
    TRANSACTION,
)
from includes import RawConnection, error_text, meta_dict, wait_replica
from model_zoo import (
    connect,
    get_array,
    model_blob,
    model_meta,
    onnx_blob,
    set_array,
    store,
    torch_blob,
    torch_blob_of_length_multiple,
)
from RLTest import Env

STORE, MSET, GET, DEL = "AI.MODELSTORE", "AI.MODELSET", "AI.MODELGET", "AI.MODELDEL"
EXEC, RUN = "AI.MODELEXECUTE", "AI.MODELRUN"
B = b"<blob>"  # the bytes after BLOB where parsing fails before they are looked at


def test_command_table(env):
    """Flags and key positions as RedisAI registers them (spec 1.3): COMMAND GETKEYS, which
    cluster clients route by, finds the model, input and output keys of the runs."""
    con = connect(env)
    flags = {
        STORE: ["write", "denyoom"],
        MSET: ["write", "denyoom"],
        GET: ["readonly"],
        DEL: ["write"],
        EXEC: ["write", "denyoom", "movablekeys"],
        RUN: ["write", "denyoom", "movablekeys"],
        "AI._MODELSCAN": ["readonly"],
    }
    for name, want in flags.items():
        info = con.execute_command("COMMAND", "INFO", name)[name.lower()]
        env.assertEqual([f for f in info["flags"] if f != "module"], want, message=name)
        first = 0 if name == "AI._MODELSCAN" else 1
        env.assertEqual(info["first_key_pos"], first, message=name)
    keys = [
        ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", 5), ["m", "a", "b", "c"]),
        ((EXEC, "m", "INPUTS", 1, "a", "OUTPUTS", 2, "c", "d"), ["m", "a", "c", "d"]),
        ((RUN, "m", "TIMEOUT", 5, "INPUTS", "a", "b", "OUTPUTS", "c"), ["m", "a", "b", "c"]),
        ((RUN, "m", "INPUTS", "a", "OUTPUTS", "c", "d"), ["m", "a", "c", "d"]),
        ((STORE, "k", "TORCH", "CPU", "BLOB", B), ["k"]),
        ((MSET, "k", "TORCH", "CPU", "BLOB", B), ["k"]),
        ((GET, "k", "META"), ["k"]),
        ((DEL, "k"), ["k"]),
    ]
    for args, want in keys:
        env.assertEqual(con.command_getkeys(*args), want, message=args[0])
    env.assertEqual(con.keys("*"), [])


def test_modelstore_and_modelget(env):
    """Accepted forms of MODELSTORE/MODELSET (case-insensitive keywords and ids, device
    stored as given, zero options, BATCHSIZE 4.0, binary tags, BLOB in chunks, MODELSET's
    ignored tokens), and the shapes of MODELGET's replies."""
    con = connect(env)
    blob = torch_blob("add")
    env.assertEqual(
        store(
            con,
            "m1",
            "torch",
            blob,
            "tag",
            b"t\0\xff",
            "batchsize",
            "4.0",
            "minbatchsize",
            2,
            "minbatchtimeout",
            7,
            device="cpu:1",
        ),
        b"OK",
    )
    meta = model_meta(con, "m1")
    env.assertEqual(
        meta,
        {
            "backend": b"TORCH",
            "device": b"cpu:1",
            "tag": b"t\0\xff",
            "batchsize": 4,
            "minbatchsize": 2,
            "inputs": [b"a", b"b"],
            "outputs": [b""],
            "minbatchtimeout": 7,
        },
    )
    env.assertEqual(
        store(
            con,
            "m2",
            "TORCH",
            blob,
            "TAG",
            "",
            "BATCHSIZE",
            0,
            "MINBATCHSIZE",
            0,
            "MINBATCHTIMEOUT",
            0,
            device="CPU:12345",
        ),
        b"OK",
    )
    env.assertEqual(model_meta(con, "m2")["device"], b"CPU:12345")
    env.assertEqual(model_meta(con, "m2")["tag"], b"")
    # Chunks after BLOB are concatenated.
    chunks = [blob[:10], blob[10:11], blob[11:]]
    env.assertEqual(con.execute_command(STORE, "m3", "TORCH", "CPU", "BLOB", *chunks), b"OK")
    env.assertEqual(model_blob(con, "m3"), blob)
    # AI.MODELSET: same result; tokens before BLOB are ignored for non-TF backends.
    env.assertEqual(
        con.execute_command(MSET, "m4", "TORCH", "CPU", "TAG", "s", "junk", "more", "BLOB", blob),
        b"OK",
    )
    env.assertEqual(model_meta(con, "m4")["tag"], b"s")
    env.assertEqual(model_blob(con, "m4"), blob)
    env.assertEqual(con.execute_command(MSET, "m5", "ONNX", "cpu", "BLOB", onnx_blob("add")), b"OK")
    env.assertEqual(model_meta(con, "m5")["device"], b"cpu")
    for key in ("m1", "m2", "m3", "m4", "m5"):
        env.assertEqual(con.type(key), b"AI__MODEL")
    # Every stored model runs, whatever its device string.
    set_array(con, "a", np.full((2, 2), 3, np.float32))
    for key in ("m1", "m2", "m3", "m4"):
        env.assertEqual(
            con.execute_command(EXEC, key, "INPUTS", 2, "a", "a", "OUTPUTS", 1, "out:" + key), b"OK"
        )
        np.testing.assert_array_equal(get_array(con, "out:" + key), np.full((2, 2), 6))
    wait_replica(env, con)
    if env.useSlaves:
        replica = env.getSlaveConnection()
        env.assertEqual(model_meta(replica, "m1"), meta)
        env.assertEqual(model_blob(replica, "m3"), blob)
    # 16 fields with META, 18 without options or with META and BLOB, the bytes alone
    # with BLOB; names are bulk strings, sizes integers, names arrays of bulk strings.
    blob = torch_blob("addmul")
    store(con, "m", "TORCH", blob, "TAG", "v2", "BATCHSIZE", 3)
    expected = [
        ("$", b"backend"),
        ("$", b"TORCH"),
        ("$", b"device"),
        ("$", b"CPU"),
        ("$", b"tag"),
        ("$", b"v2"),
        ("$", b"batchsize"),
        (":", 3),
        ("$", b"minbatchsize"),
        (":", 0),
        ("$", b"inputs"),
        ("*", [("$", b"a"), ("$", b"b")]),
        ("$", b"outputs"),
        ("*", [("$", b""), ("$", b"")]),
        ("$", b"minbatchtimeout"),
        (":", 0),
    ]
    full = expected + [("$", b"blob"), ("$", blob)]
    with RawConnection(con) as raw:
        env.assertEqual(raw.call(GET, "m", "META"), ("*", expected))
        env.assertEqual(raw.call(GET, "m", "meta"), ("*", expected))
        env.assertEqual(raw.call(GET, "m", "META", "junk"), ("*", expected))
        env.assertEqual(raw.call(GET, "m"), ("*", full))
        env.assertEqual(raw.call(GET, "m", "META", "BLOB"), ("*", full))
        env.assertEqual(raw.call(GET, "m", "BLOB", "META"), ("*", full))
        env.assertEqual(raw.call(GET, "m", "junk"), ("*", full))
        env.assertEqual(raw.call(GET, "m", "BLOB"), ("$", blob))
        env.assertEqual(raw.call(GET, "m", "blob", "junk"), ("$", blob))
    # Byte-identical to the upload for every model, through redis-py too.
    for name in ("add", "sum5", "mlp", "argmax"):
        store(con, name, "TORCH", torch_blob(name))
        env.assertEqual(con.execute_command(GET, name, "BLOB"), torch_blob(name))
        env.assertEqual(meta_dict(con.execute_command(GET, name))["blob"], torch_blob(name))


def test_modelget_chunked():
    """With MODEL_CHUNK_SIZE 450 the bytes come as floor(len/450)+1 chunks, the last one
    empty when the length is an exact multiple; RDB and chunked uploads keep them."""
    env = Env(moduleArgs="MODEL_CHUNK_SIZE 450")
    con = connect(env)
    blob = torch_blob("add")
    exact = torch_blob_of_length_multiple(450)
    env.assertEqual(len(exact) % 450, 0)
    store(con, "m", "TORCH", blob)
    store(con, "exact", "TORCH", exact)
    expected = [blob[i : i + 450] for i in range(0, len(blob), 450)]
    env.assertEqual(len(expected), len(blob) // 450 + 1)
    env.assertEqual(con.execute_command(GET, "m", "BLOB"), expected)
    env.assertEqual(meta_dict(con.execute_command(GET, "m"))["blob"], expected)
    exact_chunks = [exact[i : i + 450] for i in range(0, len(exact), 450)] + [b""]
    env.assertEqual(con.execute_command(GET, "exact", "BLOB"), exact_chunks)
    with RawConnection(con) as raw:
        env.assertEqual(raw.call(GET, "m", "BLOB"), ("*", [("$", c) for c in expected]))
    # A model smaller than a chunk is one bulk string.
    small = onnx_blob("add")
    env.assertLess(len(small), 450)
    store(con, "small", "ONNX", small)
    env.assertEqual(con.execute_command(GET, "small", "BLOB"), small)
    # The RDB stores the chunks; the reloaded models are the same and run.
    env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
    env.assertEqual(model_blob(con, "m"), blob)
    env.assertEqual(model_blob(con, "exact"), exact)
    set_array(con, "a", np.ones((3,), np.float32))
    for key in ("m", "exact"):
        env.assertEqual(
            con.execute_command(EXEC, key, "INPUTS", 2, "a", "a", "OUTPUTS", 1, "c"), b"OK"
        )
        np.testing.assert_array_equal(get_array(con, "c"), np.full((3,), 2, np.float32))
    wait_replica(env, con)
    if env.useSlaves:
        env.assertEqual(env.getSlaveConnection().execute_command(GET, "m", "BLOB"), expected)


def test_modeldel_and_modelscan(env):
    """MODELDEL deletes; _MODELSCAN lists every model with its tag in RedisAI's order."""
    con = connect(env)
    blob = torch_blob("add")
    env.assertEqual(con.execute_command("AI._MODELSCAN"), [])
    store(con, "m", "TORCH", blob, "TAG", "v1.2")
    store(con, "pt_model", "TORCH", blob)
    env.assertEqual(con.execute_command("AI._MODELSCAN"), [[b"pt_model", b""], [b"m", b"v1.2"]])
    # Replacing a model updates its tag; deleting it (MODELDEL or DEL) drops its entry.
    store(con, "pt_model", "TORCH", blob, "TAG", "new")
    env.assertEqual(con.execute_command("AI._MODELSCAN"), [[b"pt_model", b"new"], [b"m", b"v1.2"]])
    env.assertEqual(con.execute_command(DEL, "m"), b"OK")
    env.assertEqual(con.exists("m"), 0)
    env.assertEqual(error_text(env, GET, "m"), MODEL_EMPTY)
    env.assertEqual(error_text(env, DEL, "m"), MODEL_EMPTY)
    env.assertEqual(con.execute_command("AI._MODELSCAN"), [[b"pt_model", b"new"]])
    env.assertEqual(con.delete("pt_model"), 1)
    env.assertEqual(con.execute_command("AI._MODELSCAN"), [])
    # A deleted key can be stored again.
    store(con, "m", "TORCH", blob)
    env.assertEqual(con.execute_command("AI._MODELSCAN"), [[b"m", b""]])
    wait_replica(env, con)
    if env.useSlaves:
        replica = env.getSlaveConnection()
        env.assertEqual(replica.exists("pt_model"), 0)
        env.assertEqual(model_blob(replica, "m"), blob)


def test_run_semantics(env):
    """Blocking commands are refused inside MULTI and Lua before any parsing, while storing
    and reading models work there (synchronously). AI.MODELRUN runs like MODELEXECUTE; a
    repeated output key ends with the last output; an existing tensor is overwritten."""
    con = connect(env)
    blob = torch_blob("add")
    store(con, "m", "TORCH", blob)
    set_array(con, "a", np.ones((2,), np.float32))
    pipe = con.pipeline(transaction=True)
    pipe.execute_command(EXEC, "m", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "c")
    pipe.execute_command(EXEC, "m")
    pipe.execute_command(RUN, "m", "INPUTS", "a", "a", "OUTPUTS", "c")
    pipe.execute_command(STORE, "m2", "TORCH", "CPU", "TAG", "multi", "BLOB", blob)
    pipe.execute_command(GET, "m2", "META")
    pipe.execute_command(STORE, "bad", "TORCH", "CPU", "BLOB", b"garbage")
    pipe.execute_command(DEL, "m")
    res = pipe.execute(raise_on_error=False)
    env.assertEqual([str(r) for r in res[:3]], [TRANSACTION] * 3)
    env.assertEqual(res[3], b"OK")
    env.assertEqual(meta_dict(res[4])["tag"], b"multi")
    env.assertTrue(isinstance(res[5], Exception))
    env.assertEqual(res[6], b"OK")
    env.assertEqual(con.exists("c", "bad", "m"), 0)
    env.assertEqual(model_blob(con, "m2"), blob)
    lua = "return redis.pcall(KEYS[1], KEYS[2], unpack(ARGV))['err']"
    for cmd, args in (
        (EXEC, ("INPUTS", 2, "a", "a", "OUTPUTS", 1, "c")),
        (EXEC, ()),
        (RUN, ("INPUTS", "a", "a", "OUTPUTS", "c")),
    ):
        env.assertEqual(con.eval(lua, 2, cmd, "m2", *args), b"ERR " + TRANSACTION.encode())
    store_lua = "return redis.call(KEYS[1], KEYS[2], 'TORCH', 'CPU', 'BLOB', ARGV[1])"
    env.assertEqual(con.eval(store_lua, 2, STORE, "m3", blob), b"OK")
    env.assertEqual(model_blob(con, "m3"), blob)
    env.assertEqual(con.exists("c"), 0)
    # Outside a transaction the same command works.
    env.assertEqual(
        con.execute_command(EXEC, "m3", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "c"), b"OK"
    )
    np.testing.assert_array_equal(get_array(con, "c"), np.full((2,), 2, np.float32))
    # AI.MODELRUN, a repeated output key, an existing output key.
    store(con, "m", "TORCH", torch_blob("addmul"))
    a = np.array([[1, 2], [3, 4]], np.float32)
    b = np.array([[5, 6], [7, 8]], np.float32)
    set_array(con, "a", a)
    set_array(con, "b", b)
    env.assertEqual(
        con.execute_command(RUN, "m", "TIMEOUT", 10000, "INPUTS", "a", "b", "OUTPUTS", "s", "p"),
        b"OK",
    )
    np.testing.assert_array_equal(get_array(con, "s"), a + b)
    np.testing.assert_array_equal(get_array(con, "p"), a * b)
    env.assertEqual(con.execute_command(RUN, "m", "inputs", "a", "a", "outputs", "s", "s"), b"OK")
    np.testing.assert_array_equal(get_array(con, "s"), a * a)
    set_array(con, "x", np.zeros(3, np.int8))
    con.expire("x", 1000)
    env.assertEqual(
        con.execute_command(
            EXEC, "m", "inputs", 2, "a", "b", "outputs", 2, "p", "x", "timeout", 10000
        ),
        b"OK",
    )
    np.testing.assert_array_equal(get_array(con, "x"), a * b)
    env.assertEqual(con.ttl("x"), -1)  # a write replaces the value and clears the TTL
    # A key written by a run invalidates a WATCH on it.
    watcher = env.getConnection().pipeline(transaction=True)
    watcher.watch("p")
    env.assertEqual(con.execute_command(RUN, "m", "INPUTS", "b", "b", "OUTPUTS", "s", "p"), b"OK")
    watcher.multi()
    watcher.set("watched", 1)
    try:
        watcher.execute()
        aborted = False
    except redis.WatchError:
        aborted = True
    env.assertTrue(aborted)
    env.assertEqual(con.exists("watched"), 0)
    wait_replica(env, con)
    if env.useSlaves:
        replica = env.getSlaveConnection()
        for key in ("s", "p", "x"):
            np.testing.assert_array_equal(get_array(replica, key), get_array(con, key))
