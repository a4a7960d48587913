/* The free thread: frees big C memory (a model's serialized bytes, the arguments of a
 * stored command) off the main thread. Dropping a 200 MB allocation hands its pages back
 * to the kernel at once (jemalloc purges allocations that large immediately): ~6 ms of
 * madvise on whichever thread frees it. The thread never takes the GIL, so nothing it
 * runs ever waits for a model load; Python objects are dropped on the loader thread
 * instead (bridge_free_later).
 *
 * Ownership: free_later and free_after_command take over arg; fn(arg) frees it. */
#pragma once

typedef void (*AIFreeFn)(void *arg);

/* The free thread runs at this nice value: on a small machine its madvise of 200 MB
 * otherwise takes the core the main thread needs next. (Not the loader: ONNX Runtime and
 * TF create their sessions' thread pools there, and threads inherit their creator's nice
 * value, so model runs would run at it too.) */
#define AI_BACKGROUND_NICE 10

/* Any thread: fn(arg) runs soon on the free thread (here, if it cannot start). */
void free_later(AIFreeFn fn, void *arg);

/* For memory Redis still references now and drops when the current command or unblocked
 * client is done (a client's argument strings, which a module may retain but not free
 * while Redis holds them): fn(arg) runs on the free thread after the main thread's
 * current event loop turn. Any thread: from another one, the main thread's next turn
 * (when the command that made the memory is long done). */
void free_after_command(AIFreeFn fn, void *arg);
