/* Memory of coroutine machinery across threads: a process that keeps
 * starting short-lived threads which run coroutines stays flat, and the
 * limit on mappings (vm.max_map_count) is named when it is what fails. */
#include "harness.h"

#include "coro/maplimit.h" /* white-box: the limit's test hook */

#include <fcntl.h>
#include <semaphore.h>
#include <stdint.h>
#include <sys/resource.h>

/* ---- threads that come and go stay flat ---------------------------------- */

static long maps_lines(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    CHECK(f != NULL);
    long n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static long rss_kib(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL);
    long size = 0, res = 0;
    CHECK_EQ(fscanf(f, "%ld %ld", &size, &res), 2);
    fclose(f);
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

#define CHAIN_THREADS 2000
#define CHAIN_GROUP 16 /* threads alive at once */
#define CHAIN_WARMUP 2 /* groups */

typedef struct chain_link {
    sem_t ready;    /* the thread has spawned its coroutines */
    sem_t release;  /* the whole group is up: finish */
    weft_coro left; /* a coroutine it leaves behind, abandoned at exit */
} chain_link;

static chain_link chain[CHAIN_THREADS];

static void *yield_ret(void *arg) {
    CHECK_ERR(weft_yield(), 0);
    return arg;
}

static void *sleep_forever(void *arg) {
    (void)arg;
    CHECK_ERR(weft_sleep(3600 * WEFT_SEC), -ECANCELED);
    return NULL;
}

static void *chain_thread(void *arg) {
    chain_link *l = arg;
    weft_coro cs[4];
    for (int i = 0; i < 4; i++) {
        weft_coro_opts o = {.stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&cs[i], yield_ret, (void *)(intptr_t)(i + 1), &o), 0);
    }
    weft_coro_opts sh = {.stack_mode = WEFT_STACK_SHARED};
    CHECK_ERR(weft_spawn(&l->left, sleep_forever, NULL, &sh), 0);
    CHECK_EQ(weft_yield(), 0); /* all five have run once: stacks in use */
    CHECK_EQ(sem_post(&l->ready), 0);
    /* Hold every block (and whatever the thread took from the process)
     * while the rest of the group starts. */
    while (sem_wait(&l->release) != 0)
        CHECK_EQ(errno, EINTR);
    for (int i = 0; i < 4; i++) {
        void *res;
        CHECK_ERR(weft_join(cs[i], WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, i + 1);
    }
    CHECK_EQ(weft_coro_count(), 1);
    return NULL; /* exits with the sleeper left: it is cancelled and abandoned */
}

/* 2000 threads, in groups of 16 alive at once (each starts once the one
 * before it has spawned; the group ends together), each running GUARDED and
 * SHARED coroutines and leaving one behind. After a warm-up the number of
 * mappings and the resident size must not grow: every exiting thread's
 * control blocks, slab rest, stacks and arena are reused or returned.
 * (Before the fix, a thread that found the free blocks held by the threads
 * beside it mapped a slab, carved a few blocks and left the rest behind:
 * +220 mappings and +2.6 MiB over this run.) */
/* WEFT_TEST_TIMEOUT(threads_come_and_go_stay_flat, 120) */
WEFT_TEST(threads_come_and_go_stay_flat) {
    pthread_t t[CHAIN_GROUP];
    long maps0 = 0, rss0 = 0, maps_max = 0, rss_max = 0;
    /* The test's own arrays are touched before measuring. */
    memset(t, 0, sizeof t);
    memset(chain, 0, sizeof chain);
    for (int g = 0; g < CHAIN_THREADS / CHAIN_GROUP; g++) {
        chain_link *l = &chain[g * CHAIN_GROUP];
        for (int k = 0; k < CHAIN_GROUP; k++) {
            CHECK_EQ(sem_init(&l[k].ready, 0, 0), 0);
            CHECK_EQ(sem_init(&l[k].release, 0, 0), 0);
            CHECK_EQ(pthread_create(&t[k], NULL, chain_thread, &l[k]), 0);
            while (sem_wait(&l[k].ready) != 0)
                CHECK_EQ(errno, EINTR);
        }
        for (int k = 0; k < CHAIN_GROUP; k++)
            CHECK_EQ(sem_post(&l[k].release), 0);
        for (int k = 0; k < CHAIN_GROUP; k++)
            CHECK_EQ(pthread_join(t[k], NULL), 0);
        /* Measured always at the same point: no thread of ours alive. */
        long m = maps_lines(), r = rss_kib();
        if (g + 1 == CHAIN_WARMUP) {
            maps0 = m;
            rss0 = r;
        } else if (g + 1 > CHAIN_WARMUP) {
            maps_max = m > maps_max ? m : maps_max;
            rss_max = r > rss_max ? r : rss_max;
        }
    }
    fprintf(stderr, "maps %ld -> max %ld, rss %ld KiB -> max %ld KiB\n", maps0, maps_max, rss0,
            rss_max);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
    /* (The sanitizers' allocators and shadow memory grow with threads on their own.) */
    CHECK(maps_max <= maps0 + 2);
    /* RSS may still grow while reused slabs are first touched (more with the ucontext
     * switch's larger contexts: +412 KiB seen); the old code grew 1.9 MiB and on. */
    SKIP_UNLESS_PROC_MAPS_OWN();
    CHECK(rss_max <= rss0 + 1024);
#endif
    /* Every left-behind coroutine's handle is stale, though its block has
     * been reused by the threads that followed. */
    for (int k = 0; k < CHAIN_THREADS; k++) {
        CHECK_ERR(weft_join(chain[k].left, WEFT_NOWAIT, NULL), -ESRCH);
        CHECK_ERR(weft_cancel(chain[k].left), -ESRCH);
        CHECK_ERR(weft_coro_done(chain[k].left), -ESRCH);
        CHECK_EQ(weft_coro_id(chain[k].left), 0);
        CHECK_EQ(sem_destroy(&chain[k].ready), 0);
        CHECK_EQ(sem_destroy(&chain[k].release), 0);
    }
}

/* ---- the mapping limit is named when it is what fails ------------------- */

static void *never_runs(void *arg) {
    (void)arg;
    return NULL;
}

/* In a child with stderr on a pipe: spawns GUARDED coroutines (suspended,
 * so nothing runs) until one fails, spawns once more, and reports
 * [first error, second error, spawned] through `out`. */
static void spawn_until_failure(int out, int err_fd, size_t stack_size) {
    CHECK_EQ(dup2(err_fd, 2), 2);
    weft_coro_opts o = {.stack_mode = WEFT_STACK_GUARDED, .stack_size = stack_size,
                        .suspended = 1};
    weft_coro h;
    long r[3] = {0, 0, 0};
    for (;;) {
        int e = weft_spawn(&h, never_runs, NULL, &o);
        if (e != 0) {
            r[0] = e;
            break;
        }
        r[2]++;
    }
    r[1] = weft_spawn(&h, never_runs, NULL, &o);
    CHECK_EQ(write(out, r, sizeof r), (ssize_t)sizeof r);
    _exit(0);
}

typedef struct limit_run {
    long first, second, spawned;
    char err[4096];
} limit_run;

/* Runs fn(...) in a child; collects its report and everything it wrote to
 * stderr. setup runs in the child first. */
static void run_limited(limit_run *lr, void (*setup)(void), size_t stack_size) {
    int rep[2], errp[2];
    CHECK_EQ(pipe(rep), 0);
    CHECK_EQ(pipe(errp), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(rep[0]);
        close(errp[0]);
        if (setup)
            setup();
        spawn_until_failure(rep[1], errp[1], stack_size);
    }
    close(rep[1]);
    close(errp[1]);
    long r[3];
    CHECK_EQ(read(rep[0], r, sizeof r), (ssize_t)sizeof r);
    size_t n = 0;
    for (;;) {
        ssize_t k = read(errp[0], lr->err + n, sizeof lr->err - 1 - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    lr->err[n] = 0;
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    close(rep[0]);
    close(errp[0]);
    lr->first = r[0];
    lr->second = r[1];
    lr->spawned = r[2];
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* The process's address space is capped a little above its size, so a
 * stack mapping fails with ENOMEM after a few hundred spawns. */
static void cap_address_space(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL);
    long pages = 0;
    CHECK_EQ(fscanf(f, "%ld", &pages), 1);
    fclose(f);
    rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)64 << 20);
    struct rlimit rl = {cap, cap};
    CHECK_EQ(setrlimit(RLIMIT_AS, &rl), 0);
}

static void limit_near(void) {
    /* The threshold, injected: "vm.max_map_count" is just above what the
     * process has now, so the failure is blamed on it. */
    weft__map_limit_set_for_test(weft__map_count() + 100);
    cap_address_space();
}

static void limit_far(void) {
    weft__map_limit_set_for_test(100000000);
    cap_address_space();
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1 /* the sanitizers' shadow memory does not fit an address-space cap */
#else
#define SANITIZED 0
#endif

/* A mapping failure near the limit: -ENOMEM, and one message naming the
 * limit, its value and the SHARED mode, however many spawns fail after. */
WEFT_TEST(map_limit_named_once) {
    if (SANITIZED)
        SKIP("the sanitizers' shadow memory does not fit an address-space cap");
    SKIP_UNLESS_RLIMIT_AS();
    limit_run lr;
    run_limited(&lr, limit_near, 0);
    fprintf(stderr, "spawned %ld; stderr: %s", lr.spawned, lr.err);
    CHECK(lr.spawned > 0);
    CHECK_EQ(lr.first, -ENOMEM);
    CHECK_EQ(lr.second, -ENOMEM);
    CHECK_EQ(count_of(lr.err, "weft: cannot map coroutine memory"), 1);
    CHECK_EQ(count_of(lr.err, "vm.max_map_count = "), 1);
    CHECK_EQ(count_of(lr.err, "WEFT_STACK_SHARED"), 1);
    CHECK_EQ(count_of(lr.err, "\n"), 1);
}

/* A mapping failure far from the limit (memory really short): -ENOMEM and
 * no message blaming the limit. */
WEFT_TEST(map_limit_not_blamed_for_memory) {
    if (SANITIZED)
        SKIP("the sanitizers' shadow memory does not fit an address-space cap");
    SKIP_UNLESS_RLIMIT_AS();
    limit_run lr;
    run_limited(&lr, limit_far, 0);
    CHECK(lr.spawned > 0);
    CHECK_EQ(lr.first, -ENOMEM);
    CHECK_EQ(lr.second, -ENOMEM);
    CHECK_EQ(strlen(lr.err), 0);
}

/* The real limit, no hook: GUARDED coroutines with small stacks until
 * vm.max_map_count stops them (about 32,700 with the default 65530). */
/* WEFT_TEST_TIMEOUT(map_limit_real, 120) */
WEFT_TEST(map_limit_real) {
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer makes a fiber per coroutine: 32,000 of them take it past its own
     * memory (the child died without a report). */
    SKIP("32,000 coroutines are too many for ThreadSanitizer's fibers");
#endif
    long limit = 0;
    FILE *f = fopen("/proc/sys/vm/max_map_count", "r");
    CHECK(f != NULL);
    CHECK_EQ(fscanf(f, "%ld", &limit), 1);
    fclose(f);
    if (limit > 200000) {
        SKIP("vm.max_map_count is %ld (too many stacks to map)", limit);
    }
    SKIP_UNLESS_PROC_MAPS_OWN();
    limit_run lr;
    run_limited(&lr, NULL, 16 * 1024);
    fprintf(stderr, "spawned %ld; stderr: %s", lr.spawned, lr.err);
    CHECK_EQ(lr.first, -ENOMEM);
    CHECK_EQ(lr.second, -ENOMEM);
    /* Two mappings per stack, less what the process had to begin with. */
    CHECK(lr.spawned > limit / 2 - 2000);
    CHECK(lr.spawned < limit / 2);
    char want[64];
    snprintf(want, sizeof want, "vm.max_map_count = %ld ", limit);
    CHECK_EQ(count_of(lr.err, want), 1);
    CHECK_EQ(count_of(lr.err, "WEFT_STACK_SHARED"), 1);
}

WEFT_MAIN()
