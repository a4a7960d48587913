"""A closed-loop load generator: N clients, each on its own connection with one request in
flight (no pipelining), like redis-benchmark -P 1.

redis-benchmark itself cannot be used for tensors: it keeps a custom command's arguments as
C strings (argz, strlen), so a payload cannot hold a NUL byte, and a 600 KB argument is
beyond Linux's limit for one command-line argument.

Each request is encoded once; a client resends the same bytes and reads a reply of known
length, so the Python per request is a sendall and a recv_into or two. The clients are
spread over one process per CPU, each running a selector over its connections. Only replies
that arrive inside [start, end) count; the time before start is the warm-up.
"""
import multiprocessing
import os
import queue
import selectors
import socket
import time
from dataclasses import dataclass

REPLY_TIMEOUT_S = 30.0


def encode(*args):
    """A command as RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts += [b"$%d\r\n" % len(a), a, b"\r\n"]
    return b"".join(parts)


def bulk(data):
    """The reply GET gives for data."""
    return b"$%d\r\n" % len(data) + data + b"\r\n"


OK = b"+OK\r\n"


@dataclass
class Result:
    requests: int  # replies received inside the window
    seconds: float  # length of the window
    server_cpu_s: float  # server CPU used inside the window

    @property
    def rps(self):
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self):
        return 1e6 * self.server_cpu_s / max(self.requests, 1)


class _Conn:
    """One client: its socket, its request and the reply it expects."""

    def __init__(self, host, port, request, reply):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = request
        self.reply = reply
        self.buf = bytearray(len(reply))
        self.view = memoryview(self.buf)
        self.got = 0
        self.checked = False

    def _rest_of_reply(self):
        """What has come of a reply of the wrong kind (an error), for the message."""
        self.sock.settimeout(1.0)
        try:
            more = self.sock.recv(200)
        except OSError:
            more = b""
        return (bytes(self.buf[:self.got]) + more)[:200]

    def send(self):
        self.got = 0
        self.sock.sendall(self.request)

    def read(self):
        """Reads what has arrived; True once the whole reply is in."""
        n = self.sock.recv_into(self.view[self.got:])
        if n == 0:
            raise ConnectionError("server closed the connection")
        self.got += n
        if self.buf[0] != self.reply[0]:
            raise RuntimeError(f"unexpected reply: {self._rest_of_reply()!r}")
        if self.got < len(self.reply):
            return False
        if not self.checked:  # the first reply in full, later ones by type and length
            if self.buf != self.reply:
                raise RuntimeError(f"wrong reply: {bytes(self.buf[:200])!r}...")
            self.checked = True
        return True


def _run_clients(host, port, pairs, start, end):
    """Drives the clients until end; returns the replies counted inside [start, end)."""
    conns = [_Conn(host, port, req, rep) for req, rep in pairs]
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ, c)
        c.send()
    count = 0
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
                    return count
                count += now >= start
                c.send()
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

    pairs: one (request bytes, expected reply bytes) per client. The server's CPU is read
    at the edges of the window, so it includes what the clients cost it and nothing else.
    """
    ctx = multiprocessing.get_context("fork")  # pairs are inherited, not pickled
    nproc = min(len(pairs), os.cpu_count() or 1)
    results = ctx.Queue()
    start = time.monotonic() + warmup
    end = start + duration
    procs = [ctx.Process(target=_worker, daemon=True,
                         args=(server.host, server.port, pairs[i::nproc], start, end, results))
             for i in range(nproc)]
    for p in procs:
        p.start()
    try:
        time.sleep(max(0.0, start - time.monotonic()))
        cpu0 = server.cpu_seconds()
        time.sleep(max(0.0, end - time.monotonic()))
        cpu1 = server.cpu_seconds()
        counts = [_result(results) for _ in procs]
    finally:
        for p in procs:
            p.join(REPLY_TIMEOUT_S)
            if p.is_alive():
                p.kill()
    errors = [c for c in counts if isinstance(c, str)]
    if errors:
        raise RuntimeError("client failed: " + errors[0])
    return Result(sum(counts), duration, cpu1 - cpu0)
