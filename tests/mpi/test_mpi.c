/* libweft-mpi's tests. Each case is a ctest test mpi.<case> (label mpi) that runs
 *
 *     mpirun --oversubscribe -n 4 test_mpi --rank <case>
 *
 * (as root with OMPI_ALLOW_RUN_AS_ROOT*), checks its exit status, its time and its
 * output; `test_mpi --rank <case>` is the program every rank runs (rank 0 asserts, the
 * others serve). `local` runs the same program without mpirun (the local pool). */
#include "weft.h"
#include "weft_mpi.h"

#include <mpi.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHECK(c)                                                                  \
    do {                                                                          \
        if (!(c)) {                                                               \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c); \
            fflush(stderr);                                                       \
            _exit(1);                                                             \
        }                                                                         \
    } while (0)
#define CHECK_EQ(a, b)                                                                             \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s): %lld != %lld\n", __FILE__, __LINE__, #a, #b, \
                    a_, b_);                                                                       \
            fflush(stderr);                                                                        \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

/* ---- tasks ------------------------------------------------------------------------ */

static int t_square(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    if (x % 1009 == 5)
        return -EDOM; /* per-item errors */
    x = x * x + 1;
    return weft_bytes_set(out, &x, sizeof x);
}

/* x copies of the byte x % 251, and the rank's pid as the status's sign: no. Results of
 * any size (imap, apply); larger than a cell for big x. */
static int t_repeat(const void *in, size_t len, weft_bytes *out) {
    uint32_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    if (x % 97 == 13)
        return -ERANGE;
    int r = weft_bytes_reserve(out, x);
    if (r < 0)
        return r;
    memset(out->data, (int)(x % 251), x);
    out->len = x;
    return (int)(x % 5);
}

/* starmap: the arguments joined with '+', as 8 bytes (fixed) = their total length and
 * the first bytes. */
static int t_join(const void *in, size_t len, weft_bytes *out) {
    int n = weft_ppool_arg(in, len, -1, NULL, NULL);
    if (n < 0)
        return n;
    uint64_t total = 0, first = 0;
    for (int i = 0; i < n; i++) {
        const void *p;
        size_t l;
        int r = weft_ppool_arg(in, len, i, &p, &l);
        if (r < 0)
            return r;
        total += l;
        if (l)
            first = first * 31 + ((const unsigned char *)p)[0];
    }
    unsigned char b[8];
    uint32_t t32 = (uint32_t)total, f32 = (uint32_t)first;
    memcpy(b, &t32, 4);
    memcpy(b + 4, &f32, 4);
    return weft_bytes_set(out, b, 8);
}

static int t_sleep_ms(const void *in, size_t len, weft_bytes *out) {
    (void)out;
    uint32_t ms = 0;
    if (len == sizeof ms)
        memcpy(&ms, in, sizeof ms);
    usleep(ms * 1000u);
    return 0;
}

static int t_pid(const void *in, size_t len, weft_bytes *out) {
    (void)in;
    (void)len;
    int64_t pid = getpid();
    return weft_bytes_set(out, &pid, sizeof pid);
}

/* The inode of the network namespace the task runs in. */
static int t_netns(const void *in, size_t len, weft_bytes *out) {
    (void)in;
    (void)len;
    struct stat sb;
    if (stat("/proc/self/ns/net", &sb) < 0)
        return -errno;
    int64_t ino = (int64_t)sb.st_ino;
    return weft_bytes_set(out, &ino, sizeof ino);
}

static int t_die(const void *in, size_t len, weft_bytes *out) {
    (void)in;
    (void)len;
    (void)out;
    kill(getpid(), SIGKILL);
    return 0;
}

static __attribute__((unused)) int t_cube(const void *in, size_t len, weft_bytes *out) {
    (void)in;
    (void)len;
    (void)out;
    return 0;
}

static int sq, rep, join, slp, pidt, die, netns;

static void register_tasks(void) {
    sq = weft_ptask_register("square", t_square);
    rep = weft_ptask_register("repeat", t_repeat);
    join = weft_ptask_register("join", t_join);
    slp = weft_ptask_register("sleep_ms", t_sleep_ms);
    pidt = weft_ptask_register("pid", t_pid);
    die = weft_ptask_register("die", t_die);
    netns = weft_ptask_register("netns", t_netns);
    CHECK(sq >= 0 && rep >= 0 && join >= 0 && slp >= 0 && pidt >= 0 && die >= 0);
}

/* ---- the map case: every result equal to the local pool's ---------------------------- */

#define NMAP 100000
#define NIMAP 3000
#define NSTAR 5000

typedef struct {
    int64_t *out;
    int *st;
    int ret;
    unsigned char *iout; /* imap: every result, in index order, with status and length */
    size_t ilen;
    unsigned char *sout;
    int *sst;
    int sret;
} results;

static void append(results *r, const void *p, size_t n) {
    r->iout = realloc(r->iout, r->ilen + n);
    CHECK(r->iout);
    memcpy(r->iout + r->ilen, p, n);
    r->ilen += n;
}

static void run_all(weft_ppool *p, results *r) {
    int64_t *in = malloc(NMAP * sizeof *in);
    CHECK(in);
    for (int64_t i = 0; i < NMAP; i++)
        in[i] = i * 7 - 3;
    r->out = calloc(NMAP, sizeof *r->out);
    r->st = calloc(NMAP, sizeof *r->st);
    CHECK(r->out && r->st);
    r->ret = weft_ppool_map(p, sq, in, NMAP, sizeof *in, r->out, sizeof *r->out, 0, r->st);
    /* imap (ordered): results of any size, some beyond a cell */
    uint32_t *iin = malloc(NIMAP * sizeof *iin);
    CHECK(iin);
    for (uint32_t i = 0; i < NIMAP; i++)
        iin[i] = i % 50 == 0 ? 3000 + i : i % 40;
    weft_ppool_iter *it;
    CHECK_EQ(weft_ppool_imap(p, rep, iin, NIMAP, sizeof *iin, 7, 0, &it), 0);
    size_t idx, k = 0;
    int st;
    weft_bytes b = WEFT_BYTES_INIT;
    while (weft_ppool_iter_next(it, WEFT_FOREVER, &idx, &st, &b) == 1) {
        CHECK_EQ(idx, k++);
        append(r, &st, sizeof st);
        append(r, &b.len, sizeof b.len);
        if (b.len)
            append(r, b.data, b.len);
    }
    CHECK_EQ(k, NIMAP);
    weft_ppool_iter_destroy(it);
    /* imap_unordered: every index once */
    CHECK_EQ(weft_ppool_imap(p, rep, iin, NIMAP, sizeof *iin, 0, WEFT_PPOOL_UNORDERED, &it), 0);
    unsigned char *seen = calloc(NIMAP, 1);
    k = 0;
    while (weft_ppool_iter_next(it, WEFT_FOREVER, &idx, &st, &b) == 1) {
        CHECK(idx < NIMAP && !seen[idx]);
        seen[idx] = 1;
        k++;
        CHECK_EQ(b.len, st < 0 ? 0 : iin[idx]);
    }
    CHECK_EQ(k, NIMAP);
    weft_ppool_iter_destroy(it);
    free(seen);
    weft_bytes_free(&b);
    /* starmap */
    weft_ppool_args *items = calloc(NSTAR, sizeof *items);
    const void **argv = calloc(NSTAR * 3, sizeof *argv);
    size_t *lens = calloc(NSTAR * 3, sizeof *lens);
    static const char text[] = "abcdefghijklmnopqrstuvwxyz";
    CHECK(items && argv && lens);
    for (int i = 0; i < NSTAR; i++) {
        items[i].argc = i % 4;
        items[i].argv = argv + 3 * i;
        items[i].lens = lens + 3 * i;
        for (int a = 0; a < items[i].argc && a < 3; a++) {
            argv[3 * i + a] = text + (i + a) % 20;
            lens[3 * i + a] = (size_t)((i * 3 + a) % 7);
        }
        if (items[i].argc > 3)
            items[i].argc = 3;
    }
    r->sout = calloc(NSTAR, 8);
    r->sst = calloc(NSTAR, sizeof *r->sst);
    r->sret = weft_ppool_starmap(p, join, items, NSTAR, r->sout, 8, 13, r->sst);
    free(items);
    free(argv);
    free(lens);
    free(in);
    free(iin);
}

static int case_map(bool mpi, bool hosts) {
    results local = {0}, remote = {0};
    if (weft_mpi_rank() == 0 && mpi) {
        /* The local pool's results first, before MPI starts. */
        weft_ppool_opts o;
        weft_ppool_opts_init(&o);
        o.nworkers = 3;
        weft_ppool *lp;
        CHECK_EQ(weft_ppool_create(&lp, &o), 0);
        run_all(lp, &local);
        CHECK_EQ(weft_ppool_destroy(lp), 0);
    }
    weft_ppool *p;
    int r = weft_mpi_pool_create(&p, NULL);
    CHECK_EQ(r, 0);
    CHECK_EQ(weft_mpi_rank(), 0);
    if (mpi) {
        CHECK_EQ(weft_mpi_size(), 4);
        CHECK_EQ(weft_ppool_size(p), 3);
        CHECK_EQ(weft_ppool_pids(p, NULL, 0), 0);
    }
    run_all(p, &remote);
    if (hosts) {
        /* The workers run in this rank's namespace (rank 1) and in the other one. */
        int64_t ns[64], zero[64] = {0};
        CHECK_EQ(weft_ppool_map(p, netns, zero, 64, 8, ns, 8, 1, NULL), 0);
        struct stat sb;
        CHECK(stat("/proc/self/ns/net", &sb) == 0);
        int same = 0, other = 0;
        for (int i = 0; i < 64; i++) {
            same += ns[i] == (int64_t)sb.st_ino;
            other += ns[i] != (int64_t)sb.st_ino;
        }
        printf("netns: %d tasks ran in rank 0's network namespace, %d in the other host's\n", same,
               other);
        CHECK(other > 0);
    }
    CHECK_EQ(weft_ppool_destroy(p), 0);
    CHECK_EQ(remote.ret, -EDOM);
    for (int64_t i = 0; i < NMAP; i++) {
        int64_t x = i * 7 - 3;
        if (x % 1009 == 5) {
            CHECK_EQ(remote.st[i], -EDOM);
        } else {
            CHECK_EQ(remote.st[i], 0);
            CHECK_EQ(remote.out[i], x * x + 1);
        }
    }
    CHECK_EQ(remote.sret, 0);
    if (mpi) {
        CHECK_EQ(local.ret, remote.ret);
        CHECK(memcmp(local.out, remote.out, NMAP * sizeof *local.out) == 0);
        CHECK(memcmp(local.st, remote.st, NMAP * sizeof *local.st) == 0);
        CHECK_EQ(local.ilen, remote.ilen);
        CHECK(memcmp(local.iout, remote.iout, local.ilen) == 0);
        CHECK_EQ(local.sret, remote.sret);
        CHECK(memcmp(local.sout, remote.sout, NSTAR * 8) == 0);
        CHECK(memcmp(local.sst, remote.sst, NSTAR * sizeof *local.sst) == 0);
        printf("map: %d items, imap %d, starmap %d: identical to the local pool's\n", NMAP, NIMAP,
               NSTAR);
    }
    return 0;
}

/* ---- apply, apply_async, callbacks, errors ------------------------------------------- */

static atomic_int cb_ok, cb_err;
static void on_ok(weft_future *f, int status, const weft_bytes *res, void *ud) {
    (void)f;
    (void)ud;
    if (status >= 0 && res->len == 8)
        atomic_fetch_add(&cb_ok, 1);
}
static void on_err(weft_future *f, int status, const weft_bytes *res, void *ud) {
    (void)f;
    (void)res;
    (void)ud;
    if (status == -EDOM)
        atomic_fetch_add(&cb_err, 1);
}

static weft_ppool *cb_pool;
static atomic_int cb_destroy = 1;
static void on_ok_destroy(weft_future *f, int status, const weft_bytes *res, void *ud) {
    (void)f;
    (void)status;
    (void)res;
    (void)ud;
    atomic_store(&cb_destroy, weft_ppool_destroy(cb_pool)); /* refused: -EDEADLK */
}

static int case_apply(void) {
    weft_ppool *p;
    CHECK_EQ(weft_mpi_pool_create(&p, NULL), 0);
    weft_bytes b = WEFT_BYTES_INIT;
    for (int64_t i = 0; i < 2000; i++) {
        int r = weft_ppool_apply(p, sq, &i, sizeof i, &b);
        if (i % 1009 == 5) {
            CHECK_EQ(r, -EDOM);
            continue;
        }
        CHECK_EQ(r, 0);
        int64_t y;
        CHECK_EQ(b.len, 8);
        memcpy(&y, b.data, 8);
        CHECK_EQ(y, i * i + 1);
    }
    /* large input and result (beyond a cell, through the memfds on both sides) */
    uint32_t big = 1u << 20;
    CHECK_EQ(weft_ppool_apply(p, rep, &big, sizeof big, &b), (int)(big % 5));
    CHECK_EQ(b.len, big);
    CHECK_EQ(((unsigned char *)b.data)[big - 1], big % 251);
    CHECK_EQ(weft_ppool_apply(p, rep, "x", 1, &b), -EINVAL);
    /* apply_async with callbacks */
    weft_future *fs[300];
    for (int64_t i = 0; i < 300; i++) {
        int64_t v = i == 7 ? 5 : i;
        CHECK_EQ(weft_ppool_apply_async(p, sq, &v, sizeof v, on_ok, on_err, NULL, &fs[i]), 0);
    }
    for (int i = 0; i < 300; i++) {
        int64_t y;
        const weft_bytes *res;
        int st = weft_future_result(fs[i], WEFT_FOREVER, (void **)&res);
        if (i == 7 || i == 5) {
            CHECK_EQ(st, -EDOM);
        } else {
            CHECK_EQ(st, 0);
            memcpy(&y, res->data, 8);
            CHECK_EQ(y, (int64_t)i * i + 1);
        }
        weft_future_release(fs[i]);
    }
    CHECK_EQ(atomic_load(&cb_ok), 298);
    CHECK_EQ(atomic_load(&cb_err), 2);
    /* apply_argv */
    const void *av[2] = {"ab", "cde"};
    size_t al[2] = {2, 3};
    weft_future *f;
    CHECK_EQ(weft_ppool_apply_argv(p, join, 2, av, al, &f), 0);
    const weft_bytes *res;
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, (void **)&res), 0);
    uint32_t t32;
    memcpy(&t32, res->data, 4);
    CHECK_EQ(t32, 5);
    weft_future_release(f);
    /* a done-callback cannot destroy its pool (it runs on the pool's MPI thread) */
    cb_pool = p;
    int64_t one = 1;
    CHECK_EQ(weft_ppool_apply_async(p, sq, &one, 8, on_ok_destroy, NULL, NULL, &f), 0);
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
    weft_future_release(f);
    while (atomic_load(&cb_destroy) == 1)
        usleep(1000);
    CHECK_EQ(atomic_load(&cb_destroy), -EDEADLK);
    /* an unknown task id: refused at once */
    CHECK_EQ(weft_ppool_apply(p, 999, NULL, 0, NULL), -EINVAL);
    /* every rank takes part: pids of three distinct processes, none of them ours */
    int64_t pids[64];
    int st[64];
    int64_t dummy[64] = {0};
    CHECK_EQ(weft_ppool_map(p, pidt, dummy, 64, 8, pids, 8, 1, st), 0);
    int distinct = 0;
    for (int i = 0; i < 64; i++) {
        CHECK(pids[i] != getpid());
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= pids[j] == pids[i];
        distinct += !dup;
    }
    CHECK(distinct >= 2 && distinct <= 3);
    weft_bytes_free(&b);
    CHECK_EQ(weft_ppool_destroy(p), 0);
    printf("apply: ok (%d worker ranks seen)\n", distinct);
    return 0;
}

/* CPU seconds this process used over the next 2 s (rank 0: the MPI thread included). */
static double cpu_over_2s(void) {
    struct rusage a, b;
    getrusage(RUSAGE_SELF, &a);
    sleep(2);
    getrusage(RUSAGE_SELF, &b);
    return (double)(b.ru_utime.tv_sec - a.ru_utime.tv_sec + b.ru_stime.tv_sec - a.ru_stime.tv_sec) +
           (double)(b.ru_utime.tv_usec - a.ru_utime.tv_usec + b.ru_stime.tv_usec -
                    a.ru_stime.tv_usec) /
               1e6;
}

/* ---- deadlines, close/join, terminate ----------------------------------------------- */

static int case_lifecycle(void) {
    weft_ppool *p;
    CHECK_EQ(weft_mpi_pool_create(&p, NULL), 0);
    /* a deadline passes while the tasks run: -ETIMEDOUT, then the results */
    uint32_t ms[6] = {300, 300, 300, 300, 300, 300};
    weft_ppool_iter *it;
    CHECK_EQ(weft_ppool_imap(p, slp, ms, 6, sizeof ms[0], 1, 0, &it), 0);
    size_t idx;
    int st;
    CHECK_EQ(weft_ppool_iter_next(it, weft_after(50 * WEFT_MSEC), &idx, &st, NULL), -ETIMEDOUT);
    int got = 0;
    while (weft_ppool_iter_next(it, weft_after(30 * WEFT_SEC), &idx, &st, NULL) == 1) {
        CHECK_EQ(st, 0);
        got++;
    }
    CHECK_EQ(got, 6);
    weft_ppool_iter_destroy(it);
    /* map_async, then its future waited for with a deadline that passes first */
    weft_future *f;
    uint32_t ms2[3] = {300, 300, 300};
    CHECK_EQ(weft_ppool_map_async(p, slp, ms2, 3, 4, NULL, 0, 1, NULL, &f), -EINVAL);
    int64_t pids[3];
    int64_t t1 = weft_now();
    CHECK_EQ(weft_ppool_map_async(p, slp, ms2, 3, 4, pids, 0, 1, NULL, &f), -EINVAL);
    CHECK_EQ(weft_ppool_apply_async(p, slp, ms2, 4, NULL, NULL, NULL, &f), 0);
    CHECK_EQ(weft_future_result(f, weft_after(50 * WEFT_MSEC), NULL), -ETIMEDOUT);
    CHECK_EQ(weft_future_result(f, weft_after(30 * WEFT_SEC), NULL), 0);
    CHECK(weft_now() - t1 >= 250 * WEFT_MSEC);
    weft_future_release(f);
    /* terminate: running and queued tasks fail with -ECANCELED at once */
    uint32_t long_ms = 2000;
    weft_future *fl[8];
    for (int i = 0; i < 8; i++)
        CHECK_EQ(weft_ppool_apply_async(p, slp, &long_ms, 4, NULL, NULL, NULL, &fl[i]), 0);
    usleep(100 * 1000);
    int64_t t0 = weft_now();
    CHECK_EQ(weft_ppool_terminate(p), 0);
    for (int i = 0; i < 8; i++) {
        CHECK_EQ(weft_future_result(fl[i], WEFT_FOREVER, NULL), -ECANCELED);
        weft_future_release(fl[i]);
    }
    CHECK(weft_now() - t0 < WEFT_SEC);
    CHECK_EQ(weft_ppool_apply(p, slp, NULL, 0, NULL), -EPIPE);
    CHECK_EQ(weft_ppool_join(p, weft_after(10 * WEFT_SEC)), 0);
    double cpu = cpu_over_2s(); /* ended slots: the MPI thread sleeps */
    printf("lifecycle: rank 0 used %.3f s of CPU in 2 s after terminate\n", cpu);
    CHECK(cpu < 0.2);
    CHECK_EQ(weft_ppool_destroy(p), 0);
    /* one MPI pool per run */
    CHECK_EQ(weft_mpi_pool_create(&p, NULL), -EALREADY);
    printf("lifecycle: ok\n");
    return 0;
}

/* close/join: the queued tasks run, then join returns; options MPI cannot keep. */
static int case_close(void) {
    weft_ppool *p;
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.task_timeout = WEFT_SEC;
    if (weft_mpi_size() > 1) {
        CHECK_EQ(weft_mpi_pool_create(&p, &o), -ENOTSUP);
        if (weft_mpi_rank())
            return 0;
        CHECK(strstr(weft_mpi_error(), "task_timeout"));
        printf("close: refused task_timeout: %s\n", weft_mpi_error());
        return 0;
    }
    return 0;
}

static int case_close_join(void) {
    weft_ppool *p;
    CHECK_EQ(weft_mpi_pool_create(&p, NULL), 0);
    weft_future *fs[20];
    uint32_t ms = 20;
    for (int i = 0; i < 20; i++)
        CHECK_EQ(weft_ppool_apply_async(p, slp, &ms, 4, NULL, NULL, NULL, &fs[i]), 0);
    CHECK_EQ(weft_ppool_close(p), 0);
    CHECK_EQ(weft_ppool_apply(p, slp, NULL, 0, NULL), -EPIPE);
    CHECK_EQ(weft_ppool_join(p, weft_after(20 * WEFT_SEC)), 0);
    double cpu = cpu_over_2s();
    printf("close_join: rank 0 used %.3f s of CPU in 2 s after join\n", cpu);
    CHECK(cpu < 0.2);
    for (int i = 0; i < 20; i++) {
        CHECK(weft_future_done(fs[i]));
        CHECK_EQ(weft_future_result(fs[i], WEFT_NOWAIT, NULL), 0);
        weft_future_release(fs[i]);
    }
    CHECK_EQ(weft_ppool_destroy(p), 0);
    printf("close_join: ok\n");
    return 0;
}

/* ---- refusals: names ------------------------------------------------------------------ */

static int case_names(bool missing) {
    int rank = weft_mpi_rank();
    if (missing && rank == 3) {
        /* rank 3 forgets the last task */
    }
    weft_ptask_register("square", t_square);
    if (!missing && rank == 2)
        weft_ptask_register("cube", t_cube);
    else
        weft_ptask_register("repeat", t_repeat);
    if (!(missing && rank == 3))
        weft_ptask_register("join", t_join);
    weft_ppool *p = NULL;
    int r = weft_mpi_pool_create(&p, NULL);
    CHECK_EQ(r, -EPROTO);
    CHECK(p == NULL);
    if (rank == 0)
        printf("refused: %s\n", weft_mpi_error());
    return 0;
}

/* The program started MPI itself at MPI_THREAD_FUNNELED: the pool's own thread cannot
 * call MPI then, and every rank's create says so. */
static int case_user_init(void) {
    int prov = 0;
    CHECK_EQ(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &prov), MPI_SUCCESS);
    weft_ppool *p = NULL;
    if (prov < MPI_THREAD_MULTIPLE) {
        CHECK_EQ(weft_mpi_pool_create(&p, NULL), -ENOTSUP);
        CHECK(strstr(weft_mpi_error(), "MPI_THREAD_MULTIPLE"));
        if (weft_mpi_rank() == 0)
            printf("user_init: refused: %s\n", weft_mpi_error());
    }
    MPI_Finalize();
    return 0;
}

/* ---- a killed rank ---------------------------------------------------------------- */

static int case_killed(void) {
    weft_ppool *p;
    CHECK_EQ(weft_mpi_pool_create(&p, NULL), 0);
    uint32_t ms = 100;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(weft_ppool_apply(p, slp, &ms, 4, NULL), 0);
    printf("killing a worker rank\n");
    fflush(stdout);
    int r = weft_ppool_apply(p, die, NULL, 0, NULL);
    /* Not reached: mpirun ends the job. */
    printf("apply returned %d\n", r);
    weft_ppool_destroy(p);
    return 1;
}

/* Rank 0 itself is killed while the worker ranks wait for work. */
static int case_killed_owner(void) {
    weft_ppool *p;
    CHECK_EQ(weft_mpi_pool_create(&p, NULL), 0);
    CHECK_EQ(weft_ppool_apply(p, slp, NULL, 0, NULL), 0);
    printf("killing rank 0\n");
    fflush(stdout);
    kill(getpid(), SIGKILL);
    return 1;
}

/* ---- idle CPU ----------------------------------------------------------------------- */

/* CPU time (utime + stime, clock ticks) of the processes whose parent is ours' (the
 * ranks, children of mpirun), and how many there are. */
static long long ranks_cpu(int *n) {
    pid_t pp = getppid();
    long long total = 0;
    *n = 0;
    DIR *d = opendir("/proc");
    CHECK(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        char path[300], buf[1024];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
            continue;
        buf[len] = 0;
        char *q = strrchr(buf, ')');
        if (!q)
            continue;
        int ppid;
        unsigned long long ut, stt;
        /* fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt
         * majflt cmajflt utime stime */
        if (sscanf(q + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ppid, &ut,
                   &stt) != 3)
            continue;
        if (ppid != pp)
            continue;
        (*n)++;
        total += (long long)(ut + stt);
    }
    closedir(d);
    return total;
}

static int case_idle_cpu(void) {
    weft_ppool *p;
    CHECK_EQ(weft_mpi_pool_create(&p, NULL), 0);
    uint32_t ms = 1;
    for (int i = 0; i < 30; i++)
        CHECK_EQ(weft_ppool_apply(p, slp, &ms, 4, NULL), 0);
    sleep(1); /* past every spin and back-off step */
    int n0, n1;
    long long c0 = ranks_cpu(&n0);
    int64_t t0 = weft_now();
    sleep(10);
    long long c1 = ranks_cpu(&n1);
    double secs = (double)(weft_now() - t0) / WEFT_SEC;
    double cpu = (double)(c1 - c0) / (double)sysconf(_SC_CLK_TCK);
    printf("idle: %d ranks used %.3f s of CPU in %.1f s (%.2f%% of a core)\n", n1, cpu, secs,
           100 * cpu / secs);
    CHECK_EQ(n0, 4);
    CHECK_EQ(n1, 4);
    CHECK(cpu < 0.05 * secs);
    /* and still serves */
    CHECK_EQ(weft_ppool_apply(p, slp, &ms, 4, NULL), 0);
    CHECK_EQ(weft_ppool_destroy(p), 0);
    return 0;
}

/* ---- the rank side ------------------------------------------------------------------- */

static int rank_main(const char *c) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(c, "names_differ") == 0)
        return case_names(false);
    if (strcmp(c, "names_missing") == 0)
        return case_names(true);
    register_tasks();
    if (strcmp(c, "map") == 0 || strcmp(c, "netns") == 0)
        return case_map(true, strcmp(c, "netns") == 0);
    if (strcmp(c, "local") == 0)
        return case_map(false, false);
    if (strcmp(c, "apply") == 0)
        return case_apply();
    if (strcmp(c, "lifecycle") == 0)
        return case_lifecycle();
    if (strcmp(c, "options") == 0)
        return case_close();
    if (strcmp(c, "close_join") == 0)
        return case_close_join();
    if (strcmp(c, "killed_rank") == 0)
        return case_killed();
    if (strcmp(c, "idle_cpu") == 0)
        return case_idle_cpu();
    if (strcmp(c, "killed_owner") == 0)
        return case_killed_owner();
    if (strcmp(c, "user_init") == 0)
        return case_user_init();
    fprintf(stderr, "unknown case %s\n", c);
    return 2;
}

/* ---- the driver (what ctest runs) ----------------------------------------------------- */

/* Runs argv with output to *out; kills it (its process group) after limit seconds.
 * Returns the wait status; *secs its run time. */
static int run(char *const argv[], int limit, char **out, double *secs) {
    int pfd[2];
    CHECK(pipe(pfd) == 0);
    int64_t t0 = weft_now();
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        setpgid(0, 0);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(pfd[1]);
    size_t len = 0, cap = 4096;
    char *buf = malloc(cap);
    CHECK(buf);
    bool killed = false;
    for (;;) {
        int left = (int)(limit * 1000 - (weft_now() - t0) / WEFT_MSEC);
        if (left <= 0 && !killed) {
            kill(-pid, SIGKILL);
            killed = true;
            fprintf(stderr, "driver: killed after %d s\n", limit);
        }
        struct pollfd pf = {pfd[0], POLLIN, 0};
        poll(&pf, 1, left > 0 ? left : 1000);
        if (len + 1024 > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            CHECK(buf);
        }
        ssize_t n = read(pfd[0], buf + len, cap - len - 1);
        if (n == 0)
            break;
        if (n > 0)
            len += (size_t)n;
    }
    buf[len] = 0;
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    /* mpirun has ended; its ranks too (none may outlive it: they were in its group) */
    kill(-pid, SIGKILL);
    *secs = (double)(weft_now() - t0) / WEFT_SEC;
    *out = buf;
    return st;
}

static int driver(const char *self, const char *c) {
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    /* one machine, shared: no tuning messages, no binding */
    setenv("OMPI_MCA_btl_base_warn_component_unused", "0", 1);
    char *out;
    double secs;
    int st;
    if (strcmp(c, "local") == 0) {
        char *argv[] = {(char *)self, "--rank", "local", NULL};
        st = run(argv, 120, &out, &secs);
    } else if (strcmp(c, "netns") == 0) {
        char *argv[] = {"sh", (char *)getenv("WEFT_MPI_NETNS_SCRIPT"), (char *)self, NULL};
        if (!argv[1]) {
            printf("netns: WEFT_MPI_NETNS_SCRIPT unset\n");
            return 77;
        }
        st = run(argv, 240, &out, &secs);
        printf("%s", out);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
            return 77;
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        CHECK(strstr(out, "identical to the local pool's"));
        CHECK(strstr(out, "in the other host's"));
        return 0;
    } else {
        char *argv[] = {"mpirun", "--oversubscribe", "-n",     "4",       "--bind-to",
                        "none",   (char *)self,      "--rank", (char *)c, NULL};
        st = run(argv, strncmp(c, "killed_", 7) == 0 ? 60 : 240, &out, &secs);
    }
    printf("%s", out);
    fflush(stdout);
    fprintf(stderr, "driver: %s ended with status %d after %.1f s\n", c,
            WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st), secs);
    if (strcmp(c, "killed_owner") == 0) {
        CHECK(strstr(out, "killing rank 0"));
        CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0));
        CHECK(secs < 30 + 5);
        CHECK(strstr(out, "rank 0") && strstr(out, "exited on signal 9"));
        return 0;
    }
    if (strcmp(c, "killed_rank") == 0) {
        CHECK(strstr(out, "killing a worker rank"));
        CHECK(!(WIFEXITED(st) && WEXITSTATUS(st) == 0));
        CHECK(secs < 30 + 5); /* plus start-up */
        CHECK(!strstr(out, "apply returned"));
        CHECK(strstr(out, "exited on signal 9"));
        return 0;
    }
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    if (strcmp(c, "names_differ") == 0)
        CHECK(strstr(out, "task 1 is \"repeat\" on rank 0 but \"cube\" on rank 2"));
    if (strcmp(c, "names_missing") == 0)
        CHECK(strstr(out, "task 2 \"join\" is registered on rank 0 but not on rank 3"));
    if (strcmp(c, "map") == 0)
        CHECK(strstr(out, "identical to the local pool's"));
    if (strcmp(c, "user_init") == 0)
        CHECK(strstr(out, "user_init: refused"));
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 3 && strcmp(argv[1], "--rank") == 0)
        return rank_main(argv[2]);
    if (argc == 2) {
        char self[4096];
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        CHECK(n > 0);
        self[n] = 0;
        return driver(self, argv[1]);
    }
    fprintf(stderr, "usage: test_mpi CASE | test_mpi --rank CASE\n");
    return 2;
}
