/* Loaded-backend registry; see backends.h. The first report wins and is published with an
 * atomic store, so the main thread may read while a worker writes. */
#include "backends.h"

#include <string.h>

#include "model.h"
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
