"""Errors of AI.DAGEXECUTE, AI.DAGEXECUTE_RO, AI.DAGRUN and AI.DAGRUN_RO (spec 5.2): every
parse error with its exact text as sent (ERR prefix or not), the order in which RedisAI
finds them, and a table of refused commands after each of which the keyspace (master and
replica) and the run statistics are unchanged and the server answers. Also the forms the
parser accepts although they look odd (TIMEOUT 0, a tensor named TIMEOUT, lower case)."""

import numpy as np
from error_texts import (
    ARITY,
    DAG_EMPTY,
    DAG_UNEXPECTED,
    DAG_UNSUPPORTED,
    DEPRECATED_OP,
    INPUTS_MISMATCH,
    INPUT_UNKNOWN,
    INVALID_DTYPE,
    LOAD_ARGS,
    LOAD_COUNT,
    LOAD_MISSING,
    MISSING_ARGS,
    MODEL_EMPTY,
    NEEDS_KEYWORD,
    NEW_OP_IN_OLD,
    NO_INPUTS,
    OUTPUTS_MISMATCH,
    PERSIST_ARGS,
    PERSIST_COUNT,
    PERSIST_MISSING,
    PERSIST_RO,
    PERSIST_UNIQUE,
    PERSIST_UNKNOWN,
    ROUTING_MISSING,
    SCRIPT_EMPTY,
    SCRIPT_RO,
    SR_UNRECOGNIZED,
    TENSOR_EMPTY,
    TENSOR_FORMAT,
    TIMEOUT_INVALID,
    TIMEOUT_IN_OP,
    TIMEOUT_MISSING,
    TRANSACTION,
    VALUES_COUNT,
    WRONGTYPE,
    err,
)
from includes import RawConnection, keyspace, meta_dict, run_checks, wait_replica
from model_zoo import connect, set_array, store, torch_blob

DAG, DAG_RO, DAGRUN, DAGRUN_RO = "AI.DAGEXECUTE", "AI.DAGEXECUTE_RO", "AI.DAGRUN", "AI.DAGRUN_RO"


SOURCE = """\
def add(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] + tensors[1]
"""

# Ops used below. Keys: a, b (FLOAT [2] tensors), m (TORCH add model, 2 inputs, 1 output),
# s (script with entry point add), str (a string); missing and zz do not exist.
TG = ("AI.TENSORGET", "a", "VALUES")
TS = ("AI.TENSORSET", "n", "FLOAT", 1, "VALUES", 1)
ME = ("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "c")
SE = ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "a", "OUTPUTS", 1, "c")
MR = ("AI.MODELRUN", "m", "INPUTS", "a", "a", "OUTPUTS", "c")
SR = ("AI.SCRIPTRUN", "s", "add", "INPUTS", "a", "a", "OUTPUTS", "c")
NOCMD = ("AI.NOCOMMAND", "a")


def d(command, header, *ops):
    args = [command, *header]
    for op in ops:
        args += ["|>", *op]
    return args


LOAD_A = ["LOAD", 1, "a"]

# (command, the error exactly as sent without the leading '-')
ERRORS = [
    # arity: DAGEXECUTE(_RO) names itself in upper case, DAGRUN(_RO) as typed
    ([DAG], err(MISSING_ARGS) % DAG),
    (d(DAG, ["ROUTING", "a"], ("AI.TENSORGET",)), err(MISSING_ARGS) % DAG),
    (["ai.dagexecute", "LOAD", 1, "a", "|>"], err(MISSING_ARGS) % DAG),
    ([DAG_RO, "LOAD", 1, "a", "|>"], err(MISSING_ARGS) % DAG_RO),
    (["Ai.DagExecute_RO"], err(MISSING_ARGS) % DAG_RO),
    ([DAGRUN], err(ARITY) % DAGRUN),
    ([DAGRUN, "|>", "AI.TENSORGET"], err(ARITY) % DAGRUN),
    (["ai.dagrun", "LOAD", 1], err(ARITY) % "ai.dagrun"),
    ([DAGRUN_RO, "|>", "x"], err(ARITY) % DAGRUN_RO),
    # LOAD
    ([DAG, "PERSIST", 1, "n", "LOAD", 1], err(LOAD_MISSING)),
    (d(DAG, ["LOAD", "notnumber"], TG), err(LOAD_COUNT)),
    (d(DAG, ["LOAD", 0, "a"], TG), err(LOAD_COUNT)),
    (d(DAG, ["LOAD", -1, "a"], TG), err(LOAD_COUNT)),
    (d(DAG, ["LOAD", "1.0", "a"], TG), err(LOAD_COUNT)),
    ([DAG, "ROUTING", "a", "LOAD", 2, "a"], err(LOAD_ARGS)),
    (d(DAG, ["LOAD", 2, "a", "missing"], TG), err(TENSOR_EMPTY)),
    (d(DAGRUN_RO, ["LOAD", 1, "missing"], TG), err(TENSOR_EMPTY)),
    (d(DAG, ["LOAD", 1, "str"], TG), WRONGTYPE),
    (d(DAG, ["LOAD", 1, "m"], TG), WRONGTYPE),
    # PERSIST
    (d(DAG_RO, ["PERSIST", 1, "a"], TG), err(PERSIST_RO)),
    (d(DAG_RO, ["LOAD", 1, "a", "PERSIST", 1, "a"], TG), err(PERSIST_RO)),
    (d(DAGRUN_RO, ["PERSIST", 1, "n"], TS), err(PERSIST_RO)),
    ([DAG, "ROUTING", "a", "LOAD", 1, "a", "PERSIST", 1], err(PERSIST_MISSING)),
    (d(DAG, ["PERSIST", "x"], TS), err(PERSIST_COUNT)),
    (d(DAG, ["PERSIST", 0, "n"], TS), err(PERSIST_COUNT)),
    (d(DAG, ["PERSIST", -3, "n"], TS), err(PERSIST_COUNT)),
    (d(DAG, ["PERSIST", 2, "n", "n"], TS), err(PERSIST_UNIQUE)),
    (d(DAGRUN, ["PERSIST", 3, "n", "o", "n"], TS), err(PERSIST_UNIQUE)),
    ([DAG, "LOAD", 1, "a", "PERSIST", 3, "n", "o"], err(PERSIST_ARGS)),
    # ROUTING and TIMEOUT
    ([DAG, "LOAD", 2, "a", "b", "ROUTING"], err(ROUTING_MISSING)),
    ([DAG, "LOAD", 2, "a", "b", "TIMEOUT"], err(TIMEOUT_MISSING)),
    (d(DAG, ["ROUTING", "a", "TIMEOUT", "abc"], TG), err(TIMEOUT_INVALID)),
    (d(DAG, ["ROUTING", "a", "TIMEOUT", "1.5"], TG), err(TIMEOUT_INVALID)),
    (d(DAGRUN, ["TIMEOUT", ""], TG), err(TIMEOUT_INVALID)),
    # anything else before the first op, a repeated keyword, a trailing lone |>
    (d(DAG, ["ROUTING", "a", "FOO"], TG), err(DAG_UNEXPECTED) % "FOO"),
    (d(DAG, ["ROUTING", "a", "ROUTING", "b"], TG), err(DAG_UNEXPECTED) % "ROUTING"),
    (d(DAG, ["LOAD", 1, "a", "load", 1, "b"], TG), err(DAG_UNEXPECTED) % "load"),
    (d(DAG, ["PERSIST", 1, "n", "PERSIST", 1, "o"], TS), err(DAG_UNEXPECTED) % "PERSIST"),
    (d(DAG, ["ROUTING", "a", "TIMEOUT", 5, "TIMEOUT", 6], TG), err(DAG_UNEXPECTED) % "TIMEOUT"),
    (d(DAG, ["ROUTING", "a", "INPUTS"], TG), err(DAG_UNEXPECTED) % "INPUTS"),
    (d(DAGRUN, ["KEYS", 1, "a"], TG), err(DAG_UNEXPECTED) % "KEYS"),
    (
        d(DAG, ["PERSIST", 3, "n", "o"], TS),
        err(DAG_UNEXPECTED) % "AI.TENSORSET",
    ),  # `|>` taken as a key
    ([DAG, "ROUTING", "a", "|>", *TS, "|>"], err(DAG_UNEXPECTED) % "|>"),
    ([DAG, "ROUTING", "a", "|>", *TG, "|>", "|>"], err(DAG_UNEXPECTED) % "|>"),
    ([DAG, "LOAD", 1, "a", "ROUTING", "a", "|>"], err(DAG_UNEXPECTED) % "|>"),
    # ... found before the keyword check and before any op is parsed
    ([DAG, "TIMEOUT", 5, "|>", *NOCMD, "|>"], err(DAG_UNEXPECTED) % "|>"),
    # DAGEXECUTE needs LOAD, PERSIST or ROUTING; every DAG needs an op
    (d(DAG, ["TIMEOUT", 5], TS), err(NEEDS_KEYWORD)),
    ([DAG_RO, "|>", *TS], err(NEEDS_KEYWORD)),
    ([DAG, "ROUTING", "a", "LOAD", 1, "a"], err(DAG_EMPTY)),
    ([DAG_RO, "LOAD", 1, "a", "TIMEOUT", 5], err(DAG_EMPTY)),
    ([DAGRUN, "LOAD", 1, "a"], err(DAG_EMPTY)),
    ([DAGRUN_RO, "TIMEOUT", 5, "ROUTING", "a"], err(DAG_EMPTY)),
    # op names
    (d(DAG, ["ROUTING", "a"], NOCMD), DAG_UNSUPPORTED),
    (d(DAG, ["ROUTING", "a"], ("SET", "x", "1")), DAG_UNSUPPORTED),
    (d(DAG, ["ROUTING", "a"], ("AI.TENSORGETX", "a")), DAG_UNSUPPORTED),
    (
        d(DAG, ["ROUTING", "a"], ("AI.MODELSTORE", "x", "TORCH", "CPU", "BLOB", "x")),
        DAG_UNSUPPORTED,
    ),
    (d(DAGRUN, [], ("AI.DAGRUN", "LOAD", 1, "a")), DAG_UNSUPPORTED),
    ([DAG, "ROUTING", "a", "|>", "|>", *TG], DAG_UNSUPPORTED),  # an empty op
    (d(DAG_RO, LOAD_A, SE), err(SCRIPT_RO)),
    (d(DAG_RO, LOAD_A, TG, ("ai.scriptexecute", *SE[1:])), err(SCRIPT_RO)),
    (d(DAG, LOAD_A, MR), DEPRECATED_OP % "AI.MODELRUN"),
    (d(DAG, LOAD_A, ("ai.modelrun", *MR[1:])), DEPRECATED_OP % "AI.MODELRUN"),
    (d(DAG, LOAD_A, SR), DEPRECATED_OP % "AI.SCRIPTRUN"),
    (d(DAG_RO, LOAD_A, SR), DEPRECATED_OP % "AI.SCRIPTRUN"),
    (d(DAGRUN, LOAD_A, ME), NEW_OP_IN_OLD % "AI.MODELEXECUTE"),
    (d(DAGRUN_RO, LOAD_A, ME), NEW_OP_IN_OLD % "AI.MODELEXECUTE"),
    (d(DAGRUN, [], SE), NEW_OP_IN_OLD % "AI.SCRIPTEXECUTE"),
    (d(DAGRUN_RO, LOAD_A, SE), NEW_OP_IN_OLD % "AI.SCRIPTEXECUTE"),
    # TIMEOUT inside an op, once the op parsed by its own rules
    (d(DAG, LOAD_A, (*ME, "TIMEOUT", 100)), err(TIMEOUT_IN_OP)),
    (d(DAG, LOAD_A, (*SE, "TIMEOUT", 100)), err(TIMEOUT_IN_OP)),
    (d(DAG_RO, LOAD_A, (*ME, "timeout", 1)), err(TIMEOUT_IN_OP)),
    (
        d(DAGRUN, LOAD_A, ("AI.MODELRUN", "m", "TIMEOUT", 100, "INPUTS", "a", "a", "OUTPUTS", "c")),
        err(TIMEOUT_IN_OP),
    ),
    (
        d(
            DAGRUN,
            LOAD_A,
            ("AI.SCRIPTRUN", "s", "add", "TIMEOUT", 100, "INPUTS", "a", "a", "OUTPUTS", "c"),
        ),
        err(TIMEOUT_IN_OP),
    ),
    (
        d(
            DAG,
            LOAD_A,
            (
                "AI.MODELEXECUTE",
                "missing",
                "INPUTS",
                2,
                "a",
                "a",
                "OUTPUTS",
                1,
                "c",
                "TIMEOUT",
                100,
            ),
        ),
        err(MODEL_EMPTY),
    ),
    (d(DAG, LOAD_A, (*ME, "TIMEOUT", "abc")), err(TIMEOUT_INVALID)),
    (d(DAG, LOAD_A, (*ME, "TIMEOUT")), err(TIMEOUT_MISSING)),
    (d(DAG, LOAD_A, (*SE, "TIMEOUT")), err(TIMEOUT_MISSING) + " in AI.SCRIPTEXECUTE"),
    # AI.TENSORGET / AI.TENSORSET arity, named in upper case, without ERR
    (d(DAG, LOAD_A, ("AI.TENSORGET",)), ARITY % "AI.TENSORGET"),
    (d(DAG, LOAD_A, ("ai.tensorget",)), ARITY % "AI.TENSORGET"),
    (d(DAG, LOAD_A, ("AI.TENSORGET", "a", "META", "BLOB", "VALUES")), ARITY % "AI.TENSORGET"),
    (d(DAG, ["ROUTING", "a"], ("AI.TENSORSET", "n", "FLOAT")), ARITY % "AI.TENSORSET"),
    (d(DAG, LOAD_A, ("AI.TENSORSET",)), ARITY % "AI.TENSORSET"),
    # the ops' own rules
    (d(DAG, ["ROUTING", "a"], ("AI.TENSORSET", "n", "INT128", 1)), err(INVALID_DTYPE)),
    (
        d(DAG, ["ROUTING", "a"], ("AI.TENSORSET", "n", "FLOAT", 2, "VALUES", 1)),
        err(VALUES_COUNT),
    ),
    (d(DAG, ["ROUTING", "a"], TS, ("AI.TENSORGET", "n", "BADFMT")), err(TENSOR_FORMAT)),
    (
        d(DAG, LOAD_A, ("AI.MODELEXECUTE", "missing", "INPUTS", 1, "a", "OUTPUTS", 1, "c")),
        err(MODEL_EMPTY),
    ),
    (d(DAG, LOAD_A, ("AI.MODELEXECUTE", "str", "INPUTS", 1, "a", "OUTPUTS", 1, "c")), WRONGTYPE),
    (d(DAG, LOAD_A, ("AI.MODELEXECUTE", "a", "INPUTS", 1, "a", "OUTPUTS", 1, "c")), WRONGTYPE),
    (
        d(DAG, LOAD_A, ("AI.MODELEXECUTE", "m", "INPUTS", 1, "a", "OUTPUTS", 1, "c")),
        INPUTS_MISMATCH,
    ),
    (
        d(DAG, LOAD_A, ("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "a", "OUTPUTS", 2, "c", "e")),
        OUTPUTS_MISMATCH,
    ),
    (
        d(DAG, LOAD_A, ("AI.MODELEXECUTE", "m", "OUTPUTS", 1, "c", "INPUTS", 2, "a", "a")),
        err(NO_INPUTS),
    ),
    (
        d(DAGRUN, LOAD_A, ("AI.MODELRUN", "missing", "INPUTS", "a", "OUTPUTS", "c")),
        err(MODEL_EMPTY),
    ),
    (d(DAG, LOAD_A, ("AI.SCRIPTEXECUTE", "missing", "add", "INPUTS", 1, "a")), err(SCRIPT_EMPTY)),
    (d(DAG, LOAD_A, ("AI.SCRIPTEXECUTE", "m", "add", "INPUTS", 1, "a")), WRONGTYPE),
    (
        d(DAG, LOAD_A, ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 3, "a", "a")),
        (
            "ERR number of inputs to AI.SCRIPTEXECUTE command does not match the number of given "
            "arguments"
        ),
    ),
    (
        d(DAG, LOAD_A, ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 1, "a", "INPUTS", 1, "a")),
        "ERR Already Encountered INPUTS scope in AI.SCRIPTEXECUTE command",
    ),
    (
        d(DAGRUN, LOAD_A, ("AI.SCRIPTRUN", "s", "add", "BAD", "INPUTS", "a")),
        err(SR_UNRECOGNIZED),
    ),
    # names: nothing is read from the keyspace but LOAD; a name must be produced earlier
    (d(DAG, ["ROUTING", "a"], TG), err(INPUT_UNKNOWN)),
    (
        d(DAG, LOAD_A, ("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c")),
        err(INPUT_UNKNOWN),
    ),
    (
        d(DAG, LOAD_A, ("AI.TENSORGET", "c", "VALUES"), ("AI.TENSORSET", "c", "FLOAT", 1)),
        err(INPUT_UNKNOWN),
    ),
    (
        d(DAG, LOAD_A, ("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "c", "OUTPUTS", 1, "c")),
        err(INPUT_UNKNOWN),
    ),
    (
        d(DAG, LOAD_A, ("AI.SCRIPTEXECUTE", "s", "add", "INPUTS", 2, "a", "zz", "OUTPUTS", 1, "c")),
        err(INPUT_UNKNOWN),
    ),
    (d(DAGRUN, [], MR), err(INPUT_UNKNOWN)),
    (d(DAG, ["PERSIST", 1, "zz"], TS), err(PERSIST_UNKNOWN)),
    (d(DAG, ["PERSIST", 1, "b"], TS), err(PERSIST_UNKNOWN)),
    (d(DAG, ["LOAD", 1, "a", "PERSIST", 2, "a", "zz"], TG), err(PERSIST_UNKNOWN)),
    (d(DAGRUN, ["PERSIST", 1, "zz"], TS), err(PERSIST_UNKNOWN)),
    # order: header, then every op in turn, then names (inputs before PERSIST)
    (d(DAG, ["ROUTING", "a"], ("AI.TENSORGET", "zz", "VALUES"), NOCMD), DAG_UNSUPPORTED),
    (d(DAG, ["PERSIST", 1, "zz"], ("AI.TENSORGET", "yy", "VALUES")), err(INPUT_UNKNOWN)),
    (d(DAG, ["ROUTING", "a", "TIMEOUT", "x"], NOCMD), err(TIMEOUT_INVALID)),
    (d(DAG, ["LOAD", 1, "missing"], NOCMD), err(TENSOR_EMPTY)),
    (d(DAG_RO, LOAD_A, NOCMD, SE), DAG_UNSUPPORTED),
    (d(DAG_RO, LOAD_A, SE, NOCMD), err(SCRIPT_RO)),
    (d(DAG, ["TIMEOUT", 5, "LOAD", 1, "zz"], NOCMD), err(TENSOR_EMPTY)),
    # a bad op after good ones: nothing runs (the model's statistics stay at zero)
    (
        d(
            DAG,
            ["LOAD", 1, "a", "PERSIST", 1, "c"],
            TS,
            ME,
            ("AI.TENSORSET", "e", "FLOAT", 2, "VALUES", 1),
        ),
        err(VALUES_COUNT),
    ),
    (d(DAG, ["LOAD", 1, "a", "PERSIST", 1, "c"], ME, SE, NOCMD), DAG_UNSUPPORTED),
]


def setup(con):
    con.flushall()
    set_array(con, "a", np.array([1, 2], np.float32))
    set_array(con, "b", np.array([3, 4], np.float32))
    store(con, "m", "TORCH", torch_blob("add"))
    con.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "add", "SOURCE", SOURCE)
    con.set("str", "text")


def stats(con):
    return [meta_dict(con.execute_command("AI.INFO", k)) for k in ("m", "s")]


def check_error_table(env):
    """Each refused command replies its exact error and changes nothing."""
    con = connect(env)
    setup(con)
    snapshot, before = keyspace(con), stats(con)
    with RawConnection(con) as raw:
        for args, want in ERRORS:
            env.assertEqual(raw.call(*args), ("-", want.encode()), message=args)
            env.assertEqual(raw.call("PING"), ("+", b"PONG"), message=args)
            env.assertEqual(keyspace(con), snapshot, message=args)
    env.assertEqual(stats(con), before)
    env.assertEqual(con.info("clients")["blocked_clients"], 0)
    wait_replica(env, con)
    if env.useSlaves:
        env.assertEqual(keyspace(env.getSlaveConnection()), snapshot)


def check_transactions(env):
    """Inside MULTI every DAG command, even a malformed one, gets the transaction error
    (checked before any parsing)."""
    con = connect(env)
    setup(con)
    snapshot = keyspace(con)
    with RawConnection(con) as raw:
        env.assertEqual(raw.call("MULTI"), ("+", b"OK"))
        samples = [
            [DAG],
            d(DAG_RO, ["PERSIST", 1, "a"], TG),
            d(DAGRUN, LOAD_A, ME),
            d(DAGRUN_RO, LOAD_A, MR),
            d(DAG, ["PERSIST", 1, "c"], ME),
        ]
        for args in samples:
            env.assertEqual(raw.call(*args), ("+", b"QUEUED"))
        env.assertEqual(raw.call("EXEC"), ("*", [("-", err(TRANSACTION).encode())] * len(samples)))
    env.assertEqual(keyspace(con), snapshot)


def check_accepted_forms(env):
    """Forms that parse: TIMEOUT 0 or negative (no timeout), keywords and op names in any
    case, a tensor named TIMEOUT or |>-free keyword-like names inside ops."""
    con = connect(env)
    setup(con)
    cases = [
        (d(DAG, ["LOAD", 1, "a", "TIMEOUT", 0], TG), [[b"1", b"2"]]),
        (
            d(
                DAG,
                ["timeout", -5, "routing", "x"],
                ("ai.tensorset", "t", "INT8", 1, "values", 3),
                ("Ai.TensorGet", "t", "values"),
            ),
            [b"OK", [3]],
        ),
        (
            d(
                DAG,
                ["load", 1, "a"],
                ("AI.TENSORSET", "TIMEOUT", "FLOAT", 2, "VALUES", 1, 1),
                ("AI.MODELEXECUTE", "m", "INPUTS", 2, "a", "TIMEOUT", "OUTPUTS", 1, "LOAD"),
                (
                    "ai.scriptexecute",
                    "s",
                    "add",
                    "INPUTS",
                    2,
                    "LOAD",
                    "TIMEOUT",
                    "OUTPUTS",
                    1,
                    "PERSIST",
                ),
                ("AI.TENSORGET", "PERSIST", "VALUES"),
            ),
            [b"OK", b"OK", b"OK", [b"3", b"4"]],
        ),
        (
            d(
                DAGRUN,
                [],
                ("AI.TENSORSET", "x", "INT8", 1, "VALUES", 1),
                ("ai.modelrun", "m", "INPUTS", "x", "x", "OUTPUTS", "TIMEOUT"),
                ("AI.TENSORGET", "TIMEOUT", "VALUES"),
            ),
            [b"OK", b"OK", [2]],
        ),
    ]
    for args, want in cases:
        env.assertEqual(con.execute_command(*args), want, message=args)
    env.assertEqual(sorted(con.keys("*")), [b"a", b"b", b"m", b"s", b"str"])


def test_dag_errors(env):
    run_checks(env, check_error_table, check_transactions, check_accepted_forms)
