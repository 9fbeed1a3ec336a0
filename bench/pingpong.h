/* What bench/chan_pingpong.c and bench/chan_pingpong_mt.c share: the two ends of an
 * unbuffered channel round trip, `iters` times. Not a benchmark program itself (no
 * main). */
#ifndef WEFT_BENCH_PINGPONG_H
#define WEFT_BENCH_PINGPONG_H
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

/* Spawns the ponger, times `iters` round trips, joins it; ns in all. */
static int64_t pingpong_rounds(void) {
    weft_coro c;
    BENCH_CHECK(weft_spawn(&c, ponger, NULL, NULL));
    int64_t t0 = weft_now();
    for (long i = 0; i < iters; i++) {
        long v = i, back;
        BENCH_CHECK(weft_chan_send(ping, &v, WEFT_FOREVER));
        BENCH_CHECK(weft_chan_recv(pong, &back, WEFT_FOREVER));
        if (back != i) {
            fprintf(stderr, "wrong value %ld != %ld\n", back, i);
            exit(1);
        }
    }
    int64_t ns = weft_now() - t0;
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    return ns;
}

#endif
