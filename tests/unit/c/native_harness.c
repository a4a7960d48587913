/* Drives a native runner (src/native_runner.h) the way the core's workers do: from C
 * threads that hold no GIL. Built as a shared library by tests/unit/test_native_runners.py
 * and called through ctypes, which releases the GIL around each call. */
#include <dlpack/dlpack.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "native_runner.h"

enum { MAX_OUTPUTS = 16 };

/* Deletes what one successful run returned. */
static void drop(DLManagedTensor **outputs, int n) {
    for (int i = 0; i < n; i++) outputs[i]->deleter(outputs[i]);
}

/* Nanoseconds per run over iters runs (outputs deleted each time), or -1 if one failed. */
double harness_time(const AINativeRunner *r, const DLTensor *const *inputs, int nin, int nout,
                    int iters) {
    DLManagedTensor *outputs[MAX_OUTPUTS];
    char err[256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < iters; i++) {
        if (r->run(r->ctx, inputs, nin, outputs, nout, err, sizeof(err))) return -1;
        drop(outputs, nout);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / iters;
}

typedef struct {
    const AINativeRunner *r;
    const DLTensor *const *inputs;
    int nin, nout, iters;
    int failures;
    double first; /* the first element of output 0 of the last run, as a double */
} Job;

static double first_value(const DLTensor *t) {
    if (t->dtype.code == kDLFloat && t->dtype.bits == 32) return *(const float *)t->data;
    if (t->dtype.code == kDLFloat && t->dtype.bits == 64) return *(const double *)t->data;
    if (t->dtype.code == kDLInt && t->dtype.bits == 32) return *(const int32_t *)t->data;
    if (t->dtype.code == kDLInt && t->dtype.bits == 64) return (double)*(const int64_t *)t->data;
    return 0;
}

static void *worker(void *arg) {
    Job *job = arg;
    DLManagedTensor *outputs[MAX_OUTPUTS];
    char err[256];
    for (int i = 0; i < job->iters; i++) {
        if (job->r->run(job->r->ctx, job->inputs, job->nin, outputs, job->nout, err, sizeof(err))) {
            job->failures++;
            continue;
        }
        job->first = first_value(&outputs[0]->dl_tensor);
        drop(outputs, job->nout);
    }
    return NULL;
}

/* Runs iters runs on each of nthreads threads at once; the failed runs, or -1. Each
 * thread's last first output value goes to firsts[thread]. */
int harness_threads(const AINativeRunner *r, const DLTensor *const *inputs, int nin, int nout,
                    int nthreads, int iters, double *firsts) {
    Job *jobs = calloc((size_t)nthreads, sizeof(Job));
    pthread_t *threads = calloc((size_t)nthreads, sizeof(pthread_t));
    int failures = 0, started = 0;
    if (!jobs || !threads) failures = -1;
    for (; failures == 0 && started < nthreads; started++) {
        jobs[started] = (Job){r, inputs, nin, nout, iters, 0, 0};
        if (pthread_create(&threads[started], NULL, worker, &jobs[started])) {
            failures = -1;
            break;
        }
    }
    for (int t = 0; t < started; t++) {
        pthread_join(threads[t], NULL);
        if (failures >= 0) failures += jobs[t].failures;
        firsts[t] = jobs[t].first;
    }
    free(jobs);
    free(threads);
    return failures;
}
