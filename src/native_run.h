/* A worker's backend call, on the native path when it can take it.
 *
 * A model with a native runner (model.h) and a script function its script's native calls
 * know (script.h) run here with their inputs as DLTensors and no GIL held; each output
 * is copied once into a new tensor (tensor_copy_dlpack) and the runner's copy released.
 * Everything else, STRING inputs included, goes through the bridge's Python path, which
 * takes the GIL itself when the worker does not hold it. Both paths reply the same: the
 * same outputs, the same error texts.
 *
 * The *_is_native tests are hints for the queue (AIJob.native: whether a worker takes the
 * GIL before a job); the run functions decide again and are right either way. */
#pragma once
#include "bridge.h"
#include "model.h"
#include "script.h"

/* Main thread or worker: whether this model run needs no Python. */
int native_model_can_run(const AIModel *m, AITensor *const *inputs, int ninputs);
/* Main thread or worker: whether this call of fn needs no Python. */
int native_script_can_run(const AIScript *s, const char *fn, AITensor *const *inputs, int ninputs);

/* Worker: runs m; outputs[i] get new tensors on success (0), or err is set (-1). */
int native_model_run(AIModel *m, AITensor **inputs, int ninputs, AITensor **outputs, int noutputs,
                     AIError *err);
/* The script call running on this thread, for the Redis calls a script makes (the bridge's
 * redis.execute and redisAI.model_execute), or NULL; set around every script run. */
const AIScriptCallCtx *script_call_current(void);
const AIScriptCallCtx *script_call_set(const AIScriptCallCtx *call); /* returns the previous */

/* Worker: calls fn of s, as bridge_script_run does. */
int native_script_run(AIScript *s, const char *fn, AITensor **inputs, int ninputs,
                      const AINames *keys, const AINames *args, AITensor **outputs, int noutputs,
                      const AIScriptCallCtx *call, AIError *err);
