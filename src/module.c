/* Module entry: identity, load-time arguments, data types, the embedded interpreter,
 * and the command table. A failure at any step is logged and refuses the load, which
 * redis-server reports without crashing. */
#include <stdlib.h>
#include <unistd.h>

#include "bridge.h"
#include "commands.h"
#include "config.h"
#include "handback.h"
#include "log.h"
#include "model_type.h"
#include "queue.h"
#include "redismodule.h"
#include "script_type.h"
#include "stats.h"
#include "tensor_type.h"
#include "trigger.h"

/* RedisAI 1.2.7's identity, so that clients checking the version accept us. */
#define AI_MODULE_VERSION    10207
#define AI_MIN_REDIS_VERSION 0x00060000

/* Backends named on the module's load line are imported now. */
static int preload_backends(void) {
    for (int b = 0; b < AI_BACKEND__COUNT; b++) {
        if (!(ai_config.preload_backends & (1u << b))) continue;
        AIError err = {0};
        int rc = bridge_backend_load(ai_backend_name(b), &err);
        if (rc != 0) ai_log("warning", err.detail ? err.detail : "backend load failed");
        ai_error_clear(&err);
        if (rc != 0) return -1;
    }
    return 0;
}

static int refuse(RedisModuleCtx *ctx, const char *why) {
    RedisModule_Log(ctx, "warning", "cyrai not loaded: %s", why);
    return REDISMODULE_ERR;
}

/* Registered last, so exit() runs it first: the frameworks' static destructors (torch,
 * oneDNN, TF), which race their own pool threads and crashed some shutdowns after Redis had
 * saved and said goodbye, never run. Redis calls exit(0) once shutdown succeeded. */
static void skip_static_destructors(void) { _exit(0); }

/* Workers must be gone before the process exits; see skip_static_destructors. */
static void on_shutdown(RedisModuleCtx *ctx, RedisModuleEvent e, uint64_t sub, void *data) {
    (void)ctx, (void)e, (void)sub, (void)data;
    queues_shutdown();
    atexit(skip_static_destructors);
}

int RedisModule_OnLoad(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_Init(ctx, "ai", AI_MODULE_VERSION, REDISMODULE_APIVER_1) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    if (RedisModule_GetServerVersion() < AI_MIN_REDIS_VERSION)
        return refuse(ctx, "Redis 6.0.0 or later is required");
    ai_log_init(ctx);
    if (config_load_args(ctx, argv, argc) != REDISMODULE_OK)
        return refuse(ctx, "bad load-time arguments");
    RedisModule_SetModuleOptions(ctx, REDISMODULE_OPTIONS_HANDLE_IO_ERRORS);
    if (tensor_type_register(ctx) != REDISMODULE_OK || model_type_register(ctx) != REDISMODULE_OK ||
        script_type_register(ctx) != REDISMODULE_OK)
        return refuse(ctx, "cannot register the data types");
    if (trigger_type_register(ctx) != REDISMODULE_OK)
        return refuse(ctx, "cannot register the trigger data type");
    stats_init(ctx);

    char err[512] = "";
    if (bridge_start(ai_config.python_env, err, sizeof err) != 0) return refuse(ctx, err);
    if (preload_backends() != 0) return refuse(ctx, "a backend named at load time failed to load");

    if (queue_loader_start() != 0 || !queue_get("CPU"))
        return refuse(ctx, "cannot start the worker threads");
    if (handback_init() != 0) ai_log("notice", "workers unblock their clients one by one");
    RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_Shutdown, on_shutdown);
    if (RedisModule_GetServerVersion() >= 0x070000)
        RedisModule_SubscribeToServerEvent(ctx, RedisModuleEvent_EventLoop, queue_on_event_loop);

    if (tensor_commands_register(ctx) != REDISMODULE_OK ||
        model_commands_register(ctx) != REDISMODULE_OK ||
        model_exec_commands_register(ctx) != REDISMODULE_OK ||
        script_commands_register(ctx) != REDISMODULE_OK ||
        script_exec_commands_register(ctx) != REDISMODULE_OK ||
        dag_commands_register(ctx) != REDISMODULE_OK ||
        info_commands_register(ctx) != REDISMODULE_OK || info_register(ctx) != REDISMODULE_OK)
        return refuse(ctx, "cannot register the commands");
    if (trigger_commands_register(ctx) != REDISMODULE_OK)
        return refuse(ctx, "cannot register the trigger commands");
    return REDISMODULE_OK;
}
