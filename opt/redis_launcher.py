"""A redis-server with the module loaded, started and stopped by a test or a benchmark.

    with RedisServer("build/cyrai.so") as server:
        ...  # connect to server.host, server.port

One launcher for the flow tests' servers of their own (tests/flow/includes.py), the client
tests' servers and cluster (tests/clients/conftest.py) and the benchmarks (opt/bench.py).
It needs only the standard library: the client tests run it from .venv-clients, whose
redis-py is not the flow tests'. Callers bring their own client.

The server listens on a free localhost port, persists nothing unless told to (`--save ''`,
no AOF) and keeps its files in a folder of its own (a temporary one, removed by stop(),
unless `workdir` is given). If the process that started it is killed, the kernel sends the
server SIGTERM (PR_SET_PDEATHSIG), which Redis takes as a shutdown.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
PR_SET_PDEATHSIG = 1


class ServerError(RuntimeError):
    """The server did not start; the text ends with its log."""


def free_ports(n=1, cluster_bus=False):
    """n distinct localhost TCP ports nobody listens on now; with cluster_bus, port + 10000
    (a cluster node's bus port) is free too."""
    ports, socks = [], []
    try:
        while len(ports) < n:
            s = socket.socket()
            socks.append(s)
            s.bind((HOST, 0))
            port = s.getsockname()[1]
            if cluster_bus and not _bus_port_free(port):
                continue
            ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _bus_port_free(port):
    if port + 10000 > 65535:
        return False
    with socket.socket() as bus:
        try:
            bus.bind((HOST, port + 10000))
        except OSError:
            return False
    return True


def _die_with_parent():
    # Runs in the child between fork and exec.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def resp_call(host, port, *args, timeout=5.0):
    """Sends one command on a fresh connection; returns the first reply line (b"+PONG",
    b"-ERR ...") or b"" when the server closed the connection without answering."""
    parts = [a if isinstance(a, bytes) else str(a).encode() for a in args]
    payload = b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(payload)
        with s.makefile("rb") as f:
            return f.readline().rstrip(b"\r\n")


class RedisServer:
    """One redis-server process with the module loaded; a context manager that starts it
    (waiting until it answers PING) and stops it."""

    def __init__(
        self,
        module,
        module_args=(),
        extra_args=(),
        port=None,
        workdir=None,
        binary="redis-server",
    ):
        self.module = os.path.abspath(module)
        self.module_args = [str(a) for a in module_args]
        self.extra_args = [str(a) for a in extra_args]
        self.binary = binary
        self.host = HOST
        self.port = port
        self.dir = workdir
        self._own_dir = workdir is None
        self.proc = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def address(self):
        return f"{self.host}:{self.port}"

    @property
    def log_path(self):
        return os.path.join(self.dir, "redis.log")

    @property
    def unix_socket(self):
        return os.path.join(self.dir, "redis.sock")

    def launch(self):
        """Starts the process and returns at once: a server that refuses the module exits
        on its own (see wait_exit and log)."""
        if not os.path.exists(self.module):
            raise ServerError(f"{self.module} is missing: run `make build` first")
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="cyrai-server-")
        os.makedirs(self.dir, exist_ok=True)
        if self.port is None:
            (self.port,) = free_ports(1)
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.dir,
            "--logfile",
            self.log_path,
            "--loadmodule",
            self.module,
            *self.module_args,
            *self.extra_args,
        ]
        # preexec_fn is unsafe only with threads running; callers start servers before any.
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509
        )

    def start(self, timeout_s=START_TIMEOUT_S):
        """launch(), then wait_ready(); stops the server again if it does not come up."""
        try:
            self.launch()
            self.wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout_s=START_TIMEOUT_S):
        """Polls PING until the server answers; ServerError if it exits or stays silent."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"redis-server exited with {self.proc.returncode}\n" + self.log_tail()
                )
            try:
                if resp_call(self.host, self.port, "PING") == b"+PONG":
                    return
            except OSError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise ServerError("redis-server did not answer PING\n" + self.log_tail())
            time.sleep(0.05)

    def wait_exit(self, timeout_s=STOP_TIMEOUT_S):
        """The server's exit status once it exits by itself."""
        return self.proc.wait(timeout_s)

    def terminate(self, timeout_s=STOP_TIMEOUT_S * 2):
        """SIGTERM (Redis shuts down as on SHUTDOWN); returns the exit status."""
        self.proc.terminate()
        return self.proc.wait(timeout_s)

    def stop(self):
        """SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL: the server is gone afterwards, and
        its folder too if it was a temporary one."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                resp_call(self.host, self.port, "SHUTDOWN", "NOSAVE")
            except OSError:
                pass  # it exits while answering, or was not up yet: the signals follow
            for escalate in (self.proc.terminate, self.proc.kill):
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                    break
                except subprocess.TimeoutExpired:
                    escalate()
            self.proc.wait()
        if self._own_dir and self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log(self):
        """The server's whole log ("" before it wrote one)."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, lines=30):
        return "".join(self.log().splitlines(keepends=True)[-lines:]) or "(no log)"
