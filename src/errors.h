/* Every error reply the module sends is built here, from one table of the spec's texts.
 *
 * An AIError travels from a backend through the bridge and a worker to the reply: code
 * says which fixed text applies, detail (owned, may be NULL) carries a backend's own
 * one-line message, which then replaces the fixed text. */
#pragma once
#include "redismodule.h"

typedef enum {
    AI_OK = 0,
    AI_ERR_DETAIL, /* only the detail text applies */
    AI_ERR_WRONGTYPE,
    AI_ERR_INVALID_DTYPE,
    AI_ERR_SHAPE,
    AI_ERR_BLOB_ARITY,
    AI_ERR_VALUES_COUNT,
    AI_ERR_DATA_LENGTH,
    AI_ERR_BOOL_BLOB,
    AI_ERR_STRING_BLOB,
    AI_ERR_INVALID_VALUE,
    AI_ERR_CSTRING_NUL,
    AI_ERR_TENSOR_EMPTY,
    AI_ERR_DATA_FORMAT,
    AI_ERR_BLOB_AND_VALUES,
    AI_ERR_UNSUPPORTED_DTYPE,
    AI_ERR_TENSOR_TOO_LARGE,
    AI_ERR__COUNT
} AIErrCode;

typedef struct AIError {
    AIErrCode code;
    char *detail;
} AIError;

/* The spec's text of a code, with its ERR prefix where RedisAI sends one. */
const char *ai_err_text(AIErrCode code);

/* Sets err to code with a copy of detail (NULL for none), replacing what it held. */
void ai_error_set(AIError *err, AIErrCode code, const char *detail);
void ai_error_clear(AIError *err);

/* Reply helpers: each sends the error and returns REDISMODULE_OK, so that a command can
 * `return ai_reply_code(ctx, ...)` in one line. */
int ai_reply_code(RedisModuleCtx *ctx, AIErrCode code);
int ai_reply_error(RedisModuleCtx *ctx, const AIError *err);
/* Arity errors name the command as the client typed it (RedisAI's tests expect that). */
int ai_reply_arity(RedisModuleCtx *ctx, RedisModuleString *cmd);
