/* Logging from any thread, under the module's name. */
#pragma once
#include "redismodule.h"

void ai_log_init(RedisModuleCtx *ctx);
void ai_log(const char *level, const char *msg);
