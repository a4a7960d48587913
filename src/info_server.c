/* AI.INFO without arguments; see info_server.h. Everything it reads is C state kept by
 * atomics or on the main thread: no lock held long, no GIL. */
#include "info_server.h"

#include <string.h>

#include "backends.h"
#include "dag_async.h"
#include "model.h"
#include "queue.h"
#include "trigger.h"

static void name(RedisModuleCtx *ctx, const char *s) {
    RedisModule_ReplyWithStringBuffer(ctx, s, strlen(s));
}

static void count(RedisModuleCtx *ctx, const char *field, long long value) {
    name(ctx, field);
    RedisModule_ReplyWithLongLong(ctx, value);
}

static long reply_queues(RedisModuleCtx *ctx) {
    for (int i = 0; i < queue_count(); i++) {
        name(ctx, "queue");
        name(ctx, queue_name(i));
        count(ctx, "threads", queue_threads(i));
        count(ctx, "queued", queue_depth(i));
        count(ctx, "running", queue_running(i));
        count(ctx, "done", queue_done(i));
        count(ctx, "work_us", queue_work_us(i));
        count(ctx, "reply_lag_us", queue_reply_lag_us(i));
    }
    return queue_count() * 14L;
}

static long reply_backends(RedisModuleCtx *ctx) {
    long n = 0;
    for (int b = 0; b < AI_BACKEND__COUNT; b++) {
        const char *version = ai_backend_version(b);
        if (!version) continue;
        name(ctx, "backend");
        name(ctx, ai_backend_name(b));
        name(ctx, "version");
        name(ctx, version);
        count(ctx, "memory", ai_backend_memory(b));
        n += 6;
    }
    return n;
}

static long reply_async_dags(RedisModuleCtx *ctx) {
    AIAsyncTotals t;
    dag_async_totals(&t);
    count(ctx, "async_dags_queued", t.queued);
    count(ctx, "async_dags_running", t.running);
    count(ctx, "async_dags_kept", t.kept);
    count(ctx, "async_dags_done", t.done);
    count(ctx, "async_dags_errors", t.errors);
    count(ctx, "async_dags_timedout", t.timedout);
    return 12;
}

static long reply_triggers(RedisModuleCtx *ctx) {
    AITriggerTotals t;
    trigger_totals(&t);
    count(ctx, "triggers", t.triggers);
    count(ctx, "trigger_runs_in_flight", t.inflight);
    count(ctx, "trigger_runs", t.runs);
    count(ctx, "trigger_errors", t.errors);
    return 8;
}

int info_server_reply(RedisModuleCtx *ctx) {
    RedisModule_ReplyWithArray(ctx, REDISMODULE_POSTPONED_LEN);
    long n = reply_queues(ctx) + reply_backends(ctx) + reply_async_dags(ctx) + reply_triggers(ctx);
    RedisModule_ReplySetArrayLength(ctx, n);
    return REDISMODULE_OK;
}
