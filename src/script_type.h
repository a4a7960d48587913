/* The AI_SCRIPT Redis data type and the keyspace helpers of script commands. */
#pragma once
#include "redismodule.h"
#include "script.h"

#define AI_SCRIPT_ENCVER 4

extern RedisModuleType *AIScriptType;

int script_type_register(RedisModuleCtx *ctx);
/* The script at keyname, or replies `script key is empty` / WRONGTYPE and returns NULL. */
AIScript *script_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname);
/* Stores s (taking it over) with fresh run statistics, or replies WRONGTYPE. */
int script_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIScript *s);
