/* RDB encodings the model and script types share (RedisAI's): C strings saved with their
 * terminating NUL, counted lists of them, and tags. */
#pragma once
#include "names.h"
#include "redismodule.h"

void ai_rdb_save_cstring(RedisModuleIO *io, const char *s);
/* A string saved with its NUL and none before it, or NULL (I/O error or corrupt). */
char *ai_rdb_load_cstring(RedisModuleIO *io);
void ai_rdb_save_names(RedisModuleIO *io, const AINames *n);
/* Reads a list of at most max names into n (empty on entry); -1 if corrupt. */
int ai_rdb_load_names(RedisModuleIO *io, AINames *n, uint64_t max);
/* A model's or script's tag, *len bytes: encoding version 0 saved it as a C string (with its
 * NUL, which is dropped), later versions as the bytes alone. NULL if corrupt. */
char *ai_rdb_load_tag(RedisModuleIO *io, int encver, size_t *len);
