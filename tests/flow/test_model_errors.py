"""Error replies of the model commands (spec 3.2-3.8): a table of malformed AI.MODELSTORE,
AI.MODELSET, AI.MODELGET, AI.MODELDEL, AI.MODELEXECUTE and AI.MODELRUN commands with their
exact texts in the order RedisAI checks them, and models that cannot be built. Every
failing command must leave the keyspace as it was and the server answering."""

import numpy as np
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
    MODULE_KEY_COPY,
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
    UNSUPPORTED_BACKEND,
    UNSUPPORTED_DEVICE,
    WRONGTYPE,
)
from includes import RawConnection, check_refused, error_text, keyspace, wait_replica
from model_zoo import (
    set_operands,
    connect,
    onnx_blob,
    set_array,
    store,
    torch_blob,
)

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
    (("COPY", "m", "new"), MODULE_KEY_COPY),  # no copy callback
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
    set_operands(con)


def test_malformed_commands_table(env):
    """Every row fails with its exact text (and prefix on the wire), changes nothing, and
    the server still answers."""
    con = connect(env)
    setup_keys(con)
    env.assertEqual(len(keyspace(con)), 7)
    check_refused(env, con, MALFORMED, wire_error)


def setup_store_targets(con):
    """A string, a tensor and a model m to store over; returns m's blob and the keyspace."""
    blob = torch_blob("add")
    con.set("str", "value")
    set_array(con, "t", np.ones(2, np.float32))
    store(con, "m", "TORCH", blob)
    return blob, keyspace(con)


def test_store_wrongtype_and_bad_models(env):
    """A model that cannot be built (garbage, truncated, another backend's bytes) is an
    error and leaves no key; WRONGTYPE is checked after the backend accepted the bytes, so
    a backend error wins over it."""
    con = connect(env)
    blob, snapshot = setup_store_targets(con)
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
    wait_replica(env, con)
    if env.useSlaves:
        env.assertEqual(keyspace(env.getSlaveConnection()), snapshot)


def test_store_on_gpu_without_cuda(env):
    """A TORCH model for a GPU on a host without CUDA is refused with RedisAI's text (no ERR
    prefix) and leaves no key."""
    if torch.cuda.is_available():
        env.skip()  # needs a host without CUDA
    con = connect(env)
    blob, snapshot = setup_store_targets(con)
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
