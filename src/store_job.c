/* Background building and publishing of stored values; see store_job.h. */
#include "store_job.h"

#include "args.h"
#include "free_thread.h"
#include "queue.h"

typedef struct StoreJob {
    AIJob job;
    RedisModuleBlockedClient *bc;
    const AIStoreOps *ops;
    void *value, *args;
    AIError err;
    RedisModuleString **argv; /* retained: the value's bytes, and the command to replicate */
    int argc;
    int dbid;
    int published;
} StoreJob;

/* Free thread: by now the retained arguments are the last references to these strings
 * (Redis reset the client before the event loop turned), so the thread drops them alone,
 * 200 MB of blob included. */
static void free_argv(void *arg) {
    StoreJob *j = arg;
    for (int i = 0; i < j->argc; i++) RedisModule_FreeString(NULL, j->argv[i]);
    RedisModule_Free(j->argv);
    RedisModule_Free(j);
}

/* Main thread. A job built in place (its client cannot block) drops its arguments here:
 * the command is still running and Redis holds them too, and during AOF loading the event
 * loop would not turn before every stored command's arguments piled up. */
static void job_free(StoreJob *j, int in_place) {
    if (j->value) j->ops->release(j->value);
    if (j->args) j->ops->free_args(j->args);
    ai_error_clear(&j->err);
    if (in_place)
        free_argv(j);
    else
        free_after_command(free_argv, j);
}

static void build(StoreJob *j) { j->ops->build(j->value, j->args, j->argv, j->argc, &j->err); }

static void build_on_loader(AIJob *job) {
    StoreJob *j = (StoreJob *)job;
    build(j);
    RedisModule_UnblockClient(j->bc, j);
}

/* Writes the key (the store replies WRONGTYPE and drops the value when the key holds
 * another type), replicates the command as the client sent it, replies. */
static int store_and_replicate(RedisModuleCtx *ctx, const AIStoreOps *ops, RedisModuleString **argv,
                               int argc, void *value) {
    if (ops->store(ctx, argv[1], value) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModule_Replicate(ctx, RedisModule_StringPtrLen(argv[0], NULL), "v", argv + 1,
                          (size_t)argc - 1);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* WRONGTYPE is checked only now, after the backend accepted the value: RedisAI's order. */
static int publish(RedisModuleCtx *ctx, StoreJob *j) {
    j->published = 1;
    if (j->err.code != AI_OK) return ai_reply_error(ctx, &j->err);
    void *value = j->value;
    j->value = NULL;
    return store_and_replicate(ctx, j->ops, j->argv, j->argc, value);
}

static int on_unblock(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv, (void)argc;
    return publish(ctx, RedisModule_GetBlockedClientPrivateData(ctx));
}

/* Redis skips the reply callback of a client that went away: publish here instead. */
static void on_free(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    StoreJob *j = privdata;
    if (!j->published && j->err.code == AI_OK) {
        RedisModuleCtx *detached = RedisModule_GetThreadSafeContext(NULL);
        RedisModule_SelectDb(detached, j->dbid);
        publish(detached, j);
        RedisModule_FreeThreadSafeContext(detached);
    }
    job_free(j, 0);
}

/* From a master (pending.h): stored now, built on the loader thread afterwards. */
static int store_then_build(RedisModuleCtx *ctx, RedisModuleString **argv, int argc,
                            const AIStoreOps *ops, void *value, void *args) {
    AIError err = {0};
    if (ops->prepare(value, args, argv, argc, &err) != REDISMODULE_OK) {
        ops->release(value);
        ops->free_args(args);
        return ai_reply_error(ctx, &err);
    }
    ops->build_later(value, args);
    return store_and_replicate(ctx, ops, argv, argc, value);
}

int store_job_start(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, const AIStoreOps *ops,
                    void *value, void *args) {
    if (ops->prepare && ai_from_master(ctx))
        return store_then_build(ctx, argv, argc, ops, value, args);
    StoreJob *j = RedisModule_Calloc(1, sizeof *j);
    j->ops = ops;
    j->value = value;
    j->args = args;
    j->job.execute = build_on_loader;
    j->dbid = RedisModule_GetSelectedDb(ctx);
    /* Retained, not copied: a 200 MB blob stays where the client's argument put it. */
    j->argv = RedisModule_Alloc(sizeof(*j->argv) * argc);
    for (int i = 0; i < argc; i++) {
        RedisModule_RetainString(NULL, argv[i]);
        j->argv[i] = argv[i];
    }
    j->argc = argc;
    if (!ai_cannot_block(ctx)) j->bc = RedisModule_BlockClient(ctx, on_unblock, NULL, on_free, 0);
    if (j->bc) {
        queue_push(queue_loader(), &j->job);
        return REDISMODULE_OK;
    }
    build(j);
    publish(ctx, j);
    job_free(j, 1);
    return REDISMODULE_OK;
}
