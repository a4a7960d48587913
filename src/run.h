/* A blocked client's run of a model or script (spec 7): what the command captured on the
 * main thread, what the worker produced, and the completion on the main thread.
 *
 * Life of a run: run_start takes references to the inputs (later writes to those keys do
 * not affect it) and keeps the output names, then blocks the client and queues the run.
 * A worker runs job.run, which sets outputs or err (or timed_out) and calls run_finish.
 * On the main thread the unblock callback writes every output and replicates it as
 * AI.TENSORSET, or replies the error / TIMEDOUT; then the free callback records the run
 * (kind->record, even for a client that went away) and frees everything (kind->destroy). */
#pragma once
#include "errors.h"
#include "queue.h"
#include "redismodule.h"
#include "tensor.h"

typedef struct AIRun AIRun;

typedef struct AIRunKind {
    void (*prepare)(AIRun *r); /* optional, main thread, inputs captured: before queueing */
    void (*record)(AIRun *r);  /* main thread, once: statistics */
    void (*destroy)(AIRun *r); /* frees what the kind added */
} AIRunKind;

struct AIRun {
    AIJob job; /* first: queues see runs as jobs */
    const AIRunKind *kind;
    RedisModuleBlockedClient *bc;
    int ninputs, noutputs;
    AITensor **inputs;
    AITensor **outputs;
    RedisModuleString **outkeys;
    int timed_out;
    long long duration_us;
    AIError err;
};

void run_init(AIRun *r, const AIRunKind *kind, AIJobFn run, int ninputs, int noutputs);
/* Reads the input tensors now (replying and freeing the run on a missing or wrong key),
 * keeps the output key names, blocks the client and queues the run on q; the run then
 * belongs to the queue. */
int run_start(RedisModuleCtx *ctx, AIRun *r, RedisModuleString **inputs,
              RedisModuleString **outputs, AIQueue *q);
/* Worker: true when the run waited longer than its TIMEOUT. */
int run_expired(const AIRun *r);
/* Worker: hands the finished run back to the main thread. */
void run_finish(AIRun *r);
