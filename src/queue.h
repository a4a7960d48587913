/* Run queues: one FIFO per device (upper-cased device string), each served by
 * THREADS_PER_QUEUE worker pthreads, plus one internal queue for model loads and frees
 * so that long loads never sit in front of runs (head-of-line blocking).
 *
 * Ownership: queue_push hands the job to the queue; a worker pops it and calls
 * job->run exactly once, holding the GIL (the worker's own kept thread state), and from
 * then on the job belongs to whatever run() hands it to (usually RedisModule_UnblockClient).
 * Workers sleep on a condition variable, and drain up to AI_QUEUE_DRAIN jobs per wake-up
 * and GIL acquisition. */
#pragma once
#include <stdint.h>

#include "redismodule.h"

#define AI_QUEUE_DRAIN  32
#define AI_LOADER_QUEUE "__LOADER__"

typedef struct AIJob AIJob;
typedef void (*AIJobFn)(AIJob *job);

/* Auto-batching (spec 7.3): queued jobs with the same non-NULL key whose compatible()
 * agrees are merged, in queue order, until their sizes reach max. The merged jobs hang
 * off the head's `mates` list and its run() serves them all. With min > 0 a smaller
 * group waits (1 ms polls) unless min_timeout_ms passed since the head was queued. */
typedef struct AIBatching {
    const void *key;
    long long size, max, min, min_timeout_ms;
    int (*compatible)(const AIJob *head, const AIJob *other);
} AIBatching;

struct AIJob {
    AIJobFn run;
    AIJob *next;
    AIJob *mates;
    uint64_t enqueued_us; /* set by queue_push */
    long long timeout_ms; /* the client's TIMEOUT, 0: none; a timed-out job never waits */
    AIBatching batch;
};

typedef struct AIQueue AIQueue;

/* The queue of a device, created with its workers on first use. Main thread only. */
AIQueue *queue_get(const char *device);
void queue_push(AIQueue *q, AIJob *job);
/* Number of devices with a queue, their names, depths and worker CPU time, for INFO. */
int queue_count(void);
const char *queue_name(int i);
long queue_depth(int i);
int queue_threads(int i);
/* CPU seconds used by worker t of queue i, or -1 if unavailable. */
double queue_thread_cpu(int i, int t);
/* Called by a job's run() that re-queued itself to wait for another device: its worker
 * then pauses briefly after releasing the GIL instead of spinning on it. */
void queue_backoff(void);
/* Subscribed to Redis shutdown: stops workers, joining them with a deadline. */
void queues_shutdown(void);
