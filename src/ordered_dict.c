/* RedisAI-ordered hash table; see ordered_dict.h. */
#include "ordered_dict.h"

#include <string.h>

#include "redismodule.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1, v1 = ROTL(v1, 13), v1 ^= v0, v0 = ROTL(v0, 32);                                  \
        v2 += v3, v3 = ROTL(v3, 16), v3 ^= v2;                                                     \
        v0 += v3, v3 = ROTL(v3, 21), v3 ^= v0;                                                     \
        v2 += v1, v1 = ROTL(v1, 17), v1 ^= v2, v2 = ROTL(v2, 32);                                  \
    } while (0)

/* SipHash with one compression and two finalization rounds, key k0 = k1 = 0. */
uint64_t siphash12_zero_key(const unsigned char *in, size_t len) {
    uint64_t v0 = 0x736f6d6570736575ULL, v1 = 0x646f72616e646f6dULL;
    uint64_t v2 = 0x6c7967656e657261ULL, v3 = 0x7465646279746573ULL;
    size_t full = len - len % 8;
    for (size_t i = 0; i < full; i += 8) {
        uint64_t m = 0;
        for (int b = 7; b >= 0; b--) m = (m << 8) | in[i + b];
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    uint64_t last = (uint64_t)len << 56;
    for (size_t b = 0; b < len % 8; b++) last |= (uint64_t)in[full + b] << (8 * b);
    v3 ^= last;
    SIPROUND;
    v0 ^= last;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

typedef struct Entry {
    char *key;
    size_t len;
    void *value;
    struct Entry *next;
} Entry;

typedef struct Table {
    Entry **buckets;
    unsigned long size, used;
} Table;

struct AIOrderedDict {
    Table ht[2];
    long rehashidx; /* -1: not rehashing */
};

#define INITIAL_SIZE 4

AIOrderedDict *odict_new(void) {
    AIOrderedDict *d = RedisModule_Calloc(1, sizeof *d);
    d->rehashidx = -1;
    return d;
}

static uint64_t hash(const char *key, size_t len) {
    return siphash12_zero_key((const unsigned char *)key, len);
}

static int rehashing(const AIOrderedDict *d) { return d->rehashidx != -1; }

static void finish_rehash(AIOrderedDict *d) {
    RedisModule_Free(d->ht[0].buckets);
    d->ht[0] = d->ht[1];
    memset(&d->ht[1], 0, sizeof d->ht[1]);
    d->rehashidx = -1;
}

/* Moves one bucket from the old table to the new one (visiting at most 10 empty ones).
 * Deletes may empty the old table before every bucket was visited: then it is done, and
 * the walk must not run past its end. */
static void rehash_step(AIOrderedDict *d) {
    if (!rehashing(d)) return;
    if (d->ht[0].used > 0) {
        int empty_visits = 10;
        while (d->ht[0].buckets[d->rehashidx] == NULL) {
            d->rehashidx++;
            if (--empty_visits == 0) return;
        }
        Entry *e = d->ht[0].buckets[d->rehashidx];
        while (e) {
            Entry *next = e->next;
            unsigned long idx = hash(e->key, e->len) & (d->ht[1].size - 1);
            e->next = d->ht[1].buckets[idx];
            d->ht[1].buckets[idx] = e;
            d->ht[0].used--;
            d->ht[1].used++;
            e = next;
        }
        d->ht[0].buckets[d->rehashidx++] = NULL;
    }
    if (d->ht[0].used == 0) finish_rehash(d);
}

static void expand(AIOrderedDict *d, unsigned long wanted) {
    unsigned long size = INITIAL_SIZE;
    while (size < wanted) size *= 2;
    Table t = {RedisModule_Calloc(size, sizeof(Entry *)), size, 0};
    if (!d->ht[0].buckets) {
        d->ht[0] = t;
        return;
    }
    d->ht[1] = t;
    d->rehashidx = 0;
}

static void expand_if_needed(AIOrderedDict *d) {
    if (rehashing(d)) return;
    if (d->ht[0].size == 0)
        expand(d, INITIAL_SIZE);
    else if (d->ht[0].used >= d->ht[0].size)
        expand(d, d->ht[0].used * 2);
}

static Entry *find(AIOrderedDict *d, const char *key, size_t len) {
    if (!d->ht[0].buckets) return NULL;
    uint64_t h = hash(key, len);
    for (int t = 0; t <= 1; t++) {
        if (!d->ht[t].buckets) break;
        for (Entry *e = d->ht[t].buckets[h & (d->ht[t].size - 1)]; e; e = e->next)
            if (e->len == len && !memcmp(e->key, key, len)) return e;
        if (!rehashing(d)) break;
    }
    return NULL;
}

void *odict_get(AIOrderedDict *d, const char *key, size_t len) {
    rehash_step(d);
    Entry *e = find(d, key, len);
    return e ? e->value : NULL;
}

void *odict_replace(AIOrderedDict *d, const char *key, size_t len, void *value) {
    rehash_step(d);
    expand_if_needed(d);
    Entry *e = find(d, key, len);
    if (e) {
        void *old = e->value;
        e->value = value;
        return old;
    }
    Table *t = &d->ht[rehashing(d) ? 1 : 0];
    unsigned long idx = hash(key, len) & (t->size - 1);
    e = RedisModule_Alloc(sizeof *e);
    e->key = RedisModule_Alloc(len ? len : 1);
    memcpy(e->key, key, len);
    e->len = len;
    e->value = value;
    e->next = t->buckets[idx];
    t->buckets[idx] = e;
    t->used++;
    return NULL;
}

void *odict_delete(AIOrderedDict *d, const char *key, size_t len) {
    if (!d->ht[0].buckets) return NULL;
    rehash_step(d);
    uint64_t h = hash(key, len);
    for (int t = 0; t <= 1; t++) {
        if (!d->ht[t].buckets) break;
        Entry **link = &d->ht[t].buckets[h & (d->ht[t].size - 1)];
        for (; *link; link = &(*link)->next) {
            Entry *e = *link;
            if (e->len != len || memcmp(e->key, key, len)) continue;
            *link = e->next;
            d->ht[t].used--;
            void *value = e->value;
            RedisModule_Free(e->key);
            RedisModule_Free(e);
            return value;
        }
        if (!rehashing(d)) break;
    }
    return NULL;
}

void odict_foreach(AIOrderedDict *d,
                   void (*fn)(const char *key, size_t len, void *value, void *arg), void *arg) {
    for (int t = 0; t <= 1; t++) {
        for (unsigned long b = 0; b < d->ht[t].size; b++)
            for (Entry *e = d->ht[t].buckets[b]; e; e = e->next) fn(e->key, e->len, e->value, arg);
        if (!rehashing(d)) break;
    }
}
