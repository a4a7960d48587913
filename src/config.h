/* Module configuration: load-time arguments (spec 6.3) and their AI.CONFIG twins. */
#pragma once
#include "redismodule.h"

typedef struct AIConfig {
    char *backends_path;
    long long dag_result_ttl; /* ms an asynchronous DAG's result is kept */
    long long dag_async_max;  /* asynchronous DAGs pending or kept, at most */
    long long threads_per_queue;
    long long inter_op_parallelism;
    long long intra_op_parallelism;
    long long model_chunk_size;
    long long model_execution_timeout;
    long long backend_memory_limit;
    long long tensor_max_bytes; /* the cap of one tensor (roadmap R5), see tensor.h */
    unsigned preload_backends;  /* bit per backend id named at load time */
    int native_runs;            /* NATIVE_RUNS yes|no: workers use backends' native runners */
    /* Deployment: PYTHON_ENV <path>, the Python environment to embed; NULL: found from the
     * module's own location (pyx/python_env.h). */
    char *python_env;
    long long stream_maxlen; /* PERSIST into a stream trims it to about this; 0: never */
} AIConfig;

extern AIConfig ai_config;
/* The asynchronous DAG option called name (DAG_RESULT_TTL, DAG_ASYNC_MAX), and its least
 * valid value; NULL for another name. Set at load time and by AI.CONFIG. */
long long *config_dag_option(const char *name, long long *min);

void config_set_backends_path(const char *path);

/* STREAM_MAXLEN (roadmap R2.2), at load time and in AI.CONFIG: AI.CONFIG STREAM_MAXLEN <n>
 * sets it and replies; config_stream_maxlen_parse reads a value (0 or more). */
int config_stream_maxlen_parse(RedisModuleString *value, long long *out);
int config_stream_maxlen_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* AI.CONFIG TENSOR_MAX_BYTES <bytes>: sets the cap and replies. */
int config_tensor_max_bytes_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);

/* Applies `NAME value` pairs; on a bad pair logs which one and returns REDISMODULE_ERR. */
int config_load_args(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
