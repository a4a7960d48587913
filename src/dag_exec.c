/* DAG execution on the device queues (spec 5.5); see dag.h. One copy of the run per
 * device walks the ops in command order, running those of its device. An op whose input
 * slot another device has not filled yet sends the copy back to its queue. After a
 * failure or a timeout the copies stop; the last one to stop unblocks the client. */

#include "dag.h"
#include "deadline.h"
#include "native_run.h"
#include "stats.h"

typedef struct DagCopy {
    AIJob job; /* first */
    Dag *dag;
    AIQueue *queue;
    int next; /* the next op index this copy looks at */
} DagCopy;

static int inputs_ready(Dag *d, const DagOp *o) {
    for (int i = 0; i < o->ninputs; i++)
        if (!__atomic_load_n(&d->slot_ready[o->in_slots[i]], __ATOMIC_ACQUIRE)) return 0;
    return 1;
}

/* Runs op o with its input slots; fills its output slots, or fails the DAG. */
static void run_op(Dag *d, DagOp *o) {
    AITensor **in = RedisModule_Calloc(o->ninputs ? o->ninputs : 1, sizeof(AITensor *));
    AITensor **out = RedisModule_Calloc(o->noutputs ? o->noutputs : 1, sizeof(AITensor *));
    for (int i = 0; i < o->ninputs; i++) in[i] = d->slots[o->in_slots[i]];
    uint64_t start = RedisModule_MonotonicMicroseconds();
    o->queue_wait_us = start > d->queued_us ? (long long)(start - d->queued_us) : 0;
    int rc = o->kind == DAG_MODEL
                 ? native_model_run(o->model, in, o->ninputs, out, o->noutputs, &o->err)
                 : native_script_run(o->script, o->fn, in, o->ninputs, &o->keys, &o->args, out,
                                     o->noutputs, &d->call, &o->err);
    o->duration_us = (long long)(RedisModule_MonotonicMicroseconds() - start);
    if (rc != 0) {
        __atomic_store_n(&o->state, OP_FAILED, __ATOMIC_RELEASE);
        __atomic_store_n(&d->failed, 1, __ATOMIC_RELEASE);
    } else {
        for (int i = 0; i < o->noutputs; i++) {
            d->slots[o->out_slots[i]] = out[i];
            __atomic_store_n(&d->slot_ready[o->out_slots[i]], 1, __ATOMIC_RELEASE);
        }
        dag_op_estimate(d, o);
        __atomic_store_n(&o->state, OP_DONE, __ATOMIC_RELEASE);
    }
    RedisModule_Free(in);
    RedisModule_Free(out);
}

/* The first op of d to run, on any device, sets started_us. */
static void mark_started(Dag *d) {
    uint64_t none = 0, now = RedisModule_MonotonicMicroseconds();
    if (__atomic_compare_exchange_n(&d->started_us, &none, now, 0, __ATOMIC_RELEASE,
                                    __ATOMIC_RELAXED) &&
        d->started)
        d->started(d);
}

static void copy_done(DagCopy *c) {
    Dag *d = c->dag;
    RedisModule_Free(c);
    if (__atomic_sub_fetch(&d->copies_left, 1, __ATOMIC_ACQ_REL) > 0) return;
    if (d->done) {
        d->done(d);
        return;
    }
    RedisModule_BlockedClientMeasureTimeEnd(d->bc);
    handback_push(&d->handback, d->bc, d);
}

static void copy_run(AIJob *job) {
    DagCopy *c = (DagCopy *)job;
    Dag *d = c->dag;
    for (; c->next < d->nops; c->next++) {
        DagOp *o = &d->ops[c->next];
        if (o->queue != c->queue || (o->kind != DAG_MODEL && o->kind != DAG_SCRIPT)) continue;
        if (__atomic_load_n(&d->failed, __ATOMIC_ACQUIRE)) break;
        if (deadline_passed(d->deadline_us, RedisModule_MonotonicMicroseconds())) {
            __atomic_store_n(&d->timed_out, 1, __ATOMIC_RELEASE);
            __atomic_store_n(&d->failed, 1, __ATOMIC_RELEASE);
            break;
        }
        if (!inputs_ready(d, o)) { /* another device's op comes first */
            queue_push(c->queue, &c->job);
            queue_backoff();
            return;
        }
        mark_started(d);
        run_op(d, o);
    }
    copy_done(c);
}

/* Whether every op of queue q may run without Python (inputs that turn out to be STRING
 * still take the Python path: native_run.h). */
static int copy_is_native(const Dag *d, const AIQueue *q) {
    for (int k = 0; k < d->nops; k++) {
        const DagOp *o = &d->ops[k];
        if (o->queue != q) continue;
        if (o->kind == DAG_MODEL && !o->model->runner) return 0;
        if (o->kind == DAG_SCRIPT && !native_script_can_run(o->script, o->fn, NULL, 0)) return 0;
    }
    return 1;
}

static int has_copy(AIQueue **queues, int n, AIQueue *q) {
    for (int i = 0; i < n; i++)
        if (queues[i] == q) return 1;
    return 0;
}

int dag_needs_workers(const Dag *d) {
    for (int k = 0; k < d->nops; k++)
        if (d->ops[k].queue) return 1;
    return 0;
}

void dag_start(Dag *d) {
    AIQueue **queues = RedisModule_Alloc(sizeof(AIQueue *) * (d->nops ? d->nops : 1));
    int n = 0;
    for (int k = 0; k < d->nops; k++)
        if (d->ops[k].queue && !has_copy(queues, n, d->ops[k].queue)) queues[n++] = d->ops[k].queue;
    d->copies_left = n;
    dag_set_deadlines(d, RedisModule_MonotonicMicroseconds());
    for (int i = 0; i < n; i++) {
        DagCopy *c = RedisModule_Calloc(1, sizeof *c);
        c->dag = d;
        c->queue = queues[i];
        c->job.execute = copy_run;
        c->job.native = copy_is_native(d, queues[i]);
        c->job.ttr_deadline_us = d->ttr_deadline_us;
        c->job.cost_us = dag_copy_cost(d, queues[i]);
        queue_push(queues[i], &c->job);
    }
    RedisModule_Free(queues);
}

void dag_record(Dag *d) {
    dag_record_ttr(d);
    for (int k = 0; k < d->nops; k++) {
        DagOp *o = &d->ops[k];
        if (o->state != OP_DONE && o->state != OP_FAILED) continue;
        int failed = o->state == OP_FAILED;
        if (o->kind == DAG_MODEL && o->model->key) {
            AITensor *first = o->noutputs && !failed ? d->slots[o->out_slots[0]] : NULL;
            long long samples = first && first->dl.ndim ? first->dl.shape[0] : 0;
            stats_record(o->model->key, o->model->keylen, o->model, failed, o->duration_us,
                         samples);
        } else if (o->kind == DAG_SCRIPT && o->script->key) {
            stats_record(o->script->key, o->script->keylen, o->script, failed, o->duration_us, 0);
        }
    }
}
