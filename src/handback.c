/* Batched unblocking; see handback.h. */
#include "handback.h"

#include <errno.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

static int wake_fd = -1;
static AIHandback *pushed; /* a stack: workers push, the main thread takes it whole */

/* Main thread, when the eventfd is readable. */
static void on_wake(int fd, void *user_data, int mask) {
    (void)user_data, (void)mask;
    uint64_t n;
    /* Reset the wake before taking the list: a push after the take wakes again. */
    while (read(fd, &n, sizeof n) < 0 && errno == EINTR) {
    }
    AIHandback *h = __atomic_exchange_n(&pushed, NULL, __ATOMIC_ACQUIRE), *fifo = NULL;
    while (h) { /* the stack is newest first: answer in the order the runs finished */
        AIHandback *next = h->next;
        h->next = fifo;
        fifo = h;
        h = next;
    }
    while (fifo) {
        AIHandback *next = fifo->next; /* fifo may be freed once unblocked */
        RedisModule_UnblockClient(fifo->bc, fifo->privdata);
        fifo = next;
    }
}

int handback_init(void) {
    if (!RedisModule_EventLoopAdd) return -1;
    wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) return -1;
    if (RedisModule_EventLoopAdd(wake_fd, REDISMODULE_EVENTLOOP_READABLE, on_wake, NULL) !=
        REDISMODULE_OK) {
        close(wake_fd);
        wake_fd = -1;
        return -1;
    }
    return 0;
}

void handback_push(AIHandback *h, RedisModuleBlockedClient *bc, void *privdata) {
    if (wake_fd < 0) {
        RedisModule_UnblockClient(bc, privdata);
        return;
    }
    h->bc = bc;
    h->privdata = privdata;
    AIHandback *head = __atomic_load_n(&pushed, __ATOMIC_RELAXED);
    do {
        h->next = head;
    } while (
        !__atomic_compare_exchange_n(&pushed, &head, h, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    if (head) return; /* the batch's first push has woken the main thread */
    uint64_t one = 1;
    while (write(wake_fd, &one, sizeof one) < 0 && errno == EINTR) {
    }
}
