# cython: language_level=3
"""The Cython bridge: the one place where the C core and Python meet.

Every function C calls is `cdef public ... noexcept with gil` and catches every
exception itself: an exception left on a worker's thread state would break its next job.
"""
from cpython.buffer cimport PyObject_GetBuffer, PyBuffer_Release, PyBUF_C_CONTIGUOUS
from cpython.ref cimport Py_INCREF, Py_DECREF
from libc.stdio cimport snprintf
from libc.string cimport memcpy
from cyrai cimport *

import sys

import numpy as np

include "log.pxi"
include "errors.pxi"
include "tensor.pxi"
include "convert.pxi"
include "backends.pxi"
include "model.pxi"
include "script.pxi"


cdef public int cy_bridge_setup(const char *root, char *err, size_t errlen) noexcept with gil:
    """Puts the project on sys.path and Python's output into the Redis log."""
    try:
        sys.path.insert(0, root.decode())
        sys.stdout = _RedisLogWriter("notice")
        sys.stderr = _RedisLogWriter("warning")
        return 0
    except BaseException as e:
        snprintf(err, errlen, "%s", str(e).encode())
        return -1
