# Conversions between C tensors and Python arrays, through one dtype table.
#
# Each RedisAI dtype appears once below with its buffer-protocol format, its NumPy dtype
# and its torch dtype; its DLPack code and bits come from the C table (src/tensor.c).
# Every direction uses it: a C tensor's buffer view (Tensor.__getbuffer__), NumPy arrays
# and torch tensors made into C tensors, and a backend's outputs. The lookups are built
# once: the C rows and the NumPy dict at import, the torch dict the first time a torch
# tensor is seen (torch costs a second to import; only its backend needs it). A NumPy
# dtype the dict does not know yet (bfloat16, an alias) is resolved once and remembered.
#
# An array or torch tensor becomes a C tensor with exactly one copy, into memory from the
# Redis allocator. A backend's output that is already contiguous CPU memory of a known
# dtype takes one memcpy; the general conversion (any strides, strings) costs several
# microseconds more per tensor.

# name, buffer format (struct module), NumPy dtype name, torch dtype name.
_DTYPE_TABLE = (
    (b"FLOAT", b"f", "float32", "float32"),
    (b"DOUBLE", b"d", "float64", "float64"),
    (b"FLOAT16", b"e", "float16", "float16"),
    (b"BFLOAT16", b"H", "bfloat16", "bfloat16"),  # NumPy reads its bits as uint16
    (b"INT8", b"b", "int8", "int8"),
    (b"INT16", b"h", "int16", "int16"),
    (b"INT32", b"i", "int32", "int32"),
    (b"INT64", b"q", "int64", "int64"),
    (b"UINT8", b"B", "uint8", "uint8"),
    (b"UINT16", b"H", "uint16", "uint16"),
    (b"UINT32", b"I", "uint32", "uint32"),
    (b"UINT64", b"Q", "uint64", "uint64"),
    (b"BOOL", b"?", "bool", "bool"),
)

cdef struct DTypeRow:
    const AIDType *ai
    const char *buffer_format  # points into _DTYPE_TABLE, which lives as long as the module
    bint numpy_buffer  # NumPy exports arrays of it through the buffer protocol

cdef DTypeRow _ROWS[16]
cdef int _NROWS = 0
cdef int _BFLOAT16_ROW = -1

# NumPy dtype (native byte order) -> row index; torch dtype -> row index.
cdef dict _NUMPY_ROWS = {}
cdef dict _TORCH_ROWS = None
cdef object _TorchTensor = None
cdef object _ndarray = np.ndarray


cdef void _build_rows() except *:
    global _NROWS, _BFLOAT16_ROW
    assert len(_DTYPE_TABLE) <= 16
    for i, (name, fmt, numpy_name, _) in enumerate(_DTYPE_TABLE):
        _ROWS[i].ai = ai_dtype_by_name(name, len(name))
        if _ROWS[i].ai is NULL:
            raise RuntimeError(f"the C tensor layer has no dtype {name.decode()}")
        _ROWS[i].buffer_format = fmt
        _ROWS[i].numpy_buffer = numpy_name != "bfloat16"
        if numpy_name == "bfloat16":
            _BFLOAT16_ROW = i
        else:
            _NUMPY_ROWS[np.dtype(numpy_name)] = i
    _NROWS = len(_DTYPE_TABLE)


_build_rows()


cdef const char *_buffer_format(const AIDType *dtype) noexcept nogil:
    """The buffer format of a dtype's elements, or NULL (STRING)."""
    cdef int i
    for i in range(_NROWS):
        if _ROWS[i].ai == dtype:
            return _ROWS[i].buffer_format
    return NULL


# --- NumPy and torch dtypes -> C dtypes ---------------------------------------------------


cdef int _numpy_row(object dtype) except -1:
    """The row of a NumPy dtype, resolved once per dtype."""
    row = _NUMPY_ROWS.get(dtype)
    if row is not None:
        return row
    if dtype.name == "bfloat16":
        row = _BFLOAT16_ROW
    else:
        row = _row_of(dtype.kind, dtype.itemsize)
    if dtype.isnative:  # a byte-swapped array is converted, never copied as it is
        _NUMPY_ROWS[dtype] = row
    return row


cdef int _row_of(str kind, int itemsize) except -1:
    """The row of a dtype by kind and size (a NumPy alias, or what the table lacks)."""
    cdef unsigned code
    if kind == "f":
        code = kDLFloat
    elif kind == "i":
        code = kDLInt
    elif kind == "u":
        code = kDLUInt
    elif kind == "b":
        code = AI_DL_BOOL
    else:
        raise TensorError(f"unsupported output dtype kind '{kind}'")
    cdef const AIDType *d = ai_dtype_by_code(code, itemsize * 8)
    cdef int i
    for i in range(_NROWS if d is not NULL else 0):
        if _ROWS[i].ai == d:
            return i
    raise TensorError(f"unsupported output dtype ({kind}, {itemsize} bytes)")


cdef bint _is_torch(object obj):
    """Whether obj is a torch tensor (subclasses such as nn.Parameter too). torch is looked
    up, not imported: if nobody imported it, obj is no torch tensor."""
    if _TorchTensor is None and not _torch_seen():
        return False
    return isinstance(obj, _TorchTensor)


cdef bint _torch_seen():
    """Learns torch's tensor type and dtypes once torch has been imported."""
    global _TorchTensor, _TORCH_ROWS
    torch = sys.modules.get("torch")
    tensor_type = getattr(torch, "Tensor", None)  # None while torch is still importing
    if tensor_type is None:
        return False
    _TORCH_ROWS = {getattr(torch, row[3]): i for i, row in enumerate(_DTYPE_TABLE)}
    _TorchTensor = tensor_type
    return True


cdef int _torch_row(object src) except -1:
    """The row of a torch tensor's dtype."""
    if _TORCH_ROWS is None:
        _torch_seen()
    row = _TORCH_ROWS.get(src.dtype)
    if row is not None:
        return row
    if src.is_complex() or src.is_quantized:
        raise TensorError(f"unsupported output dtype {src.dtype}")
    kind = "f" if src.is_floating_point() else "i" if src.dtype.is_signed else "u"
    return _row_of(kind, src.element_size())


# --- Python arrays -> C tensors -----------------------------------------------------------


def tensor_from_numpy(arr):
    """A new C tensor holding a copy of a NumPy array (any strides)."""
    if isinstance(arr, Tensor):
        # Its raw buffer would turn BFLOAT16 into UINT16 and STRING into one repr string.
        arr = (<Tensor>arr).numpy()
    arr = np.asarray(arr)
    if arr.dtype.kind in "OSU":
        return _strings_tensor(arr)
    cdef int row = _numpy_row(arr.dtype)
    cdef Tensor t = _alloc_like(_ROWS[row].ai, arr.shape, arr.nbytes)
    t.writable = True
    try:
        dst = np.asarray(t)
        np.copyto(dst, arr if _ROWS[row].numpy_buffer else arr.view(dst.dtype))
    finally:
        t.writable = False
    return t


def tensor_from_torch(src):
    """A new C tensor holding a copy of a CPU torch tensor (any strides)."""
    import torch
    cdef int row = _torch_row(src)
    src = src.detach()
    cdef Tensor t = _alloc_like(_ROWS[row].ai, tuple(src.shape),
                                src.numel() * src.element_size())
    torch.from_dlpack(t).copy_(src)
    return t


def tensor_from_array(obj):
    """A new C tensor from a NumPy array, a torch tensor or anything array-like."""
    if _is_torch(obj):
        return tensor_from_torch(obj)
    return tensor_from_numpy(obj)


cdef Tensor _strings_tensor(arr):
    items = [x if isinstance(x, bytes) else str(x).encode() for x in arr.reshape(-1)]
    for x in items:
        if b"\0" in x:
            raise TensorError(_code_text(AI_ERR_CSTRING_NUL))
    blob = b"".join(x + b"\0" for x in items)
    cdef int64_t[64] dims
    for i, d in enumerate(arr.shape):
        dims[i] = d
    cdef AIError err
    _error_init(&err)
    cdef AITensor *ptr = tensor_new_from_blob(ai_dtype_by_name(b"STRING", 6), dims, arr.ndim,
                                              blob, len(blob), &err)
    if ptr is NULL:
        raise _c_error(TensorError, &err)
    return Tensor.wrap(ptr)


# --- a backend's inputs and outputs -------------------------------------------------------


cdef object _input_view(AITensor *ptr):
    """What a backend receives for an input: the Tensor itself (buffer protocol and
    DLPack, both zero-copy), or for strings an array of bytes."""
    cdef Tensor t = Tensor.wrap(tensor_share(ptr))
    return t.numpy() if ptr.dtype.code == AI_DL_STRING else t


cdef Tensor _output_tensor(object r):
    """A backend's output as a new C tensor."""
    if type(r) is _ndarray:
        return _numpy_output(r)
    if _is_torch(r):
        return _torch_output(r)
    return tensor_from_array(r)


cdef Tensor _copy_contiguous(const AIDType *dtype, tuple shape, const void *src, size_t nbytes):
    cdef Tensor t = _alloc_like(dtype, shape, nbytes)
    memcpy(t.ptr.dl.data, src, nbytes)
    return t


cdef Tensor _torch_output(object r):
    row = _TORCH_ROWS.get(r.dtype)
    if row is None or r.device.type != "cpu" or not r.is_contiguous():
        return tensor_from_torch(r)
    return _copy_contiguous(_ROWS[<int>row].ai, tuple(r.shape),
                            <const void *><size_t>r.data_ptr(), r.numel() * r.element_size())


cdef Tensor _numpy_output(object r):
    cdef Py_buffer view
    row = _NUMPY_ROWS.get(r.dtype)
    if row is None or not _ROWS[<int>row].numpy_buffer or not r.flags.c_contiguous:
        return tensor_from_numpy(r)
    PyObject_GetBuffer(r, &view, PyBUF_C_CONTIGUOUS)
    try:
        return _copy_contiguous(_ROWS[<int>row].ai, r.shape, view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


# --- name lists -------------------------------------------------------------------------


cdef list _names_list(const AINames *names):
    """A C name list as str, or None when it is absent or empty."""
    if names is NULL:
        return None
    return [names.names[i].decode() for i in range(names.count)] or None


cdef void _names_fill(AINames *dst, list names) noexcept:
    """Fills dst (which the caller owns from now on) with copies of names."""
    dst.count = len(names)
    dst.names = <char **>RedisModule_Alloc(sizeof(char *) * (len(names) or 1))
    for i, name in enumerate(names):
        dst.names[i] = RedisModule_Strdup(name.encode())
