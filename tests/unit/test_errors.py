"""Error texts and replies (src/errors.c, src/messages.h) and deadlines (src/deadline.h),
driven without a server. The C driver is built with AddressSanitizer and run."""

import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_errors_under_asan(tmp_path):
    exe = tmp_path / "errors_test"
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
            f"{ROOT}/tests/unit/c/errors_test.c",
            f"{ROOT}/src/errors.c",
            "-o",
            str(exe),
        ],
        check=True,
    )
    run = subprocess.run([str(exe)], capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip() == "ok"
