/* Drives src/errors.c and src/deadline.h without a server: every code has a text, a text
 * takes at most one argument and only as %s, an argument is copied and never interpreted,
 * ai_reply_error sends one line and clears the error, and deadlines behave at their edges.
 * Built with AddressSanitizer by test_errors.py. Prints "ok" or what failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "deadline.h"
#include "errors.h"

static char replied[1024];

static char *copy_string(const char *s) { return strdup(s); }

static int reply_with_error(RedisModuleCtx *ctx, const char *err) {
    (void)ctx;
    snprintf(replied, sizeof replied, "%s", err);
    return REDISMODULE_OK;
}

static const char *string_ptr_len(const RedisModuleString *s, size_t *len) {
    if (len) *len = strlen((const char *)s);
    return (const char *)s;
}

static int check_texts(void) {
    for (int c = AI_OK + 1; c < AI_ERR__COUNT; c++) {
        const char *text = ai_err_text(c), *p = text;
        CHECK(text && *text);
        int args = 0;
        while ((p = strchr(p, '%'))) {
            CHECK(p[1] == 's');
            args++;
            p += 2;
        }
        CHECK(args <= 1);
    }
    CHECK(!strcmp(ai_err_text(AI_OK), "ERR unknown error"));
    CHECK(!strcmp(ai_err_text(AI_ERR__COUNT), "ERR unknown error"));
    return 0;
}

static int check_errors(void) {
    AIError err = {0};
    CHECK(ai_fail(&err, AI_ERR_DAG_EMPTY) == REDISMODULE_ERR);
    CHECK(err.code == AI_ERR_DAG_EMPTY && !err.detail);
    CHECK(!strcmp(ai_error_text(&err), "ERR DAG is empty"));
    CHECK(ai_fail_arg(&err, AI_ERR_INVALID_ARGUMENT, "%n%s") == REDISMODULE_ERR);
    CHECK(err.code == AI_ERR_INVALID_ARGUMENT);
    CHECK(!strcmp(ai_error_text(&err), "Invalid argument: %n%s"));
    ai_error_set_arg_len(&err, AI_ERR_SE_ALREADY, "KEYSxx", 4);
    CHECK(!strcmp(ai_error_text(&err), "ERR Already Encountered KEYS scope in AI.SCRIPTEXECUTE "
                                       "command"));
    /* A text without %s ignores the argument. */
    ai_error_set_arg(&err, AI_ERR_DAG_EMPTY, "x");
    CHECK(!err.detail && err.code == AI_ERR_DAG_EMPTY);

    ai_error_set(&err, AI_ERR_DETAIL, "line one\nline two\r\n");
    CHECK(ai_reply_error(NULL, &err) == REDISMODULE_OK);
    CHECK(!strcmp(replied, "line one line two  "));
    CHECK(err.code == AI_OK && !err.detail);
    CHECK(ai_reply_code(NULL, AI_ERR_WRONGTYPE) == REDISMODULE_OK);
    CHECK(!strcmp(replied, REDISMODULE_ERRORMSG_WRONGTYPE));
    CHECK(ai_reply_arity(NULL, (RedisModuleString *)"ai.Tensorget") == REDISMODULE_OK);
    CHECK(!strcmp(replied, "ERR wrong number of arguments for 'ai.Tensorget' command"));
    return 0;
}

static int check_deadlines(void) {
    CHECK(deadline_from_timeout_ms(1000, 0) == 0);
    CHECK(deadline_from_timeout_ms(1000, -5) == 0);
    CHECK(deadline_from_timeout_ms(1000, 2) == 3000);
    CHECK(deadline_from_timeout_ms(1000, 0x7fffffffffffffffLL) == UINT64_MAX);
    CHECK(!deadline_passed(0, UINT64_MAX));
    CHECK(!deadline_passed(3000, 3000));
    CHECK(deadline_passed(3000, 3001));
    return 0;
}

int main(void) {
    RedisModule_Alloc = malloc;
    RedisModule_Calloc = calloc;
    RedisModule_Realloc = realloc;
    RedisModule_Free = free;
    RedisModule_Strdup = copy_string;
    RedisModule_ReplyWithError = reply_with_error;
    RedisModule_StringPtrLen = string_ptr_len;
    if (check_texts() || check_errors() || check_deadlines()) return 1;
    printf("ok\n");
    return 0;
}
