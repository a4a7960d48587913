/* A blocked client's run of a model or script (spec 7): what the command captured on the
 * main thread, what the worker produced, and the completion on the main thread.
 *
 * Life of a run, in order:
 * 1. main thread: the command makes the run (run_new), run_capture takes references to
 *    the input tensors (later writes to those keys do not affect it) and keeps the output
 *    names, then run_enqueue blocks the client and queues the run with its TIMEOUT;
 * 2. a worker calls job.execute, which sets outputs or err (or timed_out when run_expired)
 *    and calls run_finish;
 * 3. main thread: the unblock callback writes every output and replicates it as
 *    AI.TENSORSET, or replies the error / TIMEDOUT; then the free callback records the run
 *    (kind->record, even for a client that went away) and frees everything
 *    (kind->destroy). */
#pragma once
#include "errors.h"
#include "handback.h"
#include "queue.h"
#include "redismodule.h"
#include "tensor.h"
#include "ttr.h"

typedef struct AIRun AIRun;

typedef struct AIRunKind {
    void (*record)(AIRun *r);  /* main thread, once, timed out or not: statistics */
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
    int failed; /* err was set: kept for the statistics once err has been replied */
    long long duration_us;
    AIError err;
    /* Time to response (roadmap R3) and monitoring (R4) */
    long long queue_wait_us; /* set by the worker when the run starts; -1: it never started */
    int ttr_missed;          /* set on the main thread: answered after its TTR */
    AIQueue *queue;          /* where it ran */
    uint64_t finished_us;    /* when its worker handed it back */
    AIHandback handback;     /* how its worker hands it back (handback.h) */
};

/* A zeroed struct of size bytes that starts with its AIRun, initialised, and the run's
 * arrays after it in the same allocation; kind->destroy frees it with RedisModule_Free. */
void *run_new(size_t size, const AIRunKind *kind, AIJobFn execute, int ninputs, int noutputs);
/* Main thread: reads the input tensors now and keeps the output key names. REDISMODULE_OK,
 * or REDISMODULE_ERR with err set on a missing or wrong input key. */
int run_capture(RedisModuleCtx *ctx, AIRun *r, RedisModuleString **inputs,
                RedisModuleString **outputs, AIError *err);
/* Main thread: blocks the client and queues the run on q, with the client's TIMEOUT and
 * TTR (0: none) counted from now; the run then belongs to the queue. Set job.cost_us
 * first. */
void run_enqueue(RedisModuleCtx *ctx, AIRun *r, AIQueue *q, const AILimits *limits);
/* Worker: the run starts now (its queue wait ends). */
void run_started(AIRun *r, uint64_t now_us);
/* Main thread, from kind->record: counts the run in the statistics of the key that owner
 * (a model or script) is stored at, if it still is; key NULL: none. */
void run_record(const AIRun *r, const char *key, size_t keylen, const void *owner,
                long long samples);
/* Frees a run that was never queued. */
void run_free(AIRun *r);
/* Worker: true when the run waited past its TIMEOUT. */
int run_expired(const AIRun *r);
/* Worker: hands the finished run back to the main thread. */
void run_finish(AIRun *r);
