/* Parsing of AI.SCRIPTEXECUTE and AI.SCRIPTRUN, shared with DAG ops. */
#pragma once
#include "errors.h"
#include "redismodule.h"
#include "script.h"

typedef struct AIScriptCall {
    AIScript *script; /* borrowed from the keyspace, valid during the command */
    RedisModuleString *fn;
    RedisModuleString **keys, **inputs, **args, **outputs;
    int nkeys, nin, nargs, nout;
    long long timeout;
    long long ttr_ms;          /* 0: none (roadmap R3) */
    RedisModuleString **owned; /* SCRIPTRUN's compacted argument copy */
} AIScriptCall;

/* argv is the whole command. in_dag: KEYS/INPUTS need not come first. Looks the script up
 * and reads TIMEOUT and TTR. REDISMODULE_OK (then release c with script_call_clear), or
 * REDISMODULE_ERR with err set. */
int script_execute_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int in_dag,
                         AIScriptCall *c, AIError *err);
int script_run_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIScriptCall *c,
                     AIError *err);
void script_call_clear(AIScriptCall *c);
