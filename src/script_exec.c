/* AI.SCRIPTEXECUTE and the deprecated AI.SCRIPTRUN (spec 4.4, 4.8). Runs go through the
 * same blocked-run machinery as models (run.h); the script sees its inputs as zero-copy
 * tensors, its KEYS and ARGS as strings, and may call Redis as the calling client's user. */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "messages.h"
#include "model.h"
#include "run.h"
#include "script_exec.h"
#include "script_type.h"
#include "stats.h"

typedef struct ScriptRun {
    AIRun run; /* first */
    AIScript *script;
    char *fn;
    AINames keys, args;
    AIScriptCallCtx call;
} ScriptRun;

static void record(AIRun *r) {
    AIScript *s = ((ScriptRun *)r)->script;
    if (s->key) stats_record(s->key, s->keylen, s, r->err.code != AI_OK, r->duration_us, 0);
}

static void destroy(AIRun *r) {
    ScriptRun *j = (ScriptRun *)r;
    script_release(j->script);
    RedisModule_Free(j->fn);
    ai_names_free(&j->keys);
    ai_names_free(&j->args);
    if (j->call.username) RedisModule_Free(j->call.username);
    RedisModule_Free(j);
}

static const AIRunKind script_run_kind = {NULL, record, destroy};

static void execute(AIJob *job) {
    ScriptRun *j = (ScriptRun *)job;
    AIRun *r = &j->run;
    if (run_expired(r)) {
        r->timed_out = 1;
    } else {
        uint64_t start = RedisModule_MonotonicMicroseconds();
        bridge_script_run(j->script->handle, j->fn, r->inputs, r->ninputs, &j->keys, &j->args,
                          r->outputs, r->noutputs, &j->call, &r->err);
        r->duration_us = (long long)(RedisModule_MonotonicMicroseconds() - start);
    }
    run_finish(r);
}

static ScriptRun *script_run_new(RedisModuleCtx *ctx, AIScript *s, RedisModuleString *fn,
                                 int ninputs, int noutputs, long long timeout) {
    ScriptRun *j = RedisModule_Calloc(1, sizeof *j);
    j->script = script_share(s);
    j->fn = RedisModule_Strdup(RedisModule_StringPtrLen(fn, NULL));
    j->call.dbid = RedisModule_GetSelectedDb(ctx);
    RedisModuleString *user = RedisModule_GetCurrentUserName(ctx);
    if (user) {
        j->call.username = RedisModule_Strdup(RedisModule_StringPtrLen(user, NULL));
        RedisModule_FreeString(ctx, user);
    }
    run_init(&j->run, &script_run_kind, execute, ninputs, noutputs);
    j->run.job.timeout_ms = timeout;
    return j;
}

/* The four scopes of AI.SCRIPTEXECUTE, each at most once, in any order. */
enum { SCOPE_KEYS, SCOPE_INPUTS, SCOPE_ARGS, SCOPE_OUTPUTS, NSCOPES };

typedef struct Scope {
    const char *name, *count_error, *args_error;
    int at; /* index of the first item, -1 when absent */
    long long n;
} Scope;

static int reply_fmt(RedisModuleCtx *ctx, const char *fmt, RedisModuleString *arg) {
    char buf[256];
    snprintf(buf, sizeof buf, fmt, RedisModule_StringPtrLen(arg, NULL));
    return RedisModule_ReplyWithError(ctx, buf);
}

/* RedisAI names the repeated scope in capitals, whatever the client typed. */
static int reply_already(RedisModuleCtx *ctx, const char *scope) {
    char buf[128];
    snprintf(buf, sizeof buf, AI_MSG_SE_ALREADY, scope);
    return RedisModule_ReplyWithError(ctx, buf);
}

/* Reads `<n> items` after scope token i; returns the next index, or -1 having replied. */
static int parse_scope(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int i, Scope *s,
                       int keys) {
    if (keys && argc - i < 3) return RedisModule_ReplyWithError(ctx, AI_MSG_SE_KEYS_MISSING), -1;
    if (i + 1 >= argc) return RedisModule_ReplyWithError(ctx, AI_MSG_SE_INVALID_ARGS), -1;
    if (RedisModule_StringToLongLong(argv[i + 1], &s->n) != REDISMODULE_OK || s->n < keys)
        return RedisModule_ReplyWithError(ctx, s->count_error), -1;
    if (argc - (i + 2) < s->n) return RedisModule_ReplyWithError(ctx, s->args_error), -1;
    s->at = i + 2;
    return i + 2 + (int)s->n;
}

static int parse_tail_timeout(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int i,
                              long long *timeout) {
    if (i + 1 >= argc) return RedisModule_ReplyWithError(ctx, AI_MSG_SE_TIMEOUT_MISSING), -1;
    if (RedisModule_StringToLongLong(argv[i + 1], timeout) != REDISMODULE_OK || *timeout <= 0)
        return RedisModule_ReplyWithError(ctx, AI_MSG_TIMEOUT_INVALID), -1;
    if (i + 2 != argc) return RedisModule_ReplyWithError(ctx, AI_MSG_SE_AFTER_TIMEOUT), -1;
    return 0;
}

static int parse_scopes(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, Scope *scopes,
                        long long *timeout) {
    for (int i = 3; i < argc;) {
        if (ai_arg_is(argv[i], "TIMEOUT")) return parse_tail_timeout(ctx, argv, argc, i, timeout);
        int k = 0;
        while (k < NSCOPES && !ai_arg_is(argv[i], scopes[k].name)) k++;
        if (k == NSCOPES) return reply_fmt(ctx, AI_MSG_SE_UNEXPECTED, argv[i]), -1;
        if (scopes[k].at >= 0) return reply_already(ctx, scopes[k].name), -1;
        if ((i = parse_scope(ctx, argv, argc, i, &scopes[k], k == SCOPE_KEYS)) < 0) return -1;
    }
    return 0;
}

/* AI.SCRIPTEXECUTE key fn [KEYS n ...] [INPUTS n ...] [ARGS n ...] [OUTPUTS n ...] [TIMEOUT ms] */

static int scriptexecute_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    RedisModule_KeyAtPos(ctx, 1);
    for (int i = 3; i + 1 < argc;) {
        if (ai_arg_is(argv[i], "TIMEOUT")) break;
        int is_key = !ai_arg_is(argv[i], "ARGS");
        long long n = 0;
        if (RedisModule_StringToLongLong(argv[i + 1], &n) != REDISMODULE_OK || n < 0) break;
        for (long long k = 0; is_key && k < n && i + 2 + k < argc; k++)
            RedisModule_KeyAtPos(ctx, i + 2 + (int)k);
        i += 2 + (int)n;
    }
    return REDISMODULE_OK;
}

int script_execute_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int in_dag,
                         AIScriptCall *c) {
    if (argc < 3) return ai_reply_arity(ctx, argv[0]), -1;
    if (!(c->script = script_from_key_or_reply(ctx, argv[1]))) return -1;
    c->fn = argv[2];
    if (!in_dag && (argc < 4 || !(ai_arg_is(argv[3], "KEYS") || ai_arg_is(argv[3], "INPUTS"))))
        return RedisModule_ReplyWithError(ctx, AI_MSG_SE_SCOPE_FIRST), -1;
    Scope scopes[NSCOPES] = {
        [SCOPE_KEYS] = {"KEYS", AI_MSG_SE_KEYS_COUNT, AI_MSG_SE_KEYS_ARGS, -1, 0},
        [SCOPE_INPUTS] = {"INPUTS", AI_MSG_SE_INPUTS_COUNT, AI_MSG_SE_INPUTS_ARGS, -1, 0},
        [SCOPE_ARGS] = {"ARGS", AI_MSG_SE_ARGS_COUNT, AI_MSG_SE_ARGS_ARGS, -1, 0},
        [SCOPE_OUTPUTS] = {"OUTPUTS", AI_MSG_SE_OUTPUTS_COUNT, AI_MSG_SE_OUTPUTS_ARGS, -1, 0},
    };
    if (parse_scopes(ctx, argv, argc, scopes, &c->timeout) != 0) return -1;
    RedisModuleString ***lists[NSCOPES] = {&c->keys, &c->inputs, &c->args, &c->outputs};
    int *counts[NSCOPES] = {&c->nkeys, &c->nin, &c->nargs, &c->nout};
    for (int k = 0; k < NSCOPES; k++) {
        *lists[k] = argv + (scopes[k].at >= 0 ? scopes[k].at : 0);
        *counts[k] = (int)scopes[k].n;
    }
    return 0;
}

static int start_call(RedisModuleCtx *ctx, AIScriptCall *c) {
    ScriptRun *j = script_run_new(ctx, c->script, c->fn, c->nin, c->nout, c->timeout);
    ai_names_from_args(&j->keys, c->keys, c->nkeys);
    ai_names_from_args(&j->args, c->args, c->nargs);
    int rc = run_start(ctx, &j->run, c->inputs, c->outputs, j->script->queue);
    script_call_clear(c);
    return rc;
}

static int scriptexecute_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return scriptexecute_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return RedisModule_ReplyWithError(ctx, AI_MSG_IN_TRANSACTION);
    AIScriptCall c = {0};
    if (script_execute_parse(ctx, argv, argc, 0, &c) != 0) return REDISMODULE_OK;
    return start_call(ctx, &c);
}

/* AI.SCRIPTRUN's keys: argv[1] and the tensors after INPUTS/OUTPUTS but `$`. */
static int scriptrun_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    RedisModule_KeyAtPos(ctx, 1);
    int in_lists = 0;
    for (int i = 3; i < argc; i++) {
        if (ai_arg_is(argv[i], "TIMEOUT"))
            i++;
        else if (ai_arg_is(argv[i], "INPUTS") || ai_arg_is(argv[i], "OUTPUTS"))
            in_lists = 1;
        else if (in_lists && !ai_arg_is(argv[i], "$"))
            RedisModule_KeyAtPos(ctx, i);
    }
    return REDISMODULE_OK;
}

typedef struct RunLists {
    int in_at, nin, out_at, nout;
    long long timeout;
} RunLists;

/* The token grammar of AI.SCRIPTRUN; returns 0, or -1 having replied. */
static int parse_scriptrun(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, RunLists *l) {
    enum { BEFORE, INPUTS, OUTPUTS } state = BEFORE;
    int variadic = 0, timeout_seen = 0;
    for (int i = 3; i < argc; i++) {
        if (ai_arg_is(argv[i], "TIMEOUT")) {
            if (timeout_seen) return RedisModule_ReplyWithError(ctx, AI_MSG_SR_TIMEOUT_TWICE), -1;
            if (i + 1 >= argc ||
                RedisModule_StringToLongLong(argv[i + 1], &l->timeout) != REDISMODULE_OK ||
                l->timeout <= 0)
                return RedisModule_ReplyWithError(ctx, AI_MSG_TIMEOUT_INVALID), -1;
            timeout_seen = 1;
            i++;
        } else if (ai_arg_is(argv[i], "INPUTS")) {
            if (state != BEFORE)
                return RedisModule_ReplyWithError(ctx, state == INPUTS ? AI_MSG_SR_INPUTS_KEYWORD
                                                                       : AI_MSG_SR_INPUTS_SECTION),
                       -1;
            state = INPUTS;
            l->in_at = i + 1;
        } else if (ai_arg_is(argv[i], "OUTPUTS")) {
            if (state == OUTPUTS)
                return RedisModule_ReplyWithError(ctx, AI_MSG_SR_OUTPUTS_KEYWORD), -1;
            state = OUTPUTS;
            l->out_at = i + 1;
        } else if (ai_arg_is(argv[i], "$")) {
            if (state != INPUTS)
                return RedisModule_ReplyWithError(ctx, AI_MSG_SR_VARIADIC_OUTSIDE), -1;
            if (variadic) return RedisModule_ReplyWithError(ctx, AI_MSG_SR_VARIADIC_TWICE), -1;
            variadic = 1;
        } else if (state == BEFORE) {
            return RedisModule_ReplyWithError(ctx, AI_MSG_SR_UNRECOGNIZED), -1;
        } else if (state == INPUTS) {
            argv[l->in_at + l->nin++] = argv[i]; /* compacts the list over TIMEOUT and `$` */
        } else {
            argv[l->out_at + l->nout++] = argv[i];
        }
    }
    return 0;
}

int script_run_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIScriptCall *c) {
    if (argc < 3) return ai_reply_arity(ctx, argv[0]), -1;
    if (!(c->script = script_from_key_or_reply(ctx, argv[1]))) return -1;
    c->fn = argv[2];
    /* A private copy of argv: parsing compacts the input and output lists in place. */
    c->owned = RedisModule_Alloc(sizeof(RedisModuleString *) * argc);
    memcpy(c->owned, argv, sizeof(RedisModuleString *) * argc);
    RunLists l = {0};
    if (parse_scriptrun(ctx, c->owned, argc, &l) != 0) {
        script_call_clear(c);
        return -1;
    }
    c->inputs = c->owned + l.in_at;
    c->nin = l.nin;
    c->outputs = c->owned + l.out_at;
    c->nout = l.nout;
    c->timeout = l.timeout;
    return 0;
}

void script_call_clear(AIScriptCall *c) {
    if (c->owned) RedisModule_Free(c->owned);
    c->owned = NULL;
}

/* AI.SCRIPTRUN key fn [TIMEOUT ms] INPUTS in... [$ in...] OUTPUTS out... (deprecated) */
static int scriptrun_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return scriptrun_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return RedisModule_ReplyWithError(ctx, AI_MSG_IN_TRANSACTION);
    AIScriptCall c = {0};
    if (script_run_parse(ctx, argv, argc, &c) != 0) return REDISMODULE_OK;
    return start_call(ctx, &c);
}

int script_exec_commands_register(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.scriptexecute", scriptexecute_command,
                                  "write deny-oom getkeys-api", 1, 1, 1) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.scriptrun", scriptrun_command,
                                  "write deny-oom getkeys-api", 1, 1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
