"""Models and scripts saved by older RedisAI releases (RDB encoding versions 0 to 3) load
as RedisAI 1.2.7 loads them, from RESTORE payloads and from RDB files: every backend, and
scripts with and without entry points. The payloads are built here in RedisAI's layouts:

    model, version 0: backend, device\\0, tag\\0, batchsize, minbatchsize, inputs, outputs,
                      blob (one string)
    model, version 1: the tag as bytes; the blob as total length, chunk count, chunks
    model, version 2: minbatchtimeout after minbatchsize
    model, version 3: version 2's layout (the same as version 4, today's)
    script, versions 0-2: device\\0, tag (\\0 in version 0), source\\0; no entry points
    script, version 3: entry point count and names after the source (as version 4)

A loaded value runs, shows the stored TAG, batching and I/O names in META, survives AOF
replay and replication, and is saved again in version 4. Corrupt or truncated old payloads
are refused with `Bad data format`, keyspace unchanged, server up. (A corrupt value in an
RDB file makes Redis itself exit, whatever its type: not tested.)"""

import os
import struct

import numpy as np
import redis
from error_texts import BAD_DATA_FORMAT, LOAD_BACKEND
from includes import (
    aof_base_file,
    error_text,
    keyspace,
    meta_dict,
    rewrite_aof,
    run_checks,
    wait_replica,
)
from model_zoo import (
    execute,
    get_array,
    model_blob,
    model_meta,
    onnx_blob,
    servers,
    set_array,
    torch_blob,
)
from test_tensor_persistence import crc64, module_string, module_uint, rdb_len
from tf_zoo import dense_inputs, tf_blob, tflite_blob, tflite_names, tflite_run

BAD = BAD_DATA_FORMAT
RDB_VERSION = 9  # Redis 6.x, where RedisAI 1.2 ran; Redis 7 reads it
CHUNK = 1000  # small chunks, so that old blobs come in several
# A replica that loads these values imports every framework first: seconds, more on a
# busy machine.
REPLICA_WAIT_S = 60

# ---------------------------------------------------------------------------------------
# Encodings


def module_type_id(name, encver):
    """The 64-bit id Redis saves before a module value: the 9 characters of the type name,
    6 bits each from Redis' 64-symbol charset, then the encoding version in 10 bits."""
    charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(name) == 9
    tid = 0
    for c in name:
        tid = (tid << 6) | charset.index(c)
    return (tid << 10) | encver


def cstring(s):
    return module_string(s + b"\0")


def names_fields(names):
    return [module_uint(len(names)), *[cstring(n) for n in names]]


BACKEND_IDS = {"TF": 0, "TFLITE": 1, "TORCH": 2, "ONNX": 3}  # RedisAI's enum


def model_fields(encver, m, chunk=CHUNK):
    """The module values of the model described by m (a dict) in encoding version encver."""
    tag = cstring(m["tag"]) if encver == 0 else module_string(m["tag"])
    fields = [module_uint(BACKEND_IDS[m["backend"]]), cstring(m["device"]), tag]
    fields += [module_uint(m["batchsize"]), module_uint(m["minbatchsize"])]
    if encver >= 2:
        fields.append(module_uint(m["minbatchtimeout"]))
    fields += names_fields(m["saved_inputs"]) + names_fields(m["saved_outputs"])
    blob = m["blob"]
    if encver == 0:
        return [*fields, module_string(blob)]
    # RedisAI writes len // chunk + 1 chunks, the last one possibly empty.
    chunks = [blob[i : i + chunk] for i in range(0, len(blob) + 1, chunk)]
    return [
        *fields,
        module_uint(len(blob)),
        module_uint(len(chunks)),
        *[module_string(c) for c in chunks],
    ]


def script_fields(encver, s):
    tag = cstring(s["tag"]) if encver == 0 else module_string(s["tag"])
    fields = [cstring(s["device"]), tag, cstring(s["source"])]
    if encver >= 3:
        fields += names_fields(s["entry_points"])
    return fields


def module_value(type_name, encver, fields):
    """A module value as RDB type MODULE_2: type id, opcode-prefixed values, EOF opcode."""
    return b"\x07" + rdb_len(module_type_id(type_name, encver)) + b"".join(fields) + b"\x00"


def dump_payload(type_name, encver, fields):
    """A DUMP payload: the value, the RDB version (2 bytes, LE) and the CRC64 of both."""
    body = module_value(type_name, encver, fields) + struct.pack("<H", RDB_VERSION)
    return body + struct.pack("<Q", crc64(body))


def rdb_file(values):
    """An RDB file of database 0 holding values: {key: (type name, encver, fields)}."""
    out = b"REDIS%04d" % RDB_VERSION + b"\xfe\x00"  # SELECTDB 0
    for key, (type_name, encver, fields) in values.items():
        value = module_value(type_name, encver, fields)
        out += value[:1] + rdb_len(len(key)) + key.encode() + value[1:]
    out += b"\xff"  # EOF
    return out + struct.pack("<Q", crc64(out))


# ---------------------------------------------------------------------------------------
# What is stored, and what each backend's model computes


def model_case(backend, encver):
    """The model of backend saved in encoding version encver: its fields, the META it
    must show, and how to run it. Versions 0 and 1 predate MINBATCHTIMEOUT."""
    batching = backend != "TFLITE"
    m = {
        "backend": backend,
        "device": b"CPU",
        "tag": b"legacy \xff v%d" % encver,
        "batchsize": 4 if batching else 0,
        "minbatchsize": 2 if batching else 0,
        "minbatchtimeout": 7 if batching and encver >= 2 else 0,
    }
    if backend == "TORCH":
        m.update(blob=torch_blob("add"), inputs=[b"a", b"b"], outputs=[b""])
    elif backend == "ONNX":
        m.update(blob=onnx_blob("add"), inputs=[b"a", b"b"], outputs=[b"sum"])
    elif backend == "TF":
        m.update(blob=tf_blob("mul"), inputs=[b"a", b"b"], outputs=[b"mul"])
    else:
        ins, outs = tflite_names("dense")
        m.update(
            blob=tflite_blob("dense"),
            inputs=[n.encode() for n in ins],
            outputs=[n.encode() for n in outs],
        )
    # Backends other than TF report their own names: the saved ones (none in versions 0
    # and 1 here, the model's in 2 and 3) are not used.
    keep_names = backend == "TF" or encver >= 2
    m["saved_inputs"] = m["inputs"] if keep_names else []
    m["saved_outputs"] = m["outputs"] if keep_names else []
    return m


def expected_meta(m):
    return {
        "backend": m["backend"].encode(),
        "device": m["device"],
        "tag": m["tag"],
        "batchsize": m["batchsize"],
        "minbatchsize": m["minbatchsize"],
        "inputs": m["inputs"],
        "outputs": m["outputs"],
        "minbatchtimeout": m["minbatchtimeout"],
    }


def run_model(env, con, key, m, rng):
    """Runs the model at key on fresh inputs; checks its outputs."""
    if m["backend"] == "TFLITE":
        arrays, _ = dense_inputs(rng, 2)
        want = tflite_run("dense", *arrays)
    else:
        arrays = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2)]
        a, b = arrays
        want = [a * b if m["backend"] == "TF" else a + b]
    ins = [f"{key}:in{i}" for i in range(len(arrays))]
    outs = [f"{key}:out{i}" for i in range(len(want))]
    for k, arr in zip(ins, arrays):
        set_array(con, k, arr)
    env.assertEqual(execute(con, key, ins, outs), b"OK", message=key)
    for k, w in zip(outs, want):
        np.testing.assert_allclose(get_array(con, k), w, rtol=1e-5, atol=1e-6, err_msg=k)


def check_model(env, key, m, rng, run=True):
    """The model at key, on the master (and the replica): META, bytes, encoding version 4
    when dumped again; it runs on the master."""
    con = env.getConnection()
    wait_replica(env, con, REPLICA_WAIT_S)
    for c in servers(env):
        env.assertEqual(c.type(key), b"AI__MODEL", message=key)
        env.assertEqual(model_meta(c, key), expected_meta(m), message=key)
        env.assertEqual(model_blob(c, key), m["blob"], message=key)
    dumped = con.dump(key)
    env.assertEqual(dumped[:10], b"\x07\x81" + struct.pack(">Q", module_type_id("AI__MODEL", 4)))
    if run:
        run_model(env, con, key, m, rng)


SCRIPT_FUNCTION = "def add_tensors(a, b):\n    return a + b\n"
SCRIPT_ENTRY_POINTS = """\
def bar(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * tensors[1]

def helper(x: Tensor):
    return x * 3
"""


def script_case(encver, entry_points=True):
    """A script saved in encoding version encver: before version 3, an AI.SCRIPTSET script
    (a plain function, no entry points); from version 3, an AI.SCRIPTSTORE one unless
    entry_points is false."""
    stored = encver >= 3 and entry_points
    return {
        "device": b"CPU",
        "tag": b"script \xff v%d" % encver,
        "source": (SCRIPT_ENTRY_POINTS if stored else SCRIPT_FUNCTION).encode(),
        "entry_points": [b"bar"] if stored else [],
    }


def check_script(env, key, s, rng):
    """The script at key: META and source everywhere; it runs on the master, through
    AI.SCRIPTEXECUTE when it has entry points, AI.SCRIPTRUN otherwise."""
    con = env.getConnection()
    wait_replica(env, con, REPLICA_WAIT_S)
    for c in servers(env):
        env.assertEqual(c.type(key), b"AI_SCRIPT", message=key)
        env.assertEqual(
            meta_dict(c.execute_command("AI.SCRIPTGET", key, "META", "SOURCE")),
            {
                "device": s["device"],
                "tag": s["tag"],
                "Entry Points": s["entry_points"],
                "source": s["source"],
            },
            message=key,
        )
    dumped = con.dump(key)
    env.assertEqual(dumped[:10], b"\x07\x81" + struct.pack(">Q", module_type_id("AI_SCRIPT", 4)))
    a, b = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2))
    set_array(con, key + ":a", a)
    set_array(con, key + ":b", b)
    ins, out = [key + ":a", key + ":b"], key + ":out"
    if s["entry_points"]:
        reply = con.execute_command(
            "AI.SCRIPTEXECUTE", key, "bar", "INPUTS", 2, *ins, "OUTPUTS", 1, out
        )
        want = a * b
    else:
        reply = con.execute_command(
            "AI.SCRIPTRUN", key, "add_tensors", "INPUTS", *ins, "OUTPUTS", out
        )
        want = a + b
    env.assertEqual(reply, b"OK", message=key)
    np.testing.assert_allclose(get_array(con, out), want, rtol=1e-6, err_msg=key)


def settled(env):
    """The master's connection once its replica (if any) has caught up, with every
    framework imported: a RESTORE builds its model in place, and the first one of a
    backend would otherwise import the framework inside the client's read timeout."""
    con = env.getConnection()
    for backend in BACKEND_IDS:
        try:
            con.execute_command("AI.CONFIG", "LOADBACKEND", backend, "preload")
        except redis.ResponseError as e:  # loaded before, by an earlier call
            env.assertEqual(str(e), LOAD_BACKEND)
    wait_replica(env, con, REPLICA_WAIT_S)
    return con


def restart_if_aof(env):
    """With AOF, a restart replays the RESTOREs of old payloads the AOF recorded."""
    if env.useAof:
        env.stop()
        env.start()
        settled(env)


def legacy_values():
    """Every backend's model and the scripts, in every old version: {key: (type name,
    encver, fields, case)}, keys hash-tagged alike."""
    values = {}
    for backend in BACKEND_IDS:
        for encver in range(4):
            m = model_case(backend, encver)
            values[f"{{l}}:{backend}:v{encver}"] = ("AI__MODEL", encver, model_fields(encver, m), m)
    for encver in range(4):
        s = script_case(encver)
        values[f"{{l}}:script:v{encver}"] = ("AI_SCRIPT", encver, script_fields(encver, s), s)
    s = script_case(3, entry_points=False)
    values["{l}:script:v3:set"] = ("AI_SCRIPT", 3, script_fields(3, s), s)
    return values


def check_loaded(env, values, rng):
    for key, (type_name, _, _, case) in values.items():
        if type_name == "AI__MODEL":
            check_model(env, key, case, rng)
        else:
            check_script(env, key, case, rng)


# ---------------------------------------------------------------------------------------
# RESTORE


def check_builder_matches_dump(env):
    """The payloads built here are Redis' own: in version 4 (one chunk, as the server
    writes it) they equal the DUMP of the same model and script (uncompressed) but for the
    RDB version."""
    con = env.getConnection()
    con.config_set("rdbcompression", "no")
    m = model_case("TORCH", 3)
    m["saved_inputs"], m["saved_outputs"] = m["inputs"], m["outputs"]
    options = ["TAG", m["tag"], "BATCHSIZE", 4, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 7]
    con.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", *options, "BLOB", m["blob"])
    s = script_case(3)
    options = ["TAG", s["tag"], "ENTRY_POINTS", 1, "bar", "SOURCE", s["source"]]
    con.execute_command("AI.SCRIPTSTORE", "s", "CPU", *options)
    dumped = {key: con.dump(key) for key in ("m", "s")}
    con.config_set("rdbcompression", "yes")
    built = dump_payload("AI__MODEL", 4, model_fields(4, m, chunk=len(m["blob"]) + 1))
    env.assertTrue(built[:-10] == dumped["m"][:-10])  # a mismatch would print megabytes
    env.assertEqual(dump_payload("AI_SCRIPT", 4, script_fields(4, s))[:-10], dumped["s"][:-10])
    env.assertTrue(con.restore("m:copy", 0, built))
    check_model(env, "m:copy", m, np.random.default_rng(0))


def check_restore_old_models(env):
    """RESTORE of every backend's model in versions 0-3."""
    con = env.getConnection()
    rng = np.random.default_rng(1)
    models = {k: v for k, v in legacy_values().items() if v[0] == "AI__MODEL"}
    for key, (type_name, encver, fields, _) in models.items():
        env.assertTrue(con.restore(key, 0, dump_payload(type_name, encver, fields)), message=key)
    check_loaded(env, models, rng)
    restart_if_aof(env)
    check_loaded(env, models, rng)


def check_restore_old_scripts(env):
    """RESTORE of scripts in versions 0-3 (version 3 with and without entry points)."""
    con = env.getConnection()
    rng = np.random.default_rng(2)
    scripts = {k: v for k, v in legacy_values().items() if v[0] == "AI_SCRIPT"}
    for key, (type_name, encver, fields, _) in scripts.items():
        env.assertTrue(con.restore(key, 0, dump_payload(type_name, encver, fields)), message=key)
    check_loaded(env, scripts, rng)
    restart_if_aof(env)
    check_loaded(env, scripts, rng)


def check_old_batching_meta(env):
    """Versions 0 and 1 keep MINBATCHSIZE without MINBATCHTIMEOUT; tags are any bytes
    (but NUL in version 0)."""
    con = env.getConnection()
    for encver in range(4):
        m = model_case("TORCH", encver)
        m.update(batchsize=9, minbatchsize=5, minbatchtimeout=0 if encver < 2 else 11)
        m["tag"] = b"" if encver == 0 else b"\0t\0"
        key = f"meta:v{encver}"
        env.assertTrue(
            con.restore(key, 0, dump_payload("AI__MODEL", encver, model_fields(encver, m)))
        )
        check_model(env, key, m, None, run=False)


# Corrupt payloads: each is a good old payload with one thing wrong.


def torch_v(encver, **changes):
    m = model_case("TORCH", encver)
    m.update(changes)
    return m


def corrupt_cases():
    cases = {}
    for encver in range(4):
        m = torch_v(encver)
        fields = model_fields(encver, m)
        for cut in range(len(fields)):
            cases[f"model v{encver} cut at field {cut}"] = ("AI__MODEL", encver, fields[:cut])
        s = script_case(encver)
        sfields = script_fields(encver, s)
        for cut in range(len(sfields)):
            cases[f"script v{encver} cut at field {cut}"] = ("AI_SCRIPT", encver, sfields[:cut])
        cases[f"model v{encver} backend 4"] = (
            "AI__MODEL",
            encver,
            [module_uint(4)] + fields[1:],
        )
        cases[f"model v{encver} device without NUL"] = (
            "AI__MODEL",
            encver,
            fields[:1] + [module_string(b"CPU")] + fields[2:],
        )
        cases[f"model v{encver} garbage blob"] = (
            "AI__MODEL",
            encver,
            model_fields(encver, torch_v(encver, blob=b"not a model" * 200)),
        )
        names_at = 5 if encver < 2 else 6
        cases[f"model v{encver} 2**40 inputs"] = (
            "AI__MODEL",
            encver,
            fields[:names_at] + [module_uint(2**40)] + fields[names_at + 1 :],
        )
        cases[f"script v{encver} source without NUL"] = (
            "AI_SCRIPT",
            encver,
            sfields[:2] + [module_string(s["source"])] + sfields[3:],
        )
        cases[f"script v{encver} bad source"] = (
            "AI_SCRIPT",
            encver,
            script_fields(encver, dict(s, source=b"def f(:\n")),
        )
        # The layout of one version read as another's.
        other = 0 if encver == 1 else 1  # 2 and 3 share a layout
        cases[f"model v{other} read as v{encver}"] = (
            "AI__MODEL",
            encver,
            model_fields(other, torch_v(other)),
        )
    v0 = model_fields(0, torch_v(0))
    cases["model v0 tag without NUL"] = ("AI__MODEL", 0, v0[:2] + [module_string(b"t")] + v0[3:])
    cases["model v0 empty tag"] = ("AI__MODEL", 0, v0[:2] + [module_string(b"")] + v0[3:])
    cases["model v0 NUL inside tag"] = ("AI__MODEL", 0, v0[:2] + [cstring(b"a\0b")] + v0[3:])
    v1 = model_fields(1, torch_v(1))
    blob = torch_blob("add")
    chunked = v1[:7]  # up to and with the output names
    for name, total, chunks in (
        ("no chunks", len(blob), []),
        ("chunks shorter than total", len(blob) + 1, [blob]),
        ("chunks longer than total", len(blob) - 1, [blob]),
        ("total 2**60", 2**60, [blob]),
        ("more chunks than bytes", 2, [b"a", b"b", b"", b""]),
        ("count over chunks", len(blob), [blob]),
    ):
        count = len(chunks) + (name == "count over chunks")
        cases[f"model v1 {name}"] = (
            "AI__MODEL",
            1,
            chunked + [module_uint(total), module_uint(count)] + [module_string(c) for c in chunks],
        )
    s3 = script_fields(3, script_case(3))
    cases["script v3 2**40 entry points"] = ("AI_SCRIPT", 3, s3[:3] + [module_uint(2**40)])
    cases["script v3 missing entry point"] = ("AI_SCRIPT", 3, s3[:3] + [module_uint(2), s3[4]])
    cases["script v3 unknown entry point"] = (
        "AI_SCRIPT",
        3,
        s3[:3] + [module_uint(1), cstring(b"nope")],
    )
    return cases


def check_restore_corrupt_old_payloads(env):
    con = env.getConnection()
    con.execute_command("AI.TENSORSET", "untouched", "INT8", 1)
    snapshot = keyspace(con)
    for name, (type_name, encver, fields) in corrupt_cases().items():
        payload = dump_payload(type_name, encver, fields)
        env.assertEqual(error_text(env, "RESTORE", "bad", 0, payload), BAD, message=name)
        env.assertEqual(keyspace(con), snapshot, message=name)
    env.assertTrue(con.ping())


# ---------------------------------------------------------------------------------------
# RDB files


def rdb_path(con):
    return os.path.join(con.config_get("dir")["dir"], con.config_get("dbfilename")["dbfilename"])


def write_rdb(path, values):
    with open(path, "wb") as f:
        f.write(rdb_file({k: v[:3] for k, v in values.items()}))


def check_rdb_file_reload(env):
    """DEBUG RELOAD NOSAVE loads an RDB file of old-encoding values."""
    con = env.getConnection()
    values = legacy_values()
    write_rdb(rdb_path(con), values)
    env.assertEqual(con.execute_command("DEBUG", "RELOAD", "NOSAVE"), b"OK")
    env.assertEqual(sorted(con.keys("{l}:*")), sorted(k.encode() for k in values))
    rng = np.random.default_rng(3)
    for key, (type_name, _, _, case) in values.items():
        # The replica did not reload: the master alone is checked here.
        if type_name == "AI__MODEL":
            env.assertEqual(model_meta(con, key), expected_meta(case), message=key)
            env.assertEqual(model_blob(con, key), case["blob"], message=key)
            run_model(env, con, key, case, rng)
        else:
            meta = meta_dict(con.execute_command("AI.SCRIPTGET", key, "META"))
            env.assertEqual(meta["tag"], case["tag"], message=key)
            env.assertEqual(meta["Entry Points"], case["entry_points"], message=key)


def test_restore_old_encodings(env):
    """RESTORE of models (each backend) and scripts in encoding versions 0-3."""
    settled(env)
    run_checks(
        env,
        check_builder_matches_dump,
        check_restore_old_models,
        check_restore_old_scripts,
        check_old_batching_meta,
    )


def test_restore_corrupt_old_encodings(env):
    """Corrupt and truncated old payloads are refused with the server up."""
    settled(env)
    run_checks(env, check_restore_corrupt_old_payloads)


def test_rdb_file_old_encodings(env):
    """An RDB file holding old-encoding models and scripts loads (DEBUG RELOAD NOSAVE)."""
    settled(env)
    run_checks(env, check_rdb_file_reload)


def test_rdb_file_restart(env):
    """A server started on an RDB file of old-encoding values has every key, runs them,
    and its replica gets them. With AOF on, the file is the AOF's base (an RDB preamble,
    as BGREWRITEAOF writes it by default)."""
    con = settled(env)
    con.flushall()
    wait_replica(env, con, REPLICA_WAIT_S)
    if env.useAof:
        rewrite_aof(con)  # a fresh, empty base (an RDB preamble) and an empty increment
        path = aof_base_file(con)
        env.assertTrue(path.endswith(".rdb"), message=path)
    else:
        path = rdb_path(con)
    values = legacy_values()
    env.stop()
    write_rdb(path, values)
    env.start()
    con = settled(env)
    env.assertEqual(sorted(con.keys("{l}:*")), sorted(k.encode() for k in values))
    check_loaded(env, values, np.random.default_rng(4))
