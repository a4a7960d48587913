"""A closed-loop load generator: N clients, each on its own connection with one request in
flight (no pipelining), like redis-benchmark -P 1.

redis-benchmark itself cannot be used for tensors: it keeps a custom command's arguments as
C strings (argz, strlen), so a payload cannot hold a NUL byte, and a 600 KB argument is
beyond Linux's limit for one command-line argument.

Each request is encoded once; a client resends the same bytes and reads a reply of known
length, so the Python per request is a sendall and a recv_into or two. An iteration may be
a sequence of requests (a pipeline of dependent commands), sent one after the other; its
latency runs from the first request out to the last reply in. The clients are
spread over one process per CPU, each running a selector over its connections. Only replies
that arrive inside [start, end) count; the time before start is the warm-up.
"""

import array
import multiprocessing
import os
import queue
import selectors
import socket
import statistics
import time
from dataclasses import dataclass, field

REPLY_TIMEOUT_S = 30.0


def encode(*args):
    """A command as RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        a = arg if isinstance(arg, bytes) else str(arg).encode()
        parts += [b"$%d\r\n" % len(a), a, b"\r\n"]
    return b"".join(parts)


def bulk(data):
    """The reply GET gives for data."""
    return b"$%d\r\n" % len(data) + data + b"\r\n"


OK = b"+OK\r\n"


@dataclass
class Result:
    requests: int  # iterations (a request, or a whole sequence) finished inside the window
    seconds: float  # length of the window
    server_cpu_s: float  # server CPU used inside the window
    latencies: array.array = field(default_factory=lambda: array.array("d"), repr=False)
    # ^ seconds, one per iteration counted

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self):
        return 1e6 * self.server_cpu_s / max(self.requests, 1)

    @property
    def p50_ms(self):
        return 1e3 * statistics.median(self.latencies) if self.latencies else None

    @property
    def p99_ms(self):
        if len(self.latencies) < 2:
            return None
        return 1e3 * statistics.quantiles(self.latencies, n=100)[98]


class _Conn:
    """One client: its socket and its iteration, a sequence of (request, expected reply)
    sent one after the other; an iteration ends with the last reply."""

    def __init__(self, host, port, requests, replies):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.steps = []
        for request, reply in zip(requests, replies, strict=True):
            buf = bytearray(len(reply))
            self.steps.append((request, reply, buf, memoryview(buf)))
        self.checked = [False] * len(self.steps)
        self.step = 0
        self.got = 0
        self.sent = 0.0  # when the iteration's first request went out

    def _rest_of_reply(self):
        """What has come of a reply of the wrong kind (an error), for the message."""
        self.sock.settimeout(1.0)
        try:
            more = self.sock.recv(200)
        except OSError:
            more = b""
        return (bytes(self.steps[self.step][2][: self.got]) + more)[:200]

    def send(self, now):
        """Starts an iteration."""
        self.sent = now
        self.step = 0
        self.got = 0
        self.sock.sendall(self.steps[0][0])

    def read(self):
        """Reads what has arrived; True once the iteration's last reply is in."""
        _, reply, buf, view = self.steps[self.step]
        n = self.sock.recv_into(view[self.got :])
        if n == 0:
            raise ConnectionError("server closed the connection")
        self.got += n
        if buf[0] != reply[0]:
            raise RuntimeError(f"unexpected reply: {self._rest_of_reply()!r}")
        if self.got < len(reply):
            return False
        if not self.checked[self.step]:  # the first reply in full, later ones by type and length
            if buf != reply:
                raise RuntimeError(f"wrong reply: {bytes(buf[:200])!r}...")
            self.checked[self.step] = True
        self.step += 1
        if self.step == len(self.steps):
            return True
        self.got = 0
        self.sock.sendall(self.steps[self.step][0])
        return False


def _steps(x):
    """A request (or reply) as a sequence of them: bytes alone is a sequence of one."""
    return (x,) if isinstance(x, bytes | bytearray) else tuple(x)


def _run_clients(host, port, pairs, start, end):
    """Drives the clients until end; returns (iterations counted inside [start, end),
    their latencies in seconds)."""
    conns = [_Conn(host, port, _steps(req), _steps(rep)) for req, rep in pairs]
    sel = selectors.DefaultSelector()
    now = time.monotonic()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
        c.send(now)
    latencies = array.array("d")
    try:
        while True:
            events = sel.select(REPLY_TIMEOUT_S)
            if not events:
                raise TimeoutError(f"no reply in {REPLY_TIMEOUT_S} s")
            for key, _ in events:
                c = key.data
                if not c.read():
                    continue
                now = time.monotonic()
                if now >= end:
                    return latencies
                if now >= start:
                    latencies.append(now - c.sent)
                c.send(now)
    finally:
        for c in conns:
            c.sock.close()


def _worker(host, port, pairs, start, end, results):
    try:
        results.put(_run_clients(host, port, pairs, start, end))
    except (OSError, RuntimeError) as e:  # a bad reply or a lost connection
        results.put(f"{type(e).__name__}: {e}")


def _result(results):
    try:
        return results.get(timeout=REPLY_TIMEOUT_S)
    except queue.Empty:
        return "a client process died (its traceback is above)"


def run_load(server, pairs, duration, warmup):
    """Runs one client per (request, reply) pair for warmup + duration seconds.

    pairs: one (request, expected reply) per client, each bytes, or a sequence of bytes
    that the client sends one at a time (the next once the reply before is in) and counts
    as one iteration. The server's CPU is read at the edges of the window, so it includes
    what the clients cost it and nothing else.
    """
    ctx = multiprocessing.get_context("fork")  # pairs are inherited, not pickled
    nproc = min(len(pairs), os.cpu_count() or 1)
    results = ctx.Queue()
    start = time.monotonic() + warmup
    end = start + duration
    procs = [
        ctx.Process(
            target=_worker,
            daemon=True,
            args=(server.host, server.port, pairs[i::nproc], start, end, results),
        )
        for i in range(nproc)
    ]
    for p in procs:
        p.start()
    try:
        time.sleep(max(0.0, start - time.monotonic()))
        cpu0 = server.cpu_seconds()
        time.sleep(max(0.0, end - time.monotonic()))
        cpu1 = server.cpu_seconds()
        got = [_result(results) for _ in procs]
    finally:
        for p in procs:
            p.join(REPLY_TIMEOUT_S)
            if p.is_alive():
                p.kill()
    errors = [g for g in got if isinstance(g, str)]
    if errors:
        raise RuntimeError("client failed: " + errors[0])
    latencies = array.array("d")
    for g in got:
        latencies.extend(g)
    return Result(len(latencies), duration, cpu1 - cpu0, latencies)
