/* Parsing of AI.MODELEXECUTE and AI.MODELRUN, shared with DAG ops. */
#pragma once
#include "errors.h"
#include "model.h"
#include "redismodule.h"

typedef struct AIModelCall {
    AIModel *model; /* borrowed from the keyspace, valid during the command */
    RedisModuleString **inputs, **outputs;
    int nin, nout;
    long long timeout; /* 0: none */
    long long ttr_ms;  /* 0: none (roadmap R3) */
} AIModelCall;

/* argv is the whole command (argv[0] its name). Looks the model up, checks the counts
 * against it and reads TIMEOUT and TTR. REDISMODULE_OK, or REDISMODULE_ERR with err set. */
int model_execute_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIModelCall *c,
                        AIError *err);
int model_run_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIModelCall *c,
                    AIError *err);
