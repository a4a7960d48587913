/* Each command family registers its own commands from the module's OnLoad. */
#pragma once
#include "redismodule.h"

int tensor_commands_register(RedisModuleCtx *ctx);
int model_commands_register(RedisModuleCtx *ctx);
int model_exec_commands_register(RedisModuleCtx *ctx);
int info_commands_register(RedisModuleCtx *ctx);
int info_register(RedisModuleCtx *ctx);
int script_commands_register(RedisModuleCtx *ctx);
int script_exec_commands_register(RedisModuleCtx *ctx);
int dag_commands_register(RedisModuleCtx *ctx);
