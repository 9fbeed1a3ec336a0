/* What bench/pdict.c and bench/pdict_2proc.c share: n operations on a shared
 * dict, alternately a set and a get of one of 1024 keys of 8 bytes with
 * 8-byte values (Python's d[k] = v; d[k] with a Manager().dict()). Not a
 * benchmark program itself (no main). */
#ifndef WEFT_BENCH_PDICT_OPS_H
#define WEFT_BENCH_PDICT_OPS_H
#include "bench.h"

#include <stdint.h>

/* Runs n set/get operations on keys of `who`'s range; 0 or -1. */
static int pdict_ops(weft_pdict *d, long n, uint32_t who) {
    static char keys[1024][9];
    for (uint32_t k = 0; k < 1024; k++)
        snprintf(keys[k], sizeof keys[k], "%c%07u", 'a' + (char)who, k);
    uint64_t v, got;
    for (long i = 0; i < n; i += 2) {
        const char *key = keys[(i / 2) % 1024];
        v = (uint64_t)i;
        if (weft_pdict_set(d, key, 8, &v, 8, WEFT_FOREVER) < 0)
            return -1;
        if (weft_pdict_get(d, key, 8, &got, 8, WEFT_FOREVER) != 8 || got != v)
            return -1;
    }
    return 0;
}

#endif
