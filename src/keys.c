/* Module-type key access; see keys.h. */
#include "keys.h"

static int holds(RedisModuleKey *key, RedisModuleType *type) {
    return RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_MODULE &&
           RedisModule_ModuleTypeGetType(key) == type;
}

void *ai_key_value(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                   AIErrCode empty, AIError *err) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ);
    void *value = NULL;
    if (holds(key, type))
        value = RedisModule_ModuleTypeGetValue(key);
    else
        ai_fail(err,
                RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_EMPTY ? empty : AI_ERR_WRONGTYPE);
    RedisModule_CloseKey(key);
    return value;
}

int ai_key_value_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                          AIErrCode empty, void **value) {
    AIError err = {0};
    if ((*value = ai_key_value(ctx, keyname, type, empty, &err))) return REDISMODULE_OK;
    ai_reply_error(ctx, &err);
    return REDISMODULE_ERR;
}

/* Whether keyname is missing or holds `type`, replying WRONGTYPE if not; value, if given,
 * is written there when it is (through the same key handle: one lookup). */
static int check_key(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                     void *value) {
    int mode = value ? REDISMODULE_READ | REDISMODULE_WRITE : REDISMODULE_READ;
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, mode);
    int ok = RedisModule_KeyType(key) == REDISMODULE_KEYTYPE_EMPTY || holds(key, type);
    if (ok && value) RedisModule_ModuleTypeSetValue(key, type, value); /* frees the previous */
    RedisModule_CloseKey(key);
    if (ok) return REDISMODULE_OK;
    ai_reply_code(ctx, AI_ERR_WRONGTYPE);
    return REDISMODULE_ERR;
}

int ai_key_accepts_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname,
                            RedisModuleType *type) {
    return check_key(ctx, keyname, type, NULL);
}

int ai_key_store_or_reply(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                          void *value) {
    return check_key(ctx, keyname, type, value);
}

void ai_key_set(RedisModuleCtx *ctx, RedisModuleString *keyname, RedisModuleType *type,
                void *value) {
    RedisModuleKey *key = RedisModule_OpenKey(ctx, keyname, REDISMODULE_READ | REDISMODULE_WRITE);
    RedisModule_ModuleTypeSetValue(key, type, value); /* frees the previous value */
    RedisModule_CloseKey(key);
}
