/* sleepers: N coroutines (SHARED stacks) each sleeping 1 s; wall time from
 * the first spawn to the last join, and PSS while they all sleep. */
#include "bench.h"

static int64_t wake_at;
static double pss = -1;

static void *sleeper(void *arg) {
    (void)arg;
    if (weft_sleep_until(wake_at) != 0)
        exit(1);
    return NULL;
}

/* Runs after every sleeper has gone to sleep (it is spawned last). */
static void *measure(void *arg) {
    (void)arg;
    pss = bench_pss_mib();
    if (getenv("BENCH_DEBUG"))
        fprintf(stderr, "all asleep at +%.3f s\n", (double)(weft_now() - (wake_at - WEFT_SEC)) / 1e9);
    return NULL;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 1000000, 100000);
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED, .detached = 1};
    int64_t t0 = weft_now();
    wake_at = t0 + WEFT_SEC;
    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_spawn(NULL, sleeper, NULL, &o));
    if (getenv("BENCH_DEBUG"))
        fprintf(stderr, "spawned at +%.3f s\n", (double)(weft_now() - t0) / 1e9);
    weft_coro m;
    BENCH_CHECK(weft_spawn(&m, measure, NULL, NULL));
    BENCH_CHECK(weft_join(m, WEFT_FOREVER, NULL));
    /* Wait for every detached sleeper to finish. */
    while (weft_coro_count() > 0)
        BENCH_CHECK(weft_sleep(WEFT_MSEC));
    int64_t t1 = weft_now();
    if (n != 1000000)
        fprintf(stderr, "note: weft sleepers ran %ld coroutines\n", n);
    bench_line("sleepers", "weft", (double)(t1 - t0) / 1e9, "s");
    bench_line("sleepers", "weft", pss, "MiB");
    return 0;
}
