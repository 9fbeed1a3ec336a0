/*
 * Floor for the `queue_threads` workload: a lock-free single-producer
 * single-consumer ring of 1024 8-byte slots between two pthreads, both sides
 * busy-waiting (no sleeping, no futex): a side that finds the ring full /
 * empty spins with `pause` and, after SPINS failed polls, calls sched_yield()
 * so that the two threads can still make progress when they share one CPU
 * (otherwise each wait would burn a whole time slice). Each side caches the other side's
 * index and re-reads it only when the ring looks full / empty. N items
 * 0..N-1 go from the producer (main thread) to the consumer, which checks
 * their sum. Prints "queue_threads\tfloor\t<msgs/s>\tmsgs/s".
 * Usage: queue_threads_floor [N]; BENCH_QUICK=1 for the reduced size.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLOTS 1024u /* a power of two */
#define SPINS 1000  /* polls before sched_yield() */

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() ((void)0)
#endif

static struct {
    alignas(64) _Atomic uint64_t head; /* next slot to write: producer's */
    alignas(64) _Atomic uint64_t tail; /* next slot to read: consumer's */
    alignas(64) uint64_t slot[SLOTS];
} ring;

static void relax(int *spins) {
    if (*spins < SPINS) {
        cpu_relax();
    } else {
        sched_yield();
        *spins = 0;
    }
}

static long n;
static uint64_t sum;

static void *consumer(void *arg) {
    (void)arg;
    uint64_t tail = 0, head = 0, s = 0;
    for (long i = 0; i < n; i++) {
        for (int spins = 0; tail == head; spins++) {
            head = atomic_load_explicit(&ring.head, memory_order_acquire);
            if (tail == head)
                relax(&spins);
        }
        s += ring.slot[tail & (SLOTS - 1)];
        atomic_store_explicit(&ring.tail, ++tail, memory_order_release);
    }
    sum = s;
    return NULL;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    n = q && strcmp(q, "1") == 0 ? 1000000L : 10000000L;
    if (argc > 1)
        n = strtol(argv[1], NULL, 10);
    if (n < 1) {
        fprintf(stderr, "queue_threads_floor: bad size\n");
        return 2;
    }
    pthread_t c;
    int64_t t0 = now_ns();
    if (pthread_create(&c, NULL, consumer, NULL) != 0)
        return 1;
    uint64_t head = 0, tail = 0;
    for (long i = 0; i < n; i++) {
        for (int spins = 0; head - tail == SLOTS; spins++) {
            tail = atomic_load_explicit(&ring.tail, memory_order_acquire);
            if (head - tail == SLOTS)
                relax(&spins);
        }
        ring.slot[head & (SLOTS - 1)] = (uint64_t)i;
        atomic_store_explicit(&ring.head, ++head, memory_order_release);
    }
    pthread_join(c, NULL);
    int64_t el = now_ns() - t0;
    uint64_t want = (uint64_t)n * (uint64_t)(n - 1) / 2;
    if (sum != want) {
        fprintf(stderr, "queue_threads_floor: bad sum %llu want %llu\n",
                (unsigned long long)sum, (unsigned long long)want);
        return 1;
    }
    fprintf(stderr, "note: floor queue_threads: SPSC ring of %u slots, busy-wait (yield after %d polls), %.1f ns/msg\n",
            SLOTS, SPINS, (double)el / (double)n);
    printf("queue_threads\tfloor\t%.1f\tmsgs/s\n", (double)n * 1e9 / (double)el);
    return 0;
}
