/* The run-statistics registry; see stats.h. */
#include "stats.h"

#include <stdlib.h>
#include <string.h>

static RedisModuleDict *registry;

void stats_init(RedisModuleCtx *ctx) { registry = RedisModule_CreateDict(ctx); }

static void stats_free(AIRunStats *s) {
    RedisModule_Free(s->device);
    RedisModule_Free(s->tag);
    RedisModule_Free(s);
}

void stats_register(const char *key, size_t keylen, const void *owner, int is_script,
                    int backend, const char *device, const char *tag, size_t taglen) {
    AIRunStats *s = RedisModule_Calloc(1, sizeof *s);
    s->owner = owner;
    s->is_script = is_script;
    s->backend = backend;
    s->device = RedisModule_Strdup(device);
    s->tag = RedisModule_Alloc(taglen + 1);
    memcpy(s->tag, tag, taglen);
    s->tag[taglen] = '\0';
    s->taglen = taglen;
    AIRunStats *old = RedisModule_DictGetC(registry, (void *)key, keylen, NULL);
    RedisModule_DictReplaceC(registry, (void *)key, keylen, s);
    if (old) stats_free(old);
}

void stats_unregister(const char *key, size_t keylen, const void *owner) {
    AIRunStats *s = RedisModule_DictGetC(registry, (void *)key, keylen, NULL);
    if (!s || s->owner != owner) return;
    RedisModule_DictDelC(registry, (void *)key, keylen, NULL);
    stats_free(s);
}

AIRunStats *stats_find(const char *key, size_t keylen) {
    return RedisModule_DictGetC(registry, (void *)key, keylen, NULL);
}

void stats_reply_scan(RedisModuleCtx *ctx, int is_script) {
    RedisModuleDictIter *it = RedisModule_DictIteratorStartC(registry, "^", NULL, 0);
    RedisModule_ReplyWithArray(ctx, REDISMODULE_POSTPONED_LEN);
    long n = 0;
    char *key;
    size_t keylen;
    AIRunStats *s;
    while ((key = RedisModule_DictNextC(it, &keylen, (void **)&s)) != NULL) {
        if (s->is_script != is_script) continue;
        RedisModule_ReplyWithArray(ctx, 2);
        RedisModule_ReplyWithStringBuffer(ctx, key, keylen);
        RedisModule_ReplyWithStringBuffer(ctx, s->tag, s->taglen);
        n++;
    }
    RedisModule_DictIteratorStop(it);
    RedisModule_ReplySetArrayLength(ctx, n);
}

void stats_record(const char *key, size_t keylen, const void *owner, int failed,
                  long long duration_us, long long samples) {
    AIRunStats *s = stats_find(key, keylen);
    if (!s || s->owner != owner) return; /* deleted or replaced meanwhile */
    s->calls++;
    if (failed) {
        s->errors++;
        return;
    }
    s->duration_us += duration_us;
    s->samples += samples;
    s->recent_us[s->recent_count++ % AI_STATS_RECENT] = duration_us;
}

void stats_reset(AIRunStats *s) {
    s->duration_us = s->samples = s->calls = s->errors = 0;
    s->recent_count = 0;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

long long stats_percentile(const AIRunStats *s, double p) {
    unsigned n = s->recent_count < AI_STATS_RECENT ? s->recent_count : AI_STATS_RECENT;
    if (!n) return 0;
    long long sorted[AI_STATS_RECENT];
    memcpy(sorted, s->recent_us, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_ll);
    unsigned i = (unsigned)(p / 100.0 * (n - 1) + 0.5);
    return sorted[i];
}

void stats_foreach(void (*fn)(const char *key, size_t keylen, const AIRunStats *s, void *arg),
                   void *arg) {
    RedisModuleDictIter *it = RedisModule_DictIteratorStartC(registry, "^", NULL, 0);
    char *key;
    size_t keylen;
    AIRunStats *s;
    while ((key = RedisModule_DictNextC(it, &keylen, (void **)&s)) != NULL) fn(key, keylen, s, arg);
    RedisModule_DictIteratorStop(it);
}
