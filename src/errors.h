/* Errors become replies in one way.
 *
 * Code that fails fills an AIError and returns REDISMODULE_ERR (or NULL where it returns a
 * pointer); it never replies itself. One function, ai_reply_error, turns an AIError into
 * the client's error reply. Parsers take `AIError *err` and return REDISMODULE_OK or
 * REDISMODULE_ERR; `return ai_fail(err, AI_ERR_...)` fails in one line.
 *
 * An AIError is a code and an optional detail:
 * - code names one of the texts of messages.h (each text is defined there once);
 * - detail (owned, from RedisModule_Alloc, may be NULL) is, when set, the whole reply text:
 *   a backend's or Redis's own message (code AI_ERR_DETAIL, or the code it stands for), or
 *   the code's text with its %s filled in (ai_error_set_arg). Without it the reply is the
 *   code's fixed text.
 * An AIError starts as {0} (AI_OK, no detail) and belongs to whoever declared it: its owner
 * frees the detail with ai_error_clear, unless ai_reply_error consumed it. An AIError
 * travels unchanged from a backend through the bridge and a worker to the reply.
 *
 * Helpers named `..._or_reply` (keys.h, tensor_type.h, model_type.h, script_type.h) send
 * the error themselves, through ai_reply_error, and return REDISMODULE_OK or
 * REDISMODULE_ERR, like Redis's own ...OrReply functions: call sites test
 * `!= REDISMODULE_OK` and return. */
#pragma once
#include <stddef.h>

#include "messages.h"
#include "redismodule.h"

#define AI_ERR_ENUM(code, text) code,
typedef enum { AI_OK = 0, AI_ERRORS(AI_ERR_ENUM) AI_ERR__COUNT } AIErrCode;
#undef AI_ERR_ENUM

typedef struct AIError {
    AIErrCode code;
    char *detail;
} AIError;

/* The text of a code (with its %s unfilled); "ERR unknown error" for AI_OK or a bad code. */
const char *ai_err_text(AIErrCode code);
/* The reply text of err: its detail, or its code's text. */
const char *ai_error_text(const AIError *err);

/* Sets err to code with a copy of detail (NULL for none), replacing what it held. */
void ai_error_set(AIError *err, AIErrCode code, const char *detail);
/* Sets err to code, whose text has one %s, filled with arg (len bytes, or up to its NUL). */
void ai_error_set_arg(AIError *err, AIErrCode code, const char *arg);
void ai_error_set_arg_len(AIError *err, AIErrCode code, const char *arg, size_t len);
void ai_error_clear(AIError *err);
/* Whether err is a refusal of the policy of roadmap R5 (a forbidden operator, external
 * data): what a model or script from the server's own data keeps instead of failing. */
int ai_error_is_refusal(const AIError *err);

/* Set err and return REDISMODULE_ERR: a parser's one-line failure. */
int ai_fail(AIError *err, AIErrCode code);
int ai_fail_arg(AIError *err, AIErrCode code, const char *arg);

/* Sends err as the error reply, then clears it. The only function that sends error
 * replies, and the only place that makes a multi-line message (a backend's) one line.
 * Returns REDISMODULE_OK, so that a command can `return ai_reply_error(ctx, &err)`. */
int ai_reply_error(RedisModuleCtx *ctx, AIError *err);
/* ai_reply_error of a fixed text. */
int ai_reply_code(RedisModuleCtx *ctx, AIErrCode code);
/* ai_reply_error of AI_ERR_ARITY, naming the command as the client typed it (RedisAI's
 * tests expect that). */
int ai_reply_arity(RedisModuleCtx *ctx, RedisModuleString *cmd);
