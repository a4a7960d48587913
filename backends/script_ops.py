"""The seam between TorchScript scripts and Redis: the hooks behind redis.execute and
redisAI.model_execute (spec 4.6).

The bridge installs two callables with set_hooks(); backends/torch_script.py registers the
script-visible ops and calls through here. This module imports no framework, so the bridge
may install its hooks at start-up without loading torch (design rule 5).

Contract of the hooks (they run on the worker thread that runs the script, GIL held):
- execute(argv) gets [command, arg, ...] as str and returns the converted reply: nil ->
  None, status/bulk string -> str, integer -> int, array -> list (recursively). On an
  error reply, or a call Redis rejects, it raises; str(exception) is the text the script
  fails with, e.g. "Redis command returned an error: WRONGTYPE ...".
- model_execute(key, inputs, num_outputs) gets torch tensors and returns the model's
  outputs (torch tensors, or anything with __dlpack__); it raises with RedisAI's text
  ("ERR model key is empty", backend errors) when the model cannot run.
Without hooks (no Redis around) both ops fail with NO_CONTEXT.
"""

__all__ = ["NO_CONTEXT", "clear_hooks", "execute", "model_execute", "set_hooks"]

NO_CONTEXT = "Redis command returned an error: no Redis context"

_execute_hook = None
_model_execute_hook = None


def set_hooks(execute, model_execute):
    """Install the bridge's callables (None leaves the op without Redis)."""
    global _execute_hook, _model_execute_hook
    _execute_hook = execute
    _model_execute_hook = model_execute


def clear_hooks():
    set_hooks(None, None)


def execute(argv):
    """redis.execute: run one command, return the hook's converted reply."""
    hook = _execute_hook
    if hook is None:
        raise RuntimeError(NO_CONTEXT)
    return hook(argv)


def model_execute(key, inputs, num_outputs):
    """redisAI.model_execute: run a stored model synchronously, return its outputs."""
    hook = _model_execute_hook
    if hook is None:
        raise RuntimeError(NO_CONTEXT)
    return hook(key, inputs, num_outputs)
