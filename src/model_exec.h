/* Parsing of AI.MODELEXECUTE and AI.MODELRUN, shared with DAG ops. */
#pragma once
#include "model.h"
#include "redismodule.h"

typedef struct AIModelCall {
    AIModel *model; /* borrowed from the keyspace, valid during the command */
    RedisModuleString **inputs, **outputs;
    int nin, nout;
    long long timeout; /* 0: none */
} AIModelCall;

/* argv is the whole command (argv[0] its name). 0, or -1 having replied the error. */
int model_execute_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIModelCall *c);
int model_run_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIModelCall *c);
