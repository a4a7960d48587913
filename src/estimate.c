/* Run-time estimates; see estimate.h. Each slot keeps exponential moving averages, with
 * weight 1/4 on the newest run, of the run time and of its deviation from that average
 * (as TCP estimates round trips): it follows a model that got slower within a few runs,
 * one slow run moves it by a quarter only, and a model whose runs vary gets a margin. */
#include "estimate.h"

static int slot_of(long long rows) {
    int k = 0;
    while (rows > 1 && k < AI_ESTIMATE_SLOTS - 1) rows >>= 1, k++;
    return k;
}

static long long load(const int64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

static void store(int64_t *p, long long v) { __atomic_store_n(p, v, __ATOMIC_RELAXED); }

void estimate_record(AIEstimate *e, long long rows, long long us) {
    if (__atomic_add_fetch(&e->runs, 1, __ATOMIC_RELAXED) <= AI_ESTIMATE_SKIPPED_RUNS) return;
    if (us <= 0) us = 1; /* a run was learnt: never "unknown" again */
    int k = slot_of(rows);
    long long mean = load(&e->mean_us[k]), dev = load(&e->dev_us[k]);
    if (!mean) {
        store(&e->dev_us[k], us / 2);
        store(&e->mean_us[k], us);
        return;
    }
    long long diff = us > mean ? us - mean : mean - us;
    store(&e->dev_us[k], dev + (diff - dev) / 4);
    mean += (us - mean) / 4;
    store(&e->mean_us[k], mean > 0 ? mean : 1);
}

/* A slot's expected run time: its average plus twice its deviation; 0 when unknown. */
static long long expected(const AIEstimate *e, int k) {
    long long mean = load(&e->mean_us[k]);
    return mean ? mean + 4 * load(&e->dev_us[k]) : 0;
}

/* The known slot nearest to k, or -1. */
static int nearest_known(const AIEstimate *e, int k) {
    for (int d = 0; d < AI_ESTIMATE_SLOTS; d++) {
        if (k - d >= 0 && load(&e->mean_us[k - d])) return k - d;
        if (k + d < AI_ESTIMATE_SLOTS && load(&e->mean_us[k + d])) return k + d;
    }
    return -1;
}

long long estimate_run_us(const AIEstimate *e, long long rows) {
    int k = slot_of(rows), known = nearest_known(e, k);
    if (known < 0) return 0;
    long long us = expected(e, known);
    /* From a smaller batch, scale by rows; from a larger one, a smaller batch costs no
     * more than it did. */
    return known < k ? us * (rows >> known) : us;
}

long long estimate_queued_us(const AIEstimate *e, long long rows, int batching) {
    if (!batching || rows <= 0) return estimate_run_us(e, rows);
    for (int k = AI_ESTIMATE_SLOTS - 1; k >= 0; k--) {
        long long us = expected(e, k);
        if (us) return us * rows / (1LL << k); /* per row of the largest batch seen */
    }
    return 0;
}
