/* Row concatenation and slicing; see tensor_batch.h. */
#include "tensor_batch.h"

#include <string.h>

int tensor_rows_compatible(const AITensor *a, const AITensor *b) {
    if (a->dtype != b->dtype || a->dl.ndim != b->dl.ndim || a->dl.ndim == 0) return 0;
    for (int i = 1; i < a->dl.ndim; i++)
        if (a->dl.shape[i] != b->dl.shape[i]) return 0;
    return 1;
}

static AITensor *alloc_rows(const AITensor *like, int64_t rows, size_t nbytes, AIError *err) {
    int64_t dims[64];
    memcpy(dims, like->dl.shape, sizeof(int64_t) * like->dl.ndim);
    dims[0] = rows;
    return tensor_alloc(like->dtype, dims, like->dl.ndim, nbytes, err);
}

AITensor *tensor_concat_rows(AITensor *const *ts, int n, AIError *err) {
    int64_t rows = 0;
    size_t nbytes = 0;
    for (int i = 0; i < n; i++) {
        rows += ts[i]->dl.shape[0];
        nbytes += ts[i]->nbytes;
    }
    AITensor *t = alloc_rows(ts[0], rows, nbytes, err);
    if (!t) return NULL;
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        memcpy((char *)t->dl.data + off, ts[i]->dl.data, ts[i]->nbytes);
        off += ts[i]->nbytes;
    }
    if (ai_dtype_is_string(t->dtype) && tensor_index_strings(t, err) != 0) {
        tensor_release(t);
        return NULL;
    }
    return t;
}

/* Byte offset of element i; for strings, the end of the blob when i is the length. */
static size_t byte_at(const AITensor *t, int64_t i) {
    if (!ai_dtype_is_string(t->dtype)) return (size_t)i * t->dtype->size;
    return i < tensor_length(t) ? t->offsets[i] : t->nbytes;
}

AITensor *tensor_slice_rows(const AITensor *t, int64_t offset, int64_t count, AIError *err) {
    int64_t row = t->dl.shape[0] ? tensor_length(t) / t->dl.shape[0] : 0;
    size_t from = byte_at(t, offset * row), to = byte_at(t, (offset + count) * row);
    AITensor *s = alloc_rows(t, count, to - from, err);
    if (!s) return NULL;
    memcpy(s->dl.data, (const char *)t->dl.data + from, to - from);
    if (ai_dtype_is_string(s->dtype) && tensor_index_strings(s, err) != 0) {
        tensor_release(s);
        return NULL;
    }
    return s;
}
