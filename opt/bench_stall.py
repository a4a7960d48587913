"""Does storing or dropping a big model stall Redis? A pinging client measures the worst
PING round trip while a 200 MB TorchScript model is stored onto a new key, stored over an
existing one, deleted, and replaced while another 200 MB model loads; INFO and AI.CONFIG
GET are timed while a load holds the loader thread; then the same stores are sent to a
master and the pinger times its replica. Baseline rows time a plain SET of the same bytes:
Redis's own cost of reading (and, on a replica, of keeping a backlog of) 200 MB. Target:
every worst PING < 2 ms.

    .venv/bin/python opt/bench_stall.py [--mb 200] [--repeat 2] [--module build/cyrai.so] [--aof]

The pinger is a process of its own (the bench process's GIL would otherwise time itself):
it sends PING in a tight loop over one connection and records when each was sent and how
long its reply took, on the system-wide monotonic clock. A scenario's worst PING is the
longest round trip of the PINGs sent inside its window: from the first byte of its first
command out to its last reply in.
"""

import argparse
import array
import io
import os
import socket
import subprocess
import sys
import time

from redis_launcher import RedisServer, resp_call

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODULE = os.path.join(ROOT, "build", "cyrai.so")
TARGET_MS = 2.0
IDLE_S = 1.0
# A pause between PINGs: a PING every ~0.3 ms still catches any stall over 1 ms, and
# leaves the two cores of a small machine to the server instead of a client spinning.
PING_GAP_S = 0.0002
# A window stays open this long after its last reply: frees run after the reply.
AFTER_NS = 50_000_000
# Rows that show what plain Redis does with the same bytes: not judged.
BASELINE = "baseline:"


# --- a minimal RESP client: one command in flight, sent and read separately --------------


class Conn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def send(self, *args):
        head = [b"*%d\r\n" % len(args)]
        for arg in args:
            a = arg if isinstance(arg, bytes | memoryview) else str(arg).encode()
            head.append(b"$%d\r\n" % len(a))
            if len(a) > 65536:  # a big argument goes out as is, not copied into a buffer
                self.sock.sendall(b"".join(head))
                self.sock.sendall(a)
                head = [b"\r\n"]
            else:
                head += [a, b"\r\n"]
        self.sock.sendall(b"".join(head))

    def reply(self):
        line = self.file.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self.file.read(n + 2)[:-2]
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        return int(rest) if kind == b":" else rest

    def call(self, *args):
        self.send(*args)
        return self.reply()

    def close(self):
        self.file.close()
        self.sock.close()


# --- the pinger --------------------------------------------------------------------------


def pinger_main(port, out_path):
    """Pings until stdin closes, then writes what it saw to out_path: three int64 arrays,
    when each probe was sent (monotonic ns), its round trip (ns), and how long it waited
    before the server ran it (ns, the server's clock minus the send time: the client's own
    scheduling after the reply is not in it). The probe is TIME: a PING that also says
    when the server ran it."""
    import threading

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sent, took, waited = array.array("q"), array.array("q"), array.array("q")
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while not stop.is_set():
        wall, t0 = time.time_ns(), time.monotonic_ns()
        sock.sendall(b"TIME\r\n")
        got = b""
        while got.count(b"\r\n") < 5:  # *2, $n, seconds, $n, microseconds
            got += sock.recv(128)
        t1 = time.monotonic_ns()
        lines = got.split(b"\r\n")
        sent.append(t0)
        took.append(t1 - t0)
        waited.append(int(lines[2]) * 1_000_000_000 + int(lines[4]) * 1000 - wall)
        time.sleep(PING_GAP_S)
    with open(out_path, "wb") as f:
        for a in (sent, took, waited):
            a.tofile(f)


class Pinger:
    def __init__(self, port, out_path):
        self.out_path = out_path
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--pinger", str(port), out_path],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.proc.stdout.readline()

    def stop(self):
        """The (sent_ns, round_trip_ns, waited_ns) arrays."""
        self.proc.stdin.close()
        self.proc.wait(30)
        n = os.path.getsize(self.out_path) // 24
        arrays = array.array("q"), array.array("q"), array.array("q")
        with open(self.out_path, "rb") as f:
            for a in arrays:
                a.fromfile(f, n)
        return arrays


def worst(pings, window):
    """The worst round trip and the worst wait in the server (ms) of the probes sent
    inside window, and how many were sent."""
    sent, took, waited = pings
    t0, t1 = window[0], window[1] + AFTER_NS
    inside = [i for i in range(len(sent)) if t0 <= sent[i] <= t1]
    if not inside:
        return float("nan"), float("nan"), 0
    return max(took[i] for i in inside) / 1e6, max(waited[i] for i in inside) / 1e6, len(inside)


def main_thread_cpu_ms(pid):
    """CPU time the server's main thread has used so far."""
    with open(f"/proc/{pid}/task/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


# --- the model and the scenarios ---------------------------------------------------------


def big_model(mb):
    """A TorchScript Linear whose weights take about mb megabytes."""
    import torch

    n = int((mb * 1e6 / 4) ** 0.5)
    torch.manual_seed(0)
    lin = torch.jit.script(torch.nn.Linear(n, n, bias=False))
    buf = io.BytesIO()
    torch.jit.save(lin, buf)
    return buf.getvalue()


def store_argv(key, blob):
    return ("AI.MODELSTORE", key, "TORCH", "CPU", "BLOB", memoryview(blob))


def timed(conn, *argv):
    t0 = time.monotonic_ns()
    conn.call(*argv)
    return (t0, time.monotonic_ns())


def wait_blocked(conn, name):
    """Until a client whose name is `name` is blocked (its store queued or loading)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in conn.call("CLIENT", "LIST").decode().splitlines():
            fields = dict(f.split("=", 1) for f in line.split(" ") if "=" in f)
            if fields.get("name") == name and "b" in fields.get("flags", ""):
                return
        time.sleep(0.005)
    raise RuntimeError(f"{name} never blocked")


def while_loading(port, ctl, blob, key, act):
    """Starts a store of blob under key on a second connection, runs act() once the load
    is under way, then waits for the store. Returns the window (spanning both), act's
    text, and act's own window."""
    loader = Conn(port)
    loader.call("CLIENT", "SETNAME", "bench-stall-loader")
    t0 = time.monotonic_ns()
    loader.send(*store_argv(key, blob))
    wait_blocked(ctl, "bench-stall-loader")
    time.sleep(0.15)  # past the copy of the argument, into torch.jit.load
    t_act = time.monotonic_ns()
    extra = act()
    own = (t_act, time.monotonic_ns())
    loader.reply()
    loader.close()
    return (t0, time.monotonic_ns()), extra, own


def scenarios(port, pid, blob):
    """(name, window, window of the commands sent during a load or None, main thread CPU
    ms, extra text) for each scenario, in order."""
    ctl = Conn(port)
    out = []

    def scenario(name, act, prepare=None):
        if prepare:
            prepare()
        cpu = main_thread_cpu_ms(pid)
        window, extra, own = act()
        time.sleep(AFTER_NS / 1e9)  # the window's tail: nothing else runs in it
        out.append((name, window, own, main_thread_cpu_ms(pid) - cpu, extra))

    def idle():
        t0 = time.monotonic_ns()
        time.sleep(IDLE_S)
        return (t0, time.monotonic_ns()), "", None

    def store(key):
        return lambda: (timed(ctl, *store_argv(key, blob)), "", None)

    def delete(key):
        return lambda: (timed(ctl, "DEL", key), "", None)

    def during_load(act):
        return lambda: while_loading(port, ctl, blob, "stall:b", act)

    def stored():
        ctl.call(*store_argv("stall:a", blob))

    def replace():
        return f"store {_ms(timed(ctl, *store_argv('stall:a', blob)))}"

    def queries():
        info = timed(ctl, "INFO", "everything")
        config = timed(ctl, "AI.CONFIG", "GET", "MODEL_CHUNK_SIZE")
        modeldel = timed(ctl, "AI.MODELDEL", "stall:a")
        return f"INFO {_ms(info)}, AI.CONFIG GET {_ms(config)}, AI.MODELDEL {_ms(modeldel)}"

    scenario("idle (no command)", idle)
    scenario(BASELINE + " SET of the same bytes", plain_set(ctl, "stall:s", blob))
    ctl.call("UNLINK", "stall:s")
    scenario("MODELSTORE onto a new key", store("stall:a"))
    scenario("MODELSTORE over a stored model", store("stall:a"))
    scenario("DEL of a model", delete("stall:a"))
    scenario(
        "DEL while another model loads",
        during_load(lambda: f"DEL {_ms(timed(ctl, 'DEL', 'stall:a'))}"),
        stored,
    )
    scenario("MODELSTORE over one while another loads", during_load(replace), stored)
    scenario("INFO, AI.CONFIG, AI.MODELDEL during a load", during_load(queries), stored)
    ctl.call("FLUSHALL")
    ctl.close()
    return out


def plain_set(ctl, key, blob):
    """Redis's own share: reading a 200 MB argument off the socket (and, on a replica,
    copying it into the replication backlog) stalls any command that writes that much."""
    return lambda: (timed(ctl, "SET", key, memoryview(blob)), "", None)


def replica_scenarios(master_port, replica_pid, blob):
    """The same tuples as scenarios(), for a replica that the master's stores reach:
    each window runs from the store sent to the master until the replica acknowledged
    it (WAIT). A replica stores a model at once and builds it on its loader thread."""
    ctl = Conn(master_port)
    out = []

    def scenario(name, argv):
        cpu = main_thread_cpu_ms(replica_pid)
        t0 = time.monotonic_ns()
        ctl.call(*argv)
        ctl.call("WAIT", 1, 0)
        window = (t0, time.monotonic_ns())
        time.sleep(AFTER_NS / 1e9)
        out.append((name, window, None, main_thread_cpu_ms(replica_pid) - cpu, ""))

    scenario(BASELINE + " SET of the same bytes (replica)", ("SET", "stall:s", memoryview(blob)))
    ctl.call("UNLINK", "stall:s")
    scenario("MODELSTORE onto a new key (replica)", store_argv("stall:a", blob))
    scenario("MODELSTORE over a stored model (replica)", store_argv("stall:a", blob))
    ctl.call("FLUSHALL")
    ctl.call("WAIT", 1, 0)
    ctl.close()
    return out


def wait_link(port):
    conn = Conn(port)
    deadline = time.monotonic() + 60
    while b"master_link_status:up" not in conn.call("INFO", "replication"):
        if time.monotonic() > deadline:
            raise RuntimeError("the replica never synced")
        time.sleep(0.05)
    conn.close()


def _ms(window):
    return f"{(window[1] - window[0]) / 1e6:.1f} ms"


def run(module=MODULE, mb=200, repeat=2, module_args=(), aof=False):
    """Prints the worst PING per scenario; returns True when every one met the target."""
    blob = big_model(mb)
    print(
        f"stall: worst PING while a {len(blob) / 1e6:.0f} MB TorchScript model is stored, "
        f"replaced or deleted (target < {TARGET_MS:g} ms; {repeat} runs each). PING: worst "
        "round trip, ms; in server: worst wait before the server ran one, ms; cpu: the "
        "server's main thread, ms. The idle row is the machine's own noise; baseline rows "
        "are plain Redis writing the same bytes (not judged)."
    )
    results = {}  # name -> [(rtt, wait, probes, cpu, extra, wait during the commands)]

    def collect(ping_port, ping_dir, act):
        pinger = Pinger(ping_port, os.path.join(ping_dir, "pings"))
        try:
            runs = act()
        finally:
            pings = pinger.stop()
        for name, window, own, cpu, extra in runs:
            own_wait = worst(pings, own)[1] if own else None
            results[name] = results.get(name, []) + [(*worst(pings, window), cpu, extra, own_wait)]

    with RedisServer(module, module_args=module_args) as server:
        if aof:  # Redis then copies each stored command into its AOF buffer and writes it
            resp_call(server.host, server.port, "CONFIG", "SET", "appendonly", "yes")
        for _ in range(repeat):
            collect(server.port, server.dir, lambda: scenarios(server.port, server.proc.pid, blob))
        replica_args = ["--replicaof", server.host, str(server.port)]
        with RedisServer(module, module_args=module_args, extra_args=replica_args) as replica:
            resp_call(server.host, server.port, "CONFIG", "SET", "repl-diskless-sync-delay", "0")
            wait_link(replica.port)
            for _ in range(repeat):
                collect(
                    replica.port,
                    replica.dir,
                    lambda: replica_scenarios(server.port, replica.proc.pid, blob),
                )
    ok = True
    for name, runs in results.items():
        met = name.startswith(("idle", BASELINE)) or all(r[0] < TARGET_MS for r in runs)
        ok &= met
        rtt = ", ".join(f"{r[0]:.2f}" for r in runs)
        wait = ", ".join(f"{r[1]:.2f}" for r in runs)
        cpu = ", ".join(f"{r[3]:.0f}" for r in runs)
        extra = "; ".join(r[4] for r in runs if r[4])
        own = [r[5] for r in runs if r[5] is not None]
        if own:  # the commands sent during the load, apart from the load's own upload
            extra += "; in server during them: " + ", ".join(f"{w:.2f}" for w in own) + " ms"
        print(
            f"  {name:<44} PING {rtt:<12} in server {wait:<12} cpu {cpu:<8} "
            f"{'ok' if met else 'MISS'}" + (f"  [{extra}]" if extra else "")
        )
    return ok


def main(argv=None):
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--pinger":
        return pinger_main(int(sys.argv[2]), sys.argv[3])
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--module", default=MODULE)
    p.add_argument("--module-args", default="")
    p.add_argument("--mb", type=float, default=200)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--aof", action="store_true", help="with appendonly yes")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = p.parse_args(argv)
    ok = run(args.module, args.mb, args.repeat, args.module_args.split(), args.aof)
    if not ok and args.strict:
        sys.exit(1)


if __name__ == "__main__":
    main()
