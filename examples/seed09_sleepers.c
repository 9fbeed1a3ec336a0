/*
 * seed09_sleepers: the seed's "concurrent threads" example (section 9), in C.
 *
 * The Python original starts ten threads that each print "hello world N" and
 * sleep 1 s, then joins them all: 1.00 s in total, not 10 s, because the
 * threads sleep at the same time. (In C, unlike CPython, they also compute at the
 * same time: see cpu_scaling.c.)
 *
 * Usage: seed09_sleepers [SECONDS]
 *   SECONDS   how long each thread sleeps (default 1; fractions allowed, 0 .. 60).
 * Exit status: 0 on success, 1 if any weft call fails, 2 on a usage error.
 */
#include "example.h"

enum { NTHREADS = 10 };

static int64_t g_sleep_ns;

static void *say(void *arg) {
    printf("hello world %d  (%s)\n", (int)(intptr_t)arg, weft_thread_current_name());
    int r = weft_sleep(g_sleep_ns);
    if (r < 0)
        fprintf(stderr, "say: weft_sleep: %s\n", weft_strerror(r));
    return (void *)(intptr_t)r;
}

int main(int argc, char **argv) {
    if (example_line_buffered("seed09") != 0)
        return 1;
    int usage = example_seconds_arg(argc, argv, 60, &g_sleep_ns);
    if (usage)
        return usage;

    int64_t t0 = weft_now();
    weft_thread *ts[NTHREADS];
    int started = 0, failed = 0;
    for (int i = 0; i < NTHREADS; i++) {
        int r = weft_thread_start(&ts[i], say, (void *)(intptr_t)(i + 1), NULL);
        if (r < 0) {
            fprintf(stderr, "seed09: weft_thread_start: %s\n", weft_strerror(r));
            failed = 1;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        void *res = NULL;
        int r = weft_thread_join(ts[i], WEFT_FOREVER, &res);
        if (r < 0) {
            fprintf(stderr, "seed09: weft_thread_join: %s\n", weft_strerror(r));
            return 1;
        }
        if ((intptr_t)res < 0)
            failed = 1;
    }
    if (failed)
        return 1;
    printf("%d threads slept %.2f s each: %.3f s in total (sequentially: %.2f s)\n", NTHREADS,
           (double)g_sleep_ns / WEFT_SEC, (double)(weft_now() - t0) / WEFT_SEC,
           NTHREADS * (double)g_sleep_ns / WEFT_SEC);
    return 0;
}
