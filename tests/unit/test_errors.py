"""Error texts and replies (src/errors.c, src/messages.h) and deadlines (src/deadline.h),
driven without a server. The C driver is built with AddressSanitizer and run."""

from conftest import run_c_driver


def test_errors_under_asan(tmp_path):
    run_c_driver(tmp_path, "errors_test", "errors.c")
