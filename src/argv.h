/* Building the argument vector of a command the module emits (AOF rewrite, replication of
 * outputs). The strings are owned by the vector and freed with it. */
#pragma once
#include <stddef.h>

#include "names.h"
#include "redismodule.h"

typedef struct AIArgv {
    RedisModuleString **v;
    size_t n, cap;
} AIArgv;

void argv_add(AIArgv *a, const char *p, size_t len);
void argv_add_cstr(AIArgv *a, const char *s);
void argv_add_ll(AIArgv *a, long long v);
void argv_add_string(AIArgv *a, RedisModuleString *s);
/* s itself, held (not copied): for strings nobody modifies. */
void argv_add_held(AIArgv *a, RedisModuleString *s);
/* The count, then every name. */
void argv_add_names(AIArgv *a, const AINames *names);
void argv_free(AIArgv *a);
