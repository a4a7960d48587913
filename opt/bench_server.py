"""A throwaway redis-server with the module loaded, for benchmarks.

    with RedisServer(module="build/cyrai.so") as server:
        server.client().ping()

The server listens on a free localhost port, persists nothing (`--save ''`, no AOF) and keeps
its files in a temporary folder. It is stopped when the `with` block ends, however it ends;
if the benchmark process itself is killed, the kernel sends the server SIGTERM
(PR_SET_PDEATHSIG), which Redis takes as a shutdown.
"""

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

PR_SET_PDEATHSIG = 1
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0


class ServerError(RuntimeError):
    """The server did not start; the text ends with its log."""


def free_port():
    """A localhost TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent():
    # Runs in the child between fork and exec.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class RedisServer:
    """One redis-server process; a context manager that starts and stops it."""

    def __init__(self, module, binary="redis-server", extra_args=()):
        self.module = os.path.abspath(module)
        self.binary = binary
        self.extra_args = list(extra_args)
        self.host = "127.0.0.1"
        self.port = None
        self.proc = None
        self._dir = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    @property
    def log_path(self):
        return os.path.join(self._dir, "redis.log")

    def start(self):
        if not os.path.exists(self.module):
            raise ServerError(f"{self.module} is missing: run `make build` first")
        self._dir = tempfile.mkdtemp(prefix="cyrai-bench-")
        self.port = free_port()
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
            self._dir,
            "--logfile",
            self.log_path,
            "--loadmodule",
            self.module,
            *self.extra_args,
        ]
        try:
            # preexec_fn is unsafe only with threads running, and none runs yet here.
            self.proc = subprocess.Popen(
                args, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent
            )  # noqa: PLW1509
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise ServerError(
                    f"redis-server exited with {self.proc.returncode}\n" + self.log_tail()
                )
            try:
                self.client().ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise ServerError("redis-server did not answer PING\n" + self.log_tail())
                time.sleep(0.05)

    def stop(self):
        """SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL: the server is gone afterwards."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.client().shutdown(nosave=True)
            except (redis.RedisError, OSError):
                pass  # it exits while answering, or was not up yet: the signals follow
            for escalate in (self.proc.terminate, self.proc.kill):
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                    break
                except subprocess.TimeoutExpired:
                    escalate()
            self.proc.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def client(self, **kwargs):
        return redis.Redis(host=self.host, port=self.port, socket_timeout=30, **kwargs)

    def cpu_seconds(self):
        """User plus system CPU the server has used so far (all its threads)."""
        info = self.client().info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return "(no log)"
