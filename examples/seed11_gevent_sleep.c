/*
 * seed11_gevent_sleep: the seed's gevent example (section 11), in C.
 *
 * The Python original patches the blocking calls first, then sleeps with
 * the plain time.sleep:
 *
 *     from gevent import monkey; monkey.patch_all()
 *     from time import sleep
 *
 *     def one():
 *         print('hello')
 *         sleep(3)
 *         print('world')
 *
 *     def two():
 *         print('hello forever404')
 *
 *     one(); two()                                       # common()
 *     gevent.joinall([gevent.spawn(one), gevent.spawn(two)])   # coroutime()
 *
 * and prints hello / world / hello forever404, then hello / hello forever404
 * / world: while one() sleeps, two() runs.
 *
 * Here one() calls the C library's plain nanosleep(), and the hook library
 * (libweft-hook, the counterpart of monkey.patch_all) makes it yield, as
 * the patched time.sleep does:
 *   1. one after the other, as plain calls from main(): no coroutine exists
 *      yet, so the sleep simply blocks the thread (under gevent the main
 *      greenlet's patched sleep has nothing else to run either), and the
 *      output is hello / world / hello forever404.
 *   2. as two coroutines joined with weft_joinall(): one()'s sleep parks only
 *      its own coroutine, two() runs meanwhile, and the output is the seed's
 *      hello / hello forever404 / world, in about the same 3 s.
 *   3. main() itself sleeps with the plain call while one() and two() run,
 *      as a gevent program's main greenlet would with the patched sleep: the
 *      hooked sleep parks the main coroutine too, so the three sleeps
 *      overlap and the run takes one sleep, not two.
 * Each run prints its wall-clock time, measured with weft_now().
 *
 * The hook library must be live: the program calls weft_hook_check() first
 * and refuses to run without it (link: see weft_hook.h).
 *
 * Usage: seed11_gevent_sleep [SECONDS]
 *   SECONDS   how long one() sleeps (default 3; fractions allowed).
 *   The environment variable WEFT_DEMO_FAST=1 shortens the default to 0.3 s.
 *
 * Exit status: 0 on success, 1 if a call fails, the hook is not live or
 * the sleeps did not overlap, 2 on a usage error.
 */
#include <weft.h>
#include <weft_hook.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long one() sleeps, in nanoseconds. Set once in main() before use. */
static int64_t g_pause_ns;

/* Coroutine functions return a void *; these examples use it to carry a weft
 * status (0 or a negative errno) back to whoever joins them. */
static void *status_to_ptr(int status) {
    return (void *)(intptr_t)status;
}

static int ptr_to_status(void *p) {
    return (int)(intptr_t)p;
}

/* The plain C library sleep (hooked: it yields inside a coroutine). */
static int plain_sleep(int64_t ns) {
    struct timespec req = {(time_t)(ns / WEFT_SEC), (long)(ns % WEFT_SEC)}, rem;
    while (nanosleep(&req, &rem) != 0) {
        if (errno != EINTR)
            return -errno;
        req = rem;
    }
    return 0;
}

static void *one(void *arg) {
    (void)arg;
    puts("hello");
    int r = plain_sleep(g_pause_ns); /* yields to the other coroutines */
    if (r < 0) {
        fprintf(stderr, "one: nanosleep: %s\n", weft_strerror(r));
        return status_to_ptr(r);
    }
    puts("world");
    return status_to_ptr(0);
}

static void *two(void *arg) {
    (void)arg;
    puts("hello forever404");
    return status_to_ptr(0);
}

/* Parses the optional SECONDS argument; returns 0 and sets *ns, or -1. */
static int parse_seconds(const char *s, int64_t *ns) {
    char *end = NULL;
    errno = 0;
    double sec = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(sec) || sec < 0 || sec > 3600)
        return -1;
    *ns = (int64_t)(sec * (double)WEFT_SEC);
    return 0;
}

/* Spawns one() and two() as coroutines named "one" and "two". */
static int spawn_both(weft_coro cs[2]) {
    weft_coro_opts opts = {0};
    opts.name = "one";
    int r = weft_spawn(&cs[0], one, NULL, &opts);
    if (r < 0) {
        fprintf(stderr, "seed11: weft_spawn(one): %s\n", weft_strerror(r));
        return r;
    }
    opts.name = "two";
    r = weft_spawn(&cs[1], two, NULL, &opts);
    if (r < 0) {
        fprintf(stderr, "seed11: weft_spawn(two): %s\n", weft_strerror(r));
        weft_cancel(cs[0]);
        weft_join(cs[0], WEFT_FOREVER, NULL);
    }
    return r;
}

/* Joins both; 0 if both returned 0. */
static int join_both(weft_coro cs[2]) {
    void *results[2];
    int r = weft_joinall(cs, 2, WEFT_FOREVER, results);
    if (r < 0) {
        fprintf(stderr, "seed11: weft_joinall: %s\n", weft_strerror(r));
        return r;
    }
    for (int i = 0; i < 2; i++) {
        if (ptr_to_status(results[i]) < 0)
            return -1; /* the coroutine already printed its error */
    }
    return 0;
}

int main(int argc, char **argv) {
    char report[8192];
    if (weft_hook_check(report, sizeof report) != WEFT_HOOK_COUNT) {
        fputs(report, stderr);
        fputs("seed11: the hook library is not live; see weft_hook.h\n", stderr);
        return 1;
    }
    /* Line buffering, so the order of the prints shows even through a pipe. */
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        fprintf(stderr, "seed11: setvbuf failed\n");
        return 1;
    }

    const char *fast = getenv("WEFT_DEMO_FAST");
    g_pause_ns = (fast != NULL && strcmp(fast, "1") == 0) ? 300 * WEFT_MSEC : 3 * WEFT_SEC;
    if (argc > 2 || (argc == 2 && parse_seconds(argv[1], &g_pause_ns) != 0)) {
        fprintf(stderr,
                "usage: %s [SECONDS]   (0 <= SECONDS <= 3600; default 3,\n"
                "       or 0.3 with WEFT_DEMO_FAST=1)\n",
                argv[0]);
        return 2;
    }
    printf("one() sleeps %.2f s between its two prints\n", (double)g_pause_ns / WEFT_SEC);

    /* 1. Plain calls: main() has no coroutines, so the sleep blocks it. */
    puts("\n-- one after the other (plain calls) --");
    int64_t t0 = weft_now();
    int r = ptr_to_status(one(NULL));
    if (r < 0)
        return 1; /* one() already said what failed */
    r = ptr_to_status(two(NULL));
    if (r < 0)
        return 1;
    double sequential = (double)(weft_now() - t0) / WEFT_SEC;
    printf("sequential: %.2f s\n", sequential);

    /* 2. Coroutines: spawn both, then wait for both with joinall. They first
     *    run when main() blocks in weft_joinall(); main's own stack is the
     *    thread's main coroutine, so blocking here is fine. */
    puts("\n-- spawned as coroutines, joinall --");
    t0 = weft_now();
    weft_coro cs[2];
    if (spawn_both(cs) < 0 || join_both(cs) < 0)
        return 1;
    double concurrent = (double)(weft_now() - t0) / WEFT_SEC;
    printf("concurrent: %.2f s (sequential was %.2f s)\n", concurrent, sequential);

    /* 3. main() sleeps too, with the plain call, while the two run: the
     *    hooked sleep parks the main coroutine, as the patched time.sleep
     *    does in gevent's main greenlet. */
    puts("\n-- main() sleeps too, with the plain call --");
    t0 = weft_now();
    if (spawn_both(cs) < 0)
        return 1;
    puts("main: sleep");
    if ((r = plain_sleep(g_pause_ns)) < 0) {
        fprintf(stderr, "main: nanosleep: %s\n", weft_strerror(r));
        return 1;
    }
    puts("main: awake");
    if (join_both(cs) < 0)
        return 1;
    double overlapped = (double)(weft_now() - t0) / WEFT_SEC;
    printf("main sleeping too: %.2f s (one sleep, not two)\n", overlapped);
    if (getenv("WEFT_EXAMPLES_UNTIMED") == NULL &&
        overlapped >= 1.9 * (double)g_pause_ns / WEFT_SEC && g_pause_ns >= 100 * WEFT_MSEC) {
        fprintf(stderr, "seed11: the sleeps did not overlap (%.2f s)\n", overlapped);
        return 1;
    }
    return 0;
}
