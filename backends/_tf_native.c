/* The TF backend's native runner (src/native_runner.h): runs a model loaded by backends/tf.py
 * through the TF C API's TF_SessionRun, with no Python and no GIL.
 *
 * It runs the very session the backend loaded, not a copy: the Python session's TF_Session
 * (and the TF_Operations of the feeds and fetches) are reached through pybind11's
 * cross-extension conduit (`_pybind11_conduit_v1_`, pybind11 >= 2.11), which hands out the
 * raw C pointer an object wraps to a caller that names the object's C++ type_info and
 * pybind11 ABI. The type_info comes from TF's own binding (it exports _ZTI10TF_Session and
 * _ZTI12TF_Operation); the ABI id is read from the key pybind11 keeps its internals under in
 * builtins. So the weights live once, and the session keeps the backend's thread settings
 * (intra/inter-op) and placement. Should a later TF change any of this, the conduit answers
 * None and the model simply stays on the Python path.
 *
 * This file is a CPython extension only for make_runner(), called with the GIL at load time.
 * The runner (tf_run and what it calls) uses no Python: the capsule holds a reference to the
 * Python session (which owns the TF_Session and its graph) and drops it in its destructor,
 * which CPython calls with the GIL held.
 *
 * Tensors: inputs become TF_Tensors over the caller's memory (TF_NewTensor with a no-op
 * deallocator; TF copies a buffer that is not aligned to its liking itself). Outputs are the
 * TF_Tensors TF_SessionRun returns, handed over as DLManagedTensors whose deleter deletes
 * them. Models with a TF_STRING (or other non-numeric) input or output get no runner. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <dlpack/dlpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "native_runner.h"
#include "tensorflow/c/c_api.h"

/* ------------------------------------------------------------------------- dtypes */

/* kDLBool of DLPack >= 0.8 (Debian's header is older); src/tensor.h's AI_DL_BOOL. */
enum { DL_BOOL = 6 };

static const struct {
    TF_DataType tf;
    uint8_t code, bits;
} DTYPES[] = {
    {TF_FLOAT, kDLFloat, 32},     {TF_DOUBLE, kDLFloat, 64},      {TF_HALF, kDLFloat, 16},
    {TF_BFLOAT16, kDLBfloat, 16}, {TF_INT8, kDLInt, 8},           {TF_INT16, kDLInt, 16},
    {TF_INT32, kDLInt, 32},       {TF_INT64, kDLInt, 64},         {TF_UINT8, kDLUInt, 8},
    {TF_UINT16, kDLUInt, 16},     {TF_UINT32, kDLUInt, 32},       {TF_UINT64, kDLUInt, 64},
    {TF_BOOL, DL_BOOL, 8},        {TF_COMPLEX64, kDLComplex, 64}, {TF_COMPLEX128, kDLComplex, 128},
};
enum { NDTYPES = sizeof(DTYPES) / sizeof(DTYPES[0]) };

/* The table's row of a TF dtype, or -1. */
static int row_of_tf(TF_DataType t) {
    for (int i = 0; i < NDTYPES; i++)
        if (DTYPES[i].tf == t) return i;
    return -1;
}

/* The table's row of a DLPack dtype (lanes 1), or -1. */
static int row_of_dl(DLDataType d) {
    for (int i = 0; i < NDTYPES; i++)
        if (DTYPES[i].code == d.code && DTYPES[i].bits == d.bits && d.lanes == 1) return i;
    return -1;
}

/* ------------------------------------------------------------------------ the runner */

typedef struct TfRunner {
    AINativeRunner runner;
    TF_Session *session; /* owned by `keep` */
    int nin, nout;
    TF_Output *in, *out; /* nin feeds, then nout fetches, in one block */
    PyObject *keep;      /* the Python session */
} TfRunner;

/* err <- text on one line (a Redis error reply may not span lines). */
static void set_error(char *err, size_t errlen, const char *text) {
    snprintf(err, errlen, "%s", text);
    for (char *p = err; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

static void no_free(void *data, size_t len, void *arg) { (void)data, (void)len, (void)arg; }

static TF_Tensor *tensor_in(const DLTensor *t, char *err, size_t errlen) {
    int row = row_of_dl(t->dtype);
    if (row < 0) {
        set_error(err, errlen, "Unsupported input tensor type");
        return NULL;
    }
    size_t n = DTYPES[row].bits / 8;
    for (int d = 0; d < t->ndim; d++) n *= (size_t)t->shape[d];
    static char empty[64]; /* a valid address for a tensor with no elements */
    void *data = t->data ? (char *)t->data + t->byte_offset : empty;
    TF_Tensor *x = TF_NewTensor(DTYPES[row].tf, t->shape, t->ndim, data, n, no_free, NULL);
    if (!x) set_error(err, errlen, "Cannot create the input tensor");
    return x;
}

static void delete_output(DLManagedTensor *m) {
    TF_DeleteTensor(m->manager_ctx);
    free(m);
}

/* A DLManagedTensor owning t (deleted in any case), or NULL with err set. */
static DLManagedTensor *tensor_out(TF_Tensor *t, char *err, size_t errlen) {
    int row = row_of_tf(TF_TensorType(t));
    int ndim = TF_NumDims(t);
    DLManagedTensor *m = row < 0 ? NULL : malloc(sizeof(*m) + (ndim + 1) * sizeof(int64_t));
    if (!m) {
        TF_DeleteTensor(t);
        set_error(err, errlen, row < 0 ? "Unsupported output tensor type" : "Out of memory");
        return NULL;
    }
    int64_t *shape = (int64_t *)(m + 1);
    for (int d = 0; d < ndim; d++) shape[d] = TF_Dim(t, d);
    m->dl_tensor = (DLTensor){
        .data = TF_TensorData(t),
        .device = {kDLCPU, 0},
        .ndim = ndim,
        .dtype = {DTYPES[row].code, DTYPES[row].bits, 1},
        .shape = shape,
    };
    m->manager_ctx = t;
    m->deleter = delete_output;
    return m;
}

/* outputs[i] <- values[i] for every i, or none (all values deleted) with err set. */
static int adopt_outputs(TF_Tensor **values, int n, DLManagedTensor **outputs, char *err,
                         size_t errlen) {
    int i = 0;
    for (; i < n; i++) {
        outputs[i] = tensor_out(values[i], err, errlen);
        if (!outputs[i]) break;
    }
    if (i == n) return 0;
    for (int j = 0; j < n; j++) {
        if (j < i)
            outputs[j]->deleter(outputs[j]);
        else if (j > i)
            TF_DeleteTensor(values[j]);
        outputs[j] = NULL;
    }
    return -1;
}

static int tf_run(void *ctx, const DLTensor *const *inputs, int ninputs, DLManagedTensor **outputs,
                  int noutputs, char *err, size_t errlen) {
    TfRunner *r = ctx;
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
    TF_Tensor **in = calloc((size_t)(r->nin + r->nout) + 1, sizeof(TF_Tensor *));
    TF_Status *status = TF_NewStatus();
    if (!in || !status) {
        free(in);
        if (status) TF_DeleteStatus(status);
        set_error(err, errlen, "Out of memory");
        return -1;
    }
    TF_Tensor **out = in + r->nin;
    int rc = 0, made = 0;
    for (; made < r->nin; made++)
        if (!(in[made] = tensor_in(inputs[made], err, errlen))) break;
    if (made == r->nin) {
        TF_SessionRun(r->session, NULL, r->in, in, r->nin, r->out, out, r->nout, NULL, 0, NULL,
                      status);
        if (TF_GetCode(status) != TF_OK) {
            set_error(err, errlen, TF_Message(status));
            rc = -1;
        } else {
            rc = adopt_outputs(out, r->nout, outputs, err, errlen);
        }
    } else {
        rc = -1;
    }
    for (int i = 0; i < made; i++) TF_DeleteTensor(in[i]);
    TF_DeleteStatus(status);
    free(in);
    return rc;
}

static void runner_free(PyObject *capsule) {
    TfRunner *r = PyCapsule_GetPointer(capsule, AI_NATIVE_RUNNER_CAPSULE);
    if (!r) return;
    Py_XDECREF(r->keep);
    free(r->in);
    free(r);
}

/* ------------------------------------------------- from Python objects to C pointers */

/* Appends to ids the pybind11 ABI id in each key "__pybind11_internals_v<N><id>__" of dict
 * (both with and without the id's leading '_', which pybind11 3 drops); -1 on error. */
static int add_abi_ids(PyObject *ids, PyObject *dict) {
    static const char prefix[] = "__pybind11_internals_v";
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (dict && PyDict_Next(dict, &pos, &key, &value)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!k || strncmp(k, prefix, sizeof(prefix) - 1)) continue;
        const char *id = k + sizeof(prefix) - 1;
        while (*id >= '0' && *id <= '9') id++; /* the internals version */
        size_t len = strlen(id);
        if (len <= 3 || strcmp(id + len - 2, "__")) continue;
        for (int skip = 0; skip <= (id[0] == '_'); skip++) {
            PyObject *b = PyBytes_FromStringAndSize(id + skip, (Py_ssize_t)(len - 2 - skip));
            int rc = b ? PyList_Append(ids, b) : -1;
            Py_XDECREF(b);
            if (rc) return -1;
        }
    }
    return 0;
}

/* The pybind11 ABI ids of the bindings loaded (a list of bytes), read from the keys
 * pybind11 keeps its internals under: in builtins up to pybind11 2, in the interpreter's
 * state dict from pybind11 3. */
static PyObject *pybind11_abi_ids(void) {
    PyObject *ids = PyList_New(0);
    if (ids && (add_abi_ids(ids, PyEval_GetBuiltins()) ||
                add_abi_ids(ids, PyInterpreterState_GetDict(PyInterpreterState_Get()))))
        Py_CLEAR(ids);
    PyErr_Clear();
    return ids;
}

/* The C++ type_info of `type` (a mangled name such as "10TF_Session") exported by the
 * binding that defines obj's class, or NULL. */
static void *binding_type_info(PyObject *obj, const char *mangled) {
    PyObject *module = PyObject_GetAttrString((PyObject *)Py_TYPE(obj), "__module__");
    PyObject *mod = module ? PyImport_Import(module) : NULL;
    PyObject *file = mod ? PyObject_GetAttrString(mod, "__file__") : NULL;
    const char *path = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : NULL;
    void *info = NULL;
    if (path) {
        void *lib = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
        char symbol[96];
        snprintf(symbol, sizeof(symbol), "_ZTI%s", mangled);
        if (lib) info = dlsym(lib, symbol);
        if (lib) dlclose(lib); /* the import holds it open */
    }
    Py_XDECREF(file);
    Py_XDECREF(mod);
    Py_XDECREF(module);
    PyErr_Clear();
    return info;
}

/* The C pointer the pybind11 object obj wraps, whose C++ type is `mangled`, or NULL. */
static void *unwrap(PyObject *obj, const char *mangled) {
    void *info = binding_type_info(obj, mangled);
    PyObject *ids = info ? pybind11_abi_ids() : NULL;
    PyObject *type = info ? PyCapsule_New(info, "St9type_info", NULL) : NULL;
    void *ptr = NULL;
    for (Py_ssize_t i = 0; type && ids && !ptr && i < PyList_GET_SIZE(ids); i++) {
        PyObject *cap = PyObject_CallMethod(obj, "_pybind11_conduit_v1_", "OOy",
                                            PyList_GET_ITEM(ids, i), type, "raw_pointer_ephemeral");
        const char *name = cap && PyCapsule_CheckExact(cap) ? PyCapsule_GetName(cap) : NULL;
        if (name && !strcmp(name, mangled)) ptr = PyCapsule_GetPointer(cap, name);
        Py_XDECREF(cap);
        PyErr_Clear();
    }
    Py_XDECREF(type);
    Py_XDECREF(ids);
    return ptr;
}

/* ports: a sequence of (TF_Operation wrapper, output index) -> n TF_Outputs at `to`, all of
 * numeric dtypes; 0, or -1 if one cannot be served natively. */
static int read_ports(PyObject *ports, TF_Output *to, int n) {
    for (int i = 0; i < n; i++) {
        PyObject *port = PySequence_Fast_GET_ITEM(ports, i), *op;
        int index;
        if (!PyArg_ParseTuple(port, "Oi", &op, &index)) return -1;
        to[i].oper = unwrap(op, "12TF_Operation");
        to[i].index = index;
        if (!to[i].oper || index < 0 || index >= TF_OperationNumOutputs(to[i].oper)) return -1;
        if (row_of_tf(TF_OperationOutputType(to[i])) < 0) return -1;
    }
    return 0;
}

/* make_runner(session, feeds, fetches) -> a "cyrai.native_runner" capsule, or None when the
 * model cannot run natively. session: the tf.compat.v1.Session whose graph holds the ports;
 * feeds, fetches: lists of (Operation._c_op, output index). */
static PyObject *make_runner(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *session, *feeds, *fetches;
    if (!PyArg_ParseTuple(args, "OOO", &session, &feeds, &fetches)) return NULL;
    PyObject *handle = PyObject_GetAttrString(session, "_session");
    TF_Session *s = handle ? unwrap(handle, "10TF_Session") : NULL;
    Py_XDECREF(handle);
    PyErr_Clear();
    feeds = PySequence_Fast(feeds, "feeds must be a sequence");
    fetches = feeds ? PySequence_Fast(fetches, "fetches must be a sequence") : NULL;
    TfRunner *r = s && fetches ? calloc(1, sizeof(*r)) : NULL;
    if (r) {
        r->nin = (int)PySequence_Fast_GET_SIZE(feeds);
        r->nout = (int)PySequence_Fast_GET_SIZE(fetches);
        r->in = calloc((size_t)(r->nin + r->nout) + 1, sizeof(TF_Output));
        r->out = r->in ? r->in + r->nin : NULL;
    }
    int ok =
        r && r->in && !read_ports(feeds, r->in, r->nin) && !read_ports(fetches, r->out, r->nout);
    Py_XDECREF(feeds);
    Py_XDECREF(fetches);
    PyErr_Clear();
    if (!ok) {
        if (r) free(r->in);
        free(r);
        Py_RETURN_NONE;
    }
    r->session = s;
    r->runner = (AINativeRunner){.abi = AI_NATIVE_RUNNER_ABI, .ctx = r, .run = tf_run};
    Py_INCREF(session);
    r->keep = session;
    PyObject *capsule = PyCapsule_New(&r->runner, AI_NATIVE_RUNNER_CAPSULE, runner_free);
    if (!capsule) {
        Py_DECREF(session);
        free(r->in);
        free(r);
    }
    return capsule;
}

static PyMethodDef methods[] = {
    {"make_runner", make_runner, METH_VARARGS,
     "make_runner(session, feeds, fetches) -> native runner capsule, or None"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_tf_native", "The TF backend's native runner (TF C API).", -1, methods,
};

PyMODINIT_FUNC PyInit__tf_native(void) { return PyModule_Create(&module); }
