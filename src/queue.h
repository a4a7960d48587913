/* Run queues: one per device (upper-cased device string), FIFO but for runs with a TTR
 * (served earliest-deadline-first, see AI_QUEUE_UNTIMED_SLACK_MS), each served by
 * THREADS_PER_QUEUE worker pthreads, plus the loader queue (one worker) for model loads,
 * script compiles, backend imports and frees, so that long loads never sit in front of
 * runs (head-of-line blocking). The loader queue is not a device: the module holds it by
 * pointer, and it is in no device listing (INFO).
 *
 * Threads: queues are created on the main thread only (queue_loader_start at load,
 * queue_get when a model or script is stored or loaded), and the registry of device
 * queues is read on the main thread only (queue_get, INFO). A model or script keeps the
 * queue it got; queue_push and queue_loader() are safe on any thread.
 *
 * Ownership: queue_push hands the job to the queue; a worker pops it and calls
 * job->execute exactly once, and from then on the job belongs to whatever execute() hands
 * it to (usually RedisModule_UnblockClient). Workers sleep on a condition variable, and
 * drain up to AI_QUEUE_DRAIN jobs per wake-up.
 *
 * The GIL: a job that says it is native (a run on a native runner, see native_run.h) runs
 * without it, so the workers of a queue run such jobs in parallel. Any other job runs
 * holding it (the worker's own kept thread state), taken once for consecutive such jobs
 * of a drained batch. A native job that finds it needs Python after all takes the GIL
 * through the bridge's own calls. */
#pragma once
#include <stdint.h>

#include "redismodule.h"

#define AI_QUEUE_DRAIN 32

typedef struct AIJob AIJob;
typedef void (*AIJobFn)(AIJob *job);

/* Order (roadmap R3): runs with a TTR are served earliest-deadline-first; a run without
 * one counts as due AI_QUEUE_UNTIMED_SLACK_MS after it was queued, so runs with a TTR pass
 * it only when they are due earlier: nothing waits forever behind them, and among runs
 * without a TTR the queue stays FIFO. A job that re-queues itself from its worker goes
 * behind as a run without a TTR (it waits for another device). */
#define AI_QUEUE_UNTIMED_SLACK_MS 100

/* Auto-batching (spec 7.3): queued jobs with the same non-NULL key whose compatible()
 * agrees are merged, in queue order, until their sizes reach max. The merged jobs hang
 * off the head's `mates` list and its execute() serves them all. With min > 0 a smaller
 * group waits (1 ms polls) until min_timeout_ms passed since the head was queued, or the
 * earliest deadline of its members (TIMEOUT; a TTR less the group's estimated run time). */
typedef struct AIBatching {
    const void *key;
    long long size, max, min, min_timeout_ms;
    int (*compatible)(const AIJob *head, const AIJob *other);
} AIBatching;

struct AIJob {
    AIJobFn execute;
    AIJob *next;
    AIJob *mates;
    uint64_t enqueued_us; /* set by queue_push */
    uint64_t deadline_us; /* the client's TIMEOUT (deadline.h), 0: none; set before queueing */
    int native;           /* runs without Python: its worker does not take the GIL for it */
    AIBatching batch;
    /* Time to response (roadmap R3), set before queueing: */
    uint64_t ttr_deadline_us; /* the TTR's deadline, 0: none; orders the queue (EDF) */
    long long cost_us;        /* estimated run time, counted in the queue's work */
    uint64_t order_us;        /* set by queue_push: the queue is kept sorted by it */
};

typedef struct AIQueue AIQueue;

/* Starts the loader queue and its worker; main thread, at module load. 0 or -1. */
int queue_loader_start(void);
/* The loader queue; any thread, once started. */
AIQueue *queue_loader(void);
/* The queue of a device, created with its workers on first use; NULL if they cannot
 * start. Main thread only. */
AIQueue *queue_get(const char *device);
/* Any thread. */
void queue_push(AIQueue *q, AIJob *job);
/* Number of devices with a queue, their names, depths and worker CPU time, for INFO.
 * Main thread only. */
int queue_count(void);
const char *queue_name(int i);
long queue_depth(int i);
int queue_threads(int i);
/* CPU seconds used by worker t of queue i, or -1 if unavailable. */
double queue_thread_cpu(int i, int t);
/* Time to response (roadmap R3) and monitoring (R4): the estimated time a run queued now
 * waits before it starts (the work queued or running, divided by the workers, and the
 * recent delay between a run's end and its reply), and the runs of queue i waiting,
 * running and done. Any thread; no lock taken. */
long long queue_wait_us(const AIQueue *q);
/* Main thread: a run of q was answered lag_us after its worker finished it (the reply
 * path, which admission adds to the wait). */
void queue_note_reply_lag(AIQueue *q, long long lag_us);
long queue_running(int i);
long long queue_done(int i);
long long queue_work_us(int i);
long long queue_reply_lag_us(int i);
/* Called by a job's execute() that re-queued itself to wait for another device: its worker
 * then pauses briefly after releasing the GIL instead of spinning on it. */
void queue_backoff(void);
/* Subscribed to the event loop's sleeps (Redis 7.0+): pushes made by the main thread
 * between its wake-up and its next sleep wake idle workers once, before that sleep. */
void queue_on_event_loop(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data);
/* Subscribed to Redis shutdown: stops workers, joining them with a deadline. */
void queues_shutdown(void);
