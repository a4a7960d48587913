"""TF backend: frozen GraphDefs (or TF2 SavedModels in a zip/tar archive) run in sessions.

As in RedisAI, a frozen GraphDef is imported as is and the client's INPUTS/OUTPUTS name its
operations: inputs must be Placeholders, and port 0 of each is fed or fetched. A run goes
through a session callable (Session._make_callable_from_options, i.e. C++
Session::MakeCallable) rather than Session.run, which would cast inputs to the
placeholder's dtype and rewrite TF's error text; the callable fails with the C API's
message, as RedisAI does (e.g. "Incompatible shapes: [2] vs. [2,2,3] \\t [[{{node mul}}]]"),
and skips Session.run's per-call Python work. TF releases the GIL while it computes.

A SavedModel is a directory, so it travels as a zip or tar archive (told apart from a
GraphDef by its magic bytes). It is extracted to a temporary directory, its 'serve'
MetaGraph loaded into a session of its own (variables are restored into the session, so
the directory is removed afterwards) and its 'serving_default' signature run the same way.
Its inputs are all of the signature's, in the order the client gave them (sorted if none
were given); its outputs are the ones the client picked (all, sorted, if none).

An archive with no saved_model.pb in it (a TorchScript archive stored as TF, any other zip
or tar), or one that cannot be read, is answered as RedisAI answers every blob that is not
a GraphDef: "Invalid GraphDef". Its member names are read before anything is extracted.

Both formats are graphs and tensors, never Python objects (design rule 7).

Native runs: a CPU model whose feeds and fetches are all numeric also carries a runner
(model.native_runner, _tf_native.c) that calls TF_SessionRun on this same session, without
Python.
"""

import io
import os
import tarfile
import tempfile
import zipfile

import numpy as np
from google.protobuf.message import DecodeError

from . import BackendError, one_line, parse_device, policy
from ._tensorflow import tf

# Other tensorflow modules are imported where used: ._tensorflow must import TF first.

SIGNATURE = "serving_default"
INVALID_GRAPHDEF = "Invalid GraphDef"  # RedisAI's reply to a blob TF cannot parse
_ARCHIVE_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


def version():
    return tf.__version__


def _message(exc):
    return one_line(getattr(exc, "message", None) or exc)


def _input_missing(name):
    return BackendError(f'ERR Input node named "{name}" not found in TF graph.')


def _output_missing(name):
    return BackendError(f'ERR Output node named "{name}" not found in TF graph')


def _tf_device(device):
    """None for the CPU (TF's default placement), '/device:GPU:<n>' for a GPU."""
    kind, index = parse_device(device)
    if kind == "CPU":
        return None
    if not tf.config.list_physical_devices("GPU"):
        raise BackendError("ERR GPU requested but TF couldn't find CUDA")
    return f"/device:GPU:{index}"


# ---------------------------------------------------------------------- frozen GraphDef


def _op_type(graph, name):
    try:
        return graph.get_operation_by_name(name).type
    except (KeyError, ValueError, TypeError):  # unknown, or a tensor name such as "a:0"
        return None


def _import_graph_def(session, blob, inputs, outputs):
    """Import into session's graph; -> (input names, output names, feeds, fetches)."""
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(blob)
    except DecodeError as e:
        raise BackendError(INVALID_GRAPHDEF) from e
    policy.check_tf_graph_def(graph_def)
    tf.compat.v1.import_graph_def(graph_def, name="")
    graph = session.graph
    for name in inputs:
        if _op_type(graph, name) != "Placeholder":
            raise _input_missing(name)
    for name in outputs:
        if _op_type(graph, name) is None:
            raise _output_missing(name)
    return inputs, outputs, [f"{n}:0" for n in inputs], [f"{n}:0" for n in outputs]


# ----------------------------------------------------------------- archived SavedModel


def _is_archive(blob):
    return blob.startswith(_ARCHIVE_MAGIC) or blob[257:262] == b"ustar"


def _open_archive(blob):
    """A ZipFile or TarFile over blob, if it holds a saved_model.pb; else Invalid GraphDef."""
    try:
        if blob.startswith(b"PK"):
            archive = zipfile.ZipFile(io.BytesIO(blob))
            names = archive.namelist()
        else:
            archive = tarfile.open(fileobj=io.BytesIO(blob))
            names = archive.getnames()
    except Exception as e:
        raise BackendError(INVALID_GRAPHDEF) from e
    if not any(os.path.basename(name.rstrip("/")) == "saved_model.pb" for name in names):
        archive.close()
        raise BackendError(INVALID_GRAPHDEF)
    return archive


def _extract(blob, path):
    with _open_archive(blob) as archive:
        try:
            if isinstance(archive, zipfile.ZipFile):
                archive.extractall(path)  # zipfile drops absolute paths and '..'
            else:
                archive.extractall(path, filter="data")  # nothing outside path, no devices
        except Exception as e:
            raise BackendError(one_line(f"Invalid SavedModel archive: {e}")) from e


def _saved_model_dir(path):
    """The shallowest directory of the extracted archive holding a saved_model.pb."""
    found = [root for root, _, files in os.walk(path) if "saved_model.pb" in files]
    if not found:  # e.g. a tar whose saved_model.pb is not a regular file
        raise BackendError(INVALID_GRAPHDEF)
    return min(found, key=lambda root: root.count(os.sep))


def _pick(available, given, missing, what):
    """Signature keys in the client's order: all the inputs, any subset of the outputs."""
    for name in given:
        if name not in available:
            raise missing(name)
    if not given:
        return sorted(available)
    if what == "inputs" and sorted(given) != sorted(available):
        names = ", ".join(sorted(available))
        raise BackendError(f"ERR SavedModel signature '{SIGNATURE}' takes the inputs {names}")
    return given


def _load_saved_model(session, blob, inputs, outputs):
    """Load into session; -> (input names, output names, feeds, fetches)."""
    with tempfile.TemporaryDirectory(prefix="cyrai-tf-") as path:
        _extract(blob, path)
        model_dir = _saved_model_dir(path)
        with open(os.path.join(model_dir, "saved_model.pb"), "rb") as f:
            policy.check_tf_saved_model(f.read())  # before TF restores anything
        from tensorflow.python.util import deprecation

        with deprecation.silence():  # the TF1 loader logs a deprecation notice
            meta_graph = tf.compat.v1.saved_model.load(
                session, [tf.saved_model.SERVING], model_dir, clear_devices=True
            )
    if SIGNATURE not in meta_graph.signature_def:
        raise BackendError(f"ERR SavedModel has no '{SIGNATURE}' signature")
    signature = meta_graph.signature_def[SIGNATURE]
    inputs = _pick(signature.inputs, inputs, _input_missing, "inputs")
    outputs = _pick(signature.outputs, outputs, _output_missing, "outputs")
    feeds = [signature.inputs[n].name for n in inputs]
    return inputs, outputs, feeds, [signature.outputs[n].name for n in outputs]


# --------------------------------------------------------------------------- the model


def _native_runner(session, feeds, fetches):
    """The runner a worker calls without Python (_tf_native.c), or None: GPU models, models
    with a string input or output and builds without the extension stay on Python."""
    from . import _native

    extension = _native.load("_tf_native")
    if extension is None:
        return None
    graph = session.graph
    ports = [
        [(t.op._c_op, t.value_index) for t in map(graph.get_tensor_by_name, names)]
        for names in (feeds, fetches)
    ]
    return extension.make_runner(session, *ports)


class Model:
    native_runner = None  # see _native_runner

    def __init__(self, session, input_names, output_names, feeds, fetches):
        self._session = session
        self.input_names = list(input_names)
        self.output_names = list(output_names)
        from tensorflow.core.protobuf.config_pb2 import CallableOptions

        options = CallableOptions(feed=feeds, fetch=fetches)
        self._call = session._make_callable_from_options(options)

    def run(self, inputs):
        if len(inputs) != len(self.input_names):
            raise BackendError(f"Expected {len(self.input_names)} inputs but got {len(inputs)}")
        try:
            # STRING inputs arrive as object arrays of bytes, and TF returns them so.
            outputs = self._call(*[np.asarray(x) for x in inputs])
        except Exception as e:
            raise BackendError(_message(e)) from e
        return [np.asarray(x) for x in outputs]


def _inter_op_threads(inter_op):
    """INTER_OP_PARALLELISM for the session; without one (0), a negative count: TF then
    runs a step's ops in the calling thread, i.e. the worker's, instead of handing each
    step to a pool of its own. Workers are the parallelism here; the hand-off cost a tiny
    graph ~3x its server CPU per request (7.5 vs 29.6 us on TF mul, 50 clients). Each op
    still uses the intra-op pool."""
    return inter_op if inter_op > 0 else -1


def load_model(
    blob,
    *,
    device,
    inputs=None,
    outputs=None,
    intra_op=0,
    inter_op=0,
    execution_timeout_ms=0,
    memory_limit_mb=0,
):
    """A frozen GraphDef or an archived SavedModel -> Model. inputs/outputs are the node
    names given at store time; the two limits are ONNX-only settings."""
    blob, inputs, outputs = bytes(blob), list(inputs or ()), list(outputs or ())
    tf_device = _tf_device(device)
    config = tf.compat.v1.ConfigProto(
        intra_op_parallelism_threads=max(intra_op, 0),
        inter_op_parallelism_threads=_inter_op_threads(inter_op),
        allow_soft_placement=True,
    )
    graph = tf.Graph()
    session = tf.compat.v1.Session(graph=graph, config=config)
    try:
        with graph.as_default(), graph.device(tf_device):
            load = _load_saved_model if _is_archive(blob) else _import_graph_def
            names = load(session, blob, inputs, outputs)
        model = Model(session, *names)
        if tf_device is None:
            model.native_runner = _native_runner(session, *names[2:])
        return model
    except BackendError:
        session.close()
        raise
    except Exception as e:
        session.close()
        raise BackendError(_message(e)) from e
