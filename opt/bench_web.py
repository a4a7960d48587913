"""The same model served three ways, measured in the same run on the same machine
(bench.py runs these cases):

- through cyrai: one AI.DAGEXECUTE per request (TENSORSET the input |> MODELEXECUTE |>
  TENSORGET the output), so that a request carries its input and gets its output back, as
  over HTTP;
- by FastAPI under uvicorn (bench_web_app.py), one worker per CPU, over keep-alive HTTP/1.1
  connections, one request in flight per client, with the same load generator;
- called in the bench process on one thread (the 1-client case only).

Rounds alternate between cyrai and the web server, so that drift in the machine's speed
hits both. The web server is started for each case and stopped after it.
"""

import os
import socket
import subprocess
import sys
import tempfile
import time

import bench_zoo as zoo
import numpy as np
from bench_case import Case, Outcome, Workload
from bench_load import OK, bulk, encode, run_load
from bench_models import MODEL_DURATION_S, MODEL_ROUNDS, tensorset
from redis_launcher import HOST, free_ports

WEB_CLIENTS = (1, 32)
WEB_MODEL = zoo.TORCH_MLP
WEB_NAME = "web TORCH mlp 1x256"
WEB_LABEL = f"FastAPI+uvicorn ({os.cpu_count()} workers)"
WARMUP_S = 0.25
START_TIMEOUT_S = 60.0
_OPT = os.path.dirname(os.path.abspath(__file__))


class WebServer:
    """uvicorn serving bench_web_app with a TorchScript model: host, port and cpu_seconds()
    as the load generator (bench_load.run_load) needs them."""

    def __init__(self, blob, shape, workers):
        self.blob, self.shape, self.workers = blob, shape, workers
        self.host, self.port = HOST, None
        self.proc, self.pids, self.model_file = None, [], None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        with tempfile.NamedTemporaryFile(suffix=".pt", delete=False) as f:
            f.write(self.blob)
            self.model_file = f.name
        (self.port,) = free_ports(1)
        env = dict(os.environ, CYRAI_BENCH_MODEL=self.model_file)
        env["CYRAI_BENCH_SHAPE"] = ",".join(map(str, self.shape))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "bench_web_app:app", "--app-dir", _OPT,
             "--host", self.host, "--port", str(self.port), "--workers", str(self.workers),
             "--loop", "uvloop", "--http", "httptools", "--no-server-header",
             "--no-date-header", "--no-access-log", "--log-level", "warning"],
            env=env,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        self._wait_ready()
        self.pids = [self.proc.pid, *_descendants(self.proc.pid)]

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        probe = http_request(np.zeros(self.shape, np.float32).tobytes())
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {self.proc.returncode}")
            try:
                # Every worker must be up: a few answers in a row.
                for _ in range(4 * self.workers):
                    http_call(self.host, self.port, probe)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("uvicorn did not answer") from None
                time.sleep(0.2)

    def cpu_seconds(self):
        """User plus system CPU of uvicorn's processes so far."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except OSError:
                pass  # a process that exited
        return total / tick

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.model_file:
            os.unlink(self.model_file)
            self.model_file = None


def _descendants(pid):
    """The processes below pid (uvicorn's workers and multiprocessing helpers)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def http_request(body):
    head = (
        b"POST /run HTTP/1.1\r\nHost: bench\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    return head + body


def http_call(host, port, request):
    """One request on a fresh connection; the whole response (head and body)."""
    with socket.create_connection((host, port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += _recv(s)
        head = data.split(b"\r\n\r\n", 1)[0]
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"web server answered {head[:100]!r}")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        total = len(head) + 4 + length
        while len(data) < total:
            data += _recv(s)
        return data[:total]


def _recv(sock):
    chunk = sock.recv(65536)
    if not chunk:
        raise ConnectionError("web server closed the connection")
    return chunk


def _dag_argv(x):
    return (
        "AI.DAGEXECUTE", "ROUTING", "bench:m",
        "|>", *tensorset("x", x),
        "|>", "AI.MODELEXECUTE", "bench:m", "INPUTS", 1, "x", "OUTPUTS", 1, "y",
        "|>", "AI.TENSORGET", "y", "BLOB",
    )  # fmt: skip


def _check(what, blob, want):
    got = np.frombuffer(blob, np.float32)
    if not np.allclose(got, want.ravel(), rtol=1e-4, atol=1e-5):
        raise RuntimeError(f"{what} computed {got[:4]}..., in process {want.ravel()[:4]}...")


def run_web_case(server, case, rounds):
    """Alternates the web server and cyrai `rounds` times; the web server is the baseline."""
    model, (x,) = WEB_MODEL, WEB_MODEL.inputs
    rounds = rounds or case.rounds
    duration = case.duration / rounds
    out = Outcome(case)
    with server.client() as r:
        r.flushall()
        r.execute_command(*model.store_command("bench:m"))
        output = r.execute_command(*_dag_argv(x))[2]
    _check("cyrai", output, model.output())
    dag = [(encode(*_dag_argv(x)), b"*3\r\n" + OK + OK + bulk(output))] * case.clients
    print(f"  starting {WEB_LABEL}...", file=sys.stderr, flush=True)
    with WebServer(model.blob, x.shape, os.cpu_count()) as web:
        request = http_request(x.tobytes())
        response = http_call(web.host, web.port, request)
        _check("FastAPI", response.split(b"\r\n\r\n", 1)[1], model.output())
        http = [(request, response)] * case.clients
        for _ in range(rounds):
            out.baseline_rounds.append(run_load(web, http, duration, WARMUP_S))
            out.subject_rounds.append(run_load(server, dag, duration, WARMUP_S))
    if case.inprocess is not None:
        out.inprocess_cps = case.inprocess()
    return out


def _unused(i):
    raise AssertionError("the web cases have their own runner")


def web_cases():
    subject = Workload("cyrai AI.DAGEXECUTE", _unused, _unused)
    baseline = Workload(WEB_LABEL, _unused, _unused)
    return [
        Case(
            WEB_NAME,
            clients,
            subject,
            baseline,
            duration=MODEL_DURATION_S * 2,
            rounds=MODEL_ROUNDS,
            runner=run_web_case,
            inprocess=(lambda: zoo.calls_per_second(WEB_MODEL)) if clients == 1 else None,
        )
        for clients in WEB_CLIENTS
    ]
