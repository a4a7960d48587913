# The backends package seen from the bridge: a backend is imported the first time it is
# needed (or at AI.CONFIG LOADBACKEND), and the C side learns its framework version.


cdef object _backend(const char *name):
    """The backend module, imported on first use; the C side learns its version."""
    import backends
    _learn_backend_errors(backends)
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
