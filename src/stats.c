/* The run-statistics registry; see stats.h.
 *
 * Only the main thread touches the registry. Redis frees values on its lazyfree thread
 * too (FLUSHALL/FLUSHDB ASYNC, lazyfree-lazy-user-flush, replica-lazy-flush), and freeing
 * a model unregisters its entry: from another thread, stats_unregister only queues the
 * removal (a copy of the key and the owner), and the main thread applies the queue at its
 * next registry access, before anything else. The owner cannot be reused meanwhile by a
 * value registered before the removal is applied: the value is freed after the removal
 * was queued, and stats_register applies the queue first. */
#include "stats.h"

#include "ordered_dict.h"
#include "strdup.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct Removal {
    struct Removal *next;
    const void *owner;
    size_t keylen;
    char key[];
} Removal;

static AIOrderedDict *registry; /* RedisAI's iteration order, for the scan commands */
static pthread_t main_thread;
static pthread_mutex_t removals_lock = PTHREAD_MUTEX_INITIALIZER;
static Removal *removals; /* written under removals_lock; read without it to skip it */

void stats_init(RedisModuleCtx *ctx) {
    (void)ctx;
    registry = odict_new();
    main_thread = pthread_self();
}

static void stats_free(AIRunStats *s) {
    RedisModule_Free(s->device);
    RedisModule_Free(s->tag);
    RedisModule_Free(s);
}

static void remove_entry(const char *key, size_t keylen, const void *owner) {
    AIRunStats *s = odict_get(registry, key, keylen);
    if (!s || s->owner != owner) return;
    odict_delete(registry, key, keylen);
    stats_free(s);
}

static void queue_removal(const char *key, size_t keylen, const void *owner) {
    Removal *r = RedisModule_Alloc(sizeof *r + keylen);
    r->owner = owner;
    r->keylen = keylen;
    memcpy(r->key, key, keylen);
    pthread_mutex_lock(&removals_lock);
    r->next = removals;
    __atomic_store_n(&removals, r, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&removals_lock);
}

/* Main thread: applies the removals queued by other threads. */
static void apply_removals(void) {
    if (!__atomic_load_n(&removals, __ATOMIC_ACQUIRE)) return;
    pthread_mutex_lock(&removals_lock);
    Removal *r = removals;
    __atomic_store_n(&removals, NULL, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&removals_lock);
    while (r) {
        Removal *next = r->next;
        remove_entry(r->key, r->keylen, r->owner);
        RedisModule_Free(r);
        r = next;
    }
}

char *stats_register(const RedisModuleString *keyname, size_t *keylen_out, const void *owner,
                     int is_script, int backend, const char *device, const char *tag,
                     size_t taglen) {
    AIRunStats *s = RedisModule_Calloc(1, sizeof *s);
    s->owner = owner;
    s->is_script = is_script;
    s->backend = backend;
    s->device = RedisModule_Strdup(device);
    s->tag = ai_strndup(tag, taglen);
    s->taglen = taglen;
    size_t keylen;
    const char *key = RedisModule_StringPtrLen(keyname, &keylen);
    apply_removals();
    AIRunStats *old = odict_replace(registry, key, keylen, s);
    if (old) stats_free(old);
    *keylen_out = keylen;
    return ai_strndup(key, keylen);
}

/* Any thread (values are freed on Redis's lazyfree thread too). */
void stats_unregister(const char *key, size_t keylen, const void *owner) {
    if (!pthread_equal(pthread_self(), main_thread)) {
        queue_removal(key, keylen, owner);
        return;
    }
    apply_removals();
    remove_entry(key, keylen, owner);
}

AIRunStats *stats_find(const char *key, size_t keylen) {
    apply_removals();
    return odict_get(registry, key, keylen);
}

typedef struct ScanReply {
    RedisModuleCtx *ctx;
    int is_script;
    long n;
} ScanReply;

static void reply_scan_entry(const char *key, size_t keylen, void *value, void *arg) {
    ScanReply *r = arg;
    AIRunStats *s = value;
    if (s->is_script != r->is_script) return;
    RedisModule_ReplyWithArray(r->ctx, 2);
    RedisModule_ReplyWithStringBuffer(r->ctx, key, keylen);
    RedisModule_ReplyWithStringBuffer(r->ctx, s->tag, s->taglen);
    r->n++;
}

void stats_reply_scan(RedisModuleCtx *ctx, int is_script) {
    apply_removals();
    ScanReply r = {ctx, is_script, 0};
    RedisModule_ReplyWithArray(ctx, REDISMODULE_POSTPONED_LEN);
    odict_foreach(registry, reply_scan_entry, &r);
    RedisModule_ReplySetArrayLength(ctx, r.n);
}

AIRunStats *stats_of(const char *key, size_t keylen, const void *owner) {
    AIRunStats *s = stats_find(key, keylen);
    return s && s->owner == owner ? s : NULL; /* deleted or replaced meanwhile */
}

void stats_add_run(AIRunStats *s, int failed, long long duration_us, long long samples) {
    s->calls++;
    if (failed) {
        s->errors++;
        return;
    }
    s->duration_us += duration_us;
    s->samples += samples;
    s->recent_us[s->recent_count++ % AI_STATS_RECENT] = duration_us;
}

void stats_add_wait(AIRunStats *s, long long wait_us, int ttr_missed) {
    s->ttr_missed += ttr_missed != 0;
    if (wait_us >= 0) s->recent_wait_us[s->wait_count++ % AI_STATS_RECENT] = wait_us;
}

void stats_record(const char *key, size_t keylen, const void *owner, int failed,
                  long long duration_us, long long samples) {
    AIRunStats *s = stats_of(key, keylen, owner);
    if (s) stats_add_run(s, failed, duration_us, samples);
}

void stats_reset(AIRunStats *s) {
    s->duration_us = s->samples = s->calls = s->errors = 0;
    s->recent_count = 0;
    s->ttr_rejected = s->ttr_missed = 0;
    s->wait_count = 0;
}

void stats_record_wait(const char *key, size_t keylen, const void *owner, long long wait_us,
                       int ttr_missed) {
    AIRunStats *s = stats_of(key, keylen, owner);
    if (s) stats_add_wait(s, wait_us, ttr_missed);
}

void stats_record_ttr_rejected(const char *key, size_t keylen, const void *owner) {
    AIRunStats *s = stats_of(key, keylen, owner);
    if (s) s->ttr_rejected++;
}

static int cmp_ll(const void *a, const void *b) {
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* The p-th percentile of the last of count values written round a ring. */
static long long ring_percentile(const long long *ring, unsigned count, double p) {
    unsigned n = count < AI_STATS_RECENT ? count : AI_STATS_RECENT;
    if (!n) return 0;
    long long sorted[AI_STATS_RECENT];
    memcpy(sorted, ring, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_ll);
    unsigned i = (unsigned)(p / 100.0 * (n - 1) + 0.5);
    return sorted[i];
}

long long stats_percentile(const AIRunStats *s, double p) {
    return ring_percentile(s->recent_us, s->recent_count, p);
}

long long stats_wait_percentile(const AIRunStats *s, double p) {
    return ring_percentile(s->recent_wait_us, s->wait_count, p);
}

void stats_foreach(void (*fn)(const char *key, size_t keylen, const AIRunStats *s, void *arg),
                   void *arg) {
    apply_removals();
    odict_foreach(registry, (void (*)(const char *, size_t, void *, void *))fn, arg);
}
