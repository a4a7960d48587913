/* Triggers at work (roadmap R2.3); see trigger.h.
 *
 * The module subscribes to stream events. An `xadd` on a master (not one of the module's
 * own appends, not while loading) schedules the stream's triggers; nothing else happens in
 * the notification, which may not write keys. In the event loop's next turn a timer (whose
 * context flushes what it replicates) serves each scheduled trigger: it propagates the
 * trigger's progress and starts runs for the entries after the last started one, found by
 * iterating the stream, up to AI_TRIGGER_WINDOW runs in flight. A burst therefore waits in
 * the stream, not in memory.
 *
 * Each run is an asynchronous DAG without an id (dag_async_run) whose LOAD of the stream
 * reads its own entry. When one is over, the runs at the front of the trigger's list that
 * are over are finished in entry order: their PERSIST keys are written (entries appended
 * to streams carry `source`), the counts updated, and last_processed advanced; then the
 * trigger is scheduled again, which propagates the new last_processed once for all the
 * runs finished meanwhile (AI._TRIGGERPROGRESS, to replicas and the AOF) and starts the
 * next entries. Outputs are propagated before the progress that covers them, so a restart
 * or a failover repeats some runs at worst but never skips one (at least once).
 *
 * After loading and on promotion to master every trigger resumes after its last
 * processed entry. A replica never runs triggers: runs still in flight when a master
 * becomes a replica finish without writing anything. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "dag.h"
#include "dag_async.h"
#include "stream_tensor.h"
#include "trigger.h"

struct TriggerRun {
    AITrigger *trigger; /* one reference */
    RedisModuleStreamID id;
    Dag *dag;    /* NULL when the DAG did not parse: err says why */
    AIError err; /* a parse error */
    int done;
    int skipped; /* one of the trigger's own outputs: not run, not counted */
    TriggerRun *next;
};

static struct {
    RedisModuleCtx *ctx;      /* detached: timers */
    RedisModuleDict *streams; /* "<db>:<stream key>" -> the first trigger of its chain */
    AITrigger **todo;         /* scheduled triggers, one reference each */
    size_t ntodo, cap;
    int timer_armed;
} reg;

static int serving(RedisModuleCtx *ctx) {
    int flags = RedisModule_GetContextFlags(ctx);
    return (flags & REDISMODULE_CTX_FLAGS_MASTER) && !(flags & REDISMODULE_CTX_FLAGS_LOADING);
}

/* The registry's key of a stream: "<db>:" then the key's bytes. */
static RedisModuleString *chain_key(int dbid, RedisModuleString *stream) {
    size_t len;
    const char *p = RedisModule_StringPtrLen(stream, &len);
    RedisModuleString *k = RedisModule_CreateStringPrintf(NULL, "%d:", dbid);
    RedisModule_StringAppendBuffer(NULL, k, p, len);
    return k;
}

/* The live triggers of a stream; dead ones are dropped from the chain on the way. */
static AITrigger *chain_of(RedisModuleString *k) {
    AITrigger *head = RedisModule_DictGet(reg.streams, k, NULL), **link = &head;
    while (*link) {
        AITrigger *t = *link;
        if (trigger_alive(t)) {
            link = &t->next_of_same;
            continue;
        }
        *link = t->next_of_same;
        trigger_release(t);
    }
    if (head)
        RedisModule_DictReplace(reg.streams, k, head);
    else
        RedisModule_DictDel(reg.streams, k, NULL);
    return head;
}

void trigger_register(AITrigger *t) {
    if (!reg.streams) return; /* Redis < 7.0: triggers are stored but never run */
    RedisModuleString *k = chain_key(t->dbid, t->stream);
    t->next_of_same = chain_of(k);
    RedisModule_DictReplace(reg.streams, k, trigger_share(t));
    RedisModule_FreeString(NULL, k);
}

static void serve(RedisModuleCtx *ctx, void *data);

/* From the event loop. A zero-delay timer created while a command runs (the XADD whose
 * notification schedules a trigger) fired about a millisecond later (measured: 1.15 ms
 * from XADD to serve); one created from the event loop fires in the same turn (7 us). */
static void arm_serve(void *data) {
    (void)data;
    RedisModule_CreateTimer(reg.ctx, 0, serve, NULL);
}

void trigger_schedule(AITrigger *t) {
    if (t->scheduled || !trigger_alive(t)) return;
    t->scheduled = 1;
    if (reg.ntodo == reg.cap) {
        reg.cap = reg.cap ? reg.cap * 2 : 16;
        reg.todo = RedisModule_Realloc(reg.todo, sizeof *reg.todo * reg.cap);
    }
    reg.todo[reg.ntodo++] = trigger_share(t);
    if (!reg.timer_armed) {
        reg.timer_armed = 1;
        RedisModule_EventLoopAddOneShot(arm_serve, NULL);
    }
}

void trigger_seek(AITrigger *t, RedisModuleStreamID id) {
    t->last_started = t->last_processed = id;
}

long long trigger_lag(RedisModuleCtx *ctx, const AITrigger *t) {
    return stream_count_after(ctx, t->stream, t->last_processed);
}

/* The first error of a finished run, or NULL. */
/* Server-wide, since start (AI.INFO without arguments). */
static long long all_runs, all_errors;

void trigger_totals(AITriggerTotals *totals) {
    *totals = (AITriggerTotals){.runs = all_runs, .errors = all_errors};
    if (!reg.streams) return;
    RedisModuleDictIter *it = RedisModule_DictIteratorStartC(reg.streams, "^", NULL, 0);
    AITrigger *t;
    while (RedisModule_DictNextC(it, NULL, (void **)&t))
        for (; t; t = t->next_of_same) {
            if (!trigger_alive(t)) continue;
            totals->triggers++;
            totals->inflight += t->inflight;
        }
    RedisModule_DictIteratorStop(it);
}

static const char *run_error(const TriggerRun *r) {
    if (!r->dag) return ai_error_text(&r->err);
    const Dag *d = r->dag;
    if (d->timed_out) return "TIMEDOUT";
    for (int k = 0; k < d->nops; k++)
        if (d->ops[k].state == OP_FAILED) return ai_error_text(&d->ops[k].err);
    return d->persist_err.code != AI_OK ? ai_error_text(&d->persist_err) : NULL;
}

static void count(AITrigger *t, const TriggerRun *r) {
    t->runs++;
    all_runs++;
    const char *e = run_error(r);
    if (!e) return;
    t->errors++;
    all_errors++;
    if (t->last_error) RedisModule_Free(t->last_error);
    t->last_error = RedisModule_Strdup(e);
}

/* Writes r's outputs (only a live trigger's, only on a master), counts it, frees it. */
static void finish(RedisModuleCtx *ctx, AITrigger *t, TriggerRun *r) {
    if (r->dag) {
        RedisModule_SelectDb(ctx, t->dbid);
        if (trigger_alive(t) && serving(ctx) && !r->dag->timed_out) dag_persist(ctx, r->dag);
        dag_record(r->dag);
    }
    if (!r->skipped) count(t, r);
    t->last_processed = r->id;
    if (r->dag) dag_free(r->dag);
    ai_error_clear(&r->err);
    trigger_release(r->trigger);
    RedisModule_Free(r);
}

/* Finishes the runs at the front that are over, in entry order. */
static void flush(RedisModuleCtx *ctx, AITrigger *t) {
    trigger_share(t); /* the last run may hold the last reference */
    int finished = 0;
    while (t->first && t->first->done) {
        TriggerRun *r = t->first;
        t->first = r->next;
        if (!t->first) t->last = NULL;
        t->inflight--;
        finish(ctx, t, r);
        finished++;
    }
    if (finished && trigger_alive(t) && serving(ctx)) {
        t->progress_dirty = 1;
        trigger_schedule(t);
    }
    trigger_release(t);
}

static void on_run_done(RedisModuleCtx *ctx, Dag *d, void *arg) {
    (void)d;
    TriggerRun *r = arg;
    r->done = 1;
    flush(ctx, r->trigger);
}

static void start_one(RedisModuleCtx *ctx, AITrigger *t, RedisModuleStreamID id, int skip) {
    TriggerRun *r = RedisModule_Calloc(1, sizeof *r);
    r->trigger = trigger_share(t);
    r->id = id;
    if (t->last)
        t->last->next = r;
    else
        t->first = r;
    t->last = r;
    t->inflight++;
    t->last_started = id;
    if (skip) {
        r->done = r->skipped = 1;
        return;
    }
    DagStreamBinding b = {t->stream, &r->id};
    int argc;
    RedisModuleString **argv = trigger_dag_argv(t, &argc);
    Dag *d;
    if (dag_parse_bound(ctx, argv, argc, 0, &b, &d, &r->err) == REDISMODULE_OK) {
        d->call.dbid = t->dbid;
        if (t->user) d->call.username = RedisModule_Strdup(t->user);
        d->source = id;
        d->has_source = 1;
        r->dag = d;
        dag_async_run(d, t->dbid, on_run_done, r);
    } else {
        r->done = 1;
    }
    trigger_dag_argv_free(argv);
}

/* Reads the fields of the iterator's entry: whether one is `source`. */
static int has_source(RedisModuleKey *key) {
    RedisModuleString *field;
    int found = 0;
    while (RedisModule_StreamIteratorNextField(key, &field, NULL) == REDISMODULE_OK) {
        found |= ai_arg_is(field, "source");
        RedisModule_FreeString(NULL, field);
    }
    return found;
}

/* Up to max ids of entries after t's last started one; skip[i]: one of t's own outputs. */
static int next_entries(RedisModuleCtx *ctx, AITrigger *t, RedisModuleStreamID *ids, int *skip,
                        int max) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, t->stream, REDISMODULE_READ);
    int n = 0;
    long nfields;
    if (max > 0 && RedisModule_StreamIteratorStart(key, REDISMODULE_STREAM_ITERATOR_EXCLUSIVE,
                                                   &t->last_started, NULL) == REDISMODULE_OK) {
        while (n < max &&
               RedisModule_StreamIteratorNextID(key, &ids[n], &nfields) == REDISMODULE_OK) {
            skip[n] = t->feeds_itself && has_source(key);
            if (!t->feeds_itself) stream_skip_fields(key);
            n++;
        }
        RedisModule_StreamIteratorStop(key);
    }
    RedisModule_CloseKey(key);
    return n;
}

static void start_runs(RedisModuleCtx *ctx, AITrigger *t) {
    RedisModuleStreamID ids[AI_TRIGGER_WINDOW];
    int skip[AI_TRIGGER_WINDOW];
    int n = next_entries(ctx, t, ids, skip, AI_TRIGGER_WINDOW - t->inflight);
    for (int i = 0; i < n; i++) start_one(ctx, t, ids[i], skip[i]);
    if (n) flush(ctx, t); /* runs whose DAG did not parse are over already */
}

static void propagate_progress(RedisModuleCtx *ctx, AITrigger *t) {
    if (!t->progress_dirty) return;
    t->progress_dirty = 0;
    char id[48];
    int len = stream_id_format(t->last_processed, id, sizeof id);
    RedisModule_Replicate(ctx, AI_TRIGGER_PROGRESS_CMD, "sb", t->name, id, (size_t)len);
}

/* Timer: serves every scheduled trigger. */
static void serve(RedisModuleCtx *ctx, void *data) {
    (void)data;
    reg.timer_armed = 0;
    AITrigger **list = reg.todo;
    size_t n = reg.ntodo;
    reg.todo = NULL;
    reg.ntodo = reg.cap = 0;
    for (size_t i = 0; i < n; i++) {
        AITrigger *t = list[i];
        t->scheduled = 0;
        if (trigger_alive(t) && serving(ctx)) {
            RedisModule_SelectDb(ctx, t->dbid);
            propagate_progress(ctx, t);
            start_runs(ctx, t);
        }
        trigger_release(t);
    }
    if (list) RedisModule_Free(list);
}

static int on_stream_event(RedisModuleCtx *ctx, int type, const char *event,
                           RedisModuleString *key) {
    (void)type;
    if (!reg.streams || !RedisModule_DictSize(reg.streams) || stream_own_write() ||
        strcmp(event, "xadd") || !serving(ctx))
        return REDISMODULE_OK;
    RedisModuleString *k = chain_key(RedisModule_GetSelectedDb(ctx), key);
    for (AITrigger *t = chain_of(k); t; t = t->next_of_same) trigger_schedule(t);
    RedisModule_FreeString(NULL, k);
    return REDISMODULE_OK;
}

/* Every live trigger starts again after its last processed entry. */
static void resume_all(void) {
    RedisModuleDictIter *it = RedisModule_DictIteratorStartC(reg.streams, "^", NULL, 0);
    RedisModuleString **keys = NULL;
    size_t n = 0, cap = 0;
    RedisModuleString *k;
    while ((k = RedisModule_DictNext(NULL, it, NULL))) {
        if (n == cap) keys = RedisModule_Realloc(keys, sizeof *keys * (cap = cap ? cap * 2 : 16));
        keys[n++] = k;
    }
    RedisModule_DictIteratorStop(it);
    for (size_t i = 0; i < n; i++) {
        for (AITrigger *t = chain_of(keys[i]); t; t = t->next_of_same) {
            if (!t->inflight) t->last_started = t->last_processed;
            trigger_schedule(t);
        }
        RedisModule_FreeString(NULL, keys[i]);
    }
    if (keys) RedisModule_Free(keys);
}

static void on_loading(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    (void)e, (void)data;
    if (sub == REDISMODULE_SUBEVENT_LOADING_ENDED &&
        (RedisModule_GetContextFlags(ctx) & REDISMODULE_CTX_FLAGS_MASTER))
        resume_all();
}

static void on_role(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    (void)ctx, (void)e, (void)data;
    if (sub == REDISMODULE_EVENT_REPLROLECHANGED_NOW_MASTER) resume_all();
}

int trigger_run_init(RedisModuleCtx *ctx) {
    if (!RedisModule_EventLoopAddOneShot) return REDISMODULE_OK; /* no asynchronous DAGs */
    reg.ctx = RedisModule_GetDetachedThreadSafeContext(ctx);
    reg.streams = RedisModule_CreateDict(NULL);
    if (RedisModule_SubscribeToKeyspaceEvents(ctx, REDISMODULE_NOTIFY_STREAM, on_stream_event) !=
            REDISMODULE_OK ||
        RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_Loading, on_loading) !=
            REDISMODULE_OK ||
        RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_ReplicationRoleChanged, on_role) !=
            REDISMODULE_OK)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
