"""The store-time policy (backends/policy.py) without Redis: each check alone, on models
built here, and through the backends' load functions."""

import io
import os
import sys

import pytest

torch = pytest.importorskip("torch")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

import backends  # noqa: E402
from backends import policy  # noqa: E402
from backends.policy import ExternalData, ForbiddenOperator  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    r"ignore:`torch\.jit\.\w+` is deprecated", "ignore:torch.quantize_per_tensor"
)


class FromFile(torch.nn.Module):
    def forward(self, x):
        return torch.from_file("/etc/passwd", False, 16, dtype=torch.uint8).float() + x


class Child(torch.nn.Module):
    def forward(self, x):
        return self.deep(x)

    @torch.jit.export
    def deep(self, x):
        torch.save(x, "/nonexistent/x")
        return x


class Parent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.child = Child()

    def forward(self, x):
        return self.child(x)


class Plain(torch.nn.Module):
    def forward(self, x, y):
        return x + y, torch.relu(x @ y.t())


def archive(module):
    buf = io.BytesIO()
    torch.jit.save(torch.jit.script(module), buf)
    return buf.getvalue()


@pytest.mark.parametrize(("module", "op"), [(FromFile, "aten::from_file"), (Parent, "aten::save")])
def test_torch_walk_and_scan(module, op):
    """The loaded graph walk and the archive scan each refuse on their own."""
    scripted = torch.jit.script(module())
    with pytest.raises(ForbiddenOperator) as walk:
        policy.check_torch_module(scripted)
    assert str(walk.value) == f"ERR model uses a forbidden operator: {op}"
    with pytest.raises(ForbiddenOperator) as scan:
        policy.check_torch_archive(archive(module()))
    assert scan.value.name == op and scan.value.what == "model"
    with pytest.raises(ForbiddenOperator):
        backends.get("TORCH").load_model(archive(module()), device="CPU")


def test_torch_plain_models_pass():
    blob = archive(Plain())
    policy.check_torch_archive(blob)
    model = backends.get("TORCH").load_model(blob, device="CPU")
    assert model.input_names == ["x", "y"]


@pytest.mark.parametrize(
    ("source", "op"),
    [
        ("def f(a: Tensor):\n    return torch.from_file('x', False, 1)\n", "aten::from_file"),
        ("def f(a: Tensor):\n    torch.save(a, 'x')\n    return a\n", "aten::save"),
        (
            "def f(a: Tensor):\n    return torch.ops._c10d_functional.all_reduce(a, 'sum', 'g')\n",
            "_c10d_functional::all_reduce",
        ),
    ],
)
def test_script_refused(source, op):
    with pytest.raises(ForbiddenOperator) as e:
        backends.get("TORCH").compile_script(source, device="CPU")
    assert str(e.value) == f"ERR script uses a forbidden operator: {op}"


def test_script_scan_reads_code_not_strings():
    """A message that mentions "save" is not a call; a literal operator name is refused."""
    source = "def f(a: Tensor):\n    if a.sum() < 0:\n        raise ValueError('cannot save')\n"
    source += "    return a\n"
    policy.check_torch_script(source, torch.jit.CompilationUnit(source))
    with pytest.raises(ForbiddenOperator):
        policy._scan_source("x = getattr(torch, 'from_file')", "script", policy.SCRIPT_NAMESPACES)


def test_tf_graph_ops():
    tf = pytest.importorskip("tensorflow")
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.string, name="a")
        tf.identity(tf.io.read_file(a), name="out")
    with pytest.raises(ForbiddenOperator) as e:
        policy.check_tf_graph_def(graph.as_graph_def())
    assert e.value.name == "ReadFile"
    graph = tf.Graph()
    with graph.as_default():
        a = tf.compat.v1.placeholder(tf.float32, name="a")
        tf.compat.v1.Print(a, [a], name="p")  # to stderr: allowed
        tf.identity(a * 2, name="out")
    policy.check_tf_graph_def(graph.as_graph_def())


def test_onnx_external_data_kind():
    assert isinstance(ExternalData(), policy.Refused)
    assert str(ExternalData()) == "Initializer tensors with external data is not allowed."


def _tf1_saved_model(tmp_path, hostile=False):
    """A TF1 SavedModel (Builder, a Saver whose filename is the Const "model"), zipped.
    hostile: its signature's output waits for the saver's save op."""
    tf = pytest.importorskip("tensorflow")
    v1 = tf.compat.v1
    graph = tf.Graph()
    path = str(tmp_path / "tf1")
    with graph.as_default(), v1.Session(graph=graph) as sess:
        x = v1.placeholder(tf.float32, [None], name="x")
        w = v1.get_variable("w", initializer=2.0)
        y = tf.identity(x * w, name="y")
        sess.run(v1.global_variables_initializer())
        saver = v1.train.Saver()
        if hostile:
            save = graph.get_operation_by_name(saver.saver_def.save_tensor_name.split(":")[0])
            with tf.control_dependencies([save]):
                y = tf.identity(y, name="y_saved")
        builder = v1.saved_model.Builder(path)
        signature = v1.saved_model.predict_signature_def({"x": x}, {"y": y})
        builder.add_meta_graph_and_variables(
            sess, ["serve"], signature_def_map={"serving_default": signature}, saver=saver
        )
        builder.save()
    out = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(out, "w") as archive:
        for root, _, files in os.walk(path):
            for name in files:
                full = os.path.join(root, name)
                archive.write(full, os.path.relpath(full, path))
    return out.getvalue()


def test_tf_saved_models_restore_only_their_own_variables(tmp_path):
    tf_backend = backends.get("TF")
    model = tf_backend.load_model(_tf1_saved_model(tmp_path), device="CPU")
    assert model.run([__import__("numpy").ones(2, "float32")])[0].tolist() == [2.0, 2.0]
    with pytest.raises(ForbiddenOperator) as e:
        tf_backend.load_model(_tf1_saved_model(tmp_path / "h", hostile=True), device="CPU")
    assert e.value.name in ("SaveV2", "MergeV2Checkpoints")


def test_torchbind_classes_in_pickles():
    """A pickled object of a TorchBind class outside the allowed namespaces (its
    __setstate__ would run while loading) is refused from the pickle's bytes."""
    with pytest.raises(ForbiddenOperator) as e:
        policy._check_torchbind(b"c__torch__.torch.classes.dist_c10d\nFileStore\n", "model")
    assert e.value.name == "torch.classes.dist_c10d.FileStore"
    policy._check_torchbind(b"__torch__.torch.classes.quantized.LinearPackedParamsBase", "model")


def test_quantized_models_pass():
    """Quantized models use the quantized namespace and its packed-weight classes."""
    model = torch.ao.quantization.quantize_dynamic(
        torch.nn.Sequential(torch.nn.Linear(4, 3)), {torch.nn.Linear}, dtype=torch.qint8
    )
    buf = io.BytesIO()
    torch.jit.save(torch.jit.trace(model, torch.ones(1, 4)), buf)
    loaded = backends.get("TORCH").load_model(buf.getvalue(), device="CPU")
    out = loaded.run([torch.ones(1, 4).numpy()])
    assert out[0].shape == (1, 3)
