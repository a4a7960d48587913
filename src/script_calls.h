/* What a running script may do in Redis (spec 4.6), called from a worker thread without
 * the GIL: run a command as the script's caller, or look a model up to run it in place.
 * Each takes the Redis global lock only for the keyspace access itself. */
#pragma once
#include <stddef.h>

#include "bridge.h"
#include "errors.h"

enum { AI_REPLY_NIL, AI_REPLY_STRING, AI_REPLY_INTEGER, AI_REPLY_ARRAY };

/* A Redis reply copied out of Redis memory, to be converted once the lock is released. */
typedef struct AIReply {
    int type;
    char *str;
    size_t len;
    long long integer;
    size_t count;
    struct AIReply *elems;
} AIReply;

/* Runs argv[0] with the other arguments as the script's caller (ACL checked), replicated
 * like any write. On an error reply or a refused call, err holds
 * `Redis command returned an error: <text>`. */
int script_redis_call(const AIScriptCallCtx *call, const char **argv, const size_t *lens, int argc,
                      AIReply *out, AIError *err);
void ai_reply_free(AIReply *r);

/* The model stored at key in the caller's database, with one reference for the caller
 * (release it with script_model_release), or NULL with err set: NOPERM when the caller's
 * ACL user may not read the key, the model's refusal when the policy refused it. */
void *script_model_acquire(const AIScriptCallCtx *call, const char *key, size_t keylen,
                           void **handle, int *ninputs, int *noutputs, AIError *err);
void script_model_release(void *model);
