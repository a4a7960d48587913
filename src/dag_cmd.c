/* AI.DAGEXECUTE, AI.DAGEXECUTE_RO, AI.DAGRUN and AI.DAGRUN_RO (spec 5): parse, run on the
 * device queues, and build the reply (one element per op) and the PERSIST writes on the
 * main thread. */
#include <string.h>

#include "args.h"
#include "commands.h"
#include "dag.h"
#include "dag_async.h"
#include "stream_tensor.h"
#include "tensor_cmd.h"
#include "tensor_type.h"

/* An error element that stays in d: a reply may be sent again (AI.DAGINFO). */
static void reply_error_kept(RedisModuleCtx *ctx, const AIError *err) {
    AIError copy = {0};
    ai_error_set(&copy, err->code, err->detail);
    ai_reply_error(ctx, &copy);
}

static void reply_op(RedisModuleCtx *ctx, Dag *d, DagOp *o) {
    if (o->kind == DAG_TENSORSET) {
        RedisModule_ReplyWithSimpleString(ctx, "OK");
    } else if (o->kind == DAG_TENSORGET) {
        int s = o->in_slots[0];
        if (d->slot_ready[s])
            tensor_reply_get(ctx, d->slots[s], o->fmt);
        else
            RedisModule_ReplyWithSimpleString(ctx, "NA");
    } else if (o->state == OP_DONE) {
        RedisModule_ReplyWithSimpleString(ctx, "OK");
    } else if (o->state == OP_FAILED) {
        reply_error_kept(ctx, &o->err);
    } else {
        RedisModule_ReplyWithSimpleString(ctx, "NA");
    }
}

/* Writes t under key, unless the key holds another type; a stream gets t appended
 * (roadmap R2.2). */
static int persist_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AITensor *t,
                       const RedisModuleStreamID *source, AIError *err) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ | REDISMODULE_WRITE);
    int type = RedisModule_KeyType(key);
    if (type == REDISMODULE_KEYTYPE_STREAM) {
        RedisModule_CloseKey(key);
        stream_tensor_append(ctx, keyname, t, source);
        return REDISMODULE_OK;
    }
    if (type != REDISMODULE_KEYTYPE_EMPTY && (type != REDISMODULE_KEYTYPE_MODULE ||
                                              RedisModule_ModuleTypeGetType(key) != AITensorType)) {
        RedisModule_CloseKey(key);
        return ai_fail(err, AI_ERR_WRONGTYPE);
    }
    RedisModule_ModuleTypeSetValue(key, AITensorType, tensor_share(t));
    RedisModule_CloseKey(key);
    tensor_replicate(ctx, keyname, t);
    return REDISMODULE_OK;
}

void dag_persist(RedisModuleCtx *ctx, Dag *d) {
    if (d->failed) return;
    for (int k = 0; k < d->npersist; k++)
        if (persist_key(ctx, d->persist_keys[k], d->slots[d->persist_slots[k]],
                        d->has_source ? &d->source : NULL, &d->persist_err) != REDISMODULE_OK)
            return;
}

/* A PERSIST key of another type adds an error element after the ops' replies. */
void dag_reply(RedisModuleCtx *ctx, Dag *d) {
    if (d->timed_out) {
        RedisModule_ReplyWithSimpleString(ctx, "TIMEDOUT");
        return;
    }
    int extra = d->persist_err.code != AI_OK;
    RedisModule_ReplyWithArray(ctx, d->nops + extra);
    for (int k = 0; k < d->nops; k++) reply_op(ctx, d, &d->ops[k]);
    if (extra) reply_error_kept(ctx, &d->persist_err);
}

static int on_unblock(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv, (void)argc;
    Dag *d = RedisModule_GetBlockedClientPrivateData(ctx);
    dag_persist(ctx, d);
    dag_reply(ctx, d);
    return REDISMODULE_OK;
}

static void on_free(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    dag_record(privdata);
    dag_free(privdata);
}

/* The keys of a DAG: after LOAD n and PERSIST n, ROUTING's value, and the model or script
 * key of each op. Tensor names inside ops are DAG-local, not keys. */
int dag_command_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    dag_command_keys_at(ctx, argc, argv, 0);
    return REDISMODULE_OK;
}

void dag_command_keys_at(RedisModuleCtx *ctx, int argc, RedisModuleString **argv, int offset) {
    int i = 1;
    for (; i < argc && !ai_arg_is(argv[i], "|>"); i++) {
        long long n;
        if ((ai_arg_is(argv[i], "LOAD") || ai_arg_is(argv[i], "PERSIST")) && i + 1 < argc &&
            RedisModule_StringToLongLong(argv[i + 1], &n) == REDISMODULE_OK) {
            for (long long k = 0; k < n && i + 2 + k < argc; k++)
                RedisModule_KeyAtPos(ctx, offset + i + 2 + (int)k);
            i += 1 + (int)(n > 0 ? n : 0);
        } else if (ai_arg_is(argv[i], "ROUTING") && i + 1 < argc) {
            RedisModule_KeyAtPos(ctx, offset + ++i);
        } else if (ai_arg_is(argv[i], "TIMEOUT") || ai_arg_is(argv[i], "TTR")) {
            i++;
        }
    }
    for (; i + 1 < argc; i++)
        if (ai_arg_is(argv[i], "|>") &&
            (ai_arg_is(argv[i + 1], "AI.MODELEXECUTE") ||
             ai_arg_is(argv[i + 1], "AI.SCRIPTEXECUTE") || ai_arg_is(argv[i + 1], "AI.MODELRUN") ||
             ai_arg_is(argv[i + 1], "AI.SCRIPTRUN")) &&
            i + 2 < argc)
            RedisModule_KeyAtPos(ctx, offset + i + 2);
}

void dag_set_caller(RedisModuleCtx *ctx, Dag *d) {
    d->call.dbid = RedisModule_GetSelectedDb(ctx);
    RedisModuleString *user = RedisModule_GetCurrentUserName(ctx);
    if (user) {
        d->call.username = RedisModule_Strdup(RedisModule_StringPtrLen(user, NULL));
        RedisModule_FreeString(ctx, user);
    }
}

static int dag_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return dag_command_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return ai_reply_code(ctx, AI_ERR_IN_TRANSACTION);
    AIError err = {0};
    Dag *d;
    if (dag_parse_admitted(ctx, argv, argc, flags, &d, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    dag_set_caller(ctx, d);
    if (!dag_needs_workers(d)) {
        dag_persist(ctx, d);
        dag_reply(ctx, d);
        dag_free(d);
        return REDISMODULE_OK;
    }
    d->bc = RedisModule_BlockClient(ctx, on_unblock, NULL, on_free, 0);
    RedisModule_BlockedClientMeasureTimeStart(d->bc);
    dag_start(d);
    return REDISMODULE_OK;
}

static int dagexecute_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return dag_command(ctx, argv, argc, 0);
}
static int dagexecute_ro_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return dag_command(ctx, argv, argc, DAG_RO);
}
static int dagrun_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return dag_command(ctx, argv, argc, DAG_DEPRECATED);
}
static int dagrun_ro_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    return dag_command(ctx, argv, argc, DAG_DEPRECATED | DAG_RO);
}

int dag_commands_register(RedisModuleCtx *ctx) {
    static const struct {
        const char *name;
        RedisModuleCmdFunc fn;
        const char *flags;
    } cmds[] = {
        {"ai.dagexecute", dagexecute_command, "write deny-oom getkeys-api"},
        {"ai.dagexecute_ro", dagexecute_ro_command, "readonly getkeys-api"},
        {"ai.dagrun", dagrun_command, "write deny-oom getkeys-api"},
        {"ai.dagrun_ro", dagrun_ro_command, "readonly getkeys-api"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++)
        if (RedisModule_CreateCommand(ctx, cmds[i].name, cmds[i].fn, cmds[i].flags, 0, 0, 0) ==
            REDISMODULE_ERR)
            return REDISMODULE_ERR;
    return dag_async_commands_register(ctx);
}
