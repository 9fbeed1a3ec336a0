/* pool_starmap: process pool throughput with multi-argument tasks (Python's
 * Pool.starmap). weft_ppool_starmap of N items, each two int64 arguments (a, b),
 * through a registered task returning a * b, default chunking (n / (4 * workers)
 * items a chunk), pool of online CPUs. Prints ns per item for one starmap on a
 * warmed pool (best of 5, as pool_map).
 * Notes (stderr): weft_ppool_map of the same N items (one int64 each, x * x) on the
 * same pool, best of 5, and the starmap / map ratio: the cost of packing and
 * unpacking argument tuples. */
#include "bench.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static int mul(const void *in, size_t len, weft_bytes *out) {
    const void *a, *b;
    size_t la, lb;
    int64_t x, y;
    if (weft_ppool_arg(in, len, 0, &a, &la) != 2 || weft_ppool_arg(in, len, 1, &b, &lb) != 2 ||
        la != 8 || lb != 8)
        return -22;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    x *= y;
    return weft_bytes_set(out, &x, sizeof x);
}

static int square(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -22;
    memcpy(&x, in, sizeof x);
    x *= x;
    return weft_bytes_set(out, &x, sizeof x);
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 200000, 50000);
    int tmul = weft_ptask_register("mul", mul), tsq = weft_ptask_register("square", square);
    BENCH_CHECK(tmul);
    BENCH_CHECK(tsq);
    int64_t *a = malloc((size_t)n * 8), *b = malloc((size_t)n * 8), *out = malloc((size_t)n * 8);
    const void **argv2 = malloc((size_t)n * 2 * sizeof *argv2);
    size_t lens[2] = {8, 8};
    weft_ppool_args *items = malloc((size_t)n * sizeof *items);
    if (!a || !b || !out || !argv2 || !items)
        return 1;
    for (long i = 0; i < n; i++) {
        a[i] = i;
        b[i] = i + 3;
        argv2[2 * i] = &a[i];
        argv2[2 * i + 1] = &b[i];
        items[i] = (weft_ppool_args){2, &argv2[2 * i], lens};
    }
    weft_ppool *p;
    BENCH_CHECK(weft_ppool_create(&p, NULL));
    BENCH_CHECK(weft_ppool_starmap(p, tmul, items, (size_t)n, out, 8, 0, NULL)); /* warm */
    BENCH_CHECK(weft_ppool_map(p, tsq, a, (size_t)n, 8, out, 8, 0, NULL));
    double best = 1e30, best_map = 1e30;
    for (int r = 0; r < 5; r++) {
        memset(out, 0, (size_t)n * 8);
        int64_t t0 = weft_now();
        BENCH_CHECK(weft_ppool_starmap(p, tmul, items, (size_t)n, out, 8, 0, NULL));
        double ns = (double)(weft_now() - t0) / (double)n;
        if (ns < best)
            best = ns;
        for (long i = 0; i < n; i++) {
            if (out[i] != a[i] * b[i]) {
                fprintf(stderr, "pool_starmap: wrong result at %ld\n", i);
                return 1;
            }
        }
        t0 = weft_now();
        BENCH_CHECK(weft_ppool_map(p, tsq, a, (size_t)n, 8, out, 8, 0, NULL));
        ns = (double)(weft_now() - t0) / (double)n;
        if (ns < best_map)
            best_map = ns;
        if (out[n - 1] != a[n - 1] * a[n - 1]) {
            fprintf(stderr, "pool_starmap: wrong map result\n");
            return 1;
        }
    }
    BENCH_CHECK(weft_ppool_close(p));
    BENCH_CHECK(weft_ppool_join(p, WEFT_FOREVER));
    BENCH_CHECK(weft_ppool_destroy(p));
    fprintf(stderr,
            "note: weft pool_starmap: %ld items of 2 int64 arguments, %d workers, default "
            "chunking, best of 5; weft_ppool_map of the same count (1 int64 each) %.1f ns/item: "
            "starmap / map = %.2f\n",
            n, (int)sysconf(_SC_NPROCESSORS_ONLN), best_map, best / best_map);
    bench_line("pool_starmap", "weft", best, "ns/op");
    free(a);
    free(b);
    free(out);
    free(argv2);
    free(items);
    return 0;
}
