/* Shared RDB encodings; see rdb_io.h. */
#include "rdb_io.h"

#include <string.h>

void ai_rdb_save_cstring(RedisModuleIO *io, const char *s) {
    RedisModule_SaveStringBuffer(io, s, strlen(s) + 1);
}

char *ai_rdb_load_cstring(RedisModuleIO *io) {
    size_t len;
    char *s = RedisModule_LoadStringBuffer(io, &len);
    if (RedisModule_IsIOError(io)) return NULL;
    if (len == 0 || s[len - 1] != '\0' || memchr(s, '\0', len - 1)) {
        RedisModule_Free(s);
        return NULL;
    }
    return s;
}

void ai_rdb_save_names(RedisModuleIO *io, const AINames *n) {
    RedisModule_SaveUnsigned(io, n->count);
    for (int i = 0; i < n->count; i++) ai_rdb_save_cstring(io, n->names[i]);
}

int ai_rdb_load_names(RedisModuleIO *io, AINames *n, uint64_t max) {
    uint64_t count = RedisModule_LoadUnsigned(io);
    if (RedisModule_IsIOError(io) || count > max) return -1;
    n->names = RedisModule_Calloc(count ? count : 1, sizeof(char *));
    for (n->count = 0; n->count < (int)count; n->count++)
        if (!(n->names[n->count] = ai_rdb_load_cstring(io))) return -1;
    return 0;
}

char *ai_rdb_load_tag(RedisModuleIO *io, int encver, size_t *len) {
    if (encver == 0) {
        char *tag = ai_rdb_load_cstring(io);
        if (tag) *len = strlen(tag);
        return tag;
    }
    char *tag = RedisModule_LoadStringBuffer(io, len);
    return RedisModule_IsIOError(io) ? NULL : tag;
}
