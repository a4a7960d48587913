/* Redis calls from scripts; see script_calls.h. The worker never holds the GIL here, so
 * it never waits for the Redis lock while the main thread might wait for the GIL. */
#include "script_calls.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>

#include "model_type.h"

/* A failed call: `Redis command returned an error: <text>`. */
static void set_call_error(AIError *err, const char *text, size_t len) {
    ai_error_set_arg_len(err, AI_ERR_SCRIPT_CALL, text, len);
}

/* Copies reply into out: 0, or -1 (out partly filled, to be freed) when a string of it
 * cannot be allocated: its size is the data's, so the allocation must not abort. */
static int copy_reply(RedisModuleCallReply *reply, AIReply *out) {
    memset(out, 0, sizeof *out);
    size_t len;
    const char *s;
    switch (RedisModule_CallReplyType(reply)) {
    case REDISMODULE_REPLY_STRING:
    case REDISMODULE_REPLY_ERROR: /* only nested errors reach here */
        s = RedisModule_CallReplyStringPtr(reply, &len);
        out->type = AI_REPLY_STRING;
        if (!(out->str = RedisModule_TryAlloc(len + 1))) return -1;
        memcpy(out->str, s, len);
        out->str[len] = '\0';
        out->len = len;
        break;
    case REDISMODULE_REPLY_INTEGER:
        out->type = AI_REPLY_INTEGER;
        out->integer = RedisModule_CallReplyInteger(reply);
        break;
    case REDISMODULE_REPLY_ARRAY:
        out->type = AI_REPLY_ARRAY;
        out->count = RedisModule_CallReplyLength(reply);
        out->elems = RedisModule_Calloc(out->count ? out->count : 1, sizeof(AIReply));
        for (size_t i = 0; i < out->count; i++)
            if (copy_reply(RedisModule_CallReplyArrayElement(reply, i), &out->elems[i]) != 0)
                return -1;
        break;
    default: out->type = AI_REPLY_NIL;
    }
    return 0;
}

void ai_reply_free(AIReply *r) {
    if (r->str) RedisModule_Free(r->str);
    for (size_t i = 0; i < r->count; i++) ai_reply_free(&r->elems[i]);
    if (r->elems) RedisModule_Free(r->elems);
    memset(r, 0, sizeof *r);
}

/* Sets denial to the NOPERM error Redis itself gives: a denied key, or else the command
 * (named in lower case, as Redis does). */
static void acl_denial(RedisModuleCtx *ctx, RedisModuleUser *user, RedisModuleString **argv,
                       int argc, AIError *denial) {
    int nkeys = 0, key_denied = 0;
    int *pos = RedisModule_GetCommandKeys(ctx, argv, argc, &nkeys);
    for (int i = 0; pos && i < nkeys && !key_denied; i++)
        key_denied = RedisModule_ACLCheckKeyPermissions(user, argv[pos[i]], 0) != REDISMODULE_OK;
    if (pos) RedisModule_Free(pos);
    if (key_denied) {
        ai_error_set(denial, AI_ERR_NOPERM_KEYS, NULL);
        return;
    }
    char name[64];
    const char *cmd = RedisModule_StringPtrLen(argv[0], NULL);
    size_t n = 0;
    for (; cmd[n] && n + 1 < sizeof name; n++) name[n] = (char)tolower((unsigned char)cmd[n]);
    name[n] = '\0';
    ai_error_set_arg(denial, AI_ERR_NOPERM_COMMAND, name);
}

/* The caller's ACL user (free with RedisModule_FreeModuleUser); NULL with the NOPERM error
 * in denial if it no longer exists. */
static RedisModuleUser *caller(RedisModuleCtx *ctx, const AIScriptCallCtx *call, AIError *denial) {
    RedisModuleString *name = RedisModule_CreateString(ctx, call->username, strlen(call->username));
    RedisModuleUser *user = RedisModule_GetModuleUserFromUserName(name);
    RedisModule_FreeString(ctx, name);
    if (!user) ai_error_set_arg(denial, AI_ERR_NOPERM_USER, call->username);
    return user;
}

/* A script may only do what its caller's ACL user may do: REDISMODULE_OK if allowed, else
 * REDISMODULE_ERR with the NOPERM error in denial. An unknown command passes here so that
 * RedisModule_Call reports it (ENOENT, spec 4.6). */
static int acl_allows(RedisModuleCtx *ctx, const AIScriptCallCtx *call, RedisModuleString **argv,
                      int argc, AIError *denial) {
    if (!call->username) return REDISMODULE_OK;
    RedisModuleUser *user = caller(ctx, call, denial);
    if (!user) return REDISMODULE_ERR;
    errno = 0;
    int ok = RedisModule_ACLCheckCommandPermissions(user, argv, argc) == REDISMODULE_OK ||
             errno == ENOENT;
    if (!ok) acl_denial(ctx, user, argv, argc, denial);
    RedisModule_FreeModuleUser(user);
    return ok ? REDISMODULE_OK : REDISMODULE_ERR;
}

/* Under the lock: check, call, copy the reply. */
static void call_locked(RedisModuleCtx *ctx, const AIScriptCallCtx *call, RedisModuleString **args,
                        int argc, AIReply *out, AIError *err) {
    RedisModule_SelectDb(ctx, call->dbid);
    AIError denial = {0};
    if (acl_allows(ctx, call, args, argc, &denial) != REDISMODULE_OK) {
        const char *text = ai_error_text(&denial);
        set_call_error(err, text, strlen(text));
        ai_error_clear(&denial);
        return;
    }
    errno = 0;
    RedisModuleCallReply *reply = RedisModule_Call(ctx, RedisModule_StringPtrLen(args[0], NULL),
                                                   "!v", args + 1, (size_t)argc - 1);
    if (!reply) {
        const char *why = strerror(errno ? errno : EINVAL);
        set_call_error(err, why, strlen(why));
        return;
    }
    if (RedisModule_CallReplyType(reply) == REDISMODULE_REPLY_ERROR) {
        size_t len;
        const char *text = RedisModule_CallReplyStringPtr(reply, &len);
        set_call_error(err, text, len);
    } else if (copy_reply(reply, out) != 0) {
        ai_reply_free(out);
        const char *why = strerror(ENOMEM);
        set_call_error(err, why, strlen(why));
    }
    RedisModule_FreeCallReply(reply);
}

int script_redis_call(const AIScriptCallCtx *call, const char **argv, const size_t *lens, int argc,
                      AIReply *out, AIError *err) {
    memset(out, 0, sizeof *out);
    if (argc < 1) {
        const char *why = strerror(EINVAL);
        set_call_error(err, why, strlen(why));
        return -1;
    }
    RedisModuleString **args = RedisModule_Alloc(sizeof(RedisModuleString *) * argc);
    RedisModuleCtx *ctx = RedisModule_GetThreadSafeContext(NULL);
    RedisModule_ThreadSafeContextLock(ctx);
    for (int i = 0; i < argc; i++) args[i] = RedisModule_CreateString(ctx, argv[i], lens[i]);
    call_locked(ctx, call, args, argc, out, err);
    for (int i = 0; i < argc; i++) RedisModule_FreeString(ctx, args[i]);
    /* Freed under the lock: it returns a client to Redis. Unlock does not read ctx. */
    RedisModule_FreeThreadSafeContext(ctx);
    RedisModule_ThreadSafeContextUnlock(ctx);
    RedisModule_Free(args);
    return err->code == AI_OK ? 0 : -1;
}

/* Whether the caller may read the key (as a read-only command's key): else NOPERM in err,
 * Redis's own text for a denied key. */
static int may_read_key(RedisModuleCtx *ctx, const AIScriptCallCtx *call, RedisModuleString *key,
                        AIError *err) {
    if (!call->username) return REDISMODULE_OK;
    RedisModuleUser *user = caller(ctx, call, err);
    if (!user) return REDISMODULE_ERR;
    int ok =
        RedisModule_ACLCheckKeyPermissions(user, key, REDISMODULE_CMD_KEY_ACCESS) == REDISMODULE_OK;
    RedisModule_FreeModuleUser(user);
    return ok ? REDISMODULE_OK : ai_fail(err, AI_ERR_NOPERM_KEYS);
}

void *script_model_acquire(const AIScriptCallCtx *call, const char *key, size_t keylen,
                           void **handle, int *ninputs, int *noutputs, AIError *err) {
    RedisModuleCtx *ctx = RedisModule_GetThreadSafeContext(NULL);
    RedisModule_ThreadSafeContextLock(ctx);
    RedisModule_SelectDb(ctx, call->dbid);
    RedisModuleString *name = RedisModule_CreateString(ctx, key, keylen);
    AIModel *m = may_read_key(ctx, call, name, err) == REDISMODULE_OK
                     ? model_from_key(ctx, name, err)
                     : NULL;
    if (m) model_share(m);
    RedisModule_FreeString(ctx, name);
    RedisModule_FreeThreadSafeContext(ctx);
    RedisModule_ThreadSafeContextUnlock(ctx);
    if (m) {
        *handle = m->handle;
        *ninputs = m->inputs.count;
        *noutputs = m->outputs.count;
    }
    return m;
}

void script_model_release(void *model) { model_release(model); }
