"""The unit tests import two things that are not installed:

- the backends package, from the repository root (`import backends`), and from there the
  error texts the flow tests define (`from tests.flow.error_texts import WRONGTYPE`);
- the bridge as a plain extension, build/cyrai_bridge*.so: the same Cython code as in the
  Redis module but allocating with libc (`make build` makes it).

Both folders go on sys.path here, before pytest imports any test module."""

import os
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
for folder in (ROOT, os.path.join(ROOT, "build")):
    if folder not in sys.path:
        sys.path.insert(0, folder)


def run_c_driver(tmp_path, driver, *sources, leaks=True):
    """Builds tests/unit/c/<driver>.c with the given src/ files under AddressSanitizer,
    runs it, and asserts that it passed (exit 0, printing "ok")."""
    import subprocess

    exe = tmp_path / driver
    paths = [os.path.join(ROOT, "tests", "unit", "c", driver + ".c")]
    paths += [os.path.join(ROOT, "src", s) for s in sources]
    flags = ["-std=gnu11", "-g", "-fsanitize=address"]
    includes = ["-I", os.path.join(ROOT, "src"), "-I", os.path.join(ROOT, "deps")]
    subprocess.run(["gcc", *flags, *includes, *paths, "-o", str(exe)], check=True)
    env = dict(os.environ)
    if not leaks:
        env["ASAN_OPTIONS"] = "detect_leaks=0"
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=False, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "ok"
