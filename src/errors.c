/* Error texts and the one function that replies them; see errors.h. */
#include "errors.h"

#include <string.h>

#define AI_ERR_TEXT(code, text) [code] = text,
static const char *const texts[AI_ERR__COUNT] = {AI_ERRORS(AI_ERR_TEXT)};
#undef AI_ERR_TEXT

const char *ai_err_text(AIErrCode code) {
    if (code <= AI_OK || code >= AI_ERR__COUNT) return texts[AI_ERR_DETAIL];
    return texts[code];
}

const char *ai_error_text(const AIError *err) {
    return err->detail ? err->detail : ai_err_text(err->code);
}

void ai_error_set(AIError *err, AIErrCode code, const char *detail) {
    ai_error_clear(err);
    err->code = code;
    if (detail) err->detail = RedisModule_Strdup(detail);
}

/* Only %s is replaced, never interpreted by printf: arg is the client's. */
void ai_error_set_arg_len(AIError *err, AIErrCode code, const char *arg, size_t len) {
    const char *text = ai_err_text(code), *at = strstr(text, "%s");
    ai_error_clear(err);
    err->code = code;
    if (!at) return;
    size_t head = (size_t)(at - text), tail = strlen(at + 2);
    char *s = RedisModule_Alloc(head + len + tail + 1);
    memcpy(s, text, head);
    memcpy(s + head, arg, len);
    memcpy(s + head + len, at + 2, tail + 1);
    err->detail = s;
}

void ai_error_set_arg(AIError *err, AIErrCode code, const char *arg) {
    ai_error_set_arg_len(err, code, arg, strlen(arg));
}

void ai_error_clear(AIError *err) {
    if (err->detail) RedisModule_Free(err->detail);
    err->detail = NULL;
    err->code = AI_OK;
}

int ai_error_is_refusal(const AIError *err) {
    return err->code == AI_ERR_MODEL_FORBIDDEN || err->code == AI_ERR_SCRIPT_FORBIDDEN ||
           err->code == AI_ERR_EXTERNAL_DATA;
}

int ai_fail(AIError *err, AIErrCode code) {
    ai_error_set(err, code, NULL);
    return REDISMODULE_ERR;
}

int ai_fail_arg(AIError *err, AIErrCode code, const char *arg) {
    ai_error_set_arg(err, code, arg);
    return REDISMODULE_ERR;
}

/* A backend's message may span lines; a RESP error must not. */
static void one_line(char *s) {
    for (; *s; s++)
        if (*s == '\n' || *s == '\r') *s = ' ';
}

int ai_reply_error(RedisModuleCtx *ctx, AIError *err) {
    if (err->detail) one_line(err->detail);
    RedisModule_ReplyWithError(ctx, ai_error_text(err));
    ai_error_clear(err);
    return REDISMODULE_OK;
}

int ai_reply_code(RedisModuleCtx *ctx, AIErrCode code) {
    AIError err = {code, NULL};
    return ai_reply_error(ctx, &err);
}

int ai_reply_arity(RedisModuleCtx *ctx, RedisModuleString *cmd) {
    AIError err = {0};
    ai_error_set_arg(&err, AI_ERR_ARITY, RedisModule_StringPtrLen(cmd, NULL));
    return ai_reply_error(ctx, &err);
}
