"""Error replies of the script commands (spec 4.2-4.8): every parse error of SCRIPTSTORE,
SCRIPTGET, SCRIPTDEL, SCRIPTEXECUTE, SCRIPTSET and SCRIPTRUN in the order RedisAI checks
them, compile and entry-point errors, and run-time errors. Every failing command must
leave the keyspace as it was and the server answering."""

import numpy as np
import torch
from error_texts import (
    AFTER_TIMEOUT,
    ARGS_ARGS,
    ARGS_COUNT,
    ARITY,
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
    UNSUPPORTED_DEVICE,
    WRONGTYPE,
)
from includes import (
    check_refused,
    RawConnection,
    error_text,
    keyspace,
    run_checks,
    wait_replica,
)
from model_zoo import (
    set_operands,
    connect,
    get_array,
    set_array,
    store,
    torch_blob,
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
    compile_error,
    run_error,
    scriptstore,
    scriptexecute,
)


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
    set_operands(con)


def check_malformed_commands_table(env):
    """Every row fails with its exact text (and prefix on the wire), changes nothing, and
    the server still answers."""
    con = connect(env)
    setup_keys(con)
    env.assertEqual(len(keyspace(con)), 6)
    check_refused(env, con, MALFORMED, wire_error)


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


def test_store_on_gpu_without_cuda(env):
    """A script for a GPU on a host without CUDA is refused with RedisAI's text."""
    if torch.cuda.is_available():
        env.skip()  # needs a host without CUDA
    con = connect(env)
    for device in ("GPU", "gpu:0", "GPU:1"):
        env.assertEqual(
            error_text(env, STORE, "g", device, "ENTRY_POINTS", 1, "bar", "SOURCE", SIMPLE),
            TORCH_GPU,
            message=device,
        )
    env.assertEqual(con.exists("g"), 0)


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


def test_parse_errors(env):
    """The malformed commands table, then compile and entry-point errors (one server)."""
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(env, check_malformed_commands_table, check_compile_and_entry_point_errors)


def test_run_errors(env):
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(env, check_run_errors)
