/* Blocked runs and their completion on the main thread; see run.h. */
#include "run.h"

#include "deadline.h"
#include "handback.h"
#include "keys.h"
#include "stats.h"
#include "tensor_type.h"

void *run_new(size_t size, const AIRunKind *kind, AIJobFn execute, int ninputs, int noutputs) {
    /* One allocation for the struct and its three arrays: a run is made and freed on the
     * main thread for every request. */
    size_t head = (size + sizeof(void *) - 1) & ~(sizeof(void *) - 1);
    size_t n = (size_t)ninputs + 2 * (size_t)noutputs;
    char *block = RedisModule_Calloc(1, head + n * sizeof(void *));
    AIRun *r = (AIRun *)block;
    void **arrays = (void **)(block + head);
    r->kind = kind;
    r->job.execute = execute;
    r->ninputs = ninputs;
    r->noutputs = noutputs;
    r->inputs = (AITensor **)arrays;
    r->outputs = (AITensor **)(arrays + ninputs);
    r->outkeys = (RedisModuleString **)(arrays + ninputs + noutputs);
    r->queue_wait_us = -1;
    return r;
}

void run_free(AIRun *r) {
    for (int i = 0; i < r->ninputs; i++) tensor_release(r->inputs[i]);
    for (int i = 0; i < r->noutputs; i++) {
        tensor_release(r->outputs[i]);
        if (r->outkeys[i]) RedisModule_FreeString(NULL, r->outkeys[i]);
    }
    ai_error_clear(&r->err);
    r->kind->destroy(r);
}

int run_capture(RedisModuleCtx *ctx, AIRun *r, RedisModuleString **inputs,
                RedisModuleString **outputs, AIError *err) {
    for (int i = 0; i < r->ninputs; i++) {
        AITensor *t = tensor_from_key(ctx, inputs[i], err);
        if (!t) return REDISMODULE_ERR;
        r->inputs[i] = tensor_share(t);
    }
    for (int i = 0; i < r->noutputs; i++) {
        RedisModule_RetainString(NULL, outputs[i]);
        r->outkeys[i] = outputs[i];
    }
    return REDISMODULE_OK;
}

/* Writes every output, or none if one of their keys holds another type: with several,
 * all their keys are checked before any is written (nothing runs in between). */
static int write_outputs(RedisModuleCtx *ctx, AIRun *r) {
    for (int i = 0; r->noutputs > 1 && i < r->noutputs; i++)
        if (ai_key_accepts_or_reply(ctx, r->outkeys[i], AITensorType) != REDISMODULE_OK)
            return REDISMODULE_OK;
    for (int i = 0; i < r->noutputs; i++) {
        if (tensor_store_or_reply(ctx, r->outkeys[i], tensor_share(r->outputs[i])) !=
            REDISMODULE_OK)
            return REDISMODULE_OK; /* one output, of a key of another type */
        tensor_replicate(ctx, r->outkeys[i], r->outputs[i]);
    }
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int on_unblock(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv, (void)argc;
    AIRun *r = RedisModule_GetBlockedClientPrivateData(ctx);
    if (r->timed_out) return RedisModule_ReplyWithSimpleString(ctx, "TIMEDOUT");
    if (r->failed) return ai_reply_error(ctx, &r->err);
    return write_outputs(ctx, r);
}

/* The reply has gone (or the client did): a run with a TTR answered after it missed it,
 * dropped at expiry included. */
static void on_free(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    AIRun *r = privdata;
    uint64_t now = RedisModule_MonotonicMicroseconds();
    r->ttr_missed = deadline_passed(r->job.ttr_deadline_us, now);
    if (r->finished_us && now > r->finished_us)
        queue_note_reply_lag(r->queue, (long long)(now - r->finished_us));
    r->kind->record(r);
    run_free(r);
}

void run_record(const AIRun *r, const char *key, size_t keylen, const void *owner,
                long long samples) {
    AIRunStats *s = key ? stats_of(key, keylen, owner) : NULL; /* one lookup for both */
    if (!s) return;
    if (!r->timed_out) stats_add_run(s, r->failed, r->duration_us, samples);
    stats_add_wait(s, r->queue_wait_us, r->ttr_missed);
}

/* The earlier of two deadlines, 0 standing for none. */
static uint64_t earlier(uint64_t a, uint64_t b) { return !a ? b : !b ? a : a < b ? a : b; }

void run_enqueue(RedisModuleCtx *ctx, AIRun *r, AIQueue *q, const AILimits *limits) {
    uint64_t now = RedisModule_MonotonicMicroseconds();
    r->job.ttr_deadline_us = ttr_deadline(now, limits->ttr_ms);
    r->job.deadline_us =
        earlier(deadline_from_timeout_ms(now, limits->timeout_ms), r->job.ttr_deadline_us);
    r->queue = q;
    r->bc = RedisModule_BlockClient(ctx, on_unblock, NULL, on_free, 0);
    RedisModule_BlockedClientMeasureTimeStart(r->bc);
    queue_push(q, &r->job);
}

void run_started(AIRun *r, uint64_t now_us) {
    r->queue_wait_us = now_us > r->job.enqueued_us ? (long long)(now_us - r->job.enqueued_us) : 0;
}

int run_expired(const AIRun *r) {
    return deadline_passed(r->job.deadline_us, RedisModule_MonotonicMicroseconds());
}

void run_finish(AIRun *r) {
    r->failed = r->err.code != AI_OK;
    r->finished_us = RedisModule_MonotonicMicroseconds();
    RedisModule_BlockedClientMeasureTimeEnd(r->bc);
    handback_push(&r->handback, r->bc, r);
}
