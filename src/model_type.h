/* The AI__MODEL Redis data type and the keyspace helpers of model commands. */
#pragma once
#include "model.h"
#include "redismodule.h"

#define AI_MODEL_ENCVER 4

extern RedisModuleType *AIModelType;

int model_type_register(RedisModuleCtx *ctx);

/* model_load with the names the model was stored with (TF's given names; taken over).
 * keep: the model comes from the server's own data (RDB, AOF, a master): if the policy
 * refuses it (ai_error_is_refusal), it is kept as m->refused with those names, and 0 is
 * returned; any other failure is -1 with err set. */
int model_load_keeping(AIModel *m, AINames *in, AINames *out, int keep, AIError *err);

/* The model at keyname, to run, or NULL with err set (`model key is empty`, WRONGTYPE, or
 * the refusal a kept model carries). The key is closed either way; the model stays valid
 * for this command. */
AIModel *model_from_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AIError *err);
/* The model at keyname whether it runs or not (AI.MODELGET, AI.MODELDEL) into *m, or
 * replies the error: REDISMODULE_OK or REDISMODULE_ERR. */
int model_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIModel **m);

/* Stores m (taking over its reference) under keyname, with fresh run statistics and the
 * worker queue of its device (found here, on the main thread; see queue.h).
 * REDISMODULE_OK; or, when the key holds another type (or the queue cannot start),
 * replies the error, releases m and returns REDISMODULE_ERR. */
int model_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AIModel *m);

/* Replies the model bytes: one bulk string, or chunks of MODEL_CHUNK_SIZE (spec 3.3). */
void model_reply_blob(RedisModuleCtx *ctx, const AIModel *m);
