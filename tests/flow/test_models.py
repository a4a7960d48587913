"""Model commands (spec 3.2-3.8) with TorchScript models: parsing and every error text of
AI.MODELSTORE, AI.MODELSET, AI.MODELGET, AI.MODELDEL, AI.MODELEXECUTE, AI.MODELRUN and
AI._MODELSCAN, in the order RedisAI checks them; MODELGET reply shapes and chunking;
transactions; models that cannot be built. Every failing command must leave the keyspace
as it was and the server answering."""

import numpy as np
import redis
import torch
from error_texts import (
    ARITY,
    BATCHSIZE,
    EXEC_INPUT_ARGS,
    EXEC_OUTPUT_ARGS,
    EXPECTED_BLOB,
    INPUTS_MISMATCH,
    INPUT_COUNT,
    INPUT_POSITIVE,
    INVALID_DEVICE,
    MINBATCHSIZE,
    MINBATCHTIMEOUT,
    MINBATCH_NO_BATCH,
    MINTIMEOUT_NO_BATCH,
    MINTIMEOUT_NO_MINBATCH,
    MISSING_BLOB,
    MODEL_EMPTY,
    NOT_FOR_BACKEND,
    NO_INPUTS,
    NO_OUTPUTS,
    OUTPUTS_MISMATCH,
    OUTPUT_COUNT,
    OUTPUT_POSITIVE,
    TENSOR_EMPTY,
    TFLITE_BATCHING,
    TF_INPUTS_ARGS,
    TF_NO_INPUTS,
    TF_NO_IO,
    TF_NO_OUTPUTS,
    TF_OUTPUTS_ARGS,
    TIMEOUT_INVALID,
    TIMEOUT_MISSING,
    TORCH_GPU,
    TRANSACTION,
    UNSUPPORTED_BACKEND,
    UNSUPPORTED_DEVICE,
    WRONGTYPE,
)
from includes import RawConnection, error_text, keyspace, meta_dict, wait_replica
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

# RedisAI sends these without the ERR prefix.
NO_ERR_PREFIX = {INPUTS_MISMATCH, OUTPUTS_MISMATCH}

STORE, MSET, GET, DEL = "AI.MODELSTORE", "AI.MODELSET", "AI.MODELGET", "AI.MODELDEL"
EXEC, RUN = "AI.MODELEXECUTE", "AI.MODELRUN"
B = b"<blob>"  # the bytes after BLOB where parsing fails before they are looked at


def wire_error(text):
    """The error as it travels: RedisAI's ERR prefix, except where it sends none."""
    if text in NO_ERR_PREFIX or text.startswith(("WRONGTYPE", "Invalid argument:")):
        return text.encode()
    return b"ERR " + text.encode()


# Keys: m (add: a, b -> 1 output, TAG v1), m5 (sum of 5 inputs), tup (2 inputs, 2 outputs),
# a and b (FLOAT 2x2 tensors), str (string), lst (list); new and missing are absent.
MALFORMED = [
    # AI.MODELSTORE: arity (named as typed), backend, device
    ((STORE,), ARITY % STORE),
    ((STORE, "new", "TORCH", "CPU", "BLOB"), ARITY % STORE),
    ((STORE, "m", "TORCH", "BLOB", B), ARITY % STORE),
    (("ai.modelstore", "new"), ARITY % "ai.modelstore"),
    ((STORE, "new", "PYTORCH", "CPU", "BLOB", B), UNSUPPORTED_BACKEND),
    ((STORE, "new", "", "CPU", "BLOB", B), UNSUPPORTED_BACKEND),
    ((STORE, "new", "TORCH2", "bad_device", "BLOB", B), UNSUPPORTED_BACKEND),
    ((STORE, "new", "TORCH", "bad_device", "BLOB", B), INVALID_DEVICE),
    ((STORE, "new", "TORCH", "CPU::", "BLOB", B), INVALID_DEVICE),
    ((STORE, "new", "TORCH", "CPU:1.8", "BLOB", B), INVALID_DEVICE),
    ((STORE, "new", "TORCH", "CPU:123456", "BLOB", B), INVALID_DEVICE),
    ((STORE, "new", "ONNX", "GPU:123456", "BLOB", B), INVALID_DEVICE),
    ((STORE, "new", "TORCH", "CPU:-1", "BLOB", B), INVALID_DEVICE),
    ((STORE, "new", "TORCH", "CPU0", "BLOB", B), INVALID_DEVICE),
    ((STORE, "new", "TORCH", "TPU", "BLOB", B), INVALID_DEVICE),
    ((STORE, "new", "TORCH", "", "BLOB", B), INVALID_DEVICE),
    ((STORE, "m", "TORCH", "CPU:1.8", "BATCHSIZE", "x", "BLOB", B), INVALID_DEVICE),
    # options: values
    ((STORE, "new", "TORCH", "CPU", "BATCHSIZE", "x", "BLOB", B), BATCHSIZE),
    ((STORE, "new", "TORCH", "CPU", "BATCHSIZE", -1, "BLOB", B), BATCHSIZE),
    ((STORE, "new", "TORCH", "CPU", "TAG", "t", "BATCHSIZE"), BATCHSIZE),
    ((STORE, "new", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", "x", "BLOB", B), MINBATCHSIZE),
    ((STORE, "new", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", -3, "BLOB", B), MINBATCHSIZE),
    (
        (
            STORE,
            "new",
            "TORCH",
            "CPU",
            "BATCHSIZE",
            2,
            "MINBATCHSIZE",
            1,
            "MINBATCHTIMEOUT",
            "x",
            "BLOB",
            B,
        ),
        MINBATCHTIMEOUT,
    ),
    (
        (STORE, "new", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHSIZE", 1, "MINBATCHTIMEOUT"),
        MINBATCHTIMEOUT,
    ),
    # options: dependencies
    ((STORE, "new", "TORCH", "CPU", "MINBATCHSIZE", 2, "BLOB", B), MINBATCH_NO_BATCH),
    (
        (STORE, "new", "TORCH", "CPU", "BATCHSIZE", 0, "MINBATCHSIZE", 2, "BLOB", B),
        MINBATCH_NO_BATCH,
    ),
    ((STORE, "new", "TORCH", "CPU", "MINBATCHTIMEOUT", 5, "BLOB", B), MINTIMEOUT_NO_MINBATCH),
    (
        (STORE, "new", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHTIMEOUT", 5, "BLOB", B),
        MINTIMEOUT_NO_MINBATCH,
    ),
    (
        (
            STORE,
            "new",
            "TORCH",
            "CPU",
            "BATCHSIZE",
            2,
            "MINBATCHSIZE",
            0,
            "MINBATCHTIMEOUT",
            5,
            "BLOB",
            B,
        ),
        MINTIMEOUT_NO_MINBATCH,
    ),
    # options: out of order, they fall through to the BLOB check
    (
        (STORE, "new", "TORCH", "CPU", "MINBATCHSIZE", 2, "BATCHSIZE", 4, "BLOB", B),
        MINBATCH_NO_BATCH,
    ),
    (
        (
            STORE,
            "new",
            "TORCH",
            "CPU",
            "BATCHSIZE",
            4,
            "MINBATCHTIMEOUT",
            5,
            "MINBATCHSIZE",
            2,
            "BLOB",
            B,
        ),
        MINTIMEOUT_NO_MINBATCH,
    ),
    ((STORE, "new", "TORCH", "CPU", "BATCHSIZE", 2, "TAG", "t", "BLOB", B), EXPECTED_BLOB),
    (
        (STORE, "new", "TORCH", "CPU", "MINBATCHTIMEOUT", 0, "BATCHSIZE", 2, "BLOB", B),
        EXPECTED_BLOB,
    ),
    ((STORE, "new", "TORCH", "CPU", "TAG", "t", "TAG", "u", "BLOB", B), EXPECTED_BLOB),
    # BLOB
    ((STORE, "new", "TORCH", "CPU", "TAG", "t"), MISSING_BLOB),
    ((STORE, "new", "TORCH", "CPU", "BATCHSIZE", 2), MISSING_BLOB),
    ((STORE, "new", "TORCH", "CPU", "TAG", "t", "BLOB"), MISSING_BLOB),
    ((STORE, "new", "TORCH", "CPU", "BATCHSIZE", 2, "BLOB"), MISSING_BLOB),
    ((STORE, "new", "TORCH", "CPU", "NOTBLOB", B), EXPECTED_BLOB),
    ((STORE, "new", "TORCH", "CPU", "BLOBS", B), EXPECTED_BLOB),
    ((STORE, "new", "TORCH", "CPU", "OUTPUTS", 1, "y", "BLOB", B), EXPECTED_BLOB),
    (
        (STORE, "new", "TORCH", "CPU", "INPUTS", 1, "x", "OUTPUTS", 1, "y", "BLOB", B),
        NOT_FOR_BACKEND,
    ),
    ((STORE, "new", "TORCH", "CPU", "TAG", "t", "inputs", "BLOB", B), NOT_FOR_BACKEND),
    ((STORE, "new", "ONNX", "CPU", "INPUTS", 1, "x", "BLOB", B), NOT_FOR_BACKEND),
    ((STORE, "new", "TFLITE", "CPU", "INPUTS", 1, "x", "BLOB", B), NOT_FOR_BACKEND),
    # TF names (parsing only)
    ((STORE, "new", "TF", "CPU", "BLOB", B), TF_NO_INPUTS),
    ((STORE, "new", "TF", "CPU", "OUTPUTS", 1, "y", "BLOB", B), TF_NO_INPUTS),
    ((STORE, "new", "TF", "CPU", "INPUTS", "x", "a", "BLOB", B), INPUT_COUNT),
    ((STORE, "new", "TF", "CPU", "INPUTS", 0, "OUTPUTS", 1, "y", "BLOB", B), INPUT_COUNT),
    ((STORE, "new", "TF", "CPU", "INPUTS", 3, "a", "b"), TF_INPUTS_ARGS),
    ((STORE, "new", "TF", "CPU", "INPUTS", 1, "a", "BLOB", B), TF_NO_OUTPUTS),
    ((STORE, "new", "TF", "CPU", "INPUTS", 2, "a", "b"), TF_NO_OUTPUTS),
    ((STORE, "new", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 0, "y", "BLOB", B), OUTPUT_COUNT),
    ((STORE, "new", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS"), OUTPUT_COUNT),
    ((STORE, "new", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 3, "y", "BLOB"), TF_OUTPUTS_ARGS),
    ((STORE, "new", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 1, "y"), EXPECTED_BLOB),
    ((STORE, "new", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 1, "y", "NOTBLOB", B), EXPECTED_BLOB),
    ((STORE, "new", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 1, "y", "BLOB"), MISSING_BLOB),
    # AI.MODELSET (deprecated): its own device and option checks
    ((MSET, "new", "TORCH"), ARITY % MSET),
    ((MSET, "new", "CAFFE", "CPU", "BLOB", B), UNSUPPORTED_BACKEND),
    ((MSET, "new", "TORCH", "CPU:1234567", "BLOB", B), INVALID_DEVICE),
    ((MSET, "new", "TORCH", "BLOB", B), INVALID_DEVICE),
    ((MSET, "new", "TORCH", "tag", "x", "BLOB", B), INVALID_DEVICE),
    ((MSET, "new", "TORCH", "MINBATCHSIZE", "BLOB", B), INVALID_DEVICE),
    ((MSET, "new", "TORCH", "bad_device", "BLOB", B), UNSUPPORTED_DEVICE),
    ((MSET, "new", "TORCH", "CPU:1.8", "BLOB", B), UNSUPPORTED_DEVICE),
    ((MSET, "new", "TFLITE", "CPU", "BATCHSIZE", 2, "BLOB", B), TFLITE_BATCHING),
    ((MSET, "new", "TFLITE", "CPU", "TAG", "t", "BATCHSIZE", 2, "BLOB", B), TFLITE_BATCHING),
    ((MSET, "new", "TORCH", "CPU", "BATCHSIZE", "x", "BLOB", B), BATCHSIZE),
    ((MSET, "new", "TORCH", "CPU", "MINBATCHSIZE", 2, "BLOB", B), MINBATCH_NO_BATCH),
    ((MSET, "new", "TORCH", "CPU", "MINBATCHTIMEOUT", 5, "BLOB", B), MINTIMEOUT_NO_BATCH),
    (
        (MSET, "new", "TORCH", "CPU", "BATCHSIZE", 2, "MINBATCHTIMEOUT", 5, "BLOB", B),
        MINTIMEOUT_NO_MINBATCH,
    ),
    ((MSET, "new", "TORCH", "CPU"), MISSING_BLOB),
    ((MSET, "new", "TORCH", "CPU", "TAG", "t"), MISSING_BLOB),
    ((MSET, "new", "TORCH", "CPU", "junk"), MISSING_BLOB),
    ((MSET, "new", "TORCH", "CPU", "BLOB"), MISSING_BLOB),
    ((MSET, "new", "TF", "CPU", "BLOB", B), TF_NO_IO),
    ((MSET, "new", "TF", "CPU", "TAG", "t", "BLOB", B), TF_NO_IO),
    ((MSET, "new", "TF", "CPU", "foo", "BLOB", B), NO_INPUTS),
    ((MSET, "new", "TF", "CPU", "INPUTS", "a", "BLOB", B), NO_OUTPUTS),
    # AI.MODELGET / AI.MODELDEL / AI._MODELSCAN
    ((GET,), ARITY % GET),
    ((GET, "m", "META", "BLOB", "META"), ARITY % GET),
    (("ai.modelget",), ARITY % "ai.modelget"),
    ((GET, "missing"), MODEL_EMPTY),
    ((GET, "missing", "META"), MODEL_EMPTY),
    ((GET, "str", "META"), WRONGTYPE),
    ((GET, "a", "BLOB"), WRONGTYPE),
    ((DEL,), ARITY % DEL),
    ((DEL, "m", "m5"), ARITY % DEL),
    ((DEL, "missing"), MODEL_EMPTY),
    ((DEL, "str"), WRONGTYPE),
    ((DEL, "a"), WRONGTYPE),
    (("AI._MODELSCAN", "x"), ARITY % "AI._MODELSCAN"),
    # other commands on a model key, model commands on other keys
    (("AI.TENSORGET", "m"), WRONGTYPE),
    (("AI.TENSORSET", "m", "FLOAT", 1, "VALUES", 1), WRONGTYPE),
    (("GET", "m"), WRONGTYPE),
    (("LPUSH", "m", "x"), WRONGTYPE),
    (("HSET", "m", "f", "v"), WRONGTYPE),
    (("COPY", "m", "new"), "not supported for this module key"),  # no copy callback
    # AI.MODELEXECUTE, in the order of its checks
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS"), ARITY % EXEC),
    (("ai.modelexecute", "m"), ARITY % "ai.modelexecute"),
    ((EXEC, "missing", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c"), MODEL_EMPTY),
    ((EXEC, "missing", "X", "Y", "Z", "W", "V", "U"), MODEL_EMPTY),
    ((EXEC, "str", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c"), WRONGTYPE),
    ((EXEC, "a", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c"), WRONGTYPE),
    ((EXEC, "m", "TIMEOUT", 5, "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c"), NO_INPUTS),
    ((EXEC, "m", "OUTPUTS", 1, "c", "INPUTS", 2, "a", "b"), NO_INPUTS),
    ((EXEC, "m", "INPUTS", "x", "a", "b", "OUTPUTS", 1, "c"), INPUT_COUNT),
    ((EXEC, "m", "INPUTS", "", "a", "b", "OUTPUTS", 1, "c"), INPUT_COUNT),
    ((EXEC, "m", "INPUTS", 0, "a", "b", "OUTPUTS", 1, "c"), INPUT_POSITIVE),
    ((EXEC, "m", "INPUTS", -2, "a", "b", "OUTPUTS", 1, "c"), INPUT_POSITIVE),
    ((EXEC, "m", "INPUTS", 3, "a", "b", "a", "OUTPUTS", 1, "c"), INPUTS_MISMATCH),
    ((EXEC, "m", "INPUTS", 1, "a", "OUTPUTS", 1, "c", "d"), INPUTS_MISMATCH),
    ((EXEC, "m", "INPUTS", 9, "a", "b", "OUTPUTS", 1, "c"), INPUTS_MISMATCH),
    ((EXEC, "m5", "INPUTS", 5, "a", "b", "a", "b"), EXEC_INPUT_ARGS),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "c", "d", "e"), NO_OUTPUTS),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUT", 1, "c"), NO_OUTPUTS),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "TIMEOUT", 5, "OUTPUTS", 1, "c"), NO_OUTPUTS),
    ((EXEC, "m5", "INPUTS", 5, "a", "b", "a", "b", "a", "OUTPUTS"), OUTPUT_COUNT),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", "x", "c"), OUTPUT_COUNT),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 0, "c"), OUTPUT_POSITIVE),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", -1, "c"), OUTPUT_POSITIVE),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "c", "d"), OUTPUTS_MISMATCH),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 3, "c"), OUTPUTS_MISMATCH),
    ((EXEC, "tup", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "c"), EXEC_OUTPUT_ARGS),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT"), TIMEOUT_MISSING),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", "x"), TIMEOUT_INVALID),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", 0), TIMEOUT_INVALID),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", -5), TIMEOUT_INVALID),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", "1.5"), TIMEOUT_INVALID),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "foo"), "Invalid argument: foo"),
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "d"), "Invalid argument: d"),
    (
        (EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", 5, "bar"),
        "Invalid argument: bar",
    ),
    (
        (EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "c", "TIMEOUT", 5, "TIMEOUT", 5),
        "Invalid argument: TIMEOUT",
    ),
    ((EXEC, "m", "INPUTS", 2, "missing", "b", "OUTPUTS", 1, "c", "TIMEOUT", 0), TIMEOUT_INVALID),
    ((EXEC, "m", "INPUTS", 2, "missing", "b", "OUTPUTS", 1, "c"), TENSOR_EMPTY),
    ((EXEC, "m", "INPUTS", 2, "a", "missing", "OUTPUTS", 1, "c"), TENSOR_EMPTY),
    ((EXEC, "m", "INPUTS", 2, "a", "str", "OUTPUTS", 1, "c"), WRONGTYPE),
    ((EXEC, "m", "INPUTS", 2, "m", "b", "OUTPUTS", 1, "c"), WRONGTYPE),
    # an output key of another type: found when the outputs are written, none is
    ((EXEC, "m", "INPUTS", 2, "a", "b", "OUTPUTS", 1, "str"), WRONGTYPE),
    ((EXEC, "tup", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "new", "lst"), WRONGTYPE),
    ((EXEC, "tup", "INPUTS", 2, "a", "b", "OUTPUTS", 2, "m", "new"), WRONGTYPE),
    # AI.MODELRUN (deprecated)
    ((RUN, "m", "INPUTS", "a", "OUTPUTS"), ARITY % RUN),
    (("ai.modelrun",), ARITY % "ai.modelrun"),
    ((RUN, "missing", "INPUTS", "a", "b", "OUTPUTS", "c"), MODEL_EMPTY),
    ((RUN, "str", "INPUTS", "a", "b", "OUTPUTS", "c"), WRONGTYPE),
    ((RUN, "m", "TIMEOUT", "x", "INPUTS", "a", "b", "OUTPUTS", "c"), TIMEOUT_INVALID),
    ((RUN, "m", "TIMEOUT", 0, "INPUTS", "a", "b", "OUTPUTS", "c"), TIMEOUT_INVALID),
    ((RUN, "m", "TIMEOUT", "INPUTS", "a", "b", "OUTPUTS", "c"), TIMEOUT_INVALID),
    ((RUN, "m", "INPUT", "a", "b", "OUTPUTS", "c"), NO_INPUTS),
    ((RUN, "m", "a", "b", "INPUTS", "OUTPUTS", "c"), NO_INPUTS),
    ((RUN, "m", "INPUTS", "a", "OUTPUTS", "c", "d"), INPUTS_MISMATCH),
    ((RUN, "m", "INPUTS", "a", "b", "c", "d"), INPUTS_MISMATCH),
    ((RUN, "m", "INPUTS", "a", "b", "OUTPUTS", "c", "d"), OUTPUTS_MISMATCH),
    ((RUN, "m", "INPUTS", "a", "b", "OUTPUTS"), OUTPUTS_MISMATCH),
    ((RUN, "m", "INPUTS", "a", "b", "OUTPUTS", "c", "TIMEOUT", 5), OUTPUTS_MISMATCH),
    ((RUN, "m", "INPUTS", "a", "missing", "OUTPUTS", "c"), TENSOR_EMPTY),
    ((RUN, "m", "INPUTS", "a", "lst", "OUTPUTS", "c"), WRONGTYPE),
    ((RUN, "m", "INPUTS", "a", "b", "OUTPUTS", "str"), WRONGTYPE),
]


def setup_keys(con):
    store(con, "m", "TORCH", torch_blob("add"), "TAG", "v1")
    store(con, "m5", "TORCH", torch_blob("sum5"))
    store(con, "tup", "TORCH", torch_blob("addmul"))
    set_array(con, "a", np.arange(4, dtype=np.float32).reshape(2, 2))
    set_array(con, "b", np.ones((2, 2), dtype=np.float32))
    con.set("str", "value")
    con.rpush("lst", "x", "y")


def test_malformed_commands_table(env):
    """Every row fails with its exact text (and prefix on the wire), changes nothing, and
    the server still answers."""
    con = connect(env)
    setup_keys(con)
    snapshot = keyspace(con)
    env.assertEqual(len(snapshot), 7)
    with RawConnection(con) as raw:
        for args, expected in MALFORMED:
            env.assertEqual(error_text(env, *args), expected, message=repr(args)[:120])
            env.assertEqual(raw.call(*args), ("-", wire_error(expected)), message=repr(args)[:120])
            env.assertEqual(keyspace(con), snapshot, message=repr(args)[:120])
            env.assertTrue(con.ping())
    if env.useSlaves:
        wait_replica(env, con)
        env.assertEqual(keyspace(env.getSlaveConnection()), snapshot)


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


def test_store_wrongtype_and_bad_models(env):
    """A model that cannot be built (garbage, truncated, another backend's bytes, a GPU on
    a CPU-only host) is an error and leaves no key; WRONGTYPE is checked after the backend
    accepted the bytes, so a backend error wins over it."""
    con = connect(env)
    blob = torch_blob("add")
    con.set("str", "value")
    set_array(con, "t", np.ones(2, np.float32))
    store(con, "m", "TORCH", blob)
    snapshot = keyspace(con)
    env.assertEqual(error_text(env, STORE, "str", "TORCH", "CPU", "BLOB", blob), WRONGTYPE)
    env.assertEqual(error_text(env, STORE, "t", "TORCH", "CPU", "BLOB", blob), WRONGTYPE)
    env.assertEqual(error_text(env, MSET, "t", "TORCH", "CPU", "BLOB", blob), WRONGTYPE)
    garbage = error_text(env, STORE, "new", "TORCH", "CPU", "BLOB", b"garbage")
    env.assertTrue(garbage and garbage != WRONGTYPE)
    env.assertEqual(error_text(env, STORE, "str", "TORCH", "CPU", "BLOB", b"garbage"), garbage)
    bad = [b"garbage", b"", b"\0" * 100, blob[: len(blob) // 2], blob[1:], onnx_blob("add")]
    for payload in bad:
        for key in ("new", "m"):  # a failed store keeps the model already there
            text = error_text(env, STORE, key, "TORCH", "CPU", "BLOB", payload)
            env.assertTrue(text and "\n" not in text, message=repr(payload[:20]))
            env.assertEqual(keyspace(con), snapshot)
            env.assertTrue(con.ping())
    if torch.cuda.is_available():
        env.skip()  # the GPU cases below need a host without CUDA
    for device in ("GPU", "gpu:0", "GPU:", "GPU:1"):
        env.assertEqual(
            error_text(env, STORE, "g", "TORCH", device, "BLOB", blob), TORCH_GPU, message=device
        )
        env.assertEqual(keyspace(con), snapshot)
    env.assertEqual(error_text(env, MSET, "g", "TORCH", "GPU", "BLOB", blob), TORCH_GPU)
    with RawConnection(con) as raw:  # RedisAI's TORCH text has no ERR prefix
        env.assertEqual(
            raw.call(STORE, "g", "TORCH", "GPU", "BLOB", blob), ("-", TORCH_GPU.encode())
        )
    env.assertEqual(keyspace(con), snapshot)
    wait_replica(env, con)
    if env.useSlaves:
        env.assertEqual(keyspace(env.getSlaveConnection()), snapshot)


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
