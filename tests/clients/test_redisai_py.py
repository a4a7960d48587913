"""redisai-py 1.3.0 (`import redisai as rai`) against the module: every client method a user
calls, with the client's own post-processing of the replies (spec section 10.1)."""

import warnings

import numpy as np
import pytest
import redis
from tests.flow.error_texts import LOAD_BACKEND, MODEL_EMPTY, SCRIPT_EMPTY, UNSUPPORTED_BACKEND

# Only in .venv-clients (opt/install_clients_venv.sh), not in the server's .venv.
rai = pytest.importorskip("redisai", reason="run with .venv-clients/bin/python")

SCRIPT = """
def bar(tensors: List[Tensor], keys: List[str], args: List[str]):
    a = tensors[0]
    b = tensors[1]
    return a + b

def scale(tensors: List[Tensor], keys: List[str], args: List[str]):
    return tensors[0] * float(args[0])

def counter(tensors: List[Tensor], keys: List[str], args: List[str]):
    redis.execute("INCRBY", keys[0], args[0])
    v = redis.execute("GET", keys[0])
    return torch.tensor(int(str(v)))

def setter(tensors: List[Tensor], keys: List[str], args: List[str]):
    for i in range(len(keys)):
        redis.execute("SET", keys[i], args[i])
"""

LEGACY_SCRIPT = """
def bar(a, b):
    return a + b
"""

# redisai-py decodes mutable tensors with np.fromstring (deprecated by numpy).
pytestmark = pytest.mark.filterwarnings("ignore:The binary mode of fromstring:DeprecationWarning")

NUMERIC = ["float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16"]


@pytest.fixture
def client(server, con):
    c = rai.Client(port=server.port)  # host defaults to localhost
    yield c
    c.close()


# ---------------------------------------------------------------------------------------
# tensors


@pytest.mark.parametrize("dtype", NUMERIC + ["bool"])
def test_tensorset_tensorget_numpy(client, dtype):
    rng = np.random.default_rng(7)
    if dtype == "bool":
        arr = rng.integers(0, 2, (2, 3)).astype(bool)
    elif dtype.startswith("float"):
        arr = rng.standard_normal((2, 3)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, (2, 3), endpoint=True, dtype=dtype)
    assert client.tensorset("t", arr) == "OK"
    got = client.tensorget("t")
    assert got.dtype == arr.dtype
    assert got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)
    mutable = client.tensorget("t", as_numpy_mutable=True)
    mutable[0, 0] = mutable[0, 1]
    np.testing.assert_array_equal(client.tensorget("t"), arr)


@pytest.mark.parametrize("dtype", ["uint32", "uint64"])
def test_wider_unsigned_dtypes_beyond_redisai(client, dtype):
    """RedisAI refuses UINT32/UINT64; cyrai stores them, and redisai-py reads them back."""
    arr = np.array([0, 1, np.iinfo(dtype).max], dtype=dtype)
    assert client.tensorset("t", arr) == "OK"
    got = client.tensorget("t")
    assert got.dtype == arr.dtype
    np.testing.assert_array_equal(got, arr)


def test_tensorset_string_array(client):
    arr = np.array(["first", "second", "third"])
    assert client.tensorset("s", arr) == "OK"
    got = client.tensorget("s")
    np.testing.assert_array_equal(got, arr)
    meta = client.tensorget("s", as_numpy=False)
    assert meta == {"dtype": "STRING", "shape": [3], "values": ["first", "second", "third"]}


def test_tensorget_values_and_meta_forms(client):
    assert client.tensorset("x", [2, 3, 4], dtype="int64") == "OK"
    assert client.tensorget("x", as_numpy=False) == {
        "values": [2, 3, 4],
        "dtype": "INT64",
        "shape": [3],
    }
    assert client.tensorget("x", meta_only=True) == {"dtype": "INT64", "shape": [3]}
    assert client.tensorset("f", (1.5, 2.5, -3.25, 4), shape=(2, 2), dtype="float") == "OK"
    got = client.tensorget("f", as_numpy=False)
    assert got == {"dtype": "FLOAT", "shape": [2, 2], "values": [1.5, 2.5, -3.25, 4.0]}
    assert client.tensorset("d", [0.1, 0.2], dtype="double") == "OK"
    assert client.tensorget("d", as_numpy=False)["values"] == [0.1, 0.2]
    assert client.tensorset("neg", [-128, 127], dtype="int8") == "OK"
    assert client.tensorget("neg", as_numpy=False)["values"] == [-128, 127]
    np.testing.assert_array_equal(client.tensorget("neg"), np.array([-128, 127], np.int8))
    assert client.tensorset("b", [1, 0, 1], dtype="bool") == "OK"
    np.testing.assert_array_equal(client.tensorget("b"), np.array([True, False, True]))
    assert client.tensorset("st", ["a", "bc"], dtype="str") == "OK"
    assert client.tensorget("st", as_numpy=False)["values"] == ["a", "bc"]


def test_scalar_empty_and_large_tensors(client):
    # 0-dim numpy array: AI.TENSORSET s DOUBLE BLOB <8 bytes> (no shape tokens)
    assert client.tensorset("s", np.array(2.5)) == "OK"
    got = client.tensorget("s")
    assert got.shape == () and got.dtype == np.float64 and got == 2.5
    assert client.tensorget("s", as_numpy=False) == {
        "dtype": "DOUBLE",
        "shape": [],
        "values": [2.5],
    }
    # a zero-length dimension is refused (every dim a client gives must be >= 1)
    with pytest.raises(redis.ResponseError, match="invalid or negative value found in tensor"):
        client.tensorset("e", np.zeros((0,), np.float32))
    # a large blob (the server may keep the argument itself rather than copy it)
    big = np.random.default_rng(1).standard_normal((1024, 1024)).astype(np.float32)
    assert client.tensorset("big", big) == "OK"
    np.testing.assert_array_equal(client.tensorget("big"), big)
    unicode = np.array([["héllo", "wörld"], ["", "∑"]])
    assert client.tensorset("u", unicode) == "OK"
    np.testing.assert_array_equal(client.tensorget("u"), unicode)


def test_tensorget_errors(client):
    with pytest.raises(redis.ResponseError, match="tensor key is empty"):
        client.tensorget("missing")
    client.set("plain", "x")
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        client.tensorget("plain")


def test_pipeline(client):
    pipe = client.pipeline(transaction=False)
    pipe.set("native", 1)
    pipe.tensorset("t", np.array([1, 2], dtype=np.float32))
    pipe.tensorget("t")
    pipe.tensorget("t", as_numpy=False)
    native, tset, arr, meta = pipe.execute()
    assert native is True
    assert tset == b"OK"
    np.testing.assert_array_equal(arr, np.array([1, 2], np.float32))
    assert meta == {"dtype": "FLOAT", "shape": [2], "values": [1.0, 2.0]}


# ---------------------------------------------------------------------------------------
# models


def test_config(client):
    chunk = client.config("MODEL_CHUNK_SIZE")
    assert int(chunk) > 0
    assert client.config("MODEL_CHUNK_SIZE", 1024) == "OK"
    assert client.config("MODEL_CHUNK_SIZE") == 1024
    assert client.config("MODEL_CHUNK_SIZE", chunk) == "OK"
    assert isinstance(client.config("BACKENDSPATH"), str)
    assert client.config("NO_SUCH_OPTION") is None
    with pytest.raises(redis.ResponseError, match="MODEL_CHUNK_SIZE: invalid chunk size"):
        client.config("MODEL_CHUNK_SIZE", -1)
    with pytest.raises(redis.ResponseError, match="unsupported subcommand"):
        client.config("NO_SUCH_OPTION", 1)


def test_loadbackend_and_backendspath(client):
    path = client.config("BACKENDSPATH")
    try:
        assert client.config("BACKENDSPATH", "/tmp/elsewhere") == "OK"
        assert client.config("BACKENDSPATH") == "/tmp/elsewhere"
    finally:
        client.config("BACKENDSPATH", path)
    # RedisAI's backend file name: accepted as "load ONNX" (spec 6.3); a second load fails.
    try:
        assert client.loadbackend("ONNX", "redisai_onnxruntime/redisai_onnxruntime.so") == "OK"
    except redis.ResponseError as e:
        assert str(e) == LOAD_BACKEND  # an earlier test loaded it already
    with pytest.raises(redis.ResponseError, match=LOAD_BACKEND):
        client.loadbackend("ONNX", "redisai_onnxruntime/redisai_onnxruntime.so")
    with pytest.raises(redis.ResponseError, match=UNSUPPORTED_BACKEND):
        client.loadbackend("NOPE", "x.so")


def test_torch_model_store_get_execute_del(client, models):
    blob = models.torch_add
    assert client.modelstore("m", "TORCH", "CPU", blob, tag="v1.0") == "OK"
    meta = client.modelget("m", meta_only=True)
    assert meta["backend"] == "TORCH"
    assert meta["device"] == "CPU"
    assert meta["tag"] == "v1.0"
    assert meta["batchsize"] == 0
    assert meta["minbatchsize"] == 0
    assert meta["minbatchtimeout"] == 0
    assert meta["inputs"] == ["a", "b"]
    assert "blob" not in meta
    full = client.modelget("m")
    got = full["blob"]
    assert (b"".join(got) if isinstance(got, list) else got) == blob

    client.tensorset("a", np.array([[2, 3]], dtype=np.float32))
    client.tensorset("b", np.array([[4, 5]], dtype=np.float32))
    assert client.modelexecute("m", inputs=["a", "b"], outputs="c") == "OK"
    np.testing.assert_array_equal(client.tensorget("c"), np.array([[6, 8]], np.float32))
    assert client.modelexecute("m", inputs=["a", "b"], outputs=["d"], timeout=5000) == "OK"
    np.testing.assert_array_equal(client.tensorget("d"), np.array([[6, 8]], np.float32))

    assert client.modeldel("m") == "OK"
    with pytest.raises(redis.ResponseError, match=MODEL_EMPTY):
        client.modelget("m")
    with pytest.raises(redis.ResponseError, match=MODEL_EMPTY):
        client.modeldel("m")


def test_model_blob_comes_back_in_chunks(client, models):
    blob = models.torch_add
    chunk = client.config("MODEL_CHUNK_SIZE")
    try:
        client.config("MODEL_CHUNK_SIZE", len(blob) // 3)
        # modelstore sends the blob in 4 chunks now; modelget receives 4 chunks back.
        assert client.modelstore("m", "TORCH", "CPU", blob) == "OK"
        got = client.modelget("m")["blob"]
        assert isinstance(got, list) and len(got) == 4
        assert b"".join(got) == blob
    finally:
        client.config("MODEL_CHUNK_SIZE", chunk)
    client.tensorset("a", np.ones(2, np.float32))
    assert client.modelexecute("m", ["a", "a"], ["c"]) == "OK"
    np.testing.assert_array_equal(client.tensorget("c"), np.full(2, 2, np.float32))


def test_model_batching_options(client, models):
    assert (
        client.modelstore(
            "m", "torch", "cpu", models.torch_add, batch=4, minbatch=2, minbatchtimeout=10, tag="b"
        )
        == "OK"
    )
    meta = client.modelget("m", meta_only=True)
    assert (meta["batchsize"], meta["minbatchsize"], meta["minbatchtimeout"]) == (4, 2, 10)
    client.tensorset("a", np.ones((1, 2), np.float32))
    assert client.modelexecute("m", ["a", "a"], ["c"]) == "OK"
    np.testing.assert_array_equal(client.tensorget("c"), np.full((1, 2), 2, np.float32))


def test_torch_mlp_matches_in_process_result(client, models):
    client.modelstore("mlp", "TORCH", "CPU", models.torch_mlp)
    client.tensorset("x", np.array(models.expected["mlp_input"], np.float32))
    assert client.modelexecute("mlp", "x", "y") == "OK"
    np.testing.assert_allclose(
        client.tensorget("y"),
        np.array(models.expected["mlp_output"], np.float32),
        rtol=1e-5,
        atol=1e-6,
    )


def test_onnx_model(client, models):
    assert client.modelstore("o", "ONNX", "CPU", models.onnx_add) == "OK"
    assert client.modelget("o", meta_only=True)["backend"] == "ONNX"
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    client.tensorset("a", a)
    client.tensorset("b", a * 10)
    assert client.modelexecute("o", ["a", "b"], ["s"]) == "OK"
    np.testing.assert_array_equal(client.tensorget("s"), a * 11)


def test_tf_model_with_inputs_and_outputs(client, models):
    # MODELSTORE ... INPUTS 2 a b OUTPUTS 1 mul BLOB ...
    assert (
        client.modelstore(
            "m", "TF", "CPU", models.tf_mul, inputs=["a", "b"], outputs="mul", tag="v1.0"
        )
        == "OK"
    )
    meta = client.modelget("m", meta_only=True)
    assert (meta["backend"], meta["inputs"], meta["outputs"]) == ("TF", ["a", "b"], ["mul"])
    client.tensorset("a", (2, 3), dtype="float")
    client.tensorset("b", (2, 3), dtype="float")
    assert client.modelexecute("m", ["a", "b"], "c") == "OK"
    np.testing.assert_array_equal(client.tensorget("c"), np.array([4, 9], np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        # MODELSET ... INPUTS a b OUTPUTS mul (no counts)
        assert (
            client.modelset("m2", "tf", "cpu", models.tf_mul, inputs=["a", "b"], outputs=["mul"])
            == "OK"
        )
        assert client.modelrun("m2", ["a", "b"], "out") == "OK"
    np.testing.assert_array_equal(client.tensorget("out"), np.array([4, 9], np.float32))
    with pytest.raises(redis.ResponseError):
        client.modelstore("bad", "TF", "CPU", models.torch_add, inputs=["a", "b"], outputs=["mul"])


def test_model_store_errors(client, models):
    with pytest.raises(redis.ResponseError):
        client.modelstore("bad", "TORCH", "CPU", b"not a model")
    with pytest.raises(ValueError):
        client.modelstore("m", "TORCH", "TPU", models.torch_add)  # refused by the client
    client.modelstore("m", "TORCH", "CPU", models.torch_add)
    client.tensorset("a", np.ones(2, np.float32))
    with pytest.raises(redis.ResponseError, match="tensor key is empty"):
        client.modelexecute("m", ["a", "missing"], ["c"])


def test_deprecated_modelset_modelrun(client, models):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert client.modelset("m", "TORCH", "CPU", models.torch_add, tag="old") == "OK"
        client.tensorset("a", np.array([1, 2], np.float32))
        assert client.modelrun("m", ["a", "a"], ["c"]) == "OK"
    np.testing.assert_array_equal(client.tensorget("c"), np.array([2, 4], np.float32))
    assert client.modelget("m", meta_only=True)["tag"] == "old"


def test_modelscan_order(client, models):
    # redisai-py's own test_model_list: this exact order (spec 3.8).
    client.modelstore(
        "m", "TF", "CPU", models.tf_mul, inputs=["a", "b"], outputs=["mul"], tag="v1.2"
    )
    client.modelstore("pt_model", "TORCH", "CPU", models.torch_add)
    with pytest.warns(UserWarning):
        assert client.modelscan() == [["pt_model", ""], ["m", "v1.2"]]


def test_scriptscan_order(client):
    # redisai-py's own test_script_list: this exact order (spec 4.9).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        client.scriptset("ket1", "CPU", LEGACY_SCRIPT, tag="v1.0")
        client.scriptset("ket2", "CPU", LEGACY_SCRIPT)
    with pytest.warns(UserWarning):
        assert client.scriptscan() == [["ket1", "v1.0"], ["ket2", ""]]


# ---------------------------------------------------------------------------------------
# scripts


def test_scriptstore_get_execute_del(client):
    assert client.scriptstore("s", "CPU", SCRIPT, ["bar", "scale", "counter"], tag="v1") == "OK"
    meta = client.scriptget("s", meta_only=True)
    assert meta == {"device": "CPU", "tag": "v1", "entry points": [b"bar", b"scale", b"counter"]}
    full = client.scriptget("s")
    assert full["source"] == SCRIPT

    client.tensorset("a", np.array([1, 2], np.float32))
    client.tensorset("b", np.array([10, 20], np.float32))
    assert client.scriptexecute("s", "bar", inputs=["a", "b"], outputs=["c"]) == "OK"
    np.testing.assert_array_equal(client.tensorget("c"), np.array([11, 22], np.float32))
    assert (
        client.scriptexecute("s", "scale", inputs="a", args="2.5", outputs="d", timeout=5000)
        == "OK"
    )
    np.testing.assert_array_equal(client.tensorget("d"), np.array([2.5, 5], np.float32))
    assert client.scriptexecute("s", "counter", keys=["cnt"], args=["3"], outputs=["n"]) == "OK"
    assert client.scriptexecute("s", "counter", keys="cnt", args="4", outputs="n") == "OK"
    assert client.get("cnt") == b"7"
    assert client.tensorget("n", as_numpy=False) == {"dtype": "INT64", "shape": [], "values": [7]}

    assert client.scriptdel("s") == "OK"
    with pytest.raises(redis.ResponseError, match=SCRIPT_EMPTY):
        client.scriptget("s")


def test_scriptexecute_keys_and_args_only(client):
    # AI.SCRIPTEXECUTE s setter KEYS 2 k1 k2 ARGS 2 v1 v2: no tensors in or out
    client.scriptstore("s", "CPU", SCRIPT, ["setter"])
    assert client.scriptexecute("s", "setter", keys=["k1", "k2"], args=["v1", "v2"]) == "OK"
    assert client.mget("k1", "k2") == [b"v1", b"v2"]
    with pytest.raises(ValueError):  # the client wants KEYS or INPUTS
        client.scriptexecute("s", "setter", args=["x"])


def test_scriptstore_single_entry_point_string(client):
    assert client.scriptstore("s", "CPU", SCRIPT, "bar") == "OK"
    assert client.scriptget("s", meta_only=True)["entry points"] == [b"bar"]


def test_script_errors(client):
    with pytest.raises(redis.ResponseError):
        client.scriptstore("s", "CPU", "def bar(:\n", "bar")
    with pytest.raises(redis.ResponseError, match="does not exist"):
        client.scriptstore("s", "CPU", SCRIPT, "nope")
    client.scriptstore("s", "CPU", SCRIPT, "bar")
    client.tensorset("a", np.ones(2, np.float32))
    with pytest.raises(redis.ResponseError):
        client.scriptexecute("s", "bar", inputs=["a"], outputs=["c"])  # tensors[1] missing


def test_deprecated_scriptset_scriptrun(client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert client.scriptset("s", "CPU", LEGACY_SCRIPT, tag="old") == "OK"
        client.tensorset("a", np.array([1, 2], np.float32))
        assert client.scriptrun("s", "bar", ["a", "a"], "c") == "OK"
    np.testing.assert_array_equal(client.tensorget("c"), np.array([2, 4], np.float32))
    assert client.scriptget("s", meta_only=True) == {
        "device": "CPU",
        "tag": "old",
        "entry points": [],
    }


# ---------------------------------------------------------------------------------------
# DAG


def test_dag_execute(client, models):
    client.modelstore("m", "TORCH", "CPU", models.torch_add)
    client.tensorset("a", np.array([1, 2], np.float32))
    dag = client.dag(load="a", persist=["c"])
    dag.tensorset("b", np.array([3, 4], np.float32))
    dag.modelexecute("m", inputs=["a", "b"], outputs=["c"])
    dag.tensorget("c")
    dag.tensorget("c", as_numpy=False)
    res = dag.execute()
    assert res[0] == "OK"
    assert res[1] == "OK"
    np.testing.assert_array_equal(res[2], np.array([4, 6], np.float32))
    assert res[3] == {"dtype": "FLOAT", "shape": [2], "values": [4.0, 6.0]}
    np.testing.assert_array_equal(client.tensorget("c"), np.array([4, 6], np.float32))
    assert not client.exists("b")


def test_dag_routing_timeout_and_script(client, models):
    client.modelstore("m", "TORCH", "CPU", models.torch_add)
    client.scriptstore("s", "CPU", SCRIPT, ["bar", "scale"])
    dag = client.dag(routing="m", timeout=5000)
    dag.tensorset("x", [1, 2, 3], dtype="float")
    dag.modelexecute("m", ["x", "x"], ["y"])
    dag.scriptexecute("s", "scale", inputs="y", args="10", outputs="z")
    dag.tensorget("z", as_numpy=False)
    res = dag.execute()
    assert res[:3] == ["OK", "OK", "OK"]
    assert res[3]["values"] == [20.0, 40.0, 60.0]


def test_dag_readonly_and_deprecated_dagrun(client, models):
    client.modelstore("m", "TORCH", "CPU", models.torch_add)
    client.tensorset("a", np.array([5], np.float32))
    ro = client.dag(load="a", readonly=True)
    ro.modelexecute("m", ["a", "a"], ["b"])
    ro.tensorget("b")
    res = ro.execute()
    assert res[0] == "OK"
    np.testing.assert_array_equal(res[1], np.array([10], np.float32))
    with pytest.raises(RuntimeError):
        client.dag(persist="x", readonly=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = client.dag()
        old.tensorset("p", np.array([1, 1], np.float32))
        old.modelrun("m", ["p", "p"], ["q"])
        old.tensorget("q")
        res = old.run()
    assert res[:2] == ["OK", "OK"]
    np.testing.assert_array_equal(res[2], np.array([2, 2], np.float32))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old_ro = client.dag(readonly=True)
        old_ro.tensorset("p", np.array([3], np.float32))
        old_ro.modelrun("m", ["p", "p"], ["q"])
        old_ro.tensorget("q", as_numpy=False)
        res = old_ro.execute()
    assert res[2]["values"] == [6.0]


def test_dag_error_is_raised(client, models):
    client.modelstore("m", "TORCH", "CPU", models.torch_add)
    dag = client.dag(load="missing")
    dag.tensorget("missing")
    with pytest.raises(redis.ResponseError):
        dag.execute()


# ---------------------------------------------------------------------------------------
# AI.INFO


def test_infoget_inforeset(client, models):
    client.modelstore("m", "TORCH", "CPU", models.torch_add, tag="t")
    client.tensorset("a", np.ones((3, 2), np.float32))
    for _ in range(3):
        client.modelexecute("m", ["a", "a"], ["c"])
    info = client.infoget("m")
    assert info["key"] == "m"
    assert info["type"] == "MODEL"
    assert info["backend"] == "TORCH"
    assert info["device"] == "CPU"
    assert info["tag"] == "t"
    assert info["calls"] == 3
    assert info["samples"] == 9
    assert info["errors"] == 0
    assert int(info["duration"]) >= 0
    assert client.inforeset("m") == "OK"
    info = client.infoget("m")
    assert (info["calls"], info["samples"], info["errors"]) == (0, 0, 0)

    client.scriptstore("s", "CPU", SCRIPT, "bar")
    client.scriptexecute("s", "bar", inputs=["a", "a"], outputs=["c"])
    info = client.infoget("s")
    assert info["type"] == "SCRIPT"
    assert info["backend"] == "TORCH"
    assert info["calls"] == 1
    assert info["samples"] == -1
    assert client.inforeset("s") == "OK"
    assert client.infoget("s")["calls"] == 0
    with pytest.raises(redis.ResponseError):
        client.infoget("nothing")
