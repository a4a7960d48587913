/* The C test drivers' one assertion: a failed condition prints its line and makes the
 * check function return 1. */
#pragma once
#include <stdio.h>

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("failed at line %d: %s\n", __LINE__, #cond);                                    \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)
