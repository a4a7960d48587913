"""Deprecated script forms as SmartRedis and older clients send them (spec 4.7, 4.8, 10.2):
AI.SCRIPTSET with the source of plain Python functions (positional Tensor parameters,
docstrings, torch calls, x.device), AI.SCRIPTRUN's positional calling with the `$`
variadic marker, the legacy call made by AI.SCRIPTEXECUTE for non-entry functions, and
the errors of the legacy convention. Parse errors of both commands are in
test_scripts.py."""

import inspect
from error_texts import (
    LEGACY_UNSUPPORTED_TYPE,
    LEGACY_WRONG_INPUTS,
    MISSING_FUNCTION,
    OUTPUT_NUMBER,
)
from typing import List  # noqa: UP035 - TorchScript's spelling

import numpy as np
import torch
from includes import (
    RawConnection,
    error_text,
    keyspace,
    meta_dict,
    run_checks,
    wait_replica,
)
from model_zoo import connect, get_array, servers, set_array

SSET, RUN, EXEC, GET = "AI.SCRIPTSET", "AI.SCRIPTRUN", "AI.SCRIPTEXECUTE", "AI.SCRIPTGET"


# The functions below are sent as their source, exactly as SmartRedis' set_function does
# (inspect.getsource), and also run here in process for the expected values.


def add_tensors(a, b):
    """Adds two tensors (SmartRedis sends the source of functions like this one)."""
    return a + b


def normalize(x):
    """Scales x into [0, 1], with the constant made on x's own device."""
    lo = torch.min(x)
    span = torch.max(x) - lo
    return (x - lo) / torch.where(span > 0, span, torch.ones(1, device=x.device))


def concat(x: torch.Tensor, rest: List[torch.Tensor]):  # noqa: UP006
    return torch.cat([x] + rest, dim=0)


def sum_all(xs: List[torch.Tensor]):  # noqa: UP006
    out = torch.zeros_like(xs[0])
    for t in xs:
        out = out + t
    return out


def min_max(x):
    # two outputs, as a tuple
    return torch.min(x, dim=0)[0], torch.max(x, dim=0)[0]


def with_count(x, n: int):
    return x * n


FUNCTIONS = [add_tensors, normalize, concat, sum_all, min_max, with_count]
SOURCES = {f.__name__: inspect.getsource(f) for f in FUNCTIONS}
ALL_SOURCE = "\n\n".join(SOURCES.values())

# An AI.SCRIPTSTORE script: entry points and a helper that is not one.
STORED = '''\
def bar(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]

def counts(tensors: List[Tensor], keys: List[str], args: List[str]):
    return torch.tensor([len(tensors), len(keys), len(args)])

def helper(x: Tensor):
    return x * 3
'''


def one_line(text):
    return str(text).replace("\r", " ").replace("\n", " ").strip()


def run_error(source, fn, *args):
    """The one-line error of calling fn of source, compiled as the server does (the
    traceback quotes the lines around the call, so the source must be the stored one)."""
    cu = torch.jit.CompilationUnit()
    cu.define(source)
    try:
        with torch.inference_mode():
            cu.find_function(fn.__name__)(*args)
    except Exception as e:  # noqa: BLE001 - any framework error is the expected text
        return one_line(e)
    raise AssertionError("call succeeds")


def scriptrun(con, key, fn, inputs, outputs, *head):
    return con.execute_command(RUN, key, fn, *head, "INPUTS", *inputs, "OUTPUTS", *outputs)


def store_arrays(con, rng):
    arrays = {
        "a": rng.standard_normal((2, 3)).astype(np.float32),
        "b": rng.standard_normal((2, 3)).astype(np.float32),
        "c": rng.standard_normal((4, 3)).astype(np.float32),
        "v": np.array([3, -1, 7, 2], np.float32),
    }
    for key, arr in arrays.items():
        set_array(con, key, arr)
    return arrays, {k: torch.from_numpy(v) for k, v in arrays.items()}


def check_scriptset_and_scriptrun(env):
    """SCRIPTSET stores a function's source verbatim with no entry points; SCRIPTRUN maps
    the inputs onto positional Tensor parameters, a List[Tensor] parameter taking all the
    rest (`$` or not), ignores surplus inputs, flattens tuples, and matches the functions
    run in process. The replica (and an AOF restart) rebuild the scripts."""
    con = connect(env)
    _, t = store_arrays(con, np.random.default_rng(11))
    for name, source in SOURCES.items():
        env.assertEqual(con.execute_command(SSET, name, "CPU", "SOURCE", source), b"OK")
        env.assertEqual(con.execute_command(GET, name, "SOURCE"), source.encode())
    env.assertEqual(
        con.execute_command(SSET, "all", "cpu", "TAG", "v2", "SOURCE", ALL_SOURCE), b"OK"
    )
    env.assertEqual(con.type("all"), b"AI_SCRIPT")
    with RawConnection(con) as raw:
        env.assertEqual(
            raw.call(GET, "add_tensors", "META"),
            (
                "*",
                [
                    ("$", b"device"),
                    ("$", b"CPU"),
                    ("$", b"tag"),
                    ("$", b""),
                    ("$", b"Entry Points"),
                    ("*", []),
                ],
            ),
        )
    env.assertEqual(
        meta_dict(con.execute_command(GET, "all")),
        {"device": b"cpu", "tag": b"v2", "Entry Points": [], "source": ALL_SOURCE.encode()},
    )

    def check(key, want):
        got = get_array(con, key)
        env.assertEqual(got.dtype, np.float32, message=key)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6, err_msg=key)

    for script in ("add_tensors", "all"):
        env.assertEqual(scriptrun(con, script, "add_tensors", ["a", "b"], ["sum"]), b"OK")
        check("sum", add_tensors(t["a"], t["b"]))
    # Surplus inputs are ignored; keywords are case-insensitive; TIMEOUT before INPUTS.
    env.assertEqual(
        con.execute_command(
            "ai.scriptrun",
            "all",
            "add_tensors",
            "timeout",
            60000000,
            "inputs",
            "b",
            "b",
            "a",
            "outputs",
            "sum",
        ),
        b"OK",
    )
    check("sum", add_tensors(t["b"], t["b"]))
    env.assertEqual(scriptrun(con, "normalize", "normalize", ["v"], ["n"]), b"OK")
    check("n", normalize(t["v"]))
    env.assertEqual(get_array(con, "n").tolist(), [0.5, 0.0, 1.0, 0.375])
    # A List[Tensor] parameter takes every remaining input, `$` marking them or not.
    want = concat(t["a"], [t["b"], t["c"]])
    for inputs in (["a", "$", "b", "c"], ["a", "b", "c"], ["a", "b", "$", "c"]):
        env.assertEqual(scriptrun(con, "concat", "concat", inputs, ["cat"]), b"OK")
        check("cat", want)
    env.assertEqual(get_array(con, "cat").shape, (8, 3))
    env.assertEqual(scriptrun(con, "all", "concat", ["c", "$", "a"], ["cat"]), b"OK")
    check("cat", concat(t["c"], [t["a"]]))
    for inputs in (["$", "a", "b", "a"], ["a"]):
        env.assertEqual(scriptrun(con, "sum_all", "sum_all", inputs, ["s"]), b"OK")
        check("s", sum_all([t[k] for k in inputs if k != "$"]))
    # Tuples are flattened into the outputs.
    env.assertEqual(scriptrun(con, "all", "min_max", ["c"], ["lo", "hi"]), b"OK")
    lo, hi = min_max(t["c"])
    check("lo", lo)
    check("hi", hi)
    # With no output keys the result is dropped.
    snapshot = keyspace(con)
    env.assertEqual(con.execute_command(RUN, "all", "min_max", "INPUTS", "c", "OUTPUTS"), b"OK")
    env.assertEqual(keyspace(con), snapshot)
    # AI.SCRIPTEXECUTE on these scripts makes the same legacy call (KEYS, ARGS unused).
    env.assertEqual(
        con.execute_command(
            EXEC,
            "all",
            "add_tensors",
            "KEYS",
            1,
            "k",
            "INPUTS",
            3,
            "a",
            "b",
            "c",
            "ARGS",
            1,
            "x",
            "OUTPUTS",
            1,
            "sum2",
        ),
        b"OK",
    )
    check("sum2", add_tensors(t["a"], t["b"]))
    env.assertEqual(
        con.execute_command(EXEC, "concat", "concat", "INPUTS", 2, "c", "c", "OUTPUTS", 1, "cat2"),
        b"OK",
    )
    check("cat2", concat(t["c"], [t["c"]]))
    outputs = ["sum", "n", "cat", "s", "lo", "hi", "sum2", "cat2"]
    state = {name: con.execute_command(GET, name) for name in [*SOURCES, "all"]}
    wait_replica(env, con)
    for c in servers(env)[1:]:
        env.assertEqual({name: c.execute_command(GET, name) for name in state}, state)
        for key in outputs:
            env.assertEqual(
                c.execute_command("AI.TENSORGET", key, "BLOB"),
                con.execute_command("AI.TENSORGET", key, "BLOB"),
                message=key,
            )
    if env.useAof:  # the AOF replays the AI.SCRIPTSET commands as they came
        env.stop()
        env.start()
        con = connect(env)
        env.assertEqual({name: con.execute_command(GET, name) for name in state}, state)
        env.assertEqual(scriptrun(con, "all", "add_tensors", ["a", "b"], ["sum"]), b"OK")
        check("sum", add_tensors(t["a"], t["b"]))


def check_legacy_errors(env):
    """Errors of the legacy call (no ERR prefix), from SCRIPTRUN and SCRIPTEXECUTE alike:
    more parameters than inputs, a parameter that is neither Tensor nor List[Tensor], a
    missing function, an output count that differs, a failing function. None writes
    anything; each counts as an error in AI.INFO."""
    con = connect(env)
    _, t = store_arrays(con, np.random.default_rng(12))
    con.execute_command(SSET, "all", "CPU", "SOURCE", ALL_SOURCE)
    set_array(con, "old", np.ones(3, np.int16))
    snapshot = keyspace(con)
    cases = [
        (("add_tensors", ["a"], ["out"]), LEGACY_WRONG_INPUTS % "add_tensors"),
        (("add_tensors", [], ["out"]), LEGACY_WRONG_INPUTS % "add_tensors"),
        (("concat", ["a"], ["out"]), LEGACY_WRONG_INPUTS % "concat"),
        (("sum_all", [], ["out"]), LEGACY_WRONG_INPUTS % "sum_all"),
        (("with_count", ["a", "b"], ["out"]), LEGACY_UNSUPPORTED_TYPE % "with_count"),
        (("with_count", ["a"], ["out"]), LEGACY_WRONG_INPUTS % "with_count"),
        (("nosuch", ["a"], ["out"]), MISSING_FUNCTION % "nosuch"),
        (("Add_tensors", ["a", "b"], ["out"]), MISSING_FUNCTION % "Add_tensors"),
        (("add_tensors", ["a", "b"], ["out", "old"]), OUTPUT_NUMBER % "add_tensors"),
        (("min_max", ["a"], ["old"]), OUTPUT_NUMBER % "min_max"),
        (("add_tensors", ["a", "c"], ["out"]), run_error(ALL_SOURCE, add_tensors, t["a"], t["c"])),
        (("concat", ["a", "v"], ["old"]), run_error(ALL_SOURCE, concat, t["a"], [t["v"]])),
    ]
    with RawConnection(con) as raw:
        for (fn, inputs, outputs), want in cases:
            for cmd in (
                (RUN, "all", fn, "INPUTS", *inputs, "OUTPUTS", *outputs),
                (
                    EXEC,
                    "all",
                    fn,
                    "INPUTS",
                    len(inputs),
                    *inputs,
                    "OUTPUTS",
                    len(outputs),
                    *outputs,
                ),
            ):
                env.assertEqual(error_text(env, *cmd), want, message=cmd)
                env.assertEqual(raw.call(*cmd), ("-", want.encode()), message=cmd)
                env.assertEqual(keyspace(con), snapshot, message=cmd)
    # SCRIPTRUN's `$` changes nothing: still too few inputs, still an unsupported type.
    env.assertEqual(
        error_text(env, RUN, "all", "concat", "INPUTS", "$", "a", "OUTPUTS", "o"),
        LEGACY_WRONG_INPUTS % "concat",
    )
    env.assertEqual(
        error_text(env, RUN, "all", "with_count", "INPUTS", "a", "$", "b", "OUTPUTS", "o"),
        LEGACY_UNSUPPORTED_TYPE % "with_count",
    )
    env.assertEqual(keyspace(con), snapshot)
    info = meta_dict(con.execute_command("AI.INFO", "all"))
    runs = 4 * len(cases) + 2  # each case: two commands, sent twice
    env.assertEqual((info["calls"], info["errors"]), (runs, runs))
    wait_replica(env, con)
    for c in servers(env)[1:]:
        env.assertEqual(c.exists("out", "o"), 0)
        env.assertEqual(get_array(c, "old").tolist(), [1, 1, 1])


def check_scriptrun_on_stored_scripts(env):
    """SCRIPTRUN calls an entry point with the new convention (its inputs, no keys, no
    args) and any other function the legacy way; SCRIPTEXECUTE does the same for a
    function that is not an entry point."""
    con = connect(env)
    arrays, _ = store_arrays(con, np.random.default_rng(13))
    env.assertEqual(
        con.execute_command(
            "AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 2, "bar", "counts", "SOURCE", STORED
        ),
        b"OK",
    )
    env.assertEqual(scriptrun(con, "s", "bar", ["a", "b"], ["c1"]), b"OK")
    np.testing.assert_allclose(get_array(con, "c1"), arrays["a"] + arrays["b"])
    env.assertEqual(scriptrun(con, "s", "counts", ["a", "b", "$", "c"], ["n"]), b"OK")
    env.assertEqual(get_array(con, "n").tolist(), [3, 0, 0])
    env.assertEqual(scriptrun(con, "s", "helper", ["c", "a"], ["h"]), b"OK")
    np.testing.assert_allclose(get_array(con, "h"), arrays["c"] * 3, rtol=1e-6)
    env.assertEqual(
        con.execute_command(
            EXEC,
            "s",
            "helper",
            "KEYS",
            1,
            "k",
            "INPUTS",
            1,
            "v",
            "ARGS",
            2,
            "x",
            "y",
            "OUTPUTS",
            1,
            "h",
        ),
        b"OK",
    )
    np.testing.assert_allclose(get_array(con, "h"), arrays["v"] * 3, rtol=1e-6)
    # The entry point still gets its keys and args through SCRIPTEXECUTE.
    env.assertEqual(
        con.execute_command(
            EXEC,
            "s",
            "counts",
            "KEYS",
            2,
            "k1",
            "k2",
            "INPUTS",
            1,
            "v",
            "ARGS",
            1,
            "x",
            "OUTPUTS",
            1,
            "n",
        ),
        b"OK",
    )
    env.assertEqual(get_array(con, "n").tolist(), [1, 2, 1])
    env.assertEqual(
        error_text(env, RUN, "s", "helper", "INPUTS", "OUTPUTS", "h"),
        LEGACY_WRONG_INPUTS % "helper",
    )


def test_legacy(env):
    """The deprecated forms, on one server (the last check restarts it in the AOF env)."""
    connect(env)  # links the replica first (run_checks waits for it)
    run_checks(
        env, check_scriptrun_on_stored_scripts, check_legacy_errors, check_scriptset_and_scriptrun
    )
