/* queue_threads: N 8-byte items through a bounded weft_queue (FIFO, maxsize
 * 1024) from one plain thread to another; messages per second. The consumer
 * checks count and sum; the producer ends the stream with a shutdown. */
#include "bench.h"

#include <pthread.h>

static weft_queue *q;
static long n;

static void *consumer(void *arg) {
    long v, sum = 0, count = 0;
    int r;
    while ((r = weft_queue_get(q, &v, WEFT_FOREVER)) == 0) {
        sum += v;
        count++;
    }
    if (r != -EPIPE || count != n || sum != n * (n - 1) / 2) {
        fprintf(stderr, "queue_threads: lost messages (%ld of %ld, r=%d)\n", count, n, r);
        exit(1);
    }
    *(long *)arg = count;
    return NULL;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 10000000, 1000000);
    BENCH_CHECK(weft_queue_create(&q, WEFT_QUEUE_FIFO, sizeof(long), 1024));
    long got = 0;
    pthread_t t;
    int64_t t0 = weft_now();
    if (pthread_create(&t, NULL, consumer, &got) != 0) {
        fprintf(stderr, "queue_threads: pthread_create failed\n");
        return 1;
    }
    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_queue_put(q, &i, WEFT_FOREVER));
    BENCH_CHECK(weft_queue_shutdown(q, 0));
    pthread_join(t, NULL);
    int64_t t1 = weft_now();
    bench_line("queue_threads", "weft", (double)got / ((double)(t1 - t0) / 1e9), "msgs/s");
    BENCH_CHECK(weft_queue_destroy(q));
    return 0;
}
