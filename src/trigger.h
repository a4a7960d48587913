/* Triggers (roadmap R2.3): a key of type AI_TRIGGER runs a DAG for every entry a client
 * adds to a stream.
 *
 * Three files: trigger_type.c (the value: create, share, release; the data type's RDB,
 * AOF rewrite, MEMORY USAGE, free), trigger_cmd.c (AI.TRIGGERSTORE, AI.TRIGGERGET, the
 * progress command, AI.INFO of a trigger) and trigger_run.c (the subscription to the
 * streams, starting runs, completing them in entry order, propagating progress, resuming
 * after a restart or a promotion).
 *
 * Ownership: a trigger is reference-counted. The key holds one reference, the registry of
 * trigger_run.c another, and every run in flight one; the key's is dropped by the type's
 * free callback (which may run on a lazy-free thread: it only clears `alive` and
 * releases), and the registry drops its own on the main thread once it sees the trigger
 * is no longer alive. The unlink callback clears `alive` as soon as the key lets the value
 * go, also when RENAME or MOVE keep it under another name. Everything else is main-thread
 * state. */
#pragma once
#include "redismodule.h"

#define AI_TRIGGER_ENCVER 1
/* Runs of one trigger in flight at most: more entries wait in the stream. */
#define AI_TRIGGER_WINDOW 64

typedef struct TriggerRun TriggerRun;

typedef struct AITrigger {
    long refcount; /* atomic */
    int alive;     /* atomic: 0 once the key let the trigger go */
    int dbid;
    RedisModuleString *name;   /* the trigger's key */
    RedisModuleString *stream; /* the key of the stream it follows */
    RedisModuleString **args;  /* the DAG: AI.DAGEXECUTE's arguments after its name */
    int nargs;
    char *user; /* who stored it: its runs' scripts call Redis as this ACL user; NULL: none */
    /* Entries up to last_started have a run started; up to last_processed, finished. */
    RedisModuleStreamID last_started, last_processed;
    /* The DAG appends to the trigger's own stream: entries with a `source` field there are
     * its own outputs, and are skipped rather than fed back to it. */
    int feeds_itself;
    long long runs, errors;
    char *last_error;         /* NULL: none yet */
    TriggerRun *first, *last; /* runs in flight, in entry order */
    int inflight;
    int scheduled;                  /* on trigger_run.c's list of triggers to serve */
    int progress_dirty;             /* last_processed not yet propagated */
    struct AITrigger *next_of_same; /* the registry's chain of one stream */
} AITrigger;

extern RedisModuleType *AITriggerType;

int trigger_type_register(RedisModuleCtx *ctx);

/* A trigger with copies of the strings given (args: nargs DAG arguments); one reference. */
AITrigger *trigger_new(int dbid, RedisModuleString *name, RedisModuleString *stream,
                       RedisModuleString **args, int nargs);
/* Sets the ACL user of t's runs (NULL: none). */
void trigger_set_user(AITrigger *t, const char *user, size_t len);
AITrigger *trigger_share(AITrigger *t);
void trigger_release(AITrigger *t);
int trigger_alive(const AITrigger *t);
/* "AI.DAGEXECUTE" then the DAG's arguments: an argv for dag_parse; free with
 * trigger_dag_argv_free. */
RedisModuleString **trigger_dag_argv(const AITrigger *t, int *argc);
void trigger_dag_argv_free(RedisModuleString **argv);

/* The command that carries a trigger's progress (and the user who stored it) to replicas
 * and the AOF: AI._TRIGGERPROGRESS <key> <last processed id> [<user>]. */
#define AI_TRIGGER_PROGRESS_CMD "AI._TRIGGERPROGRESS"

/* trigger_run.c, main thread. */
int trigger_run_init(RedisModuleCtx *ctx);
/* Follows t's stream from now on (the registry takes its own reference). */
void trigger_register(AITrigger *t);
/* Starts runs for entries after t's last started one, if this server is a master. */
void trigger_schedule(AITrigger *t);
/* Sets both ids to id: what a propagated progress or a loaded trigger resumes from. */
void trigger_seek(AITrigger *t, RedisModuleStreamID id);
/* For AI.INFO without arguments (roadmap R4): live triggers, their runs in flight, and
 * the runs and failed runs of all triggers since the server started. */
typedef struct AITriggerTotals {
    long long triggers, inflight, runs, errors;
} AITriggerTotals;
void trigger_totals(AITriggerTotals *totals);
/* Entries of the stream not yet processed. */
long long trigger_lag(RedisModuleCtx *ctx, const AITrigger *t);

/* trigger_cmd.c: AI.INFO <key> of a trigger key: REDISMODULE_OK when it replied (the key
 * holds a trigger), REDISMODULE_ERR (nothing sent) otherwise. */
int trigger_info_reply(RedisModuleCtx *ctx, RedisModuleString **argv, int argc);
int trigger_commands_register(RedisModuleCtx *ctx);
