"""All four backends in one server (spec 3.1, 3.5, 8.1, 8.3): TF, TFLITE, TORCH and ONNX
models stored side by side and run interleaved, from one client and from several at once
on two device queues, every output equal to its framework run in process, also after DEBUG
RELOAD and on the replica; each backend refusing the others' model bytes; and backends
imported lazily: a server that only ever saw an ONNX model has neither TensorFlow nor torch
in its address space."""

import os
import threading

import numpy as np
import redis
from includes import own_server, wait_replica
from model_zoo import (
    execute,
    get_array,
    model_state,
    onnx_blob,
    onnx_run,
    servers,
    set_array,
    store,
    torch_blob,
    torch_run,
)
from tf_zoo import (
    dense_inputs,
    quant_input,
    saved_model_run,
    saved_model_zip,
    start_replica_sync,
    tf_blob,
    tf_run,
    tflite_blob,
    tflite_run,
)


def store_all(con):
    """One model or two of every backend; half of them on the CPU:1 queue."""
    store(con, "tf:mul", "TF", tf_blob("mul"), "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul")
    store(
        con,
        "tf:saved",
        "TF",
        saved_model_zip(),
        "INPUTS",
        2,
        "a",
        "b",
        "OUTPUTS",
        2,
        "prod",
        "sum",
        device="CPU:1",
    )
    store(con, "tflite:dense", "TFLITE", tflite_blob("dense"))
    store(con, "tflite:quant", "TFLITE", tflite_blob("quant"), device="CPU:1")
    store(con, "torch:add", "TORCH", torch_blob("add"), device="CPU:1")
    store(con, "torch:mlp", "TORCH", torch_blob("mlp"))
    store(con, "onnx:add", "ONNX", onnx_blob("add"))
    store(con, "onnx:mlp", "ONNX", onnx_blob("mlp"), device="CPU:1")
    return MODELS


def _tf_mul(rng):
    a, b = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2))
    return [a, b], tf_run("mul", ["a", "b"], ["mul"], a, b), 0


def _tf_saved(rng):
    a, b = (rng.standard_normal(5).astype(np.float32) for _ in range(2))
    want = saved_model_run(a, b)
    return [a, b], [want["prod"], want["sum"]], 0


def _tflite_dense(rng):
    arrays, _ = dense_inputs(rng, int(rng.integers(1, 5)))
    return arrays, tflite_run("dense", *arrays), 1e-6


def _tflite_quant(rng):
    x = quant_input(rng)
    return [x], tflite_run("quant", x), 0


def _torch_add(rng):
    a, b = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2))
    return [a, b], torch_run("add", a, b), 0


def _torch_mlp(rng):
    x = rng.standard_normal((int(rng.integers(1, 6)), 4)).astype(np.float32)
    return [x], torch_run("mlp", x), 1e-6


def _onnx_add(rng):
    a, b = (rng.standard_normal((2, 3)).astype(np.float32) for _ in range(2))
    return [a, b], onnx_run("add", a=a, b=b), 0


def _onnx_mlp(rng):
    x = rng.standard_normal((int(rng.integers(1, 6)), 4)).astype(np.float32)
    return [x], onnx_run("mlp", x=x), 1e-6


# key -> fn(rng) -> (inputs, expected outputs, relative tolerance)
MODELS = {
    "tf:mul": _tf_mul,
    "tf:saved": _tf_saved,
    "tflite:dense": _tflite_dense,
    "tflite:quant": _tflite_quant,
    "torch:add": _torch_add,
    "torch:mlp": _torch_mlp,
    "onnx:add": _onnx_add,
    "onnx:mlp": _onnx_mlp,
}


def run_one(con, key, rng, prefix):
    """Runs a model on fresh inputs; returns (reply, {output key: expected}, rtol)."""
    arrays, want, rtol = MODELS[key](rng)
    ins = [f"{prefix}:{key}:in{i}" for i in range(len(arrays))]
    outs = [f"{prefix}:{key}:out{i}" for i in range(len(want))]
    for k, a in zip(ins, arrays):
        set_array(con, k, a)
    reply = execute(con, key, ins, outs)
    return reply, dict(zip(outs, want)), rtol


def check(env, con, expected, rtol):
    for key, want in expected.items():
        got = get_array(con, key)
        env.assertEqual((got.dtype, got.shape), (want.dtype, want.shape), message=key)
        if rtol:
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=key)
        else:
            np.testing.assert_array_equal(got, want, err_msg=key)


def run_interleaved(env, con, seed, prefix, rounds=3):
    """Every model once per round, in a different order each round; returns everything
    the runs wrote, {key: (expected, rtol)}."""
    rng = np.random.default_rng(seed)
    written = {}
    for r in range(rounds):
        for key in rng.permutation(list(MODELS)):
            reply, expected, rtol = run_one(con, key, rng, f"{prefix}{r}")
            env.assertEqual(reply, b"OK", message=key)
            check(env, con, expected, rtol)
            written.update({k: (v, rtol) for k, v in expected.items()})
    return written


def check_blobs_of_other_backends(env, con):
    """Each backend given another backend's model bytes: an error on one line, no key, the
    server still up, and the right model still stores afterwards."""
    blobs = {
        "TF": tf_blob("mul"),
        "TF:saved": saved_model_zip(),
        "TFLITE": tflite_blob("dense"),
        "TORCH": torch_blob("add"),
        "ONNX": onnx_blob("add"),
    }
    tf_names = ("INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul")
    for backend in ("TF", "TFLITE", "TORCH", "ONNX"):
        names = tf_names if backend == "TF" else ()
        for origin, blob in blobs.items():
            if origin.split(":")[0] == backend:
                continue
            text = None
            try:
                con.execute_command("AI.MODELSTORE", "x", backend, "CPU", *names, "BLOB", blob)
            except redis.ResponseError as e:
                text = str(e)
            env.assertTrue(
                text and "\n" not in text and "\r" not in text, message=(backend, origin, text)
            )
            env.assertEqual(con.exists("x"), 0, message=(backend, origin))
            env.assertTrue(con.ping())
        env.assertEqual(
            con.execute_command(
                "AI.MODELSTORE", "x", backend, "CPU", *names, "BLOB", blobs[backend]
            ),
            b"OK",
        )
        env.assertEqual(con.delete("x"), 1)


def test_all_backends(env):
    """Models of all four backends in one server, run interleaved and concurrently; each
    backend refuses the others' model bytes."""
    con = env.getConnection()
    start_replica_sync(env)
    check_blobs_of_other_backends(env, con)
    keys = list(store_all(con))
    backends = {con.execute_command("AI.MODELGET", k, "META")[1] for k in keys}
    env.assertEqual(backends, {b"TF", b"TFLITE", b"TORCH", b"ONNX"})
    written = run_interleaved(env, con, 1, "seq")
    # Several clients at once, each cycling through every model from its own offset, so
    # that both queues and all four frameworks are busy together.
    failures, results = [], {}

    def client(n):
        c = env.getConnection()
        rng = np.random.default_rng(100 + n)
        order = list(MODELS)[n:] + list(MODELS)[:n]
        try:
            for i in range(2):
                for key in order:
                    reply, expected, rtol = run_one(c, key, rng, f"c{n}:{i}")
                    if reply != b"OK":
                        failures.append((key, reply))
                    results.update({k: (v, rtol) for k, v in expected.items()})
        except Exception as e:  # noqa: BLE001 - reported below
            failures.append((n, repr(e)))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    env.assertEqual(failures, [])
    env.assertEqual(len(results), 4 * 2 * 11)  # 11 outputs per cycle through the models
    for key, (want, rtol) in results.items():
        check(env, con, {key: want}, rtol)
    written.update(results)
    # The RDB holds the four kinds; every model is rebuilt and still right.
    state = model_state(con, keys)
    env.assertEqual(con.execute_command("DEBUG", "RELOAD"), b"OK")
    env.assertEqual(model_state(con, keys), state)
    run_interleaved(env, con, 2, "reload", rounds=1)
    wait_replica(env, con)
    for c in servers(env)[1:]:
        env.assertEqual(model_state(c, keys), state)
        for key, (want, rtol) in written.items():
            check(env, c, {key: want}, rtol)


# ---------------------------------------------------------------------------------------
# Lazy backend loading, seen from outside the server: the shared libraries mapped into
# its process, and its resident memory.

FRAMEWORK_LIBRARIES = {
    "ONNX": "onnxruntime_pybind11_state",
    "TF": "libtensorflow_framework",
    "TORCH": "libtorch_cpu",
}


def _mapped(pid):
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    return {name for name, lib in FRAMEWORK_LIBRARIES.items() if lib in maps}


def _rss(pid):
    """The server's resident set now, from the kernel (INFO's used_memory_rss is the same
    number, refreshed only by the server's cron)."""
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_backends_load_lazily(env):
    """A fresh server maps no framework; storing and running an ONNX model brings in
    onnxruntime only (and little memory); TF comes with the first TFLITE model (hundreds of
    MB), torch only with a TORCH model. Independent of replicas and AOF: run once, in the
    plain environment."""
    if env.useSlaves or env.useAof or not os.path.exists("/proc/self/maps"):
        env.skip()
    with own_server(env) as con:
        pid = con.info("server")["process_id"]
        env.assertEqual(_mapped(pid), set())
        base = _rss(pid)
        # ONNX only.
        env.assertEqual(store(con, "onnx", "ONNX", onnx_blob("add")), b"OK")
        a = np.ones((2, 3), np.float32)
        set_array(con, "a", a)
        env.assertEqual(execute(con, "onnx", ["a", "a"], ["c"]), b"OK")
        env.assertEqual(get_array(con, "c").tolist(), (a + a).tolist())
        env.assertEqual(_mapped(pid), {"ONNX"})
        after_onnx = _rss(pid)
        # TFLITE brings TensorFlow, not torch.
        env.assertEqual(store(con, "lite", "TFLITE", tflite_blob("quant")), b"OK")
        env.assertEqual(_mapped(pid), {"ONNX", "TF"})
        after_tf = _rss(pid)
        onnx_growth, tf_growth = after_onnx - base, after_tf - after_onnx
        env.assertGreater(tf_growth, 100 * 2**20, message=(onnx_growth, tf_growth))
        env.assertLess(onnx_growth * 4, tf_growth, message=(onnx_growth, tf_growth))
        # TF models reuse it; torch arrives with the first TORCH model only.
        env.assertEqual(
            store(con, "tf", "TF", tf_blob("mul"), "INPUTS", 2, "a", "b", "OUTPUTS", 1, "mul"),
            b"OK",
        )
        env.assertEqual(_mapped(pid), {"ONNX", "TF"})
        env.assertEqual(store(con, "torch", "TORCH", torch_blob("add")), b"OK")
        env.assertEqual(_mapped(pid), {"ONNX", "TF", "TORCH"})
