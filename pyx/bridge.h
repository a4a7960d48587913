/* The bridge's C face: the only Python-facing functions the C core calls. They take and
 * return C types; everything that holds Python objects stays behind them in pyx/. */
#pragma once
#include <stddef.h>

/* Starts the embedded interpreter on the project's virtual environment, imports the
 * Cython bridge and releases the GIL. Returns 0, or -1 with a reason in err. */
int bridge_start(char *err, size_t errlen);
