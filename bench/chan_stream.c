/* chan_stream: N ints through a buffered channel (capacity 1024) from a
 * producer coroutine to a consumer coroutine; messages per second. */
#include "bench.h"

static weft_chan *ch;
static long n;

static void *producer(void *arg) {
    (void)arg;
    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_chan_send(ch, &i, WEFT_FOREVER));
    BENCH_CHECK(weft_chan_close(ch));
    return NULL;
}

static void *consumer(void *arg) {
    long v, sum = 0, count = 0;
    int r;
    while ((r = weft_chan_recv(ch, &v, WEFT_FOREVER)) == 0) {
        sum += v;
        count++;
    }
    if (r != -EPIPE || count != n || sum != n * (n - 1) / 2) {
        fprintf(stderr, "chan_stream: lost messages (%ld of %ld, r=%d)\n", count, n, r);
        exit(1);
    }
    *(long *)arg = count;
    return NULL;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 10000000, 1000000);
    BENCH_CHECK(weft_chan_create(&ch, sizeof(long), 1024));
    long got = 0;
    weft_coro p, c;
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_spawn(&c, consumer, &got, NULL));
    BENCH_CHECK(weft_spawn(&p, producer, NULL, NULL));
    BENCH_CHECK(weft_join(p, WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    int64_t t1 = weft_now();
    bench_line("chan_stream", "weft", (double)got / ((double)(t1 - t0) / 1e9), "msgs/s");
    weft_chan_destroy(ch);
    return 0;
}
