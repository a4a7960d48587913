"""What a stored model or script may do: nothing that reaches the host (design rule 7,
roadmap R5). Every check here runs on bytes or on a loaded graph *before anything of the
model runs*, and raises a kind of `Refused`; the backends call them from their load
functions and know nothing else of the policy. None of this imports a framework at
module level: each check imports what it reads.

TorchScript (models and scripts): an allow-list of operator namespaces plus a deny-list
inside them. A deny-list alone cannot work: any library imported into the process may
register operators (torch itself registers c10d collectives that open sockets,
`debugprims::load_tensor` that reads a file, profiler ops that write traces, and our own
`redis::` ops), so anything outside the namespaces a model needs is refused by default.
Allowed: `aten` and `prim` (the tensor and language operators every model uses),
`quantized` / `_quantized` (quantized models), and for scripts `redis` / `redisAI` (the
calls spec 4.6 gives them, checked against the caller's ACL when they run). Denied inside
those: `aten::from_file` and `aten::save` (file access), `prim::PythonOp` /
`prim::IgnoredPythonOp` (calls into Python) and `prim::rpc_*` (network). TorchBind classes
are allowed only in the `quantized`, `rnn` and `sparse` namespaces (packed weights).

A TorchScript archive is checked twice. Before loading, its code files (every class and
function it could ever compile, including `__setstate__` methods that torch.jit.load runs
while loading) are scanned for the names of denied operators, foreign `ops.<ns>`
namespaces and TorchBind classes; the scan errs on the side of refusing. After loading,
the graphs of every method of the module and of every submodule, with the functions and
methods they call inlined, are walked node by node, blocks and subgraphs included.

TF: frozen GraphDefs may use no operator that reads or writes files, checkpoints, logs or
the network, or that calls Python (`_TF_DENIED`, `_TF_DENIED_PARTS`); the graph's function
library is checked too. A SavedModel's meta graphs are checked before TF loads them; its
own variable restore (`RestoreV2` / `SaveV2` / `MergeV2Checkpoints` fed by the saver's
filename tensor, which the loader points at the extracted directory) is the one file
access allowed, and only if that filename tensor is a placeholder, not a constant path.

TFLite: only built-in operators (a custom operator may be a Flex op running TF kernels,
file ones included). ONNX: initializers whose data live in external files are refused
with RedisAI's text.
"""

import io
import re

from . import BackendError

__all__ = [
    "ExternalData",
    "ForbiddenOperator",
    "Refused",
    "check_tf_graph_def",
    "check_tf_saved_model",
    "check_tflite",
    "check_torch_archive",
    "check_torch_module",
    "check_torch_script",
]


class Refused(BackendError):
    """What the policy refuses. A server refuses to store it, or, when it comes from the
    server's own data (RDB, AOF, a master), keeps it but refuses every run with this text."""


class ForbiddenOperator(Refused):
    """what: "model" or "script"; name: the operator, e.g. "aten::from_file"."""

    def __init__(self, what, name):
        self.what, self.name = what, name
        super().__init__(f"ERR {what} uses a forbidden operator: {name}")


class ExternalData(Refused):
    """An ONNX tensor whose data lives in a file (RedisAI's text)."""

    def __init__(self):
        super().__init__("Initializer tensors with external data is not allowed.")


# ------------------------------------------------------------------------ TorchScript

TORCH_NAMESPACES = frozenset({"aten", "prim", "quantized", "_quantized"})
SCRIPT_NAMESPACES = TORCH_NAMESPACES | {"redis", "redisAI"}
TORCH_DENIED = frozenset(
    {
        "aten::from_file",
        "aten::save",
        "prim::PythonOp",
        "prim::IgnoredPythonOp",
        "prim::rpc_async",
        "prim::rpc_sync",
        "prim::rpc_remote",
    }
)
TORCHBIND_NAMESPACES = frozenset({"quantized", "rnn", "sparse"})
# Short name -> qualified name: how serialized code spells a denied operator
# (`torch.from_file`, `ops.aten.save`, `x.save(...)`, `getattr(torch, "save")`).
_DENIED_SHORT = {name.split("::")[1]: name for name in TORCH_DENIED}

# Serialized TorchScript is Python syntax: strings and comments are told apart from code
# so that a message mentioning "save" does not refuse a model, while a string that is
# exactly an operator's name (getattr's literal) still does.
_TOKEN = re.compile(
    r"""(?P<str>[rRbBuU]{0,2}(?:'''[\s\S]*?'''|\"\"\"[\s\S]*?\"\"\"|'(?:\\.|[^'\\\n])*'|"""
    r""""(?:\\.|[^"\\\n])*"))|(?P<comment>\#[^\n]*)|(?P<name>[A-Za-z_]\w*)|(?P<dot>\.)"""
)
# In code `torch.classes.<ns>.<Class>`; in a pickle's GLOBAL "<module>\n<name>".
_TORCHBIND = re.compile(rb"torch\s*\.\s*classes\s*\.\s*(\w+)(?:\s*[.\n]\s*(\w+))?")


def _names(source):
    """The identifiers of source, '.' for dots, and the text of string literals that are
    identifiers (as ('str', text))."""
    for m in _TOKEN.finditer(source):
        kind = m.lastgroup
        if kind == "name":
            yield m.group()
        elif kind == "dot":
            yield "."
        elif kind == "str":
            body = m.group().lstrip("rRbBuU").strip("'\"")
            if body.isidentifier():
                yield ("str", body)


def _scan_source(source, what, namespaces):
    """Refuses source that names a denied operator or a foreign namespace or class."""
    tokens = list(_names(source))
    for i, tok in enumerate(tokens):
        name = tok[1] if isinstance(tok, tuple) else tok
        if name in _DENIED_SHORT:
            raise ForbiddenOperator(what, _DENIED_SHORT[name])
        # ops.<ns>.<op> (or torch.ops.<ns>.<op>), at the start of a chain.
        if (
            tok == "ops"
            and (i == 0 or tokens[i - 1] != "." or (i >= 2 and tokens[i - 2] == "torch"))
            and tokens[i + 1 : i + 2] == ["."]
            and isinstance(tokens[i + 2] if i + 2 < len(tokens) else None, str)
            and tokens[i + 2] != "."
        ):
            ns = tokens[i + 2]
            op = tokens[i + 4] if i + 4 < len(tokens) and tokens[i + 3] == "." else ""
            if ns not in namespaces:
                raise ForbiddenOperator(what, f"{ns}::{op}" if isinstance(op, str) else ns)
    _check_torchbind(source.encode("utf-8", "replace"), what)


def _check_torchbind(data, what):
    for ns, cls in _TORCHBIND.findall(data):
        if ns.decode() not in TORCHBIND_NAMESPACES:
            name = ".".join(p.decode() for p in (ns, cls) if p)
            raise ForbiddenOperator(what, f"torch.classes.{name}")


def check_torch_archive(blob):
    """Before torch.jit.load: the archive's code and pickles, read with torch's own zip
    reader (the one the loader uses). An archive torch cannot read is left to the loader,
    which then fails the same way."""
    import torch

    try:
        reader = torch._C.PyTorchFileReader(io.BytesIO(blob))
        records = reader.get_all_records()
    except Exception:  # noqa: BLE001 - not an archive: torch.jit.load says why
        return
    for record in records:
        if record.endswith(".py") or "/code/" in f"/{record}":
            data = reader.get_record(record)
            if record.endswith(".debug_pkl"):
                continue
            _scan_source(bytes(data).decode("utf-8", "replace"), "model", TORCH_NAMESPACES)
        elif record.endswith(".pkl"):
            _check_torchbind(bytes(reader.get_record(record)), "model")


def _inlined(graph):
    import torch

    copy = graph.copy()
    torch._C._jit_pass_inline(copy)
    return copy


def _nodes(graph):
    """Every node of graph (functions and methods it calls inlined), blocks and subgraph
    attributes (fork, closures) included. The copies are kept alive while their blocks
    are walked: a block of a freed graph is invalid."""
    graphs = [_inlined(graph)]
    stack = [graphs[0].block()]
    while stack:
        for node in stack.pop().nodes():
            yield node
            stack.extend(node.blocks())
            for attr in node.attributeNames():
                kind = node.kindOf(attr)
                subgraphs = [node.g(attr)] if kind == "g" else node.gs(attr) if kind == "gs" else []
                for sub in subgraphs:
                    graphs.append(_inlined(sub))
                    stack.append(graphs[-1].block())


def _check_graph(graph, what, namespaces):
    for node in _nodes(graph):
        kind = node.kind()
        ns = kind.split("::", 1)[0]
        if kind in TORCH_DENIED or ns not in namespaces:
            raise ForbiddenOperator(what, kind)
        for value in (*node.inputs(), *node.outputs()):
            _check_torchbind(value.type().str().encode(), what)


def check_torch_module(module):
    """After torch.jit.load: every method of the module and of its submodules."""
    for sub in module.modules():
        c = sub._c
        for name in c._method_names():
            _check_graph(c._get_method(name).graph, "model", TORCH_NAMESPACES)


def check_torch_script(source, cu):
    """A compiled script: its source, then every function's graph."""
    _scan_source(source, "script", SCRIPT_NAMESPACES)
    for function in cu.get_functions():
        _check_graph(function.graph, "script", SCRIPT_NAMESPACES)


# --------------------------------------------------------------------------------- TF

# Operators that read or write files, checkpoints, event logs or the network, or that
# call Python: refused in any graph.
_TF_DENIED = frozenset(
    {
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "ImmutableConst",
        "PyFunc",
        "PyFuncStateless",
        "EagerPyFunc",
        "MergeV2Checkpoints",
        "InitializeTableFromTextFile",
        "InitializeTableFromTextFileV2",
        "DecodeProtoV2",
        "EncodeProto",
        "Rpc",
        "TryRpc",
        "ImportEvent",
        "LoadAndRemapMatrix",
        "GenerateVocabRemapping",
        "RegisterDataset",
        "RegisterDatasetV2",
        "RemoteCall",
        "DatasetFromGraph",
    }
)
# Whole families, by a part of their names: Save*/Restore* (checkpoints), readers and
# record/file datasets, summary and debug writers, TPU embedding loaders, collectives and
# the data service (network), cloud storage configuration.
_TF_DENIED_PREFIXES = ("Save", "Restore", "Write", "Load", "Debug", "Experimental", "Collective")
_TF_DENIED_PARTS = (
    "Reader",
    "SummaryWriter",
    "TextLine",
    "TFRecord",
    "FixedLengthRecord",
    "CSVDataset",
    "SqlDataset",
    "LMDB",
    "MatchingFiles",
    "SnapshotDataset",
    "CacheDataset",
    "DataService",
    "DistributedSave",
    "Checkpoint",
    "Gcs",
)
# Experimental* datasets include Sql, LMDB, CSV, matching files: all of the prefix goes.
_SAVER_OPS = frozenset({"RestoreV2", "SaveV2", "MergeV2Checkpoints", "Restore", "RestoreSlice"})


def _tf_op_denied(node):
    op = node.op
    if op == "PrintV2":
        stream = node.attr["output_stream"].s if "output_stream" in node.attr else b""
        return stream.startswith(b"file://")
    if op in _TF_DENIED or op.startswith(_TF_DENIED_PREFIXES):
        return True
    return any(part in op for part in _TF_DENIED_PARTS)


def _source(name):
    """'^a', 'a:1', 'a:output:0' -> 'a'."""
    return name.lstrip("^").split(":")[0]


def _ancestors(nodes, start):
    """Names of the nodes start depends on (itself included), within one graph."""
    seen, stack = set(), [start]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        node = nodes.get(name)
        if node is not None:
            stack.extend(_source(i) for i in node.input)
    return seen


def _funcs_called(node):
    for attr in node.attr.values():
        if attr.HasField("func"):
            yield attr.func.name
        yield from (f.name for f in attr.list.func)


def _saver_op_ok(nodes, node, roots):
    """A checkpoint operator's filename must derive from one of roots (the loader's
    placeholder, or the arguments of a function only it calls) and from no constant path
    that is absolute or climbs out with '..'."""
    if not node.input:
        return False
    ancestry = _ancestors(nodes, _source(node.input[0]))
    if not ancestry & roots:
        return False
    for name in ancestry:
        const = nodes.get(name)
        if const is not None and const.op == "Const":
            for s in const.attr["value"].tensor.string_val:
                if s.startswith(b"/") or b".." in s or b"://" in s:
                    return False
    return True


def _check_nodes(nodes, saver_roots):
    for node in nodes.values():
        if node.op in _SAVER_OPS and saver_roots and _saver_op_ok(nodes, node, saver_roots):
            continue
        if _tf_op_denied(node):
            raise ForbiddenOperator("model", node.op)


def check_tf_graph_def(graph_def):
    """A frozen GraphDef: no denied operator in it or in its function library."""
    _check_nodes({n.name: n for n in graph_def.node}, frozenset())
    for function in graph_def.library.function:
        _check_nodes({n.name: n for n in function.node_def}, frozenset())


# Collections whose operations the loader runs after the restore, without its feed.
_INIT_COLLECTIONS = ("saved_model_main_op", "legacy_init_op", "main_op")


def _saver_root(meta_graph, nodes):
    """The saver's filename node, if it is one the loader feeds and a client cannot: a
    Placeholder (TF2), or defaults (through PlaceholderWithDefault) to a Const holding a
    plain relative name (TF1's "model")."""
    name = _source(meta_graph.saver_def.filename_tensor_name)
    node = nodes.get(name)
    signature_inputs = {
        _source(t.name) for sig in meta_graph.signature_def.values() for t in sig.inputs.values()
    }
    if node is None or name in signature_inputs:
        return None
    seen = set()
    while node is not None and node.op in ("PlaceholderWithDefault", "Identity"):
        if node.name in seen or not node.input:
            return None
        seen.add(node.name)
        node = nodes.get(_source(node.input[0]))
    if node is None:
        return None
    if node.op == "Placeholder":
        return name
    values = node.attr["value"].tensor.string_val if node.op == "Const" else []
    if len(values) == 1 and re.fullmatch(rb"[\w.-]+", values[0]) and b".." not in values[0]:
        return name
    return None


def _run_targets(meta_graph):
    """What runs without the loader's feed: every signature's outputs, the init ops."""
    targets = [t.name for sig in meta_graph.signature_def.values() for t in sig.outputs.values()]
    for key in _INIT_COLLECTIONS:
        if key in meta_graph.collection_def:
            targets += meta_graph.collection_def[key].node_list.value
    return [_source(t) for t in targets]


def _check_meta_graph(meta_graph):
    graph = meta_graph.graph_def
    nodes = {n.name: n for n in graph.node}
    root = _saver_root(meta_graph, nodes)
    roots = frozenset({root} - {None})
    functions = {f.signature.name: f for f in graph.library.function}
    saver_functions = {
        name for name, f in functions.items() if any(n.op in _SAVER_OPS for n in f.node_def)
    }

    def saves(node):
        return node.op in _SAVER_OPS or bool(set(_funcs_called(node)) & saver_functions)

    # Checkpoint operations run only from the main graph when the loader restores: never
    # from a function, never on the way to a signature's outputs or an init op.
    for f in functions.values():
        for node in f.node_def:
            if set(_funcs_called(node)) & saver_functions:
                raise ForbiddenOperator("model", node.op)
    for target in _run_targets(meta_graph):
        for name in _ancestors(nodes, target):
            if name in nodes and saves(nodes[name]):
                raise ForbiddenOperator("model", nodes[name].op)
    for node in graph.node:
        if set(_funcs_called(node)) & saver_functions and not (
            roots and _ancestors(nodes, node.name) & roots
        ):
            raise ForbiddenOperator("model", node.op)
    _check_nodes(nodes, roots)
    for name, f in functions.items():
        args = frozenset(a.name for a in f.signature.input_arg) if name in saver_functions else ()
        _check_nodes({n.name: n for n in f.node_def}, args if roots else frozenset())


def check_tf_saved_model(pb_bytes):
    """A SavedModel's saved_model.pb, before TF loads (and restores) anything."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString(pb_bytes)
    for meta_graph in saved.meta_graphs:
        _check_meta_graph(meta_graph)


# ------------------------------------------------------------------------------ TFLite


def check_tflite(blob):
    """Only built-in operators. A buffer that does not parse is left to the interpreter,
    which verifies it and fails."""
    try:
        from tensorflow.lite.python import schema_py_generated as schema

        model = schema.Model.GetRootAs(blob, 0)
        codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
        custom = schema.BuiltinOperator.CUSTOM
        found = [
            c
            for c in codes
            if max(c.BuiltinCode(), c.DeprecatedBuiltinCode()) == custom or c.CustomCode()
        ]
    except Exception:  # noqa: BLE001 - unparsable: the interpreter's verifier says why
        return
    if found:
        name = (found[0].CustomCode() or b"CUSTOM").decode("utf-8", "replace")
        raise ForbiddenOperator("model", name)
