/* Loaded-backend registry; see backends.h. The first report wins and is published with an
 * atomic store, so the main thread may read while a worker writes. */
#include "backends.h"

#include <string.h>

#include "model.h"
#include "onnx_memory.h"
#include "redismodule.h"

static char *versions[AI_BACKEND__COUNT];

void ai_backend_loaded(const char *name, const char *version) {
    int b = ai_backend_by_name(name, strlen(name));
    if (b < 0 || __atomic_load_n(&versions[b], __ATOMIC_ACQUIRE)) return;
    char *copy = RedisModule_Strdup(version);
    char *expected = NULL;
    if (!__atomic_compare_exchange_n(&versions[b], &expected, copy, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE))
        RedisModule_Free(copy);
}

const char *ai_backend_version(int backend) {
    return __atomic_load_n(&versions[backend], __ATOMIC_ACQUIRE);
}

static long long memory[AI_BACKEND__COUNT];

void ai_backend_memory_add(int backend, long long bytes) {
    __atomic_add_fetch(&memory[backend], bytes, __ATOMIC_RELAXED);
}

/* ONNX Runtime's counting allocator (onnx_memory.h) knows better than its models. */
long long ai_backend_memory(int backend) {
    long long counted = backend == AI_BACKEND_ONNX ? (long long)onnx_memory_bytes() : 0;
    return counted > 0 ? counted : __atomic_load_n(&memory[backend], __ATOMIC_RELAXED);
}
