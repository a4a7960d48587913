"""The wheel, as a user deploys it: built with `pip wheel`, installed with the frameworks
from pip into a fresh environment in a temporary folder (nothing else copied), then
`python -m cyrai` and `cyrai-server` run from another working directory serve TorchScript
and ONNX models with that environment's Python and frameworks alone. TensorFlow is not
installed there: its backend is refused with the usual error.

The environment is built once for the module's tests (about a minute: the frameworks come
from pip's local cache and wheels)."""

import os
import subprocess
import sys
import time

import pytest
import redis
from deploy_checks import (
    PYTHON_DIR,
    ROOT,
    VENV,
    RedisServer,
    free_ports,
    mapped_files,
    resp_call,
    serve_models,
)


def run(*args, cwd=None):
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{args}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A fresh environment with the wheel and the pinned torch, onnxruntime and onnx."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheels = tmp / "wheels"
    # The build tools and the frameworks the native runners compile against are the
    # checkout's environment's; the build itself reuses what `make build` compiled.
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps",
        "-w", wheels, ROOT, cwd=ROOT)  # fmt: skip
    (wheel,) = wheels.glob("cyrai-*.whl")
    env = tmp / "env"
    run(sys._base_executable, "-m", "venv", env)
    constraints = os.path.join(ROOT, "requirements.txt")
    run(env / "bin" / "pip", "install", "-q", "-c", constraints, f"{wheel}[torch,onnx]")
    return env


def site_packages(env):
    return env / "lib" / PYTHON_DIR / "site-packages"


def test_python_m_cyrai(env, tmp_path):
    out = run(env / "bin" / "python", "-m", "cyrai", cwd=tmp_path)
    module = site_packages(env) / "cyrai" / "cyrai.so"
    assert f"module: {module}\n" in out
    assert f"in {env}\n" in out
    assert "TORCH: torch 2.13.0+cpu, native runner" in out
    assert "ONNX: onnxruntime " in out
    assert "TF, TFLITE: tensorflow is not installed" in out


def wait_for_ping(port, proc, log, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, (
            f"cyrai-server exited with {proc.returncode}:\n{log.read_text()}"
        )
        try:
            if resp_call("127.0.0.1", port, "PING") == b"+PONG":
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError("cyrai-server did not answer PING")


def test_cyrai_server_from_another_directory(env, tmp_path):
    (port,) = free_ports(1)
    log = tmp_path / "redis.log"
    proc = subprocess.Popen(
        [env / "bin" / "cyrai-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--logfile", log, "--loglevel", "verbose", "--", "THREADS_PER_QUEUE", "2"],
        cwd=tmp_path,
    )  # fmt: skip
    try:
        wait_for_ping(port, proc, log)
        con = redis.Redis(port=port)
        serve_models(con)
        # The wheel's native runners, built for these framework versions, run the models.
        for backend in ("torch", "onnx"):
            assert f"runs of a backends.{backend} object: native_runner" in log.read_text()
        with pytest.raises(redis.ResponseError, match="^Could not load backend$"):
            con.execute_command(
                "AI.MODELSTORE", "m", "TF", "CPU", "INPUTS", 1, "a", "OUTPUTS", 1, "b", "BLOB", b"g"
            )
        assert con.info("modules")["ai_threads_per_queue"] == 2
        # The server's Python and frameworks are the environment's, nothing of the checkout's.
        files = mapped_files(proc.pid)
        assert any(f.startswith(str(site_packages(env) / "torch")) for f in files)
        assert not [f for f in files if f.startswith((ROOT, os.path.realpath(VENV)))]
        proc.terminate()
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_link_to_the_installed_module(env, tmp_path):
    """A module folder such as /usr/lib/redis/modules holding a link to the installed module:
    the environment is the one the link points into."""
    link = tmp_path / "cyrai.so"
    os.symlink(site_packages(env) / "cyrai" / "cyrai.so", link)
    with RedisServer(str(link)) as server:
        serve_models(redis.Redis(host=server.host, port=server.port))
        files = mapped_files(server.proc.pid)
        assert any(f.startswith(str(site_packages(env) / "torch")) for f in files)
