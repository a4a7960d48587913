/* AI.INFO without arguments (roadmap R4): the server as a whole. Main thread. */
#pragma once
#include "redismodule.h"

/* Replies a flat array of name/value pairs: per device queue `queue`, name, `threads`,
 * `queued`, `running`, `done`, `work_us` (the estimated run time queued or running) and
 * `reply_lag_us` (the recent delay from a run's end to its reply): what TTR admission
 * reads; per loaded backend `backend`, name, `version`, `memory` (bytes,
 * best effort); then the asynchronous DAGs' totals. */
int info_server_reply(RedisModuleCtx *ctx);
