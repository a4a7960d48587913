/* The AI_TENSOR Redis data type: RDB, AOF rewrite, memory usage, digest, free; and the
 * keyspace helpers every command that reads or writes tensors uses. */
#pragma once
#include "redismodule.h"
#include "tensor.h"

#define AI_TENSOR_ENCVER 4

extern RedisModuleType *AITensorType;

int tensor_type_register(RedisModuleCtx *ctx);

/* The tensor at keyname, or NULL with err set (missing key or another type). It stays
 * valid during the command; share it to keep it longer. */
AITensor *tensor_from_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AIError *err);
/* The same into *t, or replies the error: REDISMODULE_OK or REDISMODULE_ERR. */
int tensor_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AITensor **t);

/* Writes t (taking over one reference) under keyname: REDISMODULE_OK; or replies WRONGTYPE
 * and drops t when the key holds another type: REDISMODULE_ERR. */
int tensor_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AITensor *t);

/* Replicates a write of t as AI.TENSORSET key DTYPE dims... BLOB data. */
void tensor_replicate(RedisModuleCtx *ctx, RedisModuleString *keyname, const AITensor *t);
