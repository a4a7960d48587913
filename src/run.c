/* Blocked runs and their completion on the main thread; see run.h. */
#include "run.h"

#include "keys.h"
#include "tensor_type.h"

void run_init(AIRun *r, const AIRunKind *kind, AIJobFn run, int ninputs, int noutputs) {
    r->kind = kind;
    r->job.run = run;
    r->ninputs = ninputs;
    r->noutputs = noutputs;
    r->inputs = RedisModule_Calloc(ninputs ? ninputs : 1, sizeof(AITensor *));
    r->outputs = RedisModule_Calloc(noutputs ? noutputs : 1, sizeof(AITensor *));
    r->outkeys = RedisModule_Calloc(noutputs ? noutputs : 1, sizeof(RedisModuleString *));
}

static void run_free(AIRun *r) {
    for (int i = 0; i < r->ninputs; i++) tensor_release(r->inputs[i]);
    for (int i = 0; i < r->noutputs; i++) {
        tensor_release(r->outputs[i]);
        if (r->outkeys[i]) RedisModule_FreeString(NULL, r->outkeys[i]);
    }
    RedisModule_Free(r->inputs);
    RedisModule_Free(r->outputs);
    RedisModule_Free(r->outkeys);
    ai_error_clear(&r->err);
    r->kind->destroy(r);
}

static int capture_inputs(RedisModuleCtx *ctx, AIRun *r, RedisModuleString **keys) {
    for (int i = 0; i < r->ninputs; i++) {
        AITensor *t = tensor_from_key_or_reply(ctx, keys[i]);
        if (!t) return -1;
        r->inputs[i] = tensor_share(t);
    }
    return 0;
}

static void keep_outputs(AIRun *r, RedisModuleString **keys) {
    for (int i = 0; i < r->noutputs; i++) {
        RedisModule_RetainString(NULL, keys[i]);
        r->outkeys[i] = keys[i];
    }
}

/* Writes every output, or none if one of their keys holds another type. */
static int write_outputs(RedisModuleCtx *ctx, AIRun *r) {
    for (int i = 0; i < r->noutputs; i++)
        if (!ai_key_accepts_or_reply(ctx, r->outkeys[i], AITensorType)) return REDISMODULE_OK;
    for (int i = 0; i < r->noutputs; i++) {
        if (tensor_store_or_reply(ctx, r->outkeys[i], tensor_share(r->outputs[i])) !=
            REDISMODULE_OK)
            return REDISMODULE_OK;
        tensor_replicate(ctx, r->outkeys[i], r->outputs[i]);
    }
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int on_unblock(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv, (void)argc;
    AIRun *r = RedisModule_GetBlockedClientPrivateData(ctx);
    if (r->timed_out) return RedisModule_ReplyWithSimpleString(ctx, "TIMEDOUT");
    if (r->err.code != AI_OK) return ai_reply_error(ctx, &r->err);
    return write_outputs(ctx, r);
}

static void on_free(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    AIRun *r = privdata;
    if (!r->timed_out) r->kind->record(r);
    run_free(r);
}

static int enqueue(RedisModuleCtx *ctx, AIRun *r, AIQueue *q) {
    r->bc = RedisModule_BlockClient(ctx, on_unblock, NULL, on_free, 0);
    RedisModule_BlockedClientMeasureTimeStart(r->bc);
    queue_push(q, &r->job);
    return REDISMODULE_OK;
}

int run_start(RedisModuleCtx *ctx, AIRun *r, RedisModuleString **inputs,
              RedisModuleString **outputs, AIQueue *q) {
    if (capture_inputs(ctx, r, inputs) != 0) {
        run_free(r);
        return REDISMODULE_OK;
    }
    keep_outputs(r, outputs);
    if (r->kind->prepare) r->kind->prepare(r);
    return enqueue(ctx, r, q);
}

int run_expired(const AIRun *r) {
    uint64_t waited_ms = (RedisModule_MonotonicMicroseconds() - r->job.enqueued_us) / 1000;
    return r->job.timeout_ms > 0 && waited_ms > (uint64_t)r->job.timeout_ms;
}

void run_finish(AIRun *r) {
    RedisModule_BlockedClientMeasureTimeEnd(r->bc);
    RedisModule_UnblockClient(r->bc, r);
}
