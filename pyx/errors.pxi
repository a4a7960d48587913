# Errors across the boundary, both ways, in one place.
#
# C -> Python: a failed C call leaves an AIError; _c_error turns it into an exception
# whose text is the reply the client would get (the error's detail, or the spec's text of
# its code from errors.c), and clears it.
# Python -> C: _set_error turns any exception into the AIError of a failed bridge call.
# Its text is the exception's own, or, for a backend exception kind whose reply the spec
# fixes, the C text. Flattening a long message into one line is left to the C reply
# (ai_reply_error): backends already give one-line texts, and the bridge's are one line.


class TensorError(ValueError):
    """A tensor that cannot be made or viewed; its text is the reply the client gets."""


class ScriptCallError(RuntimeError):
    """A Redis call from a script failed; its text is the script's error reply."""


cdef inline void _error_init(AIError *err) noexcept nogil:
    err.code = AI_OK
    err.detail = NULL


cdef str _code_text(AIErrCode code):
    """The spec's text of an error code."""
    return ai_err_text(code).decode()


cdef object _c_error(object kind, AIError *err):
    """An exception of type kind with err's reply text; err is cleared."""
    text = err.detail.decode("utf-8", "replace") if err.detail is not NULL else \
        _code_text(err.code)
    ai_error_clear(err)
    return kind(text)


# Backend exception kinds whose reply is the spec's fixed text -> its code in errors.h.
cdef dict _SPEC_REPLIES = {}
# Kinds whose text has one argument: kind -> {e.what: code}, filled with e.name.
cdef dict _FORBIDDEN = {}


cdef void _learn_backend_errors(object backends) except *:
    """Called with the backends package before any of its exceptions can reach C."""
    if not _SPEC_REPLIES:
        from backends import policy
        _SPEC_REPLIES[backends.InvalidDevice] = AI_ERR_INVALID_DEVICE
        _SPEC_REPLIES[policy.ExternalData] = AI_ERR_EXTERNAL_DATA
        _FORBIDDEN[policy.ForbiddenOperator] = {"model": AI_ERR_MODEL_FORBIDDEN,
                                                "script": AI_ERR_SCRIPT_FORBIDDEN}


cdef void _set_error(AIError *err, BaseException e) noexcept:
    code = _SPEC_REPLIES.get(type(e))
    if code is not None:
        ai_error_set(err, <AIErrCode>code, NULL)
        return
    codes = _FORBIDDEN.get(type(e))
    if codes is not None and codes.get(e.what) is not None:
        ai_error_set_arg(err, <AIErrCode>codes[e.what], str(e.name).encode("utf-8", "replace"))
        return
    cdef bytes text
    try:
        text = (str(e) or type(e).__name__).encode("utf-8", "replace")
    except BaseException:  # an exception whose str() fails still fails the call
        text = type(e).__name__.encode()
    ai_error_set(err, AI_ERR_DETAIL, text)
