/* The bridge's C face: the only Python-facing functions the C core calls. They take and
 * return C types; everything that holds Python objects stays behind them in pyx/.
 *
 * Functions that call into Python take the GIL themselves (re-entrantly: a worker that
 * already holds it through bridge_enter pays almost nothing) and never let a Python
 * exception escape: failures come back as an AIError whose detail is the reply text. */
#pragma once
#include <stddef.h>

#include "errors.h"
#include "names.h"
#include "native_runner.h"
#include "tensor.h"

/* Starts the embedded interpreter on its Python environment (python_env: the PYTHON_ENV
 * option, or NULL to find it from the module's location; see python_env.h), imports the
 * Cython bridge and releases the GIL. Returns 0, or -1 with a reason in err. */
int bridge_start(const char *python_env, char *err, size_t errlen);

/* A worker's own Python thread state, made once; enter takes the GIL with it, leave
 * gives the GIL back. */
void *bridge_thread_state_new(void);
void bridge_enter(void *state);
void bridge_leave(void);

typedef struct AIBackendOpts {
    long long intra_op;
    long long inter_op;
    long long execution_timeout_ms;
    long long memory_limit_mb;
} AIBackendOpts;

/* Loads a model with the named backend from its serialized bytes. given_inputs and
 * given_outputs are the node names the client named (TF), or empty. On success *handle
 * is the loaded model and inputs/outputs hold the names the backend reports. */
int bridge_model_load(const char *backend, const char *device, const char *blob, size_t len,
                      const AINames *given_inputs, const AINames *given_outputs,
                      const AIBackendOpts *opts, void **handle, AINames *inputs, AINames *outputs,
                      AIError *err);

/* Runs a loaded model: inputs are borrowed; outputs[i] receive new tensors (one
 * reference each) on success, and stay NULL on failure. */
int bridge_model_run(void *handle, AITensor **inputs, int ninputs, AITensor **outputs, int noutputs,
                     AIError *err);

/* The native runner a loaded model's backend made (it lives as long as handle), or NULL
 * when it made none or NATIVE_RUNS is no. Takes the GIL: call it once, at load. */
const AINativeRunner *bridge_model_runner(void *handle);

/* Drops a loaded model or compiled script. */
void bridge_model_free(void *handle);

/* Compiles TorchScript source; entry_points NULL means none were declared (SCRIPTSET). */
int bridge_script_compile(const char *source, const char *device, const AINames *entry_points,
                          void **handle, AIError *err);

/* A compiled script's native calls (living as long as handle), or NULL; as above. */
const AINativeScript *bridge_script_native(void *handle);
/* After a failed native script call: when a redis.* or redisAI.* op failed it, replaces
 * the message in err[errlen] by that op's own text (the Python path's reply). Takes the
 * GIL. */
void bridge_script_op_failure(char *err, size_t errlen);

/* What a script run may do in Redis: the caller's database and user, for redis.execute
 * and redisAI.model_execute from the worker thread. */
typedef struct AIScriptCallCtx {
    int dbid;
    char *username; /* NULL: no ACL user (unrestricted) */
} AIScriptCallCtx;

/* Runs fn of a compiled script: inputs are borrowed; when noutputs > 0 the function's
 * flattened results must number exactly noutputs and fill outputs (new references). */
int bridge_script_run(void *handle, const char *fn, AITensor **inputs, int ninputs,
                      const AINames *keys, const AINames *args, AITensor **outputs, int noutputs,
                      const AIScriptCallCtx *call, AIError *err);

/* Imports a backend now (AI.CONFIG LOADBACKEND, load-time preloads). */
int bridge_backend_load(const char *backend, AIError *err);

/* Monitoring (roadmap R4): the bytes a loaded model holds in its framework as its backend
 * reports them (best effort), or -1 when it reports none. Takes the GIL: call it once, at
 * load, off the main thread. */
long long bridge_model_memory(void *handle);
