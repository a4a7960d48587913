/* The run-statistics registry: one entry per stored model or script, keyed by key name
 * (shared across DBs, as RedisAI's). AI._MODELSCAN lists it and AI.INFO reads it. An
 * entry remembers which value created it (owner), so that freeing an overwritten value
 * does not remove its successor's entry. Main thread only, but for stats_unregister: Redis
 * frees values on its lazyfree thread too, and the removal then waits for the main thread. */
#pragma once
#include "redismodule.h"

#define AI_STATS_RECENT 1024

typedef struct AIRunStats {
    const void *owner;
    int is_script;
    int backend;
    char *device;
    char *tag;
    size_t taglen;
    long long duration_us, samples, calls, errors;
    /* The latest run durations, for latency percentiles in INFO. */
    unsigned recent_count;
    long long recent_us[AI_STATS_RECENT];
    /* Time to response (roadmap R3) and monitoring (R4): runs refused at admission and
     * answered after their TTR; the latest queue waits, for their percentiles. */
    long long ttr_rejected, ttr_missed;
    unsigned wait_count;
    long long recent_wait_us[AI_STATS_RECENT];
} AIRunStats;

void stats_init(RedisModuleCtx *ctx);
/* Creates (or replaces with zeros) the entry of key. */
/* Returns a copy of the key name (and its length) for the owner to keep: it unregisters
 * with it when freed. */
char *stats_register(const RedisModuleString *keyname, size_t *keylen, const void *owner,
                     int is_script, int backend, const char *device, const char *tag,
                     size_t taglen);
void stats_unregister(const char *key, size_t keylen, const void *owner);
AIRunStats *stats_find(const char *key, size_t keylen);
/* The entry of key if owner still holds it, else NULL (deleted or replaced meanwhile). */
AIRunStats *stats_of(const char *key, size_t keylen, const void *owner);
/* What one finished run adds: failed or not, its time and its samples. */
void stats_add_run(AIRunStats *s, int failed, long long duration_us, long long samples);
/* What a run adds to the TTR counts and queue waits (roadmap R3, R4): its wait before it
 * started (< 0: it never started) and whether it missed its TTR. */
void stats_add_wait(AIRunStats *s, long long wait_us, int ttr_missed);
/* Records one finished run of owner's key: failed or not, its time and its samples. */
void stats_record(const char *key, size_t keylen, const void *owner, int failed,
                  long long duration_us, long long samples);
void stats_reset(AIRunStats *s);
/* Records what a run of owner's key adds to the TTR counts and queue waits (roadmap R3,
 * R4): its wait before it started (< 0: it never started) and whether it missed its TTR. */
void stats_record_wait(const char *key, size_t keylen, const void *owner, long long wait_us,
                       int ttr_missed);
/* Counts a run of owner's key refused at admission (TTR cannot be met). */
void stats_record_ttr_rejected(const char *key, size_t keylen, const void *owner);
/* The p-th percentile of the recent queue waits, or 0 without runs. */
long long stats_wait_percentile(const AIRunStats *s, double p);
/* The p-th percentile (0..100) of the recent durations, or 0 without runs. */
long long stats_percentile(const AIRunStats *s, double p);
/* Calls fn for every entry (for INFO). */
void stats_foreach(void (*fn)(const char *key, size_t keylen, const AIRunStats *s, void *arg),
                   void *arg);
/* Replies *N of [key, tag] for the entries of one kind. */
void stats_reply_scan(RedisModuleCtx *ctx, int is_script);
