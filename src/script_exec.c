/* AI.SCRIPTEXECUTE and the deprecated AI.SCRIPTRUN (spec 4.4, 4.8). Runs go through the
 * same blocked-run machinery as models (run.h); the script sees its inputs as zero-copy
 * tensors, its KEYS and ARGS as strings, and may call Redis as the calling client's user. */
#include <string.h>

#include "args.h"
#include "commands.h"
#include "model.h"
#include "native_run.h"
#include "run.h"
#include "script_exec.h"
#include "script_type.h"
#include "stats.h"
#include "ttr.h"

typedef struct ScriptRun {
    AIRun run; /* first */
    AIScript *script;
    RedisModuleString *fn_arg, *user; /* held: fn and call.username point into them */
    const char *fn;
    AINames keys, args;
    AIScriptCallCtx call;
} ScriptRun;

static void record(AIRun *r) {
    AIScript *s = ((ScriptRun *)r)->script;
    run_record(r, s->key, s->keylen, s, 0);
}

static void destroy(AIRun *r) {
    ScriptRun *j = (ScriptRun *)r;
    script_release(j->script);
    RedisModule_FreeString(NULL, j->fn_arg);
    ai_names_free(&j->keys);
    ai_names_free(&j->args);
    if (j->user) RedisModule_FreeString(NULL, j->user);
    RedisModule_Free(j);
}

static const AIRunKind script_run_kind = {record, destroy};

static void execute(AIJob *job) {
    ScriptRun *j = (ScriptRun *)job;
    AIRun *r = &j->run;
    if (run_expired(r)) {
        r->timed_out = 1;
    } else {
        uint64_t start = RedisModule_MonotonicMicroseconds();
        run_started(r, start);
        int rc = native_script_run(j->script, j->fn, r->inputs, r->ninputs, &j->keys, &j->args,
                                   r->outputs, r->noutputs, &j->call, &r->err);
        r->duration_us = (long long)(RedisModule_MonotonicMicroseconds() - start);
        if (rc == 0) estimate_record(&j->script->estimate, 1, r->duration_us);
    }
    run_finish(r);
}

/* The function name and the user name are the command's and Redis's own strings, held
 * rather than copied: a run is made for every request, and the worker only reads them. */
static ScriptRun *script_run_new(RedisModuleCtx *ctx, AIScript *s, RedisModuleString *fn,
                                 int ninputs, int noutputs) {
    ScriptRun *j = run_new(sizeof *j, &script_run_kind, execute, ninputs, noutputs);
    j->script = script_share(s);
    RedisModule_RetainString(NULL, fn);
    j->fn_arg = fn;
    j->fn = RedisModule_StringPtrLen(fn, NULL);
    j->call.dbid = RedisModule_GetSelectedDb(ctx);
    if ((j->user = RedisModule_GetCurrentUserName(ctx)))
        j->call.username = (char *)RedisModule_StringPtrLen(j->user, NULL);
    return j;
}

/* The four scopes of AI.SCRIPTEXECUTE, each at most once, in any order. */
enum { SCOPE_KEYS, SCOPE_INPUTS, SCOPE_ARGS, SCOPE_OUTPUTS, NSCOPES };

typedef struct Scope {
    const char *name;
    AIErrCode count_error, args_error;
    int at; /* index of the first item, -1 when absent */
    long long n;
} Scope;

/* Reads `<n> items` after scope token i into s; *next is the index after them. */
static int parse_scope(RedisModuleString **argv, int argc, int i, Scope *s, int keys, int *next,
                       AIError *err) {
    if (keys && argc - i < 3) return ai_fail(err, AI_ERR_SE_KEYS_MISSING);
    if (i + 1 >= argc) return ai_fail(err, AI_ERR_SE_INVALID_ARGS);
    if (RedisModule_StringToLongLong(argv[i + 1], &s->n) != REDISMODULE_OK || s->n < keys)
        return ai_fail(err, s->count_error);
    if (argc - (i + 2) < s->n) return ai_fail(err, s->args_error);
    s->at = i + 2;
    *next = i + 2 + (int)s->n;
    return REDISMODULE_OK;
}

/* TIMEOUT and TTR end the command. */
static int parse_tail_limits(RedisModuleString **argv, int argc, int i, AILimits *l, AIError *err) {
    static const AILimitRules rules = {AI_ERR_SE_TIMEOUT_MISSING, 0};
    if (ai_limits_parse(argv, argc, &i, l, &rules, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (i != argc) return ai_fail(err, AI_ERR_SE_AFTER_TIMEOUT);
    return REDISMODULE_OK;
}

static int parse_scopes(RedisModuleString **argv, int argc, Scope *scopes, AILimits *limits,
                        AIError *err) {
    for (int i = 3; i < argc;) {
        if (ai_arg_is(argv[i], "TIMEOUT") || ai_arg_is(argv[i], "TTR"))
            return parse_tail_limits(argv, argc, i, limits, err);
        int k = 0;
        while (k < NSCOPES && !ai_arg_is(argv[i], scopes[k].name)) k++;
        if (k == NSCOPES)
            return ai_fail_arg(err, AI_ERR_SE_UNEXPECTED, RedisModule_StringPtrLen(argv[i], NULL));
        /* RedisAI names the repeated scope in capitals, whatever the client typed. */
        if (scopes[k].at >= 0) return ai_fail_arg(err, AI_ERR_SE_ALREADY, scopes[k].name);
        if (parse_scope(argv, argc, i, &scopes[k], k == SCOPE_KEYS, &i, err) != REDISMODULE_OK)
            return REDISMODULE_ERR;
    }
    return REDISMODULE_OK;
}

/* AI.SCRIPTEXECUTE key fn [KEYS n ...] [INPUTS n ...] [ARGS n ...] [OUTPUTS n ...]
 *                  [TIMEOUT ms] [TTR ms] */

static int scriptexecute_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    RedisModule_KeyAtPos(ctx, 1);
    for (int i = 3; i + 1 < argc;) {
        if (ai_arg_is(argv[i], "TIMEOUT") || ai_arg_is(argv[i], "TTR")) break;
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
                         AIScriptCall *c, AIError *err) {
    if (argc < 3) return ai_fail_arg(err, AI_ERR_ARITY, RedisModule_StringPtrLen(argv[0], NULL));
    if (!(c->script = script_from_key(ctx, argv[1], err))) return REDISMODULE_ERR;
    c->fn = argv[2];
    if (!in_dag && (argc < 4 || !(ai_arg_is(argv[3], "KEYS") || ai_arg_is(argv[3], "INPUTS"))))
        return ai_fail(err, AI_ERR_SE_SCOPE_FIRST);
    Scope scopes[NSCOPES] = {
        [SCOPE_KEYS] = {"KEYS", AI_ERR_SE_KEYS_COUNT, AI_ERR_SE_KEYS_ARGS, -1, 0},
        [SCOPE_INPUTS] = {"INPUTS", AI_ERR_SE_INPUTS_COUNT, AI_ERR_SE_INPUTS_ARGS, -1, 0},
        [SCOPE_ARGS] = {"ARGS", AI_ERR_SE_ARGS_COUNT, AI_ERR_SE_ARGS_ARGS, -1, 0},
        [SCOPE_OUTPUTS] = {"OUTPUTS", AI_ERR_SE_OUTPUTS_COUNT, AI_ERR_SE_OUTPUTS_ARGS, -1, 0},
    };
    AILimits limits = {0};
    if (parse_scopes(argv, argc, scopes, &limits, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    c->timeout = limits.timeout_ms;
    c->ttr_ms = limits.ttr_ms;
    RedisModuleString ***lists[NSCOPES] = {&c->keys, &c->inputs, &c->args, &c->outputs};
    int *counts[NSCOPES] = {&c->nkeys, &c->nin, &c->nargs, &c->nout};
    for (int k = 0; k < NSCOPES; k++) {
        *lists[k] = argv + (scopes[k].at >= 0 ? scopes[k].at : 0);
        *counts[k] = (int)scopes[k].n;
    }
    return REDISMODULE_OK;
}

/* Main thread, O(1): the run's estimated cost, and whether its TTR can be met (roadmap
 * R3); a refusal is counted in the script's statistics. */
static int admit(ScriptRun *j, long long ttr_ms, AIError *err) {
    AIScript *s = j->script;
    long long own = estimate_run_us(&s->estimate, 1);
    j->run.job.cost_us = own;
    if (ttr_admit(ttr_ms, queue_wait_us(s->queue), own, err) == REDISMODULE_OK)
        return REDISMODULE_OK;
    if (s->key) stats_record_ttr_rejected(s->key, s->keylen, s);
    return REDISMODULE_ERR;
}

/* Main thread, after parsing: capture the inputs, admit, block and queue on the script's
 * device. Clears c. */
static int queue_script_run(RedisModuleCtx *ctx, AIScriptCall *c) {
    ScriptRun *j = script_run_new(ctx, c->script, c->fn, c->nin, c->nout);
    ai_names_from_args(&j->keys, c->keys, c->nkeys);
    ai_names_from_args(&j->args, c->args, c->nargs);
    AIError err = {0};
    int rc = run_capture(ctx, &j->run, c->inputs, c->outputs, &err);
    if (rc == REDISMODULE_OK) rc = admit(j, c->ttr_ms, &err);
    if (rc == REDISMODULE_OK) {
        j->run.job.native = native_script_can_run(j->script, j->fn, j->run.inputs, j->run.ninputs);
        AILimits limits = {.timeout_ms = c->timeout, .ttr_ms = c->ttr_ms};
        run_enqueue(ctx, &j->run, j->script->queue, &limits);
    } else
        run_free(&j->run);
    script_call_clear(c);
    return rc == REDISMODULE_OK ? REDISMODULE_OK : ai_reply_error(ctx, &err);
}

static int scriptexecute_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return scriptexecute_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return ai_reply_code(ctx, AI_ERR_IN_TRANSACTION);
    AIScriptCall c = {0};
    AIError err = {0};
    if (script_execute_parse(ctx, argv, argc, 0, &c, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    return queue_script_run(ctx, &c);
}

/* AI.SCRIPTRUN's keys: argv[1] and the tensors after INPUTS/OUTPUTS but `$`. */
static int scriptrun_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    RedisModule_KeyAtPos(ctx, 1);
    int in_lists = 0;
    for (int i = 3; i < argc; i++) {
        if (ai_arg_is(argv[i], "TIMEOUT") || ai_arg_is(argv[i], "TTR"))
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
    AILimits limits;
} RunLists;

/* The token grammar of AI.SCRIPTRUN. */
static int parse_scriptrun(RedisModuleString **argv, int argc, RunLists *l, AIError *err) {
    static const AILimitRules rules = {AI_ERR_TIMEOUT_INVALID, 0};
    enum { BEFORE, INPUTS, OUTPUTS } state = BEFORE;
    int variadic = 0;
    for (int i = 3; i < argc; i++) {
        if (ai_arg_is(argv[i], "TIMEOUT") && (l->limits.seen & AI_LIMIT_TIMEOUT))
            return ai_fail(err, AI_ERR_SR_TIMEOUT_TWICE);
        int at = i, rc = ai_limit_parse(argv, argc, &at, &l->limits, &rules, err);
        if (rc < 0) return REDISMODULE_ERR;
        if (rc > 0) {
            i = at - 1;
        } else if (ai_arg_is(argv[i], "INPUTS")) {
            if (state != BEFORE)
                return ai_fail(err, state == INPUTS ? AI_ERR_SR_INPUTS_KEYWORD
                                                    : AI_ERR_SR_INPUTS_SECTION);
            state = INPUTS;
            l->in_at = i + 1;
        } else if (ai_arg_is(argv[i], "OUTPUTS")) {
            if (state == OUTPUTS) return ai_fail(err, AI_ERR_SR_OUTPUTS_KEYWORD);
            state = OUTPUTS;
            l->out_at = i + 1;
        } else if (ai_arg_is(argv[i], "$")) {
            if (state != INPUTS) return ai_fail(err, AI_ERR_SR_VARIADIC_OUTSIDE);
            if (variadic) return ai_fail(err, AI_ERR_SR_VARIADIC_TWICE);
            variadic = 1;
        } else if (state == BEFORE) {
            return ai_fail(err, AI_ERR_SR_UNRECOGNIZED);
        } else if (state == INPUTS) {
            argv[l->in_at + l->nin++] = argv[i]; /* compacts the list over TIMEOUT and `$` */
        } else {
            argv[l->out_at + l->nout++] = argv[i];
        }
    }
    return REDISMODULE_OK;
}

int script_run_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIScriptCall *c,
                     AIError *err) {
    if (argc < 3) return ai_fail_arg(err, AI_ERR_ARITY, RedisModule_StringPtrLen(argv[0], NULL));
    if (!(c->script = script_from_key(ctx, argv[1], err))) return REDISMODULE_ERR;
    c->fn = argv[2];
    /* A private copy of argv: parsing compacts the input and output lists in place. */
    c->owned = RedisModule_Alloc(sizeof(RedisModuleString *) * argc);
    memcpy(c->owned, argv, sizeof(RedisModuleString *) * argc);
    RunLists l = {0};
    if (parse_scriptrun(c->owned, argc, &l, err) != REDISMODULE_OK) {
        script_call_clear(c);
        return REDISMODULE_ERR;
    }
    c->inputs = c->owned + l.in_at;
    c->nin = l.nin;
    c->outputs = c->owned + l.out_at;
    c->nout = l.nout;
    c->timeout = l.limits.timeout_ms;
    c->ttr_ms = l.limits.ttr_ms;
    return REDISMODULE_OK;
}

void script_call_clear(AIScriptCall *c) {
    if (c->owned) RedisModule_Free(c->owned);
    c->owned = NULL;
}

/* AI.SCRIPTRUN key fn [TIMEOUT ms] [TTR ms] INPUTS in... [$ in...] OUTPUTS out... (deprecated) */
static int scriptrun_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return scriptrun_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return ai_reply_code(ctx, AI_ERR_IN_TRANSACTION);
    AIScriptCall c = {0};
    AIError err = {0};
    if (script_run_parse(ctx, argv, argc, &c, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    return queue_script_run(ctx, &c);
}

int script_exec_commands_register(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.scriptexecute", scriptexecute_command,
                                  "write deny-oom getkeys-api", 1, 1, 1) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.scriptrun", scriptrun_command,
                                  "write deny-oom getkeys-api", 1, 1, 1) == REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
