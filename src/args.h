/* Small helpers for reading command arguments. */
#pragma once
#include <string.h>
#include <strings.h>

#include "redismodule.h"

/* Case-insensitive comparison of an argument with a keyword. */
static inline int ai_arg_is(RedisModuleString *arg, const char *word) {
    size_t len;
    const char *p = RedisModule_StringPtrLen(arg, &len);
    return len == strlen(word) && !strncasecmp(p, word, len);
}

/* True when the current context cannot block its client (MULTI, Lua, a master's
 * replication stream, AOF loading): such commands run synchronously or are refused. */
static inline int ai_cannot_block(RedisModuleCtx *ctx) {
    int flags = RedisModule_GetContextFlags(ctx);
    return flags & (REDISMODULE_CTX_FLAGS_MULTI | REDISMODULE_CTX_FLAGS_LUA |
                    REDISMODULE_CTX_FLAGS_DENY_BLOCKING | REDISMODULE_CTX_FLAGS_REPLICATED |
                    REDISMODULE_CTX_FLAGS_LOADING);
}

/* True for a command of a master's replication stream, applied on this replica (not
 * while loading), when the main thread can be woken from another thread. */
static inline int ai_from_master(RedisModuleCtx *ctx) {
    int flags = RedisModule_GetContextFlags(ctx);
    return (flags & REDISMODULE_CTX_FLAGS_REPLICATED) && !(flags & REDISMODULE_CTX_FLAGS_LOADING) &&
           RedisModule_EventLoopAddOneShot != NULL;
}

/* True when the command comes from the server's own data: AOF loading or a master's
 * replication stream. A model or script the policy refuses is then kept, unrunnable,
 * rather than lost (roadmap R5). */
static inline int ai_from_own_data(RedisModuleCtx *ctx) {
    int flags = RedisModule_GetContextFlags(ctx);
    return (flags & (REDISMODULE_CTX_FLAGS_REPLICATED | REDISMODULE_CTX_FLAGS_LOADING)) != 0;
}
