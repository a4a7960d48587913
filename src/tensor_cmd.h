/* The parsing and reply halves of AI.TENSORSET and AI.TENSORGET, shared with DAG ops. */
#pragma once
#include "errors.h"
#include "redismodule.h"
#include "tensor.h"

enum { FMT_META = 1, FMT_BLOB = 2, FMT_VALUES = 4 };

/* argv is `<cmd> <key> <dtype> [dims] [BLOB b | VALUES v...]`: *t is a new tensor (one
 * reference). REDISMODULE_OK, or REDISMODULE_ERR with err set. */
int tensor_parse_set_args(RedisModuleString **argv, int argc, AITensor **t, AIError *err);
/* argv is `<cmd> <key> [META] [BLOB|VALUES]`: REDISMODULE_OK with *fmt, or REDISMODULE_ERR
 * with err set. */
int tensor_parse_get_format(RedisModuleString **argv, int argc, int *fmt, AIError *err);
void tensor_reply_get(RedisModuleCtx *ctx, const AITensor *t, int fmt);
