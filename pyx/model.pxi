# Models: load through a backend, run on C tensors, free. Called from C on worker
# threads (or the main thread for synchronous loads).


cdef void _set_error(AIError *err, BaseException e) noexcept:
    text = str(e) or type(e).__name__
    ai_error_set(err, AI_ERR_DETAIL, " ".join(text.splitlines()).encode("utf-8", "replace"))


cdef list _names_list(const AINames *names):
    if names is NULL:
        return None
    return [names.names[i].decode() for i in range(names.count)] or None


cdef void _names_fill(AINames *dst, list names) noexcept:
    dst.count = len(names)
    dst.names = <char **>RedisModule_Alloc(sizeof(char *) * (len(names) or 1))
    for i, name in enumerate(names):
        dst.names[i] = RedisModule_Strdup(name.encode())


cdef object _input_view(AITensor *ptr):
    """What a backend receives for an input: the Tensor itself (buffer protocol and
    DLPack, both zero-copy), or for strings an array of bytes."""
    cdef Tensor t = Tensor.wrap(tensor_share(ptr))
    return t.numpy() if ptr.dtype.code == AI_DL_STRING else t


# Outputs that are already contiguous CPU memory of a known dtype take one memcpy; the
# general conversion (any strides, strings) costs several microseconds more per tensor.
cdef dict _torch_codes = None
cdef dict _NUMPY_CODES = {"f": 2, "i": 0, "u": 1, "b": AI_DL_BOOL}


cdef Tensor _copy_contiguous(const AIDType *dtype, tuple shape, const void *src, size_t nbytes):
    cdef Tensor t = _alloc_like(dtype, shape, nbytes)
    memcpy(t.ptr.dl.data, src, nbytes)
    return t


cdef object _torch_output(object r):
    global _torch_codes
    if _torch_codes is None:
        import torch
        _torch_codes = {
            torch.float32: (2, 32), torch.float64: (2, 64), torch.float16: (2, 16),
            torch.bfloat16: (kDLBfloat, 16), torch.int8: (0, 8), torch.int16: (0, 16),
            torch.int32: (0, 32), torch.int64: (0, 64), torch.uint8: (1, 8),
            torch.uint16: (1, 16), torch.uint32: (1, 32), torch.uint64: (1, 64),
            torch.bool: (AI_DL_BOOL, 8),
        }
    code = _torch_codes.get(r.dtype)
    if code is None or r.device.type != "cpu" or not r.is_contiguous():
        return tensor_from_array(r)
    return _copy_contiguous(ai_dtype_by_code(code[0], code[1]), tuple(r.shape),
                            <const void *><size_t>r.data_ptr(), r.numel() * r.element_size())


cdef object _numpy_output(object r):
    cdef Py_buffer view
    code = _NUMPY_CODES.get(r.dtype.kind)
    if code is None or not r.flags.c_contiguous or r.dtype.name == "bfloat16":
        return tensor_from_array(r)
    cdef const AIDType *dtype = ai_dtype_by_code(code, r.dtype.itemsize * 8)
    if dtype is NULL:
        return tensor_from_array(r)
    PyObject_GetBuffer(r, &view, PyBUF_C_CONTIGUOUS)
    try:
        return _copy_contiguous(dtype, r.shape, view.buf, view.len)
    finally:
        PyBuffer_Release(&view)


cdef object _output_tensor(object r):
    if type(r).__module__ == "torch":
        return _torch_output(r)
    if type(r) is np.ndarray:
        return _numpy_output(r)
    return tensor_from_array(r)


cdef object _backend(const char *name):
    """The backend module, imported on first use; the C side learns its version."""
    import backends
    module = backends.get(name.decode())
    ai_backend_loaded(name, str(module.version()).encode())
    return module


cdef public int bridge_backend_load(const char *backend, AIError *err) noexcept with gil:
    try:
        _backend(backend)
        return 0
    except BaseException as e:
        _set_error(err, e)
        return -1


cdef public int bridge_model_load(const char *backend, const char *device, const char *blob,
                                  size_t length, const AINames *given_inputs,
                                  const AINames *given_outputs, const AIBackendOpts *opts,
                                  void **handle, AINames *inputs, AINames *outputs,
                                  AIError *err) noexcept with gil:
    try:
        model = _backend(backend).load_model(
            blob[:length], device=device.decode(), inputs=_names_list(given_inputs),
            outputs=_names_list(given_outputs), intra_op=opts.intra_op, inter_op=opts.inter_op,
            execution_timeout_ms=opts.execution_timeout_ms,
            memory_limit_mb=opts.memory_limit_mb)
        _names_fill(inputs, list(model.input_names))
        _names_fill(outputs, list(model.output_names))
        Py_INCREF(model)
        handle[0] = <void *>model
        return 0
    except BaseException as e:
        _set_error(err, e)
        return -1


cdef public int bridge_model_run(void *handle, AITensor **inputs, int ninputs,
                                 AITensor **outputs, int noutputs, AIError *err) noexcept with gil:
    cdef Tensor out
    cdef int i
    try:
        results = (<object>handle).run([_input_view(inputs[i]) for i in range(ninputs)])
        if len(results) != noutputs:
            raise TensorError(f"model returned {len(results)} outputs, expected {noutputs}")
        converted = [_output_tensor(r) for r in results]
        for i in range(noutputs):
            out = converted[i]
            outputs[i] = tensor_share(out.ptr)
        return 0
    except BaseException as e:
        _set_error(err, e)
        return -1


cdef public void bridge_model_free(void *handle) noexcept with gil:
    Py_DECREF(<object>handle)
