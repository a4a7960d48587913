/* Asynchronous DAGs (roadmap R1): AI.DAGEXECUTE_ASYNC and AI.DAGRUNASYNC parse and queue a
 * DAG exactly as their synchronous twins, but reply an id at once and block nobody, so
 * they work inside MULTI/EXEC and Lua; AI.DAGINFO <id> [DEL] tells how the run went.
 *
 * The registry (id -> AsyncDag) belongs to the main thread. A worker that finishes the
 * last device copy of a run puts the Dag on a hand-off list and, when the list was empty,
 * wakes the main thread once with RedisModule_EventLoopAddOneShot. There, in a timer
 * callback's context (see drain_handoff), the run completes as a synchronous DAG does in
 * its unblock callback: PERSIST keys are written and replicated in the submitter's database,
 * statistics recorded, and the keyspace event `ai.dagdone` (module class) is sent with
 * the id as key. The finished Dag stays in the registry with its tensors, so AI.DAGINFO
 * sends the very reply the synchronous command would have sent.
 *
 * Ids are `<unix ms>-<seq>` like stream ids: increasing for the server's lifetime.
 * Finished entries are kept on a list in completion order until DAG_RESULT_TTL (its
 * current value) ms passed since they finished: a lookup never returns an expired one,
 * and a timer, armed for the list's head but at most a second ahead (so that a smaller
 * TTL set meanwhile takes effect), forgets them. DAG_ASYNC_MAX bounds the entries
 * pending or kept. A DEL of a pending run forgets its id; the run still completes (its
 * PERSIST keys are written) and is freed then.
 *
 * Ownership: the entry owns its Dag; while the run is pending the workers use the Dag and
 * only the completion on the main thread marks it finished. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "config.h"
#include "dag.h"
#include "dag_async.h"

typedef enum { ASYNC_PENDING, ASYNC_FINISHED, ASYNC_FORGOTTEN } AsyncState;

typedef struct AsyncDag {
    Dag *dag;
    RedisModuleString *id;
    int dbid;
    AsyncState state;
    uint64_t submitted_us, finished_us;
    struct AsyncDag *prev, *next; /* the kept list, finished entries only */
    DagAsyncDone done;            /* a trigger's run (dag_async_run): no id, no registry */
    void *done_arg;
} AsyncDag;

static struct {
    RedisModuleCtx *ctx; /* detached: completions, timers */
    RedisModuleDict *ids;
    AsyncDag *kept_head, *kept_tail;
    int timer_armed;
    long long last_ms, seq;
    /* Counts for INFO; started is counted by the workers (atomic), the rest here. */
    long long pending, kept, started, finished_started, done, errors, timedout;
} reg;

/* Worker -> main thread hand-off: finished runs wait here for the next drain. */
static pthread_mutex_t handoff_lock = PTHREAD_MUTEX_INITIALIZER;
static Dag **handoff_list;
static size_t handoff_len, handoff_cap;

static uint64_t now_us(void) { return RedisModule_MonotonicMicroseconds(); }

static RedisModuleString *new_id(void) {
    long long ms = RedisModule_Milliseconds();
    if (ms > reg.last_ms) {
        reg.last_ms = ms;
        reg.seq = 0;
    } else {
        reg.seq++;
    }
    char buf[48];
    int n = snprintf(buf, sizeof buf, "%lld-%lld", reg.last_ms, reg.seq);
    return RedisModule_CreateString(NULL, buf, (size_t)n);
}

static void kept_unlink(AsyncDag *a) {
    if (a->prev)
        a->prev->next = a->next;
    else
        reg.kept_head = a->next;
    if (a->next)
        a->next->prev = a->prev;
    else
        reg.kept_tail = a->prev;
    a->prev = a->next = NULL;
    reg.kept--;
}

static void entry_free(AsyncDag *a) {
    dag_free(a->dag);
    RedisModule_FreeString(NULL, a->id);
    RedisModule_Free(a);
}

/* Forgets a's id; a pending run is freed when it completes. */
static void forget(AsyncDag *a) {
    RedisModule_DictDel(reg.ids, a->id, NULL);
    if (a->state == ASYNC_PENDING) {
        a->state = ASYNC_FORGOTTEN;
        return;
    }
    kept_unlink(a);
    entry_free(a);
}

static void arm_timer(void);

/* A TTL of centuries means "keep": it must not wrap around. */
static uint64_t expiry(const AsyncDag *a) {
    uint64_t ttl_ms = (uint64_t)ai_config.dag_result_ttl, forever = UINT64_MAX / 2;
    return ttl_ms > forever / 1000 ? forever : a->finished_us + ttl_ms * 1000;
}

static int expired(const AsyncDag *a) {
    return a->state == ASYNC_FINISHED && expiry(a) <= now_us();
}

static void on_timer(RedisModuleCtx *ctx, void *data) {
    (void)ctx, (void)data;
    reg.timer_armed = 0;
    while (reg.kept_head && expired(reg.kept_head)) forget(reg.kept_head);
    arm_timer();
}

static void arm_timer(void) {
    if (reg.timer_armed || !reg.kept_head) return;
    uint64_t now = now_us(), at = expiry(reg.kept_head);
    long long delay_ms = at > now ? (long long)((at - now + 999) / 1000) : 0;
    RedisModule_CreateTimer(reg.ctx, delay_ms < 1000 ? delay_ms : 1000, on_timer, NULL);
    reg.timer_armed = 1;
}

static int dag_had_error(const Dag *d) {
    if (d->persist_err.code != AI_OK) return 1;
    for (int k = 0; k < d->nops; k++)
        if (d->ops[k].state == OP_FAILED) return 1;
    return 0;
}

/* Main thread: the run of a is over. ctx is in a's database. */
static void complete(RedisModuleCtx *ctx, AsyncDag *a) {
    Dag *d = a->dag;
    if (!d->timed_out) dag_persist(ctx, d);
    dag_record(d);
    a->finished_us = now_us();
    reg.pending--;
    if (__atomic_load_n(&d->started_us, __ATOMIC_ACQUIRE)) reg.finished_started++;
    if (d->timed_out)
        reg.timedout++;
    else if (dag_had_error(d))
        reg.errors++;
    else
        reg.done++;
    RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_MODULE, "ai.dagdone", a->id);
    if (a->state == ASYNC_FORGOTTEN) {
        entry_free(a);
        return;
    }
    a->state = ASYNC_FINISHED;
    reg.kept++;
    a->prev = reg.kept_tail;
    if (reg.kept_tail)
        reg.kept_tail->next = a;
    else
        reg.kept_head = a;
    reg.kept_tail = a;
    arm_timer();
}

/* A trigger's run: its owner takes the Dag over. */
static void complete_unnamed(RedisModuleCtx *ctx, AsyncDag *a) {
    DagAsyncDone done = a->done;
    void *arg = a->done_arg;
    Dag *d = a->dag;
    RedisModule_Free(a);
    done(ctx, d, arg);
}

/* Main thread, in a timer's context: completes every run handed off so far. Writes made
 * in a thread-safe context would wait in Redis's propagation queue (Redis 7.0 flushes it
 * when a command or a callback's context ends, not a thread-safe one), so completions run
 * in a timer callback, whose context flushes them to replicas and the AOF. */
static void drain_handoff(RedisModuleCtx *ctx, void *data) {
    (void)data;
    pthread_mutex_lock(&handoff_lock);
    Dag **list = handoff_list;
    size_t n = handoff_len;
    handoff_list = NULL;
    handoff_len = handoff_cap = 0;
    pthread_mutex_unlock(&handoff_lock);
    for (size_t i = 0; i < n; i++) {
        AsyncDag *a = list[i]->owner;
        RedisModule_SelectDb(ctx, a->dbid);
        if (a->done)
            complete_unnamed(ctx, a);
        else
            complete(ctx, a);
    }
    if (list) RedisModule_Free(list);
}

/* Main thread, from the event loop (any thread may ask for it). */
static void wake_main(void *data) {
    (void)data;
    RedisModule_CreateTimer(reg.ctx, 0, drain_handoff, NULL);
}

/* Worker: d's first op starts. */
static void on_start(Dag *d) {
    (void)d;
    __atomic_add_fetch(&reg.started, 1, __ATOMIC_RELAXED);
}

/* Worker: the last copy of d finished. */
static void hand_off(Dag *d) {
    pthread_mutex_lock(&handoff_lock);
    int wake = handoff_len == 0;
    if (handoff_len == handoff_cap) {
        handoff_cap = handoff_cap ? handoff_cap * 2 : 64;
        handoff_list = RedisModule_Realloc(handoff_list, sizeof(Dag *) * handoff_cap);
    }
    handoff_list[handoff_len++] = d;
    pthread_mutex_unlock(&handoff_lock);
    if (wake) RedisModule_EventLoopAddOneShot(wake_main, NULL);
}

static AsyncDag *entry_new(RedisModuleCtx *ctx, Dag *d) {
    AsyncDag *a = RedisModule_Calloc(1, sizeof *a);
    a->dag = d;
    a->id = new_id();
    a->dbid = RedisModule_GetSelectedDb(ctx);
    a->submitted_us = now_us();
    d->owner = a;
    RedisModule_DictSet(reg.ids, a->id, a);
    reg.pending++;
    return a;
}

static int async_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return dag_command_keys(ctx, argc, argv);
    AIError err = {0};
    Dag *d;
    if (dag_parse_admitted(ctx, argv, argc, flags, &d, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    if ((long long)RedisModule_DictSize(reg.ids) >= ai_config.dag_async_max) {
        dag_free(d);
        return ai_reply_code(ctx, AI_ERR_DAG_ASYNC_FULL);
    }
    dag_set_caller(ctx, d);
    AsyncDag *a = entry_new(ctx, d);
    RedisModule_ReplyWithString(ctx, a->id);
    if (!dag_needs_workers(d)) {
        complete(ctx, a);
        return REDISMODULE_OK;
    }
    d->done = hand_off;
    d->started = on_start;
    dag_start(d);
    return REDISMODULE_OK;
}

void dag_async_run(Dag *d, int dbid, DagAsyncDone done, void *arg) {
    AsyncDag *a = RedisModule_Calloc(1, sizeof *a);
    a->dag = d;
    a->dbid = dbid;
    a->done = done;
    a->done_arg = arg;
    a->submitted_us = now_us();
    d->owner = a;
    d->done = hand_off;
    if (dag_needs_workers(d))
        dag_start(d);
    else
        hand_off(d); /* completes in the next drain, like any other */
}

static const char *status(const AsyncDag *a) {
    const Dag *d = a->dag;
    if (a->state == ASYNC_PENDING)
        return __atomic_load_n(&d->started_us, __ATOMIC_ACQUIRE) ? "RUNNING" : "QUEUED";
    if (d->timed_out) return "TIMEDOUT";
    return dag_had_error(d) ? "ERROR" : "DONE";
}

static void reply_field_ms(RedisModuleCtx *ctx, const char *name, uint64_t from, uint64_t to) {
    RedisModule_ReplyWithSimpleString(ctx, name);
    RedisModule_ReplyWithLongLong(ctx, to > from ? (long long)((to - from) / 1000) : 0);
}

static void reply_info(RedisModuleCtx *ctx, AsyncDag *a) {
    uint64_t end = a->state == ASYNC_PENDING ? now_us() : a->finished_us;
    uint64_t started = __atomic_load_n(&a->dag->started_us, __ATOMIC_ACQUIRE);
    const char *st = status(a);
    RedisModule_ReplyWithArray(ctx, 8);
    RedisModule_ReplyWithStringBuffer(ctx, "status", 6);
    RedisModule_ReplyWithStringBuffer(ctx, st, strlen(st));
    reply_field_ms(ctx, "queued_ms", a->submitted_us, started ? started : end);
    reply_field_ms(ctx, "run_ms", started ? started : end, end);
    RedisModule_ReplyWithStringBuffer(ctx, "reply", 5);
    if (a->state == ASYNC_PENDING)
        RedisModule_ReplyWithNull(ctx);
    else
        dag_reply(ctx, a->dag);
}

/* AI.DAGINFO <id> [DEL] */
static int daginfo_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2 || argc > 3) return ai_reply_arity(ctx, argv[0]);
    if (argc == 3 && !ai_arg_is(argv[2], "DEL")) return ai_reply_code(ctx, AI_ERR_SYNTAX);
    AsyncDag *a = RedisModule_DictGet(reg.ids, argv[1], NULL);
    if (a && expired(a)) {
        forget(a);
        a = NULL;
    }
    if (!a) return ai_reply_code(ctx, AI_ERR_DAG_UNKNOWN_ID);
    reply_info(ctx, a);
    if (argc == 3) forget(a);
    return REDISMODULE_OK;
}

static int dagexecute_async_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return async_command(ctx, argv, argc, 0);
}
static int dagrunasync_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return async_command(ctx, argv, argc, DAG_DEPRECATED);
}

void dag_async_info(RedisModuleInfoCtx *ctx) {
    long long running = __atomic_load_n(&reg.started, __ATOMIC_RELAXED) - reg.finished_started;
    RedisModule_InfoAddSection(ctx, "async_dags");
    RedisModule_InfoAddFieldLongLong(ctx, "async_dags_queued", reg.pending - running);
    RedisModule_InfoAddFieldLongLong(ctx, "async_dags_running", running);
    RedisModule_InfoAddFieldLongLong(ctx, "async_dags_kept", reg.kept);
    RedisModule_InfoAddFieldLongLong(ctx, "async_dags_done", reg.done);
    RedisModule_InfoAddFieldLongLong(ctx, "async_dags_errors", reg.errors);
    RedisModule_InfoAddFieldLongLong(ctx, "async_dags_timedout", reg.timedout);
}

void dag_async_totals(AIAsyncTotals *t) {
    long long running = __atomic_load_n(&reg.started, __ATOMIC_RELAXED) - reg.finished_started;
    *t = (AIAsyncTotals){.queued = reg.pending - running,
                         .running = running,
                         .kept = reg.kept,
                         .done = reg.done,
                         .errors = reg.errors,
                         .timedout = reg.timedout};
}

int dag_async_commands_register(RedisModuleCtx *ctx) {
    if (!RedisModule_EventLoopAddOneShot) { /* Redis < 7.0: no way to wake the main thread */
        RedisModule_Log(ctx, "notice", "asynchronous DAGs need Redis 7.0 or later");
        return REDISMODULE_OK;
    }
    reg.ctx = RedisModule_GetDetachedThreadSafeContext(ctx);
    reg.ids = RedisModule_CreateDict(NULL);
    if (RedisModule_CreateCommand(ctx, "ai.dagexecute_async", dagexecute_async_command,
                                  "write deny-oom getkeys-api", 0, 0, 0) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.dagrunasync", dagrunasync_command,
                                  "write deny-oom getkeys-api", 0, 0, 0) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.daginfo", daginfo_command, "readonly fast", 0, 0, 0) ==
            REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
