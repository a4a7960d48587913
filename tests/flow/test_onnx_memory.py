"""INFO MODULES ai_onnxruntime_memory and ai_onnxruntime_memory_access_num (spec 6.4,
8.5): the bytes ONNX Runtime holds for the module's CPU sessions through the module's
counting allocator, and the calls made to it. Measured, not estimated: a model whose
MatMul weight ORT keeps (prepacked) in allocator memory raises the count by at least the
weight's size, runs count calls and hold nothing afterwards, MODELDEL gives it back."""

import time

import numpy as np
import onnx
from model_zoo import IR_VERSION, OPSET, connect, execute, get_array, onnx_blob, set_array, store
from onnx import TensorProto, helper

ROWS, COLS = 1024, 4096  # a 16 MiB float32 weight
WEIGHT_BYTES = ROWS * COLS * 4
FIELDS = [
    "ai_onnxruntime_version",
    "ai_onnxruntime_memory",
    "ai_onnxruntime_memory_access_num",
    "ai_onnxruntime_maximum_run_sessions_number",
]


def matmul_blob():
    """x [1, ROWS] -> y = x @ w [1, COLS], w a ROWS x COLS initializer of ones."""
    w = onnx.numpy_helper.from_array(np.ones((ROWS, COLS), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        "matmul",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, ROWS])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, COLS])],
        initializer=[w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    return model.SerializeToString()


def onnx_info(con):
    """{field: value} of the ONNX fields of INFO MODULES (ai_backends_info)."""
    info = con.info("ai_backends_info")
    return {k: v for k, v in info.items() if k.startswith("ai_onnxruntime")}


def memory(con):
    info = onnx_info(con)
    return int(info["ai_onnxruntime_memory"]), int(info["ai_onnxruntime_memory_access_num"])


def wait_memory_below(con, limit, timeout_s=10):
    """The memory count once it is below limit (a session is released after the reply)."""
    deadline = time.monotonic() + timeout_s
    while memory(con)[0] >= limit and time.monotonic() < deadline:
        time.sleep(0.05)
    return memory(con)[0]


def test_fields_with_the_backend(env):
    """The fields come with the ONNX backend, in RedisAI's order, as integers."""
    con = connect(env)
    store(con, "add", "ONNX", onnx_blob("add"))
    info = onnx_info(con)
    env.assertEqual(list(info), FIELDS)
    for field in FIELDS[1:]:
        env.assertTrue(isinstance(info[field], int), message=f"{field}={info[field]!r}")


def onnx_loaded(env):
    """A connection to a server whose ONNX backend is loaded (by a first, small model)."""
    con = connect(env)
    store(con, "add", "ONNX", onnx_blob("add"))
    return con


def test_memory_follows_a_model(env):
    con = onnx_loaded(env)
    before, calls_before = memory(con)
    env.assertEqual(store(con, "big", "ONNX", matmul_blob()), b"OK")
    stored, calls_stored = memory(con)
    env.assertGreaterEqual(stored - before, WEIGHT_BYTES)
    env.assertGreater(calls_stored, calls_before)

    x = np.full((1, ROWS), 0.5, np.float32)
    set_array(con, "x", x)
    for _ in range(3):
        env.assertEqual(execute(con, "big", ["x"], ["y"]), b"OK")
    np.testing.assert_array_equal(get_array(con, "y"), np.full((1, COLS), ROWS * 0.5))
    ran, calls_ran = memory(con)
    env.assertGreaterEqual(calls_ran - calls_stored, 6)  # each run allocates and frees y
    env.assertLess(abs(ran - stored), 1 << 20)  # the outputs were handed back

    env.assertEqual(con.execute_command("AI.MODELDEL", "big"), b"OK")
    env.assertLess(wait_memory_below(con, stored - WEIGHT_BYTES + 1), before + (1 << 20))
    env.assertGreater(memory(con)[1], calls_ran)


def test_replaced_model_gives_back(env):
    """Storing over a model releases the old session's memory."""
    con = onnx_loaded(env)
    before = memory(con)[0]
    store(con, "m", "ONNX", matmul_blob())
    stored = memory(con)[0]
    env.assertGreaterEqual(stored - before, WEIGHT_BYTES)
    store(con, "m", "ONNX", onnx_blob("add"))
    env.assertLess(wait_memory_below(con, stored - WEIGHT_BYTES + 1), before + (1 << 20))
