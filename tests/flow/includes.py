"""Helpers shared by the flow tests."""

import contextlib
import os
import select
import socket
import sys
import threading
import time

# The server launcher is shared with the client tests and the benchmarks: it lives in opt/.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "opt"))

import numpy as np
import redis
from redis_launcher import RedisServer

MODULE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "build", "cyrai.so"))

# The server gives AI.* and other errors as ResponseError; tests compare exact texts.


def error_text(env, *args, conn=None):
    """Sends a command expected to fail and returns its error text (without the ERR
    prefix redis-py strips)."""
    con = conn or env.getConnection()
    try:
        reply = con.execute_command(*args)
    except redis.exceptions.ResponseError as e:  # a lost connection is not an answer
        return str(e)
    env.assertTrue(False, message=f"expected an error from {args!r}, got {reply!r}")
    return None


def keyspace(con):
    """A snapshot of every key with its type and dump, to check nothing changed."""
    return {k: (con.type(k), con.dump(k)) for k in sorted(con.keys("*"))}


def random_array(rng, dtype, shape):
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if np.dtype(dtype).kind == "b":
        return rng.integers(0, 2, shape).astype(bool)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, dtype=dtype, endpoint=True)


# ---------------------------------------------------------------------------------------
# Tensors

# Every numeric dtype the module knows, with the numpy type whose bytes it stores.
# BFLOAT16 has no numpy type: its elements travel as uint16 bit patterns (see bf16_*).
NUMERIC_DTYPES = {
    "FLOAT": np.float32,
    "DOUBLE": np.float64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "BOOL": np.bool_,
    "FLOAT16": np.float16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
}
ALL_DTYPES = [*NUMERIC_DTYPES, "BFLOAT16", "STRING"]


def bf16_random(rng, shape):
    """Random bfloat16 elements as uint16 bit patterns (the upper half of a float32)."""
    f32 = rng.standard_normal(shape).astype(np.float32)
    return (f32.view(np.uint32) >> 16).astype(np.uint16)


def bf16_to_float(bits):
    """The float32 values of bfloat16 bit patterns."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def tensor_data(rng, dtype, shape):
    """A random array whose tobytes() is a valid BLOB of dtype (BFLOAT16: bits)."""
    if dtype == "BFLOAT16":
        return bf16_random(rng, shape)
    return random_array(rng, NUMERIC_DTYPES[dtype], shape)


def python_values(dtype, arr):
    """The elements of arr as AI.TENSORGET VALUES gives them through redis-py (RESP2):
    floats for float types (parsed from the double reply), ints for the others."""
    if dtype == "BFLOAT16":
        return [float(v) for v in bf16_to_float(arr).ravel()]
    if np.dtype(NUMERIC_DTYPES[dtype]).kind == "f":
        return [float(v) for v in arr.ravel()]
    return [int(v) for v in arr.ravel()]


def values_args(dtype, arr):
    """VALUES arguments that reproduce arr exactly: repr of a double round-trips, and a
    narrower float is exactly representable as a double."""
    if dtype == "BFLOAT16":
        arr = bf16_to_float(arr)
    if arr.dtype.kind == "f":
        return [repr(float(v)) for v in arr.ravel()]
    return [str(int(v)) for v in arr.ravel()]


def parse_reply_values(dtype, vals):
    """Converts a VALUES reply (RESP2 via redis-py) to python values comparable with
    python_values."""
    if dtype == "STRING":
        return list(vals)
    if dtype in ("FLOAT", "DOUBLE", "FLOAT16", "BFLOAT16"):
        return [float(v) for v in vals]
    return [int(v) for v in vals]


def string_blob(elements):
    """The BLOB form of a STRING tensor: every element followed by a NUL."""
    return b"".join(e + b"\0" for e in elements)


def meta_dict(reply):
    """Turns a META reply (flat list of field, value) into a dict with str keys."""
    return {reply[i].decode(): reply[i + 1] for i in range(0, len(reply), 2)}


def tensorset_blob(con, key, dtype, arr):
    """Stores arr under key through BLOB; returns the reply."""
    return con.execute_command("AI.TENSORSET", key, dtype, *arr.shape, "BLOB", arr.tobytes())


def sample_tensors(rng):
    """One tensor of every dtype, plus scalars, zero-filled and string tensors:
    {key: (dtype, shape, blob)}. The keys share a hash tag."""
    out = {}
    for i, dtype in enumerate([*NUMERIC_DTYPES, "BFLOAT16"]):
        shape = [(2, 3), (7,), (1, 2, 3, 2)][i % 3]
        arr = tensor_data(rng, dtype, shape)
        out[f"{{t}}:{dtype}"] = (dtype, list(shape), arr.tobytes())
        scalar = tensor_data(rng, dtype, ())
        out[f"{{t}}:{dtype}:scalar"] = (dtype, [], scalar.tobytes())
    strings = [b"first", b"", b"\xff\xfe binary \x01", "ünïcode".encode()]
    out["{t}:STRING"] = ("STRING", [2, 2], string_blob(strings))
    out["{t}:STRING:scalar"] = ("STRING", [], b"alone\0")
    out["{t}:zeros"] = ("INT32", [3, 3], bytes(36))
    out["{t}:empty_strings"] = ("STRING", [3], b"\0\0\0")
    out["{t}:large"] = (
        "FLOAT",
        [256, 256],
        random_array(rng, np.float32, (256, 256)).tobytes(),
    )
    return out


def store_tensors(con, tensors):
    for key, (dtype, shape, blob) in tensors.items():
        con.execute_command("AI.TENSORSET", key, dtype, *shape, "BLOB", blob)


def check_tensors(env, con, tensors):
    """Asserts every tensor of sample_tensors is stored intact on con's server."""
    for key, (dtype, shape, blob) in tensors.items():
        env.assertEqual(con.type(key), b"AI_TENSOR", message=key)
        reply = meta_dict(con.execute_command("AI.TENSORGET", key, "META", "BLOB"))
        env.assertEqual(reply["dtype"], dtype.encode(), message=key)
        env.assertEqual(reply["shape"], shape, message=key)
        env.assertEqual(reply["blob"], blob, message=key)


def digests(con, keys):
    """DEBUG DIGEST-VALUE of each key (the module's digest callback)."""
    return con.execute_command("DEBUG", "DIGEST-VALUE", *keys)


def wait_until(env, condition, timeout_s=20, message="condition", interval_s=0.005):
    """Polls condition() until it holds; fails the test if the deadline passes first."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            env.assertTrue(False, message=f"timed out after {timeout_s} s waiting for {message}")
            return False
        time.sleep(interval_s)
    return True


# ---------------------------------------------------------------------------------------
# Blocking commands, sent from threads


class Call(threading.Thread):
    """One command on its own connection in a thread: .result is the reply, or the
    exception; .done is set once it returned."""

    def __init__(self, env, *args, raw=False):
        super().__init__(daemon=True)
        self.con = env.getConnection()
        self.args = args
        self.raw = raw
        self.result = None
        self.done = threading.Event()
        self.start()

    def run(self):
        try:
            if self.raw:
                with RawConnection(self.con) as raw:
                    self.result = raw.call(*self.args)
            else:
                self.result = self.con.execute_command(*self.args)
        except Exception as e:  # noqa: BLE001 - the test asserts on it
            self.result = e
        self.con.close()
        self.done.set()

    def wait(self, timeout=60):
        self.join(timeout)
        return self.result


def blocked_clients(con):
    return con.info("clients")["blocked_clients"]


def wait_blocked(env, con, n, timeout=20):
    """Waits until exactly n clients are blocked (their commands parsed and queued)."""
    wait_until(env, lambda: blocked_clients(con) == n, timeout, f"{n} blocked clients", 0.002)


# ---------------------------------------------------------------------------------------
# Servers of their own, beside the env's


@contextlib.contextmanager
def own_server(env, *module_args):
    """A redis-server of its own with the module loaded with module_args; yields a redis-py
    connection to it once it answers, and checks that SIGTERM then stops it cleanly."""
    server = RedisServer(MODULE, module_args)
    server.start()  # ServerError, with the server's log, if it does not come up
    try:
        yield redis.Redis(host=server.host, port=server.port)
        env.assertEqual(server.terminate(), 0)
    finally:
        server.stop()


def refused_load(*module_args):
    """Starts a server whose module is expected to refuse module_args; returns its exit
    status and log once it exited by itself."""
    server = RedisServer(MODULE, module_args)
    try:
        server.launch()
        return server.wait_exit(30), server.log()
    finally:
        server.stop()


# ---------------------------------------------------------------------------------------
# AOF files (Redis 7 multi-part AOF)


def aof_base_file(con):
    """The path of the current base file of the AOF."""
    directory = con.config_get("dir")["dir"]
    aofdir = os.path.join(directory, con.config_get("appenddirname")["appenddirname"])
    manifest = os.path.join(
        aofdir, con.config_get("appendfilename")["appendfilename"] + ".manifest"
    )
    with open(manifest) as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("type") + 1] == "b":
                return os.path.join(aofdir, fields[fields.index("file") + 1])
    return None


def _aof_rewrite_done(con):
    info = con.info("persistence")
    return not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]


def rewrite_aof(con, timeout_s=60):
    """BGREWRITEAOF, waiting for any rewrite before and for this one to end; returns the
    new base file's bytes."""
    for start in (False, True):
        if start:
            con.bgrewriteaof()
        deadline = time.monotonic() + timeout_s
        while not _aof_rewrite_done(con):
            if time.monotonic() > deadline:
                raise AssertionError("AOF rewrite did not finish")
            time.sleep(0.01)
    with open(aof_base_file(con), "rb") as f:
        return f.read()


def resp_command(*args):
    """A command as RESP bytes, as the AOF holds it."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def aof_modelstore(
    key,
    backend,
    device,
    blob,
    inputs=None,
    outputs=None,
    tag="",
    batchsize=0,
    minbatchsize=0,
    minbatchtimeout=0,
):
    """AI.MODELSTORE as an AOF rewrite writes it (RESP): every option, then INPUTS and
    OUTPUTS with their counts (TF only), then BLOB; blob is bytes or a list of chunks."""
    args = ["AI.MODELSTORE", key, backend, device, "TAG", tag, "BATCHSIZE", batchsize]
    args += ["MINBATCHSIZE", minbatchsize, "MINBATCHTIMEOUT", minbatchtimeout]
    if inputs is not None:
        args += ["INPUTS", len(inputs), *inputs, "OUTPUTS", len(outputs), *outputs]
    return resp_command(*args, "BLOB", *([blob] if isinstance(blob, bytes) else blob))


# ---------------------------------------------------------------------------------------
# Replication


def wait_replica(env, con, timeout_s=10):
    """Waits until the replica has applied everything con's master has written, whoever
    wrote it (WAIT only covers the calling client's own writes), reconnecting first if
    needed (after a restart), and until the master's sync child is gone (so that a SAVE
    may follow). No-op without replicas."""
    if env.useSlaves:
        _wait_replica(env, con, env.getSlaveConnection(), timeout_s)


def _wait_replica(env, con, replica, timeout_s):
    # A fresh replica's first sync waits repl-diskless-sync-delay (5 s by default) for
    # other replicas to join, and a master's shutdown waits up to shutdown-timeout for
    # its replica's next acknowledgement (sent once a second). Neither helps a test that
    # waits for its replica itself.
    con.config_set("repl-diskless-sync-delay", 0)
    con.config_set("shutdown-timeout", 0)
    target = con.info("replication")["master_repl_offset"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        info = replica.info("replication")
        if (
            info.get("master_link_status") == "up"
            and info["slave_repl_offset"] >= target
            and not con.info("persistence")["rdb_bgsave_in_progress"]
        ):
            break
        time.sleep(0.01)
    else:
        env.assertTrue(False, message=f"replica did not reach offset {target}: {info}")


# ---------------------------------------------------------------------------------------
# A raw RESP connection, to check reply types redis-py would blur (bulk vs simple
# strings, doubles, RESP3 big numbers) and the exact error text with its prefix.


class RawConnection:
    def __init__(self, con):
        kw = con.connection_pool.connection_kwargs
        if kw.get("path"):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(kw["path"])
        else:
            self.sock = socket.create_connection((kw.get("host", "localhost"), kw["port"]))
        self.file = self.sock.makefile("rb")

    def close(self):
        self.file.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def call(self, *args):
        """Sends one command; returns its reply as (type byte, payload) tuples, arrays
        and maps as lists of them."""
        parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
        out = [b"*%d\r\n" % len(parts)]
        for p in parts:
            out.append(b"$%d\r\n%s\r\n" % (len(p), p))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.file.readline()[:-2]
        kind, rest = chr(line[0]), line[1:]
        if kind in "$=":
            n = int(rest)
            if n < 0:
                return (kind, None)
            data = self.file.read(n + 2)[:-2]
            return (kind, data)
        if kind in "*~>":
            n = int(rest)
            return (kind, None if n < 0 else [self._read() for _ in range(n)])
        if kind in "%|":
            return (kind, [self._read() for _ in range(2 * int(rest))])
        if kind == ":":
            return (kind, int(rest))
        return (kind, rest)  # + - , ( # _


def send(con, *args):
    """Sends one command on a connection of its own, without waiting; read() takes its
    reply and closes the connection."""
    raw = RawConnection(con)
    raw.sock.sendall(resp_command(*args))
    return raw


def read(raw):
    reply = raw._read()
    raw.close()
    return reply


def replied(raw, timeout_s=0.0):
    """Whether a reply is waiting on a RawConnection (without reading it), waiting up to
    timeout_s for one."""
    return bool(raw.file.peek(1) if select.select([raw.sock], [], [], timeout_s)[0] else b"")


def check_refused(env, con, table, wire_error=None):
    """Every (command, error text) of table fails with that text (and, given wire_error,
    that reply on the wire), changes nothing and leaves the server answering; the replica,
    if any, ends with the same keyspace."""
    snapshot = keyspace(con)
    with RawConnection(con) as raw:
        for args, expected in table:
            message = repr(args)[:120]
            env.assertEqual(error_text(env, *args), expected, message=message)
            if wire_error is not None:
                env.assertEqual(raw.call(*args), ("-", wire_error(expected)), message=message)
            env.assertEqual(keyspace(con), snapshot, message=message)
            env.assertTrue(con.ping())
    if env.useSlaves:
        wait_replica(env, con)
        env.assertEqual(keyspace(env.getSlaveConnection()), snapshot)


def run_checks(env, *checks):
    """Runs several check functions in one test (one server start instead of many), each
    on an empty keyspace."""
    con = connection(env)
    for check in checks:
        con.flushall()
        wait_replica(env, con)
        check(env)


def connection(env):
    """The master's connection, once its replica (if any) is in sync: a test then starts
    from a settled server instead of racing the first full sync."""
    con = env.getConnection()
    wait_replica(env, con)
    return con
