"""backends/_native.py: a native runner is used only where the framework version it was
built for is installed (native_runners.json beside it); otherwise its backend runs through
Python."""

import json

import numpy as np
import pytest
from backends import _native

NAME = "_x_native"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A folder of runners of its own, holding an (empty) extension file NAME."""
    (tmp_path / f"{NAME}.cpython-311-x86_64-linux-gnu.so").write_bytes(b"")
    monkeypatch.setattr(_native, "FOLDERS", (str(tmp_path),))
    monkeypatch.setattr(_native, "_loaded", {})
    return tmp_path


def record(folder, entries):
    (folder / _native.RECORD).write_text(json.dumps(entries))


def test_runner_of_another_framework_version_is_not_used(folder):
    record(folder, {NAME: ["numpy", "0.0.1"]})
    path, why = _native.find(NAME)
    assert path.endswith(".so")
    assert why == f"built for numpy 0.0.1, {np.__version__} is installed"
    assert _native.load(NAME) is None


def test_runner_without_a_record_is_not_used(folder):
    assert _native.find(NAME)[1] == "no record of the framework version it was built for"
    record(folder, {})
    assert _native.find(NAME)[1] == "no record of the framework version it was built for"


def test_runner_of_a_missing_framework_is_not_used(folder):
    record(folder, {NAME: ["no-such-framework", "1.0"]})
    assert _native.find(NAME)[1] == "no-such-framework is not installed"


def test_runner_that_fails_to_load_is_not_used(folder):
    record(folder, {NAME: ["numpy", np.__version__]})
    assert _native.find(NAME)[1] is None
    assert _native.load(NAME) is None  # an empty file is no extension


def test_checkout_runners_are_used():
    """make build records the checkout's runners for the frameworks of its .venv."""
    for name in ("_torch_native", "_onnx_native", "_tf_native"):
        path, why = _native.find(name)
        assert why is None, f"{name}: {why}"
        assert _native.load(name) is not None
