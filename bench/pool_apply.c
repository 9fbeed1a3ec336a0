/* pool_apply: process pool latency. One weft_ppool_apply_async (a registered task
 * returning its 8-byte input) then weft_future_result on it, N times one after another,
 * pool of online CPUs; prints us per round trip. The caller is a plain thread.
 * Notes (stderr): the synchronous weft_ppool_apply for comparison. */
#include "bench.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

static int ident(const void *in, size_t len, weft_bytes *out) {
    return weft_bytes_set(out, in, len);
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 20000, 2000);
    int t = weft_ptask_register("ident", ident);
    BENCH_CHECK(t);
    weft_ppool *p;
    BENCH_CHECK(weft_ppool_create(&p, NULL));
    for (long i = 0; i < 200; i++) /* warm up: workers started, pages touched */
        BENCH_CHECK(weft_ppool_apply(p, t, &i, sizeof i, NULL));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        weft_future *f;
        void *res;
        BENCH_CHECK(weft_ppool_apply_async(p, t, &i, sizeof i, NULL, NULL, NULL, &f));
        BENCH_CHECK(weft_future_result(f, WEFT_FOREVER, &res));
        const weft_bytes *b = res;
        if (b->len != sizeof i || memcmp(b->data, &i, sizeof i) != 0) {
            fprintf(stderr, "pool_apply: wrong result\n");
            return 1;
        }
        weft_future_release(f);
    }
    double us = (double)(weft_now() - t0) / 1e3 / (double)n;
    t0 = weft_now();
    weft_bytes b = WEFT_BYTES_INIT;
    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_ppool_apply(p, t, &i, sizeof i, &b));
    double sync_us = (double)(weft_now() - t0) / 1e3 / (double)n;
    weft_bytes_free(&b);
    BENCH_CHECK(weft_ppool_destroy(p));
    fprintf(stderr, "note: weft pool_apply: %ld round trips, %d workers; weft_ppool_apply "
                    "(synchronous) %.1f us/op\n",
            n, (int)sysconf(_SC_NPROCESSORS_ONLN), sync_us);
    bench_line("pool_apply", "weft", us, "us/op");
    return 0;
}
