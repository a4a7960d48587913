"""The asynchronous DAG benchmark (bench.py runs it with the others): one client submits
N_DAGS AI.DAGEXECUTE_ASYNC (TENSORSET |> MODELEXECUTE |> TENSORGET on the tiny TORCH add),
WINDOW commands written at a time, and then waits until it has heard `ai.dagdone` for
every id; against the same DAGs sent as AI.DAGEXECUTE by one client:

- one at a time, as a client of a blocking command does (and as the closed-loop load of
  the other cases): the target, >= 3x;
- WINDOW at a time too (pipelined; a blocked client's commands still run one after the
  other): no target, to show what is left of the gain when the synchronous client
  pipelines.

A fixed amount of work, so these cases have their own runner; rps is DAGs/s, the latency
that of the whole batch of N_DAGS."""

import array
import re
import socket
import time

import bench_zoo as zoo
from bench_case import Case, Outcome, Target, Workload
from bench_load import OK, Result, bulk, encode

N_DAGS = 10_000
WINDOW = 100  # commands written before their replies are read
ROUNDS = 3
TARGET = Target("ratio", 3.0)  # asynchronous DAGs/s over synchronous DAGs/s
MESSAGE = re.compile(rb"\*3\r\n\$7\r\nmessage\r\n\$\d+\r\n[^\r]*\r\n\$\d+\r\n([0-9-]+)\r\n")
ID_REPLY = re.compile(rb"\$\d+\r\n([0-9-]+)\r\n")


def _dag(command):
    a = zoo.TINY
    return encode(
        command,
        "ROUTING",
        "bench:r",
        "|>",
        "AI.TENSORSET",
        "a",
        "FLOAT",
        *a.shape,
        "BLOB",
        a.tobytes(),
        "|>",
        "AI.MODELEXECUTE",
        "bench:m",
        "INPUTS",
        2,
        "a",
        "a",
        "OUTPUTS",
        1,
        "c",
        "|>",
        "AI.TENSORGET",
        "c",
        "BLOB",
    )


class _Socket:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def read_until(self, enough):
        """Reads until enough(buffer) gives a count of bytes to consume; returns them."""
        while True:
            n = enough(self.buf)
            if n:
                out, self.buf = self.buf[:n], self.buf[n:]
                return out
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise RuntimeError("the server closed the connection")
            self.buf += chunk

    def close(self):
        self.sock.close()


def _run_sync(port, window):
    want = b"*3\r\n" + OK + OK + bulk((zoo.TINY + zoo.TINY).tobytes())
    s = _Socket(port)
    dag = _dag("AI.DAGEXECUTE")
    start = time.perf_counter()
    for sent in range(0, N_DAGS, window):
        n = min(window, N_DAGS - sent)
        s.sock.sendall(dag * n)
        size = len(want) * n
        got = s.read_until(lambda buf, size=size: size if len(buf) >= size else 0)
        if got != want * n:
            raise RuntimeError(f"AI.DAGEXECUTE replied {got[:80]!r}...")
    seconds = time.perf_counter() - start
    s.close()
    return seconds


def _count_ids(pattern, n):
    """enough() for read_until: the bytes of the first n matches of pattern, once there.
    It scans only what arrived since its last call (the buffer grows by small reads)."""
    state = {"pos": 0, "count": 0}

    def enough(buf):
        for m in pattern.finditer(buf, state["pos"]):
            state["pos"], state["count"] = m.end(), state["count"] + 1
            if state["count"] == n:
                return m.end()
        return 0

    return enough


def _run_async(port):
    listener = _Socket(port)
    listener.sock.sendall(encode("SUBSCRIBE", "__keyevent@0__:ai.dagdone"))
    listener.read_until(lambda buf: len(buf) if buf.endswith(b":1\r\n") else 0)
    s = _Socket(port)
    dag = _dag("AI.DAGEXECUTE_ASYNC")
    ids = []
    start = time.perf_counter()
    for sent in range(0, N_DAGS, WINDOW):
        n = min(WINDOW, N_DAGS - sent)
        s.sock.sendall(dag * n)
        ids += ID_REPLY.findall(s.read_until(_count_ids(ID_REPLY, n)))
    heard = MESSAGE.findall(listener.read_until(_count_ids(MESSAGE, N_DAGS)))
    seconds = time.perf_counter() - start
    s.close()
    listener.close()
    if sorted(heard) != sorted(ids):
        raise RuntimeError(f"{len(ids)} ids, {len(heard)} ai.dagdone events for them")
    return seconds, ids[-1]


def _check_last(r, dag_id):
    info = r.execute_command("AI.DAGINFO", dag_id, "DEL")
    reply = info[7]
    if info[1] != b"DONE" or reply[2] != (zoo.TINY + zoo.TINY).tobytes():
        raise RuntimeError(f"AI.DAGINFO {dag_id!r}: {info!r}")


def run_async_case(server, case, rounds, sync_window):
    """Alternates the synchronous and the asynchronous batch `rounds` times."""
    out = Outcome(case)
    with server.client() as r:
        r.flushall()
        r.execute_command(*zoo.TORCH_ADD.store_command("bench:m"))
        r.config_set("notify-keyspace-events", "Ed")
        r.execute_command("AI.CONFIG", "DAG_RESULT_TTL", 1000)
    for _ in range(rounds):
        for rounds_of, run in ((out.baseline_rounds, _run_sync), (out.subject_rounds, None)):
            cpu0 = server.cpu_seconds()
            if run is None:
                seconds, last = _run_async(server.port)
                with server.client() as r:
                    _check_last(r, last)
            else:
                seconds = run(server.port, sync_window)
            cpu = server.cpu_seconds() - cpu0
            rounds_of.append(Result(N_DAGS, seconds, cpu, array.array("d", [seconds])))
    with server.client() as r:
        r.config_set("notify-keyspace-events", "")
        r.execute_command("AI.CONFIG", "DAG_RESULT_TTL", 60000)
        r.flushall()
    return out


def _unused(i):
    raise AssertionError("the asynchronous DAG case has its own runner")


def async_dag_cases():
    cases = []
    for sync_window, label, targets in ((1, "1 by 1", (TARGET,)), (WINDOW, "pipelined", ())):
        cases.append(
            Case(
                f"DAGEXECUTE_ASYNC vs sync {label}",
                1,
                Workload("AI.DAGEXECUTE_ASYNC", _unused, _unused),
                Workload("AI.DAGEXECUTE", _unused, _unused),
                targets,
                rounds=ROUNDS,
                runner=lambda server, case, rounds, w=sync_window: run_async_case(
                    server, case, rounds or case.rounds, w
                ),
            )
        )
    return cases
