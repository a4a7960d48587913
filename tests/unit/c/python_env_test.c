/* Drives pyx/python_env.c without a server: an installed module and a checkout's find
 * their environment and backends; PYTHON_ENV (absolute, relative, with a trailing slash)
 * wins; every environment that cannot serve is refused with its reason, and paths at or
 * past PATH_MAX are refused or truncated, never overrun. Built with AddressSanitizer by
 * test_python_env.py. Prints "ok" or what failed. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../../pyx/python_env.h"
#include "check.h"

#define PYVER "python3.11"

static char top[256];
static PythonEnv env;
static char err[512];

/* Makes top/rel and its parents; with a file name last when file is set. */
static void make(const char *rel, int file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", top, rel);
    for (char *p = path + strlen(top) + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        mkdir(path, 0755);
        *p = '/';
    }
    if (!file) {
        mkdir(path, 0755);
        return;
    }
    int fd = open(path, O_CREAT | O_WRONLY, 0755);
    if (fd >= 0) close(fd);
}

/* An environment at top/rel: bin/python3 and the site-packages of pyver. */
static void make_env(const char *rel, const char *pyver) {
    char path[512];
    snprintf(path, sizeof path, "%s/bin/python3", rel);
    make(path, 1);
    snprintf(path, sizeof path, "%s/lib/%s/site-packages", rel, pyver);
    make(path, 0);
}

static int locate(const char *given, const char *module_rel) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", top, module_rel);
    memset(&env, 0, sizeof env);
    err[0] = '\0';
    return python_env_locate(given, dir, PYVER, &env, err, sizeof err);
}

static int ends_with(const char *s, const char *tail) {
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && !strcmp(s + n - m, tail);
}

static int check_found(void) {
    make_env("env", "python3.11");
    make("env/lib/python3.11/site-packages/cyrai/backends/__init__.py", 1);
    CHECK(locate(NULL, "env/lib/python3.11/site-packages/cyrai") == 0);
    CHECK(ends_with(env.prefix, "/env") && ends_with(env.executable, "/env/bin/python3"));
    CHECK(ends_with(env.backends_root, "/site-packages/cyrai"));

    make_env("co/.venv", "python3.11");
    make("co/backends/__init__.py", 1);
    make("co/build", 0);
    CHECK(locate(NULL, "co/build") == 0);
    CHECK(ends_with(env.prefix, "/co/.venv") && ends_with(env.backends_root, "/co"));

    char given[512];
    snprintf(given, sizeof given, "%s/env/", top);
    make("elsewhere", 0);
    CHECK(locate(given, "elsewhere") == 0);
    CHECK(ends_with(env.prefix, "/env") && ends_with(env.backends_root, "/site-packages/cyrai"));

    snprintf(given, sizeof given, "%s/co/.venv", top);
    CHECK(locate(given, "elsewhere") == 0 && ends_with(env.backends_root, "/co"));

    CHECK(chdir(top) == 0);
    CHECK(locate("env", "elsewhere") == 0 && !strncmp(env.prefix, top, strlen(top)));
    return 0;
}

static int check_refused(void) {
    CHECK(locate(NULL, "elsewhere") == -1 && strstr(err, "no Python environment found"));
    CHECK(locate("/no/such/env", "elsewhere") == -1 &&
          strstr(err, "PYTHON_ENV /no/such/env: no such directory"));
    CHECK(locate(top, "elsewhere") == -1 && strstr(err, "no executable bin/python3"));
    make_env("old", "python3.9");
    CHECK(locate("old", "elsewhere") == -1 && strstr(err, "not an environment of python3.11"));
    make_env("bare", "python3.11");
    CHECK(locate("bare", "elsewhere") == -1 && strstr(err, "no backends package"));
    char dir[1024];
    snprintf(dir, sizeof dir, "/");
    memset(&env, 0, sizeof env);
    CHECK(python_env_locate(NULL, dir, PYVER, &env, err, sizeof err) == -1);
    return 0;
}

static int check_long_paths(void) {
    static char path[3 * PATH_MAX];
    memset(path, 'x', sizeof path - 1);
    path[0] = '/';
    path[sizeof path - 1] = '\0';
    CHECK(python_env_locate(path, "/tmp", PYVER, &env, err, sizeof err) == -1);
    CHECK(strstr(err, "longer than a path may be"));
    path[PATH_MAX - 2] = '\0'; /* the longest path there may be */
    CHECK(python_env_locate(path, "/tmp", PYVER, &env, err, sizeof err) == -1);
    CHECK(strlen(err) < sizeof err);
    path[PATH_MAX - 2] = 'x';
    CHECK(python_env_locate(NULL, path, PYVER, &env, err, sizeof err) == -1);
    char small[8];
    CHECK(python_env_locate("/no/such", "/tmp", PYVER, &env, small, sizeof small) == -1);
    CHECK(strlen(small) == sizeof small - 1);
    return 0;
}

int main(void) {
    snprintf(top, sizeof top, "/tmp/python_env_test.XXXXXX");
    if (!mkdtemp(top)) return 1;
    int failed = check_found() || check_refused() || check_long_paths();
    char rm[300];
    snprintf(rm, sizeof rm, "rm -rf %s", top);
    if (system(rm) != 0) return 1;
    if (!failed) printf("ok\n");
    return failed;
}
