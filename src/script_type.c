/* The AI_SCRIPT data type. RDB and AOF use the source kept in C; loading recompiles it.
 *
 * RDB layout (encoding version 4, RedisAI's): device (with its NUL), tag, source (with
 * its NUL), entry point count and names (each with its NUL). Older RedisAI releases wrote
 * versions 0-3, which load too: version 0 has the tag with its NUL; versions 1 and 2 the
 * tag as bytes; none of them has entry points (such scripts were stored with
 * AI.SCRIPTSET and load as if they were); version 3 is version 4's layout. Saving always
 * writes version 4. */
#include "script_type.h"

#include <string.h>

#include "argv.h"
#include "keys.h"
#include "model.h"
#include "rdb_io.h"
#include "stats.h"

RedisModuleType *AIScriptType = NULL;

#define MAX_ENTRY_POINTS 1024

static void rdb_save(RedisModuleIO *io, void *value) {
    AIScript *s = value;
    ai_rdb_save_cstring(io, s->device);
    RedisModule_SaveStringBuffer(io, s->tag, s->taglen);
    ai_rdb_save_cstring(io, s->source);
    ai_rdb_save_names(io, &s->entry_points);
}

/* The script as saved in encoding version encver, not yet compiled; NULL if corrupt. */
static AIScript *load_fields(RedisModuleIO *io, int encver) {
    size_t taglen;
    char *device = ai_rdb_load_cstring(io);
    char *tag = device ? ai_rdb_load_tag(io, encver, &taglen) : NULL;
    char *source = tag ? ai_rdb_load_cstring(io) : NULL;
    AIScript *s = source ? script_new(device, tag, taglen, source, strlen(source)) : NULL;
    if (s && encver >= 3 && ai_rdb_load_names(io, &s->entry_points, MAX_ENTRY_POINTS) != 0) {
        script_release(s);
        s = NULL;
    }
    if (s) s->has_entry_points = s->entry_points.count > 0;
    if (device) RedisModule_Free(device);
    if (tag) RedisModule_Free(tag);
    if (source) RedisModule_Free(source);
    return s;
}

static void track_key(AIScript *s, const RedisModuleString *keyname) {
    s->key =
        stats_register(keyname, &s->keylen, s, 1, AI_BACKEND_TORCH, s->device, s->tag, s->taglen);
}

int script_compile_keeping(AIScript *s, int keep, AIError *err) {
    if (script_compile(s, err) == 0) return 0;
    if (!keep || !ai_error_is_refusal(err)) return -1;
    s->refused = *err;
    *err = (AIError){0};
    return 0;
}

static void *rdb_load(RedisModuleIO *io, int encver) {
    AIScript *s = encver >= 0 && encver <= AI_SCRIPT_ENCVER ? load_fields(io, encver) : NULL;
    AIError err = {0};
    if (!s) {
        RedisModule_LogIOError(io, "warning", "corrupt or unsupported AI_SCRIPT value");
        return NULL;
    }
    if (script_compile_keeping(s, 1, &err) != 0) {
        RedisModule_LogIOError(io, "warning", "cannot rebuild a script: %s",
                               err.detail ? err.detail : "unknown error");
        ai_error_clear(&err);
        script_release(s);
        return NULL;
    }
    if (s->refused.code != AI_OK)
        RedisModule_LogIOError(io, "warning", "a script is kept but will not run: %s",
                               ai_error_text(&s->refused));
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
    AIArgv a = {0};
    argv_add_string(&a, keyname);
    argv_add_cstr(&a, s->device);
    argv_add_cstr(&a, "TAG");
    argv_add(&a, s->tag, s->taglen);
    argv_add_cstr(&a, "ENTRY_POINTS");
    argv_add_names(&a, &s->entry_points);
    argv_add_cstr(&a, "SOURCE");
    argv_add_cstr(&a, s->source);
    RedisModule_EmitAOF(aof, "AI.SCRIPTSTORE", "v", a.v, a.n);
    argv_free(&a);
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

AIScript *script_from_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AIError *err) {
    AIScript *s = ai_key_value(ctx, keyname, AIScriptType, AI_ERR_SCRIPT_EMPTY, err);
    if (s) script_wait_built(s);
    if (s && s->refused.code != AI_OK) {
        ai_error_set(err, s->refused.code, s->refused.detail);
        return NULL;
    }
    return s;
}

int script_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIScript **s) {
    return ai_key_value_or_reply(ctx, keyname, AIScriptType, AI_ERR_SCRIPT_EMPTY, (void **)s);
}

int script_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIScript *s) {
    s->queue = queue_get(s->device);
    if (!s->queue) {
        script_release(s);
        ai_reply_code(ctx, AI_ERR_NO_QUEUE);
        return REDISMODULE_ERR;
    }
    if (ai_key_store_or_reply(ctx, keyname, AIScriptType, s) != REDISMODULE_OK) {
        script_release(s);
        return REDISMODULE_ERR;
    }
    track_key(s, keyname);
    return REDISMODULE_OK;
}
