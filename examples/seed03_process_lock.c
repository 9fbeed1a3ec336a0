/*
 * seed03_process_lock: the seed's process lock example (section 3), in C.
 *
 * The Python original: ten processes each do
 *
 *     lock.acquire(); print("hello world {}".format(number)); sleep(1); lock.release()
 *
 * with a multiprocessing.Lock shared by all. First each process is joined right
 * after it is started: they run one after another, so the output is in order and
 * takes about 10 s. Then all ten are started before any is joined: they all
 * compete for the lock, so the numbers come out in whatever order the processes
 * get it, still one per second (about 10 s again).
 *
 * Here the lock is a weft_plock placed in an anonymous shared arena made before
 * the children are forked, so every child uses the same lock. The lock is robust:
 * if a child died while holding it, the next one would get -EOWNERDEAD (and the
 * lock), report it, and go on instead of everyone waiting forever.
 *
 * Usage: seed03_process_lock [SECONDS]
 *   SECONDS   how long each process sleeps while holding the lock (default 1;
 *             fractions allowed, 0 .. 60). Each part takes about 10 * SECONDS.
 * Exit status: 0 on success, 1 if any weft call or any child fails, 2 on a usage
 * error.
 */
#include "example.h"

enum { NPROCS = 10 };

static weft_plock *g_lock; /* in shared memory */
static int64_t g_hold_ns;
static int64_t g_t0;

/* The child's body: its return value is the child's exit code. */
static int say(void *arg) {
    int number = (int)(intptr_t)arg;
    int r = weft_plock_acquire(g_lock, WEFT_FOREVER);
    if (r == -EOWNERDEAD) {
        /* A previous holder died inside; nothing to repair here but the lock. */
        printf("(process %d: the previous holder died; repairing the lock)\n", number);
        r = weft_plock_consistent(g_lock);
    }
    if (r < 0) {
        fprintf(stderr, "say %d: weft_plock_acquire: %s\n", number, weft_strerror(r));
        return 1;
    }
    printf("hello world %d  (pid %d, %s, +%.2f s)\n", number, (int)weft_getpid(),
           weft_proc_current_name(), example_since(g_t0));
    int rs = weft_sleep(g_hold_ns);
    r = weft_plock_release(g_lock);
    if (rs < 0 || r < 0) {
        fprintf(stderr, "say %d: %s: %s\n", number, rs < 0 ? "weft_sleep" : "weft_plock_release",
                weft_strerror(rs < 0 ? rs : r));
        return 1;
    }
    return 0;
}

static int start(weft_proc **p, int number) {
    int r = weft_proc_start(p, say, (void *)(intptr_t)number, NULL);
    if (r < 0)
        fprintf(stderr, "seed03: weft_proc_start: %s\n", weft_strerror(r));
    return r;
}

int main(int argc, char **argv) {
    if (example_line_buffered("seed03") != 0)
        return 1;
    int usage = example_seconds_arg(argc, argv, 60, &g_hold_ns);
    if (usage)
        return usage;

    weft_shm_arena *arena;
    int r = weft_shm_arena_create(&arena, 4096);
    if (r < 0) {
        fprintf(stderr, "seed03: weft_shm_arena_create: %s\n", weft_strerror(r));
        return 1;
    }
    g_lock = weft_shm_alloc(arena, sizeof *g_lock);
    if (!g_lock) {
        fprintf(stderr, "seed03: weft_shm_alloc: out of shared memory\n");
        return 1;
    }
    if ((r = weft_plock_init(g_lock)) < 0) {
        fprintf(stderr, "seed03: weft_plock_init: %s\n", weft_strerror(r));
        return 1;
    }
    printf("%s (pid %d): %d processes, each holds the lock for %.2f s\n",
           weft_proc_current_name(), (int)weft_getpid(), NPROCS, (double)g_hold_ns / WEFT_SEC);
    int failed = 0;

    /* Part 1: start, join, start, join, ...: ordered. */
    printf("-- each process joined right after it starts\n");
    g_t0 = weft_now();
    for (int i = 1; i <= NPROCS && !failed; i++) {
        weft_proc *p;
        if (start(&p, i) < 0 || example_join_proc("seed03", p) != 0)
            failed = 1;
    }
    double t1 = example_since(g_t0);
    printf("part 1: %.2f s (expected about %.2f s)\n", t1, NPROCS * (double)g_hold_ns / WEFT_SEC);

    /* Part 2: start all, then join all: any order, one at a time. */
    printf("-- all processes started before any join\n");
    g_t0 = weft_now();
    weft_proc *ps[NPROCS];
    int started = 0;
    for (int i = 1; i <= NPROCS && !failed; i++) {
        if (start(&ps[started], i) < 0) {
            failed = 1;
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        if (example_join_proc("seed03", ps[i]) != 0)
            failed = 1;
    double t2 = example_since(g_t0);
    printf("part 2: %.2f s (expected about %.2f s)\n", t2, NPROCS * (double)g_hold_ns / WEFT_SEC);

    if ((r = weft_plock_destroy(g_lock)) < 0) {
        fprintf(stderr, "seed03: weft_plock_destroy: %s\n", weft_strerror(r));
        failed = 1;
    }
    if ((r = weft_shm_free(arena, g_lock)) < 0 || (r = weft_shm_arena_destroy(arena)) < 0) {
        fprintf(stderr, "seed03: freeing the arena: %s\n", weft_strerror(r));
        failed = 1;
    }
    printf("total: %.2f s\n", t1 + t2);
    return failed;
}
