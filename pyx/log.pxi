# Python's stdout and stderr go to the Redis log: a daemonised server has fd 1 and 2 on
# /dev/null, and a backend's warning is worth keeping.

class _RedisLogWriter:
    """A text stream that sends each complete line to the Redis log at one level."""

    def __init__(self, level):
        self._level = level.encode()
        self._pending = ""

    def write(self, text):
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line:
                _log(self._level, line)
        return len(text)

    def flush(self):
        if self._pending:
            _log(self._level, self._pending)
            self._pending = ""

    def isatty(self):
        return False


cdef void _log(bytes level, str line) noexcept:
    cdef bytes msg = line.encode("utf-8", "replace")
    cdef const char *c_level = level
    cdef const char *c_msg = msg
    with nogil:
        ai_log(c_level, c_msg)
