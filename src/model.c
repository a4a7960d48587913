/* The pure model layer; see model.h. */
#include "model.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "backends.h"
#include "config.h"
#include "free_thread.h"
#include "pending.h"
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
 * framework parsed, which it holds at least once. Takes the GIL: never the main thread. */
static long long memory_held(const AIModel *m, void *handle) {
    long long bytes = bridge_model_memory(handle);
    return bytes < 0 ? (long long)m->bloblen : bytes;
}

int model_load_into(const AIModel *m, const AINames *given_inputs, const AINames *given_outputs,
                    AIModelLoaded *l, AIError *err) {
    AIBackendOpts opts = {
        .intra_op = ai_config.intra_op_parallelism,
        .inter_op = ai_config.inter_op_parallelism,
        .execution_timeout_ms = ai_config.model_execution_timeout,
        .memory_limit_mb = ai_config.backend_memory_limit,
    };
    *l = (AIModelLoaded){0};
    int rc =
        bridge_model_load(ai_backend_name(m->backend), m->device, m->blob, m->bloblen, given_inputs,
                          given_outputs, &opts, &l->handle, &l->inputs, &l->outputs, err);
    if (rc == 0) {
        l->runner = bridge_model_runner(l->handle);
        l->held_bytes = memory_held(m, l->handle);
        return 0;
    }
    ai_names_free(&l->inputs);
    ai_names_free(&l->outputs);
    return rc;
}

void model_adopt(AIModel *m, AIModelLoaded *l) {
    m->handle = l->handle;
    m->runner = l->runner;
    ai_names_free(&m->inputs);
    ai_names_free(&m->outputs);
    m->inputs = l->inputs;
    m->outputs = l->outputs;
    m->held_bytes = l->held_bytes;
    ai_backend_memory_add(m->backend, m->held_bytes);
    *l = (AIModelLoaded){0};
}

int model_load(AIModel *m, const AINames *given_inputs, const AINames *given_outputs,
               AIError *err) {
    AIModelLoaded l;
    if (model_load_into(m, given_inputs, given_outputs, &l, err) != 0) return -1;
    model_adopt(m, &l);
    return 0;
}

void model_wait_built(AIModel *m) { pending_wait(&m->pending); }

void model_keep_blob_string(AIModel *m, RedisModuleString *s) {
    RedisModule_RetainString(NULL, s);
    m->blob_str = s;
    m->blob = (char *)RedisModule_StringPtrLen(s, &m->bloblen);
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
    if (m->blob_str)
        RedisModule_FreeString(NULL, m->blob_str);
    else if (m->blob)
        RedisModule_Free(m->blob);
    if (m->key) RedisModule_Free(m->key);
    RedisModule_Free(m);
}

void model_release(AIModel *m) {
    if (!m || __atomic_sub_fetch(&m->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    if (m->handle) ai_backend_memory_add(m->backend, -m->held_bytes);
    if (m->handle) bridge_free_later(m->handle);
    /* An argument string is dropped only once Redis dropped its own references to it
     * (free_after_command), whichever thread lets the model go. */
    if (m->blob_str)
        free_after_command(model_free, m);
    else
        free_later(model_free, m);
}

size_t model_mem_usage(const AIModel *m) { return sizeof *m + m->bloblen + m->taglen; }
