/* Blocked clients handed back to the main thread in batches.
 *
 * RedisModule_UnblockClient from a worker takes the lock that the main thread takes and
 * drops for each client it completes: under load the two threads meet on it on most runs,
 * and each meeting is a futex call and often a context switch. Workers push their finished
 * clients on a lock-free list instead; the first push of a batch wakes the main thread
 * through an eventfd in its event loop, where the whole batch is unblocked with the lock
 * uncontended. */
#pragma once
#include "redismodule.h"

typedef struct AIHandback {
    struct AIHandback *next;
    RedisModuleBlockedClient *bc;
    void *privdata;
} AIHandback;

/* Module load, main thread: 0, or -1 when Redis has no event loop API (handback_push
 * then unblocks at once). */
int handback_init(void);
/* Any thread: unblocks bc with privdata on the main thread soon, through h, which must live
 * until then (it is inside privdata). */
void handback_push(AIHandback *h, RedisModuleBlockedClient *bc, void *privdata);
