"""The benchmark report, from a tiny run of opt/bench.py (a few cases of each section, a
fraction of a second each): the page holds the table exactly as printed, every image it
shows is a PNG that decodes, and every number the charts show is the table's."""

import html
import json
import os
import subprocess
import sys
from html.parser import HTMLParser

import matplotlib.image
import pytest
from deploy_checks import ROOT

# One case family per section of the report (bench_report.SECTIONS).
ONLY = "TENSORSET vs SET 4 KB,ONNX add,web,sweep,BATCHSIZE"
SECTIONS = {"tensors", "web", "in_process", "sweep", "batching"}


class Page(HTMLParser):
    """The images and the table of the report page."""

    def __init__(self):
        super().__init__()
        self.images, self.sections, self.table, self._in_table = [], [], None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        if tag == "h2":
            self.sections.append(attrs.get("id"))
        if tag == "pre" and attrs.get("id") == "bench-table":
            self._in_table, self.table = True, ""

    def handle_endtag(self, tag):
        if tag == "pre":
            self._in_table = False

    def handle_data(self, data):
        if self._in_table:
            self.table += data


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(what bench.py printed, the report folder)."""
    folder = tmp_path_factory.mktemp("report")
    argv = [sys.executable, "opt/bench.py", "--only", ONLY, "--duration", "0.2", "--rounds", "1"]
    done = subprocess.run(
        [*argv, "--report", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[1/" in done.stderr  # progress
    return done.stdout, folder


def printed_table(stdout):
    """The table as bench.py printed it: from its header to the last row."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("case "))
    end = next(i for i, line in enumerate(lines) if line.startswith("load average at the end"))
    return "\n".join(lines[start:end])


def parse_page(folder):
    page = Page()
    with open(folder / "report.html") as f:
        page.feed(f.read())
    return page


def test_page_holds_the_printed_table(run):
    stdout, folder = run
    page = parse_page(folder)
    assert page.table == printed_table(stdout)
    assert f"report: {folder / 'report.html'}" in stdout
    assert html.escape("AI.TENSORSET vs SET 4 KB") in (folder / "report.html").read_text()


def test_images_are_pngs_that_decode(run):
    _, folder = run
    page = parse_page(folder)
    assert set(page.sections) == SECTIONS | {"table"}
    assert len(page.images) == len(SECTIONS)
    for src in page.images:
        path = folder / src
        assert os.path.dirname(src) == "" and path.exists(), src
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 300 and pixels.shape[1] > 600
        assert pixels.std() > 0.05  # drawn, not blank


def blocks(table):
    """The table's rows: each a case's line and the indented lines under it."""
    out = []
    for line in table.splitlines()[2:]:
        if line.startswith(" "):
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def fields(line):
    """A row's case name (its first column, 34 wide) and the columns after it."""
    return line[:34].strip(), line[34:].split()


def test_chart_numbers_are_the_tables(run):
    stdout, folder = run
    with open(folder / "report.json") as f:
        report = json.load(f)
    rows = blocks(printed_table(stdout))
    assert len(rows) == len(report["rows"])
    sys.path.insert(0, os.path.join(ROOT, "opt"))
    from bench_report import fmt_ms, fmt_rps

    for numbers, block in zip(report["rows"], rows):
        first, *details = (line.strip() for line in block.splitlines())
        name, cells = fields(first)
        assert name == numbers["case"]
        clients, rps, base_rps, _, p50, p99 = cells[:6]
        assert clients == str(numbers["clients"]) and rps == fmt_rps(numbers["rps"])
        assert (p50, p99) == (fmt_ms(numbers["p50_ms"]), fmt_ms(numbers["p99_ms"]))
        if "base_rps" in numbers:
            assert base_rps == fmt_rps(numbers["base_rps"])
            base = f"{numbers['base_label']}: p50 {fmt_ms(numbers['base_p50_ms'])} ms, "
            base += f"p99 {fmt_ms(numbers['base_p99_ms'])} ms"
            assert base in details
        if "inprocess_cps" in numbers:
            assert any(f"{fmt_rps(numbers['inprocess_cps'])} calls/s" in d for d in details)
    assert {r["case"] for r in report["rows"] if "inprocess_cps" in r} >= {
        "AI.MODELEXECUTE ONNX add 1x4",
        "web TORCH mlp 1x256",
    }
