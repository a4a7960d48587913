/* A hash table that iterates in RedisAI's order. AI._MODELSCAN and AI._SCRIPTSCAN list
 * the registry in the order of RedisAI's internal table, which clients' tests assert:
 * Redis's dict.c algorithm (4 buckets at first, doubled when full, rehashed one bucket
 * per operation, new entries at the head of their bucket) hashed with SipHash-1-2 under
 * an all-zero key. This table follows the same rules, so the same sequence of stores,
 * lookups and deletes gives the same order. Main thread only. */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct AIOrderedDict AIOrderedDict;

AIOrderedDict *odict_new(void);
void *odict_get(AIOrderedDict *d, const char *key, size_t len);
/* Sets key's value; returns the value it replaced, or NULL. */
void *odict_replace(AIOrderedDict *d, const char *key, size_t len, void *value);
/* Removes key; returns its value, or NULL. */
void *odict_delete(AIOrderedDict *d, const char *key, size_t len);
/* Visits every entry in RedisAI's iteration order. */
void odict_foreach(AIOrderedDict *d,
                   void (*fn)(const char *key, size_t len, void *value, void *arg), void *arg);

uint64_t siphash12_zero_key(const unsigned char *in, size_t len);
