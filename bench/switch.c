/* switch: two coroutines yield to each other; ns per switch. */
#include "bench.h"

static long iters;

static void *yielder(void *arg) {
    (void)arg;
    for (long i = 0; i < iters; i++)
        weft_yield();
    return NULL;
}

int main(int argc, char **argv) {
    iters = bench_size(argc, argv, 20000000, 2000000);
    weft_coro a, b;
    BENCH_CHECK(weft_spawn(&a, yielder, NULL, NULL));
    BENCH_CHECK(weft_spawn(&b, yielder, NULL, NULL));
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_join(a, WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_join(b, WEFT_FOREVER, NULL));
    int64_t t1 = weft_now();
    /* Each yield is one switch to the other coroutine. */
    bench_line("switch", "weft", (double)(t1 - t0) / (2.0 * (double)iters), "ns/op");
    return 0;
}
