# Scripts: compile, run, and the Redis operations a running script may call (spec 4.6).
#
# The operations reach back into C through hooks installed in backends.script_ops. A
# script runs on a worker thread, natively (src/native_run.c: only these ops take the GIL)
# or here; the caller's context of the run it belongs to (database, ACL user) is kept in a
# C thread-local while it runs. The GIL is released around every Redis call: the worker
# must never wait for the Redis lock while holding it.


cdef const AIScriptCallCtx *_current_call() except NULL:
    cdef const AIScriptCallCtx *call = script_call_current()
    if call is NULL:
        from backends.script_ops import NO_CONTEXT
        raise ScriptCallError(NO_CONTEXT)
    return call


cdef object _reply_to_python(const AIReply *r):
    if r.type == AI_REPLY_STRING:
        return r.str[:r.len].decode("utf-8", "replace")
    if r.type == AI_REPLY_INTEGER:
        return r.integer
    if r.type == AI_REPLY_ARRAY:
        return tuple(_reply_to_python(&r.elems[i]) for i in range(r.count))
    return None


def _execute_hook(argv):
    """redis.execute: runs the command as the script's caller."""
    cdef const AIScriptCallCtx *call = _current_call()
    encoded = [a if isinstance(a, bytes) else str(a).encode() for a in argv]
    cdef int n = len(encoded), i
    cdef const char **ptrs = <const char **>RedisModule_Alloc(sizeof(char *) * (n or 1))
    cdef size_t *lens = <size_t *>RedisModule_Alloc(sizeof(size_t) * (n or 1))
    cdef AIReply reply
    cdef AIError err
    cdef int rc
    _error_init(&err)
    for i in range(n):
        ptrs[i] = encoded[i]
        lens[i] = len(encoded[i])
    with nogil:
        rc = script_redis_call(call, ptrs, lens, n, &reply, &err)
    RedisModule_Free(ptrs)
    RedisModule_Free(lens)
    if rc != 0:
        raise _c_error(ScriptCallError, &err)
    try:
        return _reply_to_python(&reply)
    finally:
        ai_reply_free(&reply)


def _model_execute_hook(key, inputs, num_outputs):
    """redisAI.model_execute: runs a stored model right here, on this worker thread."""
    cdef const AIScriptCallCtx *call = _current_call()
    cdef bytes name = key.encode() if isinstance(key, str) else bytes(key)
    cdef void *handle = NULL
    cdef int nin = 0, nout = 0, i
    cdef AIError err
    _error_init(&err)
    cdef const char *c_name = name
    cdef size_t c_len = len(name)
    with nogil:
        model = script_model_acquire(call, c_name, c_len, &handle, &nin, &nout, &err)
    if model is NULL:
        raise _c_error(ScriptCallError, &err)
    cdef Tensor t
    cdef AITensor **c_in = NULL
    cdef AITensor **c_out = NULL
    try:
        tensors = [tensor_from_array(x) for x in inputs]
        c_in = <AITensor **>RedisModule_Alloc(sizeof(AITensor *) * (len(tensors) or 1))
        c_out = <AITensor **>RedisModule_Alloc(sizeof(AITensor *) * (nout or 1))
        for i in range(len(tensors)):
            t = tensors[i]
            c_in[i] = t.ptr
        for i in range(nout):
            c_out[i] = NULL
        if bridge_model_run(handle, c_in, len(tensors), c_out, nout, &err) != 0:
            raise _c_error(ScriptCallError, &err)
        return [Tensor.wrap(c_out[i]).torch() for i in range(nout)][:max(num_outputs, 0) or nout]
    finally:
        RedisModule_Free(c_in) if c_in is not NULL else None
        RedisModule_Free(c_out) if c_out is not NULL else None
        script_model_release(model)


cdef bint _hooks_installed = False


cdef object _script_backend():
    global _hooks_installed
    module = _backend(b"TORCH")
    if not _hooks_installed:
        from backends import script_ops
        script_ops.set_hooks(_execute_hook, _model_execute_hook)
        _hooks_installed = True
    return module


cdef public int bridge_script_compile(const char *source, const char *device,
                                      const AINames *entry_points, void **handle,
                                      AIError *err) noexcept with gil:
    try:
        script = _script_backend().compile_script(
            source.decode("utf-8", "replace"), device=device.decode(),
            entry_points=_names_list(entry_points) if entry_points is not NULL else None)
        Py_INCREF(script)
        handle[0] = <void *>script
        return 0
    except BaseException as e:
        _set_error(err, e)
        return -1


cdef public int bridge_script_run(void *handle, const char *fn, AITensor **inputs, int ninputs,
                                  const AINames *keys, const AINames *args, AITensor **outputs,
                                  int noutputs, const AIScriptCallCtx *call,
                                  AIError *err) noexcept with gil:
    cdef Tensor out
    cdef int i
    cdef const AIScriptCallCtx *previous = script_call_set(call)
    try:
        results = (<object>handle).run(
            fn.decode(), [_input_view(inputs[i]) for i in range(ninputs)],
            _names_list(keys) or [], _names_list(args) or [], noutputs)
        converted = [_output_tensor(r) for r in results]
        for i in range(noutputs):
            out = converted[i]
            outputs[i] = tensor_share(out.ptr)
        return 0
    except BaseException as e:
        _set_error(err, e)
        return -1
    finally:
        script_call_set(previous)


cdef public void bridge_script_op_failure(char *err, size_t errlen) noexcept with gil:
    try:
        from backends import torch_script
        text = torch_script.take_op_failure()
        if text:
            encoded = text.encode("utf-8", "replace")
            snprintf(err, errlen, "%s", <const char *>encoded)
    except BaseException as e:
        ai_log(b"warning", f"script op failure text: {e}".encode())
