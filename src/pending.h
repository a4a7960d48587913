/* A value stored before its backend has built it: what a replica does with a model or
 * script its master sends. The master already checked and built it, and the replica must
 * not stall on the build (a 200 MB model takes a second to load): the key holds the value
 * at once, with its C side complete (bytes, settings), and the loader thread builds the
 * backend side. The main thread then installs what was built, in an event-loop callback;
 * a command that needs the built value before that waits for it (pending_wait).
 *
 * Threads: pending_start and pending_wait run on the main thread, or on a thread holding
 * the Redis lock (a script's Redis calls); ops->stage on the loader thread, reading only
 * the value's immutable C side; ops->install under the Redis lock, once. */
#pragma once
#include "errors.h"

typedef struct AIPending AIPending;

typedef struct AIPendingOps {
    /* Loader thread: builds the backend side of value into a new object, or NULL with err
     * set. */
    void *(*stage)(void *value, void *args, AIError *err);
    /* Moves what stage built (or its error) into value. */
    void (*install)(void *value, void *staged, AIError *err);
    void (*release)(void *value); /* drops the reference pending_start took over */
    void (*free_args)(void *args);
} AIPendingOps;

/* Queues the build of value, taking over one reference to it and args; *slot (a field of
 * value) holds the pending build until it is installed, NULL after. */
void pending_start(void *value, void *args, AIPending **slot, const AIPendingOps *ops);
/* If *slot holds a pending build: waits for it and installs it now. In a fork child (a
 * BGSAVE) it returns at once: the value is saved as it is. */
void pending_wait(AIPending **slot);
