"""The scripts the flow tests store and the helpers that store and run them, shared by
test_scripts.py and test_script_errors.py."""

import torch
from includes import meta_dict

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
