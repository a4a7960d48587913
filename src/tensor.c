/* The pure tensor layer; see tensor.h. */
#include "tensor.h"

#include <string.h>
#include <strings.h>

static const AIDType dtypes[] = {
    {"FLOAT", kDLFloat, 32, 4},     {"DOUBLE", kDLFloat, 64, 8},  {"INT8", kDLInt, 8, 1},
    {"INT16", kDLInt, 16, 2},       {"INT32", kDLInt, 32, 4},     {"INT64", kDLInt, 64, 8},
    {"UINT8", kDLUInt, 8, 1},       {"UINT16", kDLUInt, 16, 2},   {"BOOL", AI_DL_BOOL, 8, 1},
    {"STRING", AI_DL_STRING, 8, 1}, {"FLOAT16", kDLFloat, 16, 2}, {"BFLOAT16", kDLBfloat, 16, 2},
    {"UINT32", kDLUInt, 32, 4},     {"UINT64", kDLUInt, 64, 8},
};
#define NDTYPES (sizeof dtypes / sizeof dtypes[0])

const AIDType *ai_dtype_by_name(const char *name, size_t len) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (strlen(dtypes[i].name) == len && !strncasecmp(dtypes[i].name, name, len))
            return &dtypes[i];
    return NULL;
}

const AIDType *ai_dtype_by_code(unsigned code, unsigned bits) {
    for (size_t i = 0; i < NDTYPES; i++)
        if (dtypes[i].code == code && dtypes[i].bits == bits) return &dtypes[i];
    return NULL;
}

int64_t ai_shape_length(const int64_t *dims, int ndim) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++)
        if (dims[i] < 0 || __builtin_mul_overflow(n, dims[i], &n)) return -1;
    return n;
}

static size_t max_bytes = AI_TENSOR_MAX_BYTES_DEFAULT;

void tensor_set_max_bytes(size_t max) { __atomic_store_n(&max_bytes, max, __ATOMIC_RELAXED); }
size_t tensor_max_bytes(void) { return __atomic_load_n(&max_bytes, __ATOMIC_RELAXED); }

static __thread int cap_lifted;
void tensor_cap_lift(int lifted) { cap_lifted = lifted; }

/* Data of at most this many bytes lives in the tensor's own allocation, after the shape:
 * a model's small outputs are made on a worker and freed on the main thread for every
 * request, and one allocation instead of three is what that costs. */
#define INLINE_DATA_MAX 512
#define INLINE_ALIGN    16 /* the largest element's alignment; jemalloc gives the block 16 */

static size_t shape_end(int ndim) {
    size_t end = sizeof(AITensor) + sizeof(int64_t) * (size_t)ndim;
    return (end + INLINE_ALIGN - 1) & ~(size_t)(INLINE_ALIGN - 1);
}

static void *inline_data(const AITensor *t) { return (char *)t + shape_end(t->dl.ndim); }

/* A tensor, its shape in the same allocation, with room for inline bytes of data after it
 * (dl.data unset). */
static AITensor *tensor_header(const AIDType *dtype, const int64_t *dims, int ndim, size_t nbytes,
                               size_t inline_bytes, AIError *err) {
    if (nbytes > tensor_max_bytes() && !cap_lifted) {
        ai_error_set(err, AI_ERR_TENSOR_TOO_LARGE, NULL);
        return NULL;
    }
    AITensor *t = RedisModule_Calloc(1, shape_end(ndim) + inline_bytes);
    t->dtype = dtype;
    t->refcount = 1;
    t->nbytes = nbytes;
    t->dl.device = (DLDevice){kDLCPU, 0};
    t->dl.dtype = (DLDataType){dtype->code, dtype->bits, 1};
    t->dl.ndim = ndim;
    t->dl.shape = (int64_t *)(t + 1);
    if (ndim) memcpy(t->dl.shape, dims, sizeof(int64_t) * ndim);
    return t;
}

AITensor *tensor_alloc(const AIDType *dtype, const int64_t *dims, int ndim, size_t nbytes,
                       AIError *err) {
    int inline_ = nbytes <= INLINE_DATA_MAX;
    AITensor *t = tensor_header(dtype, dims, ndim, nbytes, inline_ ? nbytes : 0, err);
    if (!t) return NULL;
    if (inline_) {
        t->dl.data = inline_data(t);
        return t;
    }
    /* 64-byte alignment comes with jemalloc's size classes for anything sizeable. The size
     * is the client's or a model's choice: an allocation that fails is an error, not an
     * abort. */
    t->dl.data = RedisModule_TryAlloc(nbytes);
    if (!t->dl.data) {
        RedisModule_Free(t);
        ai_error_set(err, AI_ERR_TENSOR_TOO_LARGE, NULL);
        return NULL;
    }
    return t;
}

static size_t numeric_bytes(const AIDType *dtype, const int64_t *dims, int ndim) {
    int64_t n = ai_shape_length(dims, ndim);
    size_t bytes;
    if (n < 0 || __builtin_mul_overflow((size_t)n, (size_t)dtype->size, &bytes)) return SIZE_MAX;
    return bytes;
}

AITensor *tensor_new_zeros(const AIDType *dtype, const int64_t *dims, int ndim, AIError *err) {
    /* An empty string is a lone NUL: a STRING tensor of n elements is n bytes of zeros. */
    AITensor *t = tensor_alloc(dtype, dims, ndim, numeric_bytes(dtype, dims, ndim), err);
    if (!t) return NULL;
    memset(t->dl.data, 0, t->nbytes);
    if (ai_dtype_is_string(dtype)) tensor_index_strings(t, err);
    return t;
}

static int bool_blob_ok(const char *blob, size_t len) {
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)blob[i] > 1) return 0;
    return 1;
}

static int numeric_blob_ok(const AIDType *dtype, const int64_t *dims, int ndim, const char *blob,
                           size_t len, AIError *err) {
    if (len != numeric_bytes(dtype, dims, ndim)) {
        ai_error_set(err, AI_ERR_DATA_LENGTH, NULL);
        return 0;
    }
    if (dtype->code == AI_DL_BOOL && !bool_blob_ok(blob, len)) {
        ai_error_set(err, AI_ERR_BOOL_BLOB, NULL);
        return 0;
    }
    return 1;
}

AITensor *tensor_new_borrowing(const AIDType *dtype, const int64_t *dims, int ndim,
                               const char *blob, size_t len, void *owner, AIDataFree free_owner,
                               AIError *err) {
    if (!numeric_blob_ok(dtype, dims, ndim, blob, len, err)) return NULL;
    AITensor *t = tensor_header(dtype, dims, ndim, len, 0, err);
    if (!t) return NULL;
    t->dl.data = (void *)blob;
    t->data_owner = owner;
    t->free_owner = free_owner;
    return t;
}

AITensor *tensor_new_from_blob(const AIDType *dtype, const int64_t *dims, int ndim,
                               const char *blob, size_t len, AIError *err) {
    if (!ai_dtype_is_string(dtype) && !numeric_blob_ok(dtype, dims, ndim, blob, len, err))
        return NULL;
    AITensor *t = tensor_alloc(dtype, dims, ndim, len, err);
    if (!t) return NULL;
    memcpy(t->dl.data, blob, len);
    if (ai_dtype_is_string(dtype) && tensor_index_strings(t, err) != 0) {
        tensor_release(t);
        return NULL;
    }
    return t;
}

/* Copies the elements of dimension dim onward, following src's strides (in elements). */
static char *copy_strided(char *dst, const char *src, const DLTensor *t, int dim, size_t size) {
    int64_t n = t->shape[dim], stride = t->strides[dim];
    if (dim == t->ndim - 1 && stride == 1) {
        memcpy(dst, src, (size_t)n * size);
        return dst + (size_t)n * size;
    }
    for (int64_t i = 0; i < n; i++) {
        const char *from = src + i * stride * (int64_t)size;
        if (dim == t->ndim - 1) {
            memcpy(dst, from, size);
            dst += size;
        } else {
            dst = copy_strided(dst, from, t, dim + 1, size);
        }
    }
    return dst;
}

static int dl_contiguous(const DLTensor *t) {
    if (!t->strides) return 1;
    int64_t expected = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->strides[i] != expected) return 0;
        expected *= t->shape[i];
    }
    return 1;
}

AITensor *tensor_copy_dlpack(const DLTensor *src, AIError *err) {
    const AIDType *dtype = src->dtype.lanes == 1 && src->device.device_type == kDLCPU
                               ? ai_dtype_by_code(src->dtype.code, src->dtype.bits)
                               : NULL;
    if (!dtype || ai_dtype_is_string(dtype)) {
        ai_error_set(err, AI_ERR_OUTPUT_DTYPE, NULL);
        return NULL;
    }
    AITensor *t = tensor_alloc(dtype, src->shape, src->ndim,
                               numeric_bytes(dtype, src->shape, src->ndim), err);
    if (!t) return NULL;
    const char *data = (const char *)src->data + src->byte_offset;
    if (t->nbytes == 0) return t;
    if (dl_contiguous(src))
        memcpy(t->dl.data, data, t->nbytes);
    else
        copy_strided(t->dl.data, data, src, 0, dtype->size);
    return t;
}

AITensor *tensor_share(AITensor *t) {
    __atomic_add_fetch(&t->refcount, 1, __ATOMIC_RELAXED);
    return t;
}

void tensor_release(AITensor *t) {
    if (!t || __atomic_sub_fetch(&t->refcount, 1, __ATOMIC_ACQ_REL) > 0) return;
    if (t->data_owner)
        t->free_owner(t->data_owner);
    else if (t->dl.data != inline_data(t))
        RedisModule_Free(t->dl.data);
    if (t->offsets) RedisModule_Free(t->offsets);
    RedisModule_Free(t);
}

int64_t tensor_length(const AITensor *t) { return ai_shape_length(t->dl.shape, t->dl.ndim); }

size_t tensor_mem_usage(const AITensor *t) {
    size_t n = shape_end(t->dl.ndim) + t->nbytes;
    if (t->offsets) n += sizeof(size_t) * tensor_length(t);
    return n;
}

/* The number of NUL-terminated strings in data, or -1 if it does not end with a NUL. */
static int64_t count_strings(const char *data, size_t nbytes) {
    if (nbytes && data[nbytes - 1] != '\0') return -1;
    int64_t count = 0;
    for (const char *p = data, *end = data + nbytes; p < end; p++, count++)
        p = memchr(p, '\0', end - p);
    return count;
}

int tensor_index_strings(AITensor *t, AIError *err) {
    /* Counting before allocating bounds the offsets by the blob's size, whatever the
     * shape claims: a huge shape with a short blob must not allocate per element. */
    int64_t n = tensor_length(t);
    if (n < 0 || count_strings(t->dl.data, t->nbytes) != n) {
        ai_error_set(err, AI_ERR_STRING_BLOB, NULL);
        return -1;
    }
    const char *data = t->dl.data;
    size_t *offsets = RedisModule_TryAlloc(sizeof(size_t) * (n ? n : 1));
    if (!offsets) {
        ai_error_set(err, AI_ERR_TENSOR_TOO_LARGE, NULL);
        return -1;
    }
    size_t start = 0;
    for (int64_t i = 0; i < n; i++) {
        offsets[i] = start;
        start += strlen(data + start) + 1;
    }
    if (t->offsets) RedisModule_Free(t->offsets);
    t->offsets = offsets;
    return 0;
}

const char *tensor_string_at(const AITensor *t, int64_t i, size_t *len) {
    const char *s = (const char *)t->dl.data + t->offsets[i];
    *len = strlen(s);
    return s;
}

/* bfloat16 is the upper half of a binary32, rounded to nearest even. */
static uint16_t float_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static float bf16_to_float(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* Element access through memcpy: data kept in a Redis argument (tensor_new_borrowing) need
 * not be aligned for its type, and the compiler turns these into plain loads and stores. */
#define AT_GET(type)                                                                               \
    ({                                                                                             \
        type v_;                                                                                   \
        memcpy(&v_, (const char *)t->dl.data + i * sizeof(type), sizeof v_);                       \
        v_;                                                                                        \
    })
#define AT_SET(type, value)                                                                        \
    do {                                                                                           \
        type v_ = (value);                                                                         \
        memcpy((char *)t->dl.data + i * sizeof(type), &v_, sizeof v_);                             \
    } while (0)

void tensor_set_double(AITensor *t, int64_t i, double v) {
    switch (t->dtype->bits) {
    case 64: AT_SET(double, v); break;
    case 32: AT_SET(float, (float)v); break;
    default:
        if (t->dtype->code == kDLBfloat)
            AT_SET(uint16_t, float_to_bf16((float)v));
        else
            AT_SET(_Float16, (_Float16)v);
    }
}

double tensor_get_double(const AITensor *t, int64_t i) {
    switch (t->dtype->bits) {
    case 64: return AT_GET(double);
    case 32: return AT_GET(float);
    default:
        if (t->dtype->code == kDLBfloat) return bf16_to_float(AT_GET(uint16_t));
        return (double)AT_GET(_Float16);
    }
}

void tensor_set_int(AITensor *t, int64_t i, int64_t v) {
    switch (t->dtype->bits) {
    case 8: AT_SET(int8_t, (int8_t)v); break;
    case 16: AT_SET(int16_t, (int16_t)v); break;
    case 32: AT_SET(int32_t, (int32_t)v); break;
    default: AT_SET(int64_t, v);
    }
}

int64_t tensor_get_int(const AITensor *t, int64_t i) {
    switch (t->dtype->bits) {
    case 8: return AT_GET(int8_t);
    case 16: return AT_GET(int16_t);
    case 32: return AT_GET(int32_t);
    default: return AT_GET(int64_t);
    }
}

void tensor_set_uint(AITensor *t, int64_t i, uint64_t v) {
    switch (t->dtype->bits) {
    case 8: AT_SET(uint8_t, (uint8_t)v); break;
    case 16: AT_SET(uint16_t, (uint16_t)v); break;
    case 32: AT_SET(uint32_t, (uint32_t)v); break;
    default: AT_SET(uint64_t, v);
    }
}

uint64_t tensor_get_uint(const AITensor *t, int64_t i) {
    switch (t->dtype->bits) {
    case 8: return AT_GET(uint8_t);
    case 16: return AT_GET(uint16_t);
    case 32: return AT_GET(uint32_t);
    default: return AT_GET(uint64_t);
    }
}

int64_t ai_dtype_int_min(const AIDType *d) {
    if (d->code != kDLInt) return 0;
    return d->bits == 64 ? INT64_MIN : -((int64_t)1 << (d->bits - 1));
}

uint64_t ai_dtype_int_max(const AIDType *d) {
    if (d->code == AI_DL_BOOL) return 1;
    if (d->code == kDLInt) return d->bits == 64 ? INT64_MAX : ((uint64_t)1 << (d->bits - 1)) - 1;
    return d->bits == 64 ? UINT64_MAX : ((uint64_t)1 << d->bits) - 1;
}
