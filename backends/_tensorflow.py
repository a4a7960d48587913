"""TensorFlow, imported once for the TF and TFLITE backends without touching the host.

Importing TF inside Redis must leave the process as it was (design pitfalls 6 and 7):

- Signal handlers stay Redis's. The handlers of SIGTERM and SIGINT are recorded before the
  import, both as Python sees them and as the kernel does (sigaction, which also catches C++
  code and handlers Python does not know about, such as Redis's), and put back if changed.
- TF logs nothing. TF_CPP_MIN_LOG_LEVEL=3 silences its C++ INFO, WARNING and ERROR lines, except
  the ones logged while its libraries load, before absl::InitializeLog (the oneDNN notice):
  absl writes those to fd 2 regardless, so fd 2 points at /dev/null during the import.
  quiet_stderr() is process-wide: another thread's stderr output in that window is lost too
  (a daemonized Redis has fd 2 on /dev/null anyway).
"""

import contextlib
import ctypes
import importlib
import os
import signal

_KEPT_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_SA_RESTORER = 0x04000000
_libc = ctypes.CDLL(None, use_errno=True)


class _SigAction(ctypes.Structure):
    """glibc's struct sigaction on Linux (x86-64, arm64)."""

    _fields_ = [
        ("handler", ctypes.c_void_p),
        ("mask", ctypes.c_uint64 * 16),
        ("flags", ctypes.c_int),
        ("restorer", ctypes.c_void_p),
    ]

    def key(self):
        """What matters: the kernel keeps 64 signals of the mask (glibc fills the rest with
        stack bytes) and glibc adds SA_RESTORER to every handler it installs."""
        return self.handler, self.mask[0], self.flags & ~_SA_RESTORER


def _sigaction(signum, new=None):
    """The kernel's disposition of signum; installs new (a _SigAction) if given."""
    old = _SigAction()
    if _libc.sigaction(signum, None if new is None else ctypes.byref(new), ctypes.byref(old)):
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return old


@contextlib.contextmanager
def signals_kept(signums=_KEPT_SIGNALS):
    """Undo whatever the block does to the handlers of signums."""
    python = {s: signal.getsignal(s) for s in signums}
    kernel = {s: _sigaction(s) for s in signums}
    try:
        yield
    finally:
        for s in signums:
            # A handler Python knows is restored through Python so getsignal agrees; one it
            # does not (None: installed from C, e.g. by Redis) only through sigaction.
            if python[s] is not None and signal.getsignal(s) != python[s]:
                signal.signal(s, python[s])
            if _sigaction(s).key() != kernel[s].key():
                _sigaction(s, kernel[s])


@contextlib.contextmanager
def quiet_stderr():
    """Point fd 2 at /dev/null for the block (C++ code logging past TF's own log level)."""
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing to hide
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _import_tensorflow():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with signals_kept(), quiet_stderr():
        return importlib.import_module("tensorflow")


tf = _import_tensorflow()
