"""Seeded fuzzing of the AI.* commands (roadmap R5): random and mutated commands against a
keyspace holding tensors, models and scripts of every kind.

Commands go out in pipelined batches. After every batch the server must answer PING, and
every command of the batch answered with an error must have left the keys it names as
they were: DEBUG DIGEST-VALUE of those keys is taken before the batch and after it, and a
key named by an erring command may differ only if a command of the same batch that
succeeded names it too. The seed is fixed (FUZZ_SEED overrides it) so a failure replays.
"""

import os
import random
import time

import numpy as np
import redis
from model_zoo import connect, onnx_blob, set_array, store, torch_blob

SEED = int(os.environ.get("FUZZ_SEED", "20261203"))
COMMANDS = 40000
BATCH = 200
BUDGET_S = 110  # the test's own bound; make test allows two minutes

KEYS = ["t:f", "t:i", "t:s", "t:b", "m:torch", "m:onnx", "s:ok", "out", "str", "missing"]
DTYPES = ["FLOAT", "DOUBLE", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "BOOL",
          "STRING", "FLOAT16", "BFLOAT16", "UINT32", "UINT64", "BAD"]  # fmt: skip
WORDS = ["BLOB", "VALUES", "META", "SHAPE", "INPUTS", "OUTPUTS", "KEYS", "ARGS", "TIMEOUT",
         "TAG", "BATCHSIZE", "MINBATCHSIZE", "MINBATCHTIMEOUT", "ENTRY_POINTS", "SOURCE",
         "LOAD", "PERSIST", "ROUTING", "|>", "CPU", "GPU", "TORCH", "ONNX", "TF", "TFLITE",
         "f", "g", "DEL"]  # fmt: skip
NUMBERS = ["0", "1", "2", "3", "-1", "-9223372036854775808", "9223372036854775807",
           "18446744073709551616", "4294967296", "8589934592", "1e3", "nan", "",
           "0x10"]  # fmt: skip
SCRIPT = (
    "def f(tensors: List[Tensor], keys: List[str], args: List[str]):\n    return tensors[0] + 1\n"
)
VALID = [
    ["AI.TENSORSET", "t:f", "FLOAT", "2", "2", "VALUES", "1", "2", "3", "4"],
    ["AI.TENSORSET", "t:i", "INT64", "3", "BLOB", b"\x01" * 24],
    ["AI.TENSORSET", "t:s", "STRING", "2", "VALUES", "a", "b"],
    ["AI.TENSORGET", "t:f", "META", "VALUES"],
    ["AI.TENSORGET", "t:i", "BLOB"],
    ["AI.MODELEXECUTE", "m:torch", "INPUTS", "2", "t:f", "t:f", "OUTPUTS", "1", "out"],
    ["AI.MODELEXECUTE", "m:onnx", "INPUTS", "2", "t:f", "t:f", "OUTPUTS", "1", "out"],
    ["AI.MODELGET", "m:torch", "META"],
    ["AI.SCRIPTEXECUTE", "s:ok", "f", "INPUTS", "1", "t:f", "OUTPUTS", "1", "out"],
    ["AI.SCRIPTGET", "s:ok", "META"],
    [
        "AI.DAGEXECUTE",
        "LOAD",
        "1",
        "t:f",
        "PERSIST",
        "1",
        "out",
        "|>",
        "AI.MODELEXECUTE",
        "m:torch",
        "INPUTS",
        "2",
        "t:f",
        "t:f",
        "OUTPUTS",
        "1",
        "out",
    ],  # fmt: skip
    ["AI.DAGEXECUTE_RO", "LOAD", "1", "t:f", "|>", "AI.TENSORGET", "t:f", "VALUES"],
    ["AI.SCRIPTSTORE", "s:ok", "CPU", "ENTRY_POINTS", "1", "f", "SOURCE", SCRIPT],
    ["AI.MODELSTORE", "m:onnx", "ONNX", "CPU", "BLOB", "<onnx>"],
    ["AI.MODELSTORE", "m:torch", "TORCH", "CPU", "BLOB", "<torch>"],
    ["AI.INFO", "m:torch"],
]
NAMES = ["AI.TENSORSET", "AI.TENSORGET", "AI.MODELSTORE", "AI.MODELSET", "AI.MODELGET",
         "AI.MODELDEL", "AI.MODELEXECUTE", "AI.MODELRUN", "AI.SCRIPTSTORE", "AI.SCRIPTSET",
         "AI.SCRIPTGET", "AI.SCRIPTDEL", "AI.SCRIPTEXECUTE", "AI.SCRIPTRUN", "AI.DAGEXECUTE",
         "AI.DAGEXECUTE_RO", "AI.DAGRUN", "AI.DAGRUN_RO", "AI.INFO"]  # fmt: skip


class Fuzzer:
    def __init__(self, rng, blobs):
        self.rng = rng
        self.blobs = blobs

    def token(self):
        r = self.rng.random()
        if r < 0.3:
            return self.rng.choice(KEYS)
        if r < 0.5:
            return self.rng.choice(WORDS)
        if r < 0.7:
            return self.rng.choice(NUMBERS)
        if r < 0.8:
            return self.rng.choice(DTYPES)
        if r < 0.9:
            return self.rng.randbytes(self.rng.randrange(0, 40))
        return str(self.rng.randrange(-5, 70000))

    def mutate(self, cmd):
        cmd = list(cmd)
        for _ in range(self.rng.randrange(1, 4)):
            op = self.rng.randrange(5)
            i = self.rng.randrange(1, len(cmd)) if len(cmd) > 1 else 1
            if op == 0 and len(cmd) > 1:
                del cmd[i]
            elif op == 1:
                cmd.insert(i, self.token())
            elif op == 2 and len(cmd) > 1:
                cmd[i] = self.token()
            elif op == 3 and len(cmd) > 1 and isinstance(cmd[i], bytes):
                b = bytearray(cmd[i])
                if b:
                    b[self.rng.randrange(len(b))] = self.rng.randrange(256)
                cmd[i] = bytes(b[: self.rng.randrange(len(b) + 1)])
            else:
                cmd = cmd[: self.rng.randrange(1, len(cmd) + 1)]
        return cmd

    def command(self):
        """A valid command mutated (model bytes included), or a random one."""
        if self.rng.random() < 0.6:
            valid = self.rng.choice(VALID)
            return self.mutate([self.blobs.get(a, a) for a in valid])
        n = self.rng.randrange(0, 10)
        return [self.rng.choice(NAMES)] + [self.token() for _ in range(n)]


def named_keys(cmd):
    return {a.decode("latin-1") if isinstance(a, bytes) else a for a in cmd[1:]} & set(KEYS)


def digests(con, keys):
    keys = sorted(keys)
    if not keys:
        return {}
    return dict(zip(keys, con.execute_command("DEBUG", "DIGEST-VALUE", *keys)))


def setup(con):
    con.delete(*KEYS)
    store(con, "m:torch", "TORCH", torch_blob("add"))
    store(con, "m:onnx", "ONNX", onnx_blob("add"))
    con.execute_command("AI.SCRIPTSTORE", "s:ok", "CPU", "ENTRY_POINTS", 1, "f", "SOURCE", SCRIPT)
    set_array(con, "t:f", np.ones((2, 2), np.float32))
    set_array(con, "t:i", np.arange(3, dtype=np.int64))
    con.execute_command("AI.TENSORSET", "t:s", "STRING", 2, "VALUES", "a", "b")
    con.execute_command("AI.TENSORSET", "t:b", "BOOL", 2, "VALUES", 1, 0)
    con.set("str", "plain")


def test_fuzz(env):
    con = connect(env)
    # Shapes of random dims stay small: a 512 MB zero tensor per command would only
    # measure memset.
    con.execute_command("AI.CONFIG", "TENSOR_MAX_BYTES", 1 << 20)
    try:
        fuzz(env, con)
    finally:
        con.execute_command("AI.CONFIG", "TENSOR_MAX_BYTES", 512 << 20)


def fuzz(env, con):
    rng = random.Random(SEED)
    fuzzer = Fuzzer(rng, {"<onnx>": onnx_blob("add"), "<torch>": torch_blob("add")})
    sent = errors = 0
    start = time.monotonic()
    while sent < COMMANDS:
        if sent % (BATCH * 10) == 0:  # models or scripts a command deleted come back
            setup(con)
        batch = [fuzzer.command() for _ in range(BATCH)]
        touched = set().union(*(named_keys(c) for c in batch))
        before = digests(con, touched)
        pipe = con.pipeline(transaction=False)
        for cmd in batch:
            pipe.execute_command(*cmd)
        replies = pipe.execute(raise_on_error=False)
        env.assertTrue(con.ping(), message=f"seed {SEED}, batch at {sent}")
        after = digests(con, touched)
        written = set().union(
            *(named_keys(c) for c, r in zip(batch, replies) if not isinstance(r, Exception))
        )
        for cmd, reply in zip(batch, replies):
            if isinstance(reply, redis.exceptions.ConnectionError):
                env.assertTrue(False, message=f"connection lost: seed {SEED}, {cmd[:6]!r}")
            if not isinstance(reply, Exception):
                continue
            errors += 1
            for key in named_keys(cmd) - written:
                env.assertEqual(after[key], before[key], message=f"seed {SEED}: {cmd[:6]!r}")
        sent += len(batch)
        env.assertLess(time.monotonic() - start, BUDGET_S, message=f"{sent} commands sent")
    env.assertGreater(errors, COMMANDS // 4)
    env.assertGreater(COMMANDS - errors, COMMANDS // 100)
    env.debugPrint(f"{sent} commands, {errors} errors, {time.monotonic() - start:.1f} s", True)
