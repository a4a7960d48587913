/* The tensor: a DLPack DLTensor whose data lives in Redis-allocated memory.
 *
 * A tensor is immutable once published (stored in a key or handed to a run) and is
 * reference-counted: sharing is tensor_share (an atomic incref) and every holder drops
 * its reference with tensor_release; the last release frees shape, data and offsets.
 * The data is C-contiguous, in host byte order. STRING tensors hold their elements as
 * NUL-terminated strings back to back, with the start offset of each element kept
 * beside them. This layer knows nothing of Redis but its allocator. */
#pragma once
#include <dlpack/dlpack.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

/* DLPack < 0.8 has no bool code; the value is the one later versions and RedisAI use. */
#define AI_DL_BOOL 6
/* Not DLPack: RedisAI's code for strings, kept for RDB compatibility. */
#define AI_DL_STRING 7

/* No tensor may hold more bytes than this (TENSOR_MAX_BYTES, roadmap R5; default 512 MB
 * like proto-max-bulk-len): a TENSORSET of absurd dims, or a model's output, is refused
 * with AI_ERR_TENSOR_TOO_LARGE instead of taking the server down. Allocations whose size
 * a client or a model chooses use the non-aborting allocator, and fail the same way. */
#define AI_TENSOR_MAX_BYTES_DEFAULT ((size_t)512 * 1024 * 1024)
void tensor_set_max_bytes(size_t max);
size_t tensor_max_bytes(void);
/* Lifts the cap (lifted != 0) or restores it for the calling thread only: what the server
 * already holds (RDB load, AOF, a master's stream) is not refused because the cap is
 * lower than when it was written. */
void tensor_cap_lift(int lifted);

typedef struct AIDType {
    const char *name; /* as replies show it */
    uint8_t code;     /* DLPack type code */
    uint8_t bits;
    uint8_t size; /* bytes per element; STRING: 1 (a byte of its blob) */
} AIDType;

typedef void (*AIDataFree)(void *owner);

typedef struct AITensor {
    DLTensor dl;      /* dl.data, dl.shape and dl.ndim describe the data */
    void *data_owner; /* NULL: dl.data is ours; else released with free_owner */
    AIDataFree free_owner;
    const AIDType *dtype;
    size_t nbytes;   /* length of dl.data in bytes */
    size_t *offsets; /* STRING only: start of each element in dl.data */
    long refcount;
} AITensor;

const AIDType *ai_dtype_by_name(const char *name, size_t len);
const AIDType *ai_dtype_by_code(unsigned code, unsigned bits);
static inline int ai_dtype_is_string(const AIDType *d) { return d->code == AI_DL_STRING; }

/* Element count of a shape, or -1 if it overflows or a dim is negative. */
int64_t ai_shape_length(const int64_t *dims, int ndim);

/* A tensor with data of nbytes uninitialised bytes (STRING: offsets unset), or NULL with
 * AI_ERR_TENSOR_TOO_LARGE when nbytes is over the cap or cannot be allocated. */
AITensor *tensor_alloc(const AIDType *dtype, const int64_t *dims, int ndim, size_t nbytes,
                       AIError *err);
/* Zero-filled numbers, or empty strings. */
AITensor *tensor_new_zeros(const AIDType *dtype, const int64_t *dims, int ndim, AIError *err);
/* Copies blob in after checking its length and contents against dtype and shape. */
AITensor *tensor_new_from_blob(const AIDType *dtype, const int64_t *dims, int ndim,
                               const char *blob, size_t len, AIError *err);

/* Like tensor_new_from_blob, but the tensor keeps blob where it is instead of copying
 * it: owner (which holds blob) is released with free_owner with the last reference. On
 * failure nothing is taken over. Numeric dtypes only. */
AITensor *tensor_new_borrowing(const AIDType *dtype, const int64_t *dims, int ndim,
                               const char *blob, size_t len, void *owner, AIDataFree free_owner,
                               AIError *err);

/* A new tensor holding a copy of a DLPack tensor a native runner produced (CPU memory, any
 * strides and byte offset), in host byte order. Fails with AI_ERR_OUTPUT_DTYPE for a dtype
 * RedisAI has no name for, or one off the CPU. The caller still owns src. */
AITensor *tensor_copy_dlpack(const DLTensor *src, AIError *err);

AITensor *tensor_share(AITensor *t);
void tensor_release(AITensor *t);

int64_t tensor_length(const AITensor *t);
size_t tensor_mem_usage(const AITensor *t);

/* STRING: finds the element starts in t->dl.data; fails with AI_ERR_STRING_BLOB if the
 * blob is not exactly tensor_length NUL-terminated strings. */
int tensor_index_strings(AITensor *t, AIError *err);
/* STRING: a pointer to element i (NUL-terminated) and its length. */
const char *tensor_string_at(const AITensor *t, int64_t i, size_t *len);

/* Element access for numbers; the caller range-checks integer values first. */
void tensor_set_double(AITensor *t, int64_t i, double v);
void tensor_set_int(AITensor *t, int64_t i, int64_t v);
void tensor_set_uint(AITensor *t, int64_t i, uint64_t v);
double tensor_get_double(const AITensor *t, int64_t i);
int64_t tensor_get_int(const AITensor *t, int64_t i);
uint64_t tensor_get_uint(const AITensor *t, int64_t i);

/* Value range of an integer dtype, for VALUES parsing. */
int64_t ai_dtype_int_min(const AIDType *d);
uint64_t ai_dtype_int_max(const AIDType *d);
