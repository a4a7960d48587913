"""pyx/python_env.c, how the module finds its Python environment, under AddressSanitizer:
tests/unit/c/python_env_test.c. (tests/deploy loads the module itself the same ways.)"""

from conftest import run_c_driver


def test_python_env_locate(tmp_path):
    run_c_driver(tmp_path, "python_env_test", "../pyx/python_env.c")
