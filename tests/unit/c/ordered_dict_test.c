/* Drives src/ordered_dict.c against a reference (a presence table) through random
 * inserts, deletes and lookups on few keys, so that deletes often empty the old table in
 * the middle of a rehash; built with AddressSanitizer by test_ordered_dict.py. Then
 * checks RedisAI's iteration order on the spec's example. Prints "ok" or what failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ordered_dict.h"
#include "redismodule.h"

static char *copy_string(const char *s) { return strdup(s); }

static int random_ops(int nkeys, int rounds) {
    for (int round = 0; round < rounds; round++) {
        AIOrderedDict *d = odict_new();
        int present[64] = {0};
        for (int op = 0; op < 4000; op++) {
            int k = rand() % nkeys;
            char key[16];
            int n = snprintf(key, sizeof key, "k%d", k);
            int what = rand() % 3;
            void *v = NULL;
            if (what == 0) {
                odict_replace(d, key, n, (void *)(long)(k + 1));
                present[k] = 1;
                continue;
            }
            v = what == 1 ? odict_delete(d, key, n) : odict_get(d, key, n);
            if ((v != NULL) != present[k] || (v && (long)v != k + 1)) return -1;
            if (what == 1) present[k] = 0;
        }
    }
    return 0;
}

static void collect(const char *key, size_t len, void *value, void *arg) {
    (void)value;
    strncat(arg, key, len);
    strcat(arg, ",");
}

int main(void) {
    RedisModule_Alloc = malloc;
    RedisModule_Calloc = calloc;
    RedisModule_Realloc = realloc;
    RedisModule_Free = free;
    RedisModule_Strdup = copy_string;
    srand(7);
    for (int nkeys = 2; nkeys <= 40; nkeys += 6)
        if (random_ops(nkeys, 30) != 0) {
            printf("mismatch with %d keys\n", nkeys);
            return 1;
        }
    AIOrderedDict *d = odict_new();
    odict_replace(d, "m", 1, (void *)1);
    odict_replace(d, "pt_model", 8, (void *)2);
    char order[64] = "";
    odict_foreach(d, collect, order);
    if (strcmp(order, "pt_model,m,") != 0) {
        printf("order %s\n", order);
        return 1;
    }
    printf("ok\n");
    return 0;
}
