/* The run-statistics registry: one entry per stored model or script, keyed by key name
 * (shared across DBs, as RedisAI's). AI._MODELSCAN lists it and AI.INFO reads it. An
 * entry remembers which value created it (owner), so that freeing an overwritten value
 * does not remove its successor's entry. Main thread only. */
#pragma once
#include "redismodule.h"

typedef struct AIRunStats {
    const void *owner;
    int is_script;
    int backend;
    char *device;
    char *tag;
    size_t taglen;
    long long duration_us, samples, calls, errors;
} AIRunStats;

void stats_init(RedisModuleCtx *ctx);
/* Creates (or replaces with zeros) the entry of key. */
void stats_register(const char *key, size_t keylen, const void *owner, int is_script,
                    int backend, const char *device, const char *tag, size_t taglen);
void stats_unregister(const char *key, size_t keylen, const void *owner);
AIRunStats *stats_find(const char *key, size_t keylen);
/* Replies *N of [key, tag] for the entries of one kind. */
void stats_reply_scan(RedisModuleCtx *ctx, int is_script);
