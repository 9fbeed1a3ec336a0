/*
 * cpu_scaling: CPU-bound work on 1 thread, then on N threads (N = online CPUs).
 *
 * The seed's section 9 notes that CPython threads only overlap their sleeps: the
 * GIL lets one thread compute at a time. C has no GIL, so weft threads also
 * divide CPU-bound work. This program counts the primes below LIMIT by trial
 * division, first on one weft thread, then split over N weft threads that take
 * blocks of numbers from a shared atomic counter (so the costlier high numbers
 * do not all land on one thread), and prints both wall times and the speedup.
 *
 * Usage: cpu_scaling [LIMIT [THREADS]]
 *   LIMIT     count primes in [2, LIMIT) (default 3000000; 1000 .. 2000000000)
 *   THREADS   threads for the parallel run (default: online CPUs; 1 .. 1024)
 * Exit status: 0 on success, 1 if any weft call fails or the counts differ,
 * 2 on a usage error.
 */
#include <weft.h>

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { BLOCK = 10000 };

typedef struct {
    uint64_t limit;
    atomic_uint_fast64_t next; /* next block's first number */
} work;

static int is_prime(uint64_t n) {
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

/* Takes blocks until none are left; returns how many primes it found. */
static void *count_primes(void *arg) {
    work *w = arg;
    uint64_t found = 0;
    for (;;) {
        uint64_t lo = atomic_fetch_add(&w->next, BLOCK);
        if (lo >= w->limit)
            break;
        uint64_t hi = lo + BLOCK < w->limit ? lo + BLOCK : w->limit;
        for (uint64_t n = lo; n < hi; n++)
            found += (uint64_t)is_prime(n);
    }
    return (void *)(uintptr_t)found;
}

/* Counts primes below limit on nthreads weft threads; returns 0 and sets *count and
 * *seconds, or a negative errno. */
static int run(uint64_t limit, int nthreads, uint64_t *count, double *seconds) {
    work w = {.limit = limit};
    atomic_init(&w.next, 0);
    weft_thread **ts = calloc((size_t)nthreads, sizeof *ts);
    if (!ts)
        return -ENOMEM;
    int64_t t0 = weft_now();
    int started = 0, err = 0;
    for (; started < nthreads; started++) {
        int r = weft_thread_start(&ts[started], count_primes, &w, NULL);
        if (r < 0) {
            fprintf(stderr, "cpu_scaling: weft_thread_start: %s\n", weft_strerror(r));
            err = r;
            break;
        }
    }
    uint64_t total = 0;
    for (int i = 0; i < started; i++) {
        void *res = NULL;
        int r = weft_thread_join(ts[i], WEFT_FOREVER, &res);
        if (r < 0) {
            fprintf(stderr, "cpu_scaling: weft_thread_join: %s\n", weft_strerror(r));
            free(ts);
            return r; /* cannot happen with a valid handle and no deadline */
        }
        total += (uint64_t)(uintptr_t)res;
    }
    *seconds = (double)(weft_now() - t0) / WEFT_SEC;
    *count = total;
    free(ts);
    return err;
}

static int parse_num(const char *s, long long lo, long long hi, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv) {
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        fprintf(stderr, "cpu_scaling: setvbuf failed\n");
        return 1;
    }
    long long limit = 3000000, nthreads = sysconf(_SC_NPROCESSORS_ONLN);
    if (nthreads < 1)
        nthreads = 1;
    if (argc > 3 || (argc >= 2 && parse_num(argv[1], 1000, 2000000000, &limit) != 0) ||
        (argc == 3 && parse_num(argv[2], 1, 1024, &nthreads) != 0)) {
        fprintf(stderr,
                "usage: %s [LIMIT [THREADS]]   (1000 <= LIMIT <= 2e9, 1 <= THREADS <= 1024)\n",
                argv[0]);
        return 2;
    }
    printf("counting primes below %lld: 1 thread, then %lld threads (%ld CPUs online)\n", limit,
           nthreads, sysconf(_SC_NPROCESSORS_ONLN));

    uint64_t c1 = 0, cn = 0;
    double s1 = 0, sn = 0;
    if (run((uint64_t)limit, 1, &c1, &s1) < 0)
        return 1;
    printf("1 thread:   %llu primes in %.3f s\n", (unsigned long long)c1, s1);
    if (run((uint64_t)limit, (int)nthreads, &cn, &sn) < 0)
        return 1;
    printf("%lld threads: %llu primes in %.3f s\n", nthreads, (unsigned long long)cn, sn);
    if (c1 != cn) {
        fprintf(stderr, "cpu_scaling: the counts differ\n");
        return 1;
    }
    printf("speedup: %.2fx on %lld threads (no GIL: CPU-bound threads run in parallel)\n",
           sn > 0 ? s1 / sn : 0.0, nthreads);
    return 0;
}
