/* Deadlines of queued work: a client's TIMEOUT, a model's MINBATCHTIMEOUT, turned into a
 * point in RedisModule_MonotonicMicroseconds() time when the work is queued. 0: none.
 * Work whose deadline passed is not started (the client gets TIMEDOUT); a batch below its
 * MINBATCHSIZE stops waiting for mates. */
#pragma once
#include <stdint.h>

/* The deadline timeout_ms after start_us; 0 (none) for a timeout of 0 or less. */
static inline uint64_t deadline_from_timeout_ms(uint64_t start_us, long long timeout_ms) {
    if (timeout_ms <= 0) return 0;
    if ((uint64_t)timeout_ms > (UINT64_MAX - start_us) / 1000) return UINT64_MAX;
    return start_us + (uint64_t)timeout_ms * 1000;
}

/* True once now_us is past deadline_us; never for no deadline. */
static inline int deadline_passed(uint64_t deadline_us, uint64_t now_us) {
    return deadline_us != 0 && now_us > deadline_us;
}
