/* Load-time arguments. An odd count, an unknown name or a bad value refuses the load,
 * logging `ERR error processing argument: <NAME> <value>` as RedisAI does. */
#define _GNU_SOURCE /* dladdr */
#include "config.h"
#include "errors.h"
#include "model.h"
#include "tensor.h"

#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

AIConfig ai_config = {
    .dag_result_ttl = 60000,
    .dag_async_max = 100000,
    .threads_per_queue = 1,
    .model_chunk_size = 511LL * 1024 * 1024,
    .model_execution_timeout = 5000,
    .tensor_max_bytes = (long long)AI_TENSOR_MAX_BYTES_DEFAULT,
    .native_runs = 1,
    .stream_maxlen = 10000,
};

long long *config_dag_option(const char *name, long long *min) {
    *min = !strcasecmp(name, "DAG_ASYNC_MAX");
    if (!strcasecmp(name, "DAG_RESULT_TTL")) return &ai_config.dag_result_ttl;
    if (!strcasecmp(name, "DAG_ASYNC_MAX")) return &ai_config.dag_async_max;
    return NULL;
}

void config_set_backends_path(const char *path) {
    if (ai_config.backends_path) RedisModule_Free(ai_config.backends_path);
    ai_config.backends_path = RedisModule_Strdup(path);
}

/* Default BACKENDSPATH: <directory of the module .so>/backends. */
static void default_backends_path(void) {
    Dl_info info;
    char buf[4096] = ".";
    if (dladdr((void *)default_backends_path, &info) && info.dli_fname)
        snprintf(buf, sizeof buf, "%s", info.dli_fname);
    char path[4200];
    snprintf(path, sizeof path, "%s/backends", dirname(buf));
    config_set_backends_path(path);
}

static int parse_positive(RedisModuleString *value, long long min, long long *out) {
    long long v;
    if (RedisModule_StringToLongLong(value, &v) != REDISMODULE_OK || v < min) return -1;
    *out = v;
    return 0;
}

static int parse_yes_no(RedisModuleString *value, int *out) {
    const char *v = RedisModule_StringPtrLen(value, NULL);
    if (strcasecmp(v, "yes") && strcasecmp(v, "no")) return -1;
    *out = !strcasecmp(v, "yes");
    return 0;
}

/* Checked when the interpreter starts, which says what is wrong with it. */
static int config_set_python_env(RedisModuleString *value) {
    if (ai_config.python_env) RedisModule_Free(ai_config.python_env);
    ai_config.python_env = RedisModule_Strdup(RedisModule_StringPtrLen(value, NULL));
    return 0;
}

static int apply(const char *name, RedisModuleString *value) {
    int b = ai_backend_by_name(name, strlen(name));
    if (b >= 0) {
        /* A library path from a RedisAI start-up line: here it only means "preload". */
        ai_config.preload_backends |= 1u << b;
        return 0;
    }
    long long min, *dag_option = config_dag_option(name, &min);
    if (dag_option) return parse_positive(value, min, dag_option);
    if (!strcasecmp(name, "THREADS_PER_QUEUE"))
        return parse_positive(value, 1, &ai_config.threads_per_queue);
    if (!strcasecmp(name, "INTER_OP_PARALLELISM"))
        return parse_positive(value, 1, &ai_config.inter_op_parallelism);
    if (!strcasecmp(name, "INTRA_OP_PARALLELISM"))
        return parse_positive(value, 1, &ai_config.intra_op_parallelism);
    if (!strcasecmp(name, "MODEL_CHUNK_SIZE"))
        return parse_positive(value, 1, &ai_config.model_chunk_size);
    if (!strcasecmp(name, "MODEL_EXECUTION_TIMEOUT"))
        return parse_positive(value, 1000, &ai_config.model_execution_timeout);
    if (!strcasecmp(name, "BACKEND_MEMORY_LIMIT"))
        return parse_positive(value, 1, &ai_config.backend_memory_limit);
    if (!strcasecmp(name, "TENSOR_MAX_BYTES")) {
        if (parse_positive(value, 1, &ai_config.tensor_max_bytes) != 0) return -1;
        tensor_set_max_bytes((size_t)ai_config.tensor_max_bytes);
        return 0;
    }
    if (!strcasecmp(name, "NATIVE_RUNS")) return parse_yes_no(value, &ai_config.native_runs);
    if (!strcasecmp(name, "STREAM_MAXLEN"))
        return config_stream_maxlen_parse(value, &ai_config.stream_maxlen) == REDISMODULE_OK ? 0
                                                                                             : -1;
    if (!strcasecmp(name, "BACKENDSPATH")) return 0; /* applied first, below */
    if (!strcasecmp(name, "PYTHON_ENV")) return config_set_python_env(value);
    return -1;
}

int config_tensor_max_bytes_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    long long size;
    if (argc < 3) return ai_reply_code(ctx, AI_ERR_TENSOR_MAX_MISSING);
    if (parse_positive(argv[2], 1, &size) != 0)
        return ai_reply_code(ctx, AI_ERR_TENSOR_MAX_INVALID);
    ai_config.tensor_max_bytes = size;
    tensor_set_max_bytes((size_t)size);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

int config_stream_maxlen_parse(RedisModuleString *value, long long *out) {
    return parse_positive(value, 0, out) == 0 ? REDISMODULE_OK : REDISMODULE_ERR;
}

int config_stream_maxlen_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    AIError err = {0};
    long long value;
    if (argc < 3)
        ai_error_set_arg(&err, AI_ERR_CONFIG_VALUE_MISSING, "STREAM_MAXLEN");
    else if (config_stream_maxlen_parse(argv[2], &value) != REDISMODULE_OK)
        ai_error_set_arg(&err, AI_ERR_CONFIG_VALUE_INVALID, "STREAM_MAXLEN");
    if (err.code != AI_OK) return ai_reply_error(ctx, &err);
    ai_config.stream_maxlen = value;
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

int config_load_args(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    default_backends_path();
    if (argc % 2) {
        RedisModule_Log(ctx, "warning", "ERR error processing argument: odd number of arguments");
        return REDISMODULE_ERR;
    }
    for (int i = 0; i < argc; i += 2)
        if (!strcasecmp(RedisModule_StringPtrLen(argv[i], NULL), "BACKENDSPATH"))
            config_set_backends_path(RedisModule_StringPtrLen(argv[i + 1], NULL));
    for (int i = 0; i < argc; i += 2) {
        const char *name = RedisModule_StringPtrLen(argv[i], NULL);
        if (apply(name, argv[i + 1]) != 0) {
            RedisModule_Log(ctx, "warning", "ERR error processing argument: %s %s", name,
                            RedisModule_StringPtrLen(argv[i + 1], NULL));
            return REDISMODULE_ERR;
        }
    }
    return REDISMODULE_OK;
}
