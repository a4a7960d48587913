"""Scripts (spec 4.1-4.9, 6.1, 8.1-8.3): AI.SCRIPTSTORE/SCRIPTGET/SCRIPTDEL/_SCRIPTSCAN and
their reply shapes, every parse error of SCRIPTSTORE, SCRIPTGET, SCRIPTDEL, SCRIPTEXECUTE,
SCRIPTSET and SCRIPTRUN in the order RedisAI checks them, compile and entry-point errors,
every entry-point shape, runtime errors, Redis and model calls from scripts (ACL included),
transactions, AI.INFO, and scripts across DEBUG RELOAD, AOF rewrite and replication.
The deprecated calling convention is in test_scripts_legacy.py."""

import numpy as np
import redis
import torch
from error_texts import (
    AFTER_TIMEOUT,
    ARGS_ARGS,
    ARGS_COUNT,
    ARITY,
    CALL_ERROR,
    ENTRY_POINTS_NUMBER,
    INPUTS_ARGS,
    INPUTS_COUNT,
    INVALID_ARGS,
    KEYS_ARGS,
    KEYS_COUNT,
    KEYS_MISSING,
    MISSING_ENTRY_POINTS,
    MISSING_FUNCTION,
    MISSING_SOURCE,
    NON_TENSOR,
    NO_FUNCTION,
    OUTPUTS_ARGS,
    OUTPUTS_COUNT,
    OUTPUT_NUMBER,
    PARAM_COUNT,
    PARAM_TYPES,
    SCOPE_FIRST,
    SCOPE_TWICE,
    SCRIPT_EMPTY,
    SCRIPT_TIMEOUT_MISSING,
    SCRIPT_UNEXPECTED,
    SR_INPUTS_KEYWORD,
    SR_INPUTS_SECTION,
    SR_OUTPUTS_KEYWORD,
    SR_TIMEOUT_TWICE,
    SR_UNRECOGNIZED,
    SR_VARIADIC_OUTSIDE,
    SR_VARIADIC_TWICE,
    TENSOR_EMPTY,
    TIMEOUT_INVALID,
    TORCH_GPU,
    TRANSACTION,
    UNSUPPORTED_DEVICE,
    WRONGTYPE,
)
from includes import (
    RawConnection,
    error_text,
    keyspace,
    meta_dict,
    run_checks,
    wait_replica,
)
from model_zoo import (
    aof_base_file,
    connect,
    get_array,
    resp_command,
    rewrite_aof,
    servers,
    set_array,
    store,
    torch_blob,
    torch_run,
)

STORE, SSET, GET, DEL = "AI.SCRIPTSTORE", "AI.SCRIPTSET", "AI.SCRIPTGET", "AI.SCRIPTDEL"
EXEC, RUN, SCAN = "AI.SCRIPTEXECUTE", "AI.SCRIPTRUN", "AI._SCRIPTSCAN"

# Every entry-point shape of spec 4.4/4.5, plus functions that fail at run time and one
# that is not an entry point.
SOURCE = '''\
def bar(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]

def scale(tensors: List[Tensor], keys: List[str], args: List[str]):
    # ARGS arrive as strings: the script converts them
    return tensors[0] * float(args[0]) + int(args[1])

def names(tensors: List[Tensor], keys: List[str], args: List[str]):
    # KEYS are names only; nothing is read from them
    return torch.tensor([len(k) for k in keys] + [len(tensors), len(args)])

def pair(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + 1, tensors[0] * 2

def triple(tensors: List[Tensor], keys: List[str], args: List[str]):
    return [tensors[0], tensors[1], tensors[0] - tensors[1]]

def scalars(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0].sum(), torch.tensor(int(args[0]))

def ignored(tensors: List[Tensor], keys: List[str], args: List[str]):
    return 5

def index(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0][int(args[0])]

def helper(x: Tensor):
    return x * 3
'''
ENTRY_POINTS = ["bar", "scale", "names", "pair", "triple", "scalars", "ignored", "index"]
SIMPLE = '''\
def bar(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]
'''

# Scripts that call Redis and models (spec 4.6); only the server can compile them.
CALLS = '''\
def hash_tensor(tensors: List[Tensor], keys: List[str], args: List[str]):
    fields = redis.asList(redis.execute("HGETALL", keys[0]))
    values: List[float] = []
    for i in range(1, len(fields), 2):
        values.append(float(str(fields[i])))
    return torch.tensor(values).reshape(int(args[0]), -1)

def counter(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("INCRBY", keys[0], args[0])
    v = redis.execute("GET", keys[0])
    return torch.tensor(int(str(v)))

def writer(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("SET", keys[0], args[0])
    redis.execute("INCRBY", keys[1], args[1])
    return torch.tensor(0)

def command(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute(args[0], args[1], args[2])
    return tensors[0]

def call_model(tensors: List[Tensor], keys: List[str], args: List[str]):
    outs = redisAI.model_execute(keys[0], [tensors[0], tensors[1]], 1)
    return outs[0] * 2

def replies(tensors: List[Tensor], keys: List[str], args: List[str]):
    # nil, status and integer replies (`is None` on Any is statically false: use str)
    missing = redis.execute("GET", keys[0])
    status = redis.execute("SET", keys[1], "7")
    number = redis.execute("INCRBY", keys[1], "3")
    return torch.tensor([int(str(missing) == "None"), int(str(status) == "OK"),
                         int(str(number))])
'''
CALL_ENTRY_POINTS = ["hash_tensor", "counter", "writer", "command", "call_model", "replies"]


def one_line(text):
    return str(text).replace("\r", " ").replace("\n", " ").strip()


def compile_error(source):
    """The TorchScript compiler's one-line message for source, compiled in process."""
    try:
        torch.jit.CompilationUnit().define(source)
    except Exception as e:  # noqa: BLE001 - any compiler error is the expected text
        return one_line(e)
    raise AssertionError("source compiles")


def run_error(source, fn, *args):
    """The one-line error of calling fn of source in process."""
    cu = torch.jit.CompilationUnit()
    cu.define(source)
    try:
        with torch.inference_mode():
            cu.find_function(fn)(*args)
    except Exception as e:  # noqa: BLE001 - any framework error is the expected text
        return one_line(e)
    raise AssertionError("call succeeds")


def scriptstore(con, key, source, entry_points, *tag, device="CPU"):
    return con.execute_command(
        STORE, key, device, *tag, "ENTRY_POINTS", len(entry_points), *entry_points, "SOURCE", source
    )


def scriptexecute(con, key, fn, keys=(), inputs=(), args=(), outputs=(), *tail):
    cmd = [EXEC, key, fn]
    for scope, items in (("KEYS", keys), ("INPUTS", inputs), ("ARGS", args), ("OUTPUTS", outputs)):
        if items or (scope == "INPUTS" and not keys):
            cmd += [scope, len(items), *items]
    return con.execute_command(*cmd, *tail)


def script_info(con, key):
    return meta_dict(con.execute_command("AI.INFO", key))


def wire_error(text):
    """The error as it travels: RedisAI's ERR prefix, except where it sends none."""
    if text.startswith(("WRONGTYPE", "Function", "Wrong", "Redis command")):
        return text.encode()
    return b"ERR " + text.encode()


# Keys: s (SOURCE), m (add model), a and b (FLOAT 2x2), str (string), lst (list).
S = SIMPLE
MALFORMED = [
    # AI.SCRIPTSTORE: arity (named as typed), ENTRY_POINTS, SOURCE, device, type
    ((STORE, "new", "CPU", "ENTRY_POINTS", 1, "bar", "SOURCE"), ARITY % STORE),
    (("ai.scriptstore", "new"), ARITY % "ai.scriptstore"),
    ((STORE, "new", "CPU", "TAG", "t", "SOURCE", S, "x"), MISSING_ENTRY_POINTS),
    ((STORE, "new", "CPU", "ENTRYPOINTS", 1, "bar", "SOURCE", S), MISSING_ENTRY_POINTS),
    ((STORE, "new", "CPU", "TAG", "ENTRY_POINTS", 1, "bar", "SOURCE", S), MISSING_ENTRY_POINTS),
    ((STORE, "new", "CPU", "ENTRY_POINTS", "x", "bar", "SOURCE", S), ENTRY_POINTS_NUMBER),
    ((STORE, "new", "CPU", "ENTRY_POINTS", "1.0", "bar", "SOURCE", S), ENTRY_POINTS_NUMBER),
    ((STORE, "new", "CPU", "ENTRY_POINTS", 5, "bar", "SOURCE", S), MISSING_ENTRY_POINTS),
    (
        (STORE, "new", "CPU", "TAG", "t", "ENTRY_POINTS", 4, "bar", "SOURCE", S),
        MISSING_ENTRY_POINTS,
    ),
    # the names are read blindly: SOURCE and the source become names
    ((STORE, "new", "CPU", "ENTRY_POINTS", 3, "bar", "SOURCE", S), MISSING_SOURCE),
    ((STORE, "new", "CPU", "ENTRY_POINTS", 2, "bar", "SOURCE", S), MISSING_SOURCE),
    ((STORE, "new", "CPU", "ENTRY_POINTS", 1, "bar", "SOURCES", S), MISSING_SOURCE),
    ((STORE, "new", "CPU", "TAG", "t", "ENTRY_POINTS", 1, "bar"), MISSING_SOURCE),
    ((STORE, "new", "CPU", "TAG", "t", "ENTRY_POINTS", 1, "bar", "SOURCE"), MISSING_SOURCE),
    ((STORE, "new", "TPU", "ENTRY_POINTS", 1, "bar", "SOURCE", S), UNSUPPORTED_DEVICE),
    ((STORE, "new", "", "ENTRY_POINTS", 1, "bar", "SOURCE", S), UNSUPPORTED_DEVICE),
    (
        (STORE, "new", "XPU:0", "TAG", "t", "ENTRY_POINTS", 1, "bar", "SOURCE", S),
        UNSUPPORTED_DEVICE,
    ),
    ((STORE, "str", "TPU", "ENTRY_POINTS", 1, "bar", "SOURCE", S), UNSUPPORTED_DEVICE),
    ((STORE, "str", "CPU", "ENTRY_POINTS", 1, "bar", "SOURCE", S), WRONGTYPE),
    ((STORE, "a", "CPU", "ENTRY_POINTS", 1, "bar", "SOURCE", S), WRONGTYPE),
    ((STORE, "m", "CPU", "TAG", "t", "ENTRY_POINTS", 1, "bar", "SOURCE", S), WRONGTYPE),
    # AI.SCRIPTGET / AI.SCRIPTDEL / AI._SCRIPTSCAN
    ((GET,), ARITY % GET),
    ((GET, "s", "META", "SOURCE", "META"), ARITY % GET),
    (("ai.scriptget",), ARITY % "ai.scriptget"),
    ((GET, "missing"), SCRIPT_EMPTY),
    ((GET, "missing", "META"), SCRIPT_EMPTY),
    ((GET, "missing", "SOURCE"), SCRIPT_EMPTY),
    ((GET, "str"), WRONGTYPE),
    ((GET, "a", "META"), WRONGTYPE),
    ((GET, "m", "SOURCE"), WRONGTYPE),
    ((DEL,), ARITY % DEL),
    ((DEL, "s", "s"), ARITY % DEL),
    ((DEL, "missing"), SCRIPT_EMPTY),
    ((DEL, "str"), WRONGTYPE),
    ((DEL, "m"), WRONGTYPE),
    ((SCAN, "x"), ARITY % SCAN),
    # other commands on a script key
    (("GET", "s"), WRONGTYPE),
    (("AI.TENSORGET", "s"), WRONGTYPE),
    (("AI.MODELGET", "s", "META"), WRONGTYPE),
    (("AI.MODELDEL", "s"), WRONGTYPE),
    # AI.SCRIPTEXECUTE, in the order of its checks
    ((EXEC, "s"), ARITY % EXEC),
    ((EXEC,), ARITY % EXEC),
    ((EXEC, "missing", "bar"), SCRIPT_EMPTY),
    ((EXEC, "missing", "bar", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c"), SCRIPT_EMPTY),
    ((EXEC, "missing", "bar", "X", "Y"), SCRIPT_EMPTY),
    ((EXEC, "str", "bar", "INPUTS", 2, "a", "b"), WRONGTYPE),
    ((EXEC, "a", "bar", "INPUTS", 2, "a", "b"), WRONGTYPE),
    ((EXEC, "m", "bar", "INPUTS", 2, "a", "b"), WRONGTYPE),
    ((EXEC, "s", "bar"), SCOPE_FIRST),
    ((EXEC, "s", "bar", "OUTPUTS", 1, "c", "INPUTS", 2, "a", "b"), SCOPE_FIRST),
    ((EXEC, "s", "bar", "ARGS", 1, "x", "KEYS", 1, "k"), SCOPE_FIRST),
    ((EXEC, "s", "bar", "TIMEOUT", 5, "INPUTS", 2, "a", "b"), SCOPE_FIRST),
    ((EXEC, "s", "bar", "foo", "INPUTS", 2, "a", "b"), SCOPE_FIRST),
    ((EXEC, "s", "KEYS", 1, "k", "INPUTS", 2, "a", "b"), SCOPE_FIRST),  # KEYS is the name
    ((EXEC, "s", "INPUTS", 2, "a", "b"), SCOPE_FIRST),
    # KEYS
    ((EXEC, "s", "bar", "KEYS"), KEYS_MISSING),
    ((EXEC, "s", "bar", "KEYS", 1), KEYS_MISSING),
    ((EXEC, "s", "bar", "INPUTS", 0, "KEYS", 1), KEYS_MISSING),
    ((EXEC, "s", "bar", "KEYS", "x", "k"), KEYS_COUNT),
    ((EXEC, "s", "bar", "KEYS", 0, "k"), KEYS_COUNT),
    ((EXEC, "s", "bar", "KEYS", -1, "k"), KEYS_COUNT),
    ((EXEC, "s", "bar", "KEYS", 3, "k1", "k2"), KEYS_ARGS),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "KEYS", 2, "k"), KEYS_ARGS),
    # INPUTS
    ((EXEC, "s", "bar", "INPUTS"), INVALID_ARGS),
    ((EXEC, "s", "bar", "KEYS", 1, "k", "INPUTS"), INVALID_ARGS),
    ((EXEC, "s", "bar", "INPUTS", "x", "a", "b"), INPUTS_COUNT),
    ((EXEC, "s", "bar", "INPUTS", "", "a", "b"), INPUTS_COUNT),
    ((EXEC, "s", "bar", "INPUTS", 3, "a", "b"), INPUTS_ARGS),
    ((EXEC, "s", "bar", "KEYS", 1, "k", "INPUTS", 9, "a", "b"), INPUTS_ARGS),
    # ARGS
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "ARGS"), INVALID_ARGS),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "ARGS", "x", "1"), ARGS_COUNT),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "ARGS", 2, "1"), ARGS_ARGS),
    # OUTPUTS
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "OUTPUTS"), INVALID_ARGS),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "OUTPUTS", "x", "c"), OUTPUTS_COUNT),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "c"), OUTPUTS_ARGS),
    # each scope at most once, named in capitals whatever the client typed
    ((EXEC, "s", "bar", "KEYS", 1, "k", "KEYS", 1, "k"), SCOPE_TWICE % "KEYS"),
    ((EXEC, "s", "bar", "KEYS", 1, "k", "INPUTS", 0, "keys", 1, "k"), SCOPE_TWICE % "KEYS"),
    ((EXEC, "s", "bar", "INPUTS", 1, "a", "INPUTS", 1, "b"), SCOPE_TWICE % "INPUTS"),
    ((EXEC, "s", "bar", "inputs", 1, "a", "inputs", 1, "b"), SCOPE_TWICE % "INPUTS"),
    ((EXEC, "s", "bar", "INPUTS", 1, "a", "ARGS", 1, "x", "ARGS", 1, "y"), SCOPE_TWICE % "ARGS"),
    (
        (EXEC, "s", "bar", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "OUTPUTS", 1, "d"),
        SCOPE_TWICE % "OUTPUTS",
    ),
    (
        (EXEC, "s", "bar", "INPUTS", 2, "a", "b", "outputs", 1, "c", "Outputs", 1, "d"),
        SCOPE_TWICE % "OUTPUTS",
    ),
    # TIMEOUT comes last
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "TIMEOUT"), SCRIPT_TIMEOUT_MISSING),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "TIMEOUT", "x"), TIMEOUT_INVALID),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "TIMEOUT", 0), TIMEOUT_INVALID),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "TIMEOUT", -5), TIMEOUT_INVALID),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "TIMEOUT", "1.5"), TIMEOUT_INVALID),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "TIMEOUT", 5, "OUTPUTS", 1, "c"), AFTER_TIMEOUT),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "TIMEOUT", 5, 6), AFTER_TIMEOUT),
    # anything else
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "foo"), SCRIPT_UNEXPECTED % "foo"),
    ((EXEC, "s", "bar", "INPUTS", 1, "a", "b"), SCRIPT_UNEXPECTED % "b"),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "d"), SCRIPT_UNEXPECTED % "d"),
    ((EXEC, "s", "bar", "KEYS", 1, "k", "LIST_INPUTS", 1, "a"), SCRIPT_UNEXPECTED % "LIST_INPUTS"),
    # input tensors are read last (a bad TIMEOUT wins over a missing input)
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "missing", "TIMEOUT", 0), TIMEOUT_INVALID),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "missing", "OUTPUTS", 1, "c"), TENSOR_EMPTY),
    ((EXEC, "s", "bar", "INPUTS", 2, "str", "b", "OUTPUTS", 1, "c"), WRONGTYPE),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "s", "OUTPUTS", 1, "c"), WRONGTYPE),
    # an output key of another type is found when the output is written; none is
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "str"), WRONGTYPE),
    ((EXEC, "s", "bar", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "lst"), WRONGTYPE),
    # AI.SCRIPTSET (deprecated): 5 or 7 arguments, SOURCE after the optional TAG
    ((SSET, "new", "CPU", "SOURCE"), ARITY % SSET),
    ((SSET, "new", "CPU", "TAG", "t", "SOURCE"), ARITY % SSET),
    ((SSET, "new", "CPU", "TAG", "t", "SOURCE", S, "x"), ARITY % SSET),
    (("ai.scriptset", "new"), ARITY % "ai.scriptset"),
    ((SSET, "new", "CPU", "TAG", "t"), MISSING_SOURCE),
    ((SSET, "new", "CPU", "SOURCES", S), MISSING_SOURCE),
    ((SSET, "new", "CPU", "TAG", "t", "SOURCES", S), MISSING_SOURCE),
    ((SSET, "new", "TPU", "SOURCE", S), UNSUPPORTED_DEVICE),
    ((SSET, "str", "CPU", "SOURCE", S), WRONGTYPE),
    ((SSET, "a", "CPU", "TAG", "t", "SOURCE", S), WRONGTYPE),
    # AI.SCRIPTRUN (deprecated)
    ((RUN, "s"), ARITY % RUN),
    ((RUN, "missing", "bar", "INPUTS", "a", "b", "OUTPUTS", "c"), SCRIPT_EMPTY),
    ((RUN, "str", "bar", "INPUTS", "a", "b", "OUTPUTS", "c"), WRONGTYPE),
    (
        (RUN, "s", "bar", "TIMEOUT", 5, "TIMEOUT", 5, "INPUTS", "a", "b", "OUTPUTS", "c"),
        SR_TIMEOUT_TWICE,
    ),
    (
        (RUN, "s", "bar", "TIMEOUT", 5, "INPUTS", "a", "b", "TIMEOUT", 5, "OUTPUTS", "c"),
        SR_TIMEOUT_TWICE,
    ),
    ((RUN, "s", "bar", "TIMEOUT", "x", "INPUTS", "a", "b", "OUTPUTS", "c"), TIMEOUT_INVALID),
    ((RUN, "s", "bar", "TIMEOUT", 0, "INPUTS", "a", "b", "OUTPUTS", "c"), TIMEOUT_INVALID),
    ((RUN, "s", "bar", "TIMEOUT", "INPUTS", "a", "b", "OUTPUTS", "c"), TIMEOUT_INVALID),
    ((RUN, "s", "bar", "INPUTS", "a", "INPUTS", "b", "OUTPUTS", "c"), SR_INPUTS_KEYWORD),
    ((RUN, "s", "bar", "INPUTS", "a", "b", "OUTPUTS", "c", "INPUTS", "d"), SR_INPUTS_SECTION),
    ((RUN, "s", "bar", "INPUTS", "a", "b", "OUTPUTS", "c", "OUTPUTS", "d"), SR_OUTPUTS_KEYWORD),
    ((RUN, "s", "bar", "$", "INPUTS", "a", "b", "OUTPUTS", "c"), SR_VARIADIC_OUTSIDE),
    ((RUN, "s", "bar", "INPUTS", "a", "b", "OUTPUTS", "c", "$", "d"), SR_VARIADIC_OUTSIDE),
    ((RUN, "s", "bar", "INPUTS", "a", "$", "b", "$", "a", "OUTPUTS", "c"), SR_VARIADIC_TWICE),
    ((RUN, "s", "bar", "foo", "INPUTS", "a", "b", "OUTPUTS", "c"), SR_UNRECOGNIZED),
    ((RUN, "s", "bar", "a", "b"), SR_UNRECOGNIZED),
    ((RUN, "s", "bar", "INPUTS", "a", "missing", "OUTPUTS", "c"), TENSOR_EMPTY),
    ((RUN, "s", "bar", "INPUTS", "a", "$", "lst", "OUTPUTS", "c"), WRONGTYPE),
    ((RUN, "s", "bar", "INPUTS", "a", "b", "OUTPUTS", "str"), WRONGTYPE),
]


def setup_keys(con):
    scriptstore(con, "s", SIMPLE, ["bar"], "TAG", "v1")
    store(con, "m", "TORCH", torch_blob("add"))
    set_array(con, "a", np.arange(4, dtype=np.float32).reshape(2, 2))
    set_array(con, "b", np.ones((2, 2), dtype=np.float32))
    con.set("str", "value")
    con.rpush("lst", "x", "y")


def check_malformed_commands_table(env):
    """Every row fails with its exact text (and prefix on the wire), changes nothing, and
    the server still answers."""
    con = connect(env)
    setup_keys(con)
    snapshot = keyspace(con)
    env.assertEqual(len(snapshot), 6)
    with RawConnection(con) as raw:
        for args, expected in MALFORMED:
            env.assertEqual(error_text(env, *args), expected, message=repr(args)[:120])
            env.assertEqual(raw.call(*args), ("-", wire_error(expected)), message=repr(args)[:120])
            env.assertEqual(keyspace(con), snapshot, message=repr(args)[:120])
            env.assertTrue(con.ping())
    if env.useSlaves:
        wait_replica(env, con)
        env.assertEqual(keyspace(env.getSlaveConnection()), snapshot)


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


def check_compile_and_entry_point_errors(env):
    """A compile error replies the compiler's one-line message (before the key's type is
    looked at); each entry point must exist and take (List[Tensor], List[str], List[str]);
    those texts have no ERR prefix. Nothing is stored."""
    con = connect(env)
    con.set("str", "value")
    snapshot = keyspace(con)
    bad_sources = [
        "def bar(a: int):\n",
        SIMPLE.replace("tensors[0] + tensors[1]", "tensors[0].nosuch()"),
        SIMPLE.replace("tensors[0] + tensors[1]", "undefined_name"),
        "import os\n",
        SIMPLE.rstrip("\n"),  # TorchScript wants the last line ended
    ]
    for source in bad_sources:
        want = compile_error(source)
        env.assertTrue(want, message=source)
        for key in ("new", "str"):
            got = error_text(env, STORE, key, "CPU", "ENTRY_POINTS", 1, "bar", "SOURCE", source)
            env.assertEqual(got, want, message=source)
            env.assertNotContains("\n", got)
            env.assertEqual(keyspace(con), snapshot)
        env.assertEqual(error_text(env, SSET, "new", "CPU", "SOURCE", source), want)
    two = "def two(tensors: List[Tensor], keys: List[str]):\n    return tensors[0]\n"
    four = (
        "def four(tensors: List[Tensor], keys: List[str], args: List[str], x: int):\n"
        "    return tensors[0]\n"
    )
    legacy = "def legacy(a: Tensor, b: Tensor, c: Tensor):\n    return a\n"
    swapped = (
        "def swapped(tensors: List[Tensor], args: List[str], keys: List[int]):\n"
        "    return tensors[0]\n"
    )
    strings = (
        "def strings(tensors: List[str], keys: List[str], args: List[str]):\n"
        "    return torch.tensor(1)\n"
    )
    cases = [
        (SIMPLE, ["nope"], NO_FUNCTION % "nope"),
        ("", ["bar"], NO_FUNCTION % "bar"),
        (SIMPLE, ["bar", "Bar"], NO_FUNCTION % "Bar"),
        (SIMPLE + two, ["bar", "two"], PARAM_COUNT % ("two", 2)),
        (four, ["four"], PARAM_COUNT % ("four", 4)),
        (SOURCE, ["helper"], PARAM_COUNT % ("helper", 1)),
        (legacy, ["legacy"], PARAM_TYPES.format("legacy")),
        (swapped, ["swapped"], PARAM_TYPES.format("swapped")),
        (strings, ["strings"], PARAM_TYPES.format("strings")),
    ]
    with RawConnection(con) as raw:
        for source, names, want in cases:
            args = (STORE, "new", "CPU", "ENTRY_POINTS", len(names), *names, "SOURCE", source)
            env.assertEqual(error_text(env, *args), want, message=names)
            env.assertEqual(raw.call(*args), ("-", want.encode()), message=names)
            env.assertEqual(keyspace(con), snapshot)
    # The same sources are accepted by SCRIPTSET, which checks no signature.
    env.assertEqual(con.execute_command(SSET, "legacy", "CPU", "SOURCE", legacy), b"OK")
    if torch.cuda.is_available():
        env.skip()  # the GPU cases below need a host without CUDA
    for device in ("GPU", "gpu:0", "GPU:1"):
        env.assertEqual(
            error_text(env, STORE, "g", device, "ENTRY_POINTS", 1, "bar", "SOURCE", SIMPLE),
            TORCH_GPU,
            message=device,
        )
    env.assertEqual(con.exists("g"), 0)


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


def check_run_errors(env):
    """Run-time failures reply TorchScript's one-line text or RedisAI's (no ERR prefix):
    missing function, output count, non-tensor values, errors inside the function; none
    writes anything and the script keeps working."""
    con = connect(env)
    scriptstore(con, "s", SOURCE, ENTRY_POINTS)
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    set_array(con, "a", a)
    set_array(con, "old", np.ones(2, np.int8))
    set_array(con, "b4", np.ones(4, np.float32))
    con.set("str", "value")
    snapshot = keyspace(con)
    ta, told, tb4 = torch.from_numpy(a), torch.ones(2, dtype=torch.int8), torch.ones(4)
    index_error = run_error(SOURCE, "index", [ta], [], ["7"])
    env.assertContains("index 7 out of range", index_error)
    cases = [
        (("nosuch", ["a"], [], ["c"]), MISSING_FUNCTION % "nosuch"),
        (("Bar", ["a", "a"], [], ["c"]), MISSING_FUNCTION % "Bar"),
        (("bar", ["a", "a"], [], ["c", "d"]), OUTPUT_NUMBER % "bar"),
        (("pair", ["a"], [], ["c"]), OUTPUT_NUMBER % "pair"),
        (("pair", ["a"], [], ["c", "d", "old"]), OUTPUT_NUMBER % "pair"),
        (("triple", ["a", "a"], [], ["c", "old"]), OUTPUT_NUMBER % "triple"),
        (("ignored", [], [], ["c"]), NON_TENSOR % "ignored"),
        (("index", ["a"], ["7"], ["c"]), index_error),
        (("index", ["a"], ["7"], []), index_error),  # runs even without OUTPUTS
        (("bar", ["a"], [], ["old"]), run_error(SOURCE, "bar", [ta], [], [])),
        (("bar", ["a", "old"], [], ["c"]), run_error(SOURCE, "bar", [ta, told], [], [])),
        (("bar", ["a", "b4"], [], ["c"]), run_error(SOURCE, "bar", [ta, tb4], [], [])),
        (("scale", ["a"], ["x", "1"], ["c"]), run_error(SOURCE, "scale", [ta], [], ["x", "1"])),
        (("scale", ["a"], ["1"], ["c"]), run_error(SOURCE, "scale", [ta], [], ["1"])),
    ]
    with RawConnection(con) as raw:
        for (fn, inputs, args, outputs), want in cases:
            cmd = (
                EXEC,
                "s",
                fn,
                "INPUTS",
                len(inputs),
                *inputs,
                "ARGS",
                len(args),
                *args,
                "OUTPUTS",
                len(outputs),
                *outputs,
            )
            env.assertEqual(error_text(env, *cmd), want, message=(fn, inputs, outputs))
            env.assertEqual(raw.call(*cmd), ("-", want.encode()), message=(fn, inputs))
            env.assertNotContains("\n", want)
            env.assertEqual(keyspace(con), snapshot, message=fn)
    # The script still works.
    env.assertEqual(scriptexecute(con, "s", "bar", inputs=["a", "a"], outputs=["c"]), b"OK")
    np.testing.assert_array_equal(get_array(con, "c"), a + a)
    wait_replica(env, con)
    if env.useSlaves:
        replica = env.getSlaveConnection()
        env.assertEqual(get_array(replica, "old").tolist(), [1, 1])
        np.testing.assert_array_equal(get_array(replica, "c"), a + a)


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
        (("call_model", ["x", "y"], ["missing"], []), "ERR model key is empty"),
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

    def run(c, *args):
        """The script runs redis.execute(*args); the key it declares is allowed."""
        return c.execute_command(
            EXEC,
            "allowed:s",
            "command",
            "KEYS",
            1,
            "allowed:k",
            "INPUTS",
            1,
            "allowed:x",
            "ARGS",
            len(args),
            *args,
        )

    snapshot = keyspace(con)
    # Redis' own NOPERM texts (the command in lower case, as Redis names it).
    no_command = CALL_ERROR + "NOPERM this user has no permissions to run the 'incrby' command"
    no_key = (
        CALL_ERROR + "NOPERM this user has no permissions to access one of the keys "
        "used as arguments"
    )
    forbidden = [
        (nocmd, ("INCRBY", "allowed:n", "5"), no_command),
        (nocmd, ("incrby", "allowed:n", "5"), no_command),
        (nocmd, ("SET", "secret", "v"), no_key),
        (nokey, ("SET", "secret", "v"), no_key),
        (nokey, ("APPEND", "secret", "v"), no_key),
    ]
    for c, args, want in forbidden:
        env.assertEqual(
            error_text(
                env,
                "AI.SCRIPTEXECUTE",
                "allowed:s",
                "command",
                "KEYS",
                1,
                "allowed:k",
                "INPUTS",
                1,
                "allowed:x",
                "ARGS",
                len(args),
                *args,
                conn=c,
            ),
            want,
            message=args,
        )
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
        env.assertEqual(
            raw.call("AI.INFO", "s"),
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
    env.assertEqual(error_text(env, "AI.INFO", "s"), "cannot find run info for key")
    if env.useSlaves:  # statistics are per server
        wait_replica(env, con)
        scriptstore(con, "r", SIMPLE, ["bar"])
        scriptexecute(con, "r", "bar", inputs=["a", "a"], outputs=["c"])
        wait_replica(env, con)
        env.assertEqual(script_info(env.getSlaveConnection(), "r")["calls"], 0)


def scripts_state(con, keys):
    return {k: con.execute_command(GET, k) for k in keys}


def test_persistence(env):
    """DEBUG RELOAD keeps scripts (SCRIPTGET equal, still executable, fresh statistics);
    DUMP/RESTORE copies one; the replica receives them; after an AOF rewrite SCRIPTSTORE
    scripts are AI.SCRIPTSTORE and SCRIPTSET scripts AI.SCRIPTSET, and a restart rebuilds
    both; writes made by redis.execute are replayed from the AOF."""
    con = connect(env)
    scriptstore(con, "s", SOURCE, ENTRY_POINTS, "TAG", "v1")
    scriptstore(con, "plain", SIMPLE, ["bar"], device="cpu")
    legacy = "def legacy(x, y):\n    \"\"\"Adds.\"\"\"\n    return x + y\n"
    env.assertEqual(con.execute_command(SSET, "legacy", "CPU", "SOURCE", legacy), b"OK")
    env.assertEqual(con.execute_command(SSET, "tagged", "CPU", "TAG", "t", "SOURCE", legacy), b"OK")
    keys = ["s", "plain", "legacy", "tagged"]
    state = scripts_state(con, keys)
    env.assertEqual(meta_dict(state["legacy"])["Entry Points"], [])
    a = np.arange(4, dtype=np.float32)
    set_array(con, "a", a)

    def runs_everywhere(con):
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

    wait_replica(env, con)
    runs_everywhere(con)
    env.assertEqual(script_info(con, "s")["calls"], 1)
    env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
    env.assertEqual(script_info(con, "s")["calls"], 0)
    env.assertEqual(
        sorted(con.execute_command(SCAN)),
        [[b"legacy", b""], [b"plain", b""], [b"s", b"v1"], [b"tagged", b"t"]],
    )
    runs_everywhere(con)
    env.assertTrue(con.restore("copy", 0, con.dump("s")))
    env.assertEqual(con.execute_command(GET, "copy"), state["s"])
    env.assertEqual(scriptexecute(con, "copy", "bar", inputs=["a", "a"], outputs=["c"]), b"OK")
    con.delete("copy")
    wait_replica(env, con)
    if not env.useAof:
        env.skip()
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
    env.assertContains(resp_command(SSET, "legacy", "CPU", "TAG", "", "SOURCE", legacy), base)
    env.assertContains(resp_command(SSET, "tagged", "CPU", "TAG", "t", "SOURCE", legacy), base)
    env.stop()
    env.start()
    con = connect(env)
    runs_everywhere(con)
    env.assertEqual(con.mget("w:str", "w:num"), [b"hello", b"41"])
    env.assertEqual(
        scriptexecute(con, "calls", "counter", keys=["w:num"], args=["1"], outputs=["v"]), b"OK"
    )
    env.assertEqual(con.get("w:num"), b"42")


def test_commands(env):
    """Parsing, storing, reading and deleting scripts (one server for all the checks)."""
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(
        env,
        check_malformed_commands_table,
        check_store_get_del_scan,
        check_compile_and_entry_point_errors,
    )  # last: skips its tail with CUDA


def test_execution(env):
    """Running scripts: entry-point shapes, run-time errors, transactions, AI.INFO."""
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(env, check_entry_point_shapes, check_run_errors, check_transactions, check_info)


def test_calls(env):
    """Redis and model calls from scripts, under the caller's ACL user."""
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(env, check_redis_calls, check_acl)
