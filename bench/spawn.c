/* spawn: spawn + run + join an empty coroutine; ns each. */
#include "bench.h"

static void *empty(void *arg) { return arg; }

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 5000000, 500000);
    weft_coro c;
    /* Warm the stack pool. */
    BENCH_CHECK(weft_spawn(&c, empty, NULL, NULL));
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(weft_spawn(&c, empty, NULL, NULL));
        BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    }
    int64_t t1 = weft_now();
    bench_line("spawn", "weft", (double)(t1 - t0) / (double)n, "ns/op");
    return 0;
}
