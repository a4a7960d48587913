/* A tensor in a Redis Stream entry (roadmap R2.1): the fields `dtype` (a dtype name),
 * `shape` (the dims in decimal, separated by single spaces; empty for a scalar) and `blob`
 * (the raw bytes, as AI.TENSORSET BLOB). Other fields are ignored on read.
 *
 * Reads go through the module API's stream iterator and writes through its stream add, so
 * a blob is copied once each way (out of the listpack into the tensor's buffer, and into
 * the listpack), never through RedisModule_Call. Main thread only. */
#pragma once
#include "errors.h"
#include "redismodule.h"
#include "tensor.h"

/* Whether keyname holds a stream. */
int stream_key_is_stream(RedisModuleCtx *ctx, RedisModuleString *keyname);

/* The tensor of the entry `id` of the stream at keyname, or of its newest entry when id is
 * NULL: a new tensor (one reference), or NULL with AI_ERR_STREAM_NOT_TENSOR when there is no
 * such entry or its fields do not make a tensor. The key must hold a stream. */
AITensor *stream_tensor_read(RedisModuleCtx *ctx, RedisModuleString *keyname,
                             const RedisModuleStreamID *id, AIError *err);

/* Appends t to the stream at keyname (XADD *), with a field `source` holding *source when
 * it is not NULL, then trims the stream to about STREAM_MAXLEN entries. Replicates what it
 * did as XADD with the new id (and XTRIM MINID when it trimmed) and notifies `xadd`. The
 * module's own appends do not start triggers (stream_own_write). */
void stream_tensor_append(RedisModuleCtx *ctx, RedisModuleString *keyname, const AITensor *t,
                          const RedisModuleStreamID *source);

/* True while the module notifies one of its own appends. */
int stream_own_write(void);

/* The id of the newest entry of the stream at keyname, or 0-0 when it is empty or missing. */
RedisModuleStreamID stream_last_id(RedisModuleCtx *ctx, RedisModuleString *keyname);

/* Entries of the stream at keyname whose id is greater than after. */
long long stream_count_after(RedisModuleCtx *ctx, RedisModuleString *keyname,
                             RedisModuleStreamID after);

/* Moves a forward stream iterator of key past the fields of its current entry: the next
 * RedisModule_StreamIteratorNextID expects them read. */
void stream_skip_fields(RedisModuleKey *key);

/* The id that follows id, for an exclusive start: 1-5 -> 1-6. */
RedisModuleStreamID stream_id_next(RedisModuleStreamID id);
int stream_id_cmp(RedisModuleStreamID a, RedisModuleStreamID b);
/* "<ms>-<seq>" into buf (at least 48 bytes); returns its length. */
int stream_id_format(RedisModuleStreamID id, char *buf, size_t size);
