# C tensors seen from Python.
#
# A Tensor holds one reference to an AITensor. NumPy sees its data through the buffer
# protocol and torch through DLPack, both without a copy; the reference lives as long as
# any view does. Python arrays become C tensors in convert.pxi.

from cpython.buffer cimport PyBUF_WRITABLE, PyBUF_FORMAT, PyBUF_ND
from cpython.pycapsule cimport PyCapsule_Destructor, PyCapsule_New, PyCapsule_IsValid, PyCapsule_GetPointer


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
        # The format strings live as long as the module (the dtype table of convert.pxi).
        cdef const char *c_fmt = _buffer_format(self.ptr.dtype)
        if c_fmt is NULL:
            raise BufferError("STRING tensors have no buffer view")
        if (flags & PyBUF_WRITABLE) and not self.writable:
            raise BufferError("tensors are immutable")
        cdef int i
        for i in range(self.ptr.dl.ndim):
            self._shape[i] = self.ptr.dl.shape[i]
        buf.buf = self.ptr.dl.data
        buf.obj = self
        buf.len = self.ptr.nbytes
        buf.readonly = not self.writable
        buf.itemsize = self.ptr.dtype.size
        buf.format = <char *>c_fmt if flags & PyBUF_FORMAT else NULL
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


cdef Tensor _alloc_like(const AIDType *dtype, tuple shape, size_t nbytes):
    cdef int64_t[64] dims
    cdef AIError err
    _error_init(&err)
    if len(shape) > 64:
        raise TensorError("too many dimensions")
    for i, d in enumerate(shape):
        dims[i] = d
    cdef AITensor *ptr = tensor_alloc(dtype, dims, len(shape), nbytes, &err)
    if ptr is NULL:
        raise _c_error(TensorError, &err)
    return Tensor.wrap(ptr)
