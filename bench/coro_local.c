/* coro_local: per-coroutine storage (gevent.local); ns for one set plus one get of a
 * key's value in a coroutine. The floor: pthread_setspecific + pthread_getspecific on
 * a plain thread, the per-thread counterpart. */
#include "bench.h"

#include <pthread.h>
#include <stdint.h>

static long n;
static weft_coro_key key;
static volatile uintptr_t sink;

static void *loop(void *arg) {
    (void)arg;
    uintptr_t sum = 0;
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(weft_coro_setspecific(key, (void *)(uintptr_t)(i + 1)));
        sum += (uintptr_t)weft_coro_getspecific(key);
    }
    int64_t t1 = weft_now();
    sink = sum;
    bench_line("coro_local", "weft", (double)(t1 - t0) / (double)n, "ns/op");
    return NULL;
}

int main(int argc, char **argv) {
    n = bench_size(argc, argv, 50000000, 5000000);
    BENCH_CHECK(weft_coro_key_create(&key, NULL));
    weft_coro c;
    BENCH_CHECK(weft_spawn(&c, loop, NULL, NULL));
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));

    pthread_key_t pk;
    if (pthread_key_create(&pk, NULL) != 0)
        return 1;
    uintptr_t sum = 0;
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        if (pthread_setspecific(pk, (void *)(uintptr_t)(i + 1)) != 0)
            return 1;
        sum += (uintptr_t)pthread_getspecific(pk);
    }
    int64_t t1 = weft_now();
    sink = sum;
    bench_line("coro_local", "floor", (double)(t1 - t0) / (double)n, "ns/op");
    return 0;
}
