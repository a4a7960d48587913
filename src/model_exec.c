/* AI.MODELEXECUTE and the deprecated AI.MODELRUN (spec 3.5, 3.7, 7).
 *
 * The path of a run:
 * - main thread (modelexecute_command): parse the command and look the model up
 *   (model_execute_parse), take references to the input tensors (later writes to those
 *   keys do not affect the run), mark the run for batching when its model allows it,
 *   refuse it when its TTR cannot be met (admit, ttr.h), block the client and queue the
 *   run on the model's device (queue_model_run);
 * - worker (execute): skip the run if its TIMEOUT or TTR passed, else run the backend, alone or
 *   merged with compatible queued runs of the same model (auto-batching), on its native
 *   runner without the GIL when it has one (native_run.h);
 * - main thread (run.c, on unblock): write and replicate the outputs as tensors, and
 *   reply. A client that disconnected gets nothing written: Redis then skips the reply
 *   callback. */

#include "model_exec.h"

#include "args.h"
#include "commands.h"
#include "model_type.h"
#include "native_run.h"
#include "run.h"
#include "stats.h"
#include "tensor_batch.h"
#include "ttr.h"

typedef struct ModelRun {
    AIRun run; /* first */
    AIModel *model;
} ModelRun;

static void record(AIRun *r) {
    AIModel *m = ((ModelRun *)r)->model;
    AITensor *first = r->noutputs ? r->outputs[0] : NULL;
    run_record(r, m->key, m->keylen, m, first && first->dl.ndim > 0 ? first->dl.shape[0] : 0);
}

/* The rows a run of m counts for its estimate: its batch size when m batches. */
static long long estimate_rows(const AIModel *m, long long rows) {
    return m->batchsize > 0 ? rows : 1;
}

static void destroy(AIRun *r) {
    model_release(((ModelRun *)r)->model);
    RedisModule_Free(r);
}

static const AIRunKind model_run_kind = {record, destroy};

/* Worker: one request, one backend call. */
static void run_alone(ModelRun *j) {
    AIRun *r = &j->run;
    uint64_t start = RedisModule_MonotonicMicroseconds();
    run_started(r, start);
    int rc = native_model_run(j->model, r->inputs, r->ninputs, r->outputs, r->noutputs, &r->err);
    r->duration_us = (long long)(RedisModule_MonotonicMicroseconds() - start);
    long long rows = r->ninputs && r->inputs[0]->dl.ndim ? r->inputs[0]->dl.shape[0] : 1;
    if (rc == 0)
        estimate_record(&j->model->estimate, estimate_rows(j->model, rows), r->duration_us);
}

/* Gives each job its rows of the batch's outputs. */
static void split_outputs(ModelRun **jobs, int n, AITensor **outs, int64_t total) {
    for (int o = 0; o < jobs[0]->run.noutputs; o++)
        if (outs[o]->dl.ndim == 0 || outs[o]->dl.shape[0] != total) {
            AIErrCode code =
                jobs[0]->model->backend == AI_BACKEND_TF ? AI_ERR_TF_BATCH_SIZE : AI_ERR_BATCH_SIZE;
            for (int k = 0; k < n; k++) ai_error_set(&jobs[k]->run.err, code, NULL);
            return;
        }
    int64_t offset = 0;
    for (int k = 0; k < n; k++) {
        AIRun *r = &jobs[k]->run;
        int64_t rows = r->inputs[0]->dl.shape[0];
        for (int o = 0; o < r->noutputs; o++)
            r->outputs[o] = tensor_slice_rows(outs[o], offset, rows, &r->err);
        offset += rows;
    }
}

/* The batch's inputs stacked along dim 0, one tensor per model input. */
static int concat_inputs(ModelRun **jobs, int n, AITensor **cat, AIError *err) {
    AITensor **parts = RedisModule_Alloc(sizeof(AITensor *) * n);
    for (int i = 0; i < jobs[0]->run.ninputs && err->code == AI_OK; i++) {
        for (int k = 0; k < n; k++) parts[k] = jobs[k]->run.inputs[i];
        cat[i] = tensor_concat_rows(parts, n, err);
    }
    RedisModule_Free(parts);
    return err->code == AI_OK ? REDISMODULE_OK : REDISMODULE_ERR;
}

/* Worker: several requests, one backend call: inputs stacked, outputs split back. */
static void run_together(ModelRun **jobs, int n) {
    AIRun *head = &jobs[0]->run;
    AITensor **cat = RedisModule_Calloc(head->ninputs ? head->ninputs : 1, sizeof(AITensor *));
    AITensor **outs = RedisModule_Calloc(head->noutputs ? head->noutputs : 1, sizeof(AITensor *));
    int64_t total = 0;
    for (int k = 0; k < n; k++) total += jobs[k]->run.inputs[0]->dl.shape[0];
    AIError err = {0};
    uint64_t start = RedisModule_MonotonicMicroseconds();
    for (int k = 0; k < n; k++) run_started(&jobs[k]->run, start);
    if (concat_inputs(jobs, n, cat, &err) == REDISMODULE_OK &&
        native_model_run(jobs[0]->model, cat, head->ninputs, outs, head->noutputs, &err) == 0)
        split_outputs(jobs, n, outs, total);
    long long duration = (long long)(RedisModule_MonotonicMicroseconds() - start);
    if (err.code == AI_OK) estimate_record(&jobs[0]->model->estimate, total, duration);
    for (int k = 0; k < n; k++) {
        jobs[k]->run.duration_us = duration;
        if (err.code != AI_OK) ai_error_set(&jobs[k]->run.err, err.code, err.detail);
    }
    ai_error_clear(&err);
    for (int i = 0; i < head->ninputs; i++) tensor_release(cat[i]);
    for (int o = 0; o < head->noutputs; o++) tensor_release(outs[o]);
    RedisModule_Free(cat);
    RedisModule_Free(outs);
}

/* Worker: a run, or a batch of them (the head's mates), then back to the main thread. */
static void execute(AIJob *job) {
    int n = 0, live = 0;
    for (AIJob *j = job; j; j = j->mates) n++;
    ModelRun **jobs = RedisModule_Alloc(sizeof(ModelRun *) * n);
    for (AIJob *j = job; j; j = j->mates) {
        ModelRun *m = (ModelRun *)j;
        if (run_expired(&m->run))
            m->run.timed_out = 1;
        else
            jobs[live++] = m;
    }
    if (live == 1)
        run_alone(jobs[0]);
    else if (live > 1)
        run_together(jobs, live);
    RedisModule_Free(jobs);
    for (AIJob *j = job, *next; j; j = next) {
        next = j->mates;
        j->mates = NULL;
        run_finish((AIRun *)j);
    }
}

static int batch_compatible(const AIJob *a, const AIJob *b) {
    const AIRun *x = (const AIRun *)a, *y = (const AIRun *)b;
    if (x->ninputs != y->ninputs) return 0;
    for (int i = 0; i < x->ninputs; i++)
        if (!tensor_rows_compatible(x->inputs[i], y->inputs[i])) return 0;
    return 1;
}

/* A request of a model with BATCHSIZE joins batches when its inputs agree on dim 0. */
static void set_batching(ModelRun *j) {
    const AIModel *m = j->model;
    AIRun *r = &j->run;
    if (m->batchsize <= 0 || r->ninputs == 0) return;
    int64_t rows = r->inputs[0]->dl.ndim ? r->inputs[0]->dl.shape[0] : 0;
    for (int i = 0; i < r->ninputs; i++)
        if (r->inputs[i]->dl.ndim == 0 || r->inputs[i]->dl.shape[0] != rows) rows = 0;
    if (rows <= 0) return;
    r->job.batch = (AIBatching){.key = m,
                                .size = rows,
                                .max = m->batchsize,
                                .min = m->minbatchsize,
                                .min_timeout_ms = m->minbatchtimeout,
                                .compatible = batch_compatible};
}

/* Main thread, O(1): the run's estimated cost, and whether its TTR can be met (roadmap
 * R3); a refusal is counted in the model's statistics. */
static int admit(ModelRun *j, long long ttr_ms, AIError *err) {
    AIModel *m = j->model;
    long long rows = j->run.job.batch.key ? j->run.job.batch.size : 1;
    j->run.job.cost_us = estimate_queued_us(&m->estimate, rows, j->run.job.batch.key != NULL);
    long long own = estimate_run_us(&m->estimate, estimate_rows(m, rows));
    if (ttr_admit(ttr_ms, queue_wait_us(m->queue), own, err) == REDISMODULE_OK)
        return REDISMODULE_OK;
    if (m->key) stats_record_ttr_rejected(m->key, m->keylen, m);
    return REDISMODULE_ERR;
}

/* Main thread, after parsing: capture the inputs, set up batching, admit, block and
 * queue. */
static int queue_model_run(RedisModuleCtx *ctx, const AIModelCall *c) {
    ModelRun *j = run_new(sizeof *j, &model_run_kind, execute, c->nin, c->nout);
    j->model = model_share(c->model);
    AIError err = {0};
    if (run_capture(ctx, &j->run, c->inputs, c->outputs, &err) != REDISMODULE_OK) {
        run_free(&j->run);
        return ai_reply_error(ctx, &err);
    }
    set_batching(j);
    if (admit(j, c->ttr_ms, &err) != REDISMODULE_OK) {
        run_free(&j->run);
        return ai_reply_error(ctx, &err);
    }
    j->run.job.native = native_model_can_run(j->model, j->run.inputs, j->run.ninputs);
    AILimits limits = {.timeout_ms = c->timeout, .ttr_ms = c->ttr_ms};
    run_enqueue(ctx, &j->run, j->model->queue, &limits);
    return REDISMODULE_OK;
}

/* A count after INPUTS/OUTPUTS, checked against the model's. */
static int parse_io_count(RedisModuleString **argv, int argc, int at, int expected,
                          const AIErrCode errors[4], long long *n, AIError *err) {
    enum { BAD, NOT_POSITIVE, MISMATCH, TOO_FEW };
    if (at >= argc || RedisModule_StringToLongLong(argv[at], n) != REDISMODULE_OK)
        return ai_fail(err, errors[BAD]);
    if (*n <= 0) return ai_fail(err, errors[NOT_POSITIVE]);
    if (*n != expected) return ai_fail(err, errors[MISMATCH]);
    if (argc - at - 1 < *n) return ai_fail(err, errors[TOO_FEW]);
    return REDISMODULE_OK;
}

/* TIMEOUT <ms> and TTR <ms> at argv[i], the only things allowed after the outputs. */
static int parse_limits_tail(RedisModuleString **argv, int argc, int i, AIModelCall *c,
                             AIError *err) {
    static const AILimitRules rules = {AI_ERR_TIMEOUT_MISSING, 0};
    AILimits l = {0};
    if (ai_limits_parse(argv, argc, &i, &l, &rules, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    c->timeout = l.timeout_ms;
    c->ttr_ms = l.ttr_ms;
    if (i == argc) return REDISMODULE_OK;
    size_t len;
    const char *tok = RedisModule_StringPtrLen(argv[i], &len);
    ai_error_set_arg_len(err, AI_ERR_INVALID_ARGUMENT, tok, len);
    return REDISMODULE_ERR;
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

int model_execute_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIModelCall *c,
                        AIError *err) {
    static const AIErrCode input_errors[4] = {AI_ERR_INPUT_COUNT, AI_ERR_INPUT_COUNT_POSITIVE,
                                              AI_ERR_INPUTS_MISMATCH, AI_ERR_EXEC_INPUT_ARGS};
    static const AIErrCode output_errors[4] = {AI_ERR_OUTPUT_COUNT, AI_ERR_OUTPUT_COUNT_POSITIVE,
                                               AI_ERR_OUTPUTS_MISMATCH, AI_ERR_EXEC_OUTPUT_ARGS};
    if (argc < 8) return ai_fail_arg(err, AI_ERR_ARITY, RedisModule_StringPtrLen(argv[0], NULL));
    if (!(c->model = model_from_key(ctx, argv[1], err))) return REDISMODULE_ERR;
    if (!ai_arg_is(argv[2], "INPUTS")) return ai_fail(err, AI_ERR_NO_INPUTS);
    long long nin, nout;
    if (parse_io_count(argv, argc, 3, c->model->inputs.count, input_errors, &nin, err) !=
        REDISMODULE_OK)
        return REDISMODULE_ERR;
    int at = 4 + (int)nin;
    if (at >= argc || !ai_arg_is(argv[at], "OUTPUTS")) return ai_fail(err, AI_ERR_NO_OUTPUTS);
    if (parse_io_count(argv, argc, at + 1, c->model->outputs.count, output_errors, &nout, err) !=
        REDISMODULE_OK)
        return REDISMODULE_ERR;
    c->inputs = argv + 4;
    c->nin = (int)nin;
    c->outputs = argv + at + 2;
    c->nout = (int)nout;
    return parse_limits_tail(argv, argc, at + 2 + (int)nout, c, err);
}

/* AI.MODELEXECUTE key INPUTS n in... OUTPUTS m out... [TIMEOUT ms] [TTR ms] */
static int modelexecute_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return modelexecute_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return ai_reply_code(ctx, AI_ERR_IN_TRANSACTION);
    AIModelCall c = {0};
    AIError err = {0};
    if (model_execute_parse(ctx, argv, argc, &c, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    return queue_model_run(ctx, &c);
}

/* AI.MODELRUN's keys: argv[1] and everything after INPUTS but the OUTPUTS keyword. */
static int modelrun_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    RedisModule_KeyAtPos(ctx, 1);
    int i = 2;
    while (i < argc && (ai_arg_is(argv[i], "TIMEOUT") || ai_arg_is(argv[i], "TTR"))) i += 2;
    for (i++; i < argc; i++)
        if (!ai_arg_is(argv[i], "OUTPUTS")) RedisModule_KeyAtPos(ctx, i);
    return REDISMODULE_OK;
}

int model_run_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIModelCall *c,
                    AIError *err) {
    if (argc < 6) return ai_fail_arg(err, AI_ERR_ARITY, RedisModule_StringPtrLen(argv[0], NULL));
    if (!(c->model = model_from_key(ctx, argv[1], err))) return REDISMODULE_ERR;
    static const AILimitRules rules = {AI_ERR_TIMEOUT_INVALID, 0};
    AILimits l = {0};
    int i = 2;
    if (ai_limits_parse(argv, argc, &i, &l, &rules, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    c->timeout = l.timeout_ms;
    c->ttr_ms = l.ttr_ms;
    if (i >= argc || !ai_arg_is(argv[i], "INPUTS")) return ai_fail(err, AI_ERR_NO_INPUTS);
    int first_in = i + 1, outputs = first_in;
    while (outputs < argc && !ai_arg_is(argv[outputs], "OUTPUTS")) outputs++;
    c->inputs = argv + first_in;
    c->nin = outputs - first_in;
    c->outputs = argv + outputs + (outputs < argc);
    c->nout = outputs < argc ? argc - outputs - 1 : 0;
    if (c->nin != c->model->inputs.count) return ai_fail(err, AI_ERR_INPUTS_MISMATCH);
    if (c->nout != c->model->outputs.count) return ai_fail(err, AI_ERR_OUTPUTS_MISMATCH);
    return REDISMODULE_OK;
}

/* AI.MODELRUN key [TIMEOUT ms] [TTR ms] INPUTS in... OUTPUTS out... (deprecated) */
static int modelrun_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return modelrun_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return ai_reply_code(ctx, AI_ERR_IN_TRANSACTION);
    AIModelCall c = {0};
    AIError err = {0};
    if (model_run_parse(ctx, argv, argc, &c, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    return queue_model_run(ctx, &c);
}

int model_exec_commands_register(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.modelexecute", modelexecute_command,
                                  "write deny-oom getkeys-api", 1, 1, 1) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.modelrun", modelrun_command,
                                  "write deny-oom getkeys-api", 1, 1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
