/* chan_pingpong: unbuffered channel round trip between two coroutines on
 * one thread; ns per round trip. */
#include "bench.h"

static weft_chan *ping, *pong;
static long iters;

static void *ponger(void *arg) {
    (void)arg;
    long v;
    for (long i = 0; i < iters; i++) {
        BENCH_CHECK(weft_chan_recv(ping, &v, WEFT_FOREVER));
        BENCH_CHECK(weft_chan_send(pong, &v, WEFT_FOREVER));
    }
    return NULL;
}

int main(int argc, char **argv) {
    iters = bench_size(argc, argv, 5000000, 500000);
    BENCH_CHECK(weft_chan_create(&ping, sizeof(long), 0));
    BENCH_CHECK(weft_chan_create(&pong, sizeof(long), 0));
    weft_coro c;
    BENCH_CHECK(weft_spawn(&c, ponger, NULL, NULL));
    int64_t t0 = weft_now();
    for (long i = 0; i < iters; i++) {
        long v = i, back;
        BENCH_CHECK(weft_chan_send(ping, &v, WEFT_FOREVER));
        BENCH_CHECK(weft_chan_recv(pong, &back, WEFT_FOREVER));
        if (back != i) {
            fprintf(stderr, "wrong value %ld != %ld\n", back, i);
            return 1;
        }
    }
    int64_t t1 = weft_now();
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    bench_line("chan_pingpong", "weft", (double)(t1 - t0) / (double)iters, "ns/op");
    weft_chan_destroy(ping);
    weft_chan_destroy(pong);
    return 0;
}
