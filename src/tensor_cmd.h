/* The parsing and reply halves of AI.TENSORSET and AI.TENSORGET, shared with DAG ops. */
#pragma once
#include "redismodule.h"
#include "tensor.h"

enum { FMT_META = 1, FMT_BLOB = 2, FMT_VALUES = 4 };

/* argv is `<cmd> <key> <dtype> [dims] [BLOB b | VALUES v...]`: a new tensor, or NULL. */
AITensor *tensor_parse_set_args(RedisModuleString **argv, int argc, AIError *err);
/* argv is `<cmd> <key> [META] [BLOB|VALUES]`: AI_OK with *fmt, or an error code. */
int tensor_parse_get_format(RedisModuleString **argv, int argc, int *fmt);
void tensor_reply_get(RedisModuleCtx *ctx, const AITensor *t, int fmt);
