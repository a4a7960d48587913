"""cyrai's benchmarks (`make bench`): every case runs on the same server, in one run, and
prints requests/s, latency and server CPU per request.

A case is a number of clients and one or two workloads: the one under test and, maybe, a
baseline (plain Redis moving the same bytes, or another way to do the same work); they
alternate for a few rounds so that drift in the machine's speed hits both, and the ratio is
the median of the rounds' ratios. A model case may also time the same model called in the
bench process, to print what going through Redis adds per request. Targets bound a case's
ratio, requests/s or median latency. To add a benchmark, write a function that returns
Cases and add it to CASE_FACTORIES (model cases: bench_models.py, their models:
bench_zoo.py).

    .venv/bin/python opt/bench.py [--only TENSORGET,sweep] [--duration 3] [--strict]

Besides the table, the run writes a report (bench_report.py): an HTML page with charts of
the same numbers, in build/bench/ unless --report names another folder.
"""

import argparse
import dataclasses
import os
import random
import signal
import sys

import bench_report
import redis
from bench_async import async_dag_cases
from bench_case import Case, Outcome, Target, Workload
from bench_load import OK, bulk, encode, run_load
from bench_models import MODEL_CASE_FACTORIES
from bench_sweep import sweep_cases
from bench_web import web_cases
from redis_launcher import RedisServer, ServerError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.path.join(ROOT, "build", "cyrai.so")
TARGET = Target("ratio", 0.95)  # cyrai rps / plain Redis rps
SIZES = {"4 KB": 4 * 1024, "600 KB": 600 * 1024}
CLIENTS = (1, 50)
WARMUP_S = 0.25
DURATION_S = 3.0  # measured seconds per workload of a case that names none
ROUNDS = 5


class BenchServer(RedisServer):
    """The benchmarks' server: a redis-py client for setup, and the CPU it used."""

    def client(self):
        return redis.Redis(host=self.host, port=self.port, socket_timeout=30)

    def cpu_seconds(self):
        """User plus system CPU the server has used so far (all its threads)."""
        info = self.client().info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


# --- cases -----------------------------------------------------------------------------


def payload(size):
    """The same pseudo-random bytes every run (any bytes are a valid FLOAT blob)."""
    return random.Random(size).randbytes(size)


def _tensorset_argv(key, data):
    return ("AI.TENSORSET", key, "FLOAT", len(data) // 4, "BLOB", data)


def set_cases(size_label, size, clients):
    data = payload(size)
    tensor = Workload(
        "AI.TENSORSET", lambda i: encode(*_tensorset_argv(f"bench:tensor:{i}", data)), lambda i: OK
    )
    plain = Workload("SET", lambda i: encode("SET", f"bench:plain:{i}", data), lambda i: OK)
    return [Case(f"AI.TENSORSET vs SET {size_label}", clients, tensor, plain, (TARGET,))]


def get_cases(size_label, size, clients):
    data = payload(size)

    def fill_tensors(r, n):
        for i in range(n):
            r.execute_command(*_tensorset_argv(f"bench:tensor:{i}", data))

    def fill_strings(r, n):
        for i in range(n):
            r.set(f"bench:plain:{i}", data)

    tensor = Workload(
        "AI.TENSORGET BLOB",
        lambda i: encode("AI.TENSORGET", f"bench:tensor:{i}", "BLOB"),
        lambda i: bulk(data),
        fill_tensors,
    )
    plain = Workload(
        "GET", lambda i: encode("GET", f"bench:plain:{i}"), lambda i: bulk(data), fill_strings
    )
    return [Case(f"AI.TENSORGET vs GET {size_label}", clients, tensor, plain, (TARGET,))]


def tensor_cases():
    return [
        case
        for make in (set_cases, get_cases)
        for label, size in SIZES.items()
        for clients in CLIENTS
        for case in make(label, size, clients)
    ]


CASE_FACTORIES = [tensor_cases, *MODEL_CASE_FACTORIES, async_dag_cases]
# The report's: latency against concurrency, and the model served by a web framework.
CASE_FACTORIES += [sweep_cases, web_cases]


# --- running ---------------------------------------------------------------------------


def run_case(server, case, duration, rounds):
    """Alternates baseline and subject `rounds` times, duration/rounds seconds each, then
    times the in-process calls, if any, with the server idle."""
    if case.runner:
        return case.runner(
            server, dataclasses.replace(case, duration=duration or case.duration), rounds
        )
    duration = duration or case.duration or DURATION_S
    rounds = rounds or case.rounds or ROUNDS
    out = Outcome(case)
    with server.client() as r:
        r.flushall()
        for w in (case.baseline, case.reference, case.subject):
            if w is not None:
                w.setup(r, case.clients)
    subject_pairs = case.subject.pairs(case.clients)
    baseline_pairs = case.baseline.pairs(case.clients) if case.baseline else None
    reference_pairs = case.reference.pairs(case.clients) if case.reference else None
    for _ in range(rounds):
        if reference_pairs:
            out.reference_rounds.append(
                run_load(server, reference_pairs, duration / rounds / 2, WARMUP_S)
            )
        if baseline_pairs:
            out.baseline_rounds.append(
                run_load(server, baseline_pairs, duration / rounds, WARMUP_S)
            )
        out.subject_rounds.append(run_load(server, subject_pairs, duration / rounds, WARMUP_S))
    with server.client() as r:
        r.flushall()  # the next case starts from an empty server
    if case.inprocess is not None:
        out.inprocess_cps = case.inprocess()
    return out


# --- report ----------------------------------------------------------------------------

COLUMNS = "{:<34} {:>7} {:>10} {:>10} {:>6} {:>7} {:>7}  {:>14} {:>8} {:>6}  {}"
HEADER = COLUMNS.format(
    "case",
    "clients",
    "cyrai rps",
    "base rps",
    "ratio",
    "p50 ms",
    "p99 ms",
    "srv us/req",
    "SET4K us",
    "x SET",
    "target",
)


def _ms(value):
    return f"{value:.3f}" if value is not None else "-"


def row(o):
    subject = o.subject
    ratio = f"{o.ratio:.3f}" if o.ratio is not None else "-"
    base_rps = f"{o.baseline.rps:,.0f}" if o.case.baseline else "-"
    cpu = f"{subject.cpu_us_per_request:.1f}"
    if o.case.baseline:
        cpu += f" / {o.baseline.cpu_us_per_request:.1f}"
    set_cpu, vs_set = "-", "-"
    if o.reference_rounds:
        set_cpu = f"{o.reference.cpu_us_per_request:.1f}"
        vs_set = f"{o.cpu_vs_set:.2f}" if o.cpu_vs_set is not None else "-"
    missed = o.missed
    targets = " ".join(("MISS " if t in missed else "ok ") + str(t) for t in o.case.targets)
    line = COLUMNS.format(
        o.case.name,
        o.case.clients,
        f"{subject.rps:,.0f}",
        base_rps,
        ratio,
        _ms(subject.p50_ms),
        _ms(subject.p99_ms),
        cpu,
        set_cpu,
        vs_set,
        targets or "-",
    )
    if o.case.baseline and o.baseline_rounds:
        line += (
            f"\n{'':>4}{o.case.baseline.label}: p50 {_ms(o.baseline.p50_ms)} ms, "
            f"p99 {_ms(o.baseline.p99_ms)} ms"
        )
    if o.inprocess_cps:
        line += (
            f"\n{'':>4}in process (1 thread): {o.inprocess_cps:,.0f} calls/s "
            f"({1e6 / o.inprocess_cps:.1f} us/call); through Redis at 1 client: "
            f"+{o.overhead_us:.1f} us/request"
        )
    return line


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--module", default=MODULE, help="the module to load (%(default)s)")
    p.add_argument(
        "--module-args", default="", help="arguments for the module, e.g. 'INTRA_OP_PARALLELISM 1'"
    )
    p.add_argument(
        "--only",
        default="",
        help="run the cases whose name contains this (or one of these, comma-separated)",
    )
    p.add_argument(
        "--report",
        default=bench_report.DEFAULT_FOLDER,
        help="the folder of the HTML report (%(default)s)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        help=f"measured seconds per workload and case (default: the case's, "
        f"{DURATION_S:g} for tensor cases)",
    )
    p.add_argument(
        "--rounds",
        type=lambda v: max(1, int(v)),
        default=None,
        help=f"baseline/subject alternations per case (default: the case's, "
        f"{ROUNDS} for tensor cases)",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # A SIGTERM (timeout, CI cancel) unwinds like an exception, so the server is stopped.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    only = [word.strip().lower() for word in args.only.split(",")]
    cases = [c for make in CASE_FACTORIES for c in make() if any(w in c.name.lower() for w in only)]
    threads = args.only.lower() in "threads_per_queue"
    if not cases and not threads:
        sys.exit(f"no case matches {args.only!r}")
    threads_met = True
    try:
        outcomes = run_all(args, cases) if cases else []
        if threads:
            threads_met = run_threads_scaling(args)
    except (ServerError, RuntimeError, redis.RedisError) as e:  # the server is stopped
        sys.exit(f"bench: {type(e).__name__}: {e}")
    if outcomes:
        print(f"report: {bench_report.write(args.report, outcomes, HEADER, row)}")
    with_targets = [o for o in outcomes if o.case.targets]
    missed = [o for o in with_targets if not o.passed]
    summary = (
        f"targets: {len(with_targets) - len(missed)} of {len(with_targets)} cases met them"
        if with_targets
        else "targets: none in these cases"
    )
    print(
        summary
        + "".join(
            f"\n  missed: {o.case.name}, {o.case.clients} clients: " + ", ".join(map(str, o.missed))
            for o in missed
        )
    )
    if (missed or not threads_met) and args.strict:
        sys.exit(1)


# --- THREADS_PER_QUEUE scaling -------------------------------------------------------------
# Runs without the GIL let the workers of one queue run in parallel: the same ~1 ms model
# at THREADS_CLIENTS clients on a server with 1 worker per queue and one with 2, their
# rounds alternated.

THREADS_CLIENTS = 8
THREADS_TARGET = 1.6  # 2 workers' rps over 1 worker's


def run_threads_scaling(args):
    """Prints a row per thread count and the ratio; True when the target is met."""
    from bench_models import MODEL_DURATION_S, MODEL_ROUNDS, execute_workload
    from bench_zoo import TORCH_MLP_1MS, calls_per_second

    model = TORCH_MLP_1MS
    workload = execute_workload("TORCH mlp ~1 ms", "bench:m", model)
    duration = args.duration or MODEL_DURATION_S * 2
    rounds = args.rounds or MODEL_ROUNDS
    outcomes = {}
    servers = {}
    try:
        for n in (1, 2):
            extra = args.module_args.split() + ["THREADS_PER_QUEUE", str(n)]
            servers[n] = BenchServer(args.module, module_args=extra)
            servers[n].start()
            case = Case(f"THREADS_PER_QUEUE {n} TORCH mlp ~1ms", THREADS_CLIENTS, workload)
            outcomes[n] = Outcome(case)
            with servers[n].client() as r:
                workload.setup(r, THREADS_CLIENTS)
        pairs = workload.pairs(THREADS_CLIENTS)
        for _ in range(rounds):
            for n in (1, 2):
                result = run_load(servers[n], pairs, duration / rounds, WARMUP_S)
                outcomes[n].subject_rounds.append(result)
    finally:
        for server in servers.values():
            server.stop()
    print(HEADER)
    for n in (1, 2):
        print(row(outcomes[n]), flush=True)
    ratio = outcomes[2].rps / outcomes[1].rps if outcomes[1].rps else 0.0
    met = ratio >= THREADS_TARGET
    print(
        f"THREADS_PER_QUEUE 2 / 1 on the ~1 ms model ({1e3 / calls_per_second(model):.2f} ms a "
        f"call in process, load average {_load()}): {ratio:.2f}x  "
        f"{'ok' if met else 'MISS'} >={THREADS_TARGET:g}x"
    )
    return met


def run_all(args, cases):
    """Starts the server, runs the cases printing a row each, stops the server."""
    outcomes = []
    with BenchServer(args.module, extra_args=args.module_args.split()) as server:
        version = server.client().info("server")["redis_version"]
        timing = (
            f"{args.duration:g} s per workload"
            if args.duration
            else f"{DURATION_S:g} s per workload for tensor cases, less for model cases"
        )
        rounds = f"{args.rounds} rounds" if args.rounds else f"{ROUNDS} rounds (models: fewer)"
        print(
            f"redis {version} on port {server.port}, {os.cpu_count()} CPUs "
            f"(load average {_load()}); {timing} in {rounds}\n"
            "base: the baseline (plain Redis, or the other workload named); ratio: median "
            "of the rounds' cyrai/base; p50: median latency of a request (or a sequence); "
            "srv us/req: server CPU per request, cyrai / base; SET4K us: SET 4 KB's server "
            "CPU per request in the same rounds (x SET: srv us/req over it)"
        )
        print(HEADER)
        print("-" * len(HEADER))
        for n, case in enumerate(cases, 1):
            # Progress on stderr: a model case takes seconds, the whole run minutes.
            print(f"[{n}/{len(cases)}] {case.name}, {case.clients} clients", file=sys.stderr)
            outcomes.append(run_case(server, case, args.duration, args.rounds))
            print(row(outcomes[-1]), flush=True)
        print(f"load average at the end: {_load()}")
    return outcomes


def _load():
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


if __name__ == "__main__":
    main()
