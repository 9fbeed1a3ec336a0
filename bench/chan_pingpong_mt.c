/* chan_pingpong_mt: unbuffered channel round trip between two coroutines of a worker
 * group of two workers (the pair may run on either, and move), ns per round trip. The
 * same pair on one thread is printed as `weft-1t`. */
#include "pingpong.h"

static void *pinger(void *arg) {
    *(int64_t *)arg = pingpong_rounds();
    return NULL;
}

static double run(weft_group *g) {
    BENCH_CHECK(weft_chan_create(&ping, sizeof(long), 0));
    BENCH_CHECK(weft_chan_create(&pong, sizeof(long), 0));
    int64_t ns = 0;
    weft_coro c;
    if (g)
        BENCH_CHECK(weft_group_spawn(g, &c, pinger, &ns, NULL));
    else
        BENCH_CHECK(weft_spawn(&c, pinger, &ns, NULL));
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    weft_chan_destroy(ping);
    weft_chan_destroy(pong);
    return (double)ns / (double)iters;
}

int main(int argc, char **argv) {
    iters = bench_size(argc, argv, 5000000, 500000);
    weft_group *g;
    BENCH_CHECK(weft_group_create(&g, &(weft_group_opts){.threads = 2}));
    double mt = run(g), one = run(NULL);
    BENCH_CHECK(weft_group_destroy(g));
    bench_line("chan_pingpong_mt", "weft", mt, "ns/op");
    bench_line("chan_pingpong_mt", "weft-1t", one, "ns/op");
    return 0;
}
