/*
 * weft's test harness: header-only, included by exactly one file per test program.
 *
 *     #include "harness.h"
 *
 *     WEFT_TEST(spawn_join) {
 *         CHECK_EQ(weft_coro_count(), 0);
 *         CHECK_ERR(weft_chan_create(NULL, 8, 0), -EINVAL);
 *     }
 *     WEFT_MAIN()
 *
 * The build (cmake/WeftTests.cmake) scans each tests/test_<area>.c for lines starting with
 * `WEFT_TEST(name)` and registers one ctest test <area>.<name> running `test_<area> name`.
 *
 * Running a test program:
 *     test_x name...   runs those cases in this process (no fork: easy to debug)
 *     test_x           runs every case in file order, each in a forked child so a crash
 *                      does not stop the rest, printing "ok name" or "FAIL name"
 *     test_x --list    prints the case names
 * Both modes end with the line "N passed, N failed" and exit non-zero on any failure.
 * SKIP("why") ends a case as skipped (exit status 77; ctest shows it as skipped).
 *
 * Assertions are always on (independent of NDEBUG). A failed check prints file:line, the
 * expression and both values to stderr and ends the case with exit(1).
 *
 * Each case runs under alarm(): WEFT_TEST_TIMEOUT seconds from the environment (the build
 * sets it per case), default 60; 0 disables it (for debuggers).
 *
 * Allocation failure injection and leak counting (through weft_set_allocator):
 *     test_alloc_install();          route weft's allocations through the counting allocator
 *     test_alloc_fail_after(n);      the next n alloc/realloc calls succeed, then all fail;
 *                                    n < 0: never fail (the default)
 *     test_alloc_live();             allocations made through it and not yet freed
 *     test_alloc_calls();            alloc/realloc calls seen so far (to size a fail loop)
 *     test_alloc_uninstall();        back to malloc/free
 *     CHECK_NO_LEAKS();              CHECK_EQ(test_alloc_live(), 0)
 */
#ifndef WEFT_TEST_HARNESS_H
#define WEFT_TEST_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "weft.h"

#define HARNESS_UNUSED __attribute__((unused))

/* ---------------------------------------------------------------- registry */

typedef void (*harness_fn)(void);

typedef struct harness_case {
    const char *name;
    harness_fn fn;
    int line;
} harness_case;

#define HARNESS_MAX_CASES 1024
static harness_case harness_cases[HARNESS_MAX_CASES];
static int harness_ncases;
static const char *harness_current = "?";

static HARNESS_UNUSED void harness_register(const char *name, harness_fn fn, int line) {
    if (harness_ncases == HARNESS_MAX_CASES) {
        fprintf(stderr, "harness: more than %d test cases\n", HARNESS_MAX_CASES);
        abort();
    }
    harness_cases[harness_ncases].name = name;
    harness_cases[harness_ncases].fn = fn;
    harness_cases[harness_ncases].line = line;
    harness_ncases++;
}

#define WEFT_TEST(name)                                                        \
    static void weft_test_##name(void);                                        \
    __attribute__((constructor)) static void weft_test_register_##name(void) { \
        harness_register(#name, weft_test_##name, __LINE__);                   \
    }                                                                          \
    static void weft_test_##name(void)

/* Lets a case get another timeout (seconds); read by the build, no effect in C. */
#define WEFT_TEST_TIMEOUT(name, seconds)

/* ---------------------------------------------------------------- failures */

static HARNESS_UNUSED __attribute__((noreturn, format(printf, 3, 4))) void
harness_fail(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "%s:%d: [%s] check failed: ", file, line, harness_current);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    /* _exit: a failed case must not wait at exit for threads it left. */
    _exit(1);
}

/* A readable name for a weft-style result: negative errno, or success. */
static HARNESS_UNUSED const char *harness_errname(long long v) {
    if (v >= 0)
        return "success";
    if (v < -4095)
        return "not an errno";
    return strerror((int)-v);
}

#define CHECK(cond)                                               \
    do {                                                          \
        if (!(cond))                                              \
            harness_fail(__FILE__, __LINE__, "CHECK(%s)", #cond); \
    } while (0)

#define HARNESS_CMP_(a, op, b, macro)                                                             \
    do {                                                                                          \
        long long harness_a_ = (long long)(a);                                                    \
        long long harness_b_ = (long long)(b);                                                    \
        if (!(harness_a_ op harness_b_))                                                          \
            harness_fail(__FILE__, __LINE__, "%s(%s, %s): %lld " #op " %lld is false", macro, #a, \
                         #b, harness_a_, harness_b_);                                             \
    } while (0)

/* Integer comparisons; both sides are converted to long long. */
#define CHECK_EQ(a, b) HARNESS_CMP_(a, ==, b, "CHECK_EQ")
#define CHECK_NE(a, b) HARNESS_CMP_(a, !=, b, "CHECK_NE")
#define CHECK_LT(a, b) HARNESS_CMP_(a, <, b, "CHECK_LT")
#define CHECK_LE(a, b) HARNESS_CMP_(a, <=, b, "CHECK_LE")
#define CHECK_GT(a, b) HARNESS_CMP_(a, >, b, "CHECK_GT")
#define CHECK_GE(a, b) HARNESS_CMP_(a, >=, b, "CHECK_GE")

#define CHECK_PTR_EQ(a, b)                                                                         \
    do {                                                                                           \
        const void *harness_a_ = (const void *)(a);                                                \
        const void *harness_b_ = (const void *)(b);                                                \
        if (harness_a_ != harness_b_)                                                              \
            harness_fail(__FILE__, __LINE__, "CHECK_PTR_EQ(%s, %s): %p != %p", #a, #b, harness_a_, \
                         harness_b_);                                                              \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                                        \
    do {                                                                                          \
        const char *harness_a_ = (a);                                                             \
        const char *harness_b_ = (b);                                                             \
        if (harness_a_ == NULL || harness_b_ == NULL ? harness_a_ != harness_b_                   \
                                                     : strcmp(harness_a_, harness_b_) != 0)       \
            harness_fail(__FILE__, __LINE__, "CHECK_STR_EQ(%s, %s): \"%s\" != \"%s\"", #a, #b,    \
                         harness_a_ ? harness_a_ : "(null)", harness_b_ ? harness_b_ : "(null)"); \
    } while (0)

/* expr must evaluate to exactly `expected` (a negative errno, or 0). */
#define CHECK_ERR(expr, expected)                                                                  \
    do {                                                                                           \
        long long harness_a_ = (long long)(expr);                                                  \
        long long harness_b_ = (long long)(expected);                                              \
        if (harness_a_ != harness_b_)                                                              \
            harness_fail(__FILE__, __LINE__,                                                       \
                         "CHECK_ERR(%s, %s): got %lld (%s), expected %lld (%s)", #expr, #expected, \
                         harness_a_, harness_errname(harness_a_), harness_b_,                      \
                         harness_errname(harness_b_));                                             \
    } while (0)

/* expr must succeed (>= 0, the weft convention). */
#define CHECK_OK(expr)                                                                         \
    do {                                                                                       \
        long long harness_a_ = (long long)(expr);                                              \
        if (harness_a_ < 0)                                                                    \
            harness_fail(__FILE__, __LINE__, "CHECK_OK(%s): got %lld (%s)", #expr, harness_a_, \
                         harness_errname(harness_a_));                                         \
    } while (0)

/* ------------------------------------------- counting / failing allocator */

static atomic_long harness_alloc_live_n;
static atomic_long harness_alloc_calls_n;
static atomic_long harness_alloc_budget = -1; /* < 0: never fail */

static HARNESS_UNUSED int harness_alloc_should_fail(void) {
    atomic_fetch_add(&harness_alloc_calls_n, 1);
    long b = atomic_load(&harness_alloc_budget);
    for (;;) {
        if (b < 0)
            return 0;
        if (b == 0)
            return 1;
        if (atomic_compare_exchange_weak(&harness_alloc_budget, &b, b - 1))
            return 0;
    }
}

static HARNESS_UNUSED void *harness_alloc_alloc(size_t size, void *ud) {
    (void)ud;
    if (harness_alloc_should_fail())
        return NULL;
    void *p = malloc(size ? size : 1);
    if (p)
        atomic_fetch_add(&harness_alloc_live_n, 1);
    return p;
}

static HARNESS_UNUSED void *harness_alloc_realloc(void *ptr, size_t size, void *ud) {
    (void)ud;
    if (ptr && size == 0) {
        free(ptr);
        atomic_fetch_sub(&harness_alloc_live_n, 1);
        return NULL;
    }
    if (harness_alloc_should_fail())
        return NULL;
    void *p = realloc(ptr, size ? size : 1);
    if (p && !ptr)
        atomic_fetch_add(&harness_alloc_live_n, 1);
    return p;
}

static HARNESS_UNUSED void harness_alloc_free(void *ptr, void *ud) {
    (void)ud;
    if (ptr) {
        free(ptr);
        atomic_fetch_sub(&harness_alloc_live_n, 1);
    }
}

/* Routes weft's allocations through the counting allocator. Returns weft_set_allocator's
 * result (0). */
static HARNESS_UNUSED int test_alloc_install(void) {
    weft_allocator a = {harness_alloc_alloc, harness_alloc_realloc, harness_alloc_free, NULL};
    return weft_set_allocator(&a);
}

static HARNESS_UNUSED int test_alloc_uninstall(void) {
    return weft_set_allocator(NULL);
}

/* The next n alloc/realloc calls succeed, every later one fails; n < 0: never fail. */
static HARNESS_UNUSED void test_alloc_fail_after(int n) {
    atomic_store(&harness_alloc_budget, n < 0 ? -1L : (long)n);
}

/* Allocations made through the counting allocator and not freed yet. */
static HARNESS_UNUSED long test_alloc_live(void) {
    return atomic_load(&harness_alloc_live_n);
}

/* alloc/realloc calls made through the counting allocator so far (failed ones included). */
static HARNESS_UNUSED long test_alloc_calls(void) {
    return atomic_load(&harness_alloc_calls_n);
}

#define CHECK_NO_LEAKS() CHECK_EQ(test_alloc_live(), 0)

/* ---- zombies ----------------------------------------------------------- */

#include <dirent.h>

/* Calls fn(pid, ud) for every child of this process (of any of its threads), as listed
 * in /proc/self/task/<tid>/children. */
static HARNESS_UNUSED void harness_each_child(void (*fn)(long pid, void *ud), void *ud) {
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        long pid;
        while (fscanf(f, "%ld", &pid) == 1)
            fn(pid, ud);
        fclose(f);
    }
    closedir(d);
}

static HARNESS_UNUSED void harness_count_zombie(long pid, void *ud) {
    char sp[64], buf[512];
    snprintf(sp, sizeof sp, "/proc/%ld/stat", pid);
    FILE *g = fopen(sp, "r");
    if (!g)
        return;
    size_t n = fread(buf, 1, sizeof buf - 1, g);
    fclose(g);
    buf[n] = 0;
    char *rp = strrchr(buf, ')');
    if (rp && rp[1] == ' ' && rp[2] == 'Z')
        ++*(int *)ud;
}

/* Number of children of this process (of any of its threads) that are zombies:
 * exited and not reaped (each child's /proc/<pid>/stat says Z). */
static HARNESS_UNUSED int harness_zombies(void) {
    int zombies = 0;
    harness_each_child(harness_count_zombie, &zombies);
    return zombies;
}

static HARNESS_UNUSED void harness_kill_child(long pid, void *ud) {
    (void)ud;
    kill((pid_t)pid, SIGKILL);
}

/* Kills every child of this process (after a failed check: no orphan left). */
static HARNESS_UNUSED void test_kill_children(void) {
    harness_each_child(harness_kill_child, NULL);
}

/* Watching a process that is not this one's child (a pool's worker) end: open the
 * watch before signalling it, then wait. Through a pidfd where pidfd_open works; where it
 * is refused (an older kernel, a seccomp policy: `make oldkernel`), the wait looks at
 * /proc/<pid>/stat every millisecond instead (a zombie counts as ended). */
typedef struct {
    pid_t pid;
    int fd; /* the pidfd, or -1 */
} harness_watch;
static HARNESS_UNUSED bool harness_watch_open(harness_watch *w, pid_t pid) {
    w->pid = pid;
    w->fd = (int)syscall(434 /* SYS_pidfd_open */, pid, 0);
    return w->fd >= 0 || errno == ENOSYS || errno == EPERM;
}
static HARNESS_UNUSED bool harness_proc_ended(pid_t pid) {
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *rp = strrchr(buf, ')'); /* the name may hold anything */
    return !rp || rp[1] != ' ' || rp[2] == 'Z' || rp[2] == 'X';
}
/* True once the watched process has ended, false after ms; closes the watch. */
static HARNESS_UNUSED bool harness_watch_wait(harness_watch *w, int ms) {
    bool ended;
    if (w->fd >= 0) {
        struct pollfd pf = {w->fd, POLLIN, 0};
        ended = poll(&pf, 1, ms) == 1;
        close(w->fd);
        w->fd = -1;
        return ended;
    }
    for (int i = 0; !(ended = harness_proc_ended(w->pid)) && i < ms; i++)
        usleep(1000);
    return ended;
}

/* Fails if the test process has any zombie child. */
#define CHECK_NO_ZOMBIES() CHECK_EQ(harness_zombies(), 0)

/* ---- child processes and shared memory -------------------------------- */

#include <sys/mman.h>

/* Forks a child that runs fn(arg) and then _exit(0) (a failed CHECK in it
 * exits 1; it is killed by SIGALRM after 60 s). The parent reaps it. */
static HARNESS_UNUSED pid_t test_fork_child(void (*fn)(void *), void *arg) {
    fflush(NULL);
    pid_t p = fork();
    CHECK_GE(p, 0);
    if (p == 0) {
        alarm(60);
        fn(arg);
        _exit(0);
    }
    return p;
}

/* Reaps child p: its exit code, or 1000 + the signal that ended it. */
static HARNESS_UNUSED int test_reap(pid_t p) {
    int st;
    pid_t r;
    while ((r = waitpid(p, &st, 0)) < 0 && errno == EINTR) {
    }
    CHECK_EQ(r, p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + WTERMSIG(st);
}

/* n bytes of zeroed memory shared with the children forked afterwards. */
static HARNESS_UNUSED void *test_shared_mem(size_t n) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CHECK(p != MAP_FAILED);
    return p;
}

/* WEFT_TEST_IN_GROUP=1: each case runs as a coroutine of a worker group of two
 * threads in which every wake-up changes thread (weft_group_opts.migrate), joined
 * from the main thread; cases that need one thread skip themselves
 * (SKIP_IN_GROUP). */
static HARNESS_UNUSED int harness_in_group(void) {
    const char *e = getenv("WEFT_TEST_IN_GROUP");
    return e && *e == '1';
}
#define SKIP_IN_GROUP(why)                                                        \
    do {                                                                          \
        if (harness_in_group()) {                                                 \
            fprintf(stderr, "skipped %s: one thread's coroutines only (%s)\n",    \
                    harness_current, why);                                        \
            fflush(stdout);                                                       \
            fflush(stderr);                                                       \
            _exit(HARNESS_SKIP_CODE); /* from a worker: no exit handlers */       \
        }                                                                         \
    } while (0)

/* ---- helpers shared by the test programs ------------------------------ */

typedef struct {
    void (*fn)(void);
} harness_body;

static void *harness_body_tramp(void *p) {
    harness_body *b = p;
    b->fn();
    CHECK_EQ(weft_coro_count(), 0);
    return NULL;
}

/* Runs fn on a new thread and joins it; fn must leave no coroutine behind. */
__attribute__((unused)) static void run_plain_in_thread(void (*fn)(void)) {
    harness_body b = {fn};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, harness_body_tramp, &b), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
}

/* Runs fn on a new thread with the counting allocator installed; after the
 * thread (and its scheduler) is gone, nothing weft allocated may be left. */
__attribute__((unused)) static void run_in_thread(void (*fn)(void)) {
    if (harness_in_group()) {
        /* Already a coroutine of the case's group: the body runs right here (the
         * group's workers keep their memory until it is destroyed: no leak check). */
        fn();
        CHECK_EQ(weft_coro_count(), 0);
        return;
    }
    CHECK_OK(test_alloc_install());
    harness_body b = {fn};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, harness_body_tramp, &b), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_NO_LEAKS();
}

/* An ordering log: words separated by spaces, appended under a mutex (pool
 * workers append too); read logbuf once the writers are done. */
__attribute__((unused)) static char logbuf[8192];
static size_t loglen;
static pthread_mutex_t logmu = PTHREAD_MUTEX_INITIALIZER;

__attribute__((unused)) static void log_reset(void) {
    pthread_mutex_lock(&logmu);
    loglen = 0;
    logbuf[0] = 0;
    pthread_mutex_unlock(&logmu);
}

__attribute__((unused, format(printf, 1, 2))) static void logf_(const char *fmt, ...) {
    va_list ap;
    pthread_mutex_lock(&logmu);
    if (loglen)
        logbuf[loglen++] = ' ';
    va_start(ap, fmt);
    int n = vsnprintf(logbuf + loglen, sizeof logbuf - loglen, fmt, ap);
    va_end(ap);
    bool fits = n >= 0 && (size_t)n < sizeof logbuf - loglen;
    if (fits)
        loglen += (size_t)n;
    pthread_mutex_unlock(&logmu);
    CHECK(fits);
}

/* ---------------------------------------------------------------- skipping */

/* Ends the case as skipped (exit status 77, which ctest reports as "Skipped"; the build
 * sets SKIP_RETURN_CODE 77 on every case): for a case whose requirement is missing from
 * this build or machine (say, libcurl), so that it is registered everywhere and says why
 * it did not run instead of failing or silently passing. */
#define HARNESS_SKIP_CODE 77
#define SKIP(...)                                                    \
    do {                                                             \
        fprintf(stderr, "skipped %s: ", harness_current);            \
        fprintf(stderr, __VA_ARGS__);                                \
        fputc('\n', stderr);                                         \
        fflush(stdout);                                              \
        fflush(stderr);                                              \
        exit(HARNESS_SKIP_CODE);                                     \
    } while (0)

/* Run-time probes of what an emulator (qemu-user) lacks, so that the whole suite runs
 * there: a case that needs the feature starts with its SKIP_UNLESS_..., which skips it with
 * the reason when the probe fails. Each probe tests the feature itself, never the machine. */
#include <sys/syscall.h>
/* The kernel keeps a robust-futex list per thread (qemu-user refuses set_robust_list and
 * get_robust_list: no owner-death recovery for process-shared locks). */
static HARNESS_UNUSED bool harness_robust_futex_ok(void) {
    void *head = NULL;
    size_t len = 0;
    return syscall(SYS_get_robust_list, 0, &head, &len) == 0;
}
#define SKIP_UNLESS_ROBUST_FUTEX()                                                        \
    do {                                                                                  \
        if (!harness_robust_futex_ok())                                                   \
            SKIP("no robust futexes here (get_robust_list: %s): owner death goes unseen", \
                 strerror(errno));                                                        \
    } while (0)
/* libc creates a robust process-shared mutex (riscv64 glibc refuses with ENOTSUP when the
 * kernel has no robust futex list, as under qemu-user). */
static HARNESS_UNUSED int harness_robust_pshared_mutex(void) {
    pthread_mutexattr_t a;
    pthread_mutex_t m;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
    int rc = pthread_mutex_init(&m, &a);
    pthread_mutexattr_destroy(&a);
    if (rc == 0)
        pthread_mutex_destroy(&m);
    return rc;
}
#define SKIP_UNLESS_ROBUST_PSHARED_MUTEX()                                                       \
    do {                                                                                         \
        int harness_rc_ = harness_robust_pshared_mutex();                                        \
        if (harness_rc_ != 0)                                                                    \
            SKIP("libc refuses robust process-shared mutexes here (%s)", strerror(harness_rc_)); \
    } while (0)
/* The kernel's accounts of this process's memory (resident size, mapping count against
 * vm.max_map_count) cover the mappings /proc/self/maps lists: under an emulator maps shows
 * the guest's mappings but smaps, VmRSS and the map count are the host process's. */
static HARNESS_UNUSED bool harness_proc_maps_own(void) {
    char l[4096];
    int maps = 0, smaps = 0;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return false;
    while (fgets(l, sizeof l, f))
        maps++;
    fclose(f);
    if (!(f = fopen("/proc/self/smaps", "r")))
        return false;
    while (fgets(l, sizeof l, f))
        smaps += strncmp(l, "Rss:", 4) == 0;
    fclose(f);
    return maps == smaps;
}
#define SKIP_UNLESS_PROC_MAPS_OWN()                                                  \
    do {                                                                             \
        if (!harness_proc_maps_own())                                                \
            SKIP("the kernel counts other mappings than /proc/self/maps lists here " \
                 "(maps and smaps disagree: an emulator's own memory is counted)");  \
    } while (0)
/* setrlimit(RLIMIT_AS) caps this program's mappings (qemu-user does not pass it on to the
 * host process); probed in a child. */
#include <sys/mman.h>
#include <sys/resource.h>
static HARNESS_UNUSED bool harness_rlimit_as_ok(void) {
    pid_t pid = fork();
    if (pid == 0) {
        long pages = 0;
        FILE *f = fopen("/proc/self/statm", "r");
        if (!f || fscanf(f, "%ld", &pages) != 1)
            _exit(1);
        fclose(f);
        rlim_t cap = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)64 << 20);
        struct rlimit rl = {cap, cap};
        if (setrlimit(RLIMIT_AS, &rl) != 0)
            _exit(1);
        void *p = mmap(NULL, (size_t)512 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        _exit(p == MAP_FAILED && errno == ENOMEM ? 0 : 1);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
#define SKIP_UNLESS_RLIMIT_AS()                                      \
    do {                                                             \
        if (!harness_rlimit_as_ok())                                 \
            SKIP("setrlimit(RLIMIT_AS) does not cap mappings here"); \
    } while (0)

/* prctl(PR_SET_CHILD_SUBREAPER) works (qemu-user refuses it with EINVAL); probed in a child
 * so that the case's own process is left as it was. */
#include <sys/prctl.h>
static HARNESS_UNUSED bool harness_subreaper_ok(void) {
    pid_t pid = fork();
    if (pid == 0) {
        int v = 0;
        _exit(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0 && prctl(PR_GET_CHILD_SUBREAPER, &v) == 0 &&
                      v == 1
                  ? 0
                  : 1);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
#define SKIP_UNLESS_SUBREAPER()                                    \
    do {                                                           \
        if (!harness_subreaper_ok())                               \
            SKIP("prctl(PR_SET_CHILD_SUBREAPER) is refused here"); \
    } while (0)

/* A program built for this machine can be exec'd (under qemu-user without binfmt_misc the
 * kernel refuses the guest's binaries with ENOEXEC): runs this test program's --list. */
static HARNESS_UNUSED bool harness_exec_self_ok(void) {
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 1);
        execl("/proc/self/exe", "harness-probe", "--list", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return false;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}
#define SKIP_UNLESS_EXEC_SELF()                                            \
    do {                                                                   \
        if (!harness_exec_self_ok())                                       \
            SKIP("programs built for this machine cannot be exec'd here"); \
    } while (0)
/* posix_spawn reports a failed exec to its caller (qemu-user runs the vfork-style clone as
 * a fork, so the child's exec error is lost and spawn returns 0). */
#include <spawn.h>
static HARNESS_UNUSED bool harness_spawn_reports_exec_errors(void) {
    char *argv[] = {(char *)"/nonexistent/harness-probe", NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], NULL, NULL, argv, NULL);
    if (rc == 0)
        waitpid(pid, NULL, 0);
    return rc == ENOENT;
}
#define SKIP_UNLESS_SPAWN_REPORTS_EXEC_ERRORS()                     \
    do {                                                            \
        if (!harness_spawn_reports_exec_errors())                   \
            SKIP("posix_spawn does not report a failed exec here"); \
    } while (0)

/* Tests of weft's fallbacks: in a forked child (the filter stays for good), system call
 * nr fails with err, as under an older kernel (ENOSYS) or a seccomp policy (EPERM); with
 * arg0 >= 0 only when its first argument is arg0. Filters stack: call once per call to
 * refuse. 0, or -errno (qemu-user does not install filters: the child then exits with
 * HARNESS_SECCOMP_REFUSED, which its parent's SKIP_IF_SECCOMP_REFUSED turns into a skip). */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#define HARNESS_SECCOMP_REFUSED 3
static HARNESS_UNUSED int harness_seccomp_deny(long nr, long arg0, int err) {
    const unsigned ret_err = SECCOMP_RET_ERRNO | ((unsigned)err & SECCOMP_RET_DATA);
    struct sock_filter any[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, ret_err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_filter with_arg0[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)arg0, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, ret_err),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {4, any};
    if (arg0 >= 0)
        prog = (struct sock_fprog){6, with_arg0};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
        return -errno;
    return 0;
}
#define SKIP_IF_SECCOMP_REFUSED(status)                                                 \
    do {                                                                                \
        if ((status) == HARNESS_SECCOMP_REFUSED)                                        \
            SKIP("seccomp filters are refused here (qemu-user does not install them)"); \
    } while (0)

/* The host's gdb can run this program and read its symbols (under qemu-user the
 * kernel refuses to exec a guest binary for gdb, and a process gdb attaches to is the
 * emulator, without this program's symbols): gdb starts this program stopped at its first
 * instruction and prints a variable of it. */
__attribute__((used)) static volatile int harness_gdb_marker = 24301;
static HARNESS_UNUSED bool harness_gdb_reads_self(void) {
    char self[512], cmd[1200], out[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = 0;
    snprintf(cmd, sizeof cmd,
             "timeout 30 gdb -nx -batch -ex starti -ex 'print (int)harness_gdb_marker + 0 * (long)$pc' "
             "--args '%s' --list 2>&1",
             self);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    size_t len = fread(out, 1, sizeof out - 1, p);
    out[len] = 0;
    pclose(p);
    return strstr(out, "= 24301") != NULL;
}
#define SKIP_UNLESS_GDB_READS_SELF()                                                    \
    do {                                                                                \
        if (system("command -v gdb >/dev/null 2>&1") != 0)                              \
            SKIP("gdb is not installed");                                               \
        if (!harness_gdb_reads_self())                                                  \
            SKIP("the host's gdb cannot run this program and read its symbols here"); \
    } while (0)

/* ---------------------------------------------------------------- running */

static HARNESS_UNUSED void harness_on_alarm(int sig) {
    static const char msg[] = "harness: test case timed out (alarm)\n";
    (void)sig;
    ssize_t r = write(2, msg, sizeof msg - 1);
    (void)r;
    _exit(124);
}

static HARNESS_UNUSED void *harness_group_tramp(void *p) {
    const harness_case *c = (const harness_case *)p;
    c->fn();
    return NULL;
}

static HARNESS_UNUSED void harness_run_in_group(const harness_case *c) {
    weft_group *g = NULL;
    weft_group_opts o = {.threads = 2, .migrate = 1};
    CHECK_OK(weft_group_create(&g, &o));
    weft_coro co;
    CHECK_OK(weft_group_spawn(g, &co, harness_group_tramp, (void *)c, NULL));
    CHECK_OK(weft_join(co, WEFT_FOREVER, NULL));
    CHECK_OK(weft_group_destroy(g));
}

static HARNESS_UNUSED void harness_run_case(const harness_case *c) {
    const char *env = getenv("WEFT_TEST_TIMEOUT");
    unsigned timeout = env && *env ? (unsigned)strtoul(env, NULL, 10) : 60;
    harness_current = c->name;
    if (timeout) {
        signal(SIGALRM, harness_on_alarm);
        alarm(timeout);
    }
    if (harness_in_group())
        harness_run_in_group(c);
    else
        c->fn();
    /* Every case, in every test program, must leave no zombie child behind.
     * A child weft reaps in the background (a released process handle) may
     * take a moment: wait for that, bounded. */
    for (int i = 0; harness_zombies() > 0; i++) {
        if (i == 2000) {
            harness_fail(__FILE__, __LINE__, "case left %d zombie children", harness_zombies());
        }
        usleep(1000);
    }
    alarm(0);
}

static HARNESS_UNUSED int harness_cmp_line(const void *a, const void *b) {
    const harness_case *x = (const harness_case *)a, *y = (const harness_case *)b;
    return (x->line > y->line) - (x->line < y->line);
}

static HARNESS_UNUSED int harness_main(int argc, char **argv) {
    int passed = 0, failed = 0, skipped = 0;
    qsort(harness_cases, (size_t)harness_ncases, sizeof harness_cases[0], harness_cmp_line);
    setvbuf(stdout, NULL, _IOLBF, 0);

    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < harness_ncases; i++)
            printf("%s\n", harness_cases[i].name);
        return 0;
    }

    if (argc > 1) {
        /* Named cases, in this process. A failing check exits the process. */
        for (int a = 1; a < argc; a++) {
            const harness_case *c = NULL;
            for (int i = 0; i < harness_ncases; i++)
                if (strcmp(harness_cases[i].name, argv[a]) == 0)
                    c = &harness_cases[i];
            if (!c) {
                fprintf(stderr, "%s: no test case named '%s'; cases are:\n", argv[0], argv[a]);
                for (int i = 0; i < harness_ncases; i++)
                    fprintf(stderr, "  %s\n", harness_cases[i].name);
                return 2;
            }
            harness_run_case(c);
            printf("ok %s\n", c->name);
            passed++;
        }
        printf("%d passed, %d failed\n", passed, failed);
        return 0;
    }

    /* Every case, each in its own child process. */
    for (int i = 0; i < harness_ncases; i++) {
        const harness_case *c = &harness_cases[i];
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) {
            perror("harness: fork");
            return 1;
        }
        if (pid == 0) {
            harness_run_case(c);
            fflush(stdout);
            exit(0);
        }
        int st = 0;
        while (waitpid(pid, &st, 0) < 0) {
            if (errno != EINTR) {
                perror("harness: waitpid");
                return 1;
            }
        }
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            printf("ok %s\n", c->name);
            passed++;
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == HARNESS_SKIP_CODE) {
            printf("skip %s\n", c->name);
            skipped++;
        } else if (WIFSIGNALED(st)) {
            printf("FAIL %s (killed by signal %d: %s)\n", c->name, WTERMSIG(st),
                   strsignal(WTERMSIG(st)));
            failed++;
        } else {
            printf("FAIL %s (exit status %d)\n", c->name, WEXITSTATUS(st));
            failed++;
        }
    }
    printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}

#define WEFT_MAIN()                      \
    int main(int argc, char **argv) {    \
        return harness_main(argc, argv); \
    }

#endif /* WEFT_TEST_HARNESS_H */
