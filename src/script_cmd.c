/* AI.SCRIPTSTORE, AI.SCRIPTSET, AI.SCRIPTGET, AI.SCRIPTDEL and AI._SCRIPTSCAN (spec 4.1-4.3,
 * 4.7, 4.9). Scripts compile on the loader thread like models load (store_job.h). */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "commands.h"
#include "log.h"
#include "script_type.h"
#include "stats.h"
#include "store_job.h"

/* args: non-NULL when the command comes from AOF or a master (ai_from_own_data). */
static int build(void *value, void *args, RedisModuleString **argv, int argc, AIError *err) {
    (void)argv, (void)argc;
    return script_compile_keeping(value, args != NULL, err);
}

static int store(RedisModuleCtx *ctx, RedisModuleString *key, void *value) {
    return script_store_or_reply(ctx, key, value);
}

static void release(void *value) { script_release(value); }
static void no_args(void *args) { (void)args; }

/* A store from a master (pending.h): the script's C side is complete already. */
static int prepare(void *value, void *args, RedisModuleString **argv, int argc, AIError *err) {
    (void)value, (void)args, (void)argv, (void)argc, (void)err;
    return REDISMODULE_OK;
}

static void *stage(void *value, void *args, AIError *err) {
    (void)args;
    AIScriptCompiled *c = RedisModule_Alloc(sizeof *c);
    if (script_compile_into(value, c, err) == 0) return c;
    RedisModule_Free(c);
    return NULL;
}

/* As a model's (model_cmd.c): the master compiled it; kept here even if it does not. */
static void install(void *value, void *staged, AIError *err) {
    AIScript *s = value;
    if (staged) {
        script_adopt(s, staged);
        RedisModule_Free(staged);
        return;
    }
    char msg[512];
    snprintf(msg, sizeof msg, "a script from the master is kept but will not run: %s",
             ai_error_text(err));
    ai_log("warning", msg);
    s->refused = *err;
    *err = (AIError){0};
}

static const AIPendingOps script_pending_ops = {stage, install, release, no_args};

static void build_later(void *value, void *args) {
    AIScript *s = value;
    pending_start(script_share(s), args, &s->pending, &script_pending_ops);
}

static const AIStoreOps script_store_ops = {build, store, release, no_args, prepare, build_later};

static void *own_data_flag(RedisModuleCtx *ctx) {
    static int from_own_data;
    return ai_from_own_data(ctx) ? &from_own_data : NULL;
}

/* [TAG t] at argv[*i]. */
static void parse_tag(RedisModuleString **argv, int argc, int *i, const char **tag,
                      size_t *taglen) {
    *tag = "";
    *taglen = 0;
    if (*i + 1 < argc && ai_arg_is(argv[*i], "TAG")) {
        *tag = RedisModule_StringPtrLen(argv[*i + 1], taglen);
        *i += 2;
    }
}

static AIScript *new_script(RedisModuleString **argv, const char *tag, size_t taglen,
                            RedisModuleString *source) {
    size_t srclen;
    const char *src = RedisModule_StringPtrLen(source, &srclen);
    return script_new(RedisModule_StringPtrLen(argv[2], NULL), tag, taglen, src, srclen);
}

/* AI.SCRIPTSTORE key device [TAG t] ENTRY_POINTS n fn... SOURCE src */
static int scriptstore_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 8) return ai_reply_arity(ctx, argv[0]);
    int i = 3;
    const char *tag;
    size_t taglen;
    long long n;
    parse_tag(argv, argc, &i, &tag, &taglen);
    if (i >= argc || !ai_arg_is(argv[i], "ENTRY_POINTS"))
        return ai_reply_code(ctx, AI_ERR_MISSING_ENTRY_POINTS);
    if (i + 1 >= argc || RedisModule_StringToLongLong(argv[i + 1], &n) != REDISMODULE_OK)
        return ai_reply_code(ctx, AI_ERR_ENTRY_POINTS_NUMBER);
    if (n <= 0 || argc - (i + 2) < n) return ai_reply_code(ctx, AI_ERR_MISSING_ENTRY_POINTS);
    int names_at = i + 2;
    i = names_at + (int)n;
    if (i + 1 >= argc || !ai_arg_is(argv[i], "SOURCE"))
        return ai_reply_code(ctx, AI_ERR_MISSING_SOURCE);
    AIScript *s = new_script(argv, tag, taglen, argv[i + 1]);
    s->has_entry_points = 1;
    ai_names_from_args(&s->entry_points, argv + names_at, (int)n);
    return store_job_start(ctx, argv, argc, &script_store_ops, s, own_data_flag(ctx));
}

/* AI.SCRIPTSET key device [TAG t] SOURCE src (deprecated: no entry points) */
static int scriptset_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 5 && argc != 7) return ai_reply_arity(ctx, argv[0]);
    int i = 3;
    const char *tag;
    size_t taglen;
    parse_tag(argv, argc, &i, &tag, &taglen);
    if (i + 1 >= argc || !ai_arg_is(argv[i], "SOURCE"))
        return ai_reply_code(ctx, AI_ERR_MISSING_SOURCE);
    AIScript *s = new_script(argv, tag, taglen, argv[i + 1]);
    return store_job_start(ctx, argv, argc, &script_store_ops, s, own_data_flag(ctx));
}

/* AI.SCRIPTGET key [META] [SOURCE] */
static int scriptget_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2 || argc > 4) return ai_reply_arity(ctx, argv[0]);
    AIScript *s;
    if (script_from_key_or_reply(ctx, argv[1], &s) != REDISMODULE_OK) return REDISMODULE_OK;
    int meta = 0, source = 0;
    for (int i = 2; i < argc; i++) {
        meta |= ai_arg_is(argv[i], "META");
        source |= ai_arg_is(argv[i], "SOURCE");
    }
    if (source && !meta)
        return RedisModule_ReplyWithStringBuffer(ctx, s->source, strlen(s->source));
    RedisModule_ReplyWithArray(ctx, meta && !source ? 6 : 8);
    RedisModule_ReplyWithStringBuffer(ctx, "device", 6);
    RedisModule_ReplyWithStringBuffer(ctx, s->device, strlen(s->device));
    RedisModule_ReplyWithStringBuffer(ctx, "tag", 3);
    RedisModule_ReplyWithStringBuffer(ctx, s->tag, s->taglen);
    RedisModule_ReplyWithStringBuffer(ctx, "Entry Points", 12);
    ai_names_reply(ctx, &s->entry_points);
    if (meta && !source) return REDISMODULE_OK;
    RedisModule_ReplyWithStringBuffer(ctx, "source", 6);
    return RedisModule_ReplyWithStringBuffer(ctx, s->source, strlen(s->source));
}

/* AI.SCRIPTDEL key */
static int scriptdel_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return ai_reply_arity(ctx, argv[0]);
    AIScript *s;
    if (script_from_key_or_reply(ctx, argv[1], &s) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModuleKey *key = RedisModule_OpenKey(ctx, argv[1], REDISMODULE_WRITE);
    RedisModule_DeleteKey(key);
    RedisModule_CloseKey(key);
    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

/* AI._SCRIPTSCAN */
static int scriptscan_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 1) return ai_reply_arity(ctx, argv[0]);
    RedisModule_Log(ctx, "warning", "AI._SCRIPTSCAN is experimental and might be removed");
    stats_reply_scan(ctx, 1);
    return REDISMODULE_OK;
}

int script_commands_register(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.scriptstore", scriptstore_command, "write deny-oom", 1,
                                  1, 1) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.scriptset", scriptset_command, "write deny-oom", 1, 1,
                                  1) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.scriptget", scriptget_command, "readonly", 1, 1, 1) ==
            REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.scriptdel", scriptdel_command, "write", 1, 1, 1) ==
            REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai._scriptscan", scriptscan_command, "readonly", 0, 0, 0) ==
            REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
