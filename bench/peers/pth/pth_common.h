/* Shared helpers of the GNU Pth peers (bench/peers/pth/): size, clock, output. */
#ifndef PTH_COMMON_H
#define PTH_COMMON_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline long peer_size(int argc, char **argv, long full, long quick) {
    if (argc > 1)
        return atol(argv[1]);
    const char *q = getenv("BENCH_QUICK");
    return q && strcmp(q, "1") == 0 ? quick : full;
}

static inline int64_t peer_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
#endif
