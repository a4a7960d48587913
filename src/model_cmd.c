/* AI.MODELSTORE, AI.MODELSET, AI.MODELGET, AI.MODELDEL and AI._MODELSCAN (spec 3.2-3.4,
 * 3.6, 3.8).
 *
 * Storing a model never stalls Redis: the command is parsed here and the model is loaded
 * on the loader thread (store_job.h). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "config.h"
#include "log.h"
#include "model_type.h"
#include "stats.h"
#include "store_job.h"

typedef struct StoreArgs {
    int backend;
    const char *device;
    const char *tag;
    size_t taglen;
    long long batch, minbatch, mintimeout;
    AINames inputs, outputs; /* names the client gave (TF) */
    int blob_at;             /* index of the first chunk */
} StoreArgs;

/* An unsigned option value; RedisAI also takes "4.0" as 4. */
static int parse_count(RedisModuleString *arg, long long *out) {
    double d;
    if (RedisModule_StringToLongLong(arg, out) == REDISMODULE_OK)
        return *out >= 0 ? REDISMODULE_OK : REDISMODULE_ERR;
    if (RedisModule_StringToDouble(arg, &d) != REDISMODULE_OK || d < 0 || d > 1e18)
        return REDISMODULE_ERR;
    *out = (long long)d;
    return REDISMODULE_OK;
}

/* TAG / BATCHSIZE / MINBATCHSIZE / MINBATCHTIMEOUT, in that order, each optional. */
static int parse_options(RedisModuleString **argv, int argc, int *i, StoreArgs *a, AIError *err) {
    if (*i + 1 < argc && ai_arg_is(argv[*i], "TAG")) {
        a->tag = RedisModule_StringPtrLen(argv[*i + 1], &a->taglen);
        *i += 2;
    }
    static const struct {
        const char *name;
        AIErrCode error;
        size_t field;
    } opts[] = {
        {"BATCHSIZE", AI_ERR_BATCHSIZE, offsetof(StoreArgs, batch)},
        {"MINBATCHSIZE", AI_ERR_MINBATCHSIZE, offsetof(StoreArgs, minbatch)},
        {"MINBATCHTIMEOUT", AI_ERR_MINBATCHTIMEOUT, offsetof(StoreArgs, mintimeout)},
    };
    for (size_t o = 0; o < 3; o++) {
        if (*i >= argc || !ai_arg_is(argv[*i], opts[o].name)) continue;
        if (*i + 1 >= argc ||
            parse_count(argv[*i + 1], (long long *)((char *)a + opts[o].field)) != REDISMODULE_OK)
            return ai_fail(err, opts[o].error);
        *i += 2;
    }
    return REDISMODULE_OK;
}

/* INPUTS <n> <name>... OUTPUTS <n> <name>... of AI.MODELSTORE for TF. */
static int parse_tf_names(RedisModuleString **argv, int argc, int *i, StoreArgs *a, AIError *err) {
    long long n;
    if (!ai_arg_is(argv[*i], "INPUTS")) return ai_fail(err, AI_ERR_TF_NO_INPUTS);
    if (*i + 1 >= argc || RedisModule_StringToLongLong(argv[*i + 1], &n) != REDISMODULE_OK ||
        n <= 0)
        return ai_fail(err, AI_ERR_INPUT_COUNT);
    if (argc - (*i + 2) < n) return ai_fail(err, AI_ERR_TF_INPUTS_ARGS);
    ai_names_from_args(&a->inputs, argv + *i + 2, (int)n);
    *i += 2 + (int)n;
    if (*i >= argc || !ai_arg_is(argv[*i], "OUTPUTS")) return ai_fail(err, AI_ERR_TF_NO_OUTPUTS);
    if (*i + 1 >= argc || RedisModule_StringToLongLong(argv[*i + 1], &n) != REDISMODULE_OK ||
        n <= 0)
        return ai_fail(err, AI_ERR_OUTPUT_COUNT);
    if (argc - (*i + 2) < n) return ai_fail(err, AI_ERR_TF_OUTPUTS_ARGS);
    ai_names_from_args(&a->outputs, argv + *i + 2, (int)n);
    *i += 2 + (int)n;
    return REDISMODULE_OK;
}

static int parse_backend_device(RedisModuleString **argv, StoreArgs *a, AIError *err) {
    size_t len;
    const char *name = RedisModule_StringPtrLen(argv[2], &len);
    if ((a->backend = ai_backend_by_name(name, len)) < 0)
        return ai_fail(err, AI_ERR_UNSUPPORTED_BACKEND);
    a->device = RedisModule_StringPtrLen(argv[3], &len);
    return REDISMODULE_OK;
}

/* AI.MODELSTORE key backend device [TAG t] [BATCHSIZE n [MINBATCHSIZE m
 * [MINBATCHTIMEOUT t]]] [INPUTS n ... OUTPUTS n ...] BLOB chunk... */
static int parse_modelstore(RedisModuleString **argv, int argc, StoreArgs *a, AIError *err) {
    if (parse_backend_device(argv, a, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    size_t len;
    RedisModule_StringPtrLen(argv[3], &len);
    if (!ai_device_valid(a->device, len)) return ai_fail(err, AI_ERR_INVALID_DEVICE);
    int i = 4;
    if (parse_options(argv, argc, &i, a, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (a->minbatch > 0 && a->batch == 0) return ai_fail(err, AI_ERR_MINBATCH_NO_BATCH);
    if (a->mintimeout > 0 && a->minbatch == 0) return ai_fail(err, AI_ERR_MINTIMEOUT_NO_MINBATCH);
    if (i >= argc) return ai_fail(err, AI_ERR_MISSING_BLOB);
    if (a->backend == AI_BACKEND_TF) {
        if (parse_tf_names(argv, argc, &i, a, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    } else if (ai_arg_is(argv[i], "INPUTS")) {
        return ai_fail(err, AI_ERR_INPUTS_NOT_FOR_BACKEND);
    }
    if (i >= argc || !ai_arg_is(argv[i], "BLOB")) return ai_fail(err, AI_ERR_EXPECTED_BLOB);
    if (i + 1 >= argc) return ai_fail(err, AI_ERR_MISSING_BLOB);
    a->blob_at = i + 1;
    return REDISMODULE_OK;
}

static int is_modelset_keyword(RedisModuleString *arg) {
    static const char *const words[] = {"INPUTS",       "OUTPUTS",         "TAG", "BATCHSIZE",
                                        "MINBATCHSIZE", "MINBATCHTIMEOUT", "BLOB"};
    for (size_t w = 0; w < sizeof words / sizeof *words; w++)
        if (ai_arg_is(arg, words[w])) return 1;
    return 0;
}

/* Finds BLOB after i; the TF node names of AI.MODELSET are the tokens before it. */
static int parse_modelset_names(RedisModuleString **argv, int argc, int i, StoreArgs *a,
                                AIError *err) {
    int blob = i;
    while (blob < argc && !ai_arg_is(argv[blob], "BLOB")) blob++;
    if (a->backend == AI_BACKEND_TF) {
        if (blob == i) return ai_fail(err, AI_ERR_TF_NO_IO);
        if (!ai_arg_is(argv[i], "INPUTS")) return ai_fail(err, AI_ERR_NO_INPUTS);
        int outputs = i + 1;
        while (outputs < blob && !ai_arg_is(argv[outputs], "OUTPUTS")) outputs++;
        if (outputs == blob) return ai_fail(err, AI_ERR_NO_OUTPUTS);
        ai_names_from_args(&a->inputs, argv + i + 1, outputs - i - 1);
        ai_names_from_args(&a->outputs, argv + outputs + 1, blob - outputs - 1);
    }
    if (blob + 1 >= argc) return ai_fail(err, AI_ERR_MISSING_BLOB);
    a->blob_at = blob + 1;
    return REDISMODULE_OK;
}

/* AI.MODELSET key backend device [TAG t] [BATCHSIZE ...] [INPUTS name... OUTPUTS name...]
 * BLOB chunk... (deprecated: names without counts, other checks). */
static int parse_modelset(RedisModuleString **argv, int argc, StoreArgs *a, AIError *err) {
    if (parse_backend_device(argv, a, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    size_t len;
    RedisModule_StringPtrLen(argv[3], &len);
    if (len > 10 || is_modelset_keyword(argv[3])) return ai_fail(err, AI_ERR_INVALID_DEVICE);
    if (!ai_device_valid(a->device, len)) return ai_fail(err, AI_ERR_UNSUPPORTED_DEVICE);
    int i = 4;
    int had_batch = i + 2 < argc && ai_arg_is(argv[i], "TAG")
                        ? ai_arg_is(argv[i + 2], "BATCHSIZE")
                        : i < argc && ai_arg_is(argv[i], "BATCHSIZE");
    if (parse_options(argv, argc, &i, a, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (had_batch && a->backend == AI_BACKEND_TFLITE) return ai_fail(err, AI_ERR_TFLITE_BATCHING);
    if (a->minbatch > 0 && a->batch == 0) return ai_fail(err, AI_ERR_MINBATCH_NO_BATCH);
    if (a->mintimeout > 0 && a->batch == 0) return ai_fail(err, AI_ERR_MINTIMEOUT_NO_BATCH);
    if (a->mintimeout > 0 && a->minbatch == 0) return ai_fail(err, AI_ERR_MINTIMEOUT_NO_MINBATCH);
    if (i >= argc) return ai_fail(err, AI_ERR_MISSING_BLOB);
    return parse_modelset_names(argv, argc, i, a, err);
}

/* The chunks after BLOB, concatenated into one allocation: the bytes the model keeps.
 * Safe on any thread: retained argument strings are immutable. */
static char *concat_chunks(RedisModuleString **argv, int argc, int from, size_t *len) {
    size_t total = 0, off = 0, clen;
    for (int i = from; i < argc; i++) {
        RedisModule_StringPtrLen(argv[i], &clen);
        total += clen;
    }
    /* The client chose the size: a failed allocation is an error, not an abort. */
    char *blob = RedisModule_TryAlloc(total ? total : 1);
    if (!blob) return NULL;
    for (int i = from; i < argc; i++) {
        const char *p = RedisModule_StringPtrLen(argv[i], &clen);
        memcpy(blob + off, p, clen);
        off += clen;
    }
    *len = total;
    return blob;
}

/* What building the model needs beyond the model itself. */
typedef struct ModelArgs {
    int blob_at;
    AINames inputs, outputs; /* TF node names */
    int keep;                /* from AOF or a master: a refused model is kept (model_type.h) */
} ModelArgs;

/* Loader thread: the chunks are concatenated here, not on the main thread, where copying
 * a 200 MB blob would take tens of milliseconds. */
static int build(void *value, void *args, RedisModuleString **argv, int argc, AIError *err) {
    AIModel *m = value;
    ModelArgs *a = args;
    if (!m->blob_str && !(m->blob = concat_chunks(argv, argc, a->blob_at, &m->bloblen)))
        return ai_fail(err, AI_ERR_NO_MEMORY);
    return model_load_keeping(m, &a->inputs, &a->outputs, a->keep, err);
}

static int store(RedisModuleCtx *ctx, RedisModuleString *key, void *value) {
    return model_store_or_reply(ctx, key, value);
}

static void release(void *value) { model_release(value); }

static void free_args(void *args) {
    ModelArgs *a = args;
    ai_names_free(&a->inputs);
    ai_names_free(&a->outputs);
    RedisModule_Free(a);
}

/* Main thread, a store from a master: the C side now, so that the key holds the model at
 * once. Until it is built, TF's given names are its names. */
static int prepare(void *value, void *args, RedisModuleString **argv, int argc, AIError *err) {
    AIModel *m = value;
    ModelArgs *a = args;
    if (!m->blob_str && !(m->blob = concat_chunks(argv, argc, a->blob_at, &m->bloblen)))
        return ai_fail(err, AI_ERR_NO_MEMORY);
    ai_names_copy(&m->inputs, &a->inputs);
    ai_names_copy(&m->outputs, &a->outputs);
    return REDISMODULE_OK;
}

/* Loader thread: the backend side, apart from the stored model. */
static void *stage(void *value, void *args, AIError *err) {
    const AIModel *m = value;
    ModelArgs *a = args;
    int tf = m->backend == AI_BACKEND_TF;
    AIModelLoaded *l = RedisModule_Alloc(sizeof *l);
    if (model_load_into(m, tf ? &a->inputs : NULL, tf ? &a->outputs : NULL, l, err) == 0) return l;
    RedisModule_Free(l);
    return NULL;
}

/* The master loaded this model: one that does not load here (its backend missing on this
 * replica, a policy refusal) is kept, and every run of it replies why. */
static void install(void *value, void *staged, AIError *err) {
    AIModel *m = value;
    if (staged) {
        model_adopt(m, staged);
        RedisModule_Free(staged);
        return;
    }
    char msg[512];
    snprintf(msg, sizeof msg, "a model from the master is kept but will not run: %s",
             ai_error_text(err));
    ai_log("warning", msg);
    m->refused = *err;
    *err = (AIError){0};
}

static const AIPendingOps model_pending_ops = {stage, install, release, free_args};

static void build_later(void *value, void *args) {
    AIModel *m = value;
    pending_start(model_share(m), args, &m->pending, &model_pending_ops);
}

static const AIStoreOps model_store_ops = {build, store, release, free_args, prepare, build_later};

static int store_model(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, StoreArgs *a) {
    AIModel *m = model_new(a->backend, a->device, a->tag ? a->tag : "", a->taglen, NULL, 0);
    m->batchsize = a->batch;
    m->minbatchsize = a->minbatch;
    m->minbatchtimeout = a->mintimeout;
    ModelArgs *args = RedisModule_Calloc(1, sizeof *args);
    args->blob_at = a->blob_at;
    /* One chunk (what clients send): the model keeps the argument itself, no copy. */
    if (a->blob_at == argc - 1) model_keep_blob_string(m, argv[a->blob_at]);
    args->inputs = a->inputs;
    args->outputs = a->outputs;
    args->keep = ai_from_own_data(ctx);
    return store_job_start(ctx, argv, argc, &model_store_ops, m, args);
}

static int store_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int min_argc,
                         int (*parse)(RedisModuleString **, int, StoreArgs *, AIError *)) {
    if (argc < min_argc) return ai_reply_arity(ctx, argv[0]);
    StoreArgs a = {0};
    AIError err = {0};
    if (parse(argv, argc, &a, &err) != REDISMODULE_OK) {
        ai_names_free(&a.inputs);
        ai_names_free(&a.outputs);
        return ai_reply_error(ctx, &err);
    }
    return store_model(ctx, argv, argc, &a);
}

static int modelstore_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return store_command(ctx, argv, argc, 6, parse_modelstore);
}

static int modelset_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return store_command(ctx, argv, argc, 4, parse_modelset);
}

static void reply_meta_field(RedisModuleCtx *ctx, const char *name, const char *value, size_t len) {
    RedisModule_ReplyWithStringBuffer(ctx, name, strlen(name));
    RedisModule_ReplyWithStringBuffer(ctx, value, len);
}

static void reply_meta(RedisModuleCtx *ctx, const AIModel *m) {
    const char *backend = ai_backend_name(m->backend);
    reply_meta_field(ctx, "backend", backend, strlen(backend));
    reply_meta_field(ctx, "device", m->device, strlen(m->device));
    reply_meta_field(ctx, "tag", m->tag, m->taglen);
    RedisModule_ReplyWithStringBuffer(ctx, "batchsize", 9);
    RedisModule_ReplyWithLongLong(ctx, m->batchsize);
    RedisModule_ReplyWithStringBuffer(ctx, "minbatchsize", 12);
    RedisModule_ReplyWithLongLong(ctx, m->minbatchsize);
    RedisModule_ReplyWithStringBuffer(ctx, "inputs", 6);
    ai_names_reply(ctx, &m->inputs);
    RedisModule_ReplyWithStringBuffer(ctx, "outputs", 7);
    ai_names_reply(ctx, &m->outputs);
    RedisModule_ReplyWithStringBuffer(ctx, "minbatchtimeout", 15);
    RedisModule_ReplyWithLongLong(ctx, m->minbatchtimeout);
}

/* AI.MODELGET key [META] [BLOB] */
static int modelget_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2 || argc > 4) return ai_reply_arity(ctx, argv[0]);
    AIModel *m;
    if (model_from_key_or_reply(ctx, argv[1], &m) != REDISMODULE_OK) return REDISMODULE_OK;
    int meta = 0, blob = 0;
    for (int i = 2; i < argc; i++) {
        meta |= ai_arg_is(argv[i], "META");
        blob |= ai_arg_is(argv[i], "BLOB");
    }
    if (blob && !meta) {
        model_reply_blob(ctx, m);
        return REDISMODULE_OK;
    }
    RedisModule_ReplyWithArray(ctx, meta && !blob ? 16 : 18);
    reply_meta(ctx, m);
    if (meta && !blob) return REDISMODULE_OK;
    RedisModule_ReplyWithStringBuffer(ctx, "blob", 4);
    model_reply_blob(ctx, m);
    return REDISMODULE_OK;
}

/* AI.MODELDEL key */
static int modeldel_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return ai_reply_arity(ctx, argv[0]);
    AIModel *m;
    if (model_from_key_or_reply(ctx, argv[1], &m) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_WRITE);
    RedisModule_DeleteKey(key);
    RedisModule_CloseKey(key);
    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* AI._MODELSCAN */
static int modelscan_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 1) return ai_reply_arity(ctx, argv[0]);
    RedisModule_Log(ctx, "warning", "AI._MODELSCAN is experimental and might be removed");
    stats_reply_scan(ctx, 0);
    return REDISMODULE_OK;
}

int model_commands_register(RedisModuleCtx *ctx) {
    static const struct {
        const char *name;
        RedisModuleCmdFunc fn;
        const char *flags;
        int first_key;
    } cmds[] = {
        {"ai.modelstore", modelstore_command, "write deny-oom", 1},
        {"ai.modelset", modelset_command, "write deny-oom", 1},
        {"ai.modelget", modelget_command, "readonly", 1},
        {"ai.modeldel", modeldel_command, "write", 1},
        {"ai._modelscan", modelscan_command, "readonly", 0},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (RedisModule_CreateCommand(ctx, cmds[i].name, cmds[i].fn, cmds[i].flags,
                                      cmds[i].first_key, cmds[i].first_key,
                                      cmds[i].first_key) == REDISMODULE_ERR)
            return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
