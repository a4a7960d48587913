/* Run-time estimates of a model or script (roadmap R3): a moving average of its recent
 * run times, per batch size when the model batches, that admission reads to predict a
 * response time.
 *
 * Threads: workers write an estimate after each run, the main thread reads it when a run
 * is admitted. Every slot is one 64-bit word read and written atomically, without a
 * lock: two workers finishing runs of one model at once may lose one sample of the
 * average, which an estimate can afford. A slot of 0 means "no run seen": the first runs
 * of an unseen model count as 0 (the spec), never as a guess. */
#pragma once
#include <stdint.h>

/* Slot 0: runs of a model without batching (and scripts), or batches of 1 row; slot k:
 * batches of 2^k .. 2^(k+1)-1 rows. */
#define AI_ESTIMATE_SLOTS 16

/* The first runs of a model are not learnt: they count as 0, and TorchScript, for one,
 * optimises a model over its first runs, which are many times slower than the next. */
#define AI_ESTIMATE_SKIPPED_RUNS 2

typedef struct AIEstimate {
    int64_t mean_us[AI_ESTIMATE_SLOTS]; /* 0: no run learnt */
    int64_t dev_us[AI_ESTIMATE_SLOTS];
    int64_t runs; /* runs recorded, the skipped ones included */
} AIEstimate;

/* Worker: a run of `rows` rows (0 or 1 when the model does not batch) took us; learnt
 * from the third run on. */
void estimate_record(AIEstimate *e, long long rows, long long us);
/* Main thread: the expected time of one run of rows rows, alone (the average run time
 * plus twice its mean deviation: an estimate meant to be exceeded rarely); 0 when
 * unknown. */
long long estimate_run_us(const AIEstimate *e, long long rows);
/* Main thread: what a queued run of rows rows adds to its queue's work. A model that
 * batches runs it merged with others: it then costs its share of the largest batch seen,
 * not a whole run. */
long long estimate_queued_us(const AIEstimate *e, long long rows, int batching);
