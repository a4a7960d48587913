/* Parsing of AI.DAGEXECUTE, AI.DAGEXECUTE_RO, AI.DAGRUN and AI.DAGRUN_RO (spec 5.2, 5.3):
 * header keywords, then one op per `|>`, each parsed by its own command's rules. Names
 * become slots (tensor versions) as the ops are read; see dag.h. */
#include <string.h>

#include "args.h"
#include "dag.h"
#include "model_exec.h"
#include "script_exec.h"
#include "stream_tensor.h"
#include "tensor_cmd.h"
#include "tensor_type.h"
#include "ttr.h"

typedef struct Parser {
    RedisModuleCtx *ctx;
    Dag *d;
    RedisModuleDict *names; /* name -> latest slot + 1 */
    int cap_slots;
    AIErrCode resolve_error; /* reported only once every op parsed */
    AIError *err;
    const DagStreamBinding *binding; /* a trigger's run, or NULL */
} Parser;

/* A new version of name; t (one reference) fills it now, or NULL for an op output. */
static int new_slot(Parser *p, RedisModuleString *name, AITensor *t) {
    Dag *d = p->d;
    if (d->nslots == p->cap_slots) {
        p->cap_slots = p->cap_slots ? p->cap_slots * 2 : 8;
        d->slots = RedisModule_Realloc(d->slots, sizeof(AITensor *) * p->cap_slots);
        d->slot_ready = RedisModule_Realloc(d->slot_ready, sizeof(int) * p->cap_slots);
    }
    int s = d->nslots++;
    d->slots[s] = t;
    d->slot_ready[s] = t != NULL;
    RedisModule_DictReplace(p->names, name, (void *)(intptr_t)(s + 1));
    return s;
}

static int find_slot(Parser *p, RedisModuleString *name, AIErrCode unknown) {
    intptr_t v = (intptr_t)RedisModule_DictGet(p->names, name, NULL);
    if (!v && p->resolve_error == AI_OK) p->resolve_error = unknown;
    return (int)v - 1;
}

static int *slots_for(Parser *p, RedisModuleString **names, int n, int produce) {
    int *slots = RedisModule_Calloc(n ? n : 1, sizeof(int));
    for (int i = 0; i < n; i++)
        slots[i] = produce ? new_slot(p, names[i], NULL)
                           : find_slot(p, names[i], AI_ERR_DAG_INPUT_UNKNOWN);
    return slots;
}

/* A trigger's own stream: its entry, or a placeholder while the trigger is checked. */
static AITensor *load_bound(Parser *p) {
    const DagStreamBinding *b = p->binding;
    if (b->id) return stream_tensor_read(p->ctx, b->stream, b->id, p->err);
    return tensor_new_zeros(ai_dtype_by_name("FLOAT", 5), (int64_t[]){1}, 1, p->err);
}

/* What LOAD reads from one key (roadmap R2.2): a tensor, or the newest entry of a stream.
 * A new reference, or NULL with p->err set. */
static AITensor *load_key(Parser *p, RedisModuleString *name) {
    if (p->binding && !RedisModule_StringCompare(name, p->binding->stream)) return load_bound(p);
    if (stream_key_is_stream(p->ctx, name)) return stream_tensor_read(p->ctx, name, NULL, p->err);
    AITensor *t = tensor_from_key(p->ctx, name, p->err);
    return t ? tensor_share(t) : NULL;
}

static int parse_load(Parser *p, RedisModuleString **argv, int argc, int *i) {
    long long n;
    if (argc - *i - 1 < 2) return ai_fail(p->err, AI_ERR_DAG_LOAD_MISSING);
    if (RedisModule_StringToLongLong(argv[*i + 1], &n) != REDISMODULE_OK || n <= 0)
        return ai_fail(p->err, AI_ERR_DAG_LOAD_COUNT);
    if (argc - (*i + 2) < n) return ai_fail(p->err, AI_ERR_DAG_LOAD_ARGS);
    for (int k = 0; k < n; k++) {
        AITensor *t = load_key(p, argv[*i + 2 + k]);
        if (!t) return REDISMODULE_ERR;
        new_slot(p, argv[*i + 2 + k], t);
    }
    *i += 2 + (int)n;
    return REDISMODULE_OK;
}

static int parse_persist(Parser *p, RedisModuleString **argv, int argc, int *i) {
    long long n;
    Dag *d = p->d;
    if (d->flags & DAG_RO) return ai_fail(p->err, AI_ERR_DAG_PERSIST_RO);
    if (argc - *i - 1 < 2) return ai_fail(p->err, AI_ERR_DAG_PERSIST_MISSING);
    if (RedisModule_StringToLongLong(argv[*i + 1], &n) != REDISMODULE_OK || n <= 0)
        return ai_fail(p->err, AI_ERR_DAG_PERSIST_COUNT);
    if (argc - (*i + 2) < n) return ai_fail(p->err, AI_ERR_DAG_PERSIST_ARGS);
    RedisModuleString **keys = argv + *i + 2;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++)
            if (!RedisModule_StringCompare(keys[a], keys[b]))
                return ai_fail(p->err, AI_ERR_DAG_PERSIST_UNIQUE);
    d->npersist = (int)n;
    d->persist_keys = RedisModule_Alloc(sizeof(RedisModuleString *) * n);
    d->persist_slots = RedisModule_Calloc(n, sizeof(int));
    for (int k = 0; k < n; k++) {
        RedisModule_RetainString(NULL, keys[k]);
        d->persist_keys[k] = keys[k];
    }
    *i += 2 + (int)n;
    return REDISMODULE_OK;
}

/* TIMEOUT and TTR (roadmap R3) of the header: 1 when argv[*i] was one, 0 when it is
 * another argument (or a repeated one), -1 on error. */
static int parse_header_limit(Parser *p, RedisModuleString **argv, int argc, int *i, AILimits *l) {
    static const AILimitRules rules = {AI_ERR_TIMEOUT_MISSING, 1};
    int rc = ai_limit_parse(argv, argc, i, l, &rules, p->err);
    p->d->timeout_ms = l->timeout_ms;
    p->d->ttr_ms = l->ttr_ms;
    return rc;
}

/* LOAD, PERSIST, ROUTING, TIMEOUT, TTR before the first `|>`, each at most once. */
static int parse_header(Parser *p, RedisModuleString **argv, int argc, int *i, int *keyword) {
    int seen[3] = {0};
    static const char *const words[3] = {"LOAD", "PERSIST", "ROUTING"};
    AILimits limits = {0};
    while (*i < argc && !ai_arg_is(argv[*i], "|>")) {
        int rc = parse_header_limit(p, argv, argc, i, &limits);
        if (rc < 0) return REDISMODULE_ERR;
        if (rc > 0) continue;
        int w = 0;
        while (w < 3 && !ai_arg_is(argv[*i], words[w])) w++;
        if (w == 3 || seen[w])
            return ai_fail_arg(p->err, AI_ERR_DAG_UNEXPECTED,
                               RedisModule_StringPtrLen(argv[*i], NULL));
        seen[w] = 1;
        if (w < 3) *keyword = 1;
        if (w == 0 && parse_load(p, argv, argc, i) != REDISMODULE_OK) return REDISMODULE_ERR;
        if (w == 1 && parse_persist(p, argv, argc, i) != REDISMODULE_OK) return REDISMODULE_ERR;
        if (w == 2) {
            if (*i + 1 >= argc) return ai_fail(p->err, AI_ERR_DAG_ROUTING_MISSING);
            *i += 2;
        }
    }
    return REDISMODULE_OK;
}

static int parse_tensorset(Parser *p, DagOp *o, RedisModuleString **op, int n) {
    if (n < 4) return ai_fail_arg(p->err, AI_ERR_DAG_OP_ARITY, "AI.TENSORSET");
    AITensor *t;
    if (tensor_parse_set_args(op, n, &t, p->err) != REDISMODULE_OK) return REDISMODULE_ERR;
    o->kind = DAG_TENSORSET;
    o->out_slots = RedisModule_Alloc(sizeof(int));
    o->out_slots[0] = new_slot(p, op[1], t);
    return REDISMODULE_OK;
}

static int parse_tensorget(Parser *p, DagOp *o, RedisModuleString **op, int n) {
    if (n < 2 || n > 4) return ai_fail_arg(p->err, AI_ERR_DAG_OP_ARITY, "AI.TENSORGET");
    if (tensor_parse_get_format(op, n, &o->fmt, p->err) != REDISMODULE_OK) return REDISMODULE_ERR;
    o->kind = DAG_TENSORGET;
    o->in_slots = slots_for(p, op + 1, 1, 0);
    return REDISMODULE_OK;
}

static void set_io(Parser *p, DagOp *o, RedisModuleString **in, int nin, RedisModuleString **out,
                   int nout) {
    o->ninputs = nin;
    o->noutputs = nout;
    o->in_slots = slots_for(p, in, nin, 0);
    o->out_slots = slots_for(p, out, nout, 1);
}

static int parse_model_op(Parser *p, DagOp *o, RedisModuleString **op, int n, int deprecated) {
    AIModelCall c = {0};
    int rc = deprecated ? model_run_parse(p->ctx, op, n, &c, p->err)
                        : model_execute_parse(p->ctx, op, n, &c, p->err);
    if (rc != REDISMODULE_OK) return REDISMODULE_ERR;
    /* Checked once the op parsed by its own rules, as RedisAI does: a tensor may be named
     * TIMEOUT, and the op's own errors (model key, counts, TIMEOUT value) come first. */
    if (c.timeout > 0) return ai_fail(p->err, AI_ERR_DAG_TIMEOUT_IN_OP);
    if (c.ttr_ms > 0) return ai_fail(p->err, AI_ERR_DAG_TTR_IN_OP);
    o->kind = DAG_MODEL;
    o->model = model_share(c.model);
    o->queue = c.model->queue;
    set_io(p, o, c.inputs, c.nin, c.outputs, c.nout);
    return REDISMODULE_OK;
}

static int parse_script_op(Parser *p, DagOp *o, RedisModuleString **op, int n, int deprecated) {
    AIScriptCall c = {0};
    int rc = deprecated ? script_run_parse(p->ctx, op, n, &c, p->err)
                        : script_execute_parse(p->ctx, op, n, 1, &c, p->err);
    if (rc != REDISMODULE_OK) return REDISMODULE_ERR;
    if (c.timeout > 0 || c.ttr_ms > 0) { /* see parse_model_op */
        script_call_clear(&c);
        return ai_fail(p->err, c.timeout > 0 ? AI_ERR_DAG_TIMEOUT_IN_OP : AI_ERR_DAG_TTR_IN_OP);
    }
    o->kind = DAG_SCRIPT;
    o->script = script_share(c.script);
    o->queue = c.script->queue;
    o->fn = RedisModule_Strdup(RedisModule_StringPtrLen(c.fn, NULL));
    ai_names_from_args(&o->keys, c.keys, c.nkeys);
    ai_names_from_args(&o->args, c.args, c.nargs);
    set_io(p, o, c.inputs, c.nin, c.outputs, c.nout);
    script_call_clear(&c);
    return REDISMODULE_OK;
}

static int parse_op(Parser *p, DagOp *o, RedisModuleString **op, int n) {
    int deprecated = p->d->flags & DAG_DEPRECATED;
    if (ai_arg_is(op[0], "AI.TENSORSET")) return parse_tensorset(p, o, op, n);
    if (ai_arg_is(op[0], "AI.TENSORGET")) return parse_tensorget(p, o, op, n);
    int model = ai_arg_is(op[0], "AI.MODELEXECUTE"), script = ai_arg_is(op[0], "AI.SCRIPTEXECUTE");
    int old_model = ai_arg_is(op[0], "AI.MODELRUN"), old_script = ai_arg_is(op[0], "AI.SCRIPTRUN");
    if (!model && !script && !old_model && !old_script)
        return ai_fail(p->err, AI_ERR_DAG_UNSUPPORTED);
    const char *name = model       ? "AI.MODELEXECUTE"
                       : script    ? "AI.SCRIPTEXECUTE"
                       : old_model ? "AI.MODELRUN"
                                   : "AI.SCRIPTRUN";
    if (deprecated && (model || script)) return ai_fail_arg(p->err, AI_ERR_DAG_NEW_OP_IN_OLD, name);
    if (!deprecated && (old_model || old_script))
        return ai_fail_arg(p->err, AI_ERR_DAG_DEPRECATED_OP, name);
    if (script && (p->d->flags & DAG_RO)) return ai_fail(p->err, AI_ERR_DAG_SCRIPT_RO);
    return model || old_model ? parse_model_op(p, o, op, n, old_model)
                              : parse_script_op(p, o, op, n, old_script);
}

static int count_ops(RedisModuleString **argv, int argc, int from) {
    int n = 0;
    for (int i = from; i < argc; i++) n += ai_arg_is(argv[i], "|>");
    return n;
}

static int parse_ops(Parser *p, RedisModuleString **argv, int argc, int i) {
    Dag *d = p->d;
    d->ops = RedisModule_Calloc(count_ops(argv, argc, i) + 1, sizeof(DagOp));
    while (i < argc) {
        int start = i + 1, end = start;
        while (end < argc && !ai_arg_is(argv[end], "|>")) end++;
        if (end == start) return ai_fail(p->err, AI_ERR_DAG_UNSUPPORTED); /* `|> |>` */
        if (parse_op(p, &d->ops[d->nops++], argv + start, end - start) != REDISMODULE_OK)
            return REDISMODULE_ERR;
        i = end;
    }
    return REDISMODULE_OK;
}

static int resolve_persist(Parser *p) {
    for (int k = 0; k < p->d->npersist; k++)
        if ((p->d->persist_slots[k] =
                 find_slot(p, p->d->persist_keys[k], AI_ERR_DAG_PERSIST_UNKNOWN)) < 0)
            return ai_fail(p->err, AI_ERR_DAG_PERSIST_UNKNOWN);
    return REDISMODULE_OK;
}

/* The command's own arity; RedisAI names AI.DAGEXECUTE in upper case whatever the client
 * typed, and the deprecated commands as typed. */
static int check_arity(RedisModuleString **argv, int argc, int flags, AIError *err) {
    if (!(flags & DAG_DEPRECATED) && argc < 6)
        return ai_fail_arg(err, AI_ERR_DAG_MISSING_ARGS,
                           flags & DAG_RO ? "AI.DAGEXECUTE_RO" : "AI.DAGEXECUTE");
    if ((flags & DAG_DEPRECATED) && argc < 4)
        return ai_fail_arg(err, AI_ERR_ARITY, RedisModule_StringPtrLen(argv[0], NULL));
    return REDISMODULE_OK;
}

static int parse(Parser *p, RedisModuleString **argv, int argc) {
    int i = 1, keyword = 0;
    if (parse_header(p, argv, argc, &i, &keyword) != REDISMODULE_OK) return REDISMODULE_ERR;
    /* A lone `|>` at the end is a header-level error in RedisAI: it comes before the
     * keyword check and before any op is parsed. */
    if (i < argc && ai_arg_is(argv[argc - 1], "|>"))
        return ai_fail_arg(p->err, AI_ERR_DAG_UNEXPECTED, "|>");
    if (!(p->d->flags & DAG_DEPRECATED) && !keyword)
        return ai_fail(p->err, AI_ERR_DAG_NEEDS_KEYWORD);
    if (i >= argc) return ai_fail(p->err, AI_ERR_DAG_EMPTY);
    if (parse_ops(p, argv, argc, i) != REDISMODULE_OK) return REDISMODULE_ERR;
    if (p->resolve_error != AI_OK) return ai_fail(p->err, p->resolve_error);
    return resolve_persist(p);
}

int dag_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags, Dag **dag,
              AIError *err) {
    return dag_parse_bound(ctx, argv, argc, flags, NULL, dag, err);
}

int dag_parse_bound(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags,
                    const DagStreamBinding *b, Dag **dag, AIError *err) {
    *dag = NULL;
    if (check_arity(argv, argc, flags, err) != REDISMODULE_OK) return REDISMODULE_ERR;
    Parser p = {.ctx = ctx, .names = RedisModule_CreateDict(NULL), .err = err, .binding = b};
    p.d = RedisModule_Calloc(1, sizeof(Dag));
    p.d->flags = flags;
    int rc = parse(&p, argv, argc);
    RedisModule_FreeDict(NULL, p.names);
    if (rc == REDISMODULE_OK) {
        *dag = p.d;
        return REDISMODULE_OK;
    }
    dag_free(p.d);
    return REDISMODULE_ERR;
}

void dag_free(Dag *d) {
    for (int k = 0; k < d->nops; k++) {
        DagOp *o = &d->ops[k];
        if (o->model) model_release(o->model);
        if (o->script) script_release(o->script);
        if (o->fn) RedisModule_Free(o->fn);
        ai_names_free(&o->keys);
        ai_names_free(&o->args);
        if (o->in_slots) RedisModule_Free(o->in_slots);
        if (o->out_slots) RedisModule_Free(o->out_slots);
        ai_error_clear(&o->err);
    }
    for (int s = 0; s < d->nslots; s++) tensor_release(d->slots[s]);
    for (int k = 0; k < d->npersist; k++) RedisModule_FreeString(NULL, d->persist_keys[k]);
    if (d->ops) RedisModule_Free(d->ops);
    if (d->slots) RedisModule_Free(d->slots);
    if (d->slot_ready) RedisModule_Free(d->slot_ready);
    if (d->persist_keys) RedisModule_Free(d->persist_keys);
    if (d->persist_slots) RedisModule_Free(d->persist_slots);
    if (d->call.username) RedisModule_Free(d->call.username);
    ai_error_clear(&d->persist_err);
    RedisModule_Free(d);
}
