"""Time to response under overload (roadmap R3): CLIENTS clients, each with one request in
flight, run a TorchScript model of about MODEL_MS on one worker thread, far more than it
can serve. Every request carries TTR 20 (refused at once when the queue's estimated work
says it would answer late) in one workload, TIMEOUT 20 (dropped once it waited 20 ms) in
the other; the workloads alternate for a few rounds. A client answered (OK or TIMEDOUT)
sends its next request at once; a refused client answers its request elsewhere (a
fallback) and sends its next one when the 20 ms it had are over, as it would after a
TIMEDOUT.

Printed, with the targets:
- the share of admitted TTR requests (answered OK or TIMEDOUT) answered OK within 20 ms,
  as the client measures it (>= 99 %);
- the p99 latency of the refusals (< 1 ms);
- goodput, OK replies within 20 ms per second, with TTR over with TIMEOUT (>= 1.5x).

    .venv/bin/python opt/bench_ttr.py [--clients 64] [--duration 4] [--rounds 2] [--strict]
"""

import argparse
import array
import io
import multiprocessing
import os
import queue
import selectors
import socket
import statistics
import sys
import time

import redis
import torch
from bench_load import encode
from redis_launcher import RedisServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.path.join(ROOT, "build", "cyrai.so")
MODEL_MS = 2.0
LIMIT_MS = 20
WARMUP_S = 0.5
TARGET_IN_TIME = 0.99
TARGET_REFUSAL_P99_MS = 1.0
TARGET_GOODPUT_RATIO = 1.5
OK, TIMEDOUT, REFUSED = b"+OK", b"+TIMEDOUT", b"-ERR TTR cannot be met"


class Busy(torch.nn.Module):
    """rounds 128x128 matmuls: a model whose run time is set by its size, not its input."""

    def __init__(self, rounds: int):
        super().__init__()
        self.rounds = rounds
        self.w = torch.nn.Parameter(torch.randn(128, 128) / 12.0, requires_grad=False)

    def forward(self, x):
        t = self.w
        for _ in range(self.rounds):
            t = torch.tanh(torch.mm(self.w, t))
        return x + t.sum() * 0.0


def model_blob(rounds):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(Busy(rounds)), buf)
    return buf.getvalue()


def calibrate(con, target_ms):
    """Rounds for a run of about target_ms in the server, from its own AI.INFO."""
    rounds = 20
    for _ in range(3):
        con.execute_command("AI.MODELSTORE", "cal", "TORCH", "CPU", "BLOB", model_blob(rounds))
        for _ in range(30):
            con.execute_command(*modelexecute("cal", "cal:y"))
        info = con.execute_command("AI.INFO", "cal")
        d = dict(zip(info[0::2], info[1::2]))
        ms = d[b"duration_p50"] / 1000
        rounds = max(1, round(rounds * target_ms / max(ms, 0.01)))
    con.delete("cal", "cal:y")
    return rounds


def model_time_s(con):
    """The time the worker has spent running m so far (AI.INFO's duration)."""
    info = con.execute_command("AI.INFO", "m")
    return dict(zip(info[0::2], info[1::2]))[b"duration"] / 1e6


def rejected_count(con):
    info = con.execute_command("AI.INFO", "m")
    return dict(zip(info[0::2], info[1::2]))[b"ttr_rejected"]


def server_refusal_p99_us(con, refused):
    """The p99 of the refusals' time in the server, from its latency histogram of
    AI.MODELEXECUTE: the refused calls are its fastest (an admitted call's time includes
    its run), so their p99 is the bucket holding the 0.99 * refused-th fastest call. An
    upper bound (buckets are powers of two), None without refusals."""
    if not refused:
        return None
    reply = con.execute_command("LATENCY", "HISTOGRAM", "ai.modelexecute")
    buckets = reply[b"ai.modelexecute"][b"histogram_usec"]
    for bound, cumulative in sorted(buckets.items()):
        if cumulative >= 0.99 * refused:
            return bound
    return None


def reply_lag_us(con):
    """The CPU queue's recent delay from a run's end to its reply."""
    info = con.execute_command("AI.INFO")
    return dict(zip(info[0::2], info[1::2]))[b"reply_lag_us"]


def modelexecute(model, out, *tail):
    return ("AI.MODELEXECUTE", model, "INPUTS", 1, "x", "OUTPUTS", 1, out, *tail)


# --- the clients --------------------------------------------------------------------------


class Client:
    def __init__(self, port, request):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.request = request
        self.buf = b""
        self.sent = 0.0
        self.resume = 0.0

    def send(self):
        self.sent = time.monotonic()
        self.sock.sendall(self.request)

    def reply(self):
        """The first line of the reply once it is in (every reply here is one line)."""
        chunk = self.sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk
        line, sep, rest = self.buf.partition(b"\r\n")
        if not sep:
            return None
        self.buf = rest
        return line


def drive(port, requests, start, end, results):
    """One process's clients until end: per kind of reply, the latencies (s) of those
    whose request went out inside [start, end)."""
    out = {OK: array.array("d"), TIMEDOUT: array.array("d"), REFUSED: array.array("d")}
    try:
        clients = [Client(port, r) for r in requests]
        sel = selectors.DefaultSelector()
        resting = []  # refused clients, until their next request is due
        for c in clients:
            sel.register(c.sock, selectors.EVENT_READ, c)
            c.send()
        while True:
            wait = min((c.resume for c in resting), default=None)
            timeout = 30 if wait is None else max(0.0, wait - time.monotonic())
            for key, _ in sel.select(timeout):
                c = key.data
                line = c.reply()
                if line is None:
                    continue
                now = time.monotonic()
                kind = REFUSED if line.startswith(REFUSED) else line
                if kind not in out:
                    raise RuntimeError(f"unexpected reply {line!r}")
                if start <= c.sent < end:
                    out[kind].append(now - c.sent)
                if now >= end:
                    results.put({k: v.tobytes() for k, v in out.items()})
                    return
                if kind == REFUSED:  # answered elsewhere: its next request comes later
                    c.resume = c.sent + LIMIT_MS / 1000
                    resting.append(c)
                else:
                    c.send()
            for c in [c for c in resting if c.resume <= time.monotonic()]:
                resting.remove(c)
                c.send()
    except (OSError, RuntimeError) as e:
        results.put(f"{type(e).__name__}: {e}")


def run_load(port, requests, duration):
    ctx = multiprocessing.get_context("fork")
    nproc = 1  # the clients' Python takes one core at most; the server needs the others
    results = ctx.Queue()
    start = time.monotonic() + WARMUP_S
    end = start + duration
    procs = [
        ctx.Process(target=drive, args=(port, requests[i::nproc], start, end, results))
        for i in range(nproc)
    ]
    for p in procs:
        p.start()
    got = []
    try:
        for _ in procs:
            got.append(results.get(timeout=duration + 60))
    except queue.Empty:
        got.append("a client process did not report")
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
    errors = [g for g in got if isinstance(g, str)]
    if errors:
        raise RuntimeError(errors[0])
    merged = {k: array.array("d") for k in (OK, TIMEDOUT, REFUSED)}
    for g in got:
        for k, raw in g.items():
            merged[k].frombytes(raw)
    return merged


# --- the report ---------------------------------------------------------------------------


def p99_ms(latencies):
    if len(latencies) < 2:
        return None
    return 1e3 * statistics.quantiles(latencies, n=100)[98]


class Tally:
    def __init__(self):
        self.seconds = 0.0
        self.busy_s = 0.0  # the worker's time in the model (includes the warm-up)
        self.rounds = 0
        self.lags = []  # reply_lag_us at the end of each round
        self.server_refusals = []  # per round, the server's refusal p99 bound (us)
        self.kinds = {k: array.array("d") for k in (OK, TIMEDOUT, REFUSED)}

    def add(self, result, seconds):
        self.rounds += 1
        self.seconds += seconds
        for k, v in result.items():
            self.kinds[k].extend(v)

    @property
    def in_time(self):
        return sum(1 for t in self.kinds[OK] if t <= LIMIT_MS / 1000)

    @property
    def admitted(self):
        return len(self.kinds[OK]) + len(self.kinds[TIMEDOUT])

    @property
    def goodput(self):
        return self.in_time / self.seconds if self.seconds else 0.0

    def line(self, label):
        n = {k: len(v) for k, v in self.kinds.items()}
        return (
            f"{label:<12} OK {n[OK]:>7,}  TIMEDOUT {n[TIMEDOUT]:>7,}  refused {n[REFUSED]:>8,}"
            f"  OK within {LIMIT_MS} ms {self.in_time:>7,}  goodput {self.goodput:>7,.0f}/s"
            f"  worker busy {self.busy_s / (self.seconds + WARMUP_S * self.rounds):.0%}"
            f"  reply lag {'/'.join(str(lag) for lag in self.lags)} us"
        )


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--module", default=MODULE)
    p.add_argument("--clients", type=int, default=64)
    p.add_argument("--duration", type=float, default=4.0, help="measured seconds per round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def measure(args, server, con):
    con.execute_command("AI.TENSORSET", "x", "FLOAT", 1, "VALUES", 1)
    rounds = calibrate(con, MODEL_MS)
    con.execute_command("AI.MODELSTORE", "m", "TORCH", "CPU", "BLOB", model_blob(rounds))
    for _ in range(20):  # TorchScript optimises over the first runs; the estimate settles
        con.execute_command(*modelexecute("m", "warm"))
    ttr = [encode(*modelexecute("m", f"y{i}", "TTR", LIMIT_MS)) for i in range(args.clients)]
    timeout = [
        encode(*modelexecute("m", f"y{i}", "TIMEOUT", LIMIT_MS)) for i in range(args.clients)
    ]
    with_ttr, with_timeout = Tally(), Tally()
    for _ in range(args.rounds):
        for tally, requests in ((with_ttr, ttr), (with_timeout, timeout)):
            busy, rejected = model_time_s(con), rejected_count(con)
            con.config_resetstat()  # the command latency histograms
            tally.add(run_load(server.port, requests, args.duration), args.duration)
            tally.busy_s += model_time_s(con) - busy
            tally.lags.append(reply_lag_us(con))
            tally.server_refusals.append(server_refusal_p99_us(con, rejected_count(con) - rejected))
    info = con.execute_command("AI.INFO", "m")
    d = {k.decode(): v for k, v in zip(info[0::2], info[1::2])}
    print(
        f"TTR {LIMIT_MS} ms vs TIMEOUT {LIMIT_MS} ms: {args.clients} clients, one worker, a model "
        f"of {d['duration_p50'] / 1000:.2f} ms (server p50), {args.rounds} x {args.duration:g} s"
    )
    print(with_ttr.line(f"TTR {LIMIT_MS}"))
    print(with_timeout.line(f"TIMEOUT {LIMIT_MS}"))
    print(
        f"server: ttr_rejected {d['ttr_rejected']:,}, ttr_missed {d['ttr_missed']:,}, "
        f"refusal p99 in the server <= {'/'.join(map(str, with_ttr.server_refusals))} us"
    )
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return with_ttr, with_timeout


def report(with_ttr, with_timeout):
    share = with_ttr.in_time / with_ttr.admitted if with_ttr.admitted else 0.0
    refusal = p99_ms(with_ttr.kinds[REFUSED])
    ratio = with_ttr.goodput / with_timeout.goodput if with_timeout.goodput else float("inf")
    checks = [
        (
            f"admitted answered within TTR {share:.2%}",
            share >= TARGET_IN_TIME,
            f">= {TARGET_IN_TIME:.0%}",
        ),
        (
            f"refusal p99 {refusal:.3f} ms" if refusal is not None else "refusal p99: no refusals",
            refusal is not None and refusal < TARGET_REFUSAL_P99_MS,
            f"< {TARGET_REFUSAL_P99_MS:g} ms",
        ),
        (
            f"goodput TTR/TIMEOUT {ratio:.2f}x",
            ratio >= TARGET_GOODPUT_RATIO,
            f">= {TARGET_GOODPUT_RATIO:g}x",
        ),
    ]
    for text, met, target in checks:
        print(f"  {text:<44} target {target:<9} {'met' if met else 'MISSED'}")
    return all(met for _, met, _ in checks)


def main(argv=None):
    args = parse_args(argv)
    with RedisServer(args.module, ("THREADS_PER_QUEUE", 1)) as server:
        con = redis.Redis(host=server.host, port=server.port, socket_timeout=60)
        with_ttr, with_timeout = measure(args, server, con)
    met = report(with_ttr, with_timeout)
    if args.strict and not met:
        sys.exit(1)


if __name__ == "__main__":
    main()
