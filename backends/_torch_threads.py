"""torch's intra-op thread count, applied on every thread that runs torch code.

torch.set_num_threads sets OpenMP's count for the calling thread only, so the value the
loader thread sets at model load never reached the worker threads, which kept torch's
default of one thread per core. Their OpenMP pools then busy-waited on the cores Redis
needs (a batched MLP ran 30x slower on 2 cores). Each thread applies the setting once,
before its first run.
"""

import threading

import torch

# Without INTRA_OP_PARALLELISM: one thread per run; the device queues give parallelism.
DEFAULT_INTRA_OP = 1

_wanted = DEFAULT_INTRA_OP
_applied = threading.local()


def configure(intra_op):
    """Records INTRA_OP_PARALLELISM (0: the default above) for every thread."""
    global _wanted
    _wanted = intra_op if intra_op > 0 else DEFAULT_INTRA_OP
    apply()


def apply():
    """Makes the calling thread use the configured count (cheap after the first call)."""
    if getattr(_applied, "count", None) != _wanted:
        torch.set_num_threads(_wanted)
        _applied.count = _wanted
