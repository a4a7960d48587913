"""The streams benchmark (roadmap R2): frames XADDed to a stream go through a pre-processing
script into an output stream, either by a trigger inside the server or by a client that
drives the same pipeline (XREAD, AI.DAGEXECUTE with the frame as AI.TENSORSET, XADD of the
result), on the same server with the same script.

- throughput: N_FRAMES frames XADDed pipelined; frames per second until the last output
  entry is there. Target: the trigger >= 2x the client-driven pipeline.
- latency: one frame at a time, from its XADD until its output entry can be read
  (XREAD BLOCK on the output stream); p50 and p99. Target: the trigger's p99 below the
  client-driven pipeline's p50.

The client-driven pipeline runs in a process of its own, reading COUNT 64 entries per XREAD
and pipelining its DAGs and XADDs, as a careful client would."""

import multiprocessing
import os
import sys
import time

import numpy as np
import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from redis_launcher import RedisServer  # noqa: E402

MODULE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "cyrai.so")
N_FRAMES = 5000
N_LATENCY = 500
FRAME = np.random.default_rng(0).random((3, 16, 16), dtype=np.float32)
SCRIPT = """
def pre(tensors: List[Tensor], keys: List[str], args: List[str]):
    return (tensors[0] - 0.5) * 2.0
"""
FIELDS = {"dtype": "FLOAT", "shape": " ".join(map(str, FRAME.shape)), "blob": FRAME.tobytes()}


def _client_pipeline(port, stop):
    """XREAD the frames, run each through the script, XADD the outputs with `source`."""
    r = redis.Redis(port=port)
    last = "$"
    shape = FRAME.shape
    while not stop.is_set():
        got = r.xread({"cam": last}, count=64, block=100)
        if not got:
            continue
        entries = got[0][1]
        pipe = r.pipeline(transaction=False)
        for _, f in entries:
            pipe.execute_command(
                "AI.DAGEXECUTE", "ROUTING", "cam", "|>", "AI.TENSORSET", "x", "FLOAT", *shape,
                "BLOB", f[b"blob"], "|>", "AI.SCRIPTEXECUTE", "s", "pre", "INPUTS", 1, "x",
                "OUTPUTS", 1, "y", "|>", "AI.TENSORGET", "y", "BLOB",
            )  # fmt: skip
        outs = pipe.execute()
        for (eid, _), out in zip(entries, outs):
            pipe.xadd("out", {"dtype": "FLOAT", "shape": FIELDS["shape"], "blob": out[2],
                              "source": eid})  # fmt: skip
        pipe.execute()
        last = entries[-1][0]


def _throughput(r):
    start = time.perf_counter()
    pipe = r.pipeline(transaction=False)
    for i in range(N_FRAMES):
        pipe.xadd("cam", FIELDS)
        if i % 500 == 499:
            pipe.execute()
    pipe.execute()
    while r.xlen("out") < N_FRAMES:
        time.sleep(0.001)
    return N_FRAMES / (time.perf_counter() - start)


def _latencies(r):
    last = r.xinfo_stream("out")["last-generated-id"] if r.exists("out") else "0-0"
    lat = []
    for _ in range(N_LATENCY):
        start = time.perf_counter()
        r.xadd("cam", FIELDS)
        got = r.xread({"out": last}, count=1, block=10_000)
        lat.append(time.perf_counter() - start)
        last = got[0][1][0][0]
    return np.percentile(lat, 50) * 1e3, np.percentile(lat, 99) * 1e3


def _fresh(r):
    r.flushall()
    r.execute_command("AI.SCRIPTSTORE", "s", "CPU", "ENTRY_POINTS", 1, "pre", "SOURCE", SCRIPT)
    r.execute_command("AI.CONFIG", "STREAM_MAXLEN", 0)
    r.xgroup_create("out", "g", "$", mkstream=True)
    r.xgroup_create("cam", "g", "$", mkstream=True)


def run_trigger(r):
    _fresh(r)
    r.execute_command(
        "AI.TRIGGERSTORE", "t", "ON", "cam", "DAG", "LOAD", 1, "cam", "PERSIST", 1, "out",
        "|>", "AI.SCRIPTEXECUTE", "s", "pre", "INPUTS", 1, "cam", "OUTPUTS", 1, "out",
    )  # fmt: skip
    return _throughput(r), *_latencies(r)


def run_client(r, port):
    _fresh(r)
    stop = multiprocessing.Event()
    worker = multiprocessing.Process(target=_client_pipeline, args=(port, stop))
    worker.start()
    time.sleep(0.3)  # its first XREAD is waiting
    try:
        return _throughput(r), *_latencies(r)
    finally:
        stop.set()
        worker.join(10)


def main():
    with RedisServer(MODULE) as server:
        r = redis.Redis(port=server.port)
        run_trigger(r)  # warm-up: the script's first runs are optimised
        trig = run_trigger(r)
        client = run_client(r, server.port)
    print("streams: frames of", "x".join(map(str, FRAME.shape)), "FLOAT through a script")
    for name, (fps, p50, p99) in (("trigger", trig), ("client pipeline", client)):
        print(f"  {name:16} {fps:9.0f} frames/s  p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    ratio = trig[0] / client[0]
    print(f"  throughput ratio {ratio:.2f}x (target >= 2x): {'met' if ratio >= 2 else 'missed'}")
    tail = trig[2] < client[1]
    print(f"  trigger p99 below client p50: {'met' if tail else 'missed'}")


if __name__ == "__main__":
    main()
