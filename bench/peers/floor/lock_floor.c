/*
 * Floor for the `lock` workload: glibc's default pthread_mutex_t. Two threads
 * each do N locked increments of a shared counter; prints
 * "lock\tfloor\t<ns per increment>\tns/op" (total time / total increments).
 * The uncontended cost of one lock + unlock on one thread goes to stderr as a
 * note, measured both before any thread exists and after the workers ran. Usage: lock_floor [N per thread]; BENCH_QUICK=1 for the reduced size.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static long counter, iters;

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *worker(void *arg) {
    (void)arg;
    for (long i = 0; i < iters; i++) {
        pthread_mutex_lock(&mu);
        counter++;
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* ns per lock + unlock of a mutex no other thread touches. */
static double uncontended(long n) {
    pthread_mutex_t solo;
    pthread_mutex_init(&solo, NULL);
    volatile long solo_count = 0;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&solo);
        solo_count++;
        pthread_mutex_unlock(&solo);
    }
    int64_t t1 = now_ns();
    pthread_mutex_destroy(&solo);
    return (double)(t1 - t0) / (double)n;
}

int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    iters = q && strcmp(q, "1") == 0 ? 1000000L : 10000000L;
    if (argc > 1)
        iters = strtol(argv[1], NULL, 10);
    if (iters < 1) {
        fprintf(stderr, "lock_floor: bad size\n");
        return 2;
    }

    /* Uncontended, before any other thread exists: glibc then leaves out the
     * lock prefix (single-threaded fast path), so this is a lower bound. */
    double unc_single = uncontended(iters);

    pthread_t a, b;
    int64_t t0 = now_ns();
    if (pthread_create(&a, NULL, worker, NULL) || pthread_create(&b, NULL, worker, NULL)) {
        fprintf(stderr, "lock_floor: pthread_create failed\n");
        return 1;
    }
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    int64_t t1 = now_ns();
    if (counter != 2 * iters) {
        fprintf(stderr, "lock_floor: lost increments: %ld != %ld\n", counter, 2 * iters);
        return 1;
    }
    /* Uncontended again, now that the process is multi-threaded (the real
     * cost, with locked instructions). */
    double unc = uncontended(iters);
    fprintf(stderr,
            "note: glibc pthread_mutex uncontended lock+unlock %.2f ns in a multi-threaded process "
            "(%.2f ns before any thread was started: glibc's single-threaded fast path)\n",
            unc, unc_single);
    printf("lock\tfloor\t%.3f\tns/op\n", (double)(t1 - t0) / (double)(2 * iters));
    return 0;
}
