/* Module configuration: load-time arguments (spec 6.3) and their AI.CONFIG twins. */
#pragma once
#include "redismodule.h"

typedef struct AIConfig {
    char *backends_path;
    long long threads_per_queue;
    long long inter_op_parallelism;
    long long intra_op_parallelism;
    long long model_chunk_size;
    long long model_execution_timeout;
    long long backend_memory_limit;
    unsigned preload_backends; /* bit per backend id named at load time */
    int native_runs;           /* NATIVE_RUNS yes|no: workers use backends' native runners */
} AIConfig;

extern AIConfig ai_config;

void config_set_backends_path(const char *path);

/* Applies `NAME value` pairs; on a bad pair logs which one and returns REDISMODULE_ERR. */
int config_load_args(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
