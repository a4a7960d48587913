/* The ONNX backend's native runner (src/native_runner.h): runs a CPU model through ONNX
 * Runtime's C API, with no Python and no GIL.
 *
 * Which ORT: the one inside the onnxruntime Python package (its extension carries its own
 * copy and exports no C API), so that runner and Python path share one environment, its
 * thread settings and the counting allocator the module puts in it (src/onnx_memory.c).
 * The way into that copy is the one onnx_memory.c takes: a custom-op library gets the
 * OrtApiBase in RegisterCustomOps. This extension is such a library itself (the backend
 * registers its file once; ORT's dlopen finds the extension Python already loaded), rather
 * than asking the module for the pointer: outside the server (unit tests) there is no
 * module, and the module is loaded RTLD_LOCAL, so a backend extension cannot look it up.
 * No ORT library is linked.
 *
 * A model gets a session of its own here, created from the same bytes with the options the
 * Python path uses (intra/inter-op threads, log level, the environment's counting allocator
 * and no arena when the module registered it). The backend then makes its Python session
 * only when a Python run needs it, so the weights are held once (the backend keeps the
 * blob's bytes for that, in Python memory). Models with a string or non-tensor input or
 * output get no runner, and neither do GPU ones.
 *
 * MODEL_EXECUTION_TIMEOUT: a run is given RunOptions that one watchdog thread terminates at
 * its deadline (ORT then fails the run with its own text, as on the Python path).
 * BACKEND_MEMORY_LIMIT: the backend keeps the bytes its live models hold in `held` (hold());
 * a run whose outputs do not fit beside them fails with the Python path's text.
 *
 * Only load() and hold() touch Python, with the GIL held; the runner (onnx_run and below)
 * never does. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlpack/dlpack.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "native_runner.h"
#include "onnxruntime/onnxruntime_c_api.h"

#define MEMORY_ERR "Onnxruntime memory limit exceeded, memory allocation failed."

static const OrtApi *api; /* set by RegisterCustomOps */
static OrtEnv *env;       /* ORT's process-wide environment (the Python package's) */
static OrtMemoryInfo *cpu;
static unsigned long long held; /* bytes of the live CPU models loaded under a limit */
static PyObject *Error;

/* Called by ORT when the backend registers this file as a custom-op library. */
__attribute__((visibility("default"))) OrtStatus *ORT_API_CALL
RegisterCustomOps(OrtSessionOptions *options, const OrtApiBase *base) {
    (void)options;
    const OrtApi *a = base->GetApi(ORT_API_VERSION);
    if (!a) return base->GetApi(1)->CreateStatus(ORT_FAIL, "ONNX Runtime older than the header");
    __atomic_store_n(&api, a, __ATOMIC_RELEASE);
    return NULL;
}

/* ------------------------------------------------------------------------- dtypes */

enum { DL_BOOL = 6 }; /* kDLBool of DLPack >= 0.8 (Debian's header is older) */

static const struct {
    ONNXTensorElementDataType ort;
    uint8_t code, bits;
} DTYPES[] = {
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT, kDLFloat, 32},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE, kDLFloat, 64},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16, kDLFloat, 16},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16, kDLBfloat, 16},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8, kDLInt, 8},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16, kDLInt, 16},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32, kDLInt, 32},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64, kDLInt, 64},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8, kDLUInt, 8},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16, kDLUInt, 16},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32, kDLUInt, 32},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64, kDLUInt, 64},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL, DL_BOOL, 8},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX64, kDLComplex, 64},
    {ONNX_TENSOR_ELEMENT_DATA_TYPE_COMPLEX128, kDLComplex, 128},
};
enum { NDTYPES = sizeof(DTYPES) / sizeof(DTYPES[0]) };

static int row_of_ort(ONNXTensorElementDataType t) {
    for (int i = 0; i < NDTYPES; i++)
        if (DTYPES[i].ort == t) return i;
    return -1;
}

static int row_of_dl(DLDataType d) {
    for (int i = 0; i < NDTYPES; i++)
        if (DTYPES[i].code == d.code && DTYPES[i].bits == d.bits && d.lanes == 1) return i;
    return -1;
}

/* ------------------------------------------------------------------------ the watchdog */

/* A run under MODEL_EXECUTION_TIMEOUT, in the ring of watched runs while it lasts. */
typedef struct Watch {
    struct Watch *prev, *next; /* NULL once off the ring */
    struct timespec deadline;  /* CLOCK_MONOTONIC */
    OrtRunOptions *options;
} Watch;

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watch_wake;
static Watch ring = {&ring, &ring, {0, 0}, NULL};
static struct timespec wake_at; /* when the watchdog wakes next; {0, 0}: when told */
static int watchdog_state;      /* 0 not started, 1 running, -1 could not start */

static int before(struct timespec a, struct timespec b) {
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

static void unlink_watch(Watch *w) {
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

/* Terminates the runs past their deadline; sleeps until the next one (watch_lock held). */
static void *watchdog(void *arg) {
    (void)arg;
    pthread_mutex_lock(&watch_lock);
    for (;;) {
        struct timespec now, next = {0, 0};
        clock_gettime(CLOCK_MONOTONIC, &now);
        for (Watch *w = ring.next, *after; w != &ring; w = after) {
            after = w->next;
            if (!before(now, w->deadline)) {
                OrtStatus *s = api->RunOptionsSetTerminate(w->options);
                if (s) api->ReleaseStatus(s);
                unlink_watch(w);
            } else if (!next.tv_sec || before(w->deadline, next)) {
                next = w->deadline;
            }
        }
        wake_at = next;
        if (next.tv_sec)
            pthread_cond_timedwait(&watch_wake, &watch_lock, &next);
        else
            pthread_cond_wait(&watch_wake, &watch_lock);
    }
    return NULL;
}

/* The watchdog thread, started once with every signal blocked (they are Redis's). */
static int start_watchdog(void) {
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&watch_wake, &attr);
    pthread_condattr_destroy(&attr);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, watchdog, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) return -1;
    pthread_detach(thread);
    return 1;
}

/* Puts w (for options, due in ms) on the ring; -1 if the watchdog cannot run. */
static int watch(Watch *w, OrtRunOptions *options, long long ms) {
    clock_gettime(CLOCK_MONOTONIC, &w->deadline);
    w->deadline.tv_sec += ms / 1000;
    w->deadline.tv_nsec += (ms % 1000) * 1000000;
    if (w->deadline.tv_nsec >= 1000000000) w->deadline.tv_sec++, w->deadline.tv_nsec -= 1000000000;
    w->options = options;
    pthread_mutex_lock(&watch_lock);
    if (!watchdog_state) watchdog_state = start_watchdog();
    int ok = watchdog_state > 0;
    if (ok) {
        w->prev = ring.prev, w->next = &ring;
        ring.prev->next = w, ring.prev = w;
        if (!wake_at.tv_sec || before(w->deadline, wake_at)) pthread_cond_signal(&watch_wake);
    }
    pthread_mutex_unlock(&watch_lock);
    return ok ? 0 : -1;
}

static void unwatch(Watch *w) {
    pthread_mutex_lock(&watch_lock);
    if (w->next) unlink_watch(w);
    pthread_mutex_unlock(&watch_lock);
}

/* ------------------------------------------------------------------------ the runner */

typedef struct OnnxRunner {
    AINativeRunner runner;
    OrtSession *session;
    int nin, nout;
    char **names; /* nin input names, then nout output names */
    long long timeout_ms;
    unsigned long long limit; /* BACKEND_MEMORY_LIMIT in bytes, 0 if none */
} OnnxRunner;

/* err <- text on one line (a Redis error reply may not span lines). */
static void set_error(char *err, size_t errlen, const char *text) {
    snprintf(err, errlen, "%s", text);
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

/* err <- the status's message; releases it. */
static int fail(OrtStatus *status, char *err, size_t errlen) {
    set_error(err, errlen, api->GetErrorMessage(status));
    api->ReleaseStatus(status);
    return -1;
}

static OrtStatus *tensor_in(const DLTensor *t, OrtValue **value) {
    int row = row_of_dl(t->dtype);
    if (row < 0) return api->CreateStatus(ORT_INVALID_ARGUMENT, "Unsupported input tensor type");
    size_t n = DTYPES[row].bits / 8;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    static char empty[64]; /* a valid address for a tensor with no elements */
    void *data = t->data ? (char *)t->data + t->byte_offset : empty;
    return api->CreateTensorWithDataAsOrtValue(cpu, data, n, t->shape, (size_t)t->ndim,
                                               DTYPES[row].ort, value);
}

static void delete_output(DLManagedTensor *m) {
    api->ReleaseValue(m->manager_ctx);
    free(m);
}

/* A DLManagedTensor owning v (released in any case), or NULL with *status set. */
static DLManagedTensor *tensor_out(OrtValue *v, OrtStatus **status) {
    OrtTensorTypeAndShapeInfo *info = NULL;
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    size_t ndim = 0;
    void *data = NULL;
    DLManagedTensor *m = NULL;
    OrtStatus *s = api->GetTensorTypeAndShape(v, &info);
    if (!s) s = api->GetTensorElementType(info, &type);
    if (!s) s = api->GetDimensionsCount(info, &ndim);
    if (!s && row_of_ort(type) < 0)
        s = api->CreateStatus(ORT_NOT_IMPLEMENTED, "Unsupported output tensor type");
    if (!s && !(m = malloc(sizeof(*m) + (ndim + 1) * sizeof(int64_t))))
        s = api->CreateStatus(ORT_FAIL, "Out of memory");
    if (!s) s = api->GetDimensions(info, (int64_t *)(m + 1), ndim);
    if (!s) s = api->GetTensorMutableData(v, &data);
    if (info) api->ReleaseTensorTypeAndShapeInfo(info);
    if (s) {
        free(m);
        api->ReleaseValue(v);
        *status = s;
        return NULL;
    }
    int row = row_of_ort(type);
    m->dl_tensor = (DLTensor){
        .data = data,
        .device = {kDLCPU, 0},
        .ndim = (int)ndim,
        .dtype = {DTYPES[row].code, DTYPES[row].bits, 1},
        .shape = (int64_t *)(m + 1),
    };
    m->manager_ctx = v;
    m->deleter = delete_output;
    return m;
}

static size_t nbytes(const DLTensor *t) {
    size_t n = (t->dtype.bits + 7) / 8;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    return n;
}

/* outputs[i] <- values[i] for every i (all values are taken), or none with err set. */
static int adopt_outputs(const OnnxRunner *r, OrtValue **values, DLManagedTensor **outputs,
                         char *err, size_t errlen) {
    OrtStatus *status = NULL;
    unsigned long long total = 0;
    int i = 0;
    for (; i < r->nout; i++) {
        if (!(outputs[i] = tensor_out(values[i], &status))) break;
        total += nbytes(&outputs[i]->dl_tensor);
    }
    if (!status && r->limit && __atomic_load_n(&held, __ATOMIC_RELAXED) + total > r->limit)
        status = api->CreateStatus(ORT_FAIL, MEMORY_ERR);
    if (!status) return 0;
    for (int j = 0; j < r->nout; j++) {
        if (j < i)
            outputs[j]->deleter(outputs[j]);
        else if (j > i)
            api->ReleaseValue(values[j]);
        outputs[j] = NULL;
    }
    return fail(status, err, errlen);
}

/* ORT's Run, under a watchdog when the model has a timeout. */
static OrtStatus *run_session(const OnnxRunner *r, OrtValue **in, OrtValue **out) {
    OrtRunOptions *options = NULL;
    Watch w = {0};
    if (r->timeout_ms > 0) {
        OrtStatus *s = api->CreateRunOptions(&options);
        if (s) return s;
        if (watch(&w, options, r->timeout_ms)) {
            api->ReleaseRunOptions(options);
            return api->CreateStatus(ORT_FAIL, "Cannot start the timeout watchdog");
        }
    }
    OrtStatus *s =
        api->Run(r->session, options, (const char *const *)r->names, (const OrtValue *const *)in,
                 (size_t)r->nin, (const char *const *)r->names + r->nin, (size_t)r->nout, out);
    if (options) {
        unwatch(&w);
        api->ReleaseRunOptions(options);
    }
    return s;
}

static int onnx_run(void *ctx, const DLTensor *const *inputs, int ninputs,
                    DLManagedTensor **outputs, int noutputs, char *err, size_t errlen) {
    OnnxRunner *r = ctx;
    if (ninputs != r->nin || noutputs != r->nout) {
        char text[96];
        if (ninputs != r->nin)
            snprintf(text, sizeof(text), "Expected %d inputs but got %d", r->nin, ninputs);
        else
            snprintf(text, sizeof(text), "model returned %d outputs, expected %d", r->nout,
                     noutputs); /* the bridge's words */
        set_error(err, errlen, text);
        return -1;
    }
    OrtValue **in = calloc((size_t)(r->nin + r->nout) + 1, sizeof(OrtValue *));
    if (!in) {
        set_error(err, errlen, "Out of memory");
        return -1;
    }
    OrtValue **out = in + r->nin;
    OrtStatus *status = NULL;
    int made = 0;
    for (; made < r->nin && !status; made++) status = tensor_in(inputs[made], &in[made]);
    if (!status) status = run_session(r, in, out);
    for (int i = 0; i < made; i++)
        if (in[i]) api->ReleaseValue(in[i]);
    int rc = status ? fail(status, err, errlen) : adopt_outputs(r, out, outputs, err, errlen);
    free(in);
    return rc;
}

static void runner_free(OnnxRunner *r) {
    if (r->session) api->ReleaseSession(r->session);
    for (int i = 0; r->names && i < r->nin + r->nout; i++) free(r->names[i]);
    free(r->names);
    free(r);
}

/* ------------------------------------------------------------------- making a runner */

/* The options the Python path gives its CPU sessions (backends/onnx.py): threads, log
 * level, idle intra-op threads that sleep, the counting allocator. */
static OrtStatus *session_options(int intra_op, int inter_op, int env_allocators,
                                  OrtSessionOptions **out) {
    OrtSessionOptions *o;
    OrtStatus *s = api->CreateSessionOptions(&o);
    if (s) return s;
    s = api->SetSessionLogSeverityLevel(o, ORT_LOGGING_LEVEL_FATAL);
    if (!s && intra_op > 0) s = api->SetIntraOpNumThreads(o, intra_op);
    if (!s && inter_op > 0) s = api->SetInterOpNumThreads(o, inter_op);
    if (!s) s = api->AddSessionConfigEntry(o, "session.intra_op.allow_spinning", "0");
    if (!s && env_allocators) s = api->AddSessionConfigEntry(o, "session.use_env_allocators", "1");
    if (!s && env_allocators) s = api->DisableCpuMemArena(o);
    if (s)
        api->ReleaseSessionOptions(o);
    else
        *out = o;
    return s;
}

/* Whether the model's input or output i is a tensor of a numeric dtype (*ok). */
static OrtStatus *numeric_tensor(OrtSession *session, int output, size_t i, int *ok) {
    OrtTypeInfo *info;
    OrtStatus *s = output ? api->SessionGetOutputTypeInfo(session, i, &info)
                          : api->SessionGetInputTypeInfo(session, i, &info);
    if (s) return s;
    enum ONNXType kind = ONNX_TYPE_UNKNOWN;
    const OrtTensorTypeAndShapeInfo *tensor = NULL;
    ONNXTensorElementDataType type = ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
    s = api->GetOnnxTypeFromTypeInfo(info, &kind);
    if (!s && kind == ONNX_TYPE_TENSOR) s = api->CastTypeInfoToTensorInfo(info, &tensor);
    if (!s && tensor) s = api->GetTensorElementType(tensor, &type);
    api->ReleaseTypeInfo(info);
    *ok = row_of_ort(type) >= 0;
    return s;
}

/* r->names and the counts, from the session; *ok = 0 if a type keeps the model on Python. */
static OrtStatus *read_names(OnnxRunner *r, int *ok) {
    size_t nin, nout;
    OrtAllocator *alloc;
    OrtStatus *s = api->SessionGetInputCount(r->session, &nin);
    if (!s) s = api->SessionGetOutputCount(r->session, &nout);
    if (!s) s = api->GetAllocatorWithDefaultOptions(&alloc);
    if (s) return s;
    r->nin = (int)nin, r->nout = (int)nout;
    r->names = calloc(nin + nout + 1, sizeof(char *));
    if (!r->names) return api->CreateStatus(ORT_FAIL, "Out of memory");
    *ok = 1;
    for (size_t i = 0; !s && *ok && i < nin + nout; i++) {
        int output = i >= nin;
        size_t k = output ? i - nin : i;
        char *name = NULL;
        s = output ? api->SessionGetOutputName(r->session, k, alloc, &name)
                   : api->SessionGetInputName(r->session, k, alloc, &name);
        if (s) break;
        r->names[i] = strdup(name);
        OrtStatus *freed = api->AllocatorFree(alloc, name);
        if (freed) api->ReleaseStatus(freed);
        if (!r->names[i]) s = api->CreateStatus(ORT_FAIL, "Out of memory");
        if (!s) s = numeric_tensor(r->session, output, k, ok);
    }
    return s;
}

/* The environment and the CPU memory info, made once (the GIL serialises callers). */
static OrtStatus *init_once(void) {
    OrtStatus *s = NULL;
    if (!env) s = api->CreateEnv(ORT_LOGGING_LEVEL_FATAL, "cyrai", &env);
    if (!s && !cpu) s = api->CreateCpuMemoryInfo(OrtDeviceAllocator, OrtMemTypeDefault, &cpu);
    return s;
}

static void capsule_free(PyObject *capsule) {
    OnnxRunner *r = PyCapsule_GetPointer(capsule, AI_NATIVE_RUNNER_CAPSULE);
    if (!r) return;
    Py_BEGIN_ALLOW_THREADS; /* a large session takes a while to free */
    runner_free(r);
    Py_END_ALLOW_THREADS;
}

/* (capsule, input names, output names) of the runner, or None if the model has a type the
 * runner does not serve. */
static PyObject *describe(OnnxRunner *r, int ok) {
    if (!ok) {
        runner_free(r);
        Py_RETURN_NONE;
    }
    PyObject *in = PyList_New(r->nin), *out = PyList_New(r->nout);
    for (int i = 0; in && out && i < r->nin + r->nout; i++) {
        PyObject *name = PyUnicode_FromString(r->names[i]);
        if (!name)
            Py_CLEAR(in);
        else if (i < r->nin)
            PyList_SET_ITEM(in, i, name);
        else
            PyList_SET_ITEM(out, i - r->nin, name);
    }
    PyObject *capsule =
        in && out ? PyCapsule_New(&r->runner, AI_NATIVE_RUNNER_CAPSULE, capsule_free) : NULL;
    PyObject *result = capsule ? PyTuple_Pack(3, capsule, in, out) : NULL;
    if (!capsule) runner_free(r);
    Py_XDECREF(capsule);
    Py_XDECREF(in);
    Py_XDECREF(out);
    return result;
}

static PyObject *load(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer blob;
    int intra_op, inter_op, env_allocators;
    long long timeout_ms;
    unsigned long long limit;
    if (!PyArg_ParseTuple(args, "y*iipLK", &blob, &intra_op, &inter_op, &env_allocators,
                          &timeout_ms, &limit))
        return NULL;
    if (!__atomic_load_n(&api, __ATOMIC_ACQUIRE)) {
        PyBuffer_Release(&blob);
        PyErr_SetString(Error, "ONNX Runtime's API is unknown (RegisterCustomOps not called)");
        return NULL;
    }
    OnnxRunner *r = calloc(1, sizeof(*r));
    OrtSessionOptions *options = NULL;
    OrtStatus *s = r ? init_once() : api->CreateStatus(ORT_FAIL, "Out of memory");
    if (!s) s = session_options(intra_op, inter_op, env_allocators, &options);
    int ok = 0;
    if (!s) {
        Py_BEGIN_ALLOW_THREADS;
        s = api->CreateSessionFromArray(env, blob.buf, (size_t)blob.len, options, &r->session);
        if (!s) s = read_names(r, &ok);
        Py_END_ALLOW_THREADS;
    }
    if (options) api->ReleaseSessionOptions(options);
    PyBuffer_Release(&blob);
    if (s) {
        PyErr_SetString(Error, api->GetErrorMessage(s));
        api->ReleaseStatus(s);
        if (r) runner_free(r);
        return NULL;
    }
    r->timeout_ms = timeout_ms;
    r->limit = limit;
    r->runner = (AINativeRunner){.abi = AI_NATIVE_RUNNER_ABI, .ctx = r, .run = onnx_run};
    return describe(r, ok);
}

static PyObject *ready(PyObject *self, PyObject *args) {
    (void)self, (void)args;
    return PyBool_FromLong(__atomic_load_n(&api, __ATOMIC_ACQUIRE) != NULL);
}

static PyObject *hold(PyObject *self, PyObject *args) {
    (void)self;
    long long delta;
    if (!PyArg_ParseTuple(args, "L", &delta)) return NULL;
    __atomic_add_fetch(&held, (unsigned long long)delta, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"load", load, METH_VARARGS,
     "load(blob, intra_op, inter_op, env_allocators, timeout_ms, limit_bytes) -> (runner "
     "capsule, input names, output names), or None if the model must run through Python; "
     "raises Error with ORT's message"},
    {"ready", ready, METH_NOARGS, "Whether ORT has called RegisterCustomOps (the API is known)"},
    {"hold", hold, METH_VARARGS, "hold(delta): bytes held by the models under a memory limit"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "_onnx_native",
    "The ONNX backend's native runner (ORT C API).",
    -1,
    methods,
};

PyMODINIT_FUNC PyInit__onnx_native(void) {
    PyObject *m = PyModule_Create(&module);
    if (!m) return NULL;
    Error = PyErr_NewException("backends._onnx_native.Error", NULL, NULL);
    if (!Error || PyModule_AddObjectRef(m, "Error", Error)) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
