"""Auto-batching (spec 7.3): requests to a model stored with BATCHSIZE that wait in the same
queue run as one backend call and every client gets exactly its own rows back.

Most tests first occupy the CPU queue's only worker (THREADS_PER_QUEUE 1) with a slow run
and queue their requests behind it one by one, so the worker finds them all in a known
order and the batches it forms can be predicted. The probe models return, beside their
result, the batch each row ran in: its total number of rows and the first element of its
first row (every client puts its own id there)."""

import threading
import time

import numpy as np
import torch
from error_texts import BATCH_SIZE_ERROR
from hypothesis import given, settings
from hypothesis import strategies as st
from includes import RawConnection, blocked_clients, meta_dict, read, replied, send
from model_zoo import (
    MLP,
    connect,
    execute,
    get_array,
    set_array,
    store,
    torch_blob,
    torch_bytes,
)

HOLD_MS = 300  # how long the run that occupies the worker lasts


class Probe(torch.nn.Module):
    """(mlp(x), batch) with batch[i] = [rows of the batch, x[0, 0] of the batch]."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.mlp = MLP()

    def forward(self, x) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.size(0)
        batch = torch.stack([torch.full([n], float(n)), x[0, 0].expand(n)], 1)
        return self.mlp(x), batch


class AddProbe(torch.nn.Module):
    """(a + b, rows of the batch for every row)."""

    def forward(self, a, b) -> tuple[torch.Tensor, torch.Tensor]:
        n = a.size(0)
        return a + b, torch.full([n], float(n))


class SumRows(torch.nn.Module):
    """One row whatever the batch: dim 0 of the output never follows the input's."""

    def forward(self, x):
        return x.sum(0, keepdim=True)


class ThreeRows(torch.nn.Module):
    """Always three rows of zeros."""

    def forward(self, x):
        return torch.zeros([3, x.size(1)], dtype=x.dtype)


class Scalar(torch.nn.Module):
    """A 0-dim output: no dim 0 at all."""

    def forward(self, x):
        return x.sum()


PROBE = torch.jit.script(Probe())
PROBE_BLOB = torch_bytes(PROBE)
ADD_PROBE_BLOB = torch_bytes(torch.jit.script(AddProbe()))


def probe_run(x):
    """The probe in process on x alone: (mlp(x), batch)."""
    with torch.inference_mode():
        out = PROBE(torch.from_numpy(x))
    return [t.numpy() for t in out]


def client_rows(i, rows):
    """Client i's input: random rows with i + 1 in column 0, which identifies it."""
    x = np.random.default_rng(1000 + i).standard_normal((rows, 4)).astype(np.float32)
    x[:, 0] = i + 1
    return x


def queue_depth(con):
    return int(con.execute_command("INFO", "MODULES")["ai_queue_CPU_depth"])


def wait_until(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.002)


class Hold:
    """Occupies the CPU queue's worker with one slow run of about HOLD_MS, so that the
    requests queued meanwhile are all there, in the order sent, when it looks again."""

    def __init__(self, con):
        self.con = con
        store(con, "hold", "TORCH", torch_blob("slow1"))
        set_array(con, "hold:x", np.zeros((1,), np.float32))
        set_array(con, "hold:n", np.array(2, np.int64))
        for _ in range(3):  # TorchScript optimises a graph over its first runs
            execute(con, "hold", ["hold:x", "hold:n"], ["hold:y"])
        set_array(con, "hold:n", np.array(40, np.int64))
        start = time.monotonic()
        execute(con, "hold", ["hold:x", "hold:n"], ["hold:y"])
        per_round = max((time.monotonic() - start) / 40, 1e-5)
        set_array(con, "hold:n", np.array(max(40, int(HOLD_MS / 1000 / per_round)), np.int64))
        self.raw = None

    def __enter__(self):
        """Starts the slow run and returns once the worker is running it."""
        blocked = blocked_clients(self.con)
        self.raw = send(
            self.con,
            "AI.MODELEXECUTE",
            "hold",
            "INPUTS",
            2,
            "hold:x",
            "hold:n",
            "OUTPUTS",
            1,
            "hold:y",
        )
        wait_until(lambda: blocked_clients(self.con) == blocked + 1)
        wait_until(lambda: queue_depth(self.con) == 0)
        return self

    def __exit__(self, *exc):
        reply = self.raw._read()
        self.raw.close()
        assert reply == ("+", b"OK"), reply

    def queue(self, *args):
        """Sends one command on a connection of its own and returns once it is queued."""
        depth = queue_depth(self.con)
        raw = send(self.con, *args)
        wait_until(lambda: queue_depth(self.con) == depth + 1)
        return raw

    def check_still_running(self):
        assert not replied(self.raw), "the slow run ended before every request was queued"


def run_probe(key, i, out):
    return ("AI.MODELEXECUTE", key, "INPUTS", 1, f"x{i}", "OUTPUTS", 2, f"{out}{i}", f"b{i}")


def predicted_batches(rows, batchsize):
    """Spec 7.3 for requests all queued, compatible, in this order: a request with fewer
    rows than BATCHSIZE takes the next ones until the total reaches it."""
    batches, i = [], 0
    while i < len(rows):
        batch, total = [i], rows[i]
        i += 1
        while total < batchsize and i < len(rows):
            batch.append(i)
            total += rows[i]
            i += 1
        batches.append(batch)
    return batches


def check_own_rows(con, xs, out="y"):
    """Every client's output equals the probe run in process on its rows alone; returns
    what each saw of its batch: [(rows of the batch, id of the batch's first client)]."""
    seen = []
    for i, x in enumerate(xs):
        np.testing.assert_allclose(
            get_array(con, f"{out}{i}"),
            probe_run(x)[0],
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"client {i}",
        )
        batch = get_array(con, f"b{i}")
        assert batch.shape == (len(x), 2), batch.shape
        assert (batch == batch[0]).all(), batch
        seen.append((int(batch[0, 0]), int(batch[0, 1]) - 1))
    return seen


def counters(con, key):
    d = meta_dict(con.execute_command("AI.INFO", key))
    return d["duration"], d["samples"], d["calls"], d["errors"]


# ---------------------------------------------------------------------------------------
# Property: any mix of clients, rows and batch options


@st.composite
def batching_cases(draw):
    clients = draw(st.integers(2, 12))
    batchsize = draw(st.integers(2, 8))
    minbatch = draw(st.one_of(st.none(), st.integers(2, batchsize)))
    return {
        "rows": draw(st.lists(st.integers(1, 4), min_size=clients, max_size=clients)),
        "batchsize": batchsize,
        "minbatch": minbatch,
        "mintimeout": draw(st.sampled_from([5, 50, 150])) if minbatch else None,
        "held": draw(st.booleans()),  # queued behind a slow run in a known order, or racing
    }


def model_options(case):
    options = ["BATCHSIZE", case["batchsize"]]
    if case["minbatch"]:
        options += ["MINBATCHSIZE", case["minbatch"], "MINBATCHTIMEOUT", case["mintimeout"]]
    return options


def run_held(con, hold, rows):
    with hold:
        raws = [hold.queue(*run_probe("p", i, "y")) for i in range(len(rows))]
        hold.check_still_running()
    return [read(raw) for raw in raws]


def run_racing(env, rows):
    """Every client on its own connection in its own thread, all sent at once."""
    barrier, replies = threading.Barrier(len(rows)), [None] * len(rows)

    def client(i):
        c = env.getConnection()
        barrier.wait(timeout=20)
        try:
            replies[i] = ("+", c.execute_command(*run_probe("p", i, "y")))
        except Exception as e:  # noqa: BLE001 - compared below
            replies[i] = ("-", repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(rows))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return replies


def check_racing_batches(seen, rows, batchsize):
    """Without a known order: the clients that name the same first client form a batch
    whose total is the sum of their rows; a request that already had BATCHSIZE rows ran
    alone, as did any batch's first request."""
    batches = {}
    for i, (_total, head) in enumerate(seen):
        batches.setdefault(head, []).append(i)
    for head, members in batches.items():
        assert head in members, (head, members)
        assert {seen[i][0] for i in members} == {sum(rows[i] for i in members)}, members
        if len(members) > 1:
            assert rows[head] < batchsize, (head, members)


def test_batched_clients_get_their_rows(env):
    """Property: 2..12 clients with 1..4 rows each, BATCHSIZE 2..8, with or without
    MINBATCHSIZE/MINBATCHTIMEOUT, queued in a known order or racing: every client gets
    the rows the MLP computes for its own input; batches are those spec 7.3 forms;
    AI.INFO counts every request and its own rows."""
    if env.useSlaves or env.useAof:
        env.skip()  # the queue and worker are the same in every env
    con = connect(env)
    hold = Hold(con)

    @settings(max_examples=10, deadline=None, database=None)
    @given(case=batching_cases())
    def check(case):
        rows = case["rows"]
        store(con, "p", "TORCH", PROBE_BLOB, *model_options(case))
        xs = [client_rows(i, r) for i, r in enumerate(rows)]
        for i, x in enumerate(xs):
            set_array(con, f"x{i}", x)
        if case["held"]:
            replies = run_held(con, hold, rows)
        else:
            replies = run_racing(env, rows)
        assert replies == [("+", b"OK")] * len(rows), replies
        seen = check_own_rows(con, xs)
        if case["held"]:
            want = {}
            for batch in predicted_batches(rows, case["batchsize"]):
                for i in batch:
                    want[i] = (sum(rows[j] for j in batch), batch[0])
            assert seen == [want[i] for i in range(len(rows))], (seen, want)
        else:
            check_racing_batches(seen, rows, case["batchsize"])
        duration, samples, calls, errors = counters(con, "p")
        assert (samples, calls, errors) == (sum(rows), len(rows), 0)
        assert duration > 0

    check()


# ---------------------------------------------------------------------------------------
# Deterministic cases


def test_info_after_batched_runs(env):
    """Each request of a batch counts one call and its own rows as samples, and adds the
    whole batch's duration: four one-row requests in one batch add four times the same
    time, which is every entry of the latency percentiles."""
    if env.useSlaves or env.useAof:
        env.skip()  # the queue and its worker are the same in every env
    con = connect(env)
    hold = Hold(con)
    store(con, "p", "TORCH", PROBE_BLOB, "BATCHSIZE", 4)
    xs = [client_rows(i, 1) for i in range(4)]
    for i, x in enumerate(xs):
        set_array(con, f"x{i}", x)
    env.assertEqual(run_held(con, hold, [1] * 4), [("+", b"OK")] * 4)
    env.assertEqual(check_own_rows(con, xs), [(4, 0)] * 4)
    duration, samples, calls, errors = counters(con, "p")
    env.assertEqual((samples, calls, errors), (4, 4, 0))
    env.assertGreater(duration, 0)
    env.assertEqual(duration % 4, 0)
    lat = con.execute_command("INFO", "MODULES")["ai_p"]
    env.assertEqual((lat["calls"], lat["p50_us"], lat["p99_us"]), (4, duration // 4, duration // 4))
    # Three requests of two rows: a batch of four and one alone; samples are their rows.
    xs = [client_rows(i, 2) for i in range(3)]
    for i, x in enumerate(xs):
        set_array(con, f"x{i}", x)
    env.assertEqual(run_held(con, hold, [2] * 3), [("+", b"OK")] * 3)
    env.assertEqual(check_own_rows(con, xs), [(4, 0), (4, 0), (2, 2)])
    env.assertEqual(counters(con, "p")[1:], (10, 7, 0))


def test_output_rows_must_follow_the_batch(env):
    """In a batch every output's dim 0 must equal the batch's rows, else every request of
    it fails with `Model did not generate the expected batch size` (an error each in
    AI.INFO). A request that runs alone is not checked: it gets whatever the model gave.
    A fixed-size output that happens to equal the batch's rows is split like any other."""
    if env.useSlaves or env.useAof:
        env.skip()  # the queue and its worker are the same in every env
    con = connect(env)
    hold = Hold(con)
    for key, module in (("sum", SumRows()), ("three", ThreeRows()), ("scalar", Scalar())):
        store(con, key, "TORCH", torch_bytes(torch.jit.script(module)), "BATCHSIZE", 4)
    x1, x2 = client_rows(0, 1), client_rows(1, 2)
    set_array(con, "x1", x1)
    set_array(con, "x2", x2)

    def together(key, first, second):
        with hold:
            raws = [
                hold.queue("AI.MODELEXECUTE", key, "INPUTS", 1, first, "OUTPUTS", 1, "o1"),
                hold.queue("AI.MODELEXECUTE", key, "INPUTS", 1, second, "OUTPUTS", 1, "o2"),
            ]
            hold.check_still_running()
        return [read(raw) for raw in raws]

    failed = ("-", b"ERR " + BATCH_SIZE_ERROR.encode())
    for key in ("sum", "scalar"):
        env.assertEqual(together(key, "x1", "x1"), [failed, failed], message=key)
        env.assertEqual(counters(con, key)[1:], (0, 2, 2), message=key)
    env.assertEqual(together("three", "x1", "x1"), [failed, failed])
    env.assertEqual(con.exists("o1", "o2"), 0)
    # 1 + 2 rows: the three rows the model always returns are split 1 and 2.
    env.assertEqual(together("three", "x1", "x2"), [("+", b"OK")] * 2)
    env.assertEqual(get_array(con, "o1").shape, (1, 4))
    env.assertEqual(get_array(con, "o2").shape, (2, 4))
    # Alone (nothing to batch with, or already BATCHSIZE rows) nothing is checked.
    set_array(con, "x5", client_rows(5, 5))
    for key, x, want in (
        ("sum", "x2", x2.sum(0, keepdims=True)),
        ("sum", "x5", client_rows(5, 5).sum(0, keepdims=True)),
        ("three", "x2", np.zeros((3, 4), np.float32)),
        ("scalar", "x2", np.array(x2.sum(), np.float32)),
    ):
        env.assertEqual(execute(con, key, [x], ["alone"]), b"OK", message=(key, x))
        np.testing.assert_allclose(get_array(con, "alone"), want, rtol=1e-5)
    # A backend error in a batch fails each of its requests, counted for each.
    store(con, "p", "TORCH", PROBE_BLOB, "BATCHSIZE", 4)
    set_array(con, "wide", np.ones((1, 5), np.float32))
    with hold:
        raws = [
            hold.queue("AI.MODELEXECUTE", "p", "INPUTS", 1, "wide", "OUTPUTS", 2, "y", "b")
            for _ in range(2)
        ]
        hold.check_still_running()
    replies = [read(raw) for raw in raws]
    env.assertEqual([kind for kind, _ in replies], ["-", "-"])
    env.assertContains(b"mat1 and mat2 shapes cannot be multiplied", replies[0][1])
    env.assertEqual(replies[0], replies[1])
    env.assertEqual(counters(con, "p")[1:], (0, 2, 2))


def test_minbatchsize_waits_for_a_mate(env):
    """MINBATCHSIZE 2 without MINBATCHTIMEOUT: a lone one-row request stays queued (still
    blocked after 200 ms) until a second one arrives; then both run as one batch."""
    if env.useSlaves or env.useAof:
        env.skip()  # the queue and its worker are the same in every env
    con = connect(env)
    store(con, "p", "TORCH", PROBE_BLOB, "BATCHSIZE", 4, "MINBATCHSIZE", 2)
    xs = [client_rows(i, 1) for i in range(2)]
    for i, x in enumerate(xs):
        set_array(con, f"x{i}", x)
    first = send(con, *run_probe("p", 0, "y"))
    wait_until(lambda: blocked_clients(con) == 1)
    env.assertFalse(replied(first, timeout_s=0.2))
    env.assertEqual(blocked_clients(con), 1)
    env.assertEqual(queue_depth(con), 1)
    second = send(con, *run_probe("p", 1, "y"))
    env.assertEqual([read(first), read(second)], [("+", b"OK")] * 2)
    env.assertEqual(check_own_rows(con, xs), [(2, 0), (2, 0)])
    env.assertEqual(counters(con, "p")[1:], (2, 2, 0))
    # A request with MINBATCHSIZE rows of its own does not wait.
    set_array(con, "x2", client_rows(2, 2))
    start = time.monotonic()
    env.assertEqual(execute(con, "p", ["x2"], ["y2", "b2"]), b"OK")
    env.assertLess(time.monotonic() - start, 5)


def test_minbatchtimeout_runs_a_lone_request(env):
    """MINBATCHSIZE 2, MINBATCHTIMEOUT 100: a lone request runs by itself once it waited
    100 ms."""
    if env.useSlaves or env.useAof:
        env.skip()  # the queue and its worker are the same in every env
    con = connect(env)
    store(con, "p", "TORCH", PROBE_BLOB, "BATCHSIZE", 4, "MINBATCHSIZE", 2, "MINBATCHTIMEOUT", 100)
    x = client_rows(0, 1)
    set_array(con, "x0", x)
    execute(con, "p", ["x0"], ["y0", "b0"])  # the first run of a model is slower
    start = time.monotonic()
    env.assertEqual(execute(con, "p", ["x0"], ["y0", "b0"]), b"OK")
    took = time.monotonic() - start
    env.assertGreaterEqual(took, 0.1)
    env.assertLess(took, 2)
    env.assertEqual(check_own_rows(con, [x]), [(1, 0)])


def test_incompatible_requests_are_not_merged(env):
    """Only requests whose inputs agree on every dim but the 0-th (and, in cyrai, on the
    dtype) join a batch; inputs that disagree on dim 0 never batch. All of them succeed
    with their own results."""
    if env.useSlaves or env.useAof:
        env.skip()  # the queue and its worker are the same in every env
    con = connect(env)
    hold = Hold(con)
    store(con, "add", "TORCH", ADD_PROBE_BLOB, "BATCHSIZE", 8)
    rng = np.random.default_rng(5)
    cases = {  # name: (a, b, rows of the batch it must run in)
        "first": ((1, 3), (1, 3), 4),
        "wider": ((1, 5), (1, 5), 1),
        "two": ((2, 3), (2, 3), 4),
        "3d": ((1, 3, 1), (1, 3, 1), 1),
        "double": ((1, 3), (1, 3), 1),
        "broadcast": ((2, 3), (1, 3), 2),  # dim 0 differs between inputs: not batchable
        "last": ((1, 3), (1, 3), 4),
    }
    arrays = {}
    for name, (sa, sb, _) in cases.items():
        dtype = np.float64 if name == "double" else np.float32
        arrays[name] = (
            rng.standard_normal(sa).astype(dtype),
            rng.standard_normal(sb).astype(dtype),
        )
        set_array(con, f"a:{name}", arrays[name][0])
        set_array(con, f"b:{name}", arrays[name][1])
    with hold:
        raws = [
            hold.queue(
                "AI.MODELEXECUTE",
                "add",
                "INPUTS",
                2,
                f"a:{n}",
                f"b:{n}",
                "OUTPUTS",
                2,
                f"c:{n}",
                f"n:{n}",
            )
            for n in cases
        ]
        hold.check_still_running()
    env.assertEqual([read(raw) for raw in raws], [("+", b"OK")] * len(cases))
    for name, (_, _, batch_rows) in cases.items():
        a, b = arrays[name]
        got = get_array(con, f"c:{name}")
        env.assertEqual(got.dtype, a.dtype, message=name)
        np.testing.assert_array_equal(got, a + b, err_msg=name)
        env.assertEqual(set(get_array(con, f"n:{name}").tolist()), {batch_rows}, message=name)


def test_timeout_while_waiting_for_mates(env):
    """A request waiting for MINBATCHSIZE replies TIMEDOUT once its TIMEOUT passed, writes
    nothing and counts nothing; a timed-out request gathered into a batch is dropped
    from it and the others run."""
    if env.useSlaves or env.useAof:
        env.skip()  # the queue and its worker are the same in every env
    con = connect(env)
    store(con, "p", "TORCH", PROBE_BLOB, "BATCHSIZE", 4, "MINBATCHSIZE", 2)
    xs = [client_rows(i, 1) for i in range(3)]
    for i, x in enumerate(xs):
        set_array(con, f"x{i}", x)
    start = time.monotonic()
    with RawConnection(con) as raw:
        env.assertEqual(raw.call(*run_probe("p", 0, "y"), "TIMEOUT", 100), ("+", b"TIMEDOUT"))
    env.assertGreaterEqual(time.monotonic() - start, 0.1)
    env.assertEqual(con.exists("y0", "b0"), 0)
    env.assertEqual(counters(con, "p"), (0, 0, 0, 0))
    env.assertEqual(queue_depth(con), 0)
    # Behind a slow run: the first request expires while queued, the next two still
    # reach MINBATCHSIZE together.
    hold = Hold(con)
    store(con, "p", "TORCH", PROBE_BLOB, "BATCHSIZE", 4, "MINBATCHSIZE", 2)
    with hold:
        raws = [
            hold.queue(*run_probe("p", 0, "y"), "TIMEOUT", 1),
            hold.queue(*run_probe("p", 1, "y")),
            hold.queue(*run_probe("p", 2, "y")),
        ]
        hold.check_still_running()
    env.assertEqual([read(raw) for raw in raws], [("+", b"TIMEDOUT"), ("+", b"OK"), ("+", b"OK")])
    env.assertEqual(con.exists("y0", "b0"), 0)
    np.testing.assert_allclose(get_array(con, "y1"), probe_run(xs[1])[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(get_array(con, "y2"), probe_run(xs[2])[0], rtol=1e-5, atol=1e-6)
    env.assertEqual(get_array(con, "b1")[0].tolist(), [2, 2])
    env.assertEqual(get_array(con, "b2")[0].tolist(), [2, 2])
    env.assertEqual(counters(con, "p")[1:], (2, 2, 0))
