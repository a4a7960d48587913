/* Asynchronous DAGs (roadmap R1): AI.DAGEXECUTE_ASYNC, AI.DAGRUNASYNC, AI.DAGINFO and
 * their registry of runs; see dag_async.c. Main thread only. */
#pragma once
#include "redismodule.h"

/* Registers the three commands; called from dag_commands_register at load. */
int dag_async_commands_register(RedisModuleCtx *ctx);
/* The INFO MODULES section ai_async_dags: runs queued, running, kept (finished, not yet
 * forgotten), and how many ended done, with an error, or timed out. */
void dag_async_info(RedisModuleInfoCtx *ctx);

/* The same counts, for AI.INFO without arguments (roadmap R4). */
typedef struct AIAsyncTotals {
    long long queued, running, kept, done, errors, timedout;
} AIAsyncTotals;
void dag_async_totals(AIAsyncTotals *t);

/* Runs of triggers (roadmap R2.3) go through the same hand-off as the commands' runs but
 * have no id: when d is over (or at once, for a DAG with no device op), done(ctx, d, arg)
 * is called on the main thread in a timer's context selected to database dbid. done owns
 * d; nothing was written for it (its PERSIST keys are done's to write). */
typedef struct Dag Dag;
typedef void (*DagAsyncDone)(RedisModuleCtx *ctx, Dag *d, void *arg);
void dag_async_run(Dag *d, int dbid, DagAsyncDone done, void *arg);
