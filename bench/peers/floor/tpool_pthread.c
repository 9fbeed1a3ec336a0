/* tpool, pthread peer: the hand-written thread pool, one worker per online CPU taking
 * tasks (function + argument) from a growable FIFO array under one mutex and condition
 * variable; N no-op tasks submitted from the main thread, then it waits until all ran
 * (a counter under the same mutex, a second condition variable). ns per task.
 * Usage: tpool_pthread [N]; BENCH_QUICK=1 reduced.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    void (*fn)(void *);
    void *arg;
} task;

static task *tasks;
static long cap, head, tail, done;
static int stop;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work = PTHREAD_COND_INITIALIZER, all_done = PTHREAD_COND_INITIALIZER;

static void noop(void *arg) {
    (void)arg;
}

static void *worker(void *arg) {
    (void)arg;
    pthread_mutex_lock(&mu);
    for (;;) {
        while (head == tail && !stop)
            pthread_cond_wait(&work, &mu);
        if (head == tail)
            break;
        task t = tasks[head++ % cap];
        pthread_mutex_unlock(&mu);
        t.fn(t.arg);
        pthread_mutex_lock(&mu);
        done++;
        if (head == tail)
            pthread_cond_signal(&all_done);
    }
    pthread_mutex_unlock(&mu);
    return NULL;
}

static int submit(void (*fn)(void *), void *arg) {
    pthread_mutex_lock(&mu);
    if (tail - head == cap) { /* grow, keeping the FIFO order */
        task *nt = malloc(2 * (size_t)cap * sizeof *nt);
        if (!nt) {
            pthread_mutex_unlock(&mu);
            return -1;
        }
        for (long i = head; i < tail; i++)
            nt[i - head] = tasks[i % cap];
        free(tasks);
        tasks = nt;
        tail -= head;
        head = 0;
        cap *= 2;
    }
    tasks[tail++ % cap] = (task){fn, arg};
    pthread_cond_signal(&work);
    pthread_mutex_unlock(&mu);
    return 0;
}

int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : q && strcmp(q, "1") == 0 ? 100000L : 1000000L;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int nt = ncpu > 0 && ncpu < 256 ? (int)ncpu : 1;
    cap = 1024;
    tasks = malloc((size_t)cap * sizeof *tasks);
    pthread_t th[256];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < nt; i++)
        if (pthread_create(&th[i], NULL, worker, NULL))
            return 1;
    for (long i = 0; i < n; i++)
        if (submit(noop, NULL))
            return 1;
    pthread_mutex_lock(&mu);
    while (done < n)
        pthread_cond_wait(&all_done, &mu);
    stop = 1;
    pthread_cond_broadcast(&work);
    pthread_mutex_unlock(&mu);
    for (int i = 0; i < nt; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    fprintf(stderr,
            "note: pthread: %d workers, one mutex + condition variable, growable FIFO, "
            "%ld tasks\n",
            nt, n);
    printf("tpool\tpthread\t%.3f\tns/op\n", ns / (double)n);
    free(tasks);
    return 0;
}
