/* tpool: thread pool throughput. N no-op tasks submitted from one thread without a
 * future (weft_pool_submit(p, fn, arg, NULL)); completion of all N is awaited with
 * weft_pool_shutdown(wait=1). Prints ns per task (submit to completion). This is the
 * work every peer does: Go's workers read closures from a channel and count completion
 * with a WaitGroup, the pthread peer's take (function, argument) pairs off a locked
 * array; neither makes a result object per task.
 * Pool size: online CPUs (weft_pool_create(&p, 0)).
 * Notes (stderr): the same with a future per task, released at once by the submitter, and
 * with every future kept and its result collected in windows of 1024 (Python's
 * `[ex.submit(f) ...]` then `f.result()` pattern). */
#include "bench.h"

#include <stdint.h>

static int noop(void *arg, void **result) {
    (void)arg;
    (void)result;
    return 0;
}

static double run_release(long n) {
    weft_pool *p;
    BENCH_CHECK(weft_pool_create(&p, 0));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        weft_future *f;
        BENCH_CHECK(weft_pool_submit(p, noop, NULL, &f));
        weft_future_release(f);
    }
    BENCH_CHECK(weft_pool_shutdown(p, 1, 0));
    double ns = (double)(weft_now() - t0) / (double)n;
    BENCH_CHECK(weft_pool_destroy(p));
    return ns;
}

static double run_forget(long n) {
    weft_pool *p;
    BENCH_CHECK(weft_pool_create(&p, 0));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_pool_submit(p, noop, NULL, NULL));
    BENCH_CHECK(weft_pool_shutdown(p, 1, 0));
    double ns = (double)(weft_now() - t0) / (double)n;
    BENCH_CHECK(weft_pool_destroy(p));
    return ns;
}

static double run_results(long n) {
    enum { W = 1024 };
    static weft_future *fs[W];
    weft_pool *p;
    BENCH_CHECK(weft_pool_create(&p, 0));
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i += W) {
        long k = n - i < W ? n - i : W;
        for (long j = 0; j < k; j++)
            BENCH_CHECK(weft_pool_submit(p, noop, NULL, &fs[j]));
        for (long j = 0; j < k; j++) {
            BENCH_CHECK(weft_future_result(fs[j], WEFT_FOREVER, NULL));
            weft_future_release(fs[j]);
        }
    }
    double ns = (double)(weft_now() - t0) / (double)n;
    BENCH_CHECK(weft_pool_destroy(p));
    return ns;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 1000000, 100000);
    double ns = run_forget(n);
    double release = run_release(n);
    double results = run_results(n);
    fprintf(stderr, "note: weft tpool: %ld tasks, pool of online CPUs; with a future per task "
                    "released at once %.0f ns/task, futures kept and results collected per "
                    "1024: %.0f ns/task\n",
            n, release, results);
    bench_line("tpool", "weft", ns, "ns/op");
    return 0;
}
