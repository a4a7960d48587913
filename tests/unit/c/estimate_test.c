/* Drives src/estimate.c without a server: an unseen model counts as 0, the first runs are
 * not learnt, the next sets the estimate, later runs move it by a quarter, varying runs widen the
 * margin, batch sizes keep slots of their own and a batching run is charged its share of the
 * largest batch seen. Built with AddressSanitizer by test_estimate.py. Prints "ok" or what failed.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "estimate.h"

/* A model past the runs that are not learnt. */
static void warm(AIEstimate *e) {
    memset(e, 0, sizeof *e);
    for (int i = 0; i < AI_ESTIMATE_SKIPPED_RUNS; i++) estimate_record(e, 1, 1000000);
}

static int unseen_and_steady(void) {
    AIEstimate e;
    memset(&e, 0, sizeof e);
    CHECK(estimate_run_us(&e, 1) == 0);
    CHECK(estimate_queued_us(&e, 4, 1) == 0);
    for (int i = 0; i < AI_ESTIMATE_SKIPPED_RUNS; i++) estimate_record(&e, 1, 1000000);
    CHECK(estimate_run_us(&e, 1) == 0); /* the first runs are not learnt */
    estimate_record(&e, 1, 1000);       /* the first learnt: mean 1000, deviation 500 */
    CHECK(estimate_run_us(&e, 1) == 1000 + 4 * 500);
    for (int i = 0; i < 200; i++) estimate_record(&e, 1, 1000);
    /* the deviation decays to what integer steps of a quarter leave (< 4 us) */
    CHECK(estimate_run_us(&e, 1) >= 1000 && estimate_run_us(&e, 1) <= 1015);
    estimate_record(&e, 1, 0); /* a run of 0 us still counts as seen */
    CHECK(estimate_run_us(&e, 1) > 0);
    return 0;
}

static int moves_by_a_quarter_and_widens(void) {
    AIEstimate e;
    warm(&e);
    for (int i = 0; i < 100; i++) estimate_record(&e, 1, 2000);
    long long steady = estimate_run_us(&e, 1);
    estimate_record(&e, 1, 6000); /* mean 3000, deviation about 1000 */
    CHECK(estimate_run_us(&e, 1) >= 3000 + 4 * 1000 && estimate_run_us(&e, 1) <= 3000 + 4 * 1004);
    CHECK(estimate_run_us(&e, 1) > steady);
    return 0;
}

static int batch_sizes(void) {
    AIEstimate e;
    warm(&e);
    for (int i = 0; i < 100; i++) estimate_record(&e, 8, 800); /* slot of 8..15 rows */
    long long eight = estimate_run_us(&e, 8);
    CHECK(eight >= 800 && eight <= 815);
    CHECK(estimate_run_us(&e, 12) == eight);          /* same slot */
    CHECK(estimate_run_us(&e, 2) == eight);           /* a smaller batch costs no more */
    CHECK(estimate_run_us(&e, 32) == eight * 4);      /* a larger one scales with rows */
    CHECK(estimate_queued_us(&e, 2, 1) == eight / 4); /* its share of a batch of 8 */
    CHECK(estimate_queued_us(&e, 2, 0) == eight);     /* alone when not batching */
    return 0;
}

int main(void) {
    if (unseen_and_steady() || moves_by_a_quarter_and_widens() || batch_sizes()) return 1;
    printf("ok\n");
    return 0;
}
