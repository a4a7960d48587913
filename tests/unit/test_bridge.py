"""The bridge without Redis: arrays become C tensors with one copy, C tensors are seen from
NumPy and torch without one, for as long as any view lives, and a backend's outputs and
exceptions become what the C side of a run gets.

Values are compared byte for byte (`.tobytes()` is the C-order content of any array), which
also holds for NaN and -0.0, and for bfloat16, where NumPy's equality tests fall short.
"""

import ctypes
import gc

import cyrai_bridge as bridge
import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from tests.flow.error_texts import CSTRING, err

# RedisAI dtype name: (NumPy dtype, torch dtype).
DTYPES = {
    "FLOAT": (np.float32, torch.float32),
    "DOUBLE": (np.float64, torch.float64),
    "FLOAT16": (np.float16, torch.float16),
    "BFLOAT16": (ml_dtypes.bfloat16, torch.bfloat16),
    "INT8": (np.int8, torch.int8),
    "INT16": (np.int16, torch.int16),
    "INT32": (np.int32, torch.int32),
    "INT64": (np.int64, torch.int64),
    "UINT8": (np.uint8, torch.uint8),
    "UINT16": (np.uint16, torch.uint16),
    "UINT32": (np.uint32, torch.uint32),
    "UINT64": (np.uint64, torch.uint64),
    "BOOL": (np.bool_, torch.bool),
}
NAMES = list(DTYPES)
# NumPy has no bfloat16 of its own, so it cannot take one through DLPack.
NUMPY_DLPACK_NAMES = [n for n in NAMES if n != "BFLOAT16"]
NUL_ERROR = err(CSTRING)


def sample(name, shape=(3, 4)):
    """Values of dtype `name` in `shape` that include the dtype's extremes."""
    dtype = np.dtype(DTYPES[name][0])
    rng = np.random.default_rng(sum(name.encode()))
    n = int(np.prod(shape))
    if name == "BOOL":
        flat = rng.integers(0, 2, n).astype(bool)
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        flat = rng.integers(info.min, info.max, n, dtype=dtype, endpoint=True)
        flat[:2] = (info.min, info.max)[:n]
    else:
        flat = (rng.standard_normal(n) * 1000).astype(dtype)
        specials = np.array([np.inf, -np.inf, -0.0, np.nan]).astype(dtype)
        flat[: min(n, 4)] = specials[: min(n, 4)]
    return flat.reshape(shape)


def as_torch(arr):
    """The same values as a torch tensor (bfloat16 travels as its bits)."""
    if arr.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(arr.view(np.uint16)).view(torch.bfloat16)
    return torch.from_numpy(arr)


def torch_bytes(x):
    return x.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def assert_same(view, src):
    assert view.dtype == src.dtype
    assert view.shape == src.shape
    assert view.tobytes() == src.tobytes()


def scribble_over_freed(nbytes):
    """Allocations the size of a freed tensor, so a dangling view would read them."""
    return [np.full(max(nbytes, 1), 0xA5, np.uint8) for _ in range(32)]


# --- numbers, from NumPy and from torch -------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_numpy_array_becomes_tensor_with_same_values(name):
    src = sample(name)
    t = bridge.tensor_from_array(src)
    assert t.dtype == name
    assert t.shape == (3, 4)
    assert t.data_ptr != src.ctypes.data  # a copy, not the source's memory
    assert_same(t.numpy(), src)


@pytest.mark.parametrize("name", NAMES)
def test_torch_tensor_becomes_tensor_with_same_values(name):
    src = as_torch(sample(name))
    t = bridge.tensor_from_array(src)
    assert t.dtype == name
    assert t.shape == (3, 4)
    assert t.data_ptr != src.data_ptr()
    view = t.torch()
    assert view.dtype == src.dtype
    assert view.shape == src.shape
    assert torch_bytes(view) == torch_bytes(src)


@pytest.mark.parametrize("name", NAMES)
def test_torch_and_numpy_sources_give_the_same_tensor(name):
    src = sample(name)
    from_np = bridge.tensor_from_numpy(src)
    from_torch = bridge.tensor_from_torch(as_torch(src))
    assert from_np.dtype == from_torch.dtype == name
    assert from_np.numpy().tobytes() == from_torch.numpy().tobytes()


@pytest.mark.parametrize("name", NAMES)
def test_tensor_is_a_copy_the_source_cannot_change(name):
    src = sample(name)
    expected = src.copy()
    t = bridge.tensor_from_array(src)
    src.view(np.uint8)[...] = 0xFF if name != "BOOL" else 0
    assert t.numpy().tobytes() == expected.tobytes()


# --- views share the tensor's memory ---------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_numpy_and_torch_views_share_the_tensor_memory(name):
    t = bridge.tensor_from_array(sample(name))
    view = t.numpy()
    torch_view = t.torch()
    assert view.ctypes.data == t.data_ptr
    assert torch_view.data_ptr() == t.data_ptr
    assert np.asarray(t).ctypes.data == t.data_ptr


@pytest.mark.parametrize("name", NAMES)
def test_numpy_view_is_read_only(name):
    t = bridge.tensor_from_array(sample(name))
    view = t.numpy()
    assert not view.flags.writeable
    with pytest.raises(ValueError):
        view[...] = view[(0,) * view.ndim]
    with pytest.raises(ValueError):
        view.setflags(write=True)
    assert memoryview(t).readonly


def test_writable_buffer_is_refused():
    t = bridge.tensor_from_array(np.arange(4, dtype=np.float32))
    with pytest.raises(TypeError, match="not writable"):
        (ctypes.c_char * 16).from_buffer(t)


def test_buffer_has_the_tensor_layout():
    t = bridge.tensor_from_array(np.zeros((2, 3, 5), np.int16))
    m = memoryview(t)
    assert (m.format, m.itemsize, m.shape, m.nbytes) == ("h", 2, (2, 3, 5), 60)
    assert m.c_contiguous


# --- non-contiguous sources ------------------------------------------------------------

NUMPY_CUTS = {
    "transposed": lambda a: a.T,
    "stepped": lambda a: a[::2, 1::3],
    "reversed": lambda a: a[::-1, ::-2],
    "broadcast": lambda a: np.broadcast_to(a[:1], (4, 6, 8))[:, :, ::3],
}
TORCH_CUTS = {
    "transposed": lambda x: x.t(),
    "stepped": lambda x: x[::2, 1::3],
    "expanded": lambda x: x[:1].expand(4, 6, 8)[:, :, ::3],
    "permuted": lambda x: x.reshape(2, 3, 8).permute(2, 0, 1),
}


@pytest.mark.parametrize("cut", NUMPY_CUTS)
@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_numpy_source_is_copied_correctly(name, cut):
    src = NUMPY_CUTS[cut](sample(name, (6, 8)))
    assert not src.flags.c_contiguous
    t = bridge.tensor_from_array(src)
    assert t.shape == src.shape
    view = t.numpy()
    assert view.flags.c_contiguous
    assert_same(view, src)


@pytest.mark.parametrize("cut", TORCH_CUTS)
@pytest.mark.parametrize("name", NAMES)
def test_non_contiguous_torch_source_is_copied_correctly(name, cut):
    src = TORCH_CUTS[cut](as_torch(sample(name, (6, 8))))
    assert not src.is_contiguous()
    t = bridge.tensor_from_array(src)
    assert t.shape == tuple(src.shape)
    view = t.torch()
    assert view.is_contiguous()
    assert torch_bytes(view) == torch_bytes(src)


def test_byte_swapped_source_is_stored_in_host_order():
    src = np.arange(-3, 3, dtype=">i4")
    t = bridge.tensor_from_array(src)
    assert t.dtype == "INT32"
    assert t.numpy().tolist() == list(range(-3, 3))


@settings(max_examples=150, deadline=None)
@given(
    src=hnp.arrays(
        st.sampled_from(
            [np.float32, np.float64, np.float16, np.int8, np.int64, np.uint16, np.uint64, np.bool_]
        ),
        hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
    ),
    step=st.integers(-3, 3).filter(bool),
)
def test_any_numpy_array_round_trips(src, step):
    if src.ndim:
        src = src[..., ::step]
    assert_same(bridge.tensor_from_array(src).numpy(), src)


# --- views outlive the Tensor object ---------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_numpy_view_keeps_the_tensor_alive(name):
    src = sample(name, (64, 64))
    t = bridge.tensor_from_array(src)
    view, ptr = t.numpy(), t.data_ptr
    del t
    gc.collect()
    junk = scribble_over_freed(src.nbytes)
    assert view.ctypes.data == ptr
    assert_same(view, src)
    del junk


@pytest.mark.parametrize("name", NAMES)
def test_torch_view_keeps_the_tensor_alive(name):
    src = sample(name, (64, 64))
    t = bridge.tensor_from_array(src)
    view, ptr = t.torch(), t.data_ptr
    del t
    gc.collect()
    junk = scribble_over_freed(src.nbytes)
    assert view.data_ptr() == ptr
    assert torch_bytes(view) == torch_bytes(as_torch(src))
    del junk


def test_unconsumed_dlpack_capsule_keeps_the_tensor_alive():
    src = np.arange(4096, dtype=np.float64)
    t = bridge.tensor_from_array(src)
    capsule, ptr = t.__dlpack__(), t.data_ptr
    unused = t.__dlpack__()
    del t, unused  # a capsule nobody consumed releases its reference itself
    gc.collect()
    junk = scribble_over_freed(src.nbytes)
    view = torch.utils.dlpack.from_dlpack(capsule)
    assert view.data_ptr() == ptr
    assert view.numpy().tobytes() == src.tobytes()
    del junk


# --- DLPack ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_torch_from_dlpack_shares_memory(name):
    src = sample(name)
    t = bridge.tensor_from_array(src)
    view = torch.from_dlpack(t)
    assert view.data_ptr() == t.data_ptr
    assert view.dtype == DTYPES[name][1]
    assert torch_bytes(view) == src.tobytes()


@pytest.mark.parametrize("name", NUMPY_DLPACK_NAMES)
def test_numpy_from_dlpack_shares_memory(name):
    src = sample(name)
    t = bridge.tensor_from_array(src)
    view = np.from_dlpack(t)
    assert view.ctypes.data == t.data_ptr
    assert not view.flags.writeable
    assert_same(view, src)


def test_numpy_from_dlpack_refuses_bfloat16():
    t = bridge.tensor_from_array(sample("BFLOAT16"))
    with pytest.raises(RuntimeError, match="Unsupported dtype"):
        np.from_dlpack(t)


def test_dlpack_copy_gives_memory_the_consumer_owns():
    src = np.arange(6, dtype=np.float32)
    t = bridge.tensor_from_array(src)
    copy = torch.from_dlpack(t, copy=True)
    assert copy.data_ptr() != t.data_ptr
    copy += 1  # must not reach the (immutable) tensor
    assert t.numpy().tolist() == src.tolist()
    assert np.from_dlpack(t, copy=True).ctypes.data != t.data_ptr


def test_dlpack_device_is_cpu_and_other_devices_are_refused():
    t = bridge.tensor_from_array(np.zeros(2, np.float32))
    assert t.__dlpack_device__() == (1, 0)
    assert t.__dlpack__(dl_device=(1, 0)) is not None
    with pytest.raises(BufferError):
        t.__dlpack__(dl_device=(2, 0))


# --- STRING ----------------------------------------------------------------------------


def test_object_array_of_bytes_round_trips():
    src = np.array([[b"a", b"bc"], [b"", b"\xff\xfe\x01"]], dtype=object)
    t = bridge.tensor_from_array(src)
    assert t.dtype == "STRING"
    assert t.shape == (2, 2)
    out = t.numpy()
    assert out.dtype == object
    assert out.tolist() == src.tolist()


def test_bytes_array_round_trips():
    src = np.array([b"x", b"yz", b"abc"])
    t = bridge.tensor_from_array(src)
    assert t.dtype == "STRING"
    assert t.numpy().tolist() == [b"x", b"yz", b"abc"]


def test_str_array_is_stored_as_utf8():
    t = bridge.tensor_from_array(np.array(["héllo", "w"]))
    assert t.dtype == "STRING"
    assert t.numpy().tolist() == ["héllo".encode(), b"w"]


def test_zero_dim_string_tensor():
    t = bridge.tensor_from_array(np.array(b"abc", dtype=object))
    assert t.shape == ()
    out = t.numpy()
    assert out.shape == ()
    assert out[()] == b"abc"


@pytest.mark.parametrize(
    "src",
    [
        np.array([b"ok", b"a\0b"], dtype=object),
        np.array([b"ok", b"a\0b"]),
        np.array(["ok", "a\0b"]),
    ],
    ids=["object", "bytes", "str"],
)
def test_embedded_nul_raises(src):
    with pytest.raises(bridge.TensorError, match=f"^{NUL_ERROR}$"):
        bridge.tensor_from_array(src)


def test_string_tensor_has_no_buffer_or_dlpack_view():
    t = bridge.tensor_from_array(np.array([b"a"], dtype=object))
    with pytest.raises(BufferError):
        memoryview(t)
    with pytest.raises(BufferError):
        t.__dlpack__()
    with pytest.raises(BufferError):
        t.torch()


# --- what is refused -------------------------------------------------------------------


@pytest.mark.parametrize(
    "src",
    [
        np.array([1 + 2j], np.complex64),
        np.array([[1j, 2]], np.complex128),
        torch.tensor([1 + 2j], dtype=torch.complex64),
        torch.tensor([1j], dtype=torch.complex128),
    ],
    ids=["np64", "np128", "torch64", "torch128"],
)
def test_complex_raises(src):
    with pytest.raises(bridge.TensorError, match="unsupported"):
        bridge.tensor_from_array(src)


@pytest.mark.parametrize(
    "src",
    [
        np.array([1], np.longdouble),
        np.array(["2020-01-01"], "datetime64[D]"),
        np.array([1], ml_dtypes.float8_e4m3fn),
        np.array([(1, 2)], "i4,i4"),
    ],
    ids=["longdouble", "datetime", "float8", "record"],
)
def test_other_unsupported_dtypes_raise(src):
    with pytest.raises(bridge.TensorError, match="unsupported"):
        bridge.tensor_from_array(src)


def test_tensor_cannot_be_made_directly():
    with pytest.raises(TypeError):
        bridge.Tensor()


# --- shapes ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_zero_dim_tensor(name):
    src = sample(name, ())
    t = bridge.tensor_from_array(src)
    assert t.dtype == name
    assert t.shape == ()
    view = t.numpy()
    assert view.ctypes.data == t.data_ptr
    assert_same(view, src)
    torch_view = t.torch()
    assert torch_view.shape == torch.Size([])
    assert torch_view.data_ptr() == t.data_ptr
    assert torch_bytes(torch_view) == src.tobytes()


@pytest.mark.parametrize(
    "scalar, name",
    [
        (np.float32(2.5), "FLOAT"),
        (np.uint8(7), "UINT8"),
        (torch.tensor(3), "INT64"),
        (torch.tensor(True), "BOOL"),
    ],
)
def test_scalars_become_zero_dim_tensors(scalar, name):
    t = bridge.tensor_from_array(scalar)
    assert (t.dtype, t.shape) == (name, ())
    assert t.numpy()[()] == scalar.item()


@pytest.mark.parametrize("name", NAMES)
def test_empty_tensor(name):
    src = sample(name, (0, 3))
    t = bridge.tensor_from_array(src)
    assert t.shape == (0, 3)
    assert t.numpy().shape == (0, 3)
    assert t.torch().shape == torch.Size([0, 3])


# --- tensor_from_array takes anything array-like ---------------------------------------


@pytest.mark.parametrize(
    "obj, name", [([[1, 2], [3, 4]], "INT64"), ([1.5], "DOUBLE"), ([True, False], "BOOL")]
)
def test_lists_become_tensors(obj, name):
    t = bridge.tensor_from_array(obj)
    assert t.dtype == name
    assert t.numpy().tolist() == obj


def test_torch_subclasses_and_grad_tensors_are_taken():
    param = torch.nn.Parameter(torch.arange(3, dtype=torch.float32))
    t = bridge.tensor_from_array(param)
    assert t.dtype == "FLOAT"
    assert t.numpy().tolist() == [0.0, 1.0, 2.0]
    t = bridge.tensor_from_array(torch.ones(2, requires_grad=True) * 2)
    assert t.numpy().tolist() == [2.0, 2.0]


@pytest.mark.parametrize("name", NAMES)
def test_tensor_source_is_copied_with_its_dtype(name):
    src = bridge.tensor_from_array(sample(name))
    t = bridge.tensor_from_array(src)
    assert t.dtype == name
    assert t.data_ptr != src.data_ptr
    assert_same(t.numpy(), src.numpy())


def test_string_tensor_source_is_copied():
    src = bridge.tensor_from_array(np.array([b"a", b"bc"], dtype=object))
    t = bridge.tensor_from_array(src)
    assert t.dtype == "STRING"
    assert t.numpy().tolist() == [b"a", b"bc"]


# --- dtypes resolved once stay right ---------------------------------------------------


@pytest.mark.parametrize(
    "dtype, name",
    [(">i4", "INT32"), (">f8", "DOUBLE"), (np.longlong, "INT64"), (np.intc, "INT32")],
)
def test_byte_swapped_and_alias_dtypes_convert_the_same_every_time(dtype, name):
    src = np.arange(-3, 3).astype(dtype)
    for _ in range(3):  # the first call resolves the dtype, the next ones look it up
        t = bridge.tensor_from_array(src)
        assert t.dtype == name
        assert t.numpy().tolist() == src.tolist()


# --- a backend's run through bridge_model_run: outputs and errors ----------------------
# The C entry point, called as the worker calls it (ctypes holds the GIL; the bridge takes
# it again re-entrantly). Outputs are read back as the inputs of a second run.


class AIError(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("detail", ctypes.c_char_p)]


LIB = ctypes.PyDLL(bridge.__file__)
LIB.bridge_model_run.argtypes = [
    ctypes.py_object,
    ctypes.POINTER(ctypes.c_void_p),
    ctypes.c_int,
    ctypes.POINTER(ctypes.c_void_p),
    ctypes.c_int,
    ctypes.POINTER(AIError),
]
LIB.bridge_backend_load.argtypes = [ctypes.c_char_p, ctypes.POINTER(AIError)]
LIB.tensor_release.argtypes = [ctypes.c_void_p]
LIB.ai_error_clear.argtypes = [ctypes.POINTER(AIError)]
LIB.ai_err_text.argtypes = [ctypes.c_int]
LIB.ai_err_text.restype = ctypes.c_char_p


class FakeModel:
    """Returns fixed outputs, raises a fixed exception, or records what it was given."""

    def __init__(self, outputs=(), error=None):
        self.outputs, self.error, self.seen = list(outputs), error, None

    def run(self, inputs):
        if self.error is not None:
            raise self.error
        # STRING inputs arrive as arrays of bytes, the others as Tensors.
        self.seen = [
            (x.dtype, x.numpy().copy()) if isinstance(x, bridge.Tensor) else ("STRING", x)
            for x in inputs
        ]
        return self.outputs


def reply_text(err):
    """The text a client would get for err: its detail, or the text of its code."""
    if err.detail:
        return err.detail.decode()
    return LIB.ai_err_text(err.code).decode() if err.code else None


def model_run(model, inputs=None, noutputs=0):
    """(rc, C tensors made, the error's reply text) of one bridge_model_run."""
    inputs = inputs or []
    c_in = (ctypes.c_void_p * max(len(inputs), 1))(*inputs)
    c_out = (ctypes.c_void_p * max(noutputs, 1))()
    err = AIError()
    rc = LIB.bridge_model_run(model, c_in, len(inputs), c_out, noutputs, ctypes.byref(err))
    detail = reply_text(err)
    LIB.ai_error_clear(ctypes.byref(err))
    return rc, list(c_out[:noutputs]), detail


def run_outputs(outputs):
    """[(dtype name, NumPy copy)] of the C tensors a model returning outputs gives."""
    rc, tensors, detail = model_run(FakeModel(outputs), noutputs=len(outputs))
    assert (rc, detail) == (0, None)
    reader = FakeModel()
    try:
        assert model_run(reader, tensors)[0] == 0
    finally:
        for ptr in tensors:
            LIB.tensor_release(ptr)
    return reader.seen


@pytest.mark.parametrize("name", NAMES)
def test_numpy_and_torch_outputs_become_tensors_with_same_values(name):
    src = sample(name)
    (np_name, from_np), (torch_name, from_torch) = run_outputs([src, as_torch(src)])
    assert np_name == torch_name == name
    assert_same(from_np, src)
    assert_same(from_torch, src)


def test_non_contiguous_byte_swapped_and_string_outputs():
    src = sample("INT32", (4, 6))
    outs = [src[:, ::2], src.astype(">i4"), as_torch(src).t(), np.array([b"a", b"bc"])]
    seen = run_outputs(outs)
    assert [name for name, _ in seen] == ["INT32", "INT32", "INT32", "STRING"]
    assert_same(seen[0][1], src[:, ::2])
    assert_same(seen[1][1], src)
    assert_same(seen[2][1], src.T)
    assert seen[3][1].tolist() == [b"a", b"bc"]


def test_wrong_output_count_fails_the_run():
    rc, tensors, detail = model_run(FakeModel([np.zeros(1), np.zeros(1)]), noutputs=1)
    assert (rc, tensors, detail) == (-1, [None], "model returned 2 outputs, expected 1")


def test_backend_text_is_the_error_detail_as_it_is():
    # One line is made of it where it becomes a reply (ai_reply_error), not here.
    from backends import BackendError

    rc, _, detail = model_run(FakeModel(error=BackendError("ERR first\nsecond")), noutputs=1)
    assert (rc, detail) == (-1, "ERR first\nsecond")


def test_spec_texts_of_backend_errors_come_from_the_server():
    import backends

    err = AIError()
    assert LIB.bridge_backend_load(b"NO_SUCH_BACKEND", ctypes.byref(err)) == -1
    assert err.detail == b"ERR Could not load backend"
    LIB.ai_error_clear(ctypes.byref(err))
    model = FakeModel(error=backends.InvalidDevice())
    assert model_run(model, noutputs=1)[2] == "ERR Invalid DEVICE"


def test_exception_without_text_or_with_a_failing_str():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no")

    assert model_run(FakeModel(error=KeyError()), noutputs=1)[2] == "KeyError"
    assert model_run(FakeModel(error=Unprintable()), noutputs=1)[2] == "Unprintable"
