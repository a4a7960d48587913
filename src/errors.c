/* Error texts and replies; see errors.h. */
#include "errors.h"

#include <stdio.h>
#include <string.h>

static const char *const texts[AI_ERR__COUNT] = {
    [AI_OK] = "OK",
    [AI_ERR_DETAIL] = "ERR unknown error",
    [AI_ERR_WRONGTYPE] = REDISMODULE_ERRORMSG_WRONGTYPE,
    [AI_ERR_INVALID_DTYPE] = "ERR invalid data type",
    [AI_ERR_SHAPE] = "ERR invalid or negative value found in tensor shape",
    [AI_ERR_BLOB_ARITY] =
        "ERR a single binary string should come after the BLOB argument in 'AI.TENSORSET' command",
    [AI_ERR_VALUES_COUNT] = "ERR wrong number of values was given in 'AI.TENSORSET' command",
    [AI_ERR_DATA_LENGTH] = "ERR data length does not match tensor shape and type",
    [AI_ERR_BOOL_BLOB] = "ERR BOOL tensor elements must be 0 or 1",
    [AI_ERR_STRING_BLOB] =
        "ERR Number of string elements in data blob does not match tensor length",
    [AI_ERR_INVALID_VALUE] = "ERR invalid value",
    [AI_ERR_CSTRING_NUL] = "ERR C-string value contains null character",
    [AI_ERR_TENSOR_EMPTY] = "ERR tensor key is empty or in a different shard",
    [AI_ERR_DATA_FORMAT] = "ERR unsupported data format",
    [AI_ERR_BLOB_AND_VALUES] = "ERR both BLOB and VALUES specified",
    [AI_ERR_UNSUPPORTED_DTYPE] = "ERR unsupported dtype",
    [AI_ERR_TENSOR_TOO_LARGE] = "ERR tensor is too large",
};

const char *ai_err_text(AIErrCode code) {
    if (code < 0 || code >= AI_ERR__COUNT || !texts[code]) return texts[AI_ERR_DETAIL];
    return texts[code];
}

void ai_error_set(AIError *err, AIErrCode code, const char *detail) {
    ai_error_clear(err);
    err->code = code;
    if (detail) err->detail = RedisModule_Strdup(detail);
}

void ai_error_clear(AIError *err) {
    if (err->detail) RedisModule_Free(err->detail);
    err->detail = NULL;
    err->code = AI_OK;
}

int ai_reply_code(RedisModuleCtx *ctx, AIErrCode code) {
    RedisModule_ReplyWithError(ctx, ai_err_text(code));
    return REDISMODULE_OK;
}

/* A backend's message may span lines; a RESP error must not. */
static void one_line(char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

int ai_reply_error(RedisModuleCtx *ctx, const AIError *err) {
    if (!err->detail) return ai_reply_code(ctx, err->code);
    one_line(err->detail);
    RedisModule_ReplyWithError(ctx, err->detail);
    return REDISMODULE_OK;
}

int ai_reply_arity(RedisModuleCtx *ctx, RedisModuleString *cmd) {
    const char *name = RedisModule_StringPtrLen(cmd, NULL);
    char buf[128];
    snprintf(buf, sizeof buf, "ERR wrong number of arguments for '%s' command", name);
    RedisModule_ReplyWithError(ctx, buf);
    return REDISMODULE_OK;
}
