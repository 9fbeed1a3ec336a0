/*
 * `pthread` figure for the `thread_spawn` workload (BENCHMARKS.md calls it
 * the floor): pthread_create of an empty function followed by pthread_join,
 * one thread at a time, default attributes (glibc's default stack).
 * Prints "thread_spawn\tpthread\t<us per thread>\tus/op".
 * Usage: thread_spawn_pthread [THREADS]; BENCH_QUICK=1 for the reduced size.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *empty(void *arg) { return arg; }

int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    long n = q && strcmp(q, "1") == 0 ? 2000L : 20000L;
    if (argc > 1)
        n = strtol(argv[1], NULL, 10);
    if (n < 1) {
        fprintf(stderr, "thread_spawn_pthread: bad size\n");
        return 2;
    }
    pthread_t t;
    /* warm up: the first thread maps its stack and the TLS setup code */
    if (pthread_create(&t, NULL, empty, NULL) || pthread_join(t, NULL))
        return 1;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        if (pthread_create(&t, NULL, empty, NULL) != 0) {
            fprintf(stderr, "thread_spawn_pthread: pthread_create failed\n");
            return 1;
        }
        pthread_join(t, NULL);
    }
    int64_t el = now_ns() - t0;
    printf("thread_spawn\tpthread\t%.3f\tus/op\n", (double)el / 1e3 / (double)n);
    return 0;
}
