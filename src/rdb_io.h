/* RDB encodings the model and script types share (RedisAI's): C strings saved with their
 * terminating NUL, and counted lists of them. */
#pragma once
#include "names.h"
#include "redismodule.h"

void ai_rdb_save_cstring(RedisModuleIO *io, const char *s);
/* A string saved with its NUL and none before it, or NULL (I/O error or corrupt). */
char *ai_rdb_load_cstring(RedisModuleIO *io);
void ai_rdb_save_names(RedisModuleIO *io, const AINames *n);
/* Reads a list of at most max names into n (empty on entry); -1 if corrupt. */
int ai_rdb_load_names(RedisModuleIO *io, AINames *n, uint64_t max);
