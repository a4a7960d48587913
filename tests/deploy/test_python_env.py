"""Where the module finds its Python: from its own location (a checkout's build/ beside its
.venv), or the environment PYTHON_ENV names when it is copied anywhere else; an
environment it cannot use refuses the load with the reason in the Redis log. The module
names no path of the checkout it was built in."""

import os
import shutil
import subprocess
import sys

import pytest
import redis
from deploy_checks import MODULE, PYTHON_DIR, ROOT, VENV, RedisServer, serve_models


def refused(module, *module_args):
    """A server loading module with module_args: (exit status, log) once it gave up."""
    server = RedisServer(module, module_args)
    try:
        server.launch()
        return server.wait_exit(60), server.log()
    finally:
        server.stop()


def assert_refused(module, reason, *module_args):
    rc, log = refused(module, *module_args)
    assert rc == 1, log
    assert f"cyrai not loaded: {reason}" in log
    assert "crashed" not in log


@pytest.fixture
def module_copy(tmp_path):
    """The built module alone, copied to a folder of its own."""
    folder = tmp_path / "modules"
    folder.mkdir()
    return str(shutil.copy2(MODULE, folder / "cyrai.so"))


def test_module_names_no_path_of_the_checkout():
    with open(MODULE, "rb") as f:
        data = f.read()
    for path in {ROOT, os.path.realpath(ROOT), os.path.realpath(VENV)}:
        assert path.encode() not in data, path


def test_checkout_module_finds_the_checkout_venv():
    with RedisServer(MODULE) as server:
        serve_models(redis.Redis(host=server.host, port=server.port))


def test_copy_loads_with_python_env(module_copy):
    """The checkout's .venv named by PYTHON_ENV; the backends are found beside it."""
    with RedisServer(module_copy, ["PYTHON_ENV", VENV]) as server:
        con = redis.Redis(host=server.host, port=server.port)
        serve_models(con)
        assert f"Module 'ai' loaded from {module_copy}" in server.log()


def test_copy_without_python_env_is_refused(module_copy):
    assert_refused(module_copy, "no Python environment found for the module in")


def test_python_env_missing_is_refused(module_copy, tmp_path):
    missing = str(tmp_path / "nowhere")
    assert_refused(module_copy, f"PYTHON_ENV {missing}: no such directory", "PYTHON_ENV", missing)


def test_python_env_not_an_environment_is_refused(module_copy, tmp_path):
    why = f"PYTHON_ENV {tmp_path}: not a Python environment (no executable bin/python3)"
    assert_refused(module_copy, why, "PYTHON_ENV", str(tmp_path))


def test_python_env_of_another_python_is_refused(module_copy, tmp_path):
    """bin/python3 is there, but no lib/<the module's python>/site-packages."""
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "lib" / "python3.9" / "site-packages").mkdir(parents=True)
    os.symlink(sys.executable, env / "bin" / "python3")
    why = f"PYTHON_ENV {env}: not an environment of {PYTHON_DIR}, which the module was built for"
    assert_refused(module_copy, why, "PYTHON_ENV", str(env))


def test_python_env_without_cyrai_is_refused(module_copy, tmp_path):
    """A real environment, but cyrai is not installed in it."""
    env = tmp_path / "env"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", env], check=True)
    assert_refused(module_copy, "no backends package beside the module", "PYTHON_ENV", str(env))


def test_python_m_cyrai_in_the_checkout():
    out = subprocess.run(
        [sys.executable, "-m", "cyrai"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert f"module: {MODULE}\n" in out
    assert "TORCH: torch " in out and "ONNX: onnxruntime " in out
    path = subprocess.run(
        [sys.executable, "-m", "cyrai", "--path"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert path == MODULE + "\n"


def test_python_env_too_long_is_refused(module_copy):
    long_path = "/" + "x" * 5000
    why = "PYTHON_ENV: a path of 5001 bytes, longer than a path may be"
    assert_refused(module_copy, why, "PYTHON_ENV", long_path)


def test_cyrai_server_command_line():
    """Redis's arguments first (a configuration file must be), the module's after `--`."""
    code = (
        "from cyrai.server import command; "
        "print(command(['redis.conf', '--port', '7000', '--', 'THREADS_PER_QUEUE', '2'], 'rs'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    want = ["rs", "redis.conf", "--port", "7000", "--loadmodule", MODULE, "THREADS_PER_QUEUE", "2"]
    assert out.strip() == str(want)
