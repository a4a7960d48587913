/* The AI__MODEL Redis data type and the keyspace helpers of model commands. */
#pragma once
#include "model.h"
#include "redismodule.h"

#define AI_MODEL_ENCVER 4

extern RedisModuleType *AIModelType;

int model_type_register(RedisModuleCtx *ctx);

/* Fetches the model at keyname, or replies `model key is empty` / WRONGTYPE and
 * returns NULL. The key is closed either way; the model stays valid for this command. */
AIModel *model_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname);

/* Stores m (taking over its reference) under keyname, with fresh run statistics and the
 * worker queue of its device.
 * Replies WRONGTYPE, releases m and returns REDISMODULE_ERR if the key holds another type. */
int model_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIModel *m);

/* Replies the model bytes: one bulk string, or chunks of MODEL_CHUNK_SIZE (spec 3.3). */
void model_reply_blob(RedisModuleCtx *ctx, const AIModel *m);
