/* Reading and writing module-type keys, with the spec's error replies: the shape every
 * AI command shares (open, check the type, act). */
#pragma once
#include "redismodule.h"

/* The value of `type` at keyname, or NULL having replied `empty` (missing key) or
 * WRONGTYPE. The key is closed again; the value stays valid during the command. */
void *ai_key_value_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                            const char *empty);

/* True if keyname is missing or holds `type`; else replies WRONGTYPE. */
int ai_key_accepts_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type);

/* Writes value (of `type`) under keyname, which must accept it. */
void ai_key_set(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                void *value);
