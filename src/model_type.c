/* The AI__MODEL data type. Saving, AOF rewrite and MEMORY USAGE read only the bytes and
 * settings kept in C (a fork child never calls Python); loading rebuilds the model with
 * its backend on the loading thread.
 *
 * RDB layout (encoding version 4, RedisAI's): backend id, device (with its NUL), tag,
 * batchsize, minbatchsize, minbatchtimeout, input names, output names (each with its
 * NUL), total blob length, chunk count, chunks. Older RedisAI releases wrote versions 0-3,
 * which load too: version 0 has the tag with its NUL, no minbatchtimeout and the blob as
 * one string; version 1 saves the tag as bytes and chunks the blob as version 4 does;
 * version 2 adds minbatchtimeout; version 3 is version 4's layout (the version changed
 * for tensors). Saving always writes version 4. */
#include "model_type.h"

#include <string.h>

#include "argv.h"
#include "config.h"
#include "keys.h"
#include "rdb_io.h"
#include "stats.h"

RedisModuleType *AIModelType = NULL;

#define MAX_NAMES 4096

static size_t chunk_count(size_t len) { return len / (size_t)ai_config.model_chunk_size + 1; }

static void rdb_save(RedisModuleIO *io, void *value) {
    AIModel *m = value;
    /* A replica's model still building has no names yet but TF's: DUMP and SAVE wait for
     * them; a BGSAVE child saves it without (its backend reports them again on load). */
    model_wait_built(m);
    RedisModule_SaveUnsigned(io, m->backend);
    ai_rdb_save_cstring(io, m->device);
    RedisModule_SaveStringBuffer(io, m->tag, m->taglen);
    RedisModule_SaveUnsigned(io, m->batchsize);
    RedisModule_SaveUnsigned(io, m->minbatchsize);
    RedisModule_SaveUnsigned(io, m->minbatchtimeout);
    ai_rdb_save_names(io, &m->inputs);
    ai_rdb_save_names(io, &m->outputs);
    size_t chunk = (size_t)ai_config.model_chunk_size, n = chunk_count(m->bloblen);
    RedisModule_SaveUnsigned(io, m->bloblen);
    RedisModule_SaveUnsigned(io, n);
    for (size_t i = 0; i < n; i++) {
        size_t off = i * chunk, len = i + 1 < n ? chunk : m->bloblen - off;
        RedisModule_SaveStringBuffer(io, m->blob + off, len);
    }
}

/* Versions 1-4: total length, chunk count, chunks. */
static char *load_blob_chunks(RedisModuleIO *io, size_t *len) {
    uint64_t total = RedisModule_LoadUnsigned(io), n = RedisModule_LoadUnsigned(io);
    if (RedisModule_IsIOError(io) || n == 0 || n > total + 1) return NULL;
    char *blob = RedisModule_TryAlloc(total ? total : 1);
    if (!blob) return NULL;
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t clen;
        char *chunk = RedisModule_LoadStringBuffer(io, &clen);
        if (RedisModule_IsIOError(io) || clen > total - off) {
            if (!RedisModule_IsIOError(io)) RedisModule_Free(chunk);
            RedisModule_Free(blob);
            return NULL;
        }
        memcpy(blob + off, chunk, clen);
        off += clen;
        RedisModule_Free(chunk);
    }
    if (off != total) {
        RedisModule_Free(blob);
        return NULL;
    }
    *len = total;
    return blob;
}

static char *load_blob(RedisModuleIO *io, int encver, size_t *len) {
    if (encver > 0) return load_blob_chunks(io, len);
    char *blob = RedisModule_LoadStringBuffer(io, len); /* version 0: one string */
    return RedisModule_IsIOError(io) ? NULL : blob;
}

/* The model as saved in encoding version encver, not yet loaded; NULL if the stream is
 * corrupt. */
static AIModel *load_fields(RedisModuleIO *io, int encver, AINames *in, AINames *out) {
    uint64_t backend = RedisModule_LoadUnsigned(io);
    if (RedisModule_IsIOError(io) || backend >= AI_BACKEND__COUNT) return NULL;
    char *device = ai_rdb_load_cstring(io);
    if (!device) return NULL;
    size_t taglen, bloblen;
    char *tag = ai_rdb_load_tag(io, encver, &taglen);
    long long batch = 0, minbatch = 0, mintimeout = 0;
    if (tag) {
        batch = RedisModule_LoadUnsigned(io);
        minbatch = RedisModule_LoadUnsigned(io);
        if (encver >= 2) mintimeout = RedisModule_LoadUnsigned(io);
    }
    char *blob = NULL;
    if (tag && !RedisModule_IsIOError(io) && ai_rdb_load_names(io, in, MAX_NAMES) == 0 &&
        ai_rdb_load_names(io, out, MAX_NAMES) == 0)
        blob = load_blob(io, encver, &bloblen);
    AIModel *m = blob ? model_new((int)backend, device, tag, taglen, blob, bloblen) : NULL;
    if (m) {
        m->batchsize = batch;
        m->minbatchsize = minbatch;
        m->minbatchtimeout = mintimeout;
    }
    RedisModule_Free(device);
    if (tag) RedisModule_Free(tag);
    return m;
}

/* Remembers the key m is stored under and gives it fresh run statistics. */
static void model_track_key(AIModel *m, const RedisModuleString *keyname) {
    m->key = stats_register(keyname, &m->keylen, m, 0, m->backend, m->device, m->tag, m->taglen);
}

int model_load_keeping(AIModel *m, AINames *in, AINames *out, int keep, AIError *err) {
    /* Only TF needs the names it was given; the others report their own. */
    int tf = m->backend == AI_BACKEND_TF;
    if (model_load(m, tf ? in : NULL, tf ? out : NULL, err) == 0) return 0;
    if (!keep || !ai_error_is_refusal(err)) return -1;
    m->refused = *err;
    *err = (AIError){0};
    ai_names_free(&m->inputs);
    ai_names_free(&m->outputs);
    m->inputs = *in;
    m->outputs = *out;
    *in = (AINames){0};
    *out = (AINames){0};
    return 0;
}

static void *rdb_load(RedisModuleIO *io, int encver) {
    AINames in = {0}, out = {0};
    AIModel *m =
        encver >= 0 && encver <= AI_MODEL_ENCVER ? load_fields(io, encver, &in, &out) : NULL;
    AIError err = {0};
    if (m && model_load_keeping(m, &in, &out, 1, &err) != 0) {
        RedisModule_LogIOError(io, "warning", "cannot rebuild a model: %s",
                               err.detail ? err.detail : "unknown error");
        model_release(m);
        m = NULL;
    } else if (!m) {
        RedisModule_LogIOError(io, "warning", "corrupt or unsupported AI__MODEL value");
    }
    ai_error_clear(&err);
    ai_names_free(&in);
    ai_names_free(&out);
    if (!m) return NULL;
    if (m->refused.code != AI_OK)
        RedisModule_LogIOError(io, "warning", "a model is kept but will not run: %s",
                               ai_error_text(&m->refused));
    if (!(m->queue = queue_get(m->device))) {
        RedisModule_LogIOError(io, "warning", "no worker queue for a model's device");
        model_release(m);
        return NULL;
    }
    const RedisModuleString *keyname = RedisModule_GetKeyNameFromIO(io);
    if (keyname) model_track_key(m, keyname);
    return m;
}

/* AI.MODELSTORE key BACKEND device TAG t BATCHSIZE n MINBATCHSIZE m MINBATCHTIMEOUT t
 * [INPUTS k names... OUTPUTS k names... (TF)] BLOB chunks... */
static void aof_rewrite(RedisModuleIO *aof, RedisModuleString *keyname, void *value) {
    AIModel *m = value;
    size_t nchunks = chunk_count(m->bloblen), chunk = (size_t)ai_config.model_chunk_size;
    AIArgv a = {0};
    argv_add_string(&a, keyname);
    argv_add_cstr(&a, ai_backend_name(m->backend));
    argv_add_cstr(&a, m->device);
    argv_add_cstr(&a, "TAG");
    argv_add(&a, m->tag, m->taglen);
    argv_add_cstr(&a, "BATCHSIZE");
    argv_add_ll(&a, m->batchsize);
    argv_add_cstr(&a, "MINBATCHSIZE");
    argv_add_ll(&a, m->minbatchsize);
    argv_add_cstr(&a, "MINBATCHTIMEOUT");
    argv_add_ll(&a, m->minbatchtimeout);
    if (m->backend == AI_BACKEND_TF) {
        argv_add_cstr(&a, "INPUTS");
        argv_add_names(&a, &m->inputs);
        argv_add_cstr(&a, "OUTPUTS");
        argv_add_names(&a, &m->outputs);
    }
    argv_add_cstr(&a, "BLOB");
    for (size_t i = 0; i < nchunks; i++) {
        size_t off = i * chunk;
        argv_add(&a, m->blob + off, i + 1 < nchunks ? chunk : m->bloblen - off);
    }
    RedisModule_EmitAOF(aof, "AI.MODELSTORE", "v", a.v, a.n);
    argv_free(&a);
}

static size_t mem_usage(const void *value) { return model_mem_usage(value); }

static void digest(RedisModuleDigest *md, void *value) {
    AIModel *m = value;
    RedisModule_DigestAddStringBuffer(md, m->device, strlen(m->device));
    RedisModule_DigestAddStringBuffer(md, m->tag, m->taglen);
    RedisModule_DigestAddStringBuffer(md, m->blob, m->bloblen);
    RedisModule_DigestEndSequence(md);
}

static void free_value(void *value) {
    AIModel *m = value;
    if (m->key) stats_unregister(m->key, m->keylen, m);
    model_release(m);
}

int model_type_register(RedisModuleCtx *ctx) {
    RedisModuleTypeMethods tm = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = rdb_load,
        .rdb_save = rdb_save,
        .aof_rewrite = aof_rewrite,
        .mem_usage = mem_usage,
        .digest = digest,
        .free = free_value,
    };
    AIModelType = RedisModule_CreateDataType(ctx, "AI__MODEL", AI_MODEL_ENCVER, &tm);
    return AIModelType ? REDISMODULE_OK : REDISMODULE_ERR;
}

AIModel *model_from_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AIError *err) {
    AIModel *m = ai_key_value(ctx, keyname, AIModelType, AI_ERR_MODEL_EMPTY, err);
    if (m) model_wait_built(m);
    if (m && m->refused.code != AI_OK) {
        ai_error_set(err, m->refused.code, m->refused.detail);
        return NULL;
    }
    return m;
}

int model_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIModel **m) {
    if (ai_key_value_or_reply(ctx, keyname, AIModelType, AI_ERR_MODEL_EMPTY, (void **)m) !=
        REDISMODULE_OK)
        return REDISMODULE_ERR;
    model_wait_built(*m);
    return REDISMODULE_OK;
}

int model_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIModel *m) {
    m->queue = queue_get(m->device);
    if (!m->queue) {
        model_release(m);
        ai_reply_code(ctx, AI_ERR_NO_QUEUE);
        return REDISMODULE_ERR;
    }
    if (ai_key_store_or_reply(ctx, keyname, AIModelType, m) != REDISMODULE_OK) {
        model_release(m);
        return REDISMODULE_ERR;
    }
    model_track_key(m, keyname);
    return REDISMODULE_OK;
}

void model_reply_blob(RedisModuleCtx *ctx, const AIModel *m) {
    size_t chunk = (size_t)ai_config.model_chunk_size, n = chunk_count(m->bloblen);
    if (n == 1) {
        RedisModule_ReplyWithStringBuffer(ctx, m->blob, m->bloblen);
        return;
    }
    RedisModule_ReplyWithArray(ctx, n);
    for (size_t i = 0; i < n; i++) {
        size_t off = i * chunk;
        RedisModule_ReplyWithStringBuffer(ctx, m->blob + off, i + 1 < n ? chunk : m->bloblen - off);
    }
}
