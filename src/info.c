/* The INFO MODULES sections of spec 6.4, plus what RedisAI never reported: the depth of
 * every device queue and recent latency percentiles of every model and script. Nothing
 * here takes the GIL. */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "backends.h"
#include "commands.h"
#include "config.h"
#include "dag_async.h"
#include "model.h"
#include "onnx_memory.h"
#include "queue.h"
#include "stats.h"

#define AI_VERSION_STRING "1.2.7"
#define AI_LLAPI_VERSION  1
#define AI_RDB_VERSION    4
#ifndef CYRAI_GIT_SHA
#define CYRAI_GIT_SHA "unknown"
#endif

static void add_cpu(RedisModuleInfoCtx *ctx, const char *name, struct timeval tv) {
    char buf[64];
    snprintf(buf, sizeof buf, "%ld.%06ld", (long)tv.tv_sec, (long)tv.tv_usec);
    RedisModule_InfoAddFieldCString(ctx, (char *)name, buf);
}

static void section_cpu(RedisModuleInfoCtx *ctx) {
    struct rusage self, children, main_thread;
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
    getrusage(RUSAGE_THREAD, &main_thread); /* INFO runs on the main thread */
    RedisModule_InfoAddSection(ctx, "cpu");
    add_cpu(ctx, "self_used_cpu_sys", self.ru_stime);
    add_cpu(ctx, "self_used_cpu_user", self.ru_utime);
    add_cpu(ctx, "children_used_cpu_sys", children.ru_stime);
    add_cpu(ctx, "children_used_cpu_user", children.ru_utime);
    add_cpu(ctx, "main_thread_used_cpu_sys", main_thread.ru_stime);
    add_cpu(ctx, "main_thread_used_cpu_user", main_thread.ru_utime);
    for (int q = 0; q < queue_count(); q++) {
        for (int t = 0; t < queue_threads(q); t++) {
            char field[96], value[32] = "N/A";
            snprintf(field, sizeof field, "queue_%s_bthread_n%d_used_cpu_total", queue_name(q),
                     t + 1);
            double cpu = queue_thread_cpu(q, t);
            if (cpu >= 0) snprintf(value, sizeof value, "%.6f", cpu);
            RedisModule_InfoAddFieldCString(ctx, field, value);
        }
    }
}

static long long device_threads(void) {
    long long n = 0;
    for (int q = 0; q < queue_count(); q++) n += queue_threads(q);
    return n;
}

static void section_backends(RedisModuleInfoCtx *ctx) {
    static const char *const fields[AI_BACKEND__COUNT] = {
        "TensorFlow_version", "TensorFlowLite_version", "Torch_version", "onnxruntime_version"};
    RedisModule_InfoAddSection(ctx, "backends_info");
    for (int b = 0; b < AI_BACKEND__COUNT; b++) {
        const char *version = ai_backend_version(b);
        if (version) RedisModule_InfoAddFieldCString(ctx, (char *)fields[b], (char *)version);
    }
    if (!ai_backend_version(AI_BACKEND_ONNX)) return;
    RedisModule_InfoAddFieldULongLong(ctx, "onnxruntime_memory", onnx_memory_bytes());
    RedisModule_InfoAddFieldULongLong(ctx, "onnxruntime_memory_access_num", onnx_memory_accesses());
    /* As in RedisAI: ONNX sessions can run on every worker thread at once. */
    RedisModule_InfoAddFieldLongLong(ctx, "onnxruntime_maximum_run_sessions_number",
                                     device_threads());
}

/* Roadmap R4: <device>:queued=..,running=..,done=..,threads=.. */
static void add_queue_counts(RedisModuleInfoCtx *ctx, int q) {
    RedisModule_InfoBeginDictField(ctx, (char *)queue_name(q));
    RedisModule_InfoAddFieldLongLong(ctx, "queued", queue_depth(q));
    RedisModule_InfoAddFieldLongLong(ctx, "running", queue_running(q));
    RedisModule_InfoAddFieldLongLong(ctx, "done", queue_done(q));
    RedisModule_InfoAddFieldLongLong(ctx, "threads", queue_threads(q));
    RedisModule_InfoEndDictField(ctx);
}

static void section_queues(RedisModuleInfoCtx *ctx) {
    RedisModule_InfoAddSection(ctx, "queues");
    for (int q = 0; q < queue_count(); q++) {
        char field[64];
        snprintf(field, sizeof field, "queue_%s_depth", queue_name(q));
        RedisModule_InfoAddFieldLongLong(ctx, field, queue_depth(q));
    }
    for (int q = 0; q < queue_count(); q++) add_queue_counts(ctx, q);
}

/* INFO lines cannot hold every byte a key may: those are shown as '_'. */
static void info_safe_name(char *dst, size_t size, const char *key, size_t keylen) {
    size_t i = 0;
    for (; i < keylen && i + 1 < size; i++) {
        char c = key[i];
        dst[i] = (c == ':' || c == ',' || c == '=' || c == ' ' || c == '\r' || c == '\n') ? '_' : c;
    }
    dst[i] = '\0';
}

static void add_latency(const char *key, size_t keylen, const AIRunStats *s, void *arg) {
    RedisModuleInfoCtx *ctx = arg;
    char field[160], value[160];
    info_safe_name(field, sizeof field, key, keylen);
    snprintf(value, sizeof value, "type=%s,calls=%lld,errors=%lld,p50_us=%lld,p99_us=%lld",
             s->is_script ? "SCRIPT" : "MODEL", s->calls, s->errors, stats_percentile(s, 50),
             stats_percentile(s, 99));
    RedisModule_InfoAddFieldCString(ctx, field, value);
}

static void info_func(RedisModuleInfoCtx *ctx, int for_crash_report) {
    RedisModule_InfoAddSection(ctx, "versions");
    RedisModule_InfoAddFieldCString(ctx, "RedisAI_version", AI_VERSION_STRING);
    RedisModule_InfoAddFieldLongLong(ctx, "low_level_API_version", AI_LLAPI_VERSION);
    RedisModule_InfoAddFieldLongLong(ctx, "rdb_version", AI_RDB_VERSION);
    RedisModule_InfoAddSection(ctx, "git");
    RedisModule_InfoAddFieldCString(ctx, "git_sha", CYRAI_GIT_SHA);
    RedisModule_InfoAddSection(ctx, "load_time_configs");
    RedisModule_InfoAddFieldLongLong(ctx, "threads_per_queue", ai_config.threads_per_queue);
    RedisModule_InfoAddFieldLongLong(ctx, "inter_op_parallelism", ai_config.inter_op_parallelism);
    RedisModule_InfoAddFieldLongLong(ctx, "intra_op_parallelism", ai_config.intra_op_parallelism);
    RedisModule_InfoAddFieldLongLong(ctx, "model_execution_timeout",
                                     ai_config.model_execution_timeout);
    RedisModule_InfoAddFieldLongLong(ctx, "backend_memory_limit", ai_config.backend_memory_limit);
    section_backends(ctx);
    if (for_crash_report) return;
    section_cpu(ctx);
    section_queues(ctx);
    RedisModule_InfoAddSection(ctx, "latency");
    stats_foreach(add_latency, ctx);
    dag_async_info(ctx);
}

int info_register(RedisModuleCtx *ctx) { return RedisModule_RegisterInfoFunc(ctx, info_func); }
