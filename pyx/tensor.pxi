# C tensors seen from Python, and Python arrays made into C tensors.
#
# A Tensor holds one reference to an AITensor. NumPy sees its data through the buffer
# protocol and torch through DLPack, both without a copy; the reference lives as long as
# any view does. An array or torch tensor becomes a C tensor with exactly one copy, into
# memory from the Redis allocator.

from cpython.buffer cimport PyBUF_WRITABLE, PyBUF_FORMAT, PyBUF_ND
from cpython.pycapsule cimport PyCapsule_Destructor, PyCapsule_New, PyCapsule_IsValid, PyCapsule_GetPointer
from libc.string cimport memcpy

import sys

import numpy as np

cdef dict _BUFFER_FORMATS = {
    b"FLOAT": b"f", b"DOUBLE": b"d", b"FLOAT16": b"e", b"BFLOAT16": b"H",
    b"INT8": b"b", b"INT16": b"h", b"INT32": b"i", b"INT64": b"q",
    b"UINT8": b"B", b"UINT16": b"H", b"UINT32": b"I", b"UINT64": b"Q", b"BOOL": b"?",
}


class TensorError(ValueError):
    """A tensor that cannot be made or viewed; its text is the reply the client gets."""


cdef void _dlpack_deleter(DLManagedTensor *managed) noexcept nogil:
    tensor_release(<AITensor *>managed.manager_ctx)
    RedisModule_Free(managed)


cdef void _capsule_destructor(object capsule) noexcept:
    # A capsule nobody consumed still owns its DLManagedTensor.
    if PyCapsule_IsValid(capsule, b"dltensor"):
        _dlpack_deleter(<DLManagedTensor *>PyCapsule_GetPointer(capsule, b"dltensor"))


cdef class Tensor:
    """One reference to a C tensor."""

    cdef AITensor *ptr
    cdef bint writable  # only while a fresh tensor is being filled, before anyone sees it
    cdef Py_ssize_t[64] _shape

    def __init__(self, *args, **kwargs):
        # Only the bridge makes Tensors (Tensor.wrap skips __init__); one made from Python
        # would hold no C tensor and crash on first use.
        raise TypeError("Tensor cannot be created directly; use tensor_from_array")

    @staticmethod
    cdef Tensor wrap(AITensor *ptr):
        """Takes over one reference to ptr."""
        cdef Tensor t = Tensor.__new__(Tensor)
        t.ptr = ptr
        return t

    def __dealloc__(self):
        if self.ptr is not NULL:
            tensor_release(self.ptr)

    @property
    def dtype(self):
        return self.ptr.dtype.name.decode()

    @property
    def shape(self):
        return tuple(self.ptr.dl.shape[i] for i in range(self.ptr.dl.ndim))

    @property
    def data_ptr(self):
        return <size_t>self.ptr.dl.data

    def __getbuffer__(self, Py_buffer *buf, int flags):
        # The format strings live in a module-level dict, so their pointers stay valid.
        fmt = _BUFFER_FORMATS.get(self.ptr.dtype.name)
        if fmt is None:
            raise BufferError("STRING tensors have no buffer view")
        if (flags & PyBUF_WRITABLE) and not self.writable:
            raise BufferError("tensors are immutable")
        cdef char *c_fmt = fmt
        cdef int i
        for i in range(self.ptr.dl.ndim):
            self._shape[i] = self.ptr.dl.shape[i]
        buf.buf = self.ptr.dl.data
        buf.obj = self
        buf.len = self.ptr.nbytes
        buf.readonly = not self.writable
        buf.itemsize = self.ptr.dtype.size
        buf.format = c_fmt if flags & PyBUF_FORMAT else NULL
        buf.ndim = self.ptr.dl.ndim
        buf.shape = self._shape if flags & PyBUF_ND else NULL
        buf.strides = NULL
        buf.suboffsets = NULL
        buf.internal = NULL

    def __releasebuffer__(self, Py_buffer *buf):
        pass

    def __dlpack__(self, stream=None, *, max_version=None, dl_device=None, copy=None):
        if self.ptr.dtype.code == AI_DL_STRING:
            raise BufferError("STRING tensors have no DLPack view")
        if dl_device is not None and tuple(dl_device) != (1, 0):
            raise BufferError("tensors live on the CPU")
        # copy=True asks for memory the consumer owns (torch then writes to it freely):
        # a shared view would let it change a stored tensor.
        cdef AITensor *src = _copy_of(self.ptr) if copy else tensor_share(self.ptr)
        cdef DLManagedTensor *managed = <DLManagedTensor *>RedisModule_Alloc(sizeof(DLManagedTensor))
        managed.dl_tensor = src.dl
        managed.manager_ctx = src
        managed.deleter = _dlpack_deleter
        return PyCapsule_New(managed, b"dltensor", <PyCapsule_Destructor>_capsule_destructor)

    def __dlpack_device__(self):
        return (1, 0)  # kDLCPU

    def numpy(self):
        """A read-only NumPy view of the data (STRING: an object array of bytes, a copy)."""
        if self.ptr.dtype.code == AI_DL_STRING:
            return _strings_array(self)
        arr = np.asarray(self)
        if self.ptr.dtype.code == kDLBfloat:
            import ml_dtypes
            arr = arr.view(ml_dtypes.bfloat16)
        return arr

    def torch(self):
        """A torch view of the data through DLPack."""
        import torch
        return torch.from_dlpack(self)


cdef AITensor *_copy_of(AITensor *src) except NULL:
    """A new reference to a new tensor with src's numbers."""
    cdef Tensor t = _alloc_like(src.dtype, tuple(src.dl.shape[i] for i in range(src.dl.ndim)),
                                src.nbytes)
    memcpy(t.ptr.dl.data, src.dl.data, src.nbytes)
    return tensor_share(t.ptr)


cdef object _strings_array(Tensor t):
    cdef int64_t n = tensor_length(t.ptr)
    cdef size_t length
    cdef const char *s
    out = np.empty(n, dtype=object)
    for i in range(n):
        s = tensor_string_at(t.ptr, i, &length)
        out[i] = s[:length]
    return out.reshape(t.shape)


cdef const AIDType *_dtype_of(object kind, int itemsize, bint bfloat) except NULL:
    cdef unsigned code
    if bfloat:
        code = kDLBfloat
    elif kind == "f":
        code = 2
    elif kind == "i":
        code = 0
    elif kind == "u":
        code = 1
    elif kind == "b":
        code = AI_DL_BOOL
    else:
        raise TensorError(f"unsupported output dtype kind '{kind}'")
    cdef const AIDType *d = ai_dtype_by_code(code, itemsize * 8)
    if d is NULL:
        raise TensorError(f"unsupported output dtype ({kind}, {itemsize} bytes)")
    return d


cdef Tensor _alloc_like(const AIDType *dtype, tuple shape, size_t nbytes):
    cdef int64_t[64] dims
    cdef AIError err
    err.code = 0
    err.detail = NULL
    if len(shape) > 64:
        raise TensorError("too many dimensions")
    for i, d in enumerate(shape):
        dims[i] = d
    cdef AITensor *ptr = tensor_alloc(dtype, dims, len(shape), nbytes, &err)
    if ptr is NULL:
        msg = ai_err_text(err.code).decode()
        ai_error_clear(&err)
        raise TensorError(msg)
    return Tensor.wrap(ptr)


def tensor_from_numpy(arr):
    """A new C tensor holding a copy of a NumPy array (any strides)."""
    if isinstance(arr, Tensor):
        # Its raw buffer would turn BFLOAT16 into UINT16 and STRING into one repr string.
        arr = (<Tensor>arr).numpy()
    arr = np.asarray(arr)
    if arr.dtype.kind in "OSU":
        return _strings_tensor(arr)
    cdef const AIDType *dtype = _dtype_of(arr.dtype.kind, arr.dtype.itemsize,
                                          arr.dtype.name == "bfloat16")
    cdef Tensor t = _alloc_like(dtype, arr.shape, arr.nbytes)
    t.writable = True
    try:
        dst = np.asarray(t)
        np.copyto(dst, arr.view(dst.dtype) if arr.dtype.name == "bfloat16" else arr)
    finally:
        t.writable = False
    return t


def tensor_from_torch(src):
    """A new C tensor holding a copy of a CPU torch tensor (any strides)."""
    import torch
    if src.is_complex() or src.is_quantized:
        raise TensorError(f"unsupported output dtype {src.dtype}")
    src = src.detach()
    kind = "b" if src.dtype == torch.bool else "f" if src.is_floating_point() else (
        "i" if src.dtype.is_signed else "u")
    cdef const AIDType *dtype = _dtype_of(kind, src.element_size(), src.dtype == torch.bfloat16)
    cdef Tensor t = _alloc_like(dtype, tuple(src.shape), src.numel() * src.element_size())
    torch.from_dlpack(t).copy_(src)
    return t


def tensor_from_array(obj):
    """A new C tensor from a NumPy array, a torch tensor or anything array-like."""
    # torch is looked up, not imported: if nobody imported it, obj is no torch tensor.
    # isinstance, not the type's module name, so subclasses (nn.Parameter) count too.
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, torch.Tensor):
        return tensor_from_torch(obj)
    return tensor_from_numpy(obj)


cdef Tensor _strings_tensor(arr):
    items = [x if isinstance(x, bytes) else str(x).encode() for x in arr.reshape(-1)]
    for x in items:
        if b"\0" in x:
            raise TensorError("ERR C-string value contains null character")
    blob = b"".join(x + b"\0" for x in items)
    cdef int64_t[64] dims
    for i, d in enumerate(arr.shape):
        dims[i] = d
    cdef AIError err
    err.code = 0
    err.detail = NULL
    cdef const AIDType *dtype = ai_dtype_by_name(b"STRING", 6)
    cdef AITensor *ptr = tensor_new_from_blob(dtype, dims, arr.ndim, blob, len(blob), &err)
    if ptr is NULL:
        msg = ai_err_text(err.code).decode()
        ai_error_clear(&err)
        raise TensorError(msg)
    return Tensor.wrap(ptr)
