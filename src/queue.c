/* Per-device run queues and their worker threads; see queue.h.
 *
 * The mutex is held only to push or pop; a push signals a worker only when one is idle,
 * and after unlocking. While the main thread handles the events of one event-loop
 * iteration, its pushes only count: the idle workers are woken once, before Redis sleeps
 * again (queue_on_event_loop). A worker faster than the main thread was otherwise idle
 * at every push, and woke (a futex call and two context switches) once per run.
 *
 * Each worker blocks every signal (they stay Redis's), creates its Python thread state
 * once, and takes the GIL once per run of consecutive Python jobs in a drained batch:
 * creating a thread state per job costs ~10 us and a third of throughput. Native jobs
 * run with the GIL released. */
#define _GNU_SOURCE /* pthread_timedjoin_np */
#include "queue.h"

#include <ctype.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bridge.h"
#include "config.h"
#include "deadline.h"
#include "log.h"

#define MAX_QUEUES  64
#define MAX_THREADS 64

struct AIQueue {
    char name[16];
    pthread_mutex_t lock;
    pthread_cond_t ready;
    AIJob *head, *tail;
    long depth;
    /* Estimated run time of the jobs queued or running (roadmap R3), and the runs running
     * and done (R4): atomics, so that admission and INFO read them without the lock. */
    long long work_us;
    long long reply_lag_us; /* moving average, written by the main thread only */
    long running;
    long long done;
    int stopping;
    int idle;        /* workers waiting on `ready`: a push wakes one only then */
    int woken_later; /* main thread only: pushes that found a worker idle while the
                      * iteration defers wake-ups */
    int nthreads;
    pthread_t threads[MAX_THREADS];
};

/* The device queues (main thread only, see queue.h) and the loader queue. */
static AIQueue *queues[MAX_QUEUES];
static int nqueues;
static AIQueue *loader;

/* Main thread only: set between the event loop's wake-up and its next sleep, when pushes
 * leave the waking to queue_on_event_loop; and the queues that got such pushes. */
static int deferring;
static pthread_t main_thread;
static AIQueue *to_wake[MAX_QUEUES + 1];
static int nto_wake;

static AIJob *unlink_next(AIQueue *q, AIJob *prev) {
    AIJob *j = prev ? prev->next : q->head;
    if (prev)
        prev->next = j->next;
    else
        q->head = j->next;
    if (q->tail == j) q->tail = prev;
    j->next = NULL;
    q->depth--;
    return j;
}

static void append(AIQueue *q, AIJob *job) {
    job->next = NULL;
    if (q->tail)
        q->tail->next = job;
    else
        q->head = job;
    q->tail = job;
    q->depth++;
}

/* Keeps the queue sorted by order_us, FIFO among equals. Runs without a TTR come in
 * order_us order, so they append in O(1); a run with one walks to its place. */
static void insert_ordered(AIQueue *q, AIJob *job) {
    if (!q->tail || q->tail->order_us <= job->order_us) {
        append(q, job);
        return;
    }
    AIJob *prev = NULL, *j = q->head;
    while (j->order_us <= job->order_us) prev = j, j = j->next; /* stops before the tail */
    job->next = j;
    if (prev)
        prev->next = job;
    else
        q->head = job;
    q->depth++;
}

/* Moves the queued jobs that can join head's batch onto head->mates; returns the total. */
static long long gather_mates(AIQueue *q, AIJob *head) {
    long long total = head->batch.size;
    AIJob **mates_tail = &head->mates, *prev = NULL;
    while (total < head->batch.max) {
        AIJob *j = prev ? prev->next : q->head;
        if (!j) break;
        if (j->batch.key != head->batch.key || !head->batch.compatible(head, j)) {
            prev = j;
            continue;
        }
        j = unlink_next(q, prev);
        total += j->batch.size;
        *mates_tail = j;
        mates_tail = &j->mates;
    }
    return total;
}

/* The latest time a run with a TTR may start and still answer in time: its deadline less
 * the batch's estimated run time and a margin for the worker's wake-ups (a tenth of the
 * TTR, at least a 1 ms poll). */
static uint64_t latest_start(const AIJob *j, long long cost_us) {
    uint64_t ttr = j->ttr_deadline_us - j->enqueued_us, margin = ttr / 10 > 1000 ? ttr / 10 : 1000;
    uint64_t before = (uint64_t)cost_us + margin;
    return j->ttr_deadline_us > before ? j->ttr_deadline_us - before : 0;
}

/* A batch's deadline is its earliest member's: a member's TIMEOUT passed, or a member's
 * TTR is near enough that the batch must start now. */
static int group_due(const AIJob *head, uint64_t now) {
    long long cost = 0;
    for (const AIJob *j = head; j; j = j->mates) cost += j->cost_us;
    for (const AIJob *j = head; j; j = j->mates)
        if (deadline_passed(j->deadline_us, now) ||
            (j->ttr_deadline_us && now >= latest_start(j, cost)))
            return 1;
    return 0;
}

/* A batch below its MINBATCHSIZE waits (mates included) for more. */
static int must_wait(AIJob *head, long long total) {
    if (head->batch.min <= 0 || total >= head->batch.min) return 0;
    uint64_t now = RedisModule_MonotonicMicroseconds();
    uint64_t min_deadline = deadline_from_timeout_ms(head->enqueued_us, head->batch.min_timeout_ms);
    return !group_due(head, now) && !deadline_passed(min_deadline, now);
}

/* A waiting group goes back to its place, which it keeps (order_us is unchanged). */
static void requeue_group(AIQueue *q, AIJob *head) {
    AIJob *j = head;
    while (j) {
        AIJob *mate = j->mates;
        j->mates = NULL;
        insert_ordered(q, j);
        j = mate;
    }
}

/* Takes up to AI_QUEUE_DRAIN jobs (batched jobs count as one), waiting while there are
 * none ready; NULL when stopping. Draining saves GIL acquisitions on Python jobs only: a
 * native job is taken alone, so that the other workers of the queue run the next ones. */
static AIJob *pop_batch(AIQueue *q) {
    AIJob *batch = NULL, **tail = &batch;
    pthread_mutex_lock(&q->lock);
    while (!batch && !q->stopping) {
        while (!q->head && !q->stopping) {
            q->idle++;
            pthread_cond_wait(&q->ready, &q->lock);
            q->idle--;
        }
        AIJob *waiting = NULL;  /* groups set aside for this pass, then put back in place */
        long budget = q->depth; /* every job looked at once, waiting groups included */
        for (int n = 0; q->head && n < AI_QUEUE_DRAIN && budget-- > 0;) {
            if (batch && q->head->native) break; /* a native job is taken alone */
            AIJob *job = unlink_next(q, NULL);
            if (job->batch.key && job->batch.size < job->batch.max &&
                must_wait(job, gather_mates(q, job))) {
                job->next = waiting;
                waiting = job;
                continue;
            }
            *tail = job;
            tail = &job->next;
            n++;
            if (job->native) break;
        }
        while (waiting) {
            AIJob *group = waiting;
            waiting = group->next;
            requeue_group(q, group);
        }
        if (!batch && q->head && !q->stopping) { /* only waiting groups: poll in 1 ms */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 1000000;
            if (ts.tv_nsec >= 1000000000) ts.tv_sec++, ts.tv_nsec -= 1000000000;
            q->idle++;
            pthread_cond_timedwait(&q->ready, &q->lock, &ts);
            q->idle--;
        }
    }
    /* Another worker of this queue may take what is left. */
    int wake = q->head && q->idle;
    pthread_mutex_unlock(&q->lock);
    if (wake) pthread_cond_signal(&q->ready);
    return batch;
}

/* Set through queue_backoff() by a job that re-queued itself on this worker. */
static __thread int job_backoff;
/* The job this worker is executing: queue_push of it is a re-queue. */
static __thread AIJob *executing;

void queue_backoff(void) { job_backoff = 1; }

/* Runs job (and its batch mates), keeping the queue's work and counts: its estimated
 * cost leaves the queue's work when it is over (a job that re-queued itself was counted
 * again by queue_push, and is not done). */
static void execute_counted(AIQueue *q, AIJob *job) {
    long long cost = 0;
    long runs = 0;
    for (AIJob *j = job; j; j = j->mates) cost += j->cost_us, runs++;
    __atomic_add_fetch(&q->running, runs, __ATOMIC_RELAXED);
    executing = job;
    job->execute(job); /* may free or re-queue job: not touched after */
    executing = NULL;
    __atomic_sub_fetch(&q->work_us, cost, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&q->running, runs, __ATOMIC_RELAXED);
    if (!job_backoff) __atomic_add_fetch(&q->done, runs, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg) {
    AIQueue *q = arg;
    void *pystate = bridge_thread_state_new();
    AIJob *batch;
    while ((batch = pop_batch(q)) != NULL) {
        int backoff = 0, held = 0;
        while (batch) {
            AIJob *job = batch;
            batch = batch->next;
            job->next = NULL;
            if (!job->native && !held) bridge_enter(pystate);
            if (job->native && held) bridge_leave();
            held = !job->native;
            execute_counted(q, job);
            backoff |= job_backoff;
            job_backoff = 0;
        }
        if (held) bridge_leave();
        /* A job waiting for another device's work gives the GIL and the CPU away a little. */
        if (backoff) usleep(100);
    }
    return NULL;
}

static int start_workers(AIQueue *q, int n) {
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* inherited by the workers */
    for (q->nthreads = 0; q->nthreads < n && q->nthreads < MAX_THREADS; q->nthreads++)
        if (pthread_create(&q->threads[q->nthreads], NULL, worker_main, q) != 0) break;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return q->nthreads > 0 ? 0 : -1;
}

static void upper_name(char *dst, size_t size, const char *src) {
    size_t i = 0;
    for (; src[i] && i + 1 < size; i++) dst[i] = (char)toupper((unsigned char)src[i]);
    dst[i] = '\0';
}

static AIQueue *queue_new(const char *name, int threads) {
    AIQueue *q = RedisModule_Calloc(1, sizeof *q);
    upper_name(q->name, sizeof q->name, name);
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->ready, NULL);
    if (start_workers(q, threads) != 0) {
        ai_log("warning", "cannot start worker threads");
        RedisModule_Free(q);
        return NULL;
    }
    return q;
}

int queue_loader_start(void) {
    main_thread = pthread_self(); /* called at module load, on the main thread */
    if (!loader) loader = queue_new("loader", 1);
    return loader ? 0 : -1;
}

AIQueue *queue_loader(void) { return loader; }

AIQueue *queue_get(const char *device) {
    char name[16];
    upper_name(name, sizeof name, device);
    for (int i = 0; i < nqueues; i++)
        if (!strcmp(queues[i]->name, name)) return queues[i];
    if (nqueues == MAX_QUEUES) return NULL;
    AIQueue *q = queue_new(name, (int)ai_config.threads_per_queue);
    if (q) queues[nqueues++] = q;
    return q;
}

void queue_push(AIQueue *q, AIJob *job) {
    job->mates = NULL;
    job->enqueued_us = RedisModule_MonotonicMicroseconds();
    job->order_us = job->ttr_deadline_us && job != executing
                        ? job->ttr_deadline_us
                        : job->enqueued_us + AI_QUEUE_UNTIMED_SLACK_MS * 1000;
    pthread_mutex_lock(&q->lock);
    __atomic_add_fetch(&q->work_us, job->cost_us, __ATOMIC_RELAXED);
    insert_ordered(q, job);
    int wake = q->idle > 0;
    pthread_mutex_unlock(&q->lock);
    /* Only the main thread reads `deferring` (a worker re-queueing a job signals). */
    int later = pthread_equal(pthread_self(), main_thread) && deferring;
    if (wake && later) {
        if (!q->woken_later++) to_wake[nto_wake++] = q;
        return;
    }
    /* Signalled after unlocking: a worker woken under the lock would at once block on it
     * again, two context switches per run instead of one. */
    if (wake) pthread_cond_signal(&q->ready);
}

/* Each of the pushes counted found a worker idle, which stays waiting until signalled:
 * no need to look again under the lock (the worker popping would contend for it). */
static void wake_idle(AIQueue *q) {
    if (q->woken_later > 1 && q->nthreads > 1)
        pthread_cond_broadcast(&q->ready);
    else
        pthread_cond_signal(&q->ready);
    q->woken_later = 0;
}

void queue_on_event_loop(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    (void)ctx, (void)e, (void)data;
    if (sub == REDISMODULE_SUBEVENT_EVENTLOOP_AFTER_SLEEP) {
        deferring = 1;
        return;
    }
    /* Before sleeping: what Redis does after this event (replies of finished runs, the
     * pipelined commands of their clients) pushes with immediate wake-ups again. */
    deferring = 0;
    for (int i = 0; i < nto_wake; i++) wake_idle(to_wake[i]);
    nto_wake = 0;
}

int queue_count(void) { return nqueues; }
const char *queue_name(int i) { return queues[i]->name; }
int queue_threads(int i) { return queues[i]->nthreads; }

long queue_depth(int i) {
    pthread_mutex_lock(&queues[i]->lock);
    long n = queues[i]->depth;
    pthread_mutex_unlock(&queues[i]->lock);
    return n;
}

/* The reply delay counts only behind work: it is learnt from runs, so an idle queue must
 * admit the run that will renew it (a stale delay would otherwise refuse every run). */
long long queue_wait_us(const AIQueue *q) {
    long long work = __atomic_load_n(&q->work_us, __ATOMIC_RELAXED);
    if (work <= 0 || q->nthreads <= 0) return 0;
    return work / q->nthreads + __atomic_load_n(&q->reply_lag_us, __ATOMIC_RELAXED);
}

/* Weight 1/8: the reply path is noisier than a run. */
void queue_note_reply_lag(AIQueue *q, long long lag_us) {
    long long lag = __atomic_load_n(&q->reply_lag_us, __ATOMIC_RELAXED);
    __atomic_store_n(&q->reply_lag_us, lag + (lag_us - lag) / 8, __ATOMIC_RELAXED);
}

long queue_running(int i) { return __atomic_load_n(&queues[i]->running, __ATOMIC_RELAXED); }
long long queue_done(int i) { return __atomic_load_n(&queues[i]->done, __ATOMIC_RELAXED); }
long long queue_work_us(int i) { return __atomic_load_n(&queues[i]->work_us, __ATOMIC_RELAXED); }
long long queue_reply_lag_us(int i) {
    return __atomic_load_n(&queues[i]->reply_lag_us, __ATOMIC_RELAXED);
}

double queue_thread_cpu(int i, int t) {
    clockid_t clock;
    struct timespec ts;
    if (pthread_getcpuclockid(queues[i]->threads[t], &clock) != 0 || clock_gettime(clock, &ts) != 0)
        return -1;
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void stop(AIQueue *q) {
    pthread_mutex_lock(&q->lock);
    q->stopping = 1;
    q->head = q->tail = NULL;
    q->depth = 0;
    pthread_cond_broadcast(&q->ready);
    pthread_mutex_unlock(&q->lock);
}

static void join(AIQueue *q, const struct timespec *deadline) {
    for (int t = 0; t < q->nthreads; t++)
        if (pthread_timedjoin_np(q->threads[t], NULL, deadline) != 0) {
            ai_log("warning", "a worker did not stop in time; exiting now");
            _exit(0);
        }
}

/* Jobs still queued are dropped: their clients go away with the server. A worker stuck
 * in a long framework call past the deadline would race exit()'s static destructors, so
 * the process then leaves with _exit. */
void queues_shutdown(void) {
    for (int i = 0; i < nqueues; i++) stop(queues[i]);
    if (loader) stop(loader);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    for (int i = 0; i < nqueues; i++) join(queues[i], &deadline);
    if (loader) join(loader, &deadline);
}
