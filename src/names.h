/* Lists of names: model inputs and outputs, script entry points, a script call's KEYS and
 * ARGS. A plain C utility shared by the core and the bridge. */
#pragma once
#include "redismodule.h"

/* A list of names owned by whoever holds it (strings from RedisModule_Strdup). */
typedef struct AINames {
    int count;
    char **names;
} AINames;

void ai_names_free(AINames *n);
/* Copies count command arguments into n. */
void ai_names_from_args(AINames *n, RedisModuleString **args, int count);
/* A copy of src into dst. */
void ai_names_copy(AINames *dst, const AINames *src);
/* Replies *count of bulk strings. */
void ai_names_reply(RedisModuleCtx *ctx, const AINames *n);
