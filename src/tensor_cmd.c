/* AI.TENSORSET and AI.TENSORGET (spec section 2). Both run on the main thread in C:
 * a tensor never takes a detour through Python here. */
#include <string.h>
#include <strings.h>

#include "args.h"
#include "commands.h"
#include "keys.h"
#include "tensor_cmd.h"
#include "tensor_type.h"

#define MAX_DIMS 64

/* Reads dims from argv[*i] on until BLOB, VALUES or the end: REDISMODULE_OK or _ERR, as
 * the value readers below (the caller names the error). */
static int parse_shape(RedisModuleString **argv, int argc, int *i, int64_t *dims, int *ndim) {
    for (*ndim = 0; *i < argc; (*i)++) {
        if (ai_arg_is(argv[*i], "BLOB") || ai_arg_is(argv[*i], "VALUES")) break;
        long long d;
        if (*ndim == MAX_DIMS || RedisModule_StringToLongLong(argv[*i], &d) != REDISMODULE_OK ||
            d <= 0)
            return REDISMODULE_ERR;
        dims[(*ndim)++] = d;
    }
    return REDISMODULE_OK;
}

/* Unsigned values up to UINT64_MAX, as strictly as StringToLongLong reads signed ones:
 * "0" or digits without a leading zero. Redis' StringToULongLong falls back to strtoull
 * above INT64_MAX, which takes blanks, '+' and even '-' (wrapping "-1...1" to a small
 * number), so it is not used. */
static int parse_uint64(RedisModuleString *arg, uint64_t *v) {
    size_t len;
    const char *p = RedisModule_StringPtrLen(arg, &len);
    if (len == 0 || (p[0] == '0' && len > 1)) return REDISMODULE_ERR;
    uint64_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9' || __builtin_mul_overflow(n, 10, &n) ||
            __builtin_add_overflow(n, (uint64_t)(p[i] - '0'), &n))
            return REDISMODULE_ERR;
    }
    *v = n;
    return REDISMODULE_OK;
}

static int set_number(AITensor *t, int64_t i, RedisModuleString *arg) {
    const AIDType *d = t->dtype;
    if (d->code == kDLFloat || d->code == kDLBfloat) {
        double v;
        if (RedisModule_StringToDouble(arg, &v) != REDISMODULE_OK) return REDISMODULE_ERR;
        tensor_set_double(t, i, v);
        return REDISMODULE_OK;
    }
    if (d->code == kDLInt) {
        long long v;
        if (RedisModule_StringToLongLong(arg, &v) != REDISMODULE_OK || v < ai_dtype_int_min(d) ||
            v > (long long)ai_dtype_int_max(d))
            return REDISMODULE_ERR;
        tensor_set_int(t, i, v);
        return REDISMODULE_OK;
    }
    uint64_t v; /* UINT* and BOOL */
    if (parse_uint64(arg, &v) != REDISMODULE_OK || v > ai_dtype_int_max(d)) return REDISMODULE_ERR;
    tensor_set_uint(t, i, v);
    return REDISMODULE_OK;
}

/* STRING VALUES: each argument is one element; one trailing NUL is allowed. */
static AITensor *strings_from_values(const AIDType *dtype, const int64_t *dims, int ndim,
                                     RedisModuleString **vals, int64_t n, AIError *err) {
    size_t total = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = RedisModule_StringPtrLen(vals[i], &len);
        if (len && s[len - 1] == '\0') len--;
        if (len == 0 || memchr(s, '\0', len)) {
            ai_error_set(err, AI_ERR_CSTRING_NUL, NULL);
            return NULL;
        }
        total += len + 1;
    }
    AITensor *t = tensor_alloc(dtype, dims, ndim, total, err);
    if (!t) return NULL;
    char *p = t->dl.data;
    for (int64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = RedisModule_StringPtrLen(vals[i], &len);
        if (len && s[len - 1] == '\0') len--;
        memcpy(p, s, len);
        p[len] = '\0';
        p += len + 1;
    }
    tensor_index_strings(t, err);
    return t;
}

static AITensor *tensor_from_values(const AIDType *dtype, const int64_t *dims, int ndim,
                                    RedisModuleString **vals, int nvals, AIError *err) {
    int64_t n = ai_shape_length(dims, ndim);
    if (n != nvals) {
        ai_error_set(err, AI_ERR_VALUES_COUNT, NULL);
        return NULL;
    }
    if (ai_dtype_is_string(dtype)) return strings_from_values(dtype, dims, ndim, vals, n, err);
    AITensor *t = tensor_new_zeros(dtype, dims, ndim, err);
    if (!t) return NULL;
    for (int64_t i = 0; i < n; i++) {
        if (set_number(t, i, vals[i]) != REDISMODULE_OK) {
            tensor_release(t);
            ai_error_set(err, AI_ERR_INVALID_VALUE, NULL);
            return NULL;
        }
    }
    return t;
}

/* Redis hands a large argument over without copying it (its query buffer becomes the
 * argument): a tensor can keep it the same way. Below this size a copy is cheaper than
 * keeping the argument object. */
#define AI_BORROW_MIN_BYTES (32 * 1024)

/* Safe on any thread: once the command is over, the tensor holds the only reference. */
static void release_arg(void *arg) { RedisModule_FreeString(NULL, arg); }

/* The data after the shape at argv[i] (none, VALUES or BLOB) into a new tensor. */
static AITensor *tensor_from_data(const AIDType *dtype, const int64_t *dims, int ndim,
                                  RedisModuleString **argv, int argc, int i, AIError *err) {
    if (i == argc) return tensor_new_zeros(dtype, dims, ndim, err);
    if (ai_arg_is(argv[i], "VALUES"))
        return tensor_from_values(dtype, dims, ndim, argv + i + 1, argc - i - 1, err);
    if (argc - i != 2) {
        ai_error_set(err, AI_ERR_BLOB_ARITY, NULL);
        return NULL;
    }
    size_t len;
    const char *blob = RedisModule_StringPtrLen(argv[i + 1], &len);
    if (len < AI_BORROW_MIN_BYTES || ai_dtype_is_string(dtype))
        return tensor_new_from_blob(dtype, dims, ndim, blob, len, err);
    /* Large blobs stay in the argument Redis read them into: no copy at all. */
    AITensor *t = tensor_new_borrowing(dtype, dims, ndim, blob, len, argv[i + 1], release_arg, err);
    if (t) RedisModule_RetainString(NULL, argv[i + 1]);
    return t;
}

int tensor_parse_set_args(RedisModuleString **argv, int argc, AITensor **t, AIError *err) {
    size_t len;
    const char *name = RedisModule_StringPtrLen(argv[2], &len);
    const AIDType *dtype = ai_dtype_by_name(name, len);
    if (!dtype) return ai_fail(err, AI_ERR_INVALID_DTYPE);
    int64_t dims[MAX_DIMS];
    int ndim, i = 3;
    if (parse_shape(argv, argc, &i, dims, &ndim) != REDISMODULE_OK)
        return ai_fail(err, AI_ERR_SHAPE);
    *t = tensor_from_data(dtype, dims, ndim, argv, argc, i, err);
    return *t ? REDISMODULE_OK : REDISMODULE_ERR;
}

/* AI.TENSORSET <key> <dtype> [<dim> ...] [BLOB <data> | VALUES <v> ...] */
static int tensorset_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 4) return ai_reply_arity(ctx, argv[0]);
    /* The key's type is checked before any argument is parsed (RedisAI's order). */
    if (ai_key_accepts_or_reply(ctx, argv[1], AITensorType) != REDISMODULE_OK)
        return REDISMODULE_OK;
    AIError err = {0};
    AITensor *t;
    tensor_cap_lift(ai_from_own_data(ctx));
    int rc = tensor_parse_set_args(argv, argc, &t, &err);
    tensor_cap_lift(0);
    if (rc != REDISMODULE_OK) return ai_reply_error(ctx, &err);
    if (tensor_store_or_reply(ctx, argv[1], t) != REDISMODULE_OK) return REDISMODULE_OK;
    RedisModule_ReplicateVerbatim(ctx);
    return RedisModule_ReplyWithSimpleString(ctx, "OK");
}

static void reply_value(RedisModuleCtx *ctx, const AITensor *t, int64_t i) {
    const AIDType *d = t->dtype;
    if (ai_dtype_is_string(d)) {
        size_t len;
        const char *s = tensor_string_at(t, i, &len);
        RedisModule_ReplyWithStringBuffer(ctx, s, len);
    } else if (d->code == kDLFloat || d->code == kDLBfloat) {
        RedisModule_ReplyWithDouble(ctx, tensor_get_double(t, i));
    } else if (d->code == kDLInt) {
        RedisModule_ReplyWithLongLong(ctx, tensor_get_int(t, i));
    } else {
        uint64_t v = tensor_get_uint(t, i);
        if (v <= INT64_MAX) {
            RedisModule_ReplyWithLongLong(ctx, (long long)v);
        } else { /* beyond RESP integers: a big number (a bulk string in RESP2) */
            char buf[24];
            int len = snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
            RedisModule_ReplyWithBigNumber(ctx, buf, len);
        }
    }
}

static void reply_values(RedisModuleCtx *ctx, const AITensor *t) {
    int64_t n = tensor_length(t);
    RedisModule_ReplyWithArray(ctx, n);
    for (int64_t i = 0; i < n; i++) reply_value(ctx, t, i);
}

static void reply_meta(RedisModuleCtx *ctx, const AITensor *t) {
    RedisModule_ReplyWithStringBuffer(ctx, "dtype", 5);
    RedisModule_ReplyWithStringBuffer(ctx, t->dtype->name, strlen(t->dtype->name));
    RedisModule_ReplyWithStringBuffer(ctx, "shape", 5);
    RedisModule_ReplyWithArray(ctx, t->dl.ndim);
    for (int i = 0; i < t->dl.ndim; i++) RedisModule_ReplyWithLongLong(ctx, t->dl.shape[i]);
}

int tensor_parse_get_format(RedisModuleString **argv, int argc, int *fmt, AIError *err) {
    *fmt = 0;
    for (int i = 2; i < argc; i++) {
        if (ai_arg_is(argv[i], "META"))
            *fmt |= FMT_META;
        else if (ai_arg_is(argv[i], "BLOB"))
            *fmt |= FMT_BLOB;
        else if (ai_arg_is(argv[i], "VALUES"))
            *fmt |= FMT_VALUES;
        else
            return ai_fail(err, AI_ERR_DATA_FORMAT);
    }
    if ((*fmt & FMT_BLOB) && (*fmt & FMT_VALUES)) return ai_fail(err, AI_ERR_BLOB_AND_VALUES);
    if (!*fmt) *fmt = FMT_META | FMT_BLOB;
    return REDISMODULE_OK;
}

void tensor_reply_get(RedisModuleCtx *ctx, const AITensor *t, int fmt) {
    if (fmt & FMT_META) RedisModule_ReplyWithArray(ctx, (fmt & ~FMT_META) ? 6 : 4);
    if (fmt & FMT_META) reply_meta(ctx, t);
    if (fmt & FMT_BLOB) {
        if (fmt & FMT_META) RedisModule_ReplyWithStringBuffer(ctx, "blob", 4);
        RedisModule_ReplyWithStringBuffer(ctx, t->dl.data, t->nbytes);
    }
    if (fmt & FMT_VALUES) {
        if (fmt & FMT_META) RedisModule_ReplyWithStringBuffer(ctx, "values", 6);
        reply_values(ctx, t);
    }
}

/* AI.TENSORGET <key> [META] [BLOB | VALUES] */
static int tensorget_command(RedisModuleCtx *ctx, RedisModuleString **argv, int argc) {
    if (argc < 2 || argc > 4) return ai_reply_arity(ctx, argv[0]);
    AITensor *t;
    if (tensor_from_key_or_reply(ctx, argv[1], &t) != REDISMODULE_OK) return REDISMODULE_OK;
    AIError err = {0};
    int fmt;
    if (tensor_parse_get_format(argv, argc, &fmt, &err) != REDISMODULE_OK)
        return ai_reply_error(ctx, &err);
    tensor_reply_get(ctx, t, fmt);
    return REDISMODULE_OK;
}

int tensor_commands_register(RedisModuleCtx *ctx) {
    if (RedisModule_CreateCommand(ctx, "ai.tensorset", tensorset_command, "write deny-oom", 1, 1,
                                  1) == REDISMODULE_ERR ||
        RedisModule_CreateCommand(ctx, "ai.tensorget", tensorget_command, "readonly", 1, 1, 1) ==
            REDISMODULE_ERR)
        return REDISMODULE_ERR;
    return REDISMODULE_OK;
}
