/* AI.MODELEXECUTE and the deprecated AI.MODELRUN (spec 3.5, 3.7, 7).
 *
 * On the main thread: parse, look the model and input tensors up and take references
 * to them (later writes to those keys do not affect the run), block the client and queue
 * the run on the model's device. On a worker: check the TIMEOUT, run the backend. Back on
 * the main thread (unblock): write and replicate the outputs as tensors, and reply. A
 * client that disconnected gets nothing written: Redis then skips the reply callback. */
#include <string.h>

#include "args.h"
#include "commands.h"
#include "messages.h"
#include "model_type.h"
#include "stats.h"
#include "tensor_batch.h"
#include "tensor_type.h"

typedef struct RunJob {
    AIJob job;
    RedisModuleBlockedClient *bc;
    AIModel *model;
    int ninputs, noutputs;
    AITensor **inputs;            /* references taken at parse time */
    AITensor **outputs;           /* filled by the worker */
    RedisModuleString **outkeys;  /* retained */
    int timed_out;
    long long duration_us;
    AIError err;
} RunJob;

static RunJob *run_job_new(AIModel *m, int ninputs, int noutputs) {
    RunJob *j = RedisModule_Calloc(1, sizeof *j);
    j->model = model_share(m);
    j->ninputs = ninputs;
    j->noutputs = noutputs;
    j->inputs = RedisModule_Calloc(ninputs, sizeof(AITensor *));
    j->outputs = RedisModule_Calloc(noutputs, sizeof(AITensor *));
    j->outkeys = RedisModule_Calloc(noutputs, sizeof(RedisModuleString *));
    return j;
}

static void run_job_free(RunJob *j) {
    for (int i = 0; i < j->ninputs; i++) tensor_release(j->inputs[i]);
    for (int i = 0; i < j->noutputs; i++) {
        tensor_release(j->outputs[i]);
        if (j->outkeys[i]) RedisModule_FreeString(NULL, j->outkeys[i]);
    }
    RedisModule_Free(j->inputs);
    RedisModule_Free(j->outputs);
    RedisModule_Free(j->outkeys);
    ai_error_clear(&j->err);
    model_release(j->model);
    RedisModule_Free(j);
}

static int expired(const RunJob *j) {
    uint64_t waited_ms = (RedisModule_MonotonicMicroseconds() - j->job.enqueued_us) / 1000;
    return j->job.timeout_ms > 0 && waited_ms > (uint64_t)j->job.timeout_ms;
}

static void finish(RunJob *j) {
    RedisModule_BlockedClientMeasureTimeEnd(j->bc);
    RedisModule_UnblockClient(j->bc, j);
}

static void run_alone(RunJob *j) {
    uint64_t start = RedisModule_MonotonicMicroseconds();
    bridge_model_run(j->model->handle, j->inputs, j->ninputs, j->outputs, j->noutputs, &j->err);
    j->duration_us = (long long)(RedisModule_MonotonicMicroseconds() - start);
}

static const char *batch_size_error(const AIModel *m) {
    return m->backend == AI_BACKEND_TF
               ? "ERR Tensorflow batching error: model did not generate the expected batch size"
               : "ERR Model did not generate the expected batch size";
}

/* Gives each job its rows of the batch's outputs. */
static void split_outputs(RunJob **jobs, int n, AITensor **outs, int64_t total) {
    for (int o = 0; o < jobs[0]->noutputs; o++)
        if (outs[o]->dl.ndim == 0 || outs[o]->dl.shape[0] != total) {
            for (int k = 0; k < n; k++) ai_error_set(&jobs[k]->err, AI_ERR_DETAIL, batch_size_error(jobs[0]->model));
            return;
        }
    int64_t offset = 0;
    for (int k = 0; k < n; k++) {
        int64_t rows = jobs[k]->inputs[0]->dl.shape[0];
        for (int o = 0; o < jobs[k]->noutputs; o++)
            jobs[k]->outputs[o] = tensor_slice_rows(outs[o], offset, rows, &jobs[k]->err);
        offset += rows;
    }
}

/* One backend call for several requests: inputs stacked along dim 0, outputs split back. */
static void run_together(RunJob **jobs, int n) {
    RunJob *head = jobs[0];
    AITensor *cat[head->ninputs], *outs[head->noutputs], *parts[n];
    int64_t total = 0;
    for (int k = 0; k < n; k++) total += jobs[k]->inputs[0]->dl.shape[0];
    memset(outs, 0, sizeof outs);
    AIError err = {0};
    for (int i = 0; i < head->ninputs; i++) {
        for (int k = 0; k < n; k++) parts[k] = jobs[k]->inputs[i];
        cat[i] = tensor_concat_rows(parts, n, &err);
    }
    uint64_t start = RedisModule_MonotonicMicroseconds();
    if (bridge_model_run(head->model->handle, cat, head->ninputs, outs, head->noutputs, &err) == 0)
        split_outputs(jobs, n, outs, total);
    long long duration = (long long)(RedisModule_MonotonicMicroseconds() - start);
    for (int k = 0; k < n; k++) {
        jobs[k]->duration_us = duration;
        if (err.code != AI_OK) ai_error_set(&jobs[k]->err, err.code, err.detail);
    }
    ai_error_clear(&err);
    for (int i = 0; i < head->ninputs; i++) tensor_release(cat[i]);
    for (int o = 0; o < head->noutputs; o++) tensor_release(outs[o]);
}

static void run_job_run(AIJob *job) {
    int n = 0;
    for (AIJob *j = job; j; j = j->mates) n++;
    RunJob *jobs[n];
    int live = 0;
    for (AIJob *j = job; j; j = j->mates) {
        RunJob *r = (RunJob *)j;
        if (expired(r)) r->timed_out = 1;
        else jobs[live++] = r;
    }
    if (live == 1) run_alone(jobs[0]);
    else if (live > 1) run_together(jobs, live);
    for (AIJob *j = job, *next; j; j = next) {
        next = j->mates;
        j->mates = NULL;
        finish((RunJob *)j);
    }
}

/* Writes every output, or none if one of their keys holds another type. */
static int write_outputs(RedisModuleCtx *ctx, RunJob *j) {
    for (int i = 0; i < j->noutputs; i++) {
        RedisModuleKey *key = RedisModule_OpenKey(ctx, j->outkeys[i], REDISMODULE_READ);
        int bad = RedisModule_KeyType(key) != REDISMODULE_KEYTYPE_EMPTY &&
                  RedisModule_ModuleTypeGetType(key) != AITensorType;
        RedisModule_CloseKey(key);
        if (bad) return ai_reply_code(ctx, AI_ERR_WRONGTYPE);
    }
    for (int i = 0; i < j->noutputs; i++) {
        if (tensor_store_or_reply(ctx, j->outkeys[i], tensor_share(j->outputs[i])) !=
            REDISMODULE_OK)
            return REDISMODULE_OK;
        tensor_replicate(ctx, j->outkeys[i], j->outputs[i]);
    }
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static int run_reply(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv, (void)argc;
    RunJob *j = RedisModule_GetBlockedClientPrivateData(ctx);
    if (j->timed_out) return RedisModule_ReplyWithSimpleString(ctx, "TIMEDOUT");
    if (j->err.code != AI_OK) return ai_reply_error(ctx, &j->err);
    return write_outputs(ctx, j);
}

/* Statistics count every run that executed, whether its client is still there or not. */
static void record_stats(RunJob *j) {
    if (j->timed_out || !j->model->key) return;
    AITensor *first = j->noutputs ? j->outputs[0] : NULL;
    long long samples = first && first->dl.ndim > 0 ? first->dl.shape[0] : 0;
    stats_record(j->model->key, j->model->keylen, j->model, j->err.code != AI_OK,
                 j->duration_us, samples);
}

static void run_free(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    record_stats(privdata);
    run_job_free(privdata);
}

/* Takes references to the input tensors now; replies and fails on a missing one. */
static int capture_inputs(RedisModuleCtx *ctx, RedisModuleString **keys, RunJob *j) {
    for (int i = 0; i < j->ninputs; i++) {
        RedisModuleKey *key;
        AITensor *t = tensor_from_key_or_reply(ctx, keys[i], &key, REDISMODULE_READ);
        if (!t) return -1;
        j->inputs[i] = tensor_share(t);
        RedisModule_CloseKey(key);
    }
    return 0;
}

static void keep_outputs(RedisModuleString **keys, RunJob *j) {
    for (int i = 0; i < j->noutputs; i++) {
        RedisModule_RetainString(NULL, keys[i]);
        j->outkeys[i] = keys[i];
    }
}

static int batch_compatible(const AIJob *a, const AIJob *b) {
    const RunJob *x = (const RunJob *)a, *y = (const RunJob *)b;
    if (x->ninputs != y->ninputs) return 0;
    for (int i = 0; i < x->ninputs; i++)
        if (!tensor_rows_compatible(x->inputs[i], y->inputs[i])) return 0;
    return 1;
}

/* A request of a model with BATCHSIZE joins batches when its inputs agree on dim 0. */
static void set_batching(RunJob *j) {
    const AIModel *m = j->model;
    if (m->batchsize <= 0 || j->ninputs == 0) return;
    int64_t rows = j->inputs[0]->dl.ndim ? j->inputs[0]->dl.shape[0] : 0;
    for (int i = 0; i < j->ninputs; i++)
        if (j->inputs[i]->dl.ndim == 0 || j->inputs[i]->dl.shape[0] != rows) rows = 0;
    if (rows <= 0) return;
    j->job.batch = (AIBatching){.key = m, .size = rows, .max = m->batchsize,
                                .min = m->minbatchsize, .min_timeout_ms = m->minbatchtimeout,
                                .compatible = batch_compatible};
}

static int enqueue(RedisModuleCtx *ctx, RunJob *j) {
    j->job.run = run_job_run;
    set_batching(j);
    j->bc = RedisModule_BlockClient(ctx, run_reply, NULL, run_free, 0);
    RedisModule_BlockedClientMeasureTimeStart(j->bc);
    queue_push(j->model->queue, &j->job);
    return REDISMODULE_OK;
}

static int fail(RedisModuleCtx *ctx, RunJob *j, const char *msg) {
    if (msg) RedisModule_ReplyWithError(ctx, msg);
    run_job_free(j);
    return REDISMODULE_OK;
}

/* A count after INPUTS/OUTPUTS: the message for a bad one, or NULL. */
static const char *parse_io_count(RedisModuleString **argv, int argc, int at, int expected,
                                  const char *bad, const char *not_positive,
                                  const char *mismatch, const char *too_few, long long *n) {
    if (at >= argc || RedisModule_StringToLongLong(argv[at], n) != REDISMODULE_OK) return bad;
    if (*n <= 0) return not_positive;
    if (*n != expected) return mismatch;
    if (argc - at - 1 < *n) return too_few;
    return NULL;
}

/* TIMEOUT <ms> at argv[i], the only thing allowed after the outputs. */
static int parse_timeout_tail(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int i,
                              long long *timeout) {
    if (i == argc) return 0;
    if (ai_arg_is(argv[i], "TIMEOUT")) {
        if (i + 1 == argc) return RedisModule_ReplyWithError(ctx, AI_MSG_TIMEOUT_MISSING), -1;
        if (RedisModule_StringToLongLong(argv[i + 1], timeout) != REDISMODULE_OK || *timeout <= 0)
            return RedisModule_ReplyWithError(ctx, AI_MSG_TIMEOUT_INVALID), -1;
        i += 2;
        if (i == argc) return 0;
    }
    size_t len;
    const char *tok = RedisModule_StringPtrLen(argv[i], &len);
    RedisModuleString *msg = RedisModule_CreateStringPrintf(ctx, AI_MSG_INVALID_ARGUMENT "%.*s",
                                                            (int)len, tok);
    RedisModule_ReplyWithError(ctx, RedisModule_StringPtrLen(msg, NULL));
    return -1;
}

/* Reports the keys of AI.MODELEXECUTE for cluster routing and COMMAND GETKEYS. */
static int modelexecute_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    RedisModule_KeyAtPos(ctx, 1);
    long long nin = 0, nout = 0;
    if (argc > 3) RedisModule_StringToLongLong(argv[3], &nin);
    for (long long i = 0; i < nin && 4 + i < argc; i++) RedisModule_KeyAtPos(ctx, 4 + (int)i);
    int at = 4 + (int)(nin > 0 ? nin : 0);
    if (at + 1 < argc) RedisModule_StringToLongLong(argv[at + 1], &nout);
    for (long long i = 0; i < nout && at + 2 + i < argc; i++)
        RedisModule_KeyAtPos(ctx, at + 2 + (int)i);
    return REDISMODULE_OK;
}

/* AI.MODELEXECUTE key INPUTS n in... OUTPUTS m out... [TIMEOUT ms] */
static int modelexecute_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return modelexecute_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return RedisModule_ReplyWithError(ctx, AI_MSG_IN_TRANSACTION);
    if (argc < 8) return ai_reply_arity(ctx, argv[0]);
    AIModel *m = model_from_key_or_reply(ctx, argv[1]);
    if (!m) return REDISMODULE_OK;
    if (!ai_arg_is(argv[2], "INPUTS")) return RedisModule_ReplyWithError(ctx, AI_MSG_NO_INPUTS);
    long long nin, nout, timeout = 0;
    const char *e = parse_io_count(argv, argc, 3, m->inputs.count, AI_MSG_INPUT_COUNT,
                                   AI_MSG_INPUT_COUNT_POSITIVE, AI_MSG_INPUTS_MISMATCH,
                                   AI_MSG_EXEC_INPUT_ARGS, &nin);
    if (e) return RedisModule_ReplyWithError(ctx, e);
    int at = 4 + (int)nin;
    if (at >= argc || !ai_arg_is(argv[at], "OUTPUTS"))
        return RedisModule_ReplyWithError(ctx, AI_MSG_NO_OUTPUTS);
    e = parse_io_count(argv, argc, at + 1, m->outputs.count, AI_MSG_OUTPUT_COUNT,
                       AI_MSG_OUTPUT_COUNT_POSITIVE, AI_MSG_OUTPUTS_MISMATCH,
                       AI_MSG_EXEC_OUTPUT_ARGS, &nout);
    if (e) return RedisModule_ReplyWithError(ctx, e);
    if (parse_timeout_tail(ctx, argv, argc, at + 2 + (int)nout, &timeout) != 0)
        return REDISMODULE_OK;
    RunJob *j = run_job_new(m, (int)nin, (int)nout);
    j->job.timeout_ms = timeout;
    if (capture_inputs(ctx, argv + 4, j) != 0) return fail(ctx, j, NULL);
    keep_outputs(argv + at + 2, j);
    return enqueue(ctx, j);
}

/* AI.MODELRUN's keys: argv[1] and everything after INPUTS but the OUTPUTS keyword. */
static int modelrun_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    RedisModule_KeyAtPos(ctx, 1);
    int i = 2;
    if (i < argc && ai_arg_is(argv[i], "TIMEOUT")) i += 2;
    for (i++; i < argc; i++)
        if (!ai_arg_is(argv[i], "OUTPUTS")) RedisModule_KeyAtPos(ctx, i);
    return REDISMODULE_OK;
}

/* AI.MODELRUN key [TIMEOUT ms] INPUTS in... OUTPUTS out... (deprecated) */
static int modelrun_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return modelrun_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return RedisModule_ReplyWithError(ctx, AI_MSG_IN_TRANSACTION);
    if (argc < 6) return ai_reply_arity(ctx, argv[0]);
    AIModel *m = model_from_key_or_reply(ctx, argv[1]);
    if (!m) return REDISMODULE_OK;
    int i = 2;
    long long timeout = 0;
    if (ai_arg_is(argv[i], "TIMEOUT")) {
        if (i + 1 >= argc || RedisModule_StringToLongLong(argv[i + 1], &timeout) != REDISMODULE_OK ||
            timeout <= 0)
            return RedisModule_ReplyWithError(ctx, AI_MSG_TIMEOUT_INVALID);
        i += 2;
    }
    if (i >= argc || !ai_arg_is(argv[i], "INPUTS"))
        return RedisModule_ReplyWithError(ctx, AI_MSG_NO_INPUTS);
    int first_in = i + 1, outputs = first_in;
    while (outputs < argc && !ai_arg_is(argv[outputs], "OUTPUTS")) outputs++;
    int nin = outputs - first_in, nout = outputs < argc ? argc - outputs - 1 : 0;
    if (nin != m->inputs.count) return RedisModule_ReplyWithError(ctx, AI_MSG_INPUTS_MISMATCH);
    if (nout != m->outputs.count) return RedisModule_ReplyWithError(ctx, AI_MSG_OUTPUTS_MISMATCH);
    RunJob *j = run_job_new(m, nin, nout);
    j->job.timeout_ms = timeout;
    if (capture_inputs(ctx, argv + first_in, j) != 0) return fail(ctx, j, NULL);
    keep_outputs(argv + outputs + 1, j);
    return enqueue(ctx, j);
}

int model_exec_commands_register(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.modelexecute", modelexecute_command,
                                  "write deny-oom getkeys-api", 1, 1, 1) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.modelrun", modelrun_command,
                                  "write deny-oom getkeys-api", 1, 1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
