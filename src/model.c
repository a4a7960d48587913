/* The pure model layer; see model.h. */
#include "model.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "backends.h"
#include "config.h"
#include "free_thread.h"
#include "strdup.h"

static const char *const backend_names[AI_BACKEND__COUNT] = {"TF", "TFLITE", "TORCH", "ONNX"};

int ai_backend_by_name(const char *name, size_t len) {
    for (int b = 0; b < AI_BACKEND__COUNT; b++)
        if (strlen(backend_names[b]) == len && !strncasecmp(backend_names[b], name, len)) return b;
    return -1;
}

const char *ai_backend_name(int backend) { return backend_names[backend]; }

int ai_device_valid(const char *device, size_t len) {
    if (len >= 10 || len < 3) return 0;
    if (strncasecmp(device, "CPU", 3) && strncasecmp(device, "GPU", 3)) return 0;
    if (len == 3) return 1;
    if (device[3] != ':') return 0;
    for (size_t i = 4; i < len; i++)
        if (!isdigit((unsigned char)device[i])) return 0;
    return 1;
}

AIModel *model_new(int backend, const char *device, const char *tag, size_t taglen, char *blob,
                   size_t bloblen) {
    AIModel *m = RedisModule_Calloc(1, sizeof *m);
    m->backend = backend;
    m->device = RedisModule_Strdup(device);
    m->tag = ai_strndup(tag, taglen);
    m->taglen = taglen;
    m->blob = blob;
    m->bloblen = bloblen;
    m->refcount = 1;
    return m;
}

/* Best effort (roadmap R4): what the backend reports, else the size of the bytes the
 * framework parsed, which it holds at least once. */
static void model_count_memory(AIModel *m) {
    m->held_bytes = bridge_model_memory(m->handle);
    if (m->held_bytes < 0) m->held_bytes = (long long)m->bloblen;
    ai_backend_memory_add(m->backend, m->held_bytes);
}

int model_load(AIModel *m, const AINames *given_inputs, const AINames *given_outputs,
               AIError *err) {
    AIBackendOpts opts = {
        .intra_op = ai_config.intra_op_parallelism,
        .inter_op = ai_config.inter_op_parallelism,
        .execution_timeout_ms = ai_config.model_execution_timeout,
        .memory_limit_mb = ai_config.backend_memory_limit,
    };
    int rc =
        bridge_model_load(ai_backend_name(m->backend), m->device, m->blob, m->bloblen, given_inputs,
                          given_outputs, &opts, &m->handle, &m->inputs, &m->outputs, err);
    if (rc == 0) m->runner = bridge_model_runner(m->handle);
    if (rc == 0) model_count_memory(m);
    return rc;
}

AIModel *model_share(AIModel *m) {
    __atomic_add_fetch(&m->refcount, 1, __ATOMIC_RELAXED);
    return m;
}

typedef struct FreeJob {
    AIJob job;
    void *handle;
} FreeJob;

static void free_handle(AIJob *job) {
    bridge_model_free(((FreeJob *)job)->handle);
    RedisModule_Free(job);
}

void bridge_free_later(void *handle) {
    FreeJob *job = RedisModule_Calloc(1, sizeof *job);
    job->job.execute = free_handle;
    job->handle = handle;
    queue_push(queue_loader(), &job->job);
}

/* Free thread: the C side, the blob included. */
static void model_free(void *arg) {
    AIModel *m = arg;
    ai_error_clear(&m->refused);
    ai_names_free(&m->inputs);
    ai_names_free(&m->outputs);
    RedisModule_Free(m->device);
    RedisModule_Free(m->tag);
    if (m->blob) RedisModule_Free(m->blob);
    if (m->key) RedisModule_Free(m->key);
    RedisModule_Free(m);
}

void model_release(AIModel *m) {
    if (!m || __atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    if (m->handle) ai_backend_memory_add(m->backend, -m->held_bytes);
    if (m->handle) bridge_free_later(m->handle);
    free_later(model_free, m);
}

size_t model_mem_usage(const AIModel *m) { return sizeof *m + m->bloblen + m->taglen; }
