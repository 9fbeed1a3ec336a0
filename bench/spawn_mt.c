/* spawn_mt: spawn + run + join an empty coroutine, one at a time, from a coroutine of
 * a worker group of two workers (the child may start on either), ns each. The same
 * loop on one thread is printed as `weft-1t`. */
#include "bench.h"

static long n;

static void *empty(void *arg) { return arg; }

static void *loop(void *arg) {
    int64_t *ns = arg;
    weft_coro c;
    BENCH_CHECK(weft_spawn(&c, empty, NULL, NULL)); /* warm the stack pool */
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(weft_spawn(&c, empty, NULL, NULL));
        BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    }
    *ns = weft_now() - t0;
    return NULL;
}

static double run(weft_group *g) {
    int64_t ns = 0;
    weft_coro c;
    if (g)
        BENCH_CHECK(weft_group_spawn(g, &c, loop, &ns, NULL));
    else
        BENCH_CHECK(weft_spawn(&c, loop, &ns, NULL));
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    return (double)ns / (double)n;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 5000000, 500000);
    weft_group *g;
    BENCH_CHECK(weft_group_create(&g, &(weft_group_opts){.threads = 2}));
    double mt = run(g), one = run(NULL);
    BENCH_CHECK(weft_group_destroy(g));
    bench_line("spawn_mt", "weft", mt, "ns/op");
    bench_line("spawn_mt", "weft-1t", one, "ns/op");
    return 0;
}
