/* Parsing of AI.SCRIPTEXECUTE and AI.SCRIPTRUN, shared with DAG ops. */
#pragma once
#include "redismodule.h"
#include "script.h"

typedef struct AIScriptCall {
    AIScript *script; /* borrowed from the keyspace, valid during the command */
    RedisModuleString *fn;
    RedisModuleString **keys, **inputs, **args, **outputs;
    int nkeys, nin, nargs, nout;
    long long timeout;
    RedisModuleString **owned; /* SCRIPTRUN's compacted argument copy */
} AIScriptCall;

/* argv is the whole command. in_dag: KEYS/INPUTS need not come first. 0, or -1 having
 * replied. On success release c with script_call_clear. */
int script_execute_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int in_dag,
                         AIScriptCall *c);
int script_run_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIScriptCall *c);
void script_call_clear(AIScriptCall *c);
