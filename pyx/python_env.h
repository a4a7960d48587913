/* Where the embedded interpreter's environment is, found at load time: nothing of the
 * build machine is compiled into the module, so the same file works from a checkout's
 * build/, from inside the environment it was pip-installed into, or from anywhere with
 * the load-time option PYTHON_ENV. No Python here: it runs before the interpreter. */
#pragma once
#include <limits.h>
#include <stddef.h>

typedef struct PythonEnv {
    char prefix[PATH_MAX];        /* the environment's root: the interpreter's sys.prefix */
    char executable[PATH_MAX];    /* <prefix>/bin/python3, PyConfig's executable */
    char backends_root[PATH_MAX]; /* the folder holding the backends package (sys.path) */
} PythonEnv;

/* Finds the environment and the backends package.
 *
 * given: the PYTHON_ENV option, or NULL to look from the module's own folder, module_dir:
 * first the environment the module is installed in (module_dir is
 * <env>/lib/<pyver>/site-packages/cyrai), then a checkout's .venv (module_dir is its
 * build/). pyver ("python3.11") is the Python the module links. The backends package is
 * looked for beside the module, then in the environment's site-packages/cyrai, then beside
 * the environment (a checkout's .venv). Returns 0, or -1 with the reason in err. */
int python_env_locate(const char *given, const char *module_dir, const char *pyver, PythonEnv *env,
                      char *err, size_t errlen);
