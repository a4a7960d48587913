/* A DAG run (spec 5): its ops, its private tensor namespace, and its execution state.
 *
 * Tensor names are resolved to versions while parsing: every producing op (TENSORSET,
 * a model or script output) creates a new slot, and later ops read the slot that was the
 * name's latest version where they appear. LOAD fills slots from the keyspace at parse
 * time; TENSORSET ops are evaluated at parse time; TENSORGETs read their slot when the
 * reply is built. Model and script ops run on their devices' queues: one copy of the
 * run per device, each executing its own ops in order and putting itself back in its
 * queue when an op waits for a slot another device has yet to fill. */
#pragma once
#include "bridge.h"
#include "errors.h"
#include "handback.h"
#include "model.h"
#include "queue.h"
#include "redismodule.h"
#include "script.h"

enum { DAG_RO = 1, DAG_DEPRECATED = 2 };
typedef enum { DAG_TENSORSET, DAG_TENSORGET, DAG_MODEL, DAG_SCRIPT } DagOpKind;
enum { OP_PENDING = 0, OP_DONE, OP_FAILED, OP_SKIPPED };

typedef struct DagOp {
    DagOpKind kind;
    int fmt;        /* TENSORGET format */
    AIModel *model; /* one reference */
    AIScript *script;
    char *fn;
    AINames keys, args;
    int ninputs, noutputs;
    int *in_slots, *out_slots; /* TENSORSET/TENSORGET: out_slots[0] / in_slots[0] */
    AIQueue *queue;
    AIError err;
    int state; /* OP_*, atomic */
    long long duration_us;
    long long queue_wait_us; /* roadmap R4: from the DAG's queueing to the op's start */
} DagOp;

typedef struct Dag {
    RedisModuleBlockedClient *bc;
    AIHandback handback; /* how the last op's worker hands the client back */
    int flags;
    DagOp *ops;
    int nops;
    AITensor **slots; /* filled once each, then published with slot_ready */
    int *slot_ready;
    int nslots;
    RedisModuleString **persist_keys; /* retained */
    int *persist_slots;
    int npersist;
    long long timeout_ms;
    uint64_t deadline_us;  /* from timeout_ms when queued (deadline.h) */
    int failed, timed_out; /* atomic */
    int copies_left;       /* atomic: device copies still running */
    AIScriptCallCtx call;
    /* Set instead of bc by an asynchronous DAG (dag_async.h): the last copy to finish calls
     * done(d) on its worker, which hands d to the main thread. */
    void (*done)(struct Dag *d);
    void (*started)(struct Dag *d); /* worker, asynchronous DAGs: its first op starts */
    void *owner;                    /* the registry entry of an asynchronous DAG */
    uint64_t started_us;            /* atomic: when a worker began its first op, 0 before */
    AIError persist_err;            /* set by dag_persist when a PERSIST key could not be written */
    /* Time to response (roadmap R3): the header's TTR, its deadline and when the copies
     * were queued (dag_ttr.c). */
    long long ttr_ms;
    uint64_t ttr_deadline_us, queued_us;
    /* A trigger's run (roadmap R2.3): the input entry, written as `source` beside every
     * tensor PERSIST appends to a stream. */
    RedisModuleStreamID source;
    int has_source;
} Dag;

/* A trigger's DAG (roadmap R2.3): a LOAD of `stream` reads its entry *id instead of its
 * newest; with id NULL (checking a DAG while a trigger is stored, when there may be no
 * entry yet) it loads a placeholder tensor. */
typedef struct DagStreamBinding {
    RedisModuleString *stream;
    const RedisModuleStreamID *id;
} DagStreamBinding;

/* Parses a whole DAG command (argv[0] its name) into *dag: REDISMODULE_OK, or
 * REDISMODULE_ERR with err set by the first error. */
int dag_parse(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags, Dag **dag,
              AIError *err);
/* dag_parse with a trigger's binding (b may be NULL). */
int dag_parse_bound(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags,
                    const DagStreamBinding *b, Dag **dag, AIError *err);
void dag_free(Dag *d);
/* True when some op runs on a device (otherwise the DAG completes at parse time). */
int dag_needs_workers(const Dag *d);
/* Queues one copy per device; the last copy to finish unblocks the client. */
void dag_start(Dag *d);
/* Main thread, once the run is over: writes the PERSIST keys of a DAG that succeeded,
 * replicating each as AI.TENSORSET; a key of another type stops it with persist_err set. */
void dag_persist(RedisModuleCtx *ctx, Dag *d);
/* Main thread, after dag_persist: the command's reply. It leaves d unchanged, so it can be
 * sent again (AI.DAGINFO). */
void dag_reply(RedisModuleCtx *ctx, Dag *d);
/* Main thread: what a run started by the command in ctx keeps of its caller (database,
 * user) for the scripts' Redis calls. */
void dag_set_caller(RedisModuleCtx *ctx, Dag *d);
/* The getkeys-api answer of every DAG command. */
int dag_command_keys(RedisModuleCtx *ctx, int argc, RedisModuleString **argv);
/* The same for DAG arguments inside another command: argv[0] stands before the DAG's first
 * argument, at position offset of the command. */
void dag_command_keys_at(RedisModuleCtx *ctx, int argc, RedisModuleString **argv, int offset);
/* Main thread: statistics of the ops that ran. */
void dag_record(Dag *d);

/* Time to response (roadmap R3), dag_ttr.c. Main thread, after parsing, before anything
 * is queued: REDISMODULE_OK when the DAG's TTR (if any) can be met, else REDISMODULE_ERR
 * with err set, the refusal counted for each model and script of the DAG. */
int dag_admit(Dag *d, AIError *err);
/* dag_parse, then dag_admit: the DAG of a command, or REDISMODULE_ERR with err set and
 * nothing left allocated. */
int dag_parse_admitted(RedisModuleCtx *ctx, RedisModuleString **argv, int argc, int flags,
                       Dag **dag, AIError *err);
/* Main thread, dag_start: the deadlines from now, and each copy's estimated cost. */
void dag_set_deadlines(Dag *d, uint64_t now_us);
long long dag_copy_cost(const Dag *d, const AIQueue *q);
/* Worker, after op o ran: its estimate. */
void dag_op_estimate(Dag *d, DagOp *o);
/* Main thread, dag_record: queue waits and TTR misses of the ops. */
void dag_record_ttr(Dag *d);
