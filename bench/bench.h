/* Shared helpers for weft's benchmark programs (see bench/README.md for the
 * output contract). */
#ifndef WEFT_BENCH_H
#define WEFT_BENCH_H

#include <weft.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The workload size: argv[1] if given, else `quick` under BENCH_QUICK=1,
 * else `full`. */
static inline long bench_size(int argc, char **argv, long full, long quick) {
    if (argc > 1)
        return atol(argv[1]);
    const char *q = getenv("BENCH_QUICK");
    return q && *q && strcmp(q, "0") != 0 ? quick : full;
}

static inline void bench_line(const char *workload, const char *system, double value,
                              const char *unit) {
    printf("%s\t%s\t%.6g\t%s\n", workload, system, value, unit);
    fflush(stdout);
}

/* Exits with a message if r is a weft error. */
#define BENCH_CHECK(expr)                                                                          \
    do {                                                                                           \
        long r_ = (long)(expr);                                                                    \
        if (r_ < 0) {                                                                              \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,                          \
                    weft_strerror((int)r_));                                                       \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Proportional set size of this process in MiB (smaps_rollup), -1 if unknown. */
static inline double bench_pss_mib(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f)
        return -1;
    char line[256];
    double kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "Pss:", 4) == 0) {
            kb = atof(line + 4);
            break;
        }
    }
    fclose(f);
    return kb < 0 ? -1 : kb / 1024.0;
}

#endif
