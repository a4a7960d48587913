/* AI.TRIGGERSTORE, AI.TRIGGERGET, the progress command and AI.INFO of a trigger key
 * (roadmap R2.3); see trigger.h. */
#include <string.h>

#include "args.h"
#include "dag.h"
#include "keys.h"
#include "stream_tensor.h"
#include "trigger.h"

static AITrigger *trigger_at(RedisModuleCtx *ctx, RedisModuleString *keyname, AIError *err) {
    return ai_key_value(ctx, keyname, AITriggerType, AI_ERR_TRIGGER_EMPTY, err);
}

/* The trigger's key, its stream, and every key its DAG names. */
static int trigger_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    if (argc > 1) RedisModule_KeyAtPos(ctx, 1);
    if (argc > 3) RedisModule_KeyAtPos(ctx, 3);
    if (argc > 5) dag_command_keys_at(ctx, argc - 4, argv + 4, 4);
    return REDISMODULE_OK;
}

/* The stream key may not exist yet; anything but a stream is refused as Redis would. */
static int stream_key_accepts(RedisModuleCtx *ctx, RedisModuleString *keyname) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    int type = RedisModule_KeyType(key);
    RedisModule_CloseKey(key);
    return type == REDISMODULE_KEYTYPE_EMPTY || type == REDISMODULE_KEYTYPE_STREAM;
}

/* The DAG parses as AI.DAGEXECUTE would, its stream standing for any entry. */
static int check_dag(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, AIError *err) {
    DagStreamBinding b = {argv[3], NULL};
    Dag *d;
    if (dag_parse_bound(ctx, argv + 4, argc - 4, 0, &b, &d, err) != REDISMODULE_OK)
        return REDISMODULE_ERR;
    dag_free(d);
    return REDISMODULE_OK;
}

/* The runs' scripts call Redis as the user who stored the trigger. */
static void set_caller(RedisModuleCtx *ctx, AITrigger *t) {
    if (ai_from_own_data(ctx)) return; /* the progress command that follows brings it */
    RedisModuleString *user = RedisModule_GetCurrentUserName(ctx);
    if (!user) return;
    size_t len;
    const char *p = RedisModule_StringPtrLen(user, &len);
    trigger_set_user(t, p, len);
    RedisModule_FreeString(ctx, user);
}

static void replicate_progress(RedisModuleCtx *ctx, RedisModuleString *name, AITrigger *t) {
    char id[48];
    int len = stream_id_format(t->last_processed, id, sizeof id);
    if (t->user)
        RedisModule_Replicate(ctx, AI_TRIGGER_PROGRESS_CMD, "sbc", name, id, (size_t)len, t->user);
    else
        RedisModule_Replicate(ctx, AI_TRIGGER_PROGRESS_CMD, "sb", name, id, (size_t)len);
}

/* AI.TRIGGERSTORE <name> ON <stream> DAG <the arguments of AI.DAGEXECUTE> */
static int triggerstore_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return trigger_keys(ctx, argc, argv);
    if (argc < 5) return ai_reply_arity(ctx, argv[0]);
    if (!ai_arg_is(argv[2], "ON") || !ai_arg_is(argv[4], "DAG"))
        return ai_reply_code(ctx, AI_ERR_SYNTAX);
    if (ai_key_accepts_or_reply(ctx, argv[1], AITriggerType) != REDISMODULE_OK)
        return REDISMODULE_OK;
    if (!stream_key_accepts(ctx, argv[3])) return ai_reply_code(ctx, AI_ERR_WRONGTYPE);
    /* From the AOF or a master the DAG was checked when first stored, and its models may
     * come later in the file. */
    AIError err = {0};
    if (!ai_from_own_data(ctx) && check_dag(ctx, argv, argc, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    AITrigger *t =
        trigger_new(RedisModule_GetSelectedDb(ctx), argv[1], argv[3], argv + 5, argc - 5);
    trigger_seek(t, stream_last_id(ctx, argv[3])); /* entries added from now on */
    set_caller(ctx, t);
    ai_key_set(ctx, argv[1], AITriggerType, t);
    trigger_register(t);
    RedisModule_ReplicateVerbatim(ctx);
    replicate_progress(ctx, argv[1], t); /* replicas have no caller: the user goes along */
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static void reply_cstr(RedisModuleCtx *ctx, const char *s) {
    RedisModule_ReplyWithStringBuffer(ctx, s, strlen(s));
}

static void reply_last_error(RedisModuleCtx *ctx, const AITrigger *t) {
    reply_cstr(ctx, "last_error");
    if (t->last_error)
        reply_cstr(ctx, t->last_error);
    else
        RedisModule_ReplyWithNull(ctx);
}

/* AI.TRIGGERGET <name> -> stream, key, dag, [args], runs, n, errors, n, last_error, text|nil */
static int triggerget_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 2) return ai_reply_arity(ctx, argv[0]);
    AITrigger *t;
    if (ai_key_value_or_reply(ctx, argv[1], AITriggerType, AI_ERR_TRIGGER_EMPTY, (void **)&t) !=
        REDISMODULE_OK)
        return REDISMODULE_OK;
    RedisModule_ReplyWithArray(ctx, 10);
    reply_cstr(ctx, "stream");
    RedisModule_ReplyWithString(ctx, t->stream);
    reply_cstr(ctx, "dag");
    RedisModule_ReplyWithArray(ctx, t->nargs);
    for (int i = 0; i < t->nargs; i++) RedisModule_ReplyWithString(ctx, t->args[i]);
    reply_cstr(ctx, "runs");
    RedisModule_ReplyWithLongLong(ctx, t->runs);
    reply_cstr(ctx, "errors");
    RedisModule_ReplyWithLongLong(ctx, t->errors);
    reply_last_error(ctx, t);
    return REDISMODULE_OK;
}

/* AI._TRIGGERPROGRESS <name> <id> [<user>]: from a master or the AOF, where the trigger
 * stands and whose it is; from a client, a seek (entries after id are run again, or
 * skipped) and, with a user, a change of owner (the command is for administrators). */
static int progress_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc != 3 && argc != 4) return ai_reply_arity(ctx, argv[0]);
    AITrigger *t;
    RedisModuleStreamID id;
    if (ai_key_value_or_reply(ctx, argv[1], AITriggerType, AI_ERR_TRIGGER_EMPTY, (void **)&t) !=
        REDISMODULE_OK)
        return REDISMODULE_OK;
    if (RedisModule_StringToStreamID(argv[2], &id) != REDISMODULE_OK)
        return ai_reply_code(ctx, AI_ERR_SYNTAX);
    trigger_seek(t, id);
    if (argc == 4) {
        size_t len;
        const char *user = RedisModule_StringPtrLen(argv[3], &len);
        trigger_set_user(t, user, len);
    }
    if (!ai_from_own_data(ctx)) trigger_schedule(t);
    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static void reply_count(RedisModuleCtx *ctx, const char *name, long long n) {
    reply_cstr(ctx, name);
    RedisModule_ReplyWithLongLong(ctx, n);
}

int trigger_info_reply(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    AIError err = {0};
    AITrigger *t = trigger_at(ctx, argv[1], &err);
    ai_error_clear(&err);
    if (!t) return REDISMODULE_ERR;
    if (argc == 3 && ai_arg_is(argv[2], "RESETSTAT")) {
        t->runs = t->errors = 0;
        if (t->last_error) RedisModule_Free(t->last_error);
        t->last_error = NULL;
        RedisModule_ReplyWithSimpleString(ctx, "OK");
        return REDISMODULE_OK;
    }
    char id[48];
    int len = stream_id_format(t->last_processed, id, sizeof id);
    RedisModule_ReplyWithArray(ctx, 18);
    reply_cstr(ctx, "key");
    RedisModule_ReplyWithString(ctx, argv[1]);
    reply_cstr(ctx, "type");
    reply_cstr(ctx, "TRIGGER");
    reply_cstr(ctx, "stream");
    RedisModule_ReplyWithString(ctx, t->stream);
    reply_count(ctx, "runs", t->runs);
    reply_count(ctx, "errors", t->errors);
    reply_last_error(ctx, t);
    reply_count(ctx, "lag", trigger_lag(ctx, t));
    reply_count(ctx, "in_flight", t->inflight);
    reply_cstr(ctx, "last_processed");
    RedisModule_ReplyWithStringBuffer(ctx, id, (size_t)len);
    return REDISMODULE_OK;
}

int trigger_commands_register(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.triggerstore", triggerstore_command,
                                  "write deny-oom getkeys-api", 0, 0, 0) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.triggerget", triggerget_command, "readonly", 1, 1, 1) ==
            REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai._triggerprogress", progress_command, "write", 1, 1, 1) ==
            REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return trigger_run_init(ctx);
}
