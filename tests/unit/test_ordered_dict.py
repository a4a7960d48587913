"""The run-stats registry's table (src/ordered_dict.c): RedisAI's iteration order, and no
out-of-bounds access when deletes empty the old table during a rehash. The C driver is
built with AddressSanitizer and run."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_ordered_dict_under_asan(tmp_path):
    exe = tmp_path / "ordered_dict_test"
    subprocess.run(
        [
            "gcc",
            "-std=gnu11",
            "-g",
            "-fsanitize=address",
            "-I",
            f"{ROOT}/src",
            "-I",
            f"{ROOT}/deps",
            f"{ROOT}/tests/unit/c/ordered_dict_test.c",
            f"{ROOT}/src/ordered_dict.c",
            "-o",
            str(exe),
        ],
        check=True,
    )
    run = subprocess.run(
        [str(exe)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ASAN_OPTIONS": "detect_leaks=0"},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "ok"
