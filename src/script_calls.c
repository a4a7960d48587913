/* Redis calls from scripts; see script_calls.h. The worker never holds the GIL here, so
 * it never waits for the Redis lock while the main thread might wait for the GIL. */
#include "script_calls.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "model_type.h"

#define CALL_ERROR "Redis command returned an error: "

static void set_call_error(AIError *err, const char *text, size_t len) {
    char buf[512];
    snprintf(buf, sizeof buf, CALL_ERROR "%.*s", (int)len, text);
    ai_error_set(err, AI_ERR_DETAIL, buf);
}

static void copy_reply(RedisModuleCallReply *reply, AIReply *out) {
    memset(out, 0, sizeof *out);
    size_t len;
    const char *s;
    switch (RedisModule_CallReplyType(reply)) {
    case REDISMODULE_REPLY_STRING:
    case REDISMODULE_REPLY_ERROR: /* only nested errors reach here */
        s = RedisModule_CallReplyStringPtr(reply, &len);
        out->type = AI_REPLY_STRING;
        out->str = RedisModule_Alloc(len + 1);
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
            copy_reply(RedisModule_CallReplyArrayElement(reply, i), &out->elems[i]);
        break;
    default: out->type = AI_REPLY_NIL;
    }
}

void ai_reply_free(AIReply *r) {
    if (r->str) RedisModule_Free(r->str);
    for (size_t i = 0; i < r->count; i++) ai_reply_free(&r->elems[i]);
    if (r->elems) RedisModule_Free(r->elems);
    memset(r, 0, sizeof *r);
}

/* Fills msg with the NOPERM text Redis itself gives: a denied key, or else the command
 * (named in lower case, as Redis does). */
static void acl_denial_text(RedisModuleCtx *ctx, RedisModuleUser *user, RedisModuleString **argv,
                            int argc, char *msg, size_t size) {
    int nkeys = 0, key_denied = 0;
    int *pos = RedisModule_GetCommandKeys(ctx, argv, argc, &nkeys);
    for (int i = 0; pos && i < nkeys && !key_denied; i++)
        key_denied = RedisModule_ACLCheckKeyPermissions(user, argv[pos[i]], 0) != REDISMODULE_OK;
    if (pos) RedisModule_Free(pos);
    if (key_denied) {
        snprintf(msg, size,
                 "NOPERM this user has no permissions to access one of the keys "
                 "used as arguments");
        return;
    }
    char name[64];
    const char *cmd = RedisModule_StringPtrLen(argv[0], NULL);
    size_t n = 0;
    for (; cmd[n] && n + 1 < sizeof name; n++) name[n] = (char)tolower((unsigned char)cmd[n]);
    name[n] = '\0';
    snprintf(msg, size, "NOPERM this user has no permissions to run the '%s' command", name);
}

/* A script may only do what its caller's ACL user may do: 1 if allowed, else 0 with the
 * denial in msg. An unknown command passes here so that RedisModule_Call reports it
 * (ENOENT, spec 4.6). */
static int acl_allows(RedisModuleCtx *ctx, const AIScriptCallCtx *call, RedisModuleString **argv,
                      int argc, char *msg, size_t size) {
    if (!call->username) return 1;
    RedisModuleString *name = RedisModule_CreateString(ctx, call->username, strlen(call->username));
    RedisModuleUser *user = RedisModule_GetModuleUserFromUserName(name);
    RedisModule_FreeString(ctx, name);
    if (!user) {
        snprintf(msg, size, "NOPERM the user '%s' no longer exists", call->username);
        return 0;
    }
    errno = 0;
    int ok = RedisModule_ACLCheckCommandPermissions(user, argv, argc) == REDISMODULE_OK ||
             errno == ENOENT;
    if (!ok) acl_denial_text(ctx, user, argv, argc, msg, size);
    RedisModule_FreeModuleUser(user);
    return ok;
}

/* Under the lock: check, call, copy the reply. */
static void call_locked(RedisModuleCtx *ctx, const AIScriptCallCtx *call, RedisModuleString **args,
                        int argc, AIReply *out, AIError *err) {
    RedisModule_SelectDb(ctx, call->dbid);
    char msg[256];
    if (!acl_allows(ctx, call, args, argc, msg, sizeof msg)) {
        set_call_error(err, msg, strlen(msg));
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
    } else {
        copy_reply(reply, out);
    }
    RedisModule_FreeCallReply(reply);
}

int script_redis_call(const AIScriptCallCtx *call, const char **argv, const size_t *lens, int argc,
                      AIReply *out, AIError *err) {
    memset(out, 0, sizeof *out);
    if (argc < 1) {
        set_call_error(err, "Invalid argument", 16);
        return -1;
    }
    RedisModuleCtx *ctx = RedisModule_GetThreadSafeContext(NULL);
    RedisModuleString *args[argc];
    RedisModule_ThreadSafeContextLock(ctx);
    for (int i = 0; i < argc; i++) args[i] = RedisModule_CreateString(ctx, argv[i], lens[i]);
    call_locked(ctx, call, args, argc, out, err);
    for (int i = 0; i < argc; i++) RedisModule_FreeString(ctx, args[i]);
    /* Freed under the lock: it returns a client to Redis. Unlock does not read ctx. */
    RedisModule_FreeThreadSafeContext(ctx);
    RedisModule_ThreadSafeContextUnlock(ctx);
    return err->code == AI_OK ? 0 : -1;
}

void *script_model_acquire(const AIScriptCallCtx *call, const char *key, size_t keylen,
                           void **handle, int *ninputs, int *noutputs, AIError *err) {
    RedisModuleCtx *ctx = RedisModule_GetThreadSafeContext(NULL);
    RedisModule_ThreadSafeContextLock(ctx);
    RedisModule_SelectDb(ctx, call->dbid);
    RedisModuleString *name = RedisModule_CreateString(ctx, key, keylen);
    RedisModuleKey *k = RedisModule_OpenKey(ctx, name, REDISMODULE_READ);
    AIModel *m = NULL;
    if (RedisModule_KeyType(k) == REDISMODULE_KEYTYPE_EMPTY)
        ai_error_set(err, AI_ERR_DETAIL, "ERR model key is empty");
    else if (RedisModule_ModuleTypeGetType(k) != AIModelType)
        ai_error_set(err, AI_ERR_WRONGTYPE, NULL);
    else
        m = model_share(RedisModule_ModuleTypeGetValue(k));
    RedisModule_CloseKey(k);
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
