/* Values built after they are stored; see pending.h. */
#include "pending.h"

#include <pthread.h>
#include <unistd.h>

#include "queue.h"

struct AIPending {
    AIJob job; /* first: the loader queue's job */
    const AIPendingOps *ops;
    void *value, *args, *staged;
    AIPending **slot;
    AIError err;
    pthread_mutex_t lock;
    pthread_cond_t built_cond;
    int built;     /* under lock */
    int installed; /* under the Redis lock */
    pid_t pid;     /* the server's: a fork child has no loader thread to wait for */
};

static void install(AIPending *p) {
    if (p->installed) return;
    p->installed = 1;
    *p->slot = NULL;
    p->ops->install(p->value, p->staged, &p->err);
    p->staged = NULL;
}

/* Main thread, once the loader is done with p: installs it unless a waiter did. */
static void on_built(void *arg) {
    AIPending *p = arg;
    install(p);
    p->ops->release(p->value);
    p->ops->free_args(p->args);
    ai_error_clear(&p->err);
    pthread_cond_destroy(&p->built_cond);
    pthread_mutex_destroy(&p->lock);
    RedisModule_Free(p);
}

static void build(AIJob *job) {
    AIPending *p = (AIPending *)job;
    p->staged = p->ops->stage(p->value, p->args, &p->err);
    pthread_mutex_lock(&p->lock);
    p->built = 1;
    pthread_cond_broadcast(&p->built_cond);
    pthread_mutex_unlock(&p->lock);
    RedisModule_EventLoopAddOneShot(on_built, p);
}

void pending_start(void *value, void *args, AIPending **slot, const AIPendingOps *ops) {
    AIPending *p = RedisModule_Calloc(1, sizeof *p);
    p->job.execute = build;
    p->ops = ops;
    p->value = value;
    p->args = args;
    p->slot = slot;
    p->pid = getpid();
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->built_cond, NULL);
    *slot = p;
    queue_push(queue_loader(), &p->job);
}

void pending_wait(AIPending **slot) {
    AIPending *p = *slot;
    if (!p || p->pid != getpid()) return;
    pthread_mutex_lock(&p->lock);
    while (!p->built) pthread_cond_wait(&p->built_cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    install(p);
}
