/* spawn_link: spawn + link a callback + run (the callback runs as the coroutine ends)
 * + join an empty coroutine; ns each. Compare with `spawn` for the cost of a link. */
#include "bench.h"

static void *empty(void *arg) {
    return arg;
}

static long calls;
static void on_done(weft_coro c, void *result, int status, void *ud) {
    (void)c, (void)result, (void)status, (void)ud;
    calls++;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 5000000, 500000);
    weft_coro c;
    BENCH_CHECK(weft_spawn(&c, empty, NULL, NULL)); /* warm the stack pool */
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(weft_spawn(&c, empty, NULL, NULL));
        BENCH_CHECK(weft_coro_link(c, WEFT_LINK_ALL, on_done, NULL, NULL));
        BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    }
    int64_t t1 = weft_now();
    if (calls != n) {
        fprintf(stderr, "spawn_link: %ld callbacks for %ld coroutines\n", calls, n);
        return 1;
    }
    bench_line("spawn_link", "weft", (double)(t1 - t0) / (double)n, "ns/op");
    return 0;
}
