/* Concatenating tensors along dim 0 and slicing them back: what auto-batching does to a
 * batch's inputs and outputs. Pure tensor layer: C-contiguous data makes both plain
 * copies of consecutive rows. */
#pragma once
#include "tensor.h"

/* True if a and b have the same dtype, rank and dims 1..n-1 (so they can be stacked). */
int tensor_rows_compatible(const AITensor *a, const AITensor *b);
/* A new tensor of the n tensors' rows, in order. They must be row-compatible. */
AITensor *tensor_concat_rows(AITensor *const *ts, int n, AIError *err);
/* A new tensor of rows [offset, offset+count) of t. */
AITensor *tensor_slice_rows(const AITensor *t, int64_t offset, int64_t count, AIError *err);
