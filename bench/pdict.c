/* pdict: set + get on a shared dict (weft_pdict) in one process, ops/s
 * (each set and each get counts as one operation; 1024 keys of 8 bytes,
 * 8-byte values). The peer is Python's Manager().dict() (mp_bench.py). */
#include "pdict_ops.h"

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 4000000, 400000);
    weft_pdict *d;
    BENCH_CHECK(weft_pdict_create(&d, 1 << 20));
    BENCH_CHECK(pdict_ops(d, 20000, 0)); /* warm up: every key present */
    int64_t t0 = weft_now();
    if (pdict_ops(d, n, 0) < 0) {
        fprintf(stderr, "pdict: wrong value read back\n");
        return 1;
    }
    double el = (double)(weft_now() - t0) / 1e9;
    bench_line("pdict", "weft", (double)n / el, "ops/s");
    weft_pdict_close(d);
    return 0;
}
