/* Finding the interpreter's environment and the backends package (python_env.h).
 *
 * A candidate environment is checked for what the interpreter will need: an executable
 * bin/python3 and the site-packages folder of the Python the module links. Paths are
 * joined as text, never resolved through symbolic links, so that a checkout whose .venv is
 * a link to a shared one still finds the backends of the checkout beside its .venv. */
#include "python_env.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int same_dir(const char *a, const char *b) {
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* path without its last `levels` components ("/" at most); 0 if it has too few. */
static int parent(const char *path, int levels, char *out, size_t outlen) {
    if (snprintf(out, outlen, "%s", path) >= (int)outlen) return 0;
    while (levels-- > 0) {
        char *slash = strrchr(out, '/');
        if (!slash || slash == out) return 0;
        *slash = '\0';
    }
    return 1;
}

/* 0 when dir is an environment of pyver, else -1 with why. */
static int check_env(const char *dir, const char *pyver, char *why, size_t whylen) {
    char path[PATH_MAX + 64];
    if (!is_dir(dir)) {
        snprintf(why, whylen, "%s: no such directory", dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/bin/python3", dir);
    if (access(path, X_OK) != 0) {
        snprintf(why, whylen, "%s: not a Python environment (no executable bin/python3)", dir);
        return -1;
    }
    snprintf(path, sizeof path, "%s/lib/%s/site-packages", dir, pyver);
    if (!is_dir(path)) {
        snprintf(why, whylen,
                 "%s: not an environment of %s, which the module was built for (no %s)", dir, pyver,
                 path);
        return -1;
    }
    return 0;
}

static int is_env(const char *dir, const char *pyver) {
    char why[PATH_MAX + 256];
    return check_env(dir, pyver, why, sizeof why) == 0;
}

/* The environment the module sits in: module_dir is <env>/lib/<pyver>/site-packages/cyrai. */
static int installed_env(const char *module_dir, const char *pyver, char *out, size_t outlen) {
    char site[PATH_MAX];
    if (!parent(module_dir, 4, out, outlen) || !is_env(out, pyver)) return 0;
    snprintf(site, sizeof site, "%.*s/lib/%s/site-packages", PATH_MAX - 64, out, pyver);
    char here[PATH_MAX];
    return parent(module_dir, 1, here, sizeof here) && same_dir(site, here);
}

/* A checkout's .venv: module_dir is the checkout's build/. */
static int checkout_env(const char *module_dir, const char *pyver, char *out, size_t outlen) {
    char top[PATH_MAX];
    if (!parent(module_dir, 1, top, sizeof top)) return 0;
    if (snprintf(out, outlen, "%s/.venv", top) >= (int)outlen) return 0;
    return is_env(out, pyver);
}

/* given as an absolute path, joined to the working directory when relative. */
static int absolute(const char *given, char *out, size_t outlen) {
    char cwd[PATH_MAX];
    if (given[0] == '/') return snprintf(out, outlen, "%s", given) < (int)outlen;
    if (!getcwd(cwd, sizeof cwd)) return 0;
    return snprintf(out, outlen, "%s/%s", cwd, given) < (int)outlen;
}

static int find_prefix(const char *given, const char *module_dir, const char *pyver, PythonEnv *env,
                       char *err, size_t errlen) {
    char why[PATH_MAX + 256];
    if (given) {
        size_t n = strlen(given);
        while (n > 1 && given[n - 1] == '/') n--; /* "env/" names env */
        if (n >= PATH_MAX) {
            snprintf(err, errlen, "PYTHON_ENV: a path of %zu bytes, longer than a path may be", n);
            return -1;
        }
        char trimmed[PATH_MAX];
        snprintf(trimmed, sizeof trimmed, "%.*s", (int)n, given);
        if (!absolute(trimmed, env->prefix, sizeof env->prefix)) {
            snprintf(err, errlen, "PYTHON_ENV %s: path too long", given);
            return -1;
        }
        if (check_env(env->prefix, pyver, why, sizeof why) == 0) return 0;
        snprintf(err, errlen, "PYTHON_ENV %s", why);
        return -1;
    }
    if (installed_env(module_dir, pyver, env->prefix, sizeof env->prefix) ||
        checkout_env(module_dir, pyver, env->prefix, sizeof env->prefix))
        return 0;
    snprintf(err, errlen,
             "no Python environment found for the module in %s: it is neither installed in one "
             "(<env>/lib/%s/site-packages/cyrai) nor in a checkout's build/ beside .venv; name "
             "one with the load-time option PYTHON_ENV <path>",
             module_dir, pyver);
    return -1;
}

static int has_backends(const char *root) {
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%.*s/backends/__init__.py", PATH_MAX - 1, root);
    return access(path, R_OK) == 0;
}

static int find_backends(const char *module_dir, const char *pyver, PythonEnv *env, char *err,
                         size_t errlen) {
    char candidates[3][PATH_MAX];
    snprintf(candidates[0], PATH_MAX, "%s", module_dir);
    snprintf(candidates[1], PATH_MAX, "%.*s/lib/%s/site-packages/cyrai", PATH_MAX - 64, env->prefix,
             pyver);
    int n = 2 + parent(env->prefix, 1, candidates[2], PATH_MAX);
    for (int i = 0; i < n; i++) {
        if (!has_backends(candidates[i])) continue;
        size_t len = strnlen(candidates[i], PATH_MAX - 1);
        memcpy(env->backends_root, candidates[i], len);
        env->backends_root[len] = '\0';
        return 0;
    }
    snprintf(err, errlen,
             "no backends package beside the module (%s/backends), in the environment "
             "(%s/backends) or beside it: install cyrai in %s",
             module_dir, candidates[1], env->prefix);
    return -1;
}

int python_env_locate(const char *given, const char *module_dir, const char *pyver, PythonEnv *env,
                      char *err, size_t errlen) {
    if (find_prefix(given, module_dir, pyver, env, err, errlen) != 0) return -1;
    snprintf(env->executable, sizeof env->executable, "%.*s/bin/python3", PATH_MAX - 16,
             env->prefix);
    return find_backends(module_dir, pyver, env, err, errlen);
}
