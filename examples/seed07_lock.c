/*
 * seed07_lock: the seed's thread lock example (section 7), in C.
 *
 * The Python original: ten threads each do
 *
 *     lock.acquire(); print("hello world {}".format(number)); sleep(1); lock.release()
 *
 * all ten are started, then all joined: about 10 s, the prints one second apart,
 * because the lock lets one thread at a time print and sleep.
 *
 * Here the lock is a weft_lock (the same lock works between coroutines and
 * processes too). Each print shows the time since the start, so the one-at-a-time
 * pacing is visible. Unlike CPython, where the GIL and start() make the threads
 * take the lock in the order they were started, C threads really start in
 * parallel, so the numbers may come in any order: only the one-at-a-time pacing is
 * guaranteed. (Waiters that are already parked are served FIFO.)
 *
 * Usage: seed07_lock [SECONDS]
 *   SECONDS   how long each thread sleeps while holding the lock (default 1;
 *             fractions allowed, 0 .. 60). The total is about 10 * SECONDS.
 * Exit status: 0 on success, 1 if any weft call fails, 2 on a usage error.
 */
#include "example.h"

enum { NTHREADS = 10 };

static weft_lock g_lock = WEFT_LOCK_INIT;
static int64_t g_hold_ns;
static int64_t g_t0;

static void *say(void *arg) {
    int number = (int)(intptr_t)arg;
    int r = weft_lock_acquire(&g_lock, WEFT_FOREVER);
    if (r < 0) {
        fprintf(stderr, "say %d: weft_lock_acquire: %s\n", number, weft_strerror(r));
        return (void *)(intptr_t)r;
    }
    printf("hello world %d  (%s, +%.2f s)\n", number, weft_thread_current_name(),
           example_since(g_t0));
    int rs = weft_sleep(g_hold_ns);
    r = weft_lock_release(&g_lock);
    if (rs < 0 || r < 0) {
        fprintf(stderr, "say %d: %s: %s\n", number, rs < 0 ? "weft_sleep" : "weft_lock_release",
                weft_strerror(rs < 0 ? rs : r));
        return (void *)(intptr_t)(rs < 0 ? rs : r);
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (example_line_buffered("seed07") != 0)
        return 1;
    int usage = example_seconds_arg(argc, argv, 60, &g_hold_ns);
    if (usage)
        return usage;
    printf("%s: %d threads, each holds the lock for %.2f s\n", weft_thread_current_name(), NTHREADS,
           (double)g_hold_ns / WEFT_SEC);

    g_t0 = weft_now();
    weft_thread *ts[NTHREADS];
    int started = 0, failed = 0;
    for (int i = 0; i < NTHREADS; i++) {
        int r = weft_thread_start(&ts[i], say, (void *)(intptr_t)(i + 1), NULL);
        if (r < 0) {
            fprintf(stderr, "seed07: weft_thread_start: %s\n", weft_strerror(r));
            failed = 1;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++) {
        void *res = NULL;
        int r = weft_thread_join(ts[i], WEFT_FOREVER, &res);
        if (r < 0) {
            fprintf(stderr, "seed07: weft_thread_join: %s\n", weft_strerror(r));
            return 1;
        }
        if ((intptr_t)res < 0)
            failed = 1; /* the thread already said what failed */
    }
    if (failed)
        return 1;
    int r = weft_lock_destroy(&g_lock);
    if (r < 0) {
        fprintf(stderr, "seed07: weft_lock_destroy: %s\n", weft_strerror(r));
        return 1;
    }
    printf("total: %.2f s (expected about %.2f s)\n", example_since(g_t0),
           NTHREADS * (double)g_hold_ns / WEFT_SEC);
    return 0;
}
