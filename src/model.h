/* The model: its serialized bytes and settings, kept in C memory, beside the backend's
 * loaded object (an opaque bridge handle).
 *
 * RDB, AOF, replication and AI.MODELGET use only the C side, so a fork child never needs
 * the interpreter. Models are reference-counted: a queued run holds a reference, so a
 * DEL or overwrite never disturbs it. The last release, on whatever thread, hands the
 * loaded object to the loader thread (which takes the GIL) and the C side, blob
 * included, to the free thread (free_thread.h): the main thread never waits on the GIL
 * to free a model, nor pays for handing its pages back. */
#pragma once
#include "bridge.h"
#include "errors.h"
#include "estimate.h"
#include "pending.h"
#include "queue.h"

enum { AI_BACKEND_TF = 0, AI_BACKEND_TFLITE, AI_BACKEND_TORCH, AI_BACKEND_ONNX, AI_BACKEND__COUNT };

int ai_backend_by_name(const char *name, size_t len);
const char *ai_backend_name(int backend);
/* CPU, GPU, CPU:<digits>, GPU:<digits>, any case, shorter than 10 characters. */
int ai_device_valid(const char *device, size_t len);

typedef struct AIModel {
    int backend;
    char *device; /* as the client gave it */
    char *tag;
    size_t taglen;
    long long batchsize, minbatchsize, minbatchtimeout;
    AINames inputs, outputs;
    char *blob;
    size_t bloblen;
    /* The command argument blob points into (retained, so its bytes are not copied), or
     * NULL when blob is an allocation of its own. */
    RedisModuleString *blob_str;
    void *handle; /* the backend's loaded model; NULL until loaded, or if refused */
    /* A model the policy refuses (ai_error_is_refusal) that came from the server's own
     * data (RDB, AOF, a master): kept so nothing is lost, never run; every run replies
     * with this error (model_from_key). AI_OK otherwise. */
    AIError refused;
    /* Its native runner (owned by handle), or NULL: runs take the Python path. Set with
     * handle, when the backend made one and NATIVE_RUNS allows it. */
    const AINativeRunner *runner;
    /* Set while the loader thread builds the backend side of a model stored before it
     * was built (a replica's, pending.h): handle, runner and the names are not there yet,
     * and whoever needs them calls model_wait_built first. Main thread only. */
    AIPending *pending;
    AIQueue *queue;
    char *key; /* the key it is stored under, for its run statistics */
    size_t keylen;
    long refcount;
    AIEstimate estimate;  /* its run times, for TTR admission (roadmap R3) */
    long long held_bytes; /* what its framework holds, counted in AI.INFO (roadmap R4) */
} AIModel;

/* A model not yet loaded, taking over blob (RedisModule_Alloc'd; may be set later). */
AIModel *model_new(int backend, const char *device, const char *tag, size_t taglen, char *blob,
                   size_t bloblen);
/* Loads it with its backend (takes the GIL); may run on any thread. */
int model_load(AIModel *m, const AINames *given_inputs, const AINames *given_outputs, AIError *err);

/* What loading adds to a model, apart from it (model_load is load_into + adopt). */
typedef struct AIModelLoaded {
    void *handle;
    const AINativeRunner *runner;
    AINames inputs, outputs;
    long long held_bytes; /* what the backend holds for it (AI.INFO) */
} AIModelLoaded;
/* Loads m's bytes into l, reading only m's immutable C side: any thread. */
int model_load_into(const AIModel *m, const AINames *given_inputs, const AINames *given_outputs,
                    AIModelLoaded *l, AIError *err);
/* Moves l into m, whose names it replaces. */
void model_adopt(AIModel *m, AIModelLoaded *l);
/* Main thread (or the Redis lock held): returns once m is built (see pending). */
void model_wait_built(AIModel *m);
/* Main thread: the model's bytes are the argument s (one chunk), kept without a copy. */
void model_keep_blob_string(AIModel *m, RedisModuleString *s);
AIModel *model_share(AIModel *m);
void model_release(AIModel *m);
size_t model_mem_usage(const AIModel *m);

/* Drops a backend object (model or script) on the loader thread, which takes the GIL,
 * so that the main thread never waits for it. */
void bridge_free_later(void *handle);
