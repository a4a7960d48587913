/* Storing a value that a backend must build first (a model to load, a script to compile)
 * without stalling Redis: the client is blocked, the loader thread builds the value, and
 * the main thread writes the key, replicates the command and replies when it is ready.
 * Where a client cannot block (MULTI, Lua, AOF loading) the value is built in place; from
 * a master, whose stores were checked there and need no reply, the key holds the value at
 * once and the loader thread builds it afterwards (pending.h), when its type can. A client
 * that disconnects meanwhile still gets its value stored.
 *
 * Ownership: store_job_start takes over value and args; ops->release and ops->free_args
 * free them unless ops->store took the value. The command's argument strings are
 * retained, not copied, until the store is done; a blocked client's are then dropped on
 * the free thread (free_thread.h), so that a 200 MB blob's pages go back to the kernel off
 * the main thread. */
#pragma once
#include "errors.h"
#include "redismodule.h"

typedef struct AIStoreOps {
    /* Loader thread (or main thread when built in place): builds the value. */
    int (*build)(void *value, void *args, RedisModuleString **argv, int argc, AIError *err);
    /* Main thread: writes the value under key, taking it over; replies WRONGTYPE and
     * releases it when the key holds another type (REDISMODULE_ERR). */
    int (*store)(RedisModuleCtx *ctx, RedisModuleString *key, void *value);
    void (*release)(void *value);
    void (*free_args)(void *args);
    /* Optional, for a store from a master: the C side of build, on the main thread, so
     * that the key can hold the value before the backend built it... */
    int (*prepare)(void *value, void *args, RedisModuleString **argv, int argc, AIError *err);
    /* ...and the backend side, started on the loader thread once the value is stored
     * (pending_start), taking over args and a reference of its own to the value. */
    void (*build_later)(void *value, void *args);
} AIStoreOps;

int store_job_start(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, const AIStoreOps *ops,
                    void *value, void *args);
