/* The AI_TRIGGER data type and the trigger value; see trigger.h.
 *
 * RDB layout (encoding version 1): the stream's key, the DAG's argument count and
 * arguments, the last processed entry id (ms, seq), and the ACL user ("" for none). Run counts are
 * per server, as AI.INFO's are, and start again at 0. A loaded trigger resumes after its last
 * processed entry (trigger_run.c starts it once loading ends, on a master).
 *
 * The AOF rewrite emits AI.TRIGGERSTORE (which, from the server's own data, does not check
 * the DAG: its model may come later in the file) and then the progress command, with the
 * user. */
#include <string.h>

#include "args.h"
#include "argv.h"
#include "stream_tensor.h"
#include "trigger.h"

RedisModuleType *AITriggerType = NULL;

#define MAX_ARGS (1 << 20)

static RedisModuleString *copy(RedisModuleString *s) {
    size_t len;
    const char *p = RedisModule_StringPtrLen(s, &len);
    return RedisModule_CreateString(NULL, p, len);
}

/* Whether the DAG's PERSIST names the stream (its header: before the first `|>`). */
static int persists_to(RedisModuleString **args, int nargs, RedisModuleString *stream) {
    for (int i = 0; i + 1 < nargs && !ai_arg_is(args[i], "|>"); i++) {
        long long n;
        if (!ai_arg_is(args[i], "PERSIST") ||
            RedisModule_StringToLongLong(args[i + 1], &n) != REDISMODULE_OK)
            continue;
        for (long long k = 0; k < n && i + 2 + k < nargs; k++)
            if (!RedisModule_StringCompare(args[i + 2 + k], stream)) return 1;
    }
    return 0;
}

AITrigger *trigger_new(int dbid, RedisModuleString *name, RedisModuleString *stream,
                       RedisModuleString **args, int nargs) {
    AITrigger *t = RedisModule_Calloc(1, sizeof *t);
    t->refcount = 1;
    t->alive = 1;
    t->dbid = dbid;
    t->name = copy(name);
    t->stream = copy(stream);
    t->nargs = nargs;
    t->args = RedisModule_Calloc(nargs ? nargs : 1, sizeof *t->args);
    for (int i = 0; i < nargs; i++) t->args[i] = copy(args[i]);
    t->feeds_itself = persists_to(t->args, nargs, t->stream);
    return t;
}

void trigger_set_user(AITrigger *t, const char *user, size_t len) {
    if (t->user) RedisModule_Free(t->user);
    t->user = NULL;
    if (!user || !len) return;
    t->user = RedisModule_Alloc(len + 1);
    memcpy(t->user, user, len);
    t->user[len] = '\0';
}

AITrigger *trigger_share(AITrigger *t) {
    __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
    return t;
}

void trigger_release(AITrigger *t) {
    if (__atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    RedisModule_FreeString(NULL, t->name);
    RedisModule_FreeString(NULL, t->stream);
    for (int i = 0; i < t->nargs; i++) RedisModule_FreeString(NULL, t->args[i]);
    RedisModule_Free(t->args);
    if (t->last_error) RedisModule_Free(t->last_error);
    if (t->user) RedisModule_Free(t->user);
    RedisModule_Free(t);
}

int trigger_alive(const AITrigger *t) { return __atomic_load_n(&t->alive, __ATOMIC_ACQUIRE); }

RedisModuleString **trigger_dag_argv(const AITrigger *t, int *argc) {
    RedisModuleString **argv = RedisModule_Alloc(sizeof *argv * (t->nargs + 1));
    argv[0] = RedisModule_CreateString(NULL, "AI.DAGEXECUTE", 13);
    memcpy(argv + 1, t->args, sizeof *argv * t->nargs);
    *argc = t->nargs + 1;
    return argv;
}

void trigger_dag_argv_free(RedisModuleString **argv) {
    RedisModule_FreeString(NULL, argv[0]);
    RedisModule_Free(argv);
}

static void rdb_save(RedisModuleIO *io, void *value) {
    AITrigger *t = value;
    RedisModule_SaveString(io, t->stream);
    RedisModule_SaveUnsigned(io, (uint64_t)t->nargs);
    for (int i = 0; i < t->nargs; i++) RedisModule_SaveString(io, t->args[i]);
    RedisModule_SaveUnsigned(io, t->last_processed.ms);
    RedisModule_SaveUnsigned(io, t->last_processed.seq);
    RedisModule_SaveStringBuffer(io, t->user ? t->user : "", t->user ? strlen(t->user) : 0);
}

/* Strings loaded so far are freed by the caller on error. */
static int load_args(RedisModuleIO *io, RedisModuleString **args, uint64_t n) {
    for (uint64_t i = 0; i < n; i++) {
        args[i] = RedisModule_LoadString(io);
        if (RedisModule_IsIOError(io)) return -1;
    }
    return 0;
}

static void free_strings(RedisModuleString **args, uint64_t n) {
    for (uint64_t i = 0; i < n; i++)
        if (args[i]) RedisModule_FreeString(NULL, args[i]);
    RedisModule_Free(args);
}

static AITrigger *load_trigger(RedisModuleIO *io, RedisModuleString *stream) {
    uint64_t n = RedisModule_LoadUnsigned(io);
    if (RedisModule_IsIOError(io) || n > MAX_ARGS) return NULL;
    RedisModuleString **args = RedisModule_Calloc(n ? n : 1, sizeof *args);
    RedisModuleStreamID id = {0, 0};
    char *user = NULL;
    size_t userlen = 0;
    if (load_args(io, args, n) == 0) {
        id.ms = RedisModule_LoadUnsigned(io);
        id.seq = RedisModule_LoadUnsigned(io);
        user = RedisModule_LoadStringBuffer(io, &userlen);
    }
    AITrigger *t = NULL;
    const RedisModuleString *name = RedisModule_GetKeyNameFromIO(io);
    if (!RedisModule_IsIOError(io) && name) {
        t = trigger_new(RedisModule_GetDbIdFromIO(io), (RedisModuleString *)name, stream, args,
                        (int)n);
        t->last_started = t->last_processed = id;
        trigger_set_user(t, user, userlen);
    }
    if (user) RedisModule_Free(user);
    free_strings(args, n);
    return t;
}

static void *rdb_load(RedisModuleIO *io, int encver) {
    AITrigger *t = NULL;
    if (encver == AI_TRIGGER_ENCVER) {
        RedisModuleString *stream = RedisModule_LoadString(io);
        if (!RedisModule_IsIOError(io)) t = load_trigger(io, stream);
        if (stream) RedisModule_FreeString(NULL, stream);
    }
    if (!t) {
        RedisModule_LogIOError(io, "warning", "corrupt or unsupported AI_TRIGGER value");
        return NULL;
    }
    trigger_register(t);
    return t;
}

static void aof_rewrite(RedisModuleIO *aof, RedisModuleString *keyname, void *value) {
    AITrigger *t = value;
    AIArgv a = {0};
    argv_add_string(&a, keyname);
    argv_add_cstr(&a, "ON");
    argv_add_string(&a, t->stream);
    argv_add_cstr(&a, "DAG");
    for (int i = 0; i < t->nargs; i++) argv_add_string(&a, t->args[i]);
    RedisModule_EmitAOF(aof, "AI.TRIGGERSTORE", "v", a.v, a.n);
    argv_free(&a);
    char id[48];
    int len = stream_id_format(t->last_processed, id, sizeof id);
    if (t->user)
        RedisModule_EmitAOF(aof, AI_TRIGGER_PROGRESS_CMD, "sbc", keyname, id, (size_t)len, t->user);
    else
        RedisModule_EmitAOF(aof, AI_TRIGGER_PROGRESS_CMD, "sb", keyname, id, (size_t)len);
}

static size_t string_usage(RedisModuleString *s) {
    size_t len;
    RedisModule_StringPtrLen(s, &len);
    return sizeof(void *) * 2 + len;
}

static size_t mem_usage(const void *value) {
    const AITrigger *t = value;
    size_t n = sizeof *t + string_usage(t->name) + string_usage(t->stream);
    for (int i = 0; i < t->nargs; i++) n += sizeof(void *) + string_usage(t->args[i]);
    if (t->last_error) n += strlen(t->last_error) + 1;
    if (t->user) n += strlen(t->user) + 1;
    return n;
}

/* Any thread (a lazy FLUSHALL frees values on a background thread): see trigger.h. */
static void free_value(void *value) {
    AITrigger *t = value;
    __atomic_store_n(&t->alive, 0, __ATOMIC_RELEASE);
    trigger_release(t);
}

/* Main thread: the key let the value go (DEL, overwrite, expiry, and RENAME or MOVE,
 * which keep the value under another name the trigger does not know). No new runs. */
static void unlink_value(RedisModuleString *key, const void *value) {
    (void)key;
    __atomic_store_n(&((AITrigger *)value)->alive, 0, __ATOMIC_RELEASE);
}

int trigger_type_register(RedisModuleCtx *ctx) {
    RedisModuleTypeMethods tm = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = rdb_load,
        .rdb_save = rdb_save,
        .aof_rewrite = aof_rewrite,
        .mem_usage = mem_usage,
        .free = free_value,
        .unlink = unlink_value,
    };
    AITriggerType = RedisModule_CreateDataType(ctx, "AITRIGGER", AI_TRIGGER_ENCVER, &tm);
    return AITriggerType ? REDISMODULE_OK : REDISMODULE_ERR;
}
