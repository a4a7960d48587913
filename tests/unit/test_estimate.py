"""Run-time estimates for TTR admission (src/estimate.c), driven without a server. The C
driver is built with AddressSanitizer and run."""

from conftest import run_c_driver


def test_estimate_under_asan(tmp_path):
    run_c_driver(tmp_path, "estimate_test", "estimate.c")
