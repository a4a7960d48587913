/* A blocked client's run of a model or script (spec 7): what the command captured on the
 * main thread, what the worker produced, and the completion on the main thread.
 *
 * Life of a run: the command fills inputs (references taken now: later writes to those
 * keys do not affect it) and outkeys, then run_enqueue blocks the client and queues it.
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
/* Reads the input tensors now; replies and returns -1 on a missing or wrong key. */
int run_capture_inputs(RedisModuleCtx *ctx, AIRun *r, RedisModuleString **keys);
void run_keep_outputs(AIRun *r, RedisModuleString **keys);
/* Blocks the client and queues the run; the run then belongs to the queue. */
int run_enqueue(RedisModuleCtx *ctx, AIRun *r, AIQueue *q);
/* Frees a run that was never queued (its reply already sent). */
int run_discard(AIRun *r);
/* Worker: true when the run waited longer than its TIMEOUT. */
int run_expired(const AIRun *r);
/* Worker: hands the finished run back to the main thread. */
void run_finish(AIRun *r);
