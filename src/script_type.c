/* The AI_SCRIPT data type. RDB and AOF use the source kept in C; loading recompiles it.
 *
 * RDB layout (encoding version 4, RedisAI's): device (with its NUL), tag, source (with
 * its NUL), entry point count and names (each with its NUL). */
#include "script_type.h"

#include <string.h>

#include "keys.h"
#include "messages.h"
#include "model.h"
#include "stats.h"

RedisModuleType *AIScriptType = NULL;

#define MAX_ENTRY_POINTS 1024

static void save_cstring(RedisModuleIO *io, const char *s) {
    RedisModule_SaveStringBuffer(io, s, strlen(s) + 1);
}

static void rdb_save(RedisModuleIO *io, void *value) {
    AIScript *s = value;
    save_cstring(io, s->device);
    RedisModule_SaveStringBuffer(io, s->tag, s->taglen);
    save_cstring(io, s->source);
    RedisModule_SaveUnsigned(io, s->entry_points.count);
    for (int i = 0; i < s->entry_points.count; i++) save_cstring(io, s->entry_points.names[i]);
}

/* A string saved with its NUL, or NULL. */
static char *load_cstring(RedisModuleIO *io, size_t *len) {
    char *s = RedisModule_LoadStringBuffer(io, len);
    if (RedisModule_IsIOError(io)) return NULL;
    if (*len == 0 || s[*len - 1] != '\0') {
        RedisModule_Free(s);
        return NULL;
    }
    return s;
}

static AIScript *load_fields(RedisModuleIO *io) {
    size_t devlen, taglen, srclen, len;
    char *device = load_cstring(io, &devlen);
    char *tag = device ? RedisModule_LoadStringBuffer(io, &taglen) : NULL;
    char *source = tag && !RedisModule_IsIOError(io) ? load_cstring(io, &srclen) : NULL;
    uint64_t n = source ? RedisModule_LoadUnsigned(io) : 0;
    AIScript *s = NULL;
    if (source && !RedisModule_IsIOError(io) && n <= MAX_ENTRY_POINTS) {
        s = script_new(device, tag, taglen, source, srclen);
        s->has_entry_points = n > 0;
        s->entry_points.names = RedisModule_Calloc(n ? n : 1, sizeof(char *));
        for (; s->entry_points.count < (int)n; s->entry_points.count++) {
            char *name = load_cstring(io, &len);
            if (!name) break;
            s->entry_points.names[s->entry_points.count] = name;
        }
        if (s->entry_points.count != (int)n) {
            script_release(s);
            s = NULL;
        }
    }
    if (device) RedisModule_Free(device);
    if (tag) RedisModule_Free(tag);
    if (source) RedisModule_Free(source);
    return s;
}

static void track_key(AIScript *s, const RedisModuleString *keyname) {
    size_t keylen;
    const char *name = RedisModule_StringPtrLen(keyname, &keylen);
    s->key = RedisModule_Alloc(keylen + 1);
    memcpy(s->key, name, keylen);
    s->key[keylen] = '\0';
    s->keylen = keylen;
    stats_register(name, keylen, s, 1, AI_BACKEND_TORCH, s->device, s->tag, s->taglen);
}

static void *rdb_load(RedisModuleIO *io, int encver) {
    AIScript *s = encver == AI_SCRIPT_ENCVER ? load_fields(io) : NULL;
    AIError err = {0};
    if (!s) {
        RedisModule_LogIOError(io, "warning", "corrupt or unsupported AI_SCRIPT value");
        return NULL;
    }
    if (script_compile(s, &err) != 0) {
        RedisModule_LogIOError(io, "warning", "cannot rebuild a script: %s",
                               err.detail ? err.detail : "unknown error");
        ai_error_clear(&err);
        script_release(s);
        return NULL;
    }
    s->queue = queue_get(s->device);
    if (!s->queue) {
        RedisModule_LogIOError(io, "warning", "no worker queue for a script's device");
        script_release(s);
        return NULL;
    }
    const RedisModuleString *keyname = RedisModule_GetKeyNameFromIO(io);
    if (keyname) track_key(s, keyname);
    return s;
}

/* Scripts from AI.SCRIPTSET have no entry points, which AI.SCRIPTSTORE would refuse on
 * replay: they are rewritten as AI.SCRIPTSET. */
static void aof_rewrite(RedisModuleIO *aof, RedisModuleString *keyname, void *value) {
    AIScript *s = value;
    if (!s->has_entry_points) {
        RedisModule_EmitAOF(aof, "AI.SCRIPTSET", "sccbcc", keyname, s->device, "TAG", s->tag,
                            s->taglen, "SOURCE", s->source);
        return;
    }
    int n = 0, max = 8 + s->entry_points.count;
    RedisModuleString **argv = RedisModule_Alloc(sizeof(*argv) * max);
    argv[n++] = RedisModule_CreateStringFromString(NULL, keyname);
    argv[n++] = RedisModule_CreateString(NULL, s->device, strlen(s->device));
    argv[n++] = RedisModule_CreateString(NULL, "TAG", 3);
    argv[n++] = RedisModule_CreateString(NULL, s->tag, s->taglen);
    argv[n++] = RedisModule_CreateString(NULL, "ENTRY_POINTS", 12);
    argv[n++] = RedisModule_CreateStringFromLongLong(NULL, s->entry_points.count);
    for (int i = 0; i < s->entry_points.count; i++)
        argv[n++] = RedisModule_CreateString(NULL, s->entry_points.names[i],
                                             strlen(s->entry_points.names[i]));
    argv[n++] = RedisModule_CreateString(NULL, "SOURCE", 6);
    argv[n++] = RedisModule_CreateString(NULL, s->source, strlen(s->source));
    RedisModule_EmitAOF(aof, "AI.SCRIPTSTORE", "v", argv, (size_t)n);
    for (int i = 0; i < n; i++) RedisModule_FreeString(NULL, argv[i]);
    RedisModule_Free(argv);
}

static size_t mem_usage(const void *value) { return script_mem_usage(value); }

static void digest(RedisModuleDigest *md, void *value) {
    AIScript *s = value;
    RedisModule_DigestAddStringBuffer(md, s->device, strlen(s->device));
    RedisModule_DigestAddStringBuffer(md, s->tag, s->taglen);
    RedisModule_DigestAddStringBuffer(md, s->source, strlen(s->source));
    RedisModule_DigestEndSequence(md);
}

static void free_value(void *value) {
    AIScript *s = value;
    if (s->key) stats_unregister(s->key, s->keylen, s);
    script_release(s);
}

int script_type_register(RedisModuleCtx *ctx) {
    RedisModuleTypeMethods tm = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = rdb_load,
        .rdb_save = rdb_save,
        .aof_rewrite = aof_rewrite,
        .mem_usage = mem_usage,
        .digest = digest,
        .free = free_value,
    };
    AIScriptType = RedisModule_CreateDataType(ctx, "AI_SCRIPT", AI_SCRIPT_ENCVER, &tm);
    return AIScriptType ? REDISMODULE_OK : REDISMODULE_ERR;
}

AIScript *script_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname) {
    return ai_key_value_or_reply(ctx, keyname, AIScriptType, AI_MSG_SCRIPT_EMPTY);
}

int script_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIScript *s) {
    s->queue = queue_get(s->device);
    if (!s->queue) {
        script_release(s);
        RedisModule_ReplyWithError(ctx, AI_MSG_NO_QUEUE);
        return REDISMODULE_ERR;
    }
    if (!ai_key_accepts_or_reply(ctx, keyname, AIScriptType)) {
        script_release(s);
        return REDISMODULE_ERR;
    }
    ai_key_set(ctx, keyname, AIScriptType, s);
    track_key(s, keyname);
    return REDISMODULE_OK;
}
