"""What a benchmark case is (bench.py runs them): the workloads the clients send, the
targets a case must meet, and the results of its rounds."""

import array
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

from bench_load import Result


def _no_setup(client, nclients):
    pass


@dataclass(frozen=True)
class Workload:
    """What every client sends, over and over, and the reply it must get. A request (and
    its reply) may be a tuple of them: a sequence sent one after the other, one iteration."""

    label: str
    request: Callable[[int], bytes | tuple]  # client index -> the encoded command(s)
    reply: Callable[[int], bytes | tuple]  # client index -> the exact reply (replies)
    setup: Callable[[object, int], None] = _no_setup  # (redis client, clients): fill keys

    def pairs(self, nclients):
        return [(self.request(i), self.reply(i)) for i in range(nclients)]


@dataclass(frozen=True)
class Target:
    """A bound on one of an Outcome's metrics: ratio (subject/baseline), rps (of the
    subject), p50_ms (the subject's median latency, an upper bound) or cpu_vs_set (the
    subject's server CPU per request over SET 4 KB's in the same rounds, an upper bound)."""

    metric: str
    value: float

    UPPER_BOUNDS = ("p50_ms", "cpu_vs_set")

    def met(self, outcome):
        got = getattr(outcome, self.metric)
        if got is None:
            return False
        return got <= self.value if self.metric in self.UPPER_BOUNDS else got >= self.value

    def __str__(self):
        if self.metric == "p50_ms":
            return f"p50<={self.value:g}ms"
        if self.metric == "cpu_vs_set":
            return f"cpu<={self.value:g}xSET"
        if self.metric == "rps":
            return f"rps>={self.value:,.0f}"
        return f"ratio>={self.value:.2f}"


@dataclass(frozen=True)
class Case:
    name: str
    clients: int
    subject: Workload
    baseline: Workload | None = None
    targets: tuple = ()  # Targets, all of which must be met
    duration: float | None = None  # measured seconds per workload; None: --duration's
    rounds: int | None = None  # None: --rounds
    # A case that is a fixed amount of work rather than a closed-loop load runs itself:
    # (server, case, rounds) -> Outcome.
    runner: Callable[[object, "Case", int], "Outcome"] | None = None
    # The same work called in the bench process, for the per-request cost of Redis:
    # () -> calls/s. Given on the 1-client case of a model.
    inprocess: Callable[[], float] | None = None
    # Run in the same rounds for its server CPU per request only (SET 4 KB: what a request
    # that moves bytes costs Redis itself on this machine, now).
    reference: Workload | None = None


@dataclass
class Outcome:
    """A case's results, one Result per round for each workload."""

    case: Case
    subject_rounds: list = field(default_factory=list)
    baseline_rounds: list = field(default_factory=list)
    reference_rounds: list = field(default_factory=list)
    inprocess_cps: float | None = None  # in-process calls/s

    @property
    def subject(self):
        return _total(self.subject_rounds)

    @property
    def baseline(self):
        return _total(self.baseline_rounds)

    @property
    def reference(self):
        return _total(self.reference_rounds)

    @property
    def cpu_vs_set(self):
        """Server CPU per request of the subject over the reference's (SET 4 KB)."""
        if not self.reference_rounds or not self.reference.cpu_us_per_request:
            return None
        return self.subject.cpu_us_per_request / self.reference.cpu_us_per_request

    @property
    def rps(self):
        return self.subject.rps

    @property
    def p50_ms(self):
        return self.subject.p50_ms

    @property
    def ratio(self):
        """The median over rounds of subject/baseline: a burst of load from elsewhere on
        the machine spoils one round's pair, not the whole case."""
        pairs = [s.rps / b.rps for s, b in zip(self.subject_rounds, self.baseline_rounds) if b.rps]
        return statistics.median(pairs) if pairs else None

    @property
    def overhead_us(self):
        """What going through Redis adds to a call: 1/rps - 1/in-process calls/s."""
        if not self.inprocess_cps or not self.rps:
            return None
        return 1e6 * (1 / self.rps - 1 / self.inprocess_cps)

    @property
    def missed(self):
        return [t for t in self.case.targets if not t.met(self)]

    @property
    def passed(self):
        return not self.missed


def _total(results):
    latencies = array.array("d")
    for r in results:
        latencies.extend(r.latencies)
    return Result(
        sum(r.requests for r in results),
        sum(r.seconds for r in results),
        sum(r.server_cpu_s for r in results),
        latencies,
    )
