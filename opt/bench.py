"""cyrai's benchmarks (`make bench`): each case puts cyrai's command against a baseline on
the same server, in one run, and prints requests/s and their ratio.

A case is a number of clients and two workloads, the one under test and a baseline (plain
Redis moving the same bytes); they alternate for a few rounds so that drift in the
machine's speed hits both, and the ratio is the median of the rounds' ratios. To add a benchmark, write a function that returns Cases and
add it to CASE_FACTORIES; a Case without a baseline just reports its requests/s.

    .venv/bin/python opt/bench.py [--only TENSORGET] [--duration 3] [--strict]
"""
import argparse
import os
import random
import signal
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from bench_load import OK, Result, bulk, encode, run_load
from bench_server import RedisServer, ServerError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.path.join(ROOT, "build", "cyrai.so")
TARGET = 0.95  # cyrai rps / plain Redis rps
SIZES = {"4 KB": 4 * 1024, "600 KB": 600 * 1024}
CLIENTS = (1, 50)
WARMUP_S = 0.25


def _no_setup(client, nclients):
    pass


@dataclass(frozen=True)
class Workload:
    """What every client sends, over and over, and the reply it must get."""

    label: str
    request: Callable[[int], bytes]  # client index -> the encoded command
    reply: Callable[[int], bytes]  # client index -> the exact reply
    setup: Callable[[object, int], None] = _no_setup  # (redis client, clients): fill keys

    def pairs(self, nclients):
        return [(self.request(i), self.reply(i)) for i in range(nclients)]


@dataclass(frozen=True)
class Case:
    name: str
    clients: int
    subject: Workload
    baseline: Workload | None = None
    target: float | None = None  # the least subject/baseline ratio that passes


@dataclass
class Outcome:
    """A case's results, one Result per round for each workload."""

    case: Case
    subject_rounds: list = field(default_factory=list)
    baseline_rounds: list = field(default_factory=list)

    @property
    def subject(self):
        return _total(self.subject_rounds)

    @property
    def baseline(self):
        return _total(self.baseline_rounds)

    @property
    def ratio(self):
        """The median over rounds of subject/baseline: a burst of load from elsewhere on
        the machine spoils one round's pair, not the whole case."""
        pairs = [s.rps / b.rps for s, b in zip(self.subject_rounds, self.baseline_rounds)
                 if b.rps]
        return statistics.median(pairs) if pairs else None

    @property
    def passed(self):
        return self.case.target is None or (self.ratio or 0) >= self.case.target


def _total(results):
    return Result(sum(r.requests for r in results), sum(r.seconds for r in results),
                  sum(r.server_cpu_s for r in results))


# --- cases -----------------------------------------------------------------------------


def payload(size):
    """The same pseudo-random bytes every run (any bytes are a valid FLOAT blob)."""
    return random.Random(size).randbytes(size)


def _tensorset_argv(key, data):
    return ("AI.TENSORSET", key, "FLOAT", len(data) // 4, "BLOB", data)


def set_cases(size_label, size, clients):
    data = payload(size)
    tensor = Workload(
        "AI.TENSORSET",
        lambda i: encode(*_tensorset_argv(f"bench:tensor:{i}", data)),
        lambda i: OK)
    plain = Workload("SET", lambda i: encode("SET", f"bench:plain:{i}", data), lambda i: OK)
    return [Case(f"AI.TENSORSET vs SET {size_label}", clients, tensor, plain, TARGET)]


def get_cases(size_label, size, clients):
    data = payload(size)

    def fill_tensors(r, n):
        for i in range(n):
            r.execute_command(*_tensorset_argv(f"bench:tensor:{i}", data))

    def fill_strings(r, n):
        for i in range(n):
            r.set(f"bench:plain:{i}", data)

    tensor = Workload("AI.TENSORGET BLOB",
                      lambda i: encode("AI.TENSORGET", f"bench:tensor:{i}", "BLOB"),
                      lambda i: bulk(data), fill_tensors)
    plain = Workload("GET", lambda i: encode("GET", f"bench:plain:{i}"),
                     lambda i: bulk(data), fill_strings)
    return [Case(f"AI.TENSORGET vs GET {size_label}", clients, tensor, plain, TARGET)]


def tensor_cases():
    return [case
            for make in (set_cases, get_cases)
            for label, size in SIZES.items()
            for clients in CLIENTS
            for case in make(label, size, clients)]


CASE_FACTORIES = [tensor_cases]


# --- running ---------------------------------------------------------------------------


def run_case(server, case, duration, rounds):
    """Alternates baseline and subject `rounds` times, duration/rounds seconds each."""
    out = Outcome(case)
    with server.client() as r:
        r.flushall()
        for w in (case.baseline, case.subject):
            if w is not None:
                w.setup(r, case.clients)
    subject_pairs = case.subject.pairs(case.clients)
    baseline_pairs = case.baseline.pairs(case.clients) if case.baseline else None
    for _ in range(rounds):
        if baseline_pairs:
            out.baseline_rounds.append(
                run_load(server, baseline_pairs, duration / rounds, WARMUP_S))
        out.subject_rounds.append(run_load(server, subject_pairs, duration / rounds, WARMUP_S))
    with server.client() as r:
        r.flushall()  # the next case starts from an empty server
    return out


# --- report ----------------------------------------------------------------------------

COLUMNS = ("{:<30} {:>7} {:>11} {:>11} {:>6} {:>8}  {:>16}")
HEADER = COLUMNS.format("case", "clients", "cyrai rps", "plain rps", "ratio", "target",
                        "srv us/req c / p")


def row(o):
    ratio = f"{o.ratio:.3f}" if o.ratio is not None else "-"
    if o.case.target is None:
        target = "-"
    else:
        target = ("ok" if o.passed else "MISS") + f" {o.case.target:.2f}"
    plain_rps = f"{o.baseline.rps:,.0f}" if o.case.baseline else "-"
    cpu = f"{o.subject.cpu_us_per_request:.1f}"
    if o.case.baseline:
        cpu += f" / {o.baseline.cpu_us_per_request:.1f}"
    return COLUMNS.format(o.case.name, o.case.clients, f"{o.subject.rps:,.0f}", plain_rps,
                          ratio, target, cpu)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--module", default=MODULE, help="the module to load (%(default)s)")
    p.add_argument("--only", default="", help="run the cases whose name contains this")
    p.add_argument("--duration", type=float, default=3.0,
                   help="measured seconds per workload and case (%(default)s)")
    p.add_argument("--rounds", type=lambda v: max(1, int(v)), default=5,
                   help="baseline/subject alternations per case (%(default)s)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # A SIGTERM (timeout, CI cancel) unwinds like an exception, so the server is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    cases = [c for make in CASE_FACTORIES for c in make() if args.only.lower() in c.name.lower()]
    if not cases:
        sys.exit(f"no case matches {args.only!r}")
    try:
        outcomes = run_all(args, cases)
    except ServerError as e:
        sys.exit(f"bench: {e}")
    missed = [o.case.name for o in outcomes if not o.passed]
    print(f"target: cyrai/plain >= {TARGET:.2f}: "
          + (f"missed by {len(missed)} of {len(outcomes)} cases" if missed else "all met"))
    if missed and args.strict:
        sys.exit(1)


def run_all(args, cases):
    """Starts the server, runs the cases printing a row each, stops the server."""
    outcomes = []
    with RedisServer(args.module) as server:
        version = server.client().info("server")["redis_version"]
        print(f"redis {version} on port {server.port}, {os.cpu_count()} CPUs "
              f"(load average {os.getloadavg()[0]:.1f}), "
              f"{args.duration:g} s per workload in {args.rounds} rounds; "
              "ratio: median of the rounds' cyrai/plain; "
              "srv us/req: server CPU per request, cyrai / plain")
        print(HEADER)
        print("-" * len(HEADER))
        for case in cases:
            outcomes.append(run_case(server, case, args.duration, args.rounds))
            print(row(outcomes[-1]), flush=True)
    return outcomes


if __name__ == "__main__":
    main()
