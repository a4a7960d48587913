/* A NUL-terminated copy of len bytes, from the Redis allocator: how the module keeps tags,
 * sources and key names it was given as counted strings. */
#pragma once
#include <string.h>

#include "redismodule.h"

static inline char *ai_strndup(const char *s, size_t len) {
    char *copy = RedisModule_Alloc(len + 1);
    memcpy(copy, s, len);
    copy[len] = '\0';
    return copy;
}
