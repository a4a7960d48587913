"""Scripts (spec 4.1-4.9, 6.1, 8.1-8.3): AI.SCRIPTSTORE/SCRIPTGET/SCRIPTDEL/_SCRIPTSCAN and
their reply shapes, every entry-point shape, Redis and model calls from scripts (ACL
included), transactions, AI.INFO, and scripts across DEBUG RELOAD, AOF rewrite and
replication. Their error replies are in test_script_errors.py, the deprecated calling
convention in test_scripts_legacy.py."""

import numpy as np
import redis
from error_texts import (
    CALL_ERROR,
    MODEL_EMPTY,
    NO_FUNCTION,
    NOPERM_COMMAND,
    NOPERM_KEYS,
    NO_RUN_INFO,
    SCRIPT_EMPTY,
    TRANSACTION,
    WRONGTYPE,
    err,
)
from includes import (
    aof_base_file,
    rewrite_aof,
    resp_command,
    RawConnection,
    error_text,
    keyspace,
    meta_dict,
    run_checks,
    wait_replica,
)
from model_zoo import (
    connect,
    get_array,
    servers,
    set_array,
    store,
    torch_blob,
    torch_run,
)

from script_zoo import (
    STORE,
    SSET,
    GET,
    DEL,
    EXEC,
    RUN,
    SCAN,
    SOURCE,
    ENTRY_POINTS,
    SIMPLE,
    CALLS,
    CALL_ENTRY_POINTS,
    scriptstore,
    scriptexecute,
    script_info,
)


def check_store_get_del_scan(env):
    """SCRIPTSTORE (case-insensitive keywords, device and tag as given, extra arguments
    ignored, overwrite), the SCRIPTGET reply shapes, SCRIPTDEL, DEL and _SCRIPTSCAN (in
    RedisAI's order: store m then pt_model lists pt_model first)."""
    con = connect(env)
    source = SOURCE + "# \u00fcn\u00efc\u00f6de, a tab\t and trailing spaces   \n\n"
    env.assertEqual(con.execute_command(SCAN), [])
    env.assertEqual(scriptstore(con, "m", source, ENTRY_POINTS, "TAG", "v1.2"), b"OK")
    env.assertEqual(con.type("m"), b"AI_SCRIPT")
    env.assertEqual(
        con.execute_command(
            "ai.scriptstore",
            "pt_model",
            "cpu:0",
            "entry_points",
            1,
            "bar",
            "source",
            SIMPLE,
            "extra",
            "ignored",
        ),
        b"OK",
    )
    eps = [("$", n.encode()) for n in ENTRY_POINTS]
    meta = [
        ("$", b"device"),
        ("$", b"CPU"),
        ("$", b"tag"),
        ("$", b"v1.2"),
        ("$", b"Entry Points"),
        ("*", eps),
    ]
    full = meta + [("$", b"source"), ("$", source.encode())]
    with RawConnection(con) as raw:
        env.assertEqual(raw.call(GET, "m", "META"), ("*", meta))
        env.assertEqual(raw.call(GET, "m", "meta"), ("*", meta))
        env.assertEqual(raw.call(GET, "m", "META", "junk"), ("*", meta))
        env.assertEqual(raw.call(GET, "m"), ("*", full))
        env.assertEqual(raw.call(GET, "m", "META", "SOURCE"), ("*", full))
        env.assertEqual(raw.call(GET, "m", "SOURCE", "META"), ("*", full))
        env.assertEqual(raw.call(GET, "m", "junk"), ("*", full))
        env.assertEqual(raw.call(GET, "m", "SOURCE"), ("$", source.encode()))
        env.assertEqual(raw.call(GET, "m", "source", "junk"), ("$", source.encode()))
        env.assertEqual(
            raw.call(GET, "pt_model", "META"),
            (
                "*",
                [
                    ("$", b"device"),
                    ("$", b"cpu:0"),
                    ("$", b"tag"),
                    ("$", b""),
                    ("$", b"Entry Points"),
                    ("*", [("$", b"bar")]),
                ],
            ),
        )
    # redis-py sees the source verbatim, and a dict with the `Entry Points` field.
    env.assertEqual(con.execute_command(GET, "m", "SOURCE"), source.encode())
    reply = meta_dict(con.execute_command(GET, "m"))
    env.assertEqual(list(reply), ["device", "tag", "Entry Points", "source"])
    env.assertEqual(reply["Entry Points"], [n.encode() for n in ENTRY_POINTS])
    env.assertEqual(con.execute_command(SCAN), [[b"pt_model", b""], [b"m", b"v1.2"]])
    # Storing again replaces source, tag and entry points.
    env.assertEqual(scriptstore(con, "pt_model", SOURCE, ["pair", "bar"], "TAG", "new"), b"OK")
    meta = meta_dict(con.execute_command(GET, "pt_model", "META"))
    env.assertEqual(meta, {"device": b"CPU", "tag": b"new", "Entry Points": [b"pair", b"bar"]})
    env.assertEqual(con.execute_command(GET, "pt_model", "SOURCE"), SOURCE.encode())
    env.assertEqual(sorted(con.execute_command(SCAN)), [[b"m", b"v1.2"], [b"pt_model", b"new"]])
    # The source is a C string: it ends at the first NUL.
    env.assertEqual(scriptstore(con, "nul", SIMPLE + "\0 not compiled (", ["bar"]), b"OK")
    env.assertEqual(con.execute_command(GET, "nul", "SOURCE"), SIMPLE.encode())
    con.delete("nul")
    # A failed store keeps the script already there.
    snapshot = keyspace(con)
    env.assertEqual(
        error_text(env, STORE, "pt_model", "CPU", "ENTRY_POINTS", 1, "nope", "SOURCE", SIMPLE),
        NO_FUNCTION % "nope",
    )
    env.assertEqual(keyspace(con), snapshot)
    # SCRIPTDEL and DEL delete; the key can be stored again.
    env.assertEqual(con.execute_command(DEL, "m"), b"OK")
    env.assertEqual(con.exists("m"), 0)
    env.assertEqual(error_text(env, GET, "m"), SCRIPT_EMPTY)
    env.assertEqual(error_text(env, DEL, "m"), SCRIPT_EMPTY)
    env.assertEqual(error_text(env, EXEC, "m", "bar", "INPUTS", 0), SCRIPT_EMPTY)
    env.assertEqual(con.execute_command(SCAN), [[b"pt_model", b"new"]])
    env.assertEqual(con.delete("pt_model"), 1)
    env.assertEqual(con.execute_command(SCAN), [])
    env.assertEqual(scriptstore(con, "m", SIMPLE, ["bar"]), b"OK")
    env.assertEqual(con.execute_command(SCAN), [[b"m", b""]])
    wait_replica(env, con)
    if env.useSlaves:
        replica = env.getSlaveConnection()
        env.assertEqual(replica.exists("pt_model"), 0)
        env.assertEqual(replica.execute_command(GET, "m"), con.execute_command(GET, "m"))


def check_entry_point_shapes(env):
    """Every entry-point shape: tensors only, KEYS and ARGS as strings, no OUTPUTS (return
    value ignored), tuples and lists flattened into several OUTPUTS, 0-dim outputs; the
    scopes in any order after KEYS/INPUTS, with TIMEOUT; outputs replicated."""
    con = connect(env)
    scriptstore(con, "s", SOURCE, ENTRY_POINTS, "TAG", "v1")
    rng = np.random.default_rng(3)
    a = rng.standard_normal((2, 3)).astype(np.float32)
    b = rng.standard_normal((2, 3)).astype(np.float32)
    set_array(con, "a", a)
    set_array(con, "b", b)
    set_array(con, "i", np.arange(6, dtype=np.int32).reshape(3, 2))

    def check(key, want):
        got = get_array(con, key)
        env.assertEqual(got.dtype, want.dtype, message=key)
        env.assertEqual(got.shape, want.shape, message=key)
        np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=key)

    env.assertEqual(scriptexecute(con, "s", "bar", inputs=["a", "b"], outputs=["c"]), b"OK")
    check("c", a + b)
    # ARGS are strings converted by the script; INT32 input stays INT32 through int math.
    env.assertEqual(
        scriptexecute(con, "s", "scale", inputs=["a"], args=["2.5", "3"], outputs=["c"]), b"OK"
    )
    check("c", a * np.float32(2.5) + 3)
    env.assertEqual(
        scriptexecute(con, "s", "scale", inputs=["i"], args=["2", "-1"], outputs=["ci"]), b"OK"
    )
    check("ci", np.arange(6, dtype=np.float32).reshape(3, 2) * 2 - 1)
    # KEYS are passed as names (missing keys are fine, nothing is read), INPUTS optional.
    env.assertEqual(
        scriptexecute(
            con, "s", "names", keys=["k", "{x}long", "missing"], args=["1", "2"], outputs=["n"]
        ),
        b"OK",
    )
    check("n", np.array([1, 7, 7, 0, 2], np.int64))
    env.assertEqual(con.execute_command(EXEC, "s", "names", "INPUTS", 0, "OUTPUTS", 1, "n"), b"OK")
    check("n", np.array([0, 0], np.int64))
    # Scopes in any order after the first; keywords case-insensitive; TIMEOUT last.
    env.assertEqual(
        con.execute_command(
            EXEC,
            "s",
            "names",
            "inputs",
            1,
            "a",
            "Outputs",
            1,
            "n",
            "args",
            1,
            "x",
            "keys",
            2,
            "k1",
            "k22",
            "timeout",
            10000,
        ),
        b"OK",
    )
    check("n", np.array([2, 3, 1, 1], np.int64))
    # Tuples and lists are flattened in order into the OUTPUTS.
    env.assertEqual(scriptexecute(con, "s", "pair", inputs=["a"], outputs=["p1", "p2"]), b"OK")
    check("p1", a + 1)
    check("p2", a * 2)
    env.assertEqual(
        scriptexecute(con, "s", "triple", inputs=["a", "b"], outputs=["t1", "t2", "t3"]), b"OK"
    )
    check("t1", a)
    check("t2", b)
    check("t3", a - b)
    # 0-dim outputs have shape [].
    env.assertEqual(
        scriptexecute(con, "s", "scalars", inputs=["a"], args=["-7"], outputs=["z1", "z2"]), b"OK"
    )
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "z1", "META"), [b"dtype", b"FLOAT", b"shape", []]
    )
    np.testing.assert_allclose(get_array(con, "z1"), a.sum(), rtol=1e-5)
    env.assertEqual(
        con.execute_command("AI.TENSORGET", "z2", "META", "VALUES"),
        [b"dtype", b"INT64", b"shape", [], b"values", [-7]],
    )
    # Without OUTPUTS the return value is ignored, whatever it is.
    snapshot = keyspace(con)
    for fn, inputs in (("ignored", []), ("pair", ["a"]), ("bar", ["a", "b"])):
        env.assertEqual(scriptexecute(con, "s", fn, inputs=inputs), b"OK", message=fn)
    env.assertEqual(con.execute_command(EXEC, "s", "ignored", "KEYS", 1, "k"), b"OK")
    env.assertEqual(keyspace(con), snapshot)
    # An input overwritten by its own output.
    env.assertEqual(scriptexecute(con, "s", "pair", inputs=["a"], outputs=["a", "a2"]), b"OK")
    check("a", a + 1)
    wait_replica(env, con)
    for c in servers(env)[1:]:
        for key in ("a", "c", "ci", "n", "p1", "p2", "t3", "z1", "z2"):
            env.assertEqual(
                c.execute_command("AI.TENSORGET", key, "META", "BLOB"),
                con.execute_command("AI.TENSORGET", key, "META", "BLOB"),
                message=key,
            )


def check_redis_calls(env):
    """redis.execute reads a hash (array reply through redis.asList) and writes keys
    (replicated as the commands themselves), error replies and rejected
    calls fail the script with `Redis command returned an error: ...`, and
    redisAI.model_execute runs a stored model like the same model in process."""
    con = connect(env)
    env.assertEqual(scriptstore(con, "s", CALLS, CALL_ENTRY_POINTS), b"OK")
    values = [0.5, -1.25, 3.0, 4.5, 1e-3, 2.0]
    con.hset("h", mapping={f"f{i}": repr(v) for i, v in enumerate(values)})
    env.assertEqual(
        scriptexecute(con, "s", "hash_tensor", keys=["h"], args=["2"], outputs=["t"]), b"OK"
    )
    got = get_array(con, "t")
    env.assertEqual(got.dtype, np.float32)
    np.testing.assert_allclose(got, np.array(values, np.float32).reshape(2, 3))
    # INCRBY then GET: the reply converts to int through str.
    env.assertEqual(
        scriptexecute(con, "s", "counter", keys=["n"], args=["5"], outputs=["v"]), b"OK"
    )
    env.assertEqual(
        scriptexecute(con, "s", "counter", keys=["n"], args=["-2"], outputs=["v"]), b"OK"
    )
    env.assertEqual(con.get("n"), b"3")
    env.assertEqual(con.execute_command("AI.TENSORGET", "v", "VALUES"), [3])
    env.assertEqual(scriptexecute(con, "s", "replies", keys=["nil", "r"], outputs=["v"]), b"OK")
    env.assertEqual(con.execute_command("AI.TENSORGET", "v", "VALUES"), [1, 1, 10])
    # Writes without OUTPUTS.
    env.assertEqual(
        scriptexecute(con, "s", "writer", keys=["w:str", "w:num"], args=["hello", "41"]), b"OK"
    )
    env.assertEqual(
        scriptexecute(con, "s", "writer", keys=["w:str", "w:num"], args=["world", "1"]), b"OK"
    )
    env.assertEqual(con.get("w:str"), b"world")
    env.assertEqual(con.get("w:num"), b"42")
    # A model called from the script, like the model in process.
    store(con, "m", "TORCH", torch_blob("add"))
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    y = rng.standard_normal((3, 4)).astype(np.float32)
    set_array(con, "x", x)
    set_array(con, "y", y)
    env.assertEqual(
        scriptexecute(con, "s", "call_model", keys=["m"], inputs=["x", "y"], outputs=["z"]), b"OK"
    )
    np.testing.assert_allclose(get_array(con, "z"), torch_run("add", x, y)[0] * 2, rtol=1e-6)
    # Failures: nothing more is written.
    con.set("str", "value")
    snapshot = keyspace(con)
    cases = [
        (("command", ["x"], [], ["LPUSH", "str", "v"]), CALL_ERROR + WRONGTYPE),
        (
            ("command", ["x"], [], ["INCRBY", "str", "1"]),
            CALL_ERROR + "ERR value is not an integer or out of range",
        ),
        (("command", ["x"], [], ["GET", "a", "b"]), CALL_ERROR + "Invalid argument"),
        (("command", ["x"], [], ["NOSUCHCMD", "a", "b"]), CALL_ERROR + "No such file or directory"),
        (
            ("counter", [], ["str"], ["1"]),
            CALL_ERROR + "ERR value is not an integer or out of range",
        ),
        (("hash_tensor", [], ["str"], ["1"]), CALL_ERROR + WRONGTYPE),
        (("call_model", ["x", "y"], ["missing"], []), err(MODEL_EMPTY)),
        (("call_model", ["x", "y"], ["str"], []), WRONGTYPE),
        (("call_model", ["x", "y"], ["x"], []), WRONGTYPE),
    ]
    for (fn, inputs, keys, args), want in cases:
        cmd = [
            EXEC,
            "s",
            fn,
            "KEYS",
            len(keys) or 1,
            *(keys or ["k"]),
            "INPUTS",
            len(inputs),
            *inputs,
            "ARGS",
            len(args),
            *args,
            "OUTPUTS",
            1,
            "out",
        ]
        got = error_text(env, *cmd)
        env.assertEqual(got, want.removeprefix("ERR "), message=(fn, args))
        env.assertEqual(keyspace(con), snapshot, message=(fn, args))
    with RawConnection(con) as raw:
        env.assertEqual(
            raw.call(EXEC, "s", "command", "INPUTS", 1, "x", "ARGS", 3, "LPUSH", "str", "v"),
            ("-", (CALL_ERROR + WRONGTYPE).encode()),
        )
    # The writes travel as themselves to the replica and into the AOF.
    wait_replica(env, con)
    if env.useSlaves:
        replica = env.getSlaveConnection()
        env.assertEqual(replica.mget("n", "w:str", "w:num", "r"), [b"3", b"world", b"42", b"10"])
        np.testing.assert_allclose(get_array(replica, "z"), get_array(con, "z"))
        stats = replica.info("commandstats")
        env.assertContains("cmdstat_incrby", stats)
        env.assertNotContains("cmdstat_ai.scriptexecute", stats)


def user_connection(con, user, password):
    kw = con.connection_pool.connection_kwargs
    return redis.Redis(
        host=kw.get("host", "localhost"), port=kw["port"], username=user, password=password
    )


def check_acl(env):
    """A script's Redis calls run with its caller's ACL permissions: a forbidden command
    or key fails the script with NOPERM and writes nothing; the default user may."""
    con = connect(env)
    con.execute_command("ACL", "SETUSER", "nocmd", "on", ">pw", "~allowed*", "+@all", "-incrby")
    con.execute_command("ACL", "SETUSER", "nokey", "on", ">pw", "~allowed*", "~{t}*", "+@all")
    scriptstore(con, "allowed:s", CALLS, CALL_ENTRY_POINTS)
    set_array(con, "allowed:x", np.ones(2, np.float32))
    nocmd = user_connection(con, "nocmd", "pw")
    nokey = user_connection(con, "nokey", "pw")
    env.assertEqual(nocmd.execute_command("ACL", "WHOAMI"), b"nocmd")

    def command(*args):
        """The script's call of redis.execute(*args); the key it declares is allowed."""
        scopes = ("KEYS", 1, "allowed:k", "INPUTS", 1, "allowed:x", "ARGS", len(args), *args)
        return (EXEC, "allowed:s", "command", *scopes)

    def run(c, *args):
        return c.execute_command(*command(*args))

    snapshot = keyspace(con)
    # Redis' own NOPERM texts (the command in lower case, as Redis names it).
    no_command = CALL_ERROR + NOPERM_COMMAND % "incrby"
    no_key = CALL_ERROR + NOPERM_KEYS
    forbidden = [
        (nocmd, ("INCRBY", "allowed:n", "5"), no_command),
        (nocmd, ("incrby", "allowed:n", "5"), no_command),
        (nocmd, ("SET", "secret", "v"), no_key),
        (nokey, ("SET", "secret", "v"), no_key),
        (nokey, ("APPEND", "secret", "v"), no_key),
    ]
    for c, args, want in forbidden:
        env.assertEqual(error_text(env, *command(*args), conn=c), want, message=args)
        env.assertEqual(keyspace(con), snapshot, message=args)
    # The restricted users may write the keys they are allowed.
    env.assertEqual(run(nocmd, "SET", "allowed:s2", "v"), b"OK")
    env.assertEqual(run(nokey, "INCRBY", "{t}:n", "2"), b"OK")
    env.assertEqual(con.mget("allowed:s2", "{t}:n"), [b"v", b"2"])
    # The default user runs the same calls.
    env.assertEqual(run(con, "INCRBY", "allowed:n", "5"), b"OK")
    env.assertEqual(run(con, "SET", "secret", "v"), b"OK")
    env.assertEqual(con.mget("allowed:n", "secret"), [b"5", b"v"])
    # Redis itself checks the keys the command declares.
    try:
        nocmd.execute_command(
            EXEC,
            "allowed:s",
            "command",
            "KEYS",
            1,
            "secret",
            "INPUTS",
            1,
            "allowed:x",
            "ARGS",
            3,
            "SET",
            "allowed:y",
            "v",
        )
        env.assertTrue(False, message="undeclared key allowed")
    except redis.exceptions.NoPermissionError as e:
        env.assertContains("no permissions", str(e))
    env.assertEqual(con.exists("allowed:y"), 0)
    nocmd.close()
    nokey.close()


def check_transactions(env):
    """SCRIPTEXECUTE and SCRIPTRUN are refused inside MULTI and Lua before any parsing;
    storing, reading and deleting scripts work there."""
    con = connect(env)
    scriptstore(con, "s", SIMPLE, ["bar"])
    set_array(con, "a", np.ones((2,), np.float32))
    pipe = con.pipeline(transaction=True)
    pipe.execute_command(EXEC, "s", "bar", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "c")
    pipe.execute_command(EXEC, "missing")
    pipe.execute_command(RUN, "s", "bar", "INPUTS", "a", "a", "OUTPUTS", "c")
    pipe.execute_command(
        STORE, "s2", "CPU", "TAG", "multi", "ENTRY_POINTS", 1, "bar", "SOURCE", SIMPLE
    )
    pipe.execute_command(GET, "s2", "META")
    pipe.execute_command(SSET, "s3", "CPU", "SOURCE", "def f(x):\n    return x\n")
    pipe.execute_command(DEL, "s")
    res = pipe.execute(raise_on_error=False)
    env.assertEqual([str(r) for r in res[:3]], [TRANSACTION] * 3)
    env.assertEqual(res[3], b"OK")
    env.assertEqual(meta_dict(res[4])["tag"], b"multi")
    env.assertEqual(res[5:], [b"OK", b"OK"])
    env.assertEqual(con.exists("c", "s"), 0)
    lua = "return redis.call('AI.SCRIPTEXECUTE', KEYS[1], 'bar', 'INPUTS', 2, 'a', 'a')"
    try:
        con.eval(lua, 1, "s2")
        env.assertTrue(False, message="SCRIPTEXECUTE ran in Lua")
    except redis.exceptions.ResponseError as e:
        env.assertContains(TRANSACTION, str(e))
    env.assertEqual(
        con.eval("return redis.call('AI.SCRIPTGET', KEYS[1], 'META')", 1, "s2")[1], b"CPU"
    )
    # Outside a transaction it runs.
    env.assertEqual(scriptexecute(con, "s2", "bar", inputs=["a", "a"], outputs=["c"]), b"OK")
    env.assertEqual(get_array(con, "c").tolist(), [2, 2])


def check_info(env):
    """AI.INFO of a script: type SCRIPT, backend TORCH, samples always -1, calls and errors
    of runs (parse errors not counted); RESETSTAT; gone with the script, fresh on store."""
    con = connect(env)
    scriptstore(con, "s", SOURCE, ENTRY_POINTS, "TAG", "t1", device="cpu")
    set_array(con, "a", np.ones((2, 2), np.float32))
    with RawConnection(con) as raw:
        kind, reply = raw.call("AI.INFO", "s")
        # RedisAI's fields, then cyrai's (roadmap R3, R4: test_monitoring.py).
        env.assertEqual(
            (kind, reply[:18]),
            (
                "*",
                [
                    ("$", b"key"),
                    ("$", b"s"),
                    ("$", b"type"),
                    ("$", b"SCRIPT"),
                    ("$", b"backend"),
                    ("$", b"TORCH"),
                    ("$", b"device"),
                    ("$", b"cpu"),
                    ("$", b"tag"),
                    ("$", b"t1"),
                    ("$", b"duration"),
                    (":", 0),
                    ("$", b"samples"),
                    (":", -1),
                    ("$", b"calls"),
                    (":", 0),
                    ("$", b"errors"),
                    (":", 0),
                ],
            ),
        )
    for _ in range(3):
        scriptexecute(con, "s", "bar", inputs=["a", "a"], outputs=["c"])
    scriptexecute(con, "s", "ignored", inputs=[])
    error_text(env, EXEC, "s", "nosuch", "INPUTS", 0)
    error_text(env, EXEC, "s", "bar", "INPUTS", 2, "a", "a", "OUTPUTS", 2, "c", "d")
    error_text(env, EXEC, "s", "bar", "INPUTS", 2, "a", "missing")  # parse errors: not
    error_text(env, EXEC, "s", "bar", "INPUTS", "x")  # counted
    error_text(env, RUN, "s", "bar", "foo")
    info = script_info(con, "s")
    env.assertEqual(
        {k: info[k] for k in ("key", "type", "backend", "device", "tag")},
        {"key": b"s", "type": b"SCRIPT", "backend": b"TORCH", "device": b"cpu", "tag": b"t1"},
    )
    env.assertEqual((info["samples"], info["calls"], info["errors"]), (-1, 6, 2))
    env.assertGreater(info["duration"], 0)
    env.assertEqual(con.execute_command(RUN, "s", "bar", "INPUTS", "a", "a", "OUTPUTS", "c"), b"OK")
    env.assertEqual(script_info(con, "s")["calls"], 7)
    env.assertEqual(con.execute_command("AI.INFO", "s", "RESETSTAT"), b"OK")
    info = script_info(con, "s")
    env.assertEqual(
        (info["duration"], info["samples"], info["calls"], info["errors"]), (0, -1, 0, 0)
    )
    # Storing again gives fresh statistics; deleting removes them.
    scriptexecute(con, "s", "bar", inputs=["a", "a"], outputs=["c"])
    scriptstore(con, "s", SIMPLE, ["bar"], "TAG", "t2")
    info = script_info(con, "s")
    env.assertEqual((info["tag"], info["calls"], info["device"]), (b"t2", 0, b"CPU"))
    con.execute_command(DEL, "s")
    env.assertEqual(error_text(env, "AI.INFO", "s"), NO_RUN_INFO)
    if env.useSlaves:  # statistics are per server
        wait_replica(env, con)
        scriptstore(con, "r", SIMPLE, ["bar"])
        scriptexecute(con, "r", "bar", inputs=["a", "a"], outputs=["c"])
        wait_replica(env, con)
        env.assertEqual(script_info(env.getSlaveConnection(), "r")["calls"], 0)


LEGACY_ADD = "def legacy(x, y):\n    \"\"\"Adds.\"\"\"\n    return x + y\n"


def scripts_state(con, keys):
    return {k: con.execute_command(GET, k) for k in keys}


def store_persisted_scripts(env, con):
    """Scripts of both kinds (SCRIPTSTORE with and without a tag, SCRIPTSET) and a tensor a
    to run them on; returns (keys, their SCRIPTGET replies, a)."""
    scriptstore(con, "s", SOURCE, ENTRY_POINTS, "TAG", "v1")
    scriptstore(con, "plain", SIMPLE, ["bar"], device="cpu")
    env.assertEqual(con.execute_command(SSET, "legacy", "CPU", "SOURCE", LEGACY_ADD), b"OK")
    env.assertEqual(
        con.execute_command(SSET, "tagged", "CPU", "TAG", "t", "SOURCE", LEGACY_ADD), b"OK"
    )
    keys = ["s", "plain", "legacy", "tagged"]
    state = scripts_state(con, keys)
    env.assertEqual(meta_dict(state["legacy"])["Entry Points"], [])
    a = np.arange(4, dtype=np.float32)
    set_array(con, "a", a)
    return keys, state, a


def runs_everywhere(env, con, keys, state, a):
    """Every server has the scripts as stored, and each of them runs on con's."""
    for c in servers(env):
        env.assertEqual(scripts_state(c, keys), state)
    env.assertEqual(scriptexecute(con, "s", "pair", inputs=["a"], outputs=["p1", "p2"]), b"OK")
    np.testing.assert_array_equal(get_array(con, "p2"), a * 2)
    env.assertEqual(scriptexecute(con, "plain", "bar", inputs=["a", "a"], outputs=["c"]), b"OK")
    for key in ("legacy", "tagged"):
        env.assertEqual(
            con.execute_command(RUN, key, "legacy", "INPUTS", "a", "a", "OUTPUTS", "l"), b"OK"
        )
        np.testing.assert_array_equal(get_array(con, "l"), a + a)


def test_persistence(env):
    """DEBUG RELOAD keeps scripts (SCRIPTGET equal, still executable, fresh statistics);
    DUMP/RESTORE copies one; the replica receives them."""
    con = connect(env)
    keys, state, a = store_persisted_scripts(env, con)
    wait_replica(env, con)
    runs_everywhere(env, con, keys, state, a)
    env.assertEqual(script_info(con, "s")["calls"], 1)
    env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
    env.assertEqual(script_info(con, "s")["calls"], 0)
    env.assertEqual(
        sorted(con.execute_command(SCAN)),
        [[b"legacy", b""], [b"plain", b""], [b"s", b"v1"], [b"tagged", b"t"]],
    )
    runs_everywhere(env, con, keys, state, a)
    env.assertTrue(con.restore("copy", 0, con.dump("s")))
    env.assertEqual(con.execute_command(GET, "copy"), state["s"])
    env.assertEqual(scriptexecute(con, "copy", "bar", inputs=["a", "a"], outputs=["c"]), b"OK")
    con.delete("copy")
    wait_replica(env, con)


def test_aof_rewrite(env):
    """After an AOF rewrite SCRIPTSTORE scripts are AI.SCRIPTSTORE and SCRIPTSET scripts
    AI.SCRIPTSET, and a restart rebuilds both; writes made by redis.execute are replayed
    from the AOF."""
    if not env.useAof:
        env.skip()
    con = connect(env)
    keys, state, a = store_persisted_scripts(env, con)
    # Keys written by redis.execute come back from the AOF (written after the rewrite
    # below, so from its incremental part).
    scriptstore(con, "calls", CALLS, CALL_ENTRY_POINTS)
    keys.append("calls")
    state["calls"] = con.execute_command(GET, "calls")
    con.config_set("aof-use-rdb-preamble", "no")
    rewrite_aof(con)
    env.assertEqual(
        scriptexecute(con, "calls", "writer", keys=["w:str", "w:num"], args=["hello", "41"]), b"OK"
    )
    with open(aof_base_file(con), "rb") as f:
        base = f.read()
    env.assertEqual(base.count(b"\r\nAI.SCRIPTSTORE\r\n"), 3)
    env.assertEqual(base.count(b"\r\nAI.SCRIPTSET\r\n"), 2)
    env.assertContains(
        resp_command(
            STORE,
            "s",
            "CPU",
            "TAG",
            "v1",
            "ENTRY_POINTS",
            len(ENTRY_POINTS),
            *ENTRY_POINTS,
            "SOURCE",
            SOURCE,
        ),
        base,
    )
    env.assertContains(
        resp_command(STORE, "plain", "cpu", "TAG", "", "ENTRY_POINTS", 1, "bar", "SOURCE", SIMPLE),
        base,
    )
    env.assertContains(resp_command(SSET, "legacy", "CPU", "TAG", "", "SOURCE", LEGACY_ADD), base)
    env.assertContains(resp_command(SSET, "tagged", "CPU", "TAG", "t", "SOURCE", LEGACY_ADD), base)
    env.stop()
    env.start()
    con = connect(env)
    runs_everywhere(env, con, keys, state, a)
    env.assertEqual(con.mget("w:str", "w:num"), [b"hello", b"41"])
    env.assertEqual(
        scriptexecute(con, "calls", "counter", keys=["w:num"], args=["1"], outputs=["v"]), b"OK"
    )
    env.assertEqual(con.get("w:num"), b"42")


def test_commands(env):
    """Parsing, storing, reading and deleting scripts (one server for all the checks)."""
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(env, check_store_get_del_scan)


def test_execution(env):
    """Running scripts: entry-point shapes, run-time errors, transactions, AI.INFO."""
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(env, check_entry_point_shapes, check_transactions, check_info)


def test_calls(env):
    """Redis and model calls from scripts, under the caller's ACL user."""
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(env, check_redis_calls, check_acl)
