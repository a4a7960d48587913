/* AI.DAGEXECUTE, AI.DAGEXECUTE_RO, AI.DAGRUN and AI.DAGRUN_RO (spec 5): parse, run on the
 * device queues, and build the reply (one element per op) and the PERSIST writes on the
 * main thread. */
#include <string.h>

#include "args.h"
#include "commands.h"
#include "dag.h"
#include "tensor_cmd.h"
#include "tensor_type.h"

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
        ai_reply_error(ctx, &o->err);
    } else {
        RedisModule_ReplyWithSimpleString(ctx, "NA");
    }
}

/* Writes the PERSIST keys; a key of another type ends it with an extra error element. */
static int persist(RedisModuleCtx *ctx, Dag *d) {
    for (int k = 0; k < d->npersist; k++) {
        AITensor *t = d->slots[d->persist_slots[k]];
        if (tensor_store_or_reply(ctx, d->persist_keys[k], tensor_share(t)) != REDISMODULE_OK)
            return 1;
        tensor_replicate(ctx, d->persist_keys[k], t);
    }
    return 0;
}

void dag_reply(RedisModuleCtx *ctx, Dag *d) {
    if (d->timed_out) {
        RedisModule_ReplyWithSimpleString(ctx, "TIMEDOUT");
        return;
    }
    RedisModule_ReplyWithArray(ctx, REDISMODULE_POSTPONED_LEN);
    for (int k = 0; k < d->nops; k++) reply_op(ctx, d, &d->ops[k]);
    int extra = d->failed ? 0 : persist(ctx, d);
    RedisModule_ReplySetArrayLength(ctx, d->nops + extra);
}

static int on_unblock(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    (void)argv, (void)argc;
    dag_reply(ctx, RedisModule_GetBlockedClientPrivateData(ctx));
    return REDISMODULE_OK;
}

static void on_free(RedisModuleCtx *ctx, void *privdata) {
    (void)ctx;
    dag_record(privdata);
    dag_free(privdata);
}

/* The keys of a DAG: after LOAD n and PERSIST n, ROUTING's value, and the model or script
 * key of each op. Tensor names inside ops are DAG-local, not keys. */
static int dag_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv) {
    int i = 1;
    for (; i < argc && !ai_arg_is(argv[i], "|>"); i++) {
        long long n;
        if ((ai_arg_is(argv[i], "LOAD") || ai_arg_is(argv[i], "PERSIST")) && i + 1 < argc &&
            RedisModule_StringToLongLong(argv[i + 1], &n) == REDISMODULE_OK) {
            for (long long k = 0; k < n && i + 2 + k < argc; k++)
                RedisModule_KeyAtPos(ctx, i + 2 + (int)k);
            i += 1 + (int)(n > 0 ? n : 0);
        } else if (ai_arg_is(argv[i], "ROUTING") && i + 1 < argc) {
            RedisModule_KeyAtPos(ctx, ++i);
        } else if (ai_arg_is(argv[i], "TIMEOUT")) {
            i++;
        }
    }
    for (; i + 1 < argc; i++)
        if (ai_arg_is(argv[i], "|>") &&
            (ai_arg_is(argv[i + 1], "AI.MODELEXECUTE") ||
             ai_arg_is(argv[i + 1], "AI.SCRIPTEXECUTE") || ai_arg_is(argv[i + 1], "AI.MODELRUN") ||
             ai_arg_is(argv[i + 1], "AI.SCRIPTRUN")) &&
            i + 2 < argc)
            RedisModule_KeyAtPos(ctx, i + 2);
    return REDISMODULE_OK;
}

static int dag_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags) {
    if (RedisModule_IsKeysPositionRequest(ctx)) return dag_keys(ctx, argc, argv);
    if (ai_cannot_block(ctx)) return ai_reply_code(ctx, AI_ERR_IN_TRANSACTION);
    AIError err = {0};
    Dag *d;
    if (dag_parse(ctx, argv, argc, flags, &d, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    d->call.dbid = RedisModule_GetSelectedDb(ctx);
    RedisModuleString *user = RedisModule_GetCurrentUserName(ctx);
    if (user) {
        d->call.username = RedisModule_Strdup(RedisModule_StringPtrLen(user, NULL));
        RedisModule_FreeString(ctx, user);
    }
    if (!dag_needs_workers(d)) {
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
    return REDISMODULE_OK;
}
