/* Time to response of DAGs (roadmap R3); see dag.h.
 *
 * A DAG's response time is estimated as the longest wait among the queues its ops use
 * (its copies wait on them at once) plus the sum of its ops' expected times: ops on
 * different devices may overlap, but their inputs usually chain them, and the sum errs
 * on the side of refusing. Each device copy adds its own ops' times to its queue's
 * work. */
#include "dag.h"
#include "deadline.h"
#include "stats.h"
#include "ttr.h"

static long long op_estimate(const DagOp *o) {
    if (o->kind == DAG_MODEL) return estimate_run_us(&o->model->estimate, 1);
    if (o->kind == DAG_SCRIPT) return estimate_run_us(&o->script->estimate, 1);
    return 0;
}

/* The statistics key of op o's model or script: 0 when it has none (a TENSORSET or
 * TENSORGET, or a value no longer stored under a key). */
static int op_key(const DagOp *o, const char **key, size_t *keylen, const void **owner) {
    if (o->kind == DAG_MODEL) {
        *owner = o->model, *key = o->model->key, *keylen = o->model->keylen;
    } else if (o->kind == DAG_SCRIPT) {
        *owner = o->script, *key = o->script->key, *keylen = o->script->keylen;
    } else {
        return 0;
    }
    return *key != NULL;
}

/* Whether op k is the first of the DAG with its model or script: counts of the DAG as a
 * whole (refused, missed) go to each once. */
static int first_use(const Dag *d, int k) {
    for (int e = 0; e < k; e++)
        if ((d->ops[k].model && d->ops[e].model == d->ops[k].model) ||
            (d->ops[k].script && d->ops[e].script == d->ops[k].script))
            return 0;
    return 1;
}

int dag_admit(Dag *d, AIError *err) {
    if (d->ttr_ms <= 0) return REDISMODULE_OK;
    long long wait = 0, own = 0;
    for (int k = 0; k < d->nops; k++) {
        if (!d->ops[k].queue) continue;
        long long w = queue_wait_us(d->ops[k].queue);
        if (w > wait) wait = w;
        own += op_estimate(&d->ops[k]);
    }
    if (ttr_admit(d->ttr_ms, wait, own, err) == REDISMODULE_OK) return REDISMODULE_OK;
    const char *key;
    size_t keylen;
    const void *owner;
    for (int k = 0; k < d->nops; k++)
        if (first_use(d, k) && op_key(&d->ops[k], &key, &keylen, &owner))
            stats_record_ttr_rejected(key, keylen, owner);
    return REDISMODULE_ERR;
}

void dag_set_deadlines(Dag *d, uint64_t now_us) {
    d->queued_us = now_us;
    d->ttr_deadline_us = ttr_deadline(now_us, d->ttr_ms);
    d->deadline_us = deadline_from_timeout_ms(now_us, d->timeout_ms);
    if (d->ttr_deadline_us && (!d->deadline_us || d->ttr_deadline_us < d->deadline_us))
        d->deadline_us = d->ttr_deadline_us; /* dropped at expiry, as for TIMEOUT */
}

long long dag_copy_cost(const Dag *d, const AIQueue *q) {
    long long cost = 0;
    for (int k = 0; k < d->nops; k++)
        if (d->ops[k].queue == q) cost += op_estimate(&d->ops[k]);
    return cost;
}

void dag_op_estimate(Dag *d, DagOp *o) {
    if (o->kind == DAG_SCRIPT) {
        estimate_record(&o->script->estimate, 1, o->duration_us);
        return;
    }
    const AITensor *first = o->ninputs ? d->slots[o->in_slots[0]] : NULL;
    long long rows = o->model->batchsize > 0 && first && first->dl.ndim ? first->dl.shape[0] : 1;
    estimate_record(&o->model->estimate, rows, o->duration_us);
}

void dag_record_ttr(Dag *d) {
    int missed = deadline_passed(d->ttr_deadline_us, RedisModule_MonotonicMicroseconds());
    const char *key;
    size_t keylen;
    const void *owner;
    for (int k = 0; k < d->nops; k++) {
        const DagOp *o = &d->ops[k];
        if (!op_key(o, &key, &keylen, &owner)) continue;
        int ran = o->state == OP_DONE || o->state == OP_FAILED;
        stats_record_wait(key, keylen, owner, ran ? o->queue_wait_us : -1,
                          missed && first_use(d, k));
    }
}

int dag_parse_admitted(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags,
                       Dag **dag, AIError *err) {
    if (dag_parse(ctx, argv, argc, flags, dag, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (dag_admit(*dag, err) == REDISMODULE_OK) return REDISMODULE_OK;
    dag_free(*dag);
    *dag = NULL;
    return REDISMODULE_ERR;
}
