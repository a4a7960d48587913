/* TIMEOUT and TTR of the run commands (spec 3.5, 4.4, 5; roadmap R3), read in one place,
 * and the admission of a run with a TTR.
 *
 * TIMEOUT drops a run that waited too long, after the fact. TTR (time to response) also
 * predicts: at admission, on the main thread, the response time is estimated as the work
 * queued ahead on the run's queue (queue_wait_us) plus the run's own expected time
 * (estimate.h); a run that would answer later than its TTR is refused at once, with
 * nothing queued. An admitted run still waiting when its TTR elapses is dropped as for
 * TIMEOUT, and queues serve runs with a TTR earliest-deadline-first (queue.h). */
#pragma once
#include <stdint.h>

#include "errors.h"
#include "redismodule.h"

typedef struct AILimits {
    long long timeout_ms; /* 0: none */
    long long ttr_ms;     /* 0: none */
    int seen;             /* AI_LIMIT_* bits of the keywords read */
} AILimits;

enum { AI_LIMIT_TIMEOUT = 1, AI_LIMIT_TTR = 2 };

/* How a command reads TIMEOUT: the text when its value is missing (commands differ), and
 * whether a negative value means none (a DAG's header, as in RedisAI) rather than an
 * error. TTR is read the same way everywhere: a positive integer. */
typedef struct AILimitRules {
    AIErrCode timeout_missing;
    int negative_timeout_is_none;
} AILimitRules;

/* When argv[*i] is TIMEOUT or TTR not read before, reads its value, moves *i past it and
 * returns 1; returns 0 (and leaves *i) for any other argument or a repeated keyword, so
 * that the command's own "unexpected argument" error applies; -1 with err set on a
 * missing or bad value. */
int ai_limit_parse(RedisModuleString **argv, int argc, int *i, AILimits *l,
                   const AILimitRules *rules, AIError *err);
/* Reads every TIMEOUT and TTR from argv[*i] on, as above: REDISMODULE_OK or
 * REDISMODULE_ERR. */
int ai_limits_parse(RedisModuleString **argv, int argc, int *i, AILimits *l,
                    const AILimitRules *rules, AIError *err);

/* The deadline of ttr_ms from start_us; 0 without a TTR. */
uint64_t ttr_deadline(uint64_t start_us, long long ttr_ms);
/* Main thread, O(1): REDISMODULE_OK when a run expected to wait wait_us and then take
 * run_us may answer within ttr_ms (always without a TTR), else REDISMODULE_ERR with err
 * set to the refusal naming the estimate. */
int ttr_admit(long long ttr_ms, long long wait_us, long long run_us, AIError *err);
