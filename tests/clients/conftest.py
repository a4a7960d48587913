"""The real client libraries against the module, used as their users use them.

Run from .venv-clients (opt/install_clients_venv.sh), not from .venv:

    .venv-clients/bin/python -m pytest tests/clients

The clients' pins clash with the test tools' (redis-py < 5 for redisai 1.3.0, numpy < 2 for
smartredis 0.6.1), and an application's environment is not the server's anyway.

Fixtures:
- `server`: one redis-server with build/cyrai.so for the session, on a free localhost port;
  `con` flushes it before each test and hands a plain redis-py connection.
- `cluster`: a 3-master Redis Cluster of such servers (`redis-cli --cluster create`),
  started on first use and stopped at the end of the session.
- `models`: model files written by tests/clients/make_models.py, run with the server's
  .venv (torch, onnx and tensorflow are not in .venv-clients); started when the session
  starts, since importing the frameworks takes seconds.
- `monitor`: MONITOR on the standalone server, to check the exact commands a client sent.

All servers persist nothing and live in temporary folders; if pytest is killed they get
SIGTERM from the kernel (PR_SET_PDEATHSIG)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

# The server launcher is shared with the flow tests and the benchmarks: it lives in opt/.
# The error texts are every test's: tests/flow/error_texts.py, imported from the root.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "opt"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import pytest
import redis
from redis_launcher import RedisServer, free_ports

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODULE = os.path.join(ROOT, "build", "cyrai.so")
SERVER_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
MAKE_MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "make_models.py")
CLUSTER_TIMEOUT_S = 30.0

# SmartRedis logs to stdout by default; keep the test output readable.
os.environ.setdefault("SR_LOG_LEVEL", "QUIET")


class Server(RedisServer):
    """A server of the launcher with one redis-py connection pool, reused."""

    _client = None

    def client(self):
        if self._client is None:
            self._client = redis.Redis(host=self.host, port=self.port, socket_timeout=60)
        return self._client

    def stop(self):
        super().stop()
        if self._client is not None:
            self._client.connection_pool.disconnect()
            self._client = None


class Cluster:
    """Three masters, no replicas, all slots assigned.

    The nodes load the module as SmartRedis' own test harness does, with the TORCH backend
    named at load time (spec 6.3): loaded lazily instead, the first AI.MODELSTORE or
    AI.SCRIPTSET on each node blocks for seconds, past SmartRedis' 250 ms socket timeout,
    and SmartRedis re-sends it every second until a reply comes in time."""

    def __init__(self, basedir, masters=3):
        ports = free_ports(masters, cluster_bus=True)
        self.nodes = [
            Server(
                MODULE,
                ["TORCH", "redisai_torch/redisai_torch.so"],
                [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    "5000",
                ],
                port=p,
                workdir=os.path.join(basedir, f"node{p}"),
            )
            for p in ports
        ]

    @property
    def address(self):
        """One node's address: SmartRedis discovers the rest with CLUSTER SLOTS."""
        return self.nodes[0].address

    def start(self):
        for n in self.nodes:
            n.launch()
        for n in self.nodes:
            n.wait_ready()
        out = subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *[n.address for n in self.nodes],
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{out.stdout}{out.stderr}")
        self._wait_ok()

    def _wait_ok(self):
        deadline = time.monotonic() + CLUSTER_TIMEOUT_S
        while True:
            states = [n.client().cluster("info")["cluster_state"] for n in self.nodes]
            slots = [len(n.client().execute_command("CLUSTER", "SLOTS")) for n in self.nodes]
            if all(s == "ok" for s in states) and len(set(slots)) == 1:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"cluster not ok: {states}")
            time.sleep(0.1)

    def stop(self):
        for n in self.nodes:
            n.stop()

    def flush(self):
        for n in self.nodes:
            n.client().flushall()


@pytest.fixture(scope="session")
def workdir():
    d = tempfile.mkdtemp(prefix="cyrai-clients-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def server(workdir):
    if not os.path.exists(MODULE):
        pytest.exit(f"{MODULE} is missing: run `make build` first", returncode=2)
    folder = os.path.join(workdir, "standalone")
    srv = Server(
        MODULE,
        extra_args=["--unixsocket", os.path.join(folder, "redis.sock"), "--unixsocketperm", "700"],
        workdir=folder,
    )
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def con(server):
    """A plain redis-py connection to a flushed server (models and scripts included)."""
    c = server.client()
    c.flushall()
    return c


@pytest.fixture(scope="session")
def cluster(workdir):
    if not os.path.exists(MODULE):
        pytest.exit(f"{MODULE} is missing: run `make build` first", returncode=2)
    cl = Cluster(os.path.join(workdir, "cluster"))
    try:
        cl.start()
        yield cl
    finally:
        cl.stop()


@pytest.fixture
def clean_cluster(cluster):
    cluster.flush()
    return cluster


class Models:
    def __init__(self, folder):
        self.folder = folder
        with open(os.path.join(folder, "expected.json")) as f:
            self.expected = json.load(f)

    def blob(self, name):
        with open(os.path.join(self.folder, name), "rb") as f:
            return f.read()

    @property
    def torch_add(self):
        return self.blob("torch_add.pt")

    @property
    def torch_mlp(self):
        return self.blob("torch_mlp.pt")

    @property
    def onnx_add(self):
        return self.blob("onnx_add.onnx")

    @property
    def tf_mul(self):
        return self.blob("tf_mul.pb")


_models_job = {}


def pytest_sessionstart(session):
    """Starts writing the model files at once (importing torch, onnx and tensorflow takes
    seconds): the `models` fixture waits for it."""
    folder = tempfile.mkdtemp(prefix="cyrai-clients-models-")
    _models_job["folder"] = folder
    _models_job["proc"] = subprocess.Popen(
        [SERVER_PYTHON, MAKE_MODELS, folder],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def pytest_sessionfinish(session):
    proc = _models_job.get("proc")
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()
    if "folder" in _models_job:
        shutil.rmtree(_models_job["folder"], ignore_errors=True)


@pytest.fixture(scope="session")
def models():
    out, _ = _models_job["proc"].communicate(timeout=300)
    if _models_job["proc"].returncode != 0:
        raise RuntimeError(f"make_models.py failed:\n{out}")
    return Models(_models_job["folder"])


class Monitor:
    """The commands clients sent to a server, as MONITOR shows them: one line per command,
    `<time> [<db> <addr>] "ARG" "ARG" ...` with the arguments quoted like redis-cli does.
    `stop()` sends an ECHO marker on another connection and reads up to it, so every
    command sent before is in the text."""

    def __init__(self, srv):
        self.srv = srv
        self.sock = socket.create_connection((srv.host, srv.port), timeout=30)
        self.sock.sendall(b"MONITOR\r\n")
        self.buf = b""
        assert self._line() == b"+OK"

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("MONITOR connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def stop(self):
        marker = f"monitor-end-{id(self)}"
        self.srv.client().echo(marker)
        lines = []
        try:
            while True:
                line = self._line().decode(errors="replace")
                if marker in line:
                    return "\n".join(lines)
                lines.append(line[1:])  # "+" of the status reply
        finally:
            self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@pytest.fixture
def monitor(server):
    """Starts MONITOR on the standalone server; `monitor.stop()` returns what was sent."""
    m = Monitor(server)
    yield m
    m.close()
