/* tpool_imap: the thread pool's lazy map (Python's Executor.map iterated with a
 * timeout). N no-op tasks through weft_pool_imap with the default window (256),
 * each result taken with weft_pool_iter_next and a whole-map deadline, on a pool of
 * online CPUs. Prints ns per result (imap call to the last result).
 * Notes (stderr): weft_pool_map of the same N tasks (every task submitted at once,
 * every future kept: N futures allocated), the imap / map ratio, the unordered
 * iterator, and a narrow window (8). */
#include "bench.h"

#include <stdint.h>
#include <unistd.h>

static int noop(void *arg, void **result) {
    (void)result;
    return (int)(intptr_t)arg & 1;
}

static double run_imap(weft_pool *p, void *const *args, long n, size_t window, int flags) {
    weft_pool_iter *it;
    int64_t t0 = weft_now(), deadline = weft_after(60 * WEFT_SEC);
    BENCH_CHECK(weft_pool_imap(p, noop, args, (size_t)n, window, flags, &it));
    size_t idx;
    int st, r;
    long count = 0;
    while ((r = weft_pool_iter_next(it, deadline, &idx, &st, NULL)) == 1) {
        if (st != (int)(idx & 1) || (!flags && idx != (size_t)count)) {
            fprintf(stderr, "tpool_imap: wrong result at %ld\n", count);
            exit(1);
        }
        count++;
    }
    BENCH_CHECK(r);
    double ns = (double)(weft_now() - t0) / (double)n;
    weft_pool_iter_destroy(it);
    if (count != n) {
        fprintf(stderr, "tpool_imap: %ld results, not %ld\n", count, n);
        exit(1);
    }
    return ns;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 1000000, 100000);
    void **args = malloc((size_t)n * sizeof *args);
    int *st = malloc((size_t)n * sizeof *st);
    if (!args || !st)
        return 1;
    for (long i = 0; i < n; i++)
        args[i] = (void *)(intptr_t)i;
    weft_pool *p;
    BENCH_CHECK(weft_pool_create(&p, 0));
    run_imap(p, args, n / 10 + 1, 0, 0); /* warm: workers running, caches filled */
    double best = 1e30, best_map = 1e30, unordered = 1e30, narrow = 1e30;
    for (int r = 0; r < 3; r++) {
        double ns = run_imap(p, args, n, 0, 0);
        best = ns < best ? ns : best;
        ns = run_imap(p, args, n, 0, WEFT_POOL_UNORDERED);
        unordered = ns < unordered ? ns : unordered;
        ns = run_imap(p, args, n / 10, 8, 0);
        narrow = ns < narrow ? ns : narrow;
        int64_t t0 = weft_now();
        int m = weft_pool_map(p, noop, args, NULL, st, (size_t)n, WEFT_FOREVER);
        ns = (double)(weft_now() - t0) / (double)n;
        BENCH_CHECK(m);
        best_map = ns < best_map ? ns : best_map;
    }
    BENCH_CHECK(weft_pool_destroy(p));
    fprintf(stderr,
            "note: weft tpool_imap: %ld tasks, pool of %d threads, default window (256), best "
            "of 3; weft_pool_map of the same tasks %.0f ns/task: imap / map = %.2f; unordered "
            "%.0f ns/task; window 8 (a tenth of the tasks) %.0f ns/task\n",
            n, (int)sysconf(_SC_NPROCESSORS_ONLN), best_map, best / best_map, unordered, narrow);
    bench_line("tpool_imap", "weft", best, "ns/op");
    free(args);
    free(st);
    return 0;
}
