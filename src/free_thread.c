/* The free thread; see free_thread.h. Built like Redis's bio.c: one FIFO, the mutex held
 * only to push or pop, the thread started on first use with every signal blocked (they
 * stay Redis's). Frees still queued at exit are dropped with the process. */
#define _GNU_SOURCE /* gettid */
#include "free_thread.h"

#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "redismodule.h"

typedef struct FreeItem {
    struct FreeItem *next;
    AIFreeFn fn;
    void *arg;
} FreeItem;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready = PTHREAD_COND_INITIALIZER;
static FreeItem *head, *tail;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int started;

static void *free_main(void *unused) {
    (void)unused;
    /* Linux: a thread's nice value is its own (PRIO_PROCESS with its thread id). */
    setpriority(PRIO_PROCESS, (id_t)gettid(), AI_BACKGROUND_NICE);
    for (;;) {
        pthread_mutex_lock(&lock);
        while (!head) pthread_cond_wait(&ready, &lock);
        FreeItem *batch = head;
        head = tail = NULL;
        pthread_mutex_unlock(&lock);
        while (batch) {
            FreeItem *next = batch->next;
            batch->fn(batch->arg);
            RedisModule_Free(batch);
            batch = next;
        }
    }
    return NULL;
}

static void start(void) {
    sigset_t all, old;
    pthread_t thread;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    started = pthread_create(&thread, NULL, free_main, NULL) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (started)
        pthread_detach(thread);
    else
        ai_log("warning", "cannot start the free thread: freeing on the calling thread");
}

static void push(FreeItem *item) {
    pthread_once(&once, start);
    if (!started) {
        item->fn(item->arg);
        RedisModule_Free(item);
        return;
    }
    item->next = NULL;
    pthread_mutex_lock(&lock);
    if (tail)
        tail->next = item;
    else
        head = item;
    tail = item;
    pthread_cond_signal(&ready);
    pthread_mutex_unlock(&lock);
}

static FreeItem *item_new(AIFreeFn fn, void *arg) {
    FreeItem *item = RedisModule_Alloc(sizeof *item);
    item->fn = fn;
    item->arg = arg;
    return item;
}

void free_later(AIFreeFn fn, void *arg) { push(item_new(fn, arg)); }

static void push_now(void *item) { push(item); }

void free_after_command(AIFreeFn fn, void *arg) {
    /* A one-shot event runs on the main thread once the event loop turns again: by then
     * Redis has reset the client whose command this was and dropped its references. */
    FreeItem *item = item_new(fn, arg);
    if (RedisModule_EventLoopAddOneShot &&
        RedisModule_EventLoopAddOneShot(push_now, item) == REDISMODULE_OK)
        return;
    RedisModule_Free(item); /* a Redis without one-shot events: free here, now */
    fn(arg);
}
