/* The native run path's contract: what a backend hands the bridge so that workers run a
 * loaded model without Python.
 *
 * Backends stay Python modules: they load, check and describe a model in Python. A model
 * object a backend returns may also carry, as its attribute `native_runner`, a PyCapsule
 * named AI_NATIVE_RUNNER_CAPSULE whose pointer is an AINativeRunner. The capsule is made by
 * the backend's own compiled extension (C or C++, built against the framework's C/C++ API
 * from its wheel) and owns the runner: the bridge keeps the capsule (and so the runner)
 * alive exactly as long as the model object, and never frees the runner itself.
 *
 * A worker calls run() with no GIL held, possibly from several threads at once on the same
 * runner, so run() must be thread-safe and must not touch Python. This header is plain C
 * with no Python and no Redis in it: extensions of every backend include it as it is.
 *
 * Tensors cross as DLPack: this header expects <dlpack/dlpack.h> (or a framework's copy of
 * it, which uses the same include guard and the same DLTensor layout) to be included first
 * or includes Debian's. */
#pragma once
#include <stddef.h>
#ifndef DLPACK_DLPACK_H_
#include <dlpack/dlpack.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define AI_NATIVE_RUNNER_CAPSULE "cyrai.native_runner"
/* Raised when the struct below changes; the bridge refuses runners of another version. */
#define AI_NATIVE_RUNNER_ABI 1

typedef struct AINativeRunner {
    int abi; /* AI_NATIVE_RUNNER_ABI */
    void *ctx;
    /* Runs the model once.
     * inputs: ninputs borrowed tensors, CPU, C-contiguous (strides NULL), host byte order,
     *   numeric dtypes only (the bridge keeps string tensors on the Python path); valid only
     *   during the call.
     * outputs: on success (return 0) outputs[i], for each i < noutputs, is a DLManagedTensor
     *   the caller owns and ends with its deleter (the caller copies the data out first; a
     *   deleter may run on any thread and must not need the GIL). noutputs is the count
     *   the model declared; a model producing another count fails.
     * On failure returns -1, sets no output, and writes a NUL-terminated one-line message
     *   (the framework's own words, as the Python path would reply) into err[errlen]. */
    int (*run)(void *ctx, const DLTensor *const *inputs, int ninputs, DLManagedTensor **outputs,
               int noutputs, char *err, size_t errlen);
} AINativeRunner;

/* A compiled TorchScript script's native calls: a PyCapsule named AI_NATIVE_SCRIPT_CAPSULE,
 * the attribute `native_script` of the script object a backend returns, kept alive like a
 * model's runner. A function that reaches back into Redis (redis.execute,
 * redisAI.model_execute) runs natively too: only those ops take the GIL (they are Python
 * kernels), with the caller's context from script_call_current() (src/native_run.h). */
#define AI_NATIVE_SCRIPT_CAPSULE "cyrai.native_script"

typedef struct AINativeScript {
    int abi; /* AI_NATIVE_RUNNER_ABI */
    void *ctx;
    /* 1 when function fn can be called natively, else 0. Any thread; no Python. */
    int (*has)(void *ctx, const char *fn);
    /* Calls fn the way the Python path would: an entry point with (inputs, keys, args),
     * another function with its inputs mapped onto its parameters. Tensors as for run()
     * above; noutputs 0 ignores what fn returned, else its flattened tensors must number
     * exactly noutputs. Returns 0 (outputs set), -1 (err set, as for run()), or 1 when
     * this call must take the Python path after all (nothing ran, nothing set: e.g. the
     * inputs do not fit fn's parameters, whose error text the Python path owns). */
    int (*call)(void *ctx, const char *fn, const DLTensor *const *inputs, int ninputs,
                const char *const *keys, int nkeys, const char *const *args, int nargs,
                DLManagedTensor **outputs, int noutputs, char *err, size_t errlen);
} AINativeScript;

#ifdef __cplusplus
}
#endif
