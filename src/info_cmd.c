/* AI.INFO and AI.CONFIG (spec 6.1, 6.2). Neither is replicated: statistics and settings
 * are per node. */
#include <string.h>

#include "args.h"
#include "backends.h"
#include "commands.h"
#include "config.h"
#include "info_server.h"
#include "model.h"
#include "stats.h"
#include "trigger.h"

static void reply_field(RedisModuleCtx *ctx, const char *name, const char *value, size_t len) {
    RedisModule_ReplyWithStringBuffer(ctx, name, strlen(name));
    RedisModule_ReplyWithStringBuffer(ctx, value, len);
}

static void reply_count(RedisModuleCtx *ctx, const char *name, long long value) {
    RedisModule_ReplyWithStringBuffer(ctx, name, strlen(name));
    RedisModule_ReplyWithLongLong(ctx, value);
}

/* What cyrai adds after RedisAI's fields (roadmap R3, R4): 12 more elements. */
static void reply_timing(RedisModuleCtx *ctx, const AIRunStats *s) {
    reply_count(ctx, "duration_p50", stats_percentile(s, 50));
    reply_count(ctx, "duration_p99", stats_percentile(s, 99));
    reply_count(ctx, "queue_wait_p50", stats_wait_percentile(s, 50));
    reply_count(ctx, "queue_wait_p99", stats_wait_percentile(s, 99));
    reply_count(ctx, "ttr_rejected", s->ttr_rejected);
    reply_count(ctx, "ttr_missed", s->ttr_missed);
}

/* AI.INFO [key [RESETSTAT]] */
static int info_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc == 1) return info_server_reply(ctx);
    if (argc > 3) return ai_reply_arity(ctx, argv[0]);
    size_t keylen;
    const char *key = RedisModule_StringPtrLen(argv[1], &keylen);
    if (trigger_info_reply(ctx, argv, argc) == REDISMODULE_OK) return REDISMODULE_OK;
    AIRunStats *s = stats_find(key, keylen);
    if (!s) return ai_reply_code(ctx, AI_ERR_NO_RUN_INFO);
    if (argc == 3 && ai_arg_is(argv[2], "RESETSTAT")) {
        stats_reset(s);
        return RedisModule_ReplyWithSimpleString(ctx, "OK");
    }
    const char *type = s->is_script ? "SCRIPT" : "MODEL";
    const char *backend = ai_backend_name(s->backend);
    RedisModule_ReplyWithArray(ctx, 18 + 12);
    reply_field(ctx, "key", key, keylen);
    reply_field(ctx, "type", type, strlen(type));
    reply_field(ctx, "backend", backend, strlen(backend));
    reply_field(ctx, "device", s->device, strlen(s->device));
    reply_field(ctx, "tag", s->tag, s->taglen);
    reply_count(ctx, "duration", s->duration_us);
    reply_count(ctx, "samples", s->is_script ? -1 : s->samples);
    reply_count(ctx, "calls", s->calls);
    reply_count(ctx, "errors", s->errors);
    reply_timing(ctx, s);
    return REDISMODULE_OK;
}

/* Importing a framework takes seconds (TF ~3 s) and the GIL: it runs on the loader thread
 * while the client waits, never on the main thread (but in MULTI or Lua, which cannot
 * block). */
typedef struct LoadBackendJob {
    AIJob job;
    RedisModuleBlockedClient *bc;
    int backend;
    int rc;
} LoadBackendJob;

static int load_backend(int backend) {
    AIError err = {0};
    int rc = bridge_backend_load(ai_backend_name(backend), &err);
    ai_error_clear(&err);
    return rc;
}

static int reply_loaded(RedisModuleCtx *ctx, int rc) {
    if (rc != 0) return ai_reply_code(ctx, AI_ERR_LOADING_BACKEND);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static void load_backend_run(AIJob *job) {
    LoadBackendJob *j = (LoadBackendJob *)job;
    j->rc = load_backend(j->backend);
    RedisModule_UnblockClient(j->bc, j);
}

static int load_backend_reply(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv, (void)argc;
    LoadBackendJob *j = RedisModule_GetBlockedClientPrivateData(ctx);
    return reply_loaded(ctx, j->rc);
}

static void load_backend_free(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    RedisModule_Free(privdata);
}

/* LOADBACKEND <backend> <path>: the path is RedisAI's library; here it only names the
 * backend to import now. */
static int config_loadbackend(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4) return ai_reply_arity(ctx, argv[0]);
    size_t len;
    const char *name = RedisModule_StringPtrLen(argv[2], &len);
    int b = ai_backend_by_name(name, len);
    if (b < 0) return ai_reply_code(ctx, AI_ERR_UNSUPPORTED_BACKEND);
    if (ai_backend_version(b)) return ai_reply_code(ctx, AI_ERR_LOADING_BACKEND);
    if (ai_cannot_block(ctx)) return reply_loaded(ctx, load_backend(b));
    LoadBackendJob *j = RedisModule_Calloc(1, sizeof *j);
    j->backend = b;
    j->job.execute = load_backend_run;
    j->bc = RedisModule_BlockClient(ctx, load_backend_reply, NULL, load_backend_free, 0);
    queue_push(queue_loader(), &j->job);
    return REDISMODULE_OK;
}

static int config_get(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 3) return ai_reply_arity(ctx, argv[0]);
    long long min, *dag_option = config_dag_option(RedisModule_StringPtrLen(argv[2], NULL), &min);
    if (dag_option) return RedisModule_ReplyWithLongLong(ctx, *dag_option);
    if (ai_arg_is(argv[2], "BACKENDSPATH"))
        return RedisModule_ReplyWithStringBuffer(ctx, ai_config.backends_path,
                                                 strlen(ai_config.backends_path));
    if (ai_arg_is(argv[2], "MODEL_CHUNK_SIZE"))
        return RedisModule_ReplyWithLongLong(ctx, ai_config.model_chunk_size);
    if (ai_arg_is(argv[2], "TENSOR_MAX_BYTES"))
        return RedisModule_ReplyWithLongLong(ctx, ai_config.tensor_max_bytes);
    if (ai_arg_is(argv[2], "STREAM_MAXLEN"))
        return RedisModule_ReplyWithLongLong(ctx, ai_config.stream_maxlen);
    return RedisModule_ReplyWithNull(ctx);
}

/* DAG_RESULT_TTL <ms> | DAG_ASYNC_MAX <n> (roadmap R1.2). */
static int config_set_dag_option(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    long long min, value,
        *option = config_dag_option(RedisModule_StringPtrLen(argv[1], NULL), &min);
    const char *name = min ? "DAG_ASYNC_MAX" : "DAG_RESULT_TTL";
    AIError err = {0};
    if (argc < 3)
        ai_error_set_arg(&err, AI_ERR_CONFIG_VALUE_MISSING, name);
    else if (RedisModule_StringToLongLong(argv[2], &value) != REDISMODULE_OK || value < min)
        ai_error_set_arg(&err, AI_ERR_CONFIG_VALUE_INVALID, name);
    if (err.code != AI_OK) return ai_reply_error(ctx, &err);
    *option = value;
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* AI.CONFIG LOADBACKEND | BACKENDSPATH | MODEL_CHUNK_SIZE | GET ... */
static int config_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2) return ai_reply_arity(ctx, argv[0]);
    if (ai_arg_is(argv[1], "LOADBACKEND")) return config_loadbackend(ctx, argv, argc);
    if (ai_arg_is(argv[1], "GET")) return config_get(ctx, argv, argc);
    if (ai_arg_is(argv[1], "BACKENDSPATH")) {
        if (argc < 3) return ai_reply_code(ctx, AI_ERR_BACKENDSPATH_MISSING);
        config_set_backends_path(RedisModule_StringPtrLen(argv[2], NULL));
        return RedisModule_ReplyWithSimpleString(ctx, "OK");
    }
    if (ai_arg_is(argv[1], "TENSOR_MAX_BYTES"))
        return config_tensor_max_bytes_command(ctx, argv, argc);
    if (ai_arg_is(argv[1], "MODEL_CHUNK_SIZE")) {
        long long size;
        if (argc < 3) return ai_reply_code(ctx, AI_ERR_CHUNK_MISSING);
        if (RedisModule_StringToLongLong(argv[2], &size) != REDISMODULE_OK || size <= 0)
            return ai_reply_code(ctx, AI_ERR_CHUNK_INVALID);
        ai_config.model_chunk_size = size;
        return RedisModule_ReplyWithSimpleString(ctx, "OK");
    }
    if (ai_arg_is(argv[1], "STREAM_MAXLEN")) return config_stream_maxlen_command(ctx, argv, argc);
    if (config_dag_option(RedisModule_StringPtrLen(argv[1], NULL), &(long long){0}))
        return config_set_dag_option(ctx, argv, argc);
    return ai_reply_code(ctx, AI_ERR_UNSUPPORTED_SUBCOMMAND);
}

int info_commands_register(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.info", info_command, "readonly", 1, 1, 1) ==
            REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.config", config_command, "write", 0, 0, 0) ==
            REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
