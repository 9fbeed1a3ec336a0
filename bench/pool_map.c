/* pool_map: process pool throughput. weft_ppool_map of N int64 items through a
 * registered task computing x*x, default chunking (n / (4 * workers) items a chunk),
 * pool of online CPUs (Python's Pool() default; Pool(2) on this 2-CPU machine).
 * Prints ns per item for one map call on a warmed pool (the pool already ran one map
 * of the same size, as Python's figure is also taken on a started pool).
 * Notes (stderr): the first (cold) map, whose shared pages are touched for the first time. */
#include "bench.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static int square(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -22;
    memcpy(&x, in, sizeof x);
    x *= x;
    return weft_bytes_set(out, &x, sizeof x);
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 200000, 200000);
    int t = weft_ptask_register("square", square);
    BENCH_CHECK(t);
    int64_t *in = malloc((size_t)n * 8), *out = malloc((size_t)n * 8);
    if (!in || !out)
        return 1;
    for (long i = 0; i < n; i++)
        in[i] = i;
    weft_ppool *p;
    BENCH_CHECK(weft_ppool_create(&p, NULL));
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_ppool_map(p, t, in, (size_t)n, 8, out, 8, 0, NULL));
    double cold = (double)(weft_now() - t0) / (double)n;
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        memset(out, 0, (size_t)n * 8);
        t0 = weft_now();
        BENCH_CHECK(weft_ppool_map(p, t, in, (size_t)n, 8, out, 8, 0, NULL));
        double ns = (double)(weft_now() - t0) / (double)n;
        if (ns < best)
            best = ns;
        for (long i = 0; i < n; i++) {
            if (out[i] != in[i] * in[i]) {
                fprintf(stderr, "pool_map: wrong result at %ld\n", i);
                return 1;
            }
        }
    }
    BENCH_CHECK(weft_ppool_close(p));
    BENCH_CHECK(weft_ppool_join(p, WEFT_FOREVER));
    BENCH_CHECK(weft_ppool_destroy(p));
    fprintf(stderr, "note: weft pool_map: %ld items, %d workers, default chunking; "
                    "best of 5 warm maps; first (cold) map %.1f ns/item\n",
            n, (int)sysconf(_SC_NPROCESSORS_ONLN), cold);
    bench_line("pool_map", "weft", best, "ns/op");
    free(in);
    free(out);
    return 0;
}
