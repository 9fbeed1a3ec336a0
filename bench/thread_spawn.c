/* thread_spawn: weft_thread_start + weft_thread_join of an empty thread; us each. */
#include "bench.h"

static void *empty(void *arg) {
    return arg;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 10000, 1000);
    weft_thread *t;
    /* Warm up: the first start registers the exit handler and maps a stack. */
    for (int i = 0; i < 10; i++) {
        BENCH_CHECK(weft_thread_start(&t, empty, NULL, NULL));
        BENCH_CHECK(weft_thread_join(t, WEFT_FOREVER, NULL));
    }
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(weft_thread_start(&t, empty, NULL, NULL));
        BENCH_CHECK(weft_thread_join(t, WEFT_FOREVER, NULL));
    }
    int64_t t1 = weft_now();
    bench_line("thread_spawn", "weft", (double)(t1 - t0) / 1e3 / (double)n, "us/op");
    return 0;
}
