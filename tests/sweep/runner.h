/*
 * The bad-input sweep's runner: included by the program tools/sweep generates (one
 * function per case and the table sw_cases[]), it runs every case in a forked child and
 * checks its outcome.
 *
 * Each child gets its own process group, stdout and stderr go to a memfd, and alarm()
 * bounds it (SWEEP_TIMEOUT seconds, default 5; the parent also kills it a second later);
 * the parent runs SWEEP_JOBS children at once (default 4). A case fails on a crash (any
 * signal but a SIGABRT with a weft message where the case allows "abort"), a hang, an
 * unexpected return value, or a sanitizer report. Cases listed in tests/sweep/known.txt
 * (defects being fixed) are reported as "known" and do not fail the sweep; they run with
 * a 1 s bound (an item tagged "@san" is a defect only the sanitizers see: without them the
 * case passes silently). A public function without cases fails the sweep.
 *
 *     sweep              run every case
 *     sweep -v           print every case
 *     sweep PATTERN...   run the cases whose "function case" matches a glob (fnmatch)
 *     sweep --list       list the cases
 */
#ifndef WEFT_SWEEP_RUNNER_H
#define WEFT_SWEEP_RUNNER_H

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include "weft.h"
#include "weft_hook.h"
#include "weft_session.h"
#ifdef SW_MPI
#include "weft_mpi.h" /* the sweep of libweft-mpi (sweep_mpi) */
#endif

/* What a case's child reports back (in shared memory). */
typedef struct sw_slot {
    volatile int done;
    int64_t ret;
    const void *ptr;
} sw_slot;

enum {
    SW_ANY = 1,   /* any return (no crash, no hang) */
    SW_ABORT = 2, /* SIGABRT after a "weft" message on stderr */
    SW_NEG = 4,   /* any negative errno */
    SW_NULL = 8,  /* a NULL pointer */
    SW_NONNULL = 16,
    SW_NONNEG = 32, /* >= 0 */
    SW_POS = 64,    /* > 0 */
};

typedef struct sw_expect {
    int flags;
    int nvals;
    int64_t vals[6];
} sw_expect;

enum { SW_RET_VOID, SW_RET_NUM, SW_RET_PTR, SW_RET_STR, SW_RET_CORO };

typedef struct sw_case {
    const char *fn;
    const char *name;
    sw_expect expect;
    void (*run)(sw_slot *r);
    int ret;
    const char *known; /* the issue item of a known defect, or NULL */
    int timeout;       /* seconds; 0: the default */
} sw_case;

extern const sw_case sw_cases[];
extern const size_t sw_ncases;
extern const char *const sw_uncovered[];
extern const size_t sw_nfuncs;
extern const char *const sw_known_unused[];

#include "fixtures.h"

/* ------------------------------------------------------------------ judging */

static const char *sw_errname(int64_t v) {
    static char buf[64];
    if (v < 0 && v > -4096) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
        const char *s = strerrorname_np((int)-v);
#else
        const char *s = weft_strerror((int)v); /* no errno names before glibc 2.32 */
#endif
        if (s) {
            snprintf(buf, sizeof buf, "-%s", s);
            return buf;
        }
    }
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    return buf;
}

static int sw_value_ok(const sw_case *c, const sw_slot *r) {
    const sw_expect *e = &c->expect;
    if (e->flags & SW_ANY)
        return 1;
    if (c->ret == SW_RET_VOID)
        return 0;
    if (c->ret == SW_RET_PTR || c->ret == SW_RET_STR || c->ret == SW_RET_CORO) {
        if ((e->flags & SW_NULL) && !r->ptr)
            return 1;
        if ((e->flags & SW_NONNULL) && r->ptr)
            return 1;
        return 0;
    }
    for (int i = 0; i < e->nvals; i++)
        if (r->ret == e->vals[i])
            return 1;
    if ((e->flags & SW_NEG) && r->ret < 0 && r->ret > -4096)
        return 1;
    if ((e->flags & SW_NONNEG) && r->ret >= 0)
        return 1;
    if ((e->flags & SW_POS) && r->ret > 0)
        return 1;
    return 0;
}

static void sw_describe_expect(const sw_case *c, char *buf, size_t n) {
    const sw_expect *e = &c->expect;
    size_t off = 0;
    buf[0] = 0;
#define SW_ADD(...)                                                            \
    do {                                                                       \
        if (off < n)                                                           \
            off += (size_t)snprintf(buf + off, n - off, "%s", off ? "|" : ""); \
        if (off < n)                                                           \
            off += (size_t)snprintf(buf + off, n - off, __VA_ARGS__);          \
    } while (0)
    if (e->flags & SW_ANY)
        SW_ADD("any");
    if (e->flags & SW_ABORT)
        SW_ADD("abort");
    if (e->flags & SW_NEG)
        SW_ADD("neg");
    if (e->flags & SW_NULL)
        SW_ADD("null");
    if (e->flags & SW_NONNULL)
        SW_ADD("nonnull");
    if (e->flags & SW_NONNEG)
        SW_ADD(">=0");
    if (e->flags & SW_POS)
        SW_ADD(">0");
    for (int i = 0; i < e->nvals; i++)
        SW_ADD("%s", sw_errname(e->vals[i]));
#undef SW_ADD
}

/* ------------------------------------------------------------------ running */

typedef struct sw_job {
    pid_t pid;
    size_t idx;
    int memfd;
    double start;
    int bound;
} sw_job;

static double sw_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_UNDEFINED__)
static const int sw_sanitized = 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
static const int sw_sanitized = 1;
#else
static const int sw_sanitized = 0;
#endif
#else
static const int sw_sanitized = 0;
#endif

static int sw_verbose;
static int sw_failures, sw_known_seen, sw_fixed, sw_ran;

static void sw_child(const sw_case *c, sw_slot *r, int memfd, int bound) {
    setpgid(0, 0);
    dup2(memfd, 1);
    dup2(memfd, 2);
    close(memfd);
    signal(SIGPIPE, SIG_IGN);
    alarm((unsigned)bound);
    c->run(r);
    r->done = 1;
    _exit(0);
}

/* The first line of the child's output that tells what happened, for the report. */
static void sw_first_lines(const char *out, char *buf, size_t n) {
    const char *p = strstr(out, "ERROR: AddressSanitizer");
    if (!p)
        p = strstr(out, "runtime error:");
    if (!p)
        p = strstr(out, "weft: ");
    if (!p)
        p = out;
    size_t i = 0;
    int lines = 0;
    while (*p && i + 1 < n && lines < 3) {
        if (*p == '\n') {
            lines++;
            buf[i++] = lines < 3 ? '|' : 0;
            p++;
            continue;
        }
        buf[i++] = *p++;
    }
    buf[i < n ? i : n - 1] = 0;
}

static void sw_finish(sw_job *j, int status, sw_slot *slots, int timed_out) {
    const sw_case *c = &sw_cases[j->idx];
    sw_slot *r = &slots[j->idx];
    char out[8192];
    ssize_t got = pread(j->memfd, out, sizeof out - 1, 0);
    out[got > 0 ? got : 0] = 0;
    close(j->memfd);
    kill(-j->pid, SIGKILL); /* whatever the case left running in its group */

    char what[512] = "";
    int ok = 0;
    int sanitizer = strstr(out, "Sanitizer") != NULL || strstr(out, "runtime error:") != NULL;
    if (timed_out || (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)) {
        snprintf(what, sizeof what, "hang (killed after %d s)", j->bound);
    } else if (sanitizer) {
        char l[300];
        sw_first_lines(out, l, sizeof l);
        snprintf(what, sizeof what, "sanitizer: %s", l);
    } else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) {
        int msg = strstr(out, "weft") != NULL;
        ok = (c->expect.flags & SW_ABORT) && msg;
        char l[300];
        sw_first_lines(out, l, sizeof l);
        snprintf(what, sizeof what, "abort%s: %s", msg ? "" : " without a weft message", l);
    } else if (WIFSIGNALED(status)) {
        snprintf(what, sizeof what, "crash: %s", strsignal(WTERMSIG(status)));
    } else if (!r->done || WEXITSTATUS(status) != 0) {
        char l[300];
        sw_first_lines(out, l, sizeof l);
        snprintf(what, sizeof what, "exited %d without returning: %s", WEXITSTATUS(status), l);
    } else {
        ok = sw_value_ok(c, r);
        if (c->ret == SW_RET_VOID)
            snprintf(what, sizeof what, "returned");
        else if (c->ret == SW_RET_NUM)
            snprintf(what, sizeof what, "returned %s", sw_errname(r->ret));
        else
            snprintf(what, sizeof what, "returned %s", r->ptr ? "non-NULL" : "NULL");
    }
    char exp[128];
    sw_describe_expect(c, exp, sizeof exp);
    sw_ran++;
    if (c->known) {
        sw_known_seen++;
        if (ok && !sw_sanitized && strstr(c->known, "@san")) {
            /* a defect only the sanitizers see: nothing to tell in this build */
        } else if (ok) {
            sw_fixed++;
            printf("fixed  %s %s: %s (item %s: remove it from tests/sweep/known.txt)\n", c->fn,
                   c->name, what, c->known);
        } else if (sw_verbose) {
            printf("known  %s %s: %s, expected %s (item %s)\n", c->fn, c->name, what, exp,
                   c->known);
        }
    } else if (!ok) {
        sw_failures++;
        printf("FAIL   %s %s: %s, expected %s\n", c->fn, c->name, what, exp);
    } else if (sw_verbose) {
        printf("ok     %s %s: %s\n", c->fn, c->name, what);
    }
    fflush(stdout);
}

static void sw_cleanup_names(void) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "weft-sweep-%d-", (int)getpid());
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strncmp(e->d_name, prefix, strlen(prefix)) == 0) {
            char p[300];
            snprintf(p, sizeof p, "/dev/shm/%s", e->d_name);
            unlink(p);
        }
    closedir(d);
}

static int sw_selected(const sw_case *c, int argc, char **argv) {
    if (argc == 0)
        return 1;
    char full[512];
    snprintf(full, sizeof full, "%s %s", c->fn, c->name);
    for (int i = 0; i < argc; i++)
        if (fnmatch(argv[i], full, 0) == 0 || fnmatch(argv[i], c->fn, 0) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv) {
    int list = 0;
    int a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (strcmp(argv[a], "-v") == 0)
            sw_verbose = 1;
        else if (strcmp(argv[a], "--list") == 0)
            list = 1;
        else {
            fprintf(stderr, "usage: %s [-v] [--list] [PATTERN...]\n", argv[0]);
            return 2;
        }
    }
    argc -= a;
    argv += a;
    if (list) {
        for (size_t i = 0; i < sw_ncases; i++)
            if (sw_selected(&sw_cases[i], argc, argv))
                printf("%s %s%s%s\n", sw_cases[i].fn, sw_cases[i].name,
                       sw_cases[i].known ? " known:" : "",
                       sw_cases[i].known ? sw_cases[i].known : "");
        return 0;
    }
    int jobs = getenv("SWEEP_JOBS") ? atoi(getenv("SWEEP_JOBS")) : 4;
    int bound = getenv("SWEEP_TIMEOUT") ? atoi(getenv("SWEEP_TIMEOUT")) : 5;
    if (jobs < 1)
        jobs = 1;
    if (bound < 1)
        bound = 1;
    setvbuf(stdout, NULL, _IOLBF, 0);
    double t0 = sw_clock();

    sw_slot *slots = mmap(NULL, sizeof(sw_slot) * (sw_ncases + 1), PROT_READ | PROT_WRITE,
                          MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (slots == MAP_FAILED) {
        perror("mmap");
        return 2;
    }
    sw_job *run = calloc((size_t)jobs, sizeof *run);
    int nrun = 0;
    size_t next = 0;
    for (;;) {
        while (nrun < jobs && next < sw_ncases) {
            size_t i = next++;
            if (!sw_selected(&sw_cases[i], argc, argv))
                continue;
            int b = sw_cases[i].timeout ? sw_cases[i].timeout : bound;
            if (sw_cases[i].known && b > 1)
                b = 1;
            int mfd = memfd_create("sweep-out", MFD_CLOEXEC);
            if (mfd < 0) {
                perror("memfd_create");
                return 2;
            }
            fflush(NULL);
            pid_t pid = fork();
            if (pid < 0) {
                perror("fork");
                return 2;
            }
            if (pid == 0)
                sw_child(&sw_cases[i], &slots[i], mfd, b);
            setpgid(pid, pid);
            run[nrun++] = (sw_job){pid, i, mfd, sw_clock(), b};
        }
        if (nrun == 0)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            for (int k = 0; k < nrun; k++)
                if (run[k].pid == pid) {
                    sw_finish(&run[k], status, slots, 0);
                    run[k] = run[--nrun];
                    break;
                }
            continue;
        }
        double now = sw_clock();
        for (int k = 0; k < nrun; k++)
            if (now - run[k].start > run[k].bound + 1.0) {
                kill(-run[k].pid, SIGKILL);
                kill(run[k].pid, SIGKILL);
                waitpid(run[k].pid, &status, 0);
                sw_finish(&run[k], status, slots, 1);
                run[k] = run[--nrun];
                k--;
            }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    free(run);
    sw_cleanup_names();

    int uncovered = 0;
    if (argc == 0) {
        for (size_t i = 0; sw_uncovered[i]; i++) {
            printf("FAIL   %s: no cases in tests/sweep/cases.txt (every public function needs "
                   "its bad-input cases)\n",
                   sw_uncovered[i]);
            uncovered++;
        }
        for (size_t i = 0; sw_known_unused[i]; i++)
            printf("note   known.txt entry matches no case: %s\n", sw_known_unused[i]);
    }
    printf("sweep: %zu functions (%d without cases), %d cases run, %d failures, %d known "
           "defects (%d of them now pass), %.1f s\n",
           sw_nfuncs, uncovered, sw_ran, sw_failures, sw_known_seen, sw_fixed, sw_clock() - t0);
    return sw_failures || uncovered ? 1 : 0;
}

#endif
