"""The run-stats registry's table (src/ordered_dict.c): RedisAI's iteration order, and no
out-of-bounds access when deletes empty the old table during a rehash. The C driver is
built with AddressSanitizer and run."""

from conftest import run_c_driver


def test_ordered_dict_under_asan(tmp_path):
    run_c_driver(tmp_path, "ordered_dict_test", "ordered_dict.c", leaks=False)
