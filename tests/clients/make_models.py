"""Writes the model files the client tests store, with the server's environment (.venv has
torch and onnx; .venv-clients, where the clients live, has neither):

    .venv/bin/python tests/clients/make_models.py OUTDIR

OUTDIR gets torch_add.pt (a, b -> a + b), torch_mlp.pt (x [N,4] -> [N,3]),
onnx_add.onnx (a, b FLOAT [2,3] -> sum), tf_mul.pb (a frozen TF graph: placeholders a, b ->
mul = a * b) and expected.json: the MLP's output for
MLP_INPUT computed in process, to compare with what the server computes."""

import io
import json
import os
import sys

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

MLP_INPUT = (np.arange(8, dtype=np.float32).reshape(2, 4) / 8).tolist()


class Add(torch.nn.Module):
    def forward(self, a, b):
        return a + b


class MLP(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.fc2 = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def torch_bytes(module):
    buf = io.BytesIO()
    torch.jit.save(module, buf)
    return buf.getvalue()


def onnx_add():
    info = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3]) for n in "ab"]
    out = helper.make_tensor_value_info("sum", TensorProto.FLOAT, [2, 3])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["sum"])], "g", info, [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def tf_mul():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)  # TF logs to stderr past TF_CPP_MIN_LOG_LEVEL
    try:
        import tensorflow as tf
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        tf.multiply(
            v1.placeholder(tf.float32, name="a"), v1.placeholder(tf.float32, name="b"), name="mul"
        )
    return graph.as_graph_def().SerializeToString()


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    torch.manual_seed(0)
    mlp = torch.jit.trace(MLP().eval(), torch.zeros(2, 4))
    with torch.inference_mode():
        expected = mlp(torch.tensor(MLP_INPUT)).tolist()
    files = {
        "torch_add.pt": torch_bytes(torch.jit.script(Add())),
        "torch_mlp.pt": torch_bytes(mlp),
        "onnx_add.onnx": onnx_add(),
        "tf_mul.pb": tf_mul(),
        "expected.json": json.dumps({"mlp_input": MLP_INPUT, "mlp_output": expected}).encode(),
    }
    for name, data in files.items():
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main(sys.argv[1])
