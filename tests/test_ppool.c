/* The process pool: apply, map, imap, callbacks, initializer, maxtasks,
 * timeouts, close/terminate/join, dying workers, and the chaos test. */
#include "harness.h"
#include "ppool/ppool.h" /* white-box: a late result in a released cell */

#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>

/* WEFT_TEST_TIMEOUT(chaos_fail, 40) */
/* WEFT_TEST_TIMEOUT(chaos_retry, 40) */

/* Memory shared with the workers (mapped before any pool forks). */
typedef struct {
    atomic_int inits;
    atomic_int crashed[64];
    atomic_int runs;
    atomic_int stop;
} shared_t;
static shared_t *sh;

static int t_square, t_echo, t_fail_odd, t_big, t_pid, t_sleep, t_abort, t_exit, t_kill,
    t_crash_once, t_init, t_init_fail, t_sum_args, t_rep, t_short, t_slow_square, t_counted_sleep,
    t_spin, t_star, t_star_kill, t_star_crash;

static int square(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    x *= x;
    return weft_bytes_set(out, &x, sizeof x);
}
static int echo(const void *in, size_t len, weft_bytes *out) {
    return weft_bytes_set(out, in, len);
}
static int fail_odd(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    if (x % 2)
        return -EDOM;
    return weft_bytes_set(out, &x, sizeof x);
}
/* Input: a size_t n; output: n bytes, byte i = i * 7. */
static int big(const void *in, size_t len, weft_bytes *out) {
    size_t n;
    if (len != sizeof n)
        return -EINVAL;
    memcpy(&n, in, sizeof n);
    int r = weft_bytes_reserve(out, n);
    if (r < 0)
        return r;
    for (size_t i = 0; i < n; i++)
        ((unsigned char *)out->data)[i] = (unsigned char)(i * 7);
    out->len = n;
    return 0;
}
static int getpid_task(const void *in, size_t len, weft_bytes *out) {
    (void)in;
    (void)len;
    pid_t p = getpid();
    return weft_bytes_set(out, &p, sizeof p);
}
static int sleep_task(const void *in, size_t len, weft_bytes *out) {
    int ms;
    (void)out;
    if (len != sizeof ms)
        return -EINVAL;
    memcpy(&ms, in, sizeof ms);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
    return ms;
}
/* sleep_task, counted in sh->runs when it starts. */
static int counted_sleep(const void *in, size_t len, weft_bytes *out) {
    atomic_fetch_add(&sh->runs, 1);
    return sleep_task(in, len, out);
}
/* Counted in sh->runs, then busy until sh->stop. */
static int spin_task(const void *in, size_t len, weft_bytes *out) {
    (void)in, (void)len, (void)out;
    atomic_fetch_add(&sh->runs, 1);
    while (!atomic_load(&sh->stop))
        sched_yield();
    return 0;
}
static int abort_task(const void *in, size_t len, weft_bytes *out) {
    (void)in, (void)len, (void)out;
    abort();
}
static int exit_task(const void *in, size_t len, weft_bytes *out) {
    (void)in, (void)len, (void)out;
    _exit(7);
}
static int kill_task(const void *in, size_t len, weft_bytes *out) {
    (void)in, (void)len, (void)out;
    raise(SIGKILL);
    return 0;
}
/* Input: an int slot; dies the first time each slot runs. */
static int crash_once(const void *in, size_t len, weft_bytes *out) {
    int slot;
    if (len != sizeof slot)
        return -EINVAL;
    memcpy(&slot, in, sizeof slot);
    if (atomic_fetch_add(&sh->crashed[slot], 1) == 0)
        raise(SIGKILL);
    return weft_bytes_set(out, &slot, sizeof slot);
}
static int init_task(const void *in, size_t len, weft_bytes *out) {
    (void)out;
    if (len != 3 || memcmp(in, "abc", 3) != 0)
        return -EINVAL;
    atomic_fetch_add(&sh->inits, 1);
    return 0;
}
static int init_fail(const void *in, size_t len, weft_bytes *out) {
    (void)in, (void)len, (void)out;
    return -EIO;
}
static int sum_args(const void *in, size_t len, weft_bytes *out) {
    int argc = weft_ppool_arg(in, len, -1, NULL, NULL);
    if (argc < 0)
        return argc;
    int64_t sum = 0;
    for (int i = 0; i < argc; i++) {
        const void *p;
        size_t l;
        int r = weft_ppool_arg(in, len, i, &p, &l);
        if (r < 0)
            return r;
        int64_t v;
        if (l != sizeof v)
            return -EINVAL;
        memcpy(&v, p, sizeof v);
        sum += v;
    }
    return weft_bytes_set(out, &sum, sizeof sum);
}
/* Input int64 x: output x % 50 copies of the byte (x & 255); status x % 50. */
static int rep(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    unsigned char c = (unsigned char)(x & 255);
    for (int64_t i = 0; i < x % 50; i++) {
        int r = weft_bytes_append(out, &c, 1);
        if (r < 0)
            return r;
    }
    return (int)(x % 50);
}
/* square, taking about 2 us: keeps a chaos map running long enough. */
static int slow_square(const void *in, size_t len, weft_bytes *out) {
    int64_t until = weft_now() + 2 * WEFT_USEC;
    while (weft_now() < until) {
    }
    return square(in, len, out);
}
/* Writes fewer bytes than a fixed map asks for. */
static int short_task(const void *in, size_t len, weft_bytes *out) {
    (void)len;
    return weft_bytes_set(out, in, 1);
}

/* A hash of a starmap item's arguments (argc, each length and byte), the
 * same in the test and in the worker. */
static int64_t star_hash(int argc, const void *const *argv, const size_t *lens) {
    uint64_t h = (uint64_t)argc;
    for (int k = 0; k < argc; k++) {
        h = h * 31 + lens[k];
        for (size_t i = 0; i < lens[k]; i++)
            h = h * 131 + ((const unsigned char *)argv[k])[i];
    }
    return (int64_t)(h >> 1);
}
/* Unpacks the arguments (at most 8) and hashes them; an item whose first
 * argument starts with 'X' fails with -EDOM. */
static int star(const void *in, size_t len, weft_bytes *out) {
    const void *argv[8];
    size_t lens[8];
    int argc = weft_ppool_arg(in, len, -1, NULL, NULL);
    if (argc < 0 || argc > 8)
        return argc < 0 ? argc : -E2BIG;
    for (int k = 0; k < argc; k++) {
        int r = weft_ppool_arg(in, len, k, &argv[k], &lens[k]);
        if (r != argc)
            return r < 0 ? r : -EPROTO;
    }
    if (argc && lens[0] && *(const char *)argv[0] == 'X')
        return -EDOM;
    int64_t h = star_hash(argc, argv, lens);
    return weft_bytes_set(out, &h, sizeof h);
}
/* Argument 0: an int64 v. Kills its worker when v is 7, else gives 2 * v. */
static int star_kill(const void *in, size_t len, weft_bytes *out) {
    const void *a;
    size_t l;
    int64_t v;
    if (weft_ppool_arg(in, len, 0, &a, &l) < 0 || l != sizeof v)
        return -EINVAL;
    memcpy(&v, a, sizeof v);
    if (v == 7)
        raise(SIGKILL);
    v *= 2;
    return weft_bytes_set(out, &v, sizeof v);
}
/* Argument 0: an int slot. Dies the first time each slot runs, else gives
 * the slot times the length of argument 1. */
static int star_crash(const void *in, size_t len, weft_bytes *out) {
    const void *a;
    size_t l, l1;
    int slot;
    if (weft_ppool_arg(in, len, 0, &a, &l) < 0 || l != sizeof slot ||
        weft_ppool_arg(in, len, 1, NULL, &l1) < 0)
        return -EINVAL;
    memcpy(&slot, a, sizeof slot);
    if (atomic_fetch_add(&sh->crashed[slot], 1) == 0)
        raise(SIGKILL);
    int64_t v = (int64_t)slot * (int64_t)l1;
    return weft_bytes_set(out, &v, sizeof v);
}

__attribute__((constructor)) static void setup(void) {
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        abort();
    t_square = weft_ptask_register("square", square);
    t_echo = weft_ptask_register("echo", echo);
    t_fail_odd = weft_ptask_register("fail_odd", fail_odd);
    t_big = weft_ptask_register("big", big);
    t_pid = weft_ptask_register("pid", getpid_task);
    t_sleep = weft_ptask_register("sleep", sleep_task);
    t_abort = weft_ptask_register("abort", abort_task);
    t_exit = weft_ptask_register("exit", exit_task);
    t_kill = weft_ptask_register("kill", kill_task);
    t_crash_once = weft_ptask_register("crash_once", crash_once);
    t_init = weft_ptask_register("init", init_task);
    t_init_fail = weft_ptask_register("init_fail", init_fail);
    t_sum_args = weft_ptask_register("sum_args", sum_args);
    t_rep = weft_ptask_register("rep", rep);
    t_short = weft_ptask_register("short", short_task);
    t_slow_square = weft_ptask_register("slow_square", slow_square);
    t_counted_sleep = weft_ptask_register("counted_sleep", counted_sleep);
    t_spin = weft_ptask_register("spin", spin_task);
    t_star = weft_ptask_register("star", star);
    t_star_kill = weft_ptask_register("star_kill", star_kill);
    t_star_crash = weft_ptask_register("star_crash", star_crash);
    if (t_slow_square < 0 || t_counted_sleep < 0 || t_spin < 0 || t_star < 0 || t_star_kill < 0 ||
        t_star_crash < 0)
        abort();
}

static weft_ppool *mkpool(int n) {
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = n;
    weft_ppool *p = NULL;
    CHECK_OK(weft_ppool_create(&p, &o));
    CHECK_EQ(weft_ppool_size(p), n);
    return p;
}

static int64_t sq1(weft_ppool *p, int64_t x) {
    weft_bytes b = WEFT_BYTES_INIT;
    CHECK_EQ(weft_ppool_apply(p, t_square, &x, sizeof x, &b), 0);
    CHECK_EQ(b.len, sizeof(int64_t));
    int64_t y;
    memcpy(&y, b.data, sizeof y);
    weft_bytes_free(&b);
    return y;
}

static void finish(weft_ppool *p) {
    CHECK_OK(weft_ppool_close(p));
    CHECK_OK(weft_ppool_join(p, weft_after(10 * WEFT_SEC)));
    CHECK_OK(weft_ppool_destroy(p));
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(registry) {
    CHECK_ERR(weft_ptask_register(NULL, square), -EINVAL);
    CHECK_ERR(weft_ptask_register("x", NULL), -EINVAL);
    CHECK_ERR(weft_ptask_register("", square), -EINVAL);
    char longname[100];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    CHECK_ERR(weft_ptask_register(longname, square), -ENAMETOOLONG);
    CHECK_ERR(weft_ptask_register("square", square), -EEXIST);
    CHECK_EQ(weft_ptask_find("square"), t_square);
    CHECK_EQ(weft_ptask_find("echo"), t_echo);
    CHECK_ERR(weft_ptask_find("nope"), -ENOENT);
    CHECK_ERR(weft_ptask_find(NULL), -EINVAL);
    CHECK_NE(t_square, t_echo);
}

WEFT_TEST(bytes) {
    weft_bytes b = WEFT_BYTES_INIT;
    CHECK_ERR(weft_bytes_set(NULL, "a", 1), -EINVAL);
    CHECK_ERR(weft_bytes_set(&b, NULL, 1), -EINVAL);
    CHECK_ERR(weft_bytes_append(NULL, "a", 1), -EINVAL);
    CHECK_ERR(weft_bytes_reserve(NULL, 1), -EINVAL);
    CHECK_OK(weft_bytes_set(&b, NULL, 0));
    CHECK_EQ(b.len, 0);
    CHECK_OK(weft_bytes_set(&b, "hello", 5));
    CHECK_OK(weft_bytes_append(&b, " world", 6));
    CHECK_EQ(b.len, 11);
    CHECK(memcmp(b.data, "hello world", 11) == 0);
    CHECK_OK(weft_bytes_reserve(&b, 1000));
    CHECK_GE(b.cap, 1000);
    CHECK_EQ(b.len, 11);
    weft_bytes_free(&b);
    CHECK(b.data == NULL && b.len == 0 && b.cap == 0);
    weft_bytes_free(NULL);

    /* packed arguments */
    unsigned char bad[16] = {0};
    CHECK_ERR(weft_ppool_arg(NULL, 8, 0, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_arg(bad, 4, 0, NULL, NULL), -EINVAL);
    CHECK_EQ(weft_ppool_arg(bad, 8, -1, NULL, NULL), 0);
    CHECK_ERR(weft_ppool_arg(bad, 8, 0, NULL, NULL), -ERANGE);
    uint32_t big_argc = 1000;
    memcpy(bad, &big_argc, 4);
    CHECK_ERR(weft_ppool_arg(bad, 16, 0, NULL, NULL), -EINVAL);
    uint32_t one = 1;
    uint64_t huge = 1000;
    memcpy(bad, &one, 4);
    memcpy(bad + 8, &huge, 8);
    CHECK_ERR(weft_ppool_arg(bad, 16, 0, NULL, NULL), -EINVAL);
}

WEFT_TEST(bad_input) {
    weft_ppool_opts o;
    weft_ppool *p = (weft_ppool *)1;
    weft_ppool_opts_init(NULL);
    weft_ppool_opts_init(&o);
    CHECK_EQ(o.initializer, -1);
    CHECK_ERR(weft_ppool_create(NULL, NULL), -EINVAL);
    o.nworkers = -1;
    CHECK_ERR(weft_ppool_create(&p, &o), -EINVAL);
    CHECK(p == NULL);
    o.nworkers = 257;
    CHECK_ERR(weft_ppool_create(&p, &o), -EINVAL);
    weft_ppool_opts_init(&o);
    o.initializer = 5000;
    CHECK_ERR(weft_ppool_create(&p, &o), -EINVAL);
    weft_ppool_opts_init(&o);
    o.on_death = 7;
    CHECK_ERR(weft_ppool_create(&p, &o), -EINVAL);
    weft_ppool_opts_init(&o);
    o.max_retries = -1;
    CHECK_ERR(weft_ppool_create(&p, &o), -EINVAL);
    weft_ppool_opts_init(&o);
    o.task_timeout = -5;
    CHECK_ERR(weft_ppool_create(&p, &o), -EINVAL);
    weft_ppool_opts_init(&o);
    o.reserved_[2] = 1;
    CHECK_ERR(weft_ppool_create(&p, &o), -EINVAL);
    weft_ppool_opts_init(&o);
    o.initargs_len = 4;
    CHECK_ERR(weft_ppool_create(&p, &o), -EINVAL);

    CHECK_EQ(weft_ppool_size(NULL), 0);
    CHECK_EQ(weft_ppool_started(NULL), 0);
    int64_t x = 3;
    weft_future *f = (weft_future *)1;
    CHECK_ERR(weft_ppool_apply(NULL, t_square, &x, sizeof x, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_apply_async(NULL, t_square, &x, sizeof x, NULL, NULL, NULL, &f), -EINVAL);
    CHECK(f == NULL);
    CHECK_ERR(weft_ppool_close(NULL), -EINVAL);
    CHECK_ERR(weft_ppool_terminate(NULL), -EINVAL);
    CHECK_ERR(weft_ppool_join(NULL, 0), -EINVAL);
    CHECK_EQ(weft_ppool_destroy(NULL), 0);
    CHECK_ERR(weft_ppool_pids(NULL, NULL, 0), -EINVAL);
    weft_ppool_iter_destroy(NULL);
    CHECK_ERR(weft_ppool_iter_next(NULL, 0, NULL, NULL, NULL), -EINVAL);

    p = mkpool(1);
    pid_t pids[4];
    CHECK_ERR(weft_ppool_pids(p, NULL, 1), -EINVAL);
    CHECK_ERR(weft_ppool_pids(p, pids, -1), -EINVAL);
    CHECK_EQ(weft_ppool_pids(p, pids, 4), 1);
    CHECK_EQ(weft_ppool_pids(p, pids, 0), 0);
    CHECK_ERR(weft_ppool_apply(p, -1, &x, sizeof x, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_apply(p, 5000, &x, sizeof x, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_apply(p, t_square, NULL, 8, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_apply_argv(p, t_sum_args, -1, NULL, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_apply_argv(p, t_sum_args, 2, NULL, NULL, NULL), -EINVAL);
    int64_t in[4] = {1, 2, 3, 4}, out[4];
    CHECK_ERR(weft_ppool_map(NULL, t_square, in, 4, 8, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_map(p, -3, in, 4, 8, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_map(p, t_square, NULL, 4, 8, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_map(p, t_square, in, 4, 8, NULL, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_map(p, t_square, in, 4, 0, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_map(p, t_square, in, 4, 8, out, 0, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_map(p, t_square, in, SIZE_MAX / 4, 8, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_map_async(p, t_square, in, 4, 8, out, 8, 0, NULL, NULL), -EINVAL);
    weft_ppool_iter *it = (weft_ppool_iter *)1;
    CHECK_ERR(weft_ppool_imap(p, t_square, in, 4, 8, 0, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_imap(p, t_square, in, 4, 8, 0, 4, &it), -EINVAL);
    CHECK(it == NULL);
    CHECK_ERR(weft_ppool_imap(p, t_square, in, 4, 0, 0, 0, &it), -EINVAL);
    CHECK_ERR(weft_ppool_join(p, 0), -EINVAL); /* neither closed nor terminated */
    /* An empty map succeeds at once. */
    CHECK_EQ(weft_ppool_map(p, t_square, NULL, 0, 8, NULL, 8, 0, NULL), 0);
    finish(p);
}

WEFT_TEST(apply_values) {
    weft_ppool *p = mkpool(2);
    for (int64_t x = -5; x <= 5; x++)
        CHECK_EQ(sq1(p, x), x * x);
    /* a task's error travels back */
    int64_t x = 3;
    weft_bytes b = WEFT_BYTES_INIT;
    CHECK_ERR(weft_ppool_apply(p, t_fail_odd, &x, sizeof x, &b), -EDOM);
    CHECK_EQ(b.len, 0);
    CHECK_ERR(weft_ppool_apply(p, t_square, &x, 3, NULL), -EINVAL);
    /* large input and output (beyond the inline cell) */
    size_t n = 3 << 20;
    unsigned char *buf = malloc(n);
    CHECK(buf);
    for (size_t i = 0; i < n; i++)
        buf[i] = (unsigned char)(i * 13 + 1);
    CHECK_EQ(weft_ppool_apply(p, t_echo, buf, n, &b), 0);
    CHECK_EQ(b.len, n);
    CHECK(memcmp(b.data, buf, n) == 0);
    free(buf);
    size_t want = 5 << 20;
    CHECK_EQ(weft_ppool_apply(p, t_big, &want, sizeof want, &b), 0);
    CHECK_EQ(b.len, want);
    for (size_t i = 0; i < want; i += 4099)
        CHECK_EQ(((unsigned char *)b.data)[i], (unsigned char)(i * 7));
    weft_bytes_free(&b);
    /* empty input, empty output */
    CHECK_EQ(weft_ppool_apply(p, t_echo, NULL, 0, &b), 0);
    CHECK_EQ(b.len, 0);
    /* multi-argument form */
    int64_t a1 = 5, a2 = 7, a3 = 30;
    const void *argv[3] = {&a1, &a2, &a3};
    size_t lens[3] = {8, 8, 8};
    weft_future *f;
    CHECK_OK(weft_ppool_apply_argv(p, t_sum_args, 3, argv, lens, &f));
    void *res;
    CHECK_EQ(weft_future_result(f, weft_after(10 * WEFT_SEC), &res), 0);
    const weft_bytes *rb = res;
    CHECK_EQ(rb->len, 8);
    int64_t sum;
    memcpy(&sum, rb->data, 8);
    CHECK_EQ(sum, 42);
    weft_future_release(f);
    finish(p);
}

static atomic_int cb_ok, cb_err;
static weft_event cb_ev;
static void on_ok(weft_future *f, int st, const weft_bytes *r, void *ud) {
    (void)f;
    int64_t v;
    CHECK_EQ(r->len, 8);
    memcpy(&v, r->data, 8);
    CHECK_EQ(v, *(int64_t *)ud);
    CHECK_GE(st, 0);
    if (atomic_fetch_add(&cb_ok, 1) + atomic_load(&cb_err) == 19)
        weft_event_set(&cb_ev);
}
static void on_err(weft_future *f, int st, const weft_bytes *r, void *ud) {
    (void)f, (void)ud;
    CHECK_EQ(st, -EDOM);
    CHECK_EQ(r->len, 0);
    if (atomic_fetch_add(&cb_err, 1) + atomic_load(&cb_ok) == 19)
        weft_event_set(&cb_ev);
}

WEFT_TEST(apply_async_callbacks) {
    weft_ppool *p = mkpool(2);
    CHECK_OK(weft_event_init(&cb_ev));
    int64_t xs[20], want[20];
    weft_future *fs[20];
    for (int i = 0; i < 20; i++) {
        xs[i] = i;
        want[i] = i; /* fail_odd returns its input for even numbers */
        CHECK_OK(weft_ppool_apply_async(p, t_fail_odd, &xs[i], 8, on_ok, on_err, &want[i],
                                        i % 3 ? &fs[i] : NULL));
        if (!(i % 3))
            fs[i] = NULL;
    }
    CHECK_OK(weft_event_wait(&cb_ev, weft_after(10 * WEFT_SEC)));
    CHECK_EQ(atomic_load(&cb_ok), 10);
    CHECK_EQ(atomic_load(&cb_err), 10);
    for (int i = 0; i < 20; i++) {
        if (!fs[i])
            continue;
        void *res;
        int st = weft_future_result(fs[i], WEFT_NOWAIT, &res);
        CHECK_EQ(weft_future_done(fs[i]), 1);
        if (i % 2) {
            CHECK_ERR(st, -EDOM);
        } else {
            CHECK_EQ(st, 0);
            CHECK_EQ(memcmp(((const weft_bytes *)res)->data, &xs[i], 8), 0);
        }
        weft_future_release(fs[i]);
    }
    finish(p);
}

WEFT_TEST(map_exact) {
    weft_ppool *p = mkpool(2);
    size_t n = 10007;
    int64_t *in = malloc(n * 8), *out = malloc(n * 8);
    int *st = malloc(n * sizeof *st);
    CHECK(in && out && st);
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i - 500;
    size_t chunks[] = {0, 1, 7, 1000, n, n + 5};
    for (size_t k = 0; k < sizeof chunks / sizeof *chunks; k++) {
        memset(out, 0, n * 8);
        memset(st, 0x55, n * sizeof *st);
        CHECK_EQ(weft_ppool_map(p, t_square, in, n, 8, out, 8, chunks[k], st), 0);
        for (size_t i = 0; i < n; i++) {
            CHECK_EQ(out[i], in[i] * in[i]);
            CHECK_EQ(st[i], 0);
        }
    }
    /* failures: the lowest failed index's status, every item's status */
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i + 2;
    CHECK_ERR(weft_ppool_map(p, t_fail_odd, in, n, 8, out, 8, 0, st), -EDOM);
    for (size_t i = 0; i < n; i++) {
        CHECK_EQ(st[i], in[i] % 2 ? -EDOM : 0);
        if (!(in[i] % 2))
            CHECK_EQ(out[i], in[i]);
    }
    /* a result of the wrong size */
    CHECK_ERR(weft_ppool_map(p, t_short, in, 10, 8, out, 8, 3, st), -EMSGSIZE);
    CHECK_EQ(st[9], -EMSGSIZE);
    /* async */
    weft_future *f;
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i;
    CHECK_OK(weft_ppool_map_async(p, t_square, in, n, 8, out, 8, 0, NULL, &f));
    CHECK_EQ(weft_future_result(f, weft_after(10 * WEFT_SEC), NULL), 0);
    for (size_t i = 0; i < n; i++)
        CHECK_EQ(out[i], in[i] * in[i]);
    weft_future_release(f);
    free(in);
    free(out);
    free(st);
    finish(p);
}

static void check_imap(weft_ppool *p, int flags, size_t chunk) {
    size_t n = 3001;
    int64_t *in = malloc(n * 8);
    char *seen = calloc(n, 1);
    CHECK(in && seen);
    for (size_t i = 0; i < n; i++)
        in[i] = (int64_t)i * 3;
    weft_ppool_iter *it;
    CHECK_OK(weft_ppool_imap(p, t_rep, in, n, 8, chunk, flags, &it));
    weft_bytes b = WEFT_BYTES_INIT;
    size_t idx, count = 0;
    int st, r;
    while ((r = weft_ppool_iter_next(it, weft_after(10 * WEFT_SEC), &idx, &st, &b)) == 1) {
        if (!(flags & WEFT_PPOOL_UNORDERED))
            CHECK_EQ(idx, count);
        CHECK_LT(idx, n);
        CHECK_EQ(seen[idx], 0);
        seen[idx] = 1;
        CHECK_EQ(st, in[idx] % 50);
        CHECK_EQ(b.len, (size_t)(in[idx] % 50));
        for (size_t k = 0; k < b.len; k++)
            CHECK_EQ(((unsigned char *)b.data)[k], (unsigned char)(in[idx] & 255));
        count++;
    }
    CHECK_EQ(r, 0);
    CHECK_EQ(count, n);
    CHECK_EQ(weft_ppool_iter_next(it, 0, &idx, &st, NULL), 0);
    weft_bytes_free(&b);
    weft_ppool_iter_destroy(it);
    free(in);
    free(seen);
}

/* A failed item's result bytes are zeros, never what an earlier chunk left in the
 * worker's memory (so two pools give identical bytes: the MPI pool compares with it). */
WEFT_TEST(map_failed_items_zeroed) {
    weft_ppool *p = mkpool(1);
    int64_t in[40], out[40];
    int st[40];
    for (int i = 0; i < 40; i++)
        in[i] = -1 - 2 * i; /* odd: squares succeed, fail_odd fails every item */
    for (int k = 0; k < 4; k++) /* fill both cells of the worker with results */
        CHECK_EQ(weft_ppool_map(p, t_square, in, 40, 8, out, 8, 40, st), 0);
    memset(out, 0x5a, sizeof out);
    CHECK_ERR(weft_ppool_map(p, t_fail_odd, in, 40, 8, out, 8, 40, st), -EDOM);
    for (int i = 0; i < 40; i++) {
        CHECK_EQ(st[i], -EDOM);
        CHECK_EQ(out[i], 0);
    }
    CHECK_EQ(weft_ppool_destroy(p), 0);
}

WEFT_TEST(imap_ordered_unordered) {
    weft_ppool *p = mkpool(2);
    check_imap(p, 0, 0);
    check_imap(p, 0, 1);
    check_imap(p, WEFT_PPOOL_UNORDERED, 0);
    check_imap(p, WEFT_PPOOL_UNORDERED, 5);
    /* an iterator dropped early: the pool goes on */
    int64_t in[100];
    for (int i = 0; i < 100; i++)
        in[i] = i;
    weft_ppool_iter *it;
    CHECK_OK(weft_ppool_imap(p, t_rep, in, 100, 8, 1, 0, &it));
    size_t idx;
    int st;
    CHECK_EQ(weft_ppool_iter_next(it, weft_after(10 * WEFT_SEC), &idx, &st, NULL), 1);
    CHECK_EQ(idx, 0);
    weft_ppool_iter_destroy(it);
    CHECK_EQ(sq1(p, 9), 81);
    /* empty */
    CHECK_OK(weft_ppool_imap(p, t_rep, NULL, 0, 8, 0, 0, &it));
    CHECK_EQ(weft_ppool_iter_next(it, 0, &idx, &st, NULL), 0);
    weft_ppool_iter_destroy(it);
    finish(p);
}

/* ---- starmap ---------------------------------------------------------------- */

/* n items of 0..4 arguments of 0..(i % 700) bytes each: chunks above the
 * inline size go through the memfd. */
typedef struct {
    size_t n;
    weft_ppool_args *items;
    const void **argv;
    size_t *lens;
    char *bytes;
    int64_t *want;
} star_in;

static void star_make(star_in *s, size_t n) {
    s->n = n;
    s->items = malloc(n * sizeof *s->items);
    s->argv = malloc(n * 4 * sizeof *s->argv);
    s->lens = malloc(n * 4 * sizeof *s->lens);
    s->bytes = malloc(700);
    s->want = malloc(n * sizeof *s->want);
    CHECK(s->items && s->argv && s->lens && s->bytes && s->want);
    for (int i = 0; i < 700; i++)
        s->bytes[i] = (char)('a' + i % 26);
    for (size_t i = 0; i < n; i++) {
        int argc = (int)(i % 5);
        for (int k = 0; k < argc; k++) {
            size_t l = (i * 7 + (size_t)k * 13) % 700;
            s->argv[i * 4 + (size_t)k] = s->bytes + (700 - l) % 700 * (l != 0);
            s->lens[i * 4 + (size_t)k] = l;
        }
        s->items[i] =
            (weft_ppool_args){argc, argc ? s->argv + i * 4 : NULL, argc ? s->lens + i * 4 : NULL};
        s->want[i] = star_hash(argc, s->items[i].argv, s->items[i].lens);
    }
}

static void star_free(star_in *s) {
    free(s->items);
    free(s->argv);
    free(s->lens);
    free(s->bytes);
    free(s->want);
}

WEFT_TEST(starmap_exact) {
    weft_ppool *p = mkpool(2);
    star_in s;
    star_make(&s, 2003);
    int64_t *out = malloc(s.n * 8);
    int *st = malloc(s.n * sizeof *st);
    CHECK(out && st);
    size_t chunks[] = {0, 1, 3, 100, s.n, s.n + 9};
    for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
        memset(out, 0, s.n * 8);
        memset(st, 0x55, s.n * sizeof *st);
        CHECK_EQ(weft_ppool_starmap(p, t_star, s.items, s.n, out, 8, chunks[c], st), 0);
        for (size_t i = 0; i < s.n; i++) {
            CHECK_EQ(out[i], s.want[i]);
            CHECK_EQ(st[i], 0);
        }
    }
    /* async: the same results through a future */
    weft_future *f;
    memset(out, 0, s.n * 8);
    CHECK_OK(weft_ppool_starmap_async(p, t_star, s.items, s.n, out, 8, 0, NULL, &f));
    CHECK_EQ(weft_future_result(f, weft_after(10 * WEFT_SEC), NULL), 0);
    for (size_t i = 0; i < s.n; i++)
        CHECK_EQ(out[i], s.want[i]);
    weft_future_release(f);
    /* the same call as apply_argv gives the same bytes */
    weft_bytes b = WEFT_BYTES_INIT;
    CHECK_OK(
        weft_ppool_apply_argv(p, t_star, s.items[9].argc, s.items[9].argv, s.items[9].lens, &f));
    void *res;
    CHECK_EQ(weft_future_result(f, weft_after(10 * WEFT_SEC), &res), 0);
    CHECK_EQ(memcmp(((const weft_bytes *)res)->data, &s.want[9], 8), 0);
    weft_future_release(f);
    weft_bytes_free(&b);
    /* failures: every item's status, the lowest failed index's status */
    const void *xa[1] = {"Xfail"}, *oka[1] = {"ok"};
    size_t xl[1] = {5}, okl[1] = {2};
    weft_ppool_args mixed[6];
    for (int i = 0; i < 6; i++)
        mixed[i] = (weft_ppool_args){1, i == 2 || i == 5 ? xa : oka, i == 2 || i == 5 ? xl : okl};
    int64_t mo[6];
    int ms[6];
    CHECK_ERR(weft_ppool_starmap(p, t_star, mixed, 6, mo, 8, 2, ms), -EDOM);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(ms[i], i == 2 || i == 5 ? -EDOM : 0);
        if (ms[i] == 0)
            CHECK_EQ(mo[i], star_hash(1, oka, okl));
    }
    /* results of the wrong size fail per item */
    CHECK_ERR(weft_ppool_starmap(p, t_star, mixed, 2, mo, 4, 1, ms), -EMSGSIZE);
    CHECK_EQ(ms[0], -EMSGSIZE);
    CHECK_EQ(ms[1], -EMSGSIZE);
    /* no items */
    CHECK_EQ(weft_ppool_starmap(p, t_star, NULL, 0, NULL, 8, 0, NULL), 0);
    CHECK_OK(weft_ppool_starmap_async(p, t_star, NULL, 0, NULL, 8, 0, NULL, &f));
    CHECK_EQ(weft_future_result(f, weft_after(10 * WEFT_SEC), NULL), 0);
    weft_future_release(f);
    free(out);
    free(st);
    star_free(&s);
    finish(p);
}

WEFT_TEST(starmap_bad_input) {
    weft_ppool *p = mkpool(1);
    const void *argv[2] = {"ab", NULL};
    size_t lens[2] = {2, 0}, bad_lens[2] = {2, 1};
    weft_ppool_args ok = {2, argv, lens};
    int64_t out[2];
    weft_future *f = (weft_future *)1;
    CHECK_ERR(weft_ppool_starmap(NULL, t_star, &ok, 1, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_starmap(p, -1, &ok, 1, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_starmap(p, 5000, &ok, 1, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_starmap(p, t_star, NULL, 1, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_starmap(p, t_star, &ok, 1, NULL, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_starmap(p, t_star, &ok, 1, out, 0, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_starmap(p, t_star, &ok, 1, out, ((size_t)1 << 31) + 1, 0, NULL), -EINVAL);
    weft_ppool_args bad[] = {
        {-1, argv, lens},    /* argc < 0 */
        {2, NULL, lens},     /* argv NULL */
        {2, argv, NULL},     /* lens NULL */
        {2, argv, bad_lens}, /* an argument NULL with a length */
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        weft_ppool_args two[2] = {ok, bad[k]};
        CHECK_ERR(weft_ppool_starmap(p, t_star, two, 2, out, 8, 0, NULL), -EINVAL);
        CHECK_ERR(weft_ppool_starmap_async(p, t_star, two, 2, out, 8, 0, NULL, &f), -EINVAL);
        CHECK(f == NULL);
        f = (weft_future *)1;
    }
    /* an item packed larger than 2^31 bytes (never read: refused first) */
    size_t huge[2] = {(size_t)1 << 31, 0};
    const void *hv[2] = {"x", NULL};
    weft_ppool_args big = {2, hv, huge};
    CHECK_ERR(weft_ppool_starmap(p, t_star, &big, 1, out, 8, 0, NULL), -EINVAL);
    CHECK_ERR(weft_ppool_starmap_async(p, t_star, &ok, 1, out, 8, 0, NULL, NULL), -EINVAL);
    /* zero arguments is an item */
    weft_ppool_args none = {0, NULL, NULL};
    CHECK_EQ(weft_ppool_starmap(p, t_star, &none, 1, out, 8, 0, NULL), 0);
    CHECK_EQ(out[0], star_hash(0, NULL, NULL));
    CHECK_OK(weft_ppool_close(p));
    CHECK_ERR(weft_ppool_starmap(p, t_star, &ok, 1, out, 8, 0, NULL), -EPIPE);
    CHECK_ERR(weft_ppool_starmap_async(p, t_star, &ok, 1, out, 8, 0, NULL, &f), -EPIPE);
    CHECK_OK(weft_ppool_join(p, weft_after(10 * WEFT_SEC)));
    CHECK_OK(weft_ppool_destroy(p));
    CHECK_NO_ZOMBIES();
}

/* A worker dies in the middle of a starmap: with FAIL, the items of its
 * chunk fail with -EOWNERDEAD and every other item is right; with RETRY,
 * each dead chunk is packed and run again and every item is right. */
WEFT_TEST(starmap_worker_death) {
    weft_ppool *p = mkpool(2);
    enum { N = 20 };
    int64_t v[N], out[N];
    const void *argv[N][2];
    size_t lens[N][2];
    int st[N];
    weft_ppool_args items[N];
    for (int i = 0; i < N; i++) {
        v[i] = i;
        argv[i][0] = &v[i];
        argv[i][1] = "tail";
        lens[i][0] = sizeof v[i];
        lens[i][1] = 4;
        items[i] = (weft_ppool_args){2, argv[i], lens[i]};
    }
    CHECK_ERR(weft_ppool_starmap(p, t_star_kill, items, N, out, 8, 4, st), -EOWNERDEAD);
    for (int i = 0; i < N; i++) {
        if (i >= 4 && i < 8) {
            CHECK_ERR(st[i], -EOWNERDEAD); /* the chunk of item 7 */
        } else {
            CHECK_EQ(st[i], 0);
            CHECK_EQ(out[i], 2 * i);
        }
    }
    CHECK_EQ(weft_ppool_started(p), 3);
    finish(p);

    for (int i = 0; i < 64; i++)
        atomic_store(&sh->crashed[i], 0);
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    o.on_death = WEFT_PPOOL_RETRY;
    CHECK_OK(weft_ppool_create(&p, &o));
    int slot[N];
    static char pad[600];
    for (int i = 0; i < N; i++) {
        slot[i] = i;
        argv[i][0] = &slot[i];
        argv[i][1] = pad;
        lens[i][0] = sizeof slot[i];
        lens[i][1] = (size_t)(i * 29); /* up to 551 bytes: chunks go through the memfd */
    }
    CHECK_EQ(weft_ppool_starmap(p, t_star_crash, items, N, out, 8, 3, st), 0);
    for (int i = 0; i < N; i++) {
        CHECK_EQ(st[i], 0);
        CHECK_EQ(out[i], (int64_t)i * i * 29);
        /* Each item kills its worker the first time, and its chunk runs
         * again from the start: the item at position k of a chunk of len
         * items runs once per kill from position k on, plus its last run. */
        int k = i % 3, len = i / 3 == N / 3 ? N % 3 : 3;
        CHECK_EQ(atomic_load(&sh->crashed[i]), 1 + len - k);
    }
    CHECK_EQ(weft_ppool_started(p), 2 + N); /* one replacement per item */
    finish(p);
}

static int distinct(pid_t *v, int n) {
    int d = 0;
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < i && v[j] != v[i])
            j++;
        d += j == i;
    }
    return d;
}

WEFT_TEST(initializer_and_maxtasks) {
    atomic_store(&sh->inits, 0);
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    o.initializer = t_init;
    o.initargs = "abc";
    o.initargs_len = 3;
    o.maxtasks = 3;
    weft_ppool *p;
    CHECK_OK(weft_ppool_create(&p, &o));
    pid_t pids[30];
    for (int i = 0; i < 30; i++) {
        weft_bytes b = WEFT_BYTES_INIT;
        CHECK_EQ(weft_ppool_apply(p, t_pid, NULL, 0, &b), 0);
        CHECK_EQ(b.len, sizeof(pid_t));
        memcpy(&pids[i], b.data, sizeof(pid_t));
        weft_bytes_free(&b);
    }
    /* each worker ran at most 3 tasks */
    for (int i = 0; i < 30; i++) {
        int same = 0;
        for (int j = 0; j < 30; j++)
            same += pids[j] == pids[i];
        CHECK_LE(same, 3);
    }
    CHECK_GE(distinct(pids, 30), 10);
    CHECK_OK(weft_ppool_close(p));
    CHECK_OK(weft_ppool_join(p, weft_after(10 * WEFT_SEC)));
    long started = weft_ppool_started(p);
    CHECK_GE(started, 10);
    CHECK_OK(weft_ppool_destroy(p));
    CHECK_NO_ZOMBIES();
    /* The initializer ran exactly once in every worker started. */
    CHECK_EQ(atomic_load(&sh->inits), started);
}

WEFT_TEST(initializer_once_per_worker) {
    atomic_store(&sh->inits, 0);
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 3;
    o.initializer = t_init;
    o.initargs = "abc";
    o.initargs_len = 3;
    weft_ppool *p;
    CHECK_OK(weft_ppool_create(&p, &o));
    int64_t in[300], out[300];
    for (int i = 0; i < 300; i++)
        in[i] = i;
    CHECK_EQ(weft_ppool_map(p, t_square, in, 300, 8, out, 8, 1, NULL), 0);
    long started = weft_ppool_started(p);
    CHECK_EQ(started, 3);
    finish(p);
    CHECK_EQ(atomic_load(&sh->inits), 3);
}

WEFT_TEST(initializer_fails) {
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    o.initializer = t_init_fail;
    weft_ppool *p;
    CHECK_OK(weft_ppool_create(&p, &o));
    int64_t x = 2;
    CHECK_ERR(weft_ppool_apply(p, t_square, &x, 8, NULL), -EIO);
    CHECK_ERR(weft_ppool_apply(p, t_square, &x, 8, NULL), -EIO);
    CHECK_OK(weft_ppool_terminate(p));
    CHECK_OK(weft_ppool_join(p, weft_after(10 * WEFT_SEC)));
    CHECK_OK(weft_ppool_destroy(p));
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(task_timeout) {
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    o.task_timeout = 100 * WEFT_MSEC;
    weft_ppool *p;
    CHECK_OK(weft_ppool_create(&p, &o));
    pid_t before[2];
    CHECK_EQ(weft_ppool_pids(p, before, 2), 2);
    int ms = 20000;
    int64_t t0 = weft_now();
    CHECK_ERR(weft_ppool_apply(p, t_sleep, &ms, sizeof ms, NULL), -ETIMEDOUT);
    CHECK_LT(weft_now() - t0, 5 * WEFT_SEC);
    ms = 1;
    CHECK_EQ(weft_ppool_apply(p, t_sleep, &ms, sizeof ms, NULL), 1);
    CHECK_EQ(sq1(p, 12), 144);
    CHECK_EQ(weft_ppool_started(p), 3);
    finish(p);
}

WEFT_TEST(close_then_submit) {
    weft_ppool *p = mkpool(2);
    int ms = 50;
    weft_future *f;
    CHECK_OK(weft_ppool_apply_async(p, t_sleep, &ms, sizeof ms, NULL, NULL, NULL, &f));
    CHECK_OK(weft_ppool_close(p));
    CHECK_OK(weft_ppool_close(p));
    int64_t x = 2, out;
    CHECK_ERR(weft_ppool_apply(p, t_square, &x, 8, NULL), -EPIPE);
    CHECK_ERR(weft_ppool_apply_async(p, t_square, &x, 8, NULL, NULL, NULL, NULL), -EPIPE);
    CHECK_ERR(weft_ppool_map(p, t_square, &x, 1, 8, &out, 8, 0, NULL), -EPIPE);
    /* queued work still finishes */
    CHECK_OK(weft_ppool_join(p, weft_after(10 * WEFT_SEC)));
    CHECK_EQ(weft_future_result(f, 0, NULL), 50);
    CHECK_OK(weft_ppool_join(p, 0));
    weft_future_release(f);
    CHECK_EQ(weft_ppool_pids(p, NULL, 0), 0);
    CHECK_OK(weft_ppool_destroy(p));
    CHECK_NO_ZOMBIES();
}

static atomic_int term_err;
static void on_term_err(weft_future *f, int st, const weft_bytes *r, void *ud) {
    (void)f, (void)r, (void)ud;
    if (st == -ECANCELED)
        atomic_fetch_add(&term_err, 1);
}

WEFT_TEST(terminate_pending) {
    weft_ppool *p = mkpool(1);
    int ms = 20000;
    weft_future *fs[6];
    for (int i = 0; i < 6; i++)
        CHECK_OK(weft_ppool_apply_async(p, t_sleep, &ms, sizeof ms, NULL, on_term_err, NULL,
                                        &fs[i]));
    /* a queued one cancelled by its owner */
    CHECK_EQ(weft_future_cancel(fs[5]), 1);
    CHECK_EQ(weft_future_cancelled(fs[5]), 1);
    int64_t t0 = weft_now();
    CHECK_OK(weft_ppool_terminate(p));
    for (int i = 0; i < 6; i++) {
        CHECK_ERR(weft_future_result(fs[i], weft_after(5 * WEFT_SEC), NULL), -ECANCELED);
        weft_future_release(fs[i]);
    }
    CHECK_EQ(atomic_load(&term_err), 6);
    int64_t x = 1;
    CHECK_ERR(weft_ppool_apply(p, t_square, &x, 8, NULL), -EPIPE);
    CHECK_OK(weft_ppool_join(p, weft_after(5 * WEFT_SEC)));
    CHECK_LT(weft_now() - t0, 5 * WEFT_SEC);
    CHECK_OK(weft_ppool_destroy(p));
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(destroy_without_close) {
    weft_ppool *p = mkpool(2);
    int ms = 20000;
    CHECK_OK(weft_ppool_apply_async(p, t_sleep, &ms, sizeof ms, NULL, NULL, NULL, NULL));
    CHECK_EQ(sq1(p, 4), 16);
    CHECK_OK(weft_ppool_destroy(p));
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(worker_death_fails_its_task) {
    weft_ppool *p = mkpool(2);
    int tasks[3] = {t_abort, t_exit, t_kill};
    for (int k = 0; k < 3; k++) {
        weft_future *slow;
        int ms = 200;
        CHECK_OK(weft_ppool_apply_async(p, t_sleep, &ms, sizeof ms, NULL, NULL, NULL, &slow));
        CHECK_ERR(weft_ppool_apply(p, tasks[k], NULL, 0, NULL), -EOWNERDEAD);
        /* the other worker's task is untouched */
        CHECK_EQ(weft_future_result(slow, weft_after(10 * WEFT_SEC), NULL), 200);
        weft_future_release(slow);
        CHECK_EQ(sq1(p, k + 2), (k + 2) * (k + 2));
    }
    CHECK_EQ(weft_ppool_started(p), 5);
    pid_t pids[2];
    CHECK_EQ(weft_ppool_pids(p, pids, 2), 2);
    finish(p);
}

WEFT_TEST(worker_death_retry) {
    for (int i = 0; i < 64; i++)
        atomic_store(&sh->crashed[i], 0);
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    o.on_death = WEFT_PPOOL_RETRY;
    weft_ppool *p;
    CHECK_OK(weft_ppool_create(&p, &o));
    weft_future *fs[8];
    int slots[8];
    for (int i = 0; i < 8; i++) {
        slots[i] = i;
        CHECK_OK(weft_ppool_apply_async(p, t_crash_once, &slots[i], sizeof(int), NULL, NULL,
                                        NULL, &fs[i]));
    }
    for (int i = 0; i < 8; i++) {
        void *res;
        CHECK_EQ(weft_future_result(fs[i], weft_after(20 * WEFT_SEC), &res), 0);
        CHECK_EQ(memcmp(((const weft_bytes *)res)->data, &i, sizeof i), 0);
        CHECK_EQ(atomic_load(&sh->crashed[i]), 2);
        weft_future_release(fs[i]);
    }
    /* a task that always dies fails after max_retries more runs */
    CHECK_ERR(weft_ppool_apply(p, t_kill, NULL, 0, NULL), -EOWNERDEAD);
    CHECK_GE(weft_ppool_started(p), 2 + 8 + 4);
    finish(p);
}

/* Under ThreadSanitizer a fork (one per kill) costs tens of milliseconds:
 * fewer items and kills there, so the test measures the pool, not fork. */
#if defined(__SANITIZE_THREAD__)
#define CHAOS_ITEMS 20000
#define CHAOS_KILL_NS 15000000L
#else
#define CHAOS_ITEMS 100000
#define CHAOS_KILL_NS 3000000L
#endif

static weft_ppool *chaos_pool;
static atomic_int chaos_stop;
static atomic_int chaos_kills;

static void *killer(void *arg) {
    (void)arg;
    unsigned seed = 12345;
    while (!atomic_load(&chaos_stop)) {
        pid_t pids[4];
        int n = weft_ppool_pids(chaos_pool, pids, 4);
        if (n > 0 && kill(pids[rand_r(&seed) % n], SIGKILL) == 0)
            atomic_fetch_add(&chaos_kills, 1);
        struct timespec ts = {0, CHAOS_KILL_NS};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void chaos(int policy) {
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    o.on_death = policy;
    o.max_retries = 200;
    CHECK_OK(weft_ppool_create(&chaos_pool, &o));
    size_t n = CHAOS_ITEMS;
    int64_t *in = malloc(n * 8), *out = malloc(n * 8);
    int *st = malloc(n * sizeof *st);
    CHECK(in && out && st);
    for (size_t i = 0; i < n; i++) {
        in[i] = (int64_t)i;
        out[i] = -1;
    }
    atomic_store(&chaos_kills, 0);
    atomic_store(&chaos_stop, 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, killer, NULL), 0);
    int r = weft_ppool_map(chaos_pool, t_slow_square, in, n, 8, out, 8, 50, st);
    atomic_store(&chaos_stop, 1);
    pthread_join(t, NULL);
    size_t ok = 0, died = 0;
    for (size_t i = 0; i < n; i++) {
        if (st[i] == 0) {
            CHECK_EQ(out[i], in[i] * in[i]);
            ok++;
        } else {
            CHECK_ERR(st[i], -EOWNERDEAD);
            died++;
        }
    }
    CHECK_EQ(ok + died, n);
    CHECK_GT(atomic_load(&chaos_kills), 0);
    if (policy == WEFT_PPOOL_RETRY) {
        CHECK_EQ(r, 0);
        CHECK_EQ(died, 0);
    } else {
        CHECK_EQ(r, died ? -EOWNERDEAD : 0);
    }
    /* the pool goes on */
    CHECK_EQ(sq1(chaos_pool, 11), 121);
    printf("chaos: %zu items, %d kills, %zu items lost\n", n, atomic_load(&chaos_kills), died);
    finish(chaos_pool);
    free(in);
    free(out);
    free(st);
}

WEFT_TEST(chaos_fail) { chaos(WEFT_PPOOL_FAIL); }
WEFT_TEST(chaos_retry) { chaos(WEFT_PPOOL_RETRY); }

/* The process owning a pool exits without destroying it: its workers are
 * killed (they are reparented to this process, a subreaper). */
WEFT_TEST(owner_exit_workers_leave) {
    SKIP_UNLESS_SUBREAPER();
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    pid_t owner = fork();
    CHECK_GE(owner, 0);
    if (owner == 0) {
        weft_ppool *p;
        pid_t pids[2] = {0, 0};
        if (weft_ppool_create(&p, NULL) < 0 || weft_ppool_pids(p, pids, 2) < 1)
            _exit(1);
        if (sq1(p, 3) != 9 || write(fds[1], pids, sizeof pids) != (ssize_t)sizeof pids)
            _exit(1);
        _exit(0); /* no destroy */
    }
    pid_t pids[2];
    CHECK_EQ(read(fds[0], pids, sizeof pids), (ssize_t)sizeof pids);
    int st;
    CHECK_EQ(waitpid(owner, &st, 0), owner);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int64_t deadline = weft_after(5 * WEFT_SEC);
    for (int i = 0; i < 2; i++) {
        if (!pids[i])
            continue;
        pid_t r;
        while ((r = waitpid(pids[i], &st, WNOHANG)) == 0 && weft_now() < deadline) {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        CHECK_EQ(r, pids[i]);
        /* Killed by the parent-death signal, or (if it saw its parent change first, in
         * the instant between the two) gone by itself. */
        CHECK((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) || (WIFEXITED(st) && WEXITSTATUS(st) == 0));
    }
    close(fds[0]);
    close(fds[1]);
    CHECK_NO_ZOMBIES();
}

/* Reaps children (this process is a subreaper) until `want` more than the
 * owners were reaped or the deadline passed; returns how many. */
static int reap_workers(int want, int64_t deadline) {
    int got = 0;
    while (got < want && weft_now() < deadline) {
        int st;
        pid_t r = waitpid(-1, &st, WNOHANG);
        if (r > 0) {
            got++;
            continue;
        }
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return got;
}

/* WEFT_TEST_TIMEOUT(owner_exits_right_after_create, 60) */
/* An owner that exits right after weft_ppool_create, before its workers
 * may have looked at their parent: every worker leaves within a bounded
 * time all the same, 200 workers over 100 pools (27 of them lived on when
 * a worker compared getppid() with what it read after fork). */
WEFT_TEST(owner_exits_right_after_create) {
    SKIP_UNLESS_SUBREAPER();
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer sleeps 1 s in every _exit of a process with threads. */
    enum { POOLS = 10, WORKERS = 2 };
#else
    enum { POOLS = 100, WORKERS = 2 };
#endif
    int workers = 0;
    for (int k = 0; k < POOLS; k++) {
        fflush(NULL);
        pid_t owner = fork();
        CHECK_GE(owner, 0);
        if (owner == 0) {
            weft_ppool *p;
            weft_ppool_opts o;
            weft_ppool_opts_init(&o);
            o.nworkers = WORKERS;
            _exit(weft_ppool_create(&p, &o) == 0 ? 0 : 1);
        }
        int st;
        CHECK_EQ(waitpid(owner, &st, 0), owner);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        workers += WORKERS;
    }
    /* Each worker is reparented here and must end: killed, or left on its
     * own (it found its parent gone when it started). */
    int got = reap_workers(workers, weft_after(10 * WEFT_SEC));
    if (got != workers)
        test_kill_children();
    CHECK_EQ(got, workers);
    CHECK_ERR(waitpid(-1, NULL, WNOHANG), -1);
    CHECK_EQ(errno, ECHILD);
}

/* An owner killed while its workers run long tasks: the busy workers go
 * at once too, not when their tasks end. */
WEFT_TEST(owner_killed_busy_workers_leave) {
    SKIP_UNLESS_SUBREAPER();
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    fflush(NULL);
    pid_t owner = fork();
    CHECK_GE(owner, 0);
    if (owner == 0) {
        weft_ppool *p;
        weft_ppool_opts o;
        weft_ppool_opts_init(&o);
        o.nworkers = 2;
        if (weft_ppool_create(&p, &o) < 0)
            _exit(1);
        int ms = 60000;
        for (int i = 0; i < 2; i++)
            if (weft_ppool_apply_async(p, t_counted_sleep, &ms, sizeof ms, NULL, NULL, NULL, NULL) <
                0)
                _exit(1);
        /* Both are running once runs shows it. */
        while (atomic_load(&sh->runs) < 2)
            sched_yield();
        char x = 'r';
        if (write(fds[1], &x, 1) != 1)
            _exit(1);
        for (;;)
            pause();
    }
    char x;
    CHECK_EQ(read(fds[0], &x, 1), 1);
    CHECK_EQ(kill(owner, SIGKILL), 0);
    int st;
    CHECK_EQ(waitpid(owner, &st, 0), owner);
    int got = reap_workers(2, weft_after(10 * WEFT_SEC));
    if (got != 2)
        test_kill_children();
    CHECK_EQ(got, 2);
    close(fds[0]);
    close(fds[1]);
}

/* Waits (up to 10 s) until the process behind pidfd fd has ended. */
static bool listed(weft_ppool *p, pid_t pid) {
    pid_t pids[4];
    int n = weft_ppool_pids(p, pids, 4);
    CHECK_GE(n, 0);
    for (int i = 0; i < n; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

/* WEFT_TEST_TIMEOUT(pids_lists_only_live_workers, 120) */
/* A worker killed and seen dead (through a pidfd of our own) is no longer
 * listed, idle or busy, before the pool has replaced it; 100 times each. */
WEFT_TEST(pids_lists_only_live_workers) {
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    weft_ppool *p;
    CHECK_OK(weft_ppool_create(&p, &o));
    int listed_dead = 0;
    for (int k = 0; k < 200; k++) {
        bool busy = k % 2;
        weft_future *f[2] = {NULL, NULL};
        if (busy) {
            atomic_store(&sh->stop, 0);
            int runs = atomic_load(&sh->runs);
            for (int i = 0; i < 2; i++)
                CHECK_OK(weft_ppool_apply_async(p, t_spin, NULL, 0, NULL, NULL, NULL, &f[i]));
            int64_t end = weft_after(10 * WEFT_SEC);
            while (atomic_load(&sh->runs) < runs + 2) {
                CHECK(weft_now() < end);
                sched_yield();
            }
        }
        /* Both workers are up (a replacement may still be on its way). */
        pid_t pids[2];
        int64_t end = weft_after(10 * WEFT_SEC);
        while (weft_ppool_pids(p, pids, 2) < 2) {
            CHECK(weft_now() < end);
            sched_yield();
        }
        pid_t victim = pids[k % 4 / 2];
        harness_watch hw;
        CHECK(harness_watch_open(&hw, victim));
        CHECK_EQ(kill(victim, SIGKILL), 0);
        CHECK(harness_watch_wait(&hw, 10000));
        if (listed(p, victim))
            listed_dead++;
        if (busy) {
            atomic_store(&sh->stop, 1);
            int dead = 0;
            for (int i = 0; i < 2; i++) {
                int r = weft_future_result(f[i], weft_after(10 * WEFT_SEC), NULL);
                CHECK(r == 0 || r == -EOWNERDEAD);
                dead += r == -EOWNERDEAD;
                weft_future_release(f[i]);
            }
            CHECK_EQ(dead, 1);
        }
    }
    CHECK_EQ(listed_dead, 0);
    CHECK_EQ(weft_ppool_started(p), 2 + 200);
    finish(p);
}

static weft_ppool *thread_pool;
static void *create_in_thread(void *arg) {
    (void)arg;
    thread_pool = mkpool(2);
    return NULL;
}

/* The pool outlives the thread that created it: its workers stay (the
 * same ones, none replaced) and serve. */
WEFT_TEST(pool_outlives_creating_thread) {
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, create_in_thread, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    weft_ppool *p = thread_pool;
    pid_t before[2], after[2];
    CHECK_EQ(weft_ppool_pids(p, before, 2), 2);
    CHECK_EQ(sq1(p, 7), 49);
    /* Both workers ran something since the thread ended. */
    weft_bytes b = WEFT_BYTES_INIT;
    int ms = 20;
    weft_future *f[2];
    for (int i = 0; i < 2; i++)
        CHECK_OK(weft_ppool_apply_async(p, t_sleep, &ms, sizeof ms, NULL, NULL, NULL, &f[i]));
    for (int i = 0; i < 2; i++) {
        CHECK_EQ(weft_future_result(f[i], weft_after(10 * WEFT_SEC), NULL), 20);
        weft_future_release(f[i]);
    }
    weft_bytes_free(&b);
    CHECK_EQ(weft_ppool_pids(p, after, 2), 2);
    CHECK_EQ(after[0], before[0]);
    CHECK_EQ(after[1], before[1]);
    CHECK_EQ(weft_ppool_started(p), 2);
    for (int i = 0; i < 2; i++)
        CHECK_EQ(kill(before[i], 0), 0);
    finish(p);
}

/* Waiting for a result parks only the calling coroutine. */
static atomic_int ticks;
static void *ticker(void *arg) {
    (void)arg;
    for (int i = 0; i < 20; i++) {
        weft_sleep(5 * WEFT_MSEC);
        atomic_fetch_add(&ticks, 1);
    }
    return NULL;
}
static void *waiter(void *arg) {
    weft_ppool *p = arg;
    int ms = 150;
    weft_bytes b = WEFT_BYTES_INIT;
    CHECK_EQ(weft_ppool_apply(p, t_sleep, &ms, sizeof ms, &b), 150);
    CHECK_GE(atomic_load(&ticks), 5);
    int64_t in[64], out[64];
    for (int i = 0; i < 64; i++)
        in[i] = i;
    CHECK_EQ(weft_ppool_map(p, t_square, in, 64, 8, out, 8, 0, NULL), 0);
    CHECK_EQ(out[63], 63 * 63);
    return NULL;
}

static void coro_body(void) {
    weft_ppool *p = mkpool(1);
    weft_coro a, b;
    CHECK_OK(weft_spawn(&a, ticker, NULL, NULL));
    CHECK_OK(weft_spawn(&b, waiter, p, NULL));
    CHECK_OK(weft_join(b, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(a, WEFT_FOREVER, NULL));
    finish(p);
}

WEFT_TEST(coroutine_parks_only_itself) { run_plain_in_thread(coro_body); }

/* 20 WEFT_STACK_SHARED coroutines map with in, out and statuses on their
 * stacks (the watcher thread reads and writes them while they wait), with
 * canaries of their own. */
#define PP_SHARED_N 20
static atomic_int pp_shared_ok;
static void *pp_shared_mapper(void *arg) {
    weft_ppool *p = arg;
    int id = atomic_fetch_add(&pp_shared_ok, 0x10000) >> 16;
    volatile unsigned char canary[512];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 11 + i);
    int64_t in[32], out[32];
    int st[32];
    for (int i = 0; i < 32; i++) {
        in[i] = id * 100 + i;
        out[i] = -1;
        st[i] = 0x55;
    }
    CHECK_EQ(weft_ppool_map(p, t_square, in, 32, 8, out, 8, 4, st), 0);
    for (int i = 0; i < 32; i++) {
        CHECK_EQ(in[i], id * 100 + i);
        CHECK_EQ(out[i], (int64_t)(id * 100 + i) * (id * 100 + i));
        CHECK_EQ(st[i], 0);
    }
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 11 + i));
    atomic_fetch_add(&pp_shared_ok, 1);
    return NULL;
}
static void shared_map_body(void) {
    weft_ppool *p = mkpool(2);
    atomic_store(&pp_shared_ok, 0);
    weft_coro c[PP_SHARED_N];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < PP_SHARED_N; i++)
        CHECK_OK(weft_spawn(&c[i], pp_shared_mapper, p, &o));
    CHECK_OK(weft_joinall(c, PP_SHARED_N, weft_after(30 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&pp_shared_ok) & 0xffff, PP_SHARED_N);
    finish(p);
}
WEFT_TEST(map_from_shared_stack_coroutines) { run_plain_in_thread(shared_map_body); }

/* The same with starmap: the items, their argv and lens arrays and the argument bytes
 * all on the coroutines' stacks (the watcher packs later chunks from them while the
 * coroutines wait). */
static void *pp_shared_starmapper(void *arg) {
    weft_ppool *p = arg;
    int id = atomic_fetch_add(&pp_shared_ok, 0x10000) >> 16;
    volatile unsigned char canary[512];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 11 + i);
    char text[32][24];
    const void *argv[32][2];
    size_t lens[32][2];
    weft_ppool_args items[32];
    int64_t out[32];
    int st[32];
    for (int i = 0; i < 32; i++) {
        snprintf(text[i], sizeof text[i], "%d:%d", id, i);
        argv[i][0] = text[i];
        argv[i][1] = &items[i]; /* any bytes: the item itself */
        lens[i][0] = strlen(text[i]);
        lens[i][1] = 4;
        items[i] = (weft_ppool_args){2, argv[i], lens[i]};
        out[i] = -1;
    }
    CHECK_EQ(weft_ppool_starmap(p, t_star, items, 32, out, 8, 4, st), 0);
    for (int i = 0; i < 32; i++) {
        CHECK_EQ(st[i], 0);
        CHECK_EQ(out[i], star_hash(2, argv[i], lens[i]));
    }
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 11 + i));
    atomic_fetch_add(&pp_shared_ok, 1);
    return NULL;
}
static void shared_starmap_body(void) {
    weft_ppool *p = mkpool(2);
    atomic_store(&pp_shared_ok, 0);
    weft_coro c[PP_SHARED_N];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < PP_SHARED_N; i++)
        CHECK_OK(weft_spawn(&c[i], pp_shared_starmapper, p, &o));
    CHECK_OK(weft_joinall(c, PP_SHARED_N, weft_after(30 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&pp_shared_ok) & 0xffff, PP_SHARED_N);
    finish(p);
}
WEFT_TEST(starmap_from_shared_stack_coroutines) { run_plain_in_thread(shared_starmap_body); }

static void lk_ok(weft_future *f, int st, const weft_bytes *r, void *ud) {
    (void)f, (void)ud;
    CHECK_EQ(st, 0);
    CHECK_EQ(r->len, 8);
}
static void lk_err(weft_future *f, int st, const weft_bytes *r, void *ud) {
    (void)f, (void)r, (void)ud;
    CHECK_ERR(st, -ECANCELED); /* the pool was destroyed before it ran */
}

static void leak_body(void) {
    weft_ppool *p = mkpool(2);
    CHECK_EQ(sq1(p, 3), 9);
    int64_t in[100], out[100];
    for (int i = 0; i < 100; i++)
        in[i] = i;
    CHECK_EQ(weft_ppool_map(p, t_square, in, 100, 8, out, 8, 0, NULL), 0);
    weft_ppool_iter *it;
    CHECK_OK(weft_ppool_imap(p, t_rep, in, 100, 8, 0, 0, &it));
    weft_ppool_iter_destroy(it);
    weft_future *f;
    CHECK_OK(weft_ppool_apply_async(p, t_square, &in[5], 8, NULL, NULL, NULL, &f));
    CHECK_OK(weft_ppool_apply_async(p, t_square, &in[6], 8, lk_ok, lk_err, NULL, NULL));
    CHECK_EQ(weft_future_result(f, weft_after(10 * WEFT_SEC), NULL), 0);
    /* held past destroy: the future stays valid, its result is emptied */
    CHECK_OK(weft_ppool_destroy(p));
    CHECK_EQ(weft_future_done(f), 1);
    weft_future_release(f);
}

WEFT_TEST(no_leaks) {
    atomic_store(&cb_ok, 0);
    atomic_store(&cb_err, 0);
    CHECK_OK(weft_event_init(&cb_ev));
    run_in_thread(leak_body);
    CHECK_NO_ZOMBIES();
}

static void alloc_fail_body(void) {
    int64_t x = 7;
    int ok = 0;
    for (int k = 0; k < 40 && ok < 3; k++) {
        test_alloc_fail_after(k);
        weft_ppool *p = NULL;
        int r = weft_ppool_create(&p, NULL);
        if (r < 0) {
            CHECK_ERR(r, -ENOMEM);
            test_alloc_fail_after(-1);
            continue;
        }
        weft_bytes b = WEFT_BYTES_INIT;
        r = weft_ppool_apply(p, t_square, &x, 8, &b);
        test_alloc_fail_after(-1);
        if (r == 0) {
            int64_t y;
            memcpy(&y, b.data, 8);
            CHECK_EQ(y, 49);
            ok++;
        } else {
            CHECK_ERR(r, -ENOMEM);
        }
        weft_bytes_free(&b);
        CHECK_OK(weft_ppool_destroy(p));
    }
    CHECK_GT(ok, 0);
    /* starmap: -ENOMEM and nothing left behind, or the right results */
    weft_ppool *p = mkpool(1);
    int64_t v[3] = {1, 2, 3}, out[3];
    const void *argv[3][1] = {{&v[0]}, {&v[1]}, {&v[2]}};
    size_t lens[1] = {8};
    weft_ppool_args items[3] = {{1, argv[0], lens}, {1, argv[1], lens}, {1, argv[2], lens}};
    int failed = 0;
    for (int k = 0; k < 6; k++) {
        test_alloc_fail_after(k);
        int r = weft_ppool_starmap(p, t_star, items, 3, out, 8, 1, NULL);
        test_alloc_fail_after(-1);
        if (r < 0) {
            CHECK_ERR(r, -ENOMEM);
            failed++;
            continue;
        }
        for (int i = 0; i < 3; i++)
            CHECK_EQ(out[i], star_hash(1, argv[i], lens));
    }
    CHECK_GT(failed, 0);
    CHECK_OK(weft_ppool_destroy(p));
}

WEFT_TEST(allocation_failures) {
    run_in_thread(alloc_fail_body);
    CHECK_NO_ZOMBIES();
}

/* A worker that finishes its task after weft_ppool_terminate released the task's cell
 * (and before its SIGKILL lands) leaves the cell DONE with no task: the watcher drops
 * that result and still reaps the workers, so destroy returns. White-box: the late
 * write is made by hand, in the window it would take. */
/* WEFT_TEST_TIMEOUT(late_result_in_a_released_cell, 30) */
static void late_result_body(void) {
    for (int round = 0; round < 2; round++) {
        weft_ppool *p = mkpool(1);
        CHECK_EQ(sq1(p, 3), 9); /* the worker is up; its cells are free again */
        pthread_mutex_lock(&p->mu);
        CHECK(p->w[0].job[1] == NULL);
        atomic_store(&p->shm->w[0].cell[1].state, CELL_DONE);
        pthread_mutex_unlock(&p->mu);
        if (round == 0) /* the pool still works, and forgets the stray result */
            CHECK_EQ(sq1(p, 4), 16);
        CHECK_OK(weft_ppool_destroy(p)); /* round 1: with the stray result still there */
    }
}
WEFT_TEST(late_result_in_a_released_cell) {
    run_in_thread(late_result_body);
    CHECK_NO_ZOMBIES();
}

WEFT_MAIN()
