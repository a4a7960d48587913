# Models: load through a backend, run on C tensors, free. Called from C on worker
# threads (or the main thread for synchronous loads).
#
# A backend's model may carry a native runner (src/native_runner.h): a capsule that its
# model object keeps alive, so the pointer taken from it at load is valid as long as the
# handle. Workers then run the model without Python (src/native_run.c); bridge_model_run
# stays the path of models without one, of STRING inputs and of NATIVE_RUNS no.


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


cdef public long long bridge_model_memory(void *handle) noexcept with gil:
    try:
        return int(getattr(<object>handle, "memory_bytes", -1))
    except BaseException:
        return -1


cdef public void bridge_model_free(void *handle) noexcept with gil:
    Py_DECREF(<object>handle)


cdef const void *_native_pointer(object obj, str attr, const char *name) noexcept:
    """The pointer in obj's capsule attribute attr (checked by name and ABI), or NULL."""
    if not ai_config.native_runs:
        return NULL
    try:
        capsule = getattr(obj, attr, None)
        if capsule is None:
            return NULL
        if not PyCapsule_IsValid(capsule, name):
            raise TypeError(f"{attr} is not a capsule named {name.decode()}")
        ptr = PyCapsule_GetPointer(capsule, name)
        # Both runner structs start with their ABI version.
        if (<const AINativeRunner *>ptr).abi != AI_NATIVE_RUNNER_ABI:
            raise TypeError(f"{attr} has ABI {(<const AINativeRunner *>ptr).abi}, "
                            f"expected {AI_NATIVE_RUNNER_ABI}")
        ai_log(b"verbose", f"runs of a {type(obj).__module__} object: {attr}".encode())
        return ptr
    except BaseException as e:
        ai_log(b"warning", f"native runs disabled for a backend object: {e}".encode())
        return NULL


cdef public const AINativeRunner *bridge_model_runner(void *handle) noexcept with gil:
    return <const AINativeRunner *>_native_pointer(<object>handle, "native_runner",
                                                   AI_NATIVE_RUNNER_CAPSULE)


cdef public const AINativeScript *bridge_script_native(void *handle) noexcept with gil:
    return <const AINativeScript *>_native_pointer(<object>handle, "native_script",
                                                   AI_NATIVE_SCRIPT_CAPSULE)
