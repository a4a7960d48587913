/* Lists of names; see names.h. */
#include "names.h"

#include <string.h>

/* An empty list holds no array: a script call without KEYS or ARGS allocates nothing. */
void ai_names_from_args(AINames *n, RedisModuleString **args, int count) {
    n->count = count;
    n->names = count ? RedisModule_Alloc(sizeof(char *) * count) : NULL;
    for (int i = 0; i < count; i++)
        n->names[i] = RedisModule_Strdup(RedisModule_StringPtrLen(args[i], NULL));
}

void ai_names_copy(AINames *dst, const AINames *src) {
    dst->count = src->count;
    dst->names = src->count ? RedisModule_Alloc(sizeof(char *) * src->count) : NULL;
    for (int i = 0; i < src->count; i++) dst->names[i] = RedisModule_Strdup(src->names[i]);
}

void ai_names_free(AINames *n) {
    for (int i = 0; i < n->count; i++) RedisModule_Free(n->names[i]);
    if (n->names) RedisModule_Free(n->names);
    n->names = NULL;
    n->count = 0;
}

void ai_names_reply(RedisModuleCtx *ctx, const AINames *n) {
    RedisModule_ReplyWithArray(ctx, n->count);
    for (int i = 0; i < n->count; i++)
        RedisModule_ReplyWithStringBuffer(ctx, n->names[i], strlen(n->names[i]));
}
