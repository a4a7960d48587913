/* Reading and writing module-type keys, with the spec's errors: the shape every AI command
 * shares (open, check the type, act). */
#pragma once
#include "errors.h"
#include "redismodule.h"

/* The value of `type` at keyname, or NULL with err set to `empty` (missing key) or
 * WRONGTYPE. The key is closed again; the value stays valid during the command. */
void *ai_key_value(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                   AIErrCode empty, AIError *err);
/* The same into *value, or replies the error: REDISMODULE_OK or REDISMODULE_ERR. */
int ai_key_value_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                          AIErrCode empty, void **value);

/* REDISMODULE_OK if keyname is missing or holds `type`; else replies WRONGTYPE,
 * REDISMODULE_ERR. */
int ai_key_accepts_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type);

/* Writes value (of `type`) under keyname if it is missing or holds `type`: REDISMODULE_OK.
 * Else replies WRONGTYPE and leaves value to the caller: REDISMODULE_ERR. One key lookup
 * where ai_key_accepts_or_reply and ai_key_set take two. */
int ai_key_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                          void *value);

/* Writes value (of `type`) under keyname, which must accept it. */
void ai_key_set(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                void *value);
