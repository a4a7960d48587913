/* Interpreter start-up: the one C file outside Cython that includes Python.h.
 *
 * Redis loads modules with RTLD_LOCAL, but NumPy and torch extension modules expect
 * libpython's symbols to be global, so libpython is re-opened RTLD_GLOBAL first. The
 * environment is found at load time from the module's own file (python_env.h): no path of
 * the build machine is compiled in. The interpreter is configured in isolation with the
 * environment's python as its executable, so sys.prefix is that environment and only its
 * site-packages are seen. Signal handlers stay Redis's. After set-up the main thread gives
 * the GIL away for good: workers take it. */
#define _GNU_SOURCE /* dladdr */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>

#include "bridge.h"
#include "cyrai_bridge.h"
#include "python_env.h"

#define STR_(x)    #x
#define STR(x)     STR_(x)
#define PYTHON_DIR "python" STR(PY_MAJOR_VERSION) "." STR(PY_MINOR_VERSION)

static int make_libpython_global(char *err, size_t errlen) {
    Dl_info info;
    if (!dladdr((void *)Py_InitializeFromConfig, &info) || !info.dli_fname) {
        snprintf(err, errlen, "cannot locate libpython");
        return -1;
    }
    if (!dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_GLOBAL)) {
        snprintf(err, errlen, "cannot make libpython global: %s", dlerror());
        return -1;
    }
    return 0;
}

/* The folder of the module's file, links resolved: a link to the module installed in an
 * environment (e.g. from /usr/lib/redis/modules) finds that environment. */
static int module_dir(char *out, size_t outlen, char *err, size_t errlen) {
    Dl_info info;
    char real[PATH_MAX];
    if (!dladdr((void *)module_dir, &info) || !info.dli_fname || !realpath(info.dli_fname, real)) {
        snprintf(err, errlen, "cannot locate the module's own file");
        return -1;
    }
    snprintf(out, outlen, "%s", dirname(real));
    return 0;
}

static int init_interpreter(const PythonEnv *env, char *err, size_t errlen) {
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.install_signal_handlers = 0;
    config.parse_argv = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.executable, env->executable);
    if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) {
        snprintf(err, errlen, "Python initialisation failed: %s",
                 status.err_msg ? status.err_msg : "unknown error");
        return -1;
    }
    return 0;
}

int bridge_start(const char *python_env, char *err, size_t errlen) {
    static PythonEnv env; /* PATH_MAX strings: too big for the stack of a module load */
    char dir[PATH_MAX];
    if (Py_IsInitialized()) {
        snprintf(err, errlen, "an interpreter already runs in this process");
        return -1;
    }
    if (module_dir(dir, sizeof dir, err, errlen) != 0 ||
        python_env_locate(python_env, dir, PYTHON_DIR, &env, err, errlen) != 0)
        return -1;
    if (make_libpython_global(err, errlen) != 0) return -1;
    if (PyImport_AppendInittab("cyrai_bridge", PyInit_cyrai_bridge) != 0) {
        snprintf(err, errlen, "cannot register the bridge module");
        return -1;
    }
    if (init_interpreter(&env, err, errlen) != 0) return -1;
    PyObject *bridge = PyImport_ImportModule("cyrai_bridge");
    int rc = bridge ? cy_bridge_setup(env.backends_root, err, errlen) : -1;
    if (!bridge) {
        PyErr_Print();
        snprintf(err, errlen, "cannot import the bridge module");
    }
    Py_XDECREF(bridge);
    /* The main thread keeps no GIL from here on; its thread state stays parked. */
    PyEval_SaveThread();
    return rc;
}

void *bridge_thread_state_new(void) { return PyThreadState_New(PyInterpreterState_Main()); }

void bridge_enter(void *state) { PyEval_RestoreThread(state); }

void bridge_leave(void) { PyEval_SaveThread(); }
