/* The AI_SCRIPT Redis data type and the keyspace helpers of script commands. */
#pragma once
#include "redismodule.h"
#include "script.h"

#define AI_SCRIPT_ENCVER 4

extern RedisModuleType *AIScriptType;

int script_type_register(RedisModuleCtx *ctx);
/* Compiles s; keep: it comes from the server's own data (RDB, AOF, a master), and a
 * refusal of the policy is kept as s->refused (0 returned), as model_load_keeping does. */
int script_compile_keeping(AIScript *s, int keep, AIError *err);
/* The script at keyname, to run, or NULL with err set (`script key is empty`, WRONGTYPE,
 * or the refusal a kept script carries). */
AIScript *script_from_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AIError *err);
/* The script whether it runs or not (AI.SCRIPTGET, AI.SCRIPTDEL) into *s, or replies the error:
 * REDISMODULE_OK or REDISMODULE_ERR. */
int script_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIScript **s);
/* Stores s (taking it over) with fresh run statistics and its device's queue:
 * REDISMODULE_OK; or replies WRONGTYPE (or that the queue cannot start), REDISMODULE_ERR. */
int script_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIScript *s);
