/* queue_threads, pthread peer: the textbook bounded queue a C programmer writes by hand,
 * a ring of 1024 longs under one pthread mutex with two condition variables (not full,
 * not empty), from one thread to another; msgs/s. The consumer checks count and sum.
 * Usage: queue_threads_pthread [N]; BENCH_QUICK=1 reduced.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAP 1024

static long ring[CAP], head, tail, n;
static int closed;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;

static void *consumer(void *arg) {
    long sum = 0, count = 0;
    for (;;) {
        pthread_mutex_lock(&mu);
        while (head == tail && !closed)
            pthread_cond_wait(&not_empty, &mu);
        if (head == tail) {
            pthread_mutex_unlock(&mu);
            break;
        }
        long v = ring[head++ % CAP];
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&mu);
        sum += v;
        count++;
    }
    *(int *)arg = count == n && sum == n * (n - 1) / 2;
    return NULL;
}

int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    n = argc > 1 ? strtol(argv[1], NULL, 10) : q && strcmp(q, "1") == 0 ? 1000000L : 10000000L;
    int ok = 0;
    pthread_t c;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (pthread_create(&c, NULL, consumer, &ok))
        return 1;
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&mu);
        while (tail - head == CAP)
            pthread_cond_wait(&not_full, &mu);
        ring[tail++ % CAP] = i;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&mu);
    }
    pthread_mutex_lock(&mu);
    closed = 1;
    pthread_cond_signal(&not_empty);
    pthread_mutex_unlock(&mu);
    pthread_join(c, NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (!ok) {
        fprintf(stderr, "queue_threads_pthread: lost messages\n");
        return 1;
    }
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "note: pthread: ring of %d under a mutex + 2 condition variables, %ld items\n",
            CAP, n);
    printf("queue_threads\tpthread\t%.1f\tmsgs/s\n", (double)n / s);
    return 0;
}
