"""The benchmark report: an HTML page with charts of the numbers bench.py prints, written
beside the table (build/bench/ unless --report says otherwise): report.html, a PNG per
chart, and report.json with every number a chart shows.

The page holds the table itself, as printed (bench.row), and the charts label each bar or
point with the table's own formatting (requests/s to the unit, milliseconds to the
microsecond), so that page and table agree by construction; tests/deploy checks it. A
section appears when the run had its cases (`--only` may leave some out):

- tensors against plain Redis: AI.TENSORSET against SET, AI.TENSORGET against GET;
- one model through cyrai, served by FastAPI under uvicorn, and called in process;
- every model at 1 client through cyrai against the same model called in process;
- latency against concurrency, 1 to 64 clients;
- auto-batching on and off.
"""

import datetime
import html
import json
import os
import platform

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from bench_sweep import SWEEP_NAME  # noqa: E402
from bench_web import WEB_NAME  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_FOLDER = os.path.join(ROOT, "build", "bench")
COLORS = ("#c0392b", "#7f8c8d", "#2980b9", "#27ae60")


def fmt_rps(value):
    return f"{value:,.0f}"


def fmt_ms(value):
    return f"{value:.3f}" if value is not None else "-"


def numbers(o):
    """What the report shows of an Outcome, in the table's units."""
    n = {
        "case": o.case.name,
        "clients": o.case.clients,
        "label": o.case.subject.label,
        "rps": o.subject.rps,
        "p50_ms": o.subject.p50_ms,
        "p99_ms": o.subject.p99_ms,
    }
    if o.case.baseline and o.baseline_rounds:
        n["base_label"] = o.case.baseline.label
        n["base_rps"] = o.baseline.rps
        n["base_p50_ms"] = o.baseline.p50_ms
        n["base_p99_ms"] = o.baseline.p99_ms
    if o.inprocess_cps:
        n["inprocess_cps"] = o.inprocess_cps
    return n


# --- charts ------------------------------------------------------------------------------


def _bars(ax, groups, series, fmt, ylabel):
    """Grouped bars, each labelled with its value as the table prints it; None: no bar."""
    width = 0.8 / len(series)
    for i, (label, values) in enumerate(series):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        kept = [(x, v) for x, v in zip(xs, values) if v is not None]
        if not kept:
            continue
        bars = ax.bar([x for x, _ in kept], [v for _, v in kept], width, label=label)
        for bar in bars:
            bar.set_color(COLORS[i % len(COLORS)])
        ax.bar_label(bars, [fmt(v) for _, v in kept], fontsize=7, rotation=90, padding=2)
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    ax.set_ylabel(ylabel)
    ax.margins(y=0.25)
    ax.legend(fontsize=8)


def _save(fig, folder, name):
    fig.tight_layout()
    fig.savefig(os.path.join(folder, name), dpi=110)
    plt.close(fig)
    return name


def _vs_baseline(rows, folder, name, title, labels=None):
    """Requests/s and p50/p99 of cases that have a baseline, side by side; labels: the
    legend's (subject, baseline), by default the first case's workloads."""
    groups = [f"{_short(r['case'])}\n{r['clients']} clients" for r in rows]
    fig, (left, right) = plt.subplots(2, 1, figsize=(13, 9))
    subject, base = labels or (rows[0]["label"], rows[0]["base_label"])
    _bars(
        left,
        groups,
        [(subject, [r["rps"] for r in rows]), (base, [r["base_rps"] for r in rows])],
        fmt_rps,
        "requests/s",
    )
    _bars(
        right,
        groups,
        [
            (f"{subject} p50", [r["p50_ms"] for r in rows]),
            (f"{base} p50", [r["base_p50_ms"] for r in rows]),
            (f"{subject} p99", [r["p99_ms"] for r in rows]),
            (f"{base} p99", [r["base_p99_ms"] for r in rows]),
        ],
        fmt_ms,
        "latency, ms",
    )
    fig.suptitle(title)
    return _save(fig, folder, name)


def _short(name):
    """A case's name for an axis: "AI.TENSORSET vs SET 4 KB" -> "TENSORSET 4 KB"."""
    subject, _, rest = name.partition(" vs ")
    size = " ".join(w for w in rest.split() if w[0].isdigit() or w in ("KB", "MB"))
    return f"{subject.removeprefix('AI.')} {size}".strip()


def _web(rows, folder):
    groups = [f"{r['clients']} clients" for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    _bars(
        left,
        groups,
        [
            ("cyrai (AI.DAGEXECUTE)", [r["rps"] for r in rows]),
            (rows[0]["base_label"], [r["base_rps"] for r in rows]),
            ("in process, 1 thread (calls/s)", [r.get("inprocess_cps") for r in rows]),
        ],
        fmt_rps,
        "requests/s",
    )
    _bars(
        right,
        groups,
        [
            ("cyrai p50", [r["p50_ms"] for r in rows]),
            ("web p50", [r["base_p50_ms"] for r in rows]),
            ("cyrai p99", [r["p99_ms"] for r in rows]),
            ("web p99", [r["base_p99_ms"] for r in rows]),
        ],
        fmt_ms,
        "latency, ms",
    )
    fig.suptitle(f"{rows[0]['case']}: input in, output back")
    return _save(fig, folder, "web.png")


def _in_process(rows, folder):
    groups = [r["case"].replace("AI.MODELEXECUTE ", "").replace("AI.", "") for r in rows]
    fig, ax = plt.subplots(figsize=(12, 4.8))
    _bars(
        ax,
        groups,
        [
            ("through cyrai, 1 client (requests/s)", [r["rps"] for r in rows]),
            ("in process, 1 thread (calls/s)", [r["inprocess_cps"] for r in rows]),
        ],
        fmt_rps,
        "per second",
    )
    ax.set_title("Each model at 1 client through cyrai and called in process")
    return _save(fig, folder, "in_process.png")


def _sweep(rows, folder):
    clients = [r["clients"] for r in rows]
    fig, ax = plt.subplots(figsize=(10, 4.8))
    for i, key in enumerate(("p50_ms", "p99_ms")):
        values = [r[key] for r in rows]
        ax.plot(clients, values, "o-", color=COLORS[i], label=key.replace("_ms", ""))
        for x, v in zip(clients, values):
            if v is not None:
                ax.annotate(
                    fmt_ms(v), (x, v), fontsize=7, textcoords="offset points", xytext=(0, 6)
                )
    ax.set_xscale("log", base=2)
    ax.set_xticks(clients, [str(c) for c in clients])
    ax.set_xlabel("clients (one request in flight each)")
    ax.set_ylabel("latency, ms")
    rps = ax.twinx()
    rps.plot(clients, [r["rps"] for r in rows], "s--", color=COLORS[2], label="requests/s")
    for x, r in zip(clients, rows):
        rps.annotate(fmt_rps(r["rps"]), (x, r["rps"]), fontsize=7, color=COLORS[2],
                     textcoords="offset points", xytext=(0, -12))  # fmt: skip
    rps.set_ylabel("requests/s")
    lines = ax.get_legend_handles_labels()
    more = rps.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
    ax.set_title(f"{rows[0]['case']}: latency against concurrency")
    return _save(fig, folder, "sweep.png")


# --- the page ----------------------------------------------------------------------------

SECTIONS = (
    (
        "tensors",
        "Tensors against plain Redis",
        "Tensors moved as AI.TENSORSET / AI.TENSORGET against the same bytes as SET / GET, "
        "each client on its own connection with one request in flight.",
    ),
    (
        "web",
        "One model: through cyrai, behind a web framework, in process",
        "The same TorchScript MLP: through cyrai as one AI.DAGEXECUTE (the input in, the "
        "output back), served by FastAPI under uvicorn on the same machine in the same run, "
        "and called in the benchmark process on one thread.",
    ),
    (
        "in_process",
        "Each model through cyrai against the framework in process",
        "AI.MODELEXECUTE (AI.SCRIPTEXECUTE) at 1 client against the model called in process.",
    ),
    ("sweep", "Latency against concurrency", "The TorchScript MLP at 1 to 64 clients."),
    (
        "batching",
        "Auto-batching",
        "The same MLP stored with BATCHSIZE 16 and without, under concurrent clients.",
    ),
)


def charts(rows, folder):
    """{section: PNG file name} for the sections the rows have cases of."""

    def named(*prefixes):
        return [r for r in rows if r["case"].startswith(prefixes) and "base_rps" in r]

    out = {}
    tensors = named("AI.TENSORSET vs SET", "AI.TENSORGET vs GET")
    if tensors:
        labels = ("AI.TENSORSET / AI.TENSORGET", "SET / GET")
        out["tensors"] = _vs_baseline(
            tensors, folder, "tensors.png", "Tensors against plain Redis", labels
        )
    web = named(WEB_NAME)
    if web:
        out["web"] = _web(web, folder)
    models = [
        r
        for r in rows
        if r["case"].startswith(("AI.MODELEXECUTE", "AI.SCRIPTEXECUTE")) and "inprocess_cps" in r
    ]
    if models:
        out["in_process"] = _in_process(models, folder)
    sweep = sorted((r for r in rows if r["case"] == SWEEP_NAME), key=lambda r: r["clients"])
    if sweep:
        out["sweep"] = _sweep(sweep, folder)
    batching = named("BATCHSIZE")
    if batching:
        out["batching"] = _vs_baseline(batching, folder, "batching.png", "Auto-batching")
    return out


def _page(images, table):
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>cyrai benchmarks</title>',
        "<style>body{font-family:sans-serif;max-width:1300px;margin:2em auto;padding:0 1em}"
        "img{max-width:100%;border:1px solid #ddd}pre{font-size:12px;overflow-x:auto;"
        "background:#f7f7f7;padding:1em}</style></head><body>",
        "<h1>cyrai benchmarks</h1>",
        f"<p>{html.escape(_machine())}</p>",
    ]
    for key, title, text in SECTIONS:
        if key in images:
            parts += [
                f'<h2 id="{key}">{html.escape(title)}</h2>',
                f"<p>{html.escape(text)}</p>",
                f'<img src="{images[key]}" alt="{html.escape(title)}">',
            ]
    parts += [
        '<h2 id="table">The table</h2>',
        "<p>As <code>make bench</code> printed it; the charts show these numbers.</p>",
        f'<pre id="bench-table">{html.escape(table)}</pre>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _machine():
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        f"Measured {when} on {platform.node()}: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}, load average at the end {load}."
    )


def write(folder, outcomes, header, row):
    """Writes the report of outcomes (bench.py's table: header, then row(o) each) into
    folder; returns the path of report.html."""
    os.makedirs(folder, exist_ok=True)
    for old in os.listdir(folder):
        if old.endswith((".png", ".html", ".json")):
            os.remove(os.path.join(folder, old))
    rows = [numbers(o) for o in outcomes]
    images = charts(rows, folder)
    table = "\n".join([header, "-" * len(header), *(row(o) for o in outcomes)])
    with open(os.path.join(folder, "report.json"), "w") as f:
        json.dump({"rows": rows, "charts": images}, f, indent=1)
    path = os.path.join(folder, "report.html")
    with open(path, "w") as f:
        f.write(_page(images, table))
    return path
