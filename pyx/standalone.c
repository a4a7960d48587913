/* Built only into the unit-test extension (the bridge importable without Redis): the
 * pure layers then allocate with libc and log to stderr. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redismodule.h"

static char *std_strdup(const char *s) { return strdup(s); }

static void std_log(RedisModuleCtx *ctx, const char *level, const char *fmt, ...) {
    (void)ctx;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "[%s] ", level);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

__attribute__((constructor)) static void use_libc(void) {
    RedisModule_Alloc = malloc;
    RedisModule_TryAlloc = malloc;
    RedisModule_Calloc = calloc;
    RedisModule_Realloc = realloc;
    RedisModule_Free = free;
    RedisModule_Strdup = std_strdup;
    RedisModule_Log = std_log;
}
