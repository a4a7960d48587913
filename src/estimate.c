/* Run-time estimates; see estimate.h. An exponential moving average with weight 1/4 on
 * the newest run: it follows a model that got slower within a few runs, and one slow
 * run moves it by a quarter only. */
#include "estimate.h"

static int slot_of(long long rows) {
    int k = 0;
    while (rows > 1 && k < AI_ESTIMATE_SLOTS - 1) rows >>= 1, k++;
    return k;
}

static long long load(const AIEstimate *e, int k) {
    return __atomic_load_n(&e->us[k], __ATOMIC_RELAXED);
}

void estimate_record(AIEstimate *e, long long rows, long long us) {
    if (us <= 0) us = 1; /* a run was seen: never "unknown" again */
    int k = slot_of(rows);
    long long old = load(e, k);
    long long avg = old ? old + (us - old) / 4 : us;
    __atomic_store_n(&e->us[k], avg > 0 ? avg : 1, __ATOMIC_RELAXED);
}

/* The known slot nearest to k, or -1. */
static int nearest_known(const AIEstimate *e, int k) {
    for (int d = 0; d < AI_ESTIMATE_SLOTS; d++) {
        if (k - d >= 0 && load(e, k - d)) return k - d;
        if (k + d < AI_ESTIMATE_SLOTS && load(e, k + d)) return k + d;
    }
    return -1;
}

long long estimate_run_us(const AIEstimate *e, long long rows) {
    int k = slot_of(rows), known = nearest_known(e, k);
    if (known < 0) return 0;
    long long us = load(e, known);
    /* From a smaller batch, scale by rows; from a larger one, a smaller batch costs no
     * more than it did. */
    return known < k ? us * (rows >> known) : us;
}

long long estimate_queued_us(const AIEstimate *e, long long rows, int batching) {
    if (!batching || rows <= 0) return estimate_run_us(e, rows);
    for (int k = AI_ESTIMATE_SLOTS - 1; k >= 0; k--) {
        long long us = load(e, k);
        if (us) return us * rows / (1LL << k); /* per row of the largest batch seen */
    }
    return 0;
}
