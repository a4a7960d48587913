/* Tensors in stream entries; see stream_tensor.h.
 *
 * A numeric entry's blob becomes the tensor's data without another copy: the iterator hands
 * out a fresh string per field value, and the tensor keeps that string (borrowing it) and
 * frees it with its last reference. Appends build the field strings once and pass the same
 * vector to the stream and to the replication stream. */
#include "stream_tensor.h"

#include <stdio.h>
#include <string.h>

#include "args.h"
#include "config.h"

#define MAX_DIMS 64

static int own_write;

int stream_own_write(void) { return own_write; }

int stream_key_is_stream(RedisModuleCtx *ctx, RedisModuleString *keyname) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    int is = RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_STREAM;
    RedisModule_CloseKey(key);
    return is;
}

RedisModuleStreamID stream_id_next(RedisModuleStreamID id) {
    if (id.seq == UINT64_MAX) return (RedisModuleStreamID){id.ms + 1, 0};
    return (RedisModuleStreamID){id.ms, id.seq + 1};
}

int stream_id_cmp(RedisModuleStreamID a, RedisModuleStreamID b) {
    if (a.ms != b.ms) return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq) return a.seq < b.seq ? -1 : 1;
    return 0;
}

int stream_id_format(RedisModuleStreamID id, char *buf, size_t size) {
    return snprintf(buf, size, "%llu-%llu", (unsigned long long)id.ms, (unsigned long long)id.seq);
}

/* "3 4" -> {3, 4}: positive decimals separated by single spaces; "" is a scalar. */
static int parse_shape(const char *s, size_t len, int64_t *dims, int *ndim) {
    *ndim = 0;
    size_t i = 0;
    while (i < len) {
        int64_t d = 0;
        size_t start = i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (__builtin_mul_overflow(d, 10, &d) || __builtin_add_overflow(d, s[i] - '0', &d))
                return -1;
        if (i == start || d <= 0 || *ndim == MAX_DIMS) return -1;
        dims[(*ndim)++] = d;
        if (i < len && (s[i] != ' ' || ++i == len)) return -1; /* one space, then a dim */
    }
    return 0;
}

static void free_string(void *s) { RedisModule_FreeString(NULL, s); }

/* The tensor of dtype, shape and blob (any may be NULL: not a tensor). Takes blob over. */
static AITensor *tensor_of_fields(RedisModuleString *dtype_s, RedisModuleString *shape_s,
                                  RedisModuleString *blob_s) {
    size_t len;
    const AIDType *dtype = NULL;
    int64_t dims[MAX_DIMS];
    int ndim;
    if (dtype_s) {
        const char *name = RedisModule_StringPtrLen(dtype_s, &len);
        dtype = ai_dtype_by_name(name, len);
    }
    const char *shape = shape_s ? RedisModule_StringPtrLen(shape_s, &len) : NULL;
    if (!dtype || !shape || !blob_s || parse_shape(shape, len, dims, &ndim) != 0) {
        if (blob_s) RedisModule_FreeString(NULL, blob_s);
        return NULL;
    }
    AIError err = {0};
    const char *blob = RedisModule_StringPtrLen(blob_s, &len);
    AITensor *t =
        ai_dtype_is_string(dtype)
            ? tensor_new_from_blob(dtype, dims, ndim, blob, len, &err)
            : tensor_new_borrowing(dtype, dims, ndim, blob, len, blob_s, free_string, &err);
    if (!t || ai_dtype_is_string(dtype)) RedisModule_FreeString(NULL, blob_s);
    ai_error_clear(&err); /* every inconsistency is the one error: not a tensor */
    return t;
}

/* Keeps value in *slot when field is name; 1 if it did. */
static int take_field(RedisModuleString *field, const char *name, RedisModuleString *value,
                      RedisModuleString **slot) {
    if (!ai_arg_is(field, name)) return 0;
    if (*slot) RedisModule_FreeString(NULL, *slot);
    *slot = value;
    return 1;
}

/* The tensor of the entry the iterator of key stands on. */
static AITensor *entry_tensor(RedisModuleKey *key) {
    RedisModuleString *field, *value, *dtype = NULL, *shape = NULL, *blob = NULL;
    while (RedisModule_StreamIteratorNextField(key, &field, &value) == REDISMODULE_OK) {
        if (!take_field(field, "dtype", value, &dtype) &&
            !take_field(field, "shape", value, &shape) && !take_field(field, "blob", value, &blob))
            RedisModule_FreeString(NULL, value);
        RedisModule_FreeString(NULL, field);
    }
    AITensor *t = tensor_of_fields(dtype, shape, blob);
    if (dtype) RedisModule_FreeString(NULL, dtype);
    if (shape) RedisModule_FreeString(NULL, shape);
    return t;
}

AITensor *stream_tensor_read(RedisModuleCtx *ctx, RedisModuleString *keyname,
                             const RedisModuleStreamID *id, AIError *err) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    AITensor *t = NULL;
    RedisModuleStreamID at = id ? *id : (RedisModuleStreamID){0, 0};
    int rc =
        id ? RedisModule_StreamIteratorStart(key, 0, &at, &at)
           : RedisModule_StreamIteratorStart(key, REDISMODULE_STREAM_ITERATOR_REVERSE, NULL, NULL);
    long nfields;
    if (rc == REDISMODULE_OK &&
        RedisModule_StreamIteratorNextID(key, &at, &nfields) == REDISMODULE_OK)
        t = entry_tensor(key);
    if (rc == REDISMODULE_OK) RedisModule_StreamIteratorStop(key);
    RedisModule_CloseKey(key);
    if (!t) ai_fail(err, AI_ERR_STREAM_NOT_TENSOR);
    return t;
}

RedisModuleStreamID stream_last_id(RedisModuleCtx *ctx, RedisModuleString *keyname) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    RedisModuleStreamID id = {0, 0};
    long nfields;
    if (RedisModule_StreamIteratorStart(key, REDISMODULE_STREAM_ITERATOR_REVERSE, NULL, NULL) ==
        REDISMODULE_OK) {
        if (RedisModule_StreamIteratorNextID(key, &id, &nfields) != REDISMODULE_OK)
            id = (RedisModuleStreamID){0, 0};
        RedisModule_StreamIteratorStop(key);
    }
    RedisModule_CloseKey(key);
    return id;
}

void stream_skip_fields(RedisModuleKey *key) {
    while (RedisModule_StreamIteratorNextField(key, NULL, NULL) == REDISMODULE_OK) continue;
}

long long stream_count_after(RedisModuleCtx *ctx, RedisModuleString *keyname,
                             RedisModuleStreamID after) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    long long n = 0;
    RedisModuleStreamID id;
    long nfields;
    if (RedisModule_StreamIteratorStart(key, REDISMODULE_STREAM_ITERATOR_EXCLUSIVE, &after, NULL) ==
        REDISMODULE_OK) {
        while (RedisModule_StreamIteratorNextID(key, &id, &nfields) == REDISMODULE_OK) {
            stream_skip_fields(key);
            n++;
        }
        RedisModule_StreamIteratorStop(key);
    }
    RedisModule_CloseKey(key);
    return n;
}

/* dtype, shape, blob [, source]: field and value strings, owned by the caller. */
static int entry_fields(const AITensor *t, const RedisModuleStreamID *source,
                        RedisModuleString **f) {
    char shape[MAX_DIMS * 21 + 1] = "", id[48];
    size_t used = 0;
    for (int i = 0; i < t->dl.ndim && used < sizeof shape; i++)
        used += (size_t)snprintf(shape + used, sizeof shape - used, i ? " %lld" : "%lld",
                                 (long long)t->dl.shape[i]);
    int n = 0;
    f[n++] = RedisModule_CreateString(NULL, "dtype", 5);
    f[n++] = RedisModule_CreateString(NULL, t->dtype->name, strlen(t->dtype->name));
    f[n++] = RedisModule_CreateString(NULL, "shape", 5);
    f[n++] = RedisModule_CreateString(NULL, shape, strlen(shape));
    f[n++] = RedisModule_CreateString(NULL, "blob", 4);
    f[n++] = RedisModule_CreateString(NULL, t->dl.data, t->nbytes);
    if (source) {
        f[n++] = RedisModule_CreateString(NULL, "source", 6);
        f[n++] =
            RedisModule_CreateString(NULL, id, (size_t)stream_id_format(*source, id, sizeof id));
    }
    return n;
}

/* Approximate trimming frees whole nodes; the replicas and the AOF get its outcome (XTRIM
 * MINID of the first entry kept), so they hold the very same entries. */
static void trim(RedisModuleCtx *ctx, RedisModuleKey *key, RedisModuleString *keyname) {
    if (ai_config.stream_maxlen <= 0) return;
    if (RedisModule_StreamTrimByLength(key, REDISMODULE_STREAM_TRIM_APPROX,
                                       ai_config.stream_maxlen) <= 0)
        return;
    RedisModuleStreamID first;
    long nfields;
    if (RedisModule_StreamIteratorStart(key, 0, NULL, NULL) != REDISMODULE_OK) return;
    int found = RedisModule_StreamIteratorNextID(key, &first, &nfields) == REDISMODULE_OK;
    RedisModule_StreamIteratorStop(key);
    if (!found) return;
    char id[48];
    int len = stream_id_format(first, id, sizeof id);
    RedisModule_Replicate(ctx, "XTRIM", "scb", keyname, "MINID", id, (size_t)len);
}

void stream_tensor_append(RedisModuleCtx *ctx, RedisModuleString *keyname, const AITensor *t,
                          const RedisModuleStreamID *source) {
    RedisModuleString *f[8];
    int n = entry_fields(t, source, f);
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ | REDISMODULE_WRITE);
    RedisModuleStreamID id;
    if (RedisModule_StreamAdd(key, REDISMODULE_STREAM_ADD_AUTOID, &id, f, n / 2) ==
        REDISMODULE_OK) {
        char ids[48];
        int len = stream_id_format(id, ids, sizeof ids);
        RedisModule_Replicate(ctx, "XADD", "sbv", keyname, ids, (size_t)len, f, (size_t)n);
        own_write = 1; /* no trigger starts for the module's own append */
        RedisModule_NotifyKeyspaceEvent(ctx, REDISMODULE_NOTIFY_STREAM, "xadd", keyname);
        own_write = 0;
        trim(ctx, key, keyname);
    }
    RedisModule_CloseKey(key);
    for (int i = 0; i < n; i++) RedisModule_FreeString(NULL, f[i]);
}
