/* lock: two threads each do N locked increments of a shared counter; ns
 * per increment (total time / total increments). Also the uncontended
 * cost of one acquire + release on one thread. */
#include "bench.h"

#include <pthread.h>

static weft_lock lock = WEFT_LOCK_INIT;
static long counter, iters;

static void *worker(void *arg) {
    (void)arg;
    for (long i = 0; i < iters; i++) {
        if (weft_lock_acquire(&lock, WEFT_FOREVER) != 0)
            exit(1);
        counter++;
        weft_lock_release(&lock);
    }
    return NULL;
}

int main(int argc, char **argv) {
    iters = bench_size(argc, argv, 10000000, 1000000);
    pthread_t a, b;
    int64_t t0 = weft_now();
    pthread_create(&a, NULL, worker, NULL);
    pthread_create(&b, NULL, worker, NULL);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    int64_t t1 = weft_now();
    if (counter != 2 * iters) {
        fprintf(stderr, "lock: lost increments: %ld != %ld\n", counter, 2 * iters);
        return 1;
    }
    bench_line("lock", "weft", (double)(t1 - t0) / (double)(2 * iters), "ns/op");
    /* Uncontended, measured after threads have existed (glibc takes a
     * shortcut before the first thread; weft's lock does not care): one
     * thread, no one else touches this lock. */
    weft_lock solo;
    BENCH_CHECK(weft_lock_init(&solo));
    t0 = weft_now();
    for (long i = 0; i < iters; i++) {
        BENCH_CHECK(weft_lock_acquire(&solo, WEFT_FOREVER));
        BENCH_CHECK(weft_lock_release(&solo));
    }
    t1 = weft_now();
    fprintf(stderr, "note: weft uncontended acquire+release %.2f ns\n",
            (double)(t1 - t0) / (double)iters);


    return 0;
}
