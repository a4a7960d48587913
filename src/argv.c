/* Argument vectors; see argv.h. */
#include "argv.h"

#include <string.h>

static void push(AIArgv *a, RedisModuleString *s) {
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 16;
        a->v = RedisModule_Realloc(a->v, sizeof(*a->v) * a->cap);
    }
    a->v[a->n++] = s;
}

void argv_add(AIArgv *a, const char *p, size_t len) {
    push(a, RedisModule_CreateString(NULL, p, len));
}

void argv_add_cstr(AIArgv *a, const char *s) { argv_add(a, s, strlen(s)); }

void argv_add_ll(AIArgv *a, long long v) { push(a, RedisModule_CreateStringFromLongLong(NULL, v)); }

void argv_add_string(AIArgv *a, RedisModuleString *s) {
    push(a, RedisModule_CreateStringFromString(NULL, s));
}

void argv_add_held(AIArgv *a, RedisModuleString *s) { push(a, RedisModule_HoldString(NULL, s)); }

void argv_add_names(AIArgv *a, const AINames *names) {
    argv_add_ll(a, names->count);
    for (int i = 0; i < names->count; i++) argv_add_cstr(a, names->names[i]);
}

void argv_free(AIArgv *a) {
    for (size_t i = 0; i < a->n; i++) RedisModule_FreeString(NULL, a->v[i]);
    RedisModule_Free(a->v);
    memset(a, 0, sizeof *a);
}
