/* TIMEOUT/TTR parsing and TTR admission; see ttr.h. */
#include "ttr.h"

#include <limits.h>
#include <stdio.h>

#include "args.h"
#include "deadline.h"

static int read_value(RedisModuleString **argv, int argc, int at, long long *value,
                      AIErrCode missing, AIErrCode invalid, int negative_is_none, AIError *err) {
    if (at >= argc) return ai_fail(err, missing);
    if (RedisModule_StringToLongLong(argv[at], value) != REDISMODULE_OK)
        return ai_fail(err, invalid);
    if (*value < 0 && negative_is_none) *value = 0;
    if (*value <= 0 && !negative_is_none) return ai_fail(err, invalid);
    return REDISMODULE_OK;
}

int ai_limit_parse(RedisModuleString **argv, int argc, int *i, AILimits *l,
                   const AILimitRules *rules, AIError *err) {
    if (*i >= argc) return 0;
    int rc;
    if (ai_arg_is(argv[*i], "TIMEOUT") && !(l->seen & AI_LIMIT_TIMEOUT)) {
        rc = read_value(argv, argc, *i + 1, &l->timeout_ms, rules->timeout_missing,
                        AI_ERR_TIMEOUT_INVALID, rules->negative_timeout_is_none, err);
        l->seen |= AI_LIMIT_TIMEOUT;
    } else if (ai_arg_is(argv[*i], "TTR") && !(l->seen & AI_LIMIT_TTR)) {
        rc = read_value(argv, argc, *i + 1, &l->ttr_ms, AI_ERR_TTR_MISSING, AI_ERR_TTR_INVALID, 0,
                        err);
        l->seen |= AI_LIMIT_TTR;
    } else {
        return 0;
    }
    if (rc != REDISMODULE_OK) return -1;
    *i += 2;
    return 1;
}

int ai_limits_parse(RedisModuleString **argv, int argc, int *i, AILimits *l,
                    const AILimitRules *rules, AIError *err) {
    int rc;
    while ((rc = ai_limit_parse(argv, argc, i, l, rules, err)) == 1) continue;
    return rc < 0 ? REDISMODULE_ERR : REDISMODULE_OK;
}

uint64_t ttr_deadline(uint64_t start_us, long long ttr_ms) {
    return deadline_from_timeout_ms(start_us, ttr_ms);
}

int ttr_admit(long long ttr_ms, long long wait_us, long long run_us, AIError *err) {
    long long total_us = wait_us + run_us;
    if (ttr_ms <= 0 || ttr_ms > LLONG_MAX / 1000 || total_us <= ttr_ms * 1000)
        return REDISMODULE_OK;
    char ms[32];
    snprintf(ms, sizeof ms, "%lld", (total_us + 999) / 1000); /* rounded up: it exceeds TTR */
    return ai_fail_arg(err, AI_ERR_TTR_UNMET, ms);
}
