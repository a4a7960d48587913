# Models: load through a backend, run on C tensors, free. Called from C on worker
# threads (or the main thread for synchronous loads).


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
