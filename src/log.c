/* A detached context carries the module's name into log lines; RedisModule_Log only
 * reads it, so any thread may log through it. */
#include "log.h"

static RedisModuleCtx *log_ctx;

void ai_log_init(RedisModuleCtx *ctx) { log_ctx = RedisModule_GetDetachedThreadSafeContext(ctx); }

void ai_log(const char *level, const char *msg) { RedisModule_Log(log_ctx, level, "%s", msg); }
