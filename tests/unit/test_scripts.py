"""TORCH scripts without Redis: compile, entry-point validation, both calling conventions,
return-value rules and the ops scripts call (spec 4.1, 4.4-4.8).

Redis is replaced at the seam the bridge uses, script_ops.set_hooks: a dict-backed fake for
redis.execute (replies already converted, as the bridge's hook returns them) and a fake
redisAI.model_execute that runs a torch function per model key.
"""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import backends
from backends import BackendError, script_ops
from tests.flow.error_texts import (
    CALL_ERROR,
    MODEL_EMPTY,
    TORCH_GPU,
    UNSUPPORTED_DEVICE,
    WRONGTYPE,
    err,
)

torch = pytest.importorskip("torch")
ts = pytest.importorskip("backends.torch_script")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated:DeprecationWarning",
    "ignore:The given NumPy array is not writable:UserWarning",
)

SIG = "(tensors: List[Tensor], keys: List[str], args: List[str])"

# Spec 4.5, verbatim.
EXAMPLES = f"""
def scale{SIG}:
    return tensors[0] * float(args[0])                     # ARGS 1 2.5

def counter{SIG}:
    redis.execute("INCRBY", keys[0], args[0])              # varargs form
    v = redis.execute("GET", keys[0])                      # Any (str here)
    return torch.tensor(int(str(v)))                       # INT64, shape []

def chain{SIG}:
    outs = redisAI.model_execute(keys[0], [tensors[0], tensors[1]], 1)
    return outs[0] * 2                                     # model key passed in KEYS
"""


class FakeRedis:
    """A keyspace of strings, lists and hashes answering like the bridge's execute hook."""

    def __init__(self):
        # Redis arities: n exactly, -n at least n (command name included).
        self.arity = {
            "GET": 2,
            "SET": 3,
            "INCRBY": 3,
            "DEL": -2,
            "RPUSH": -3,
            "LRANGE": 4,
            "HSET": -4,
            "HVALS": 2,
            "HGET": 3,
            "PING": -1,
        }
        self.data = {}
        self.calls = []

    def __call__(self, argv):
        self.calls.append(list(argv))
        cmd, args = argv[0].upper(), list(argv[1:])
        arity = self.arity.get(cmd)
        if arity is None:
            raise BackendError("Redis command returned an error: No such file or directory")
        if (arity > 0 and len(argv) != arity) or len(argv) < -arity:
            raise BackendError("Redis command returned an error: Invalid argument")
        return getattr(self, "cmd_" + cmd.lower())(*args)

    def _typed(self, key, kind):
        value = self.data.get(key)
        if value is not None and not isinstance(value, kind):
            raise BackendError(CALL_ERROR + WRONGTYPE)
        return value

    def cmd_ping(self, *args):
        return args[0] if args else "PONG"

    def cmd_get(self, key):
        return self._typed(key, str)

    def cmd_set(self, key, value):
        self.data[key] = value
        return "OK"

    def cmd_incrby(self, key, by):
        self.data[key] = str(int(self._typed(key, str) or 0) + int(by))
        return int(self.data[key])

    def cmd_del(self, *keys):
        return sum(self.data.pop(k, None) is not None for k in keys)

    def cmd_rpush(self, key, *values):
        self.data.setdefault(key, []).extend(values)
        return len(self._typed(key, list))

    def cmd_lrange(self, key, start, stop):
        values = self._typed(key, list) or []
        stop = int(stop)
        return values[int(start) : None if stop == -1 else stop + 1]

    def cmd_hset(self, key, *pairs):
        self.data.setdefault(key, {})
        self._typed(key, dict).update(zip(pairs[::2], pairs[1::2]))
        return len(pairs) // 2

    def cmd_hvals(self, key):
        return list((self._typed(key, dict) or {}).values())

    def cmd_hget(self, key, field):
        return (self._typed(key, dict) or {}).get(field)


class FakeModels:
    """redisAI.model_execute over torch functions keyed by model name."""

    def __init__(self, **models):
        self.models = models
        self.seen = []

    def __call__(self, key, inputs, num_outputs):
        self.seen.append((key, inputs, num_outputs, torch.is_grad_enabled()))
        if key not in self.models:
            raise BackendError(err(MODEL_EMPTY))
        return self.models[key](*inputs)[:num_outputs]


@pytest.fixture
def redis():
    fake, models = FakeRedis(), FakeModels(add=lambda a, b: [a + b])
    script_ops.set_hooks(fake, models)
    yield fake, models
    script_ops.clear_hooks()


def compile_entry(body, *names, device="CPU"):
    return ts.compile_script(body, device=device, entry_points=list(names))


def error_of(fn, *args, **kwargs):
    with pytest.raises(BackendError) as info:
        fn(*args, **kwargs)
    text = str(info.value)
    assert text and "\n" not in text and "\r" not in text
    return text


# --- spec 4.5 examples ---------------------------------------------------------------


def test_scale_example():
    script = compile_entry(EXAMPLES, "scale", "counter", "chain")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (out,) = script.run("scale", [x], [], ["2.5"], noutputs=1)
    assert out.dtype == torch.float32 and out.shape == (2, 3)
    np.testing.assert_array_equal(out.numpy(), x * 2.5)


def test_counter_example(redis):
    fake, _ = redis
    script = compile_entry(EXAMPLES, "scale", "counter", "chain")
    assert script.run("counter", [], ["cnt"], ["3"], noutputs=1)[0].item() == 3
    (out,) = script.run("counter", [], ["cnt"], ["4"], noutputs=1)
    assert out.dtype == torch.int64 and out.shape == () and out.item() == 7
    assert fake.data["cnt"] == "7"
    assert fake.calls[:2] == [["INCRBY", "cnt", "3"], ["GET", "cnt"]]


def test_chain_example(redis):
    _, models = redis
    script = compile_entry(EXAMPLES, "scale", "counter", "chain")
    a, b = np.ones((2, 2), np.float32), np.full((2, 2), 2, np.float32)
    (out,) = script.run("chain", [a, b, a], ["add"], [], noutputs=1)
    np.testing.assert_array_equal(out.numpy(), (a + b) * 2)
    key, inputs, n, grad = models.seen[0]
    assert (key, n, grad) == ("add", 1, False) and len(inputs) == 2
    assert all(isinstance(t, torch.Tensor) for t in inputs)


# --- redis.execute / redis.asList / redisAI.model_execute -------------------------------

OPS = f"""
def set_list{SIG}:
    redis.execute("SET", [keys[0], args[0]])
    return torch.tensor(0)

def ping{SIG}:
    return torch.tensor(len(str(redis.execute("PING"))))

def hash_values{SIG}:
    args.insert(0, keys[0])
    redis.execute("HSET", args)
    values = redis.asList(redis.execute("HVALS", keys[0]))
    l = [torch.tensor(int(str(v))).reshape(1, 1) for v in values]
    return torch.cat(l, dim=0)

def many_args{SIG}:
    redis.execute("HSET", keys[0], "f1", "1", "f2", "2", "f3", "3")
    return torch.tensor(int(str(redis.execute("HGET", keys[0], "f3"))))

def mixed{SIG}:
    values = redis.asList(redis.execute("MIXED"))
    return torch.tensor(len(values)), torch.tensor(len(str(values[4])))

def describe{SIG}:
    return torch.tensor([ord(c) for c in str(redis.execute(args[0], keys[0]))])

def as_list_of_str{SIG}:
    return torch.tensor(len(redis.asList(redis.execute("GET", keys[0]))))

def unused_results{SIG}:
    redis.execute("GET", keys[0])
    redis.execute("GET", keys[0])
    return torch.tensor(0)

def CaseInsensitive{SIG}:
    REDIS.execute("SET", keys[0], "1")
    Redis.execute("INCRBY", keys[0], "1")
    return REDISAI.model_execute(keys[1], [tensors[0], tensors[0]], 1)[0] + \
        redisai.model_execute(keys[1], [tensors[0], tensors[0]], 1)[0]
"""


def describe(script, cmd, key="k"):
    (out,) = script.run("describe", [], [key], [cmd], noutputs=1)
    return "".join(map(chr, out.tolist()))


def ops_script():
    names = [line[4 : line.index("(")] for line in OPS.splitlines() if line.startswith("def ")]
    return compile_entry(OPS, *names)


def test_execute_list_and_no_arg_forms(redis):
    fake, _ = redis
    script = ops_script()
    script.run("set_list", [], ["k"], ["v"])
    assert fake.data["k"] == "v"
    assert script.run("ping", [], [], [])[0].item() == 4
    assert fake.calls == [["SET", "k", "v"], ["PING"]]


def test_execute_varargs_and_array_replies(redis):
    fake, _ = redis
    script = ops_script()
    (out,) = script.run("hash_values", [], ["h"], ["a", "1", "b", "2"], noutputs=1)
    assert out.tolist() == [[1], [2]]
    assert script.run("many_args", [], ["h2"], [])[0].item() == 3
    assert fake.calls[-2] == ["HSET", "h2", "f1", "1", "f2", "2", "f3", "3"]


def test_reply_values_inside_any(redis):
    fake, _ = redis
    fake.data.update(s="text", n="12")
    script = ops_script()
    assert describe(script, "GET", "s") == "text"
    assert describe(script, "GET", "missing") == "None"
    assert describe(script, "DEL", "n") == "1"
    # An unconverted array reply is a tuple inside Any (see torch_script's docstring).
    assert describe(script, "HVALS", "missing") == "()"


def test_heterogeneous_array_reply_as_list(redis):
    fake, _ = redis
    fake.arity["MIXED"] = 1
    fake.cmd_mixed = lambda: ["a", None, 3, [], ["x", 1]]
    count, inner = ops_script().run("mixed", [], [], [])
    assert count.item() == 5 and inner.item() == len("(x, 1)")


def test_as_list_of_a_non_list(redis):
    fake, _ = redis
    fake.data["k"] = "v"
    assert error_of(ops_script().run, "as_list_of_str", [], ["k"], []) == (
        "Expected GenericList but got String"
    )


def test_execute_calls_are_never_dropped_or_merged(redis):
    fake, _ = redis
    ops_script().run("unused_results", [], ["k"], [])
    assert fake.calls == [["GET", "k"], ["GET", "k"]]


def test_redis_and_redisai_names_are_case_insensitive(redis):
    fake, _ = redis
    x = np.ones(2, np.float32)
    (out,) = ops_script().run("CaseInsensitive", [x], ["k", "add"], [], noutputs=1)
    assert out.tolist() == [4.0, 4.0] and fake.data["k"] == "2"


def test_redis_error_replies_fail_the_script_with_their_text(redis):
    fake, _ = redis
    fake.data["h"] = {"f": "1"}
    script = ops_script()
    assert error_of(script.run, "describe", [], ["h"], ["GET"]) == (CALL_ERROR + WRONGTYPE)
    assert error_of(script.run, "describe", [], ["k"], ["NOSUCHCMD"]) == (
        "Redis command returned an error: No such file or directory"
    )
    assert error_of(script.run, "describe", [], ["k"], ["SET"]) == (
        "Redis command returned an error: Invalid argument"
    )


def test_model_execute_errors(redis):
    script = compile_entry(EXAMPLES, "chain")
    x = np.ones(2, np.float32)
    assert error_of(script.run, "chain", [x, x], ["nomodel"], []) == err(MODEL_EMPTY)


def test_ops_without_hooks():
    script_ops.clear_hooks()
    script = compile_entry(EXAMPLES, "counter", "chain")
    assert error_of(script.run, "counter", [], ["k"], ["1"]) == script_ops.NO_CONTEXT
    x = np.ones(2, np.float32)
    assert error_of(script.run, "chain", [x, x], ["m"], []) == script_ops.NO_CONTEXT
    assert script_ops.NO_CONTEXT == "Redis command returned an error: no Redis context"


def test_op_error_text_is_per_thread(redis):
    script = compile_entry(EXAMPLES, "chain", "scale")
    x = np.ones(2, np.float32)
    errors, results = [], []

    def failing():
        for _ in range(50):
            errors.append(error_of(script.run, "chain", [x, x], ["nomodel"], []))

    def working():
        for _ in range(50):
            results.append(script.run("scale", [x], [], ["2"], noutputs=1)[0].tolist())

    threads = [threading.Thread(target=f) for f in (failing, working, failing, working)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(errors) == {err(MODEL_EMPTY)}
    assert results == [[2.0, 2.0]] * 100


# --- compile ---------------------------------------------------------------------------


def test_typing_names_need_no_import():
    source = """
def helper(a: Optional[Tensor], d: Dict[str, Tensor], t: Tuple[Tensor, int], x: Any) -> Tensor:
    if a is None:
        return t[0]
    return a + d["k"]

def f(tensors: List[Tensor], keys: List[str], args: List[str]):
    return helper(None, {"k": tensors[0]}, (tensors[0], 1), 3)
"""
    x = np.arange(3, dtype=np.float32)
    out = compile_entry(source, "f").run("f", [x], [], [])
    assert out[0].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f(x):\n    return np.add(x, x)\n", "undefined value np:"),
        ("import torch\n\ndef f(x):\n    return x\n", "expected def but found 'import' here:"),
        ("def f(x):\n    return x +\n", "expected ident but found 'newline' here:"),
        ("def f(x: List[int]):\n    return x[0] + 'a'\n", "Arguments for call are not valid"),
    ],
)
def test_compile_errors_are_one_line(source, expected):
    text = error_of(ts.compile_script, source, device="CPU", entry_points=None)
    assert text.startswith(expected)


def test_entry_point_validation_texts():
    source = f"""
def good{SIG}:
    return tensors[0]

def two(tensors: List[Tensor], keys: List[str]):
    return tensors[0]

def four(tensors: List[Tensor], keys: List[str], args: List[str], more: List[str]):
    return tensors[0]

def ints(tensors: List[Tensor], keys: List[str], args: List[int]):
    return tensors[0]

def bar(a, b):
    return a + b
"""

    def store(*eps):
        return ts.compile_script(source, device="CPU", entry_points=list(eps))

    assert store("good").entry_points == ["good"]
    assert error_of(store, "good", "bar1") == "Function bar1 does not exist in the given script."
    assert error_of(store, "two") == "Wrong number of inputs in function two. Expected 3 but was 2"
    assert (
        error_of(store, "four") == "Wrong number of inputs in function four. Expected 3 but was 4"
    )
    assert error_of(store, "ints") == (
        "Wrong inputs type in function ints. Expected signature similar to: def ints" + SIG
    )
    # SCRIPTSET: no entry points, nothing validated.
    assert ts.compile_script(source, device="CPU", entry_points=None).entry_points == []
    assert ts.compile_script(source, device="CPU", entry_points=[]).entry_points == []


@pytest.mark.parametrize("device", ["CPU", "cpu", "CPU:0", "cpu1", "CPUANYTHING"])
def test_cpu_devices(device):
    assert ts.compile_script("", device=device).device == torch.device("cpu")


@pytest.mark.parametrize("device", ["TPU", "", "GP", "cuda"])
def test_unsupported_devices(device):
    assert error_of(ts.compile_script, "", device=device) == err(UNSUPPORTED_DEVICE)


@pytest.mark.parametrize("device", ["GPU", "gpu:0", "GPU:1"])
def test_gpu_devices(device):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here: GPU scripts compile")
    assert error_of(ts.compile_script, "", device=device) == TORCH_GPU


def test_compile_script_reachable_from_the_torch_backend():
    torch_backend = backends.get("TORCH")
    assert torch_backend.compile_script is backends.torch_script.compile_script


def test_script_ops_imports_no_framework():
    code = "import sys, backends.script_ops; print('torch' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "False"


# --- legacy calling convention (spec 4.8) -----------------------------------------------

LEGACY = """
def bar(a, b):
    return a + b

def bar_variadic(a, args: List[Tensor]):
    return args[0] + args[-1]

def no_params():
    return torch.ones(1)

def with_int(a: Tensor, n: int):
    return a * n

def only_list(rest: List[Tensor]):
    return torch.tensor(len(rest))

def entry(tensors: List[Tensor], keys: List[str], args: List[str]):
    return torch.tensor(len(tensors) + len(keys) + len(args))
"""


def legacy(entry_points=None):
    return ts.compile_script(LEGACY, device="CPU", entry_points=entry_points)


def f32(*values):
    return np.array(values, dtype=np.float32)


def test_legacy_positional_tensors_and_surplus_ignored():
    script = legacy()
    assert script.run("bar", [f32(1), f32(2)], [], [])[0].tolist() == [3.0]
    assert script.run("bar", [f32(1), f32(2), f32(5)], ["k"], ["a"])[0].tolist() == [3.0]
    assert script.run("no_params", [f32(7)], [], [])[0].tolist() == [1.0]


def test_legacy_tensor_list_takes_the_rest():
    script = legacy()
    out = script.run("bar_variadic", [f32(1), f32(2), f32(3), f32(4)], [], [])
    assert out[0].tolist() == [6.0]
    assert script.run("only_list", [f32(1), f32(2), f32(3)], [], [])[0].item() == 3


def test_legacy_errors():
    script = legacy()
    assert error_of(script.run, "missing", [f32(1)], [], []) == "Function does not exist: missing"
    assert error_of(script.run, "bar", [f32(1)], [], []) == (
        "Wrong number of inputs provided to function: bar"
    )
    # The list parameter counts as one declared input.
    assert error_of(script.run, "only_list", [], [], []) == (
        "Wrong number of inputs provided to function: only_list"
    )
    assert error_of(script.run, "with_int", [f32(1), f32(2)], [], []) == (
        "Unsupported input type in function definition: with_int"
    )
    # An entry-point-shaped function in a SCRIPTSET script is still called the legacy way.
    # The list takes every input and ends the mapping, so torch finds keys unfilled.
    assert error_of(script.run, "entry", [f32(1), f32(2), f32(3)], [], []) == (
        "entry() is missing value for argument 'keys'. "
        "Declaration: entry(Tensor[] tensors, str[] keys, str[] args) -> Tensor"
    )


def test_entry_points_and_legacy_functions_in_one_script():
    script = legacy(entry_points=["entry"])
    # SCRIPTRUN on an entry point: new convention with empty keys and args.
    assert script.run("entry", [f32(1), f32(2)], [], [])[0].item() == 2
    assert script.run("entry", [f32(1)], ["k1", "k2"], ["a"])[0].item() == 4
    # A non-entry function of a SCRIPTSTORE script: legacy, KEYS and ARGS ignored.
    assert script.run("bar", [f32(1), f32(2)], ["k"], ["a"])[0].tolist() == [3.0]


# --- return values (spec 4.4) ----------------------------------------------------------

RETURNS = f"""
def one{SIG}:
    return tensors[0]

def pair{SIG}:
    return tensors[0], tensors[0] * 2

def as_list{SIG}:
    return [tensors[0], tensors[0] + 1, tensors[0] + 2]

def nested{SIG}:
    return (tensors[0], (tensors[0], tensors[0]))

def with_int{SIG}:
    return tensors[0], 3

def number{SIG}:
    return 3

def nothing{SIG}:
    x = tensors[0] + 1

def transposed{SIG}:
    return tensors[0].t()

def ints{SIG}:
    return [1, 2]
"""


@pytest.fixture(scope="module")
def returns():
    names = [line[4 : line.index("(")] for line in RETURNS.splitlines() if line.startswith("def ")]
    return compile_entry(RETURNS, *names)


def test_return_values_are_flattened_in_order(returns):
    x = f32(1, 2)
    assert [t.tolist() for t in returns.run("pair", [x], [], [], noutputs=2)] == [[1, 2], [2, 4]]
    assert [t.tolist() for t in returns.run("as_list", [x], [], [], noutputs=3)] == [
        [1, 2],
        [2, 3],
        [3, 4],
    ]
    assert len(returns.run("one", [x], [], [])) == 1


@pytest.mark.parametrize("fn, n", [("one", 2), ("pair", 1), ("pair", 3), ("as_list", 2)])
def test_unexpected_number_of_outputs(returns, fn, n):
    assert error_of(returns.run, fn, [f32(1)], [], [], noutputs=n) == (
        f"Function returned unexpected number of outputs - {fn}"
    )


@pytest.mark.parametrize("fn", ["nested", "with_int", "number", "nothing", "ints"])
def test_non_tensor_values(returns, fn):
    assert error_of(returns.run, fn, [f32(1)], [], [], noutputs=1) == (
        f"Function returned non-tensor values{fn}"
    )
    # Without OUTPUTS the return value is ignored.
    assert returns.run(fn, [f32(1)], [], [], noutputs=0) == []


def test_outputs_are_contiguous_cpu_tensors(returns):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (out,) = returns.run("transposed", [x], [], [], noutputs=1)
    assert out.is_contiguous() and out.device.type == "cpu" and out.shape == (3, 2)
    np.testing.assert_array_equal(out.numpy(), x.T)


# --- inputs and execution state --------------------------------------------------------


def readonly(a):
    a = np.ascontiguousarray(a)
    a.flags.writeable = False
    return a


class DLPackOnly:
    """An input that offers nothing but DLPack, like the engine's tensor views."""

    def __init__(self, tensor):
        self._t = tensor

    def __dlpack__(self, *args, **kwargs):
        return self._t.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self._t.__dlpack_device__()


def test_inputs_are_zero_copy(returns):
    x = readonly(np.arange(4, dtype=np.float32))
    (out,) = returns.run("one", [x], [], [])
    assert out.data_ptr() == x.ctypes.data
    src = torch.arange(4, dtype=torch.float32)
    (out,) = returns.run("one", [DLPackOnly(src)], [], [])
    assert out.data_ptr() == src.data_ptr()


def test_engine_tensor_views_are_zero_copy(returns):
    bridge = pytest.importorskip("cyrai_bridge", reason="build the bridge with `make build`")
    t = bridge.tensor_from_array(np.arange(4, dtype=np.float32))
    (out,) = returns.run("one", [t], [], [])
    assert out.data_ptr() == t.data_ptr and out.tolist() == [0, 1, 2, 3]


def test_string_inputs_fail_with_one_line():
    x = np.array([b"a", b"b"], dtype=object)
    text = error_of(compile_entry(RETURNS, "one").run, "one", [x], [], [])
    assert "DLPack" in text


def test_bytes_keys_and_args_are_strings():
    script = compile_entry(
        f"def f{SIG}:\n    return torch.tensor(len(keys[0]) + int(args[0]))\n", "f"
    )
    assert script.run("f", [], [b"key"], [b"4"])[0].item() == 7


def test_gradients_are_disabled(redis):
    _, models = redis
    source = f"""
def grad{SIG}:
    outs = redisAI.model_execute(keys[0], [tensors[0], tensors[0]], 1)
    return torch.tensor(torch.is_grad_enabled()), outs[0] * tensors[0]
"""
    script = compile_entry(source, "grad")
    x = torch.ones(2, requires_grad=True)
    result = []

    def worker():  # a fresh thread starts with grad enabled
        assert torch.is_grad_enabled()
        result.extend(script.run("grad", [x], ["add"], [], noutputs=2))

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    enabled, out = result
    assert not enabled.item() and not out.requires_grad
    assert models.seen[0][3] is False


def test_runtime_errors_are_one_line():
    source = f"def mm{SIG}:\n    return tensors[0] @ tensors[1]\n"
    x, y = np.ones((2, 2), np.float32), np.ones((3, 3), np.float32)
    text = error_of(compile_entry(source, "mm").run, "mm", [x, y], [], [])
    assert text.startswith("The following operation failed in the TorchScript interpreter.")
    assert text.endswith("RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x2 and 3x3)")
