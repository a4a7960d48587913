/* The AI_TENSOR data type. Nothing here touches Python: a BGSAVE child serialises
 * tensors with C alone.
 *
 * RDB layout (encoding version 4, RedisAI's): dtype code, dtype bits, ndims, dims, the
 * data blob, and for STRING tensors the offset of every element. Versions 0-3 of older
 * RedisAI releases are read too. Loading checks every size before it allocates and fails
 * on anything inconsistent. */
#include "tensor_type.h"

#include <string.h>

#include "argv.h"
#include "keys.h"

RedisModuleType *AITensorType = NULL;

#define AI_MAX_NDIM 64

static void rdb_save(RedisModuleIO *io, void *value) {
    AITensor *t = value;
    RedisModule_SaveUnsigned(io, t->dtype->code);
    RedisModule_SaveUnsigned(io, t->dtype->bits);
    RedisModule_SaveSigned(io, t->dl.ndim);
    for (int i = 0; i < t->dl.ndim; i++) RedisModule_SaveSigned(io, t->dl.shape[i]);
    RedisModule_SaveStringBuffer(io, t->dl.data, t->nbytes);
    if (!ai_dtype_is_string(t->dtype)) return;
    int64_t n = tensor_length(t);
    for (int64_t i = 0; i < n; i++) RedisModule_SaveUnsigned(io, t->offsets[i]);
}

/* Reads dtype and shape; 0 on success. */
static int rdb_load_header(RedisModuleIO *io, const AIDType **dtype, int64_t *dims, int *ndim) {
    uint64_t code = RedisModule_LoadUnsigned(io);
    uint64_t bits = RedisModule_LoadUnsigned(io);
    int64_t n = RedisModule_LoadSigned(io);
    if (RedisModule_IsIOError(io) || n < 0 || n > AI_MAX_NDIM) return -1;
    *dtype = ai_dtype_by_code((unsigned)code, (unsigned)bits);
    if (!*dtype) return -1;
    for (int64_t i = 0; i < n; i++) dims[i] = RedisModule_LoadSigned(io);
    *ndim = (int)n;
    return RedisModule_IsIOError(io) || ai_shape_length(dims, *ndim) < 0 ? -1 : 0;
}

/* Encoding versions 0-3 (older RedisAI releases) hold numbers only: device type and id,
 * dtype bits, code and lanes, ndims, dims, strides, byte offset, then the blob. RedisAI
 * always wrote C-contiguous strides, so they are skipped; a byte offset never was set. */
static int rdb_load_header_v0(RedisModuleIO *io, const AIDType **dtype, int64_t *dims, int *ndim) {
    RedisModule_LoadUnsigned(io); /* device type: always CPU */
    RedisModule_LoadUnsigned(io); /* device id */
    uint64_t bits = RedisModule_LoadUnsigned(io);
    uint64_t code = RedisModule_LoadUnsigned(io);
    uint64_t lanes = RedisModule_LoadUnsigned(io);
    uint64_t n = RedisModule_LoadUnsigned(io);
    if (RedisModule_IsIOError(io) || lanes != 1 || n > AI_MAX_NDIM) return -1;
    *dtype = ai_dtype_by_code((unsigned)code, (unsigned)bits);
    if (!*dtype || ai_dtype_is_string(*dtype)) return -1;
    for (uint64_t i = 0; i < n; i++) dims[i] = (int64_t)RedisModule_LoadUnsigned(io);
    for (uint64_t i = 0; i < n; i++) RedisModule_LoadUnsigned(io); /* strides */
    uint64_t byte_offset = RedisModule_LoadUnsigned(io);
    *ndim = (int)n;
    return RedisModule_IsIOError(io) || byte_offset || ai_shape_length(dims, *ndim) < 0 ? -1 : 0;
}

static void *rdb_load(RedisModuleIO *io, int encver) {
    const AIDType *dtype;
    int64_t dims[AI_MAX_NDIM];
    int ndim;
    if (encver > AI_TENSOR_ENCVER) goto bad;
    int rc = encver == AI_TENSOR_ENCVER ? rdb_load_header(io, &dtype, dims, &ndim)
                                        : rdb_load_header_v0(io, &dtype, dims, &ndim);
    if (rc != 0) goto bad;
    size_t len;
    char *blob = RedisModule_LoadStringBuffer(io, &len);
    if (RedisModule_IsIOError(io)) goto bad;
    AIError err = {0};
    /* Numbers keep the buffer the load allocated; strings are copied and indexed. Saved
     * data loads whatever TENSOR_MAX_BYTES is now. */
    tensor_cap_lift(1);
    AITensor *t =
        ai_dtype_is_string(dtype)
            ? tensor_new_from_blob(dtype, dims, ndim, blob, len, &err)
            : tensor_new_borrowing(dtype, dims, ndim, blob, len, blob, RedisModule_Free, &err);
    tensor_cap_lift(0);
    if (!t || ai_dtype_is_string(dtype)) RedisModule_Free(blob);
    if (!t) {
        ai_error_clear(&err);
        goto bad;
    }
    if (ai_dtype_is_string(dtype)) {
        /* The offsets are implied by the blob, which tensor_new_from_blob indexed. */
        int64_t n = tensor_length(t);
        for (int64_t i = 0; i < n; i++)
            if (RedisModule_LoadUnsigned(io) != t->offsets[i]) {
                tensor_release(t);
                goto bad;
            }
    }
    return t;
bad:
    RedisModule_LogIOError(io, "warning", "corrupt or unsupported AI_TENSOR value");
    return NULL;
}

/* argv of AI.TENSORSET key DTYPE dims... BLOB data, freed by the caller; the key name is
 * held, not copied. */
static AIArgv tensorset_argv(RedisModuleString *keyname, const AITensor *t) {
    AIArgv a = {0};
    argv_add_held(&a, keyname);
    argv_add_cstr(&a, t->dtype->name);
    for (int i = 0; i < t->dl.ndim; i++) argv_add_ll(&a, t->dl.shape[i]);
    argv_add_cstr(&a, "BLOB");
    argv_add(&a, t->dl.data, t->nbytes);
    return a;
}

static void aof_rewrite(RedisModuleIO *aof, RedisModuleString *keyname, void *value) {
    AIArgv a = tensorset_argv(keyname, value);
    RedisModule_EmitAOF(aof, "AI.TENSORSET", "v", a.v, a.n);
    argv_free(&a);
}

void tensor_replicate(RedisModuleCtx *ctx, RedisModuleString *keyname, const AITensor *t) {
    AIArgv a = tensorset_argv(keyname, t);
    RedisModule_Replicate(ctx, "AI.TENSORSET", "v", a.v, a.n);
    argv_free(&a);
}

static size_t mem_usage(const void *value) { return tensor_mem_usage(value); }

static void digest(RedisModuleDigest *md, void *value) {
    AITensor *t = value;
    RedisModule_DigestAddStringBuffer(md, t->dtype->name, strlen(t->dtype->name));
    for (int i = 0; i < t->dl.ndim; i++) RedisModule_DigestAddLongLong(md, t->dl.shape[i]);
    RedisModule_DigestAddStringBuffer(md, t->dl.data, t->nbytes);
    RedisModule_DigestEndSequence(md);
}

static void free_value(void *value) { tensor_release(value); }

int tensor_type_register(RedisModuleCtx *ctx) {
    RedisModuleTypeMethods tm = {
        .version = REDISMODULE_TYPE_METHOD_VERSION,
        .rdb_load = rdb_load,
        .rdb_save = rdb_save,
        .aof_rewrite = aof_rewrite,
        .mem_usage = mem_usage,
        .digest = digest,
        .free = free_value,
    };
    AITensorType = RedisModule_CreateDataType(ctx, "AI_TENSOR", AI_TENSOR_ENCVER, &tm);
    return AITensorType ? REDISMODULE_OK : REDISMODULE_ERR;
}

AITensor *tensor_from_key(RedisModuleCtx *ctx, RedisModuleString *keyname, AIError *err) {
    return ai_key_value(ctx, keyname, AITensorType, AI_ERR_TENSOR_EMPTY, err);
}

int tensor_from_key_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AITensor **t) {
    return ai_key_value_or_reply(ctx, keyname, AITensorType, AI_ERR_TENSOR_EMPTY, (void **)t);
}

int tensor_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, AITensor *t) {
    if (ai_key_store_or_reply(ctx, keyname, AITensorType, t) != REDISMODULE_OK) {
        tensor_release(t);
        return REDISMODULE_ERR;
    }
    return REDISMODULE_OK;
}
