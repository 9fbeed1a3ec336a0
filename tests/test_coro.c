/* Coroutines: spawn, join, detach, yield, sleep, self/name/id, errno, switch, cancel,
 * stack modes, stack overflow reports, allocation failure, threads.
 *
 * Most cases run their body on a fresh pthread (run_in_thread): when it exits, its
 * scheduler is destroyed, so the counting allocator must then show no live allocation
 * at all, scheduler included. Bodies end by checking weft_coro_count() == 0. */
#include "harness.h"

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

/* WEFT_TEST_TIMEOUT(shared_ten_thousand, 180) */
/* WEFT_TEST_TIMEOUT(shared_and_guarded_mixed, 120) */

/* ------------------------------------------------------------------ helpers */

static void *ret_arg(void *arg) { return arg; }

static void *add_one(void *arg) { return (void *)((intptr_t)arg + 1); }

static void *yield_then_ret(void *arg) {
    CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(weft_yield(), 0);
    return arg;
}

/* Receives one int from the channel in arg and returns it (or the error). */
static void *recv_int(void *arg) {
    int v = -1;
    int r = weft_chan_recv(arg, &v, WEFT_FOREVER);
    return (void *)(intptr_t)(r < 0 ? r : v);
}

/* ------------------------------------------------------------ spawn, join */

static void body_spawn_join_result(void) {
    CHECK_EQ(weft_coro_count(), 0);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, add_one, (void *)41, NULL), 0);
    CHECK_EQ(weft_coro_count(), 1);
    CHECK_EQ(weft_coro_done(c), 0);
    void *res = NULL;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    CHECK_EQ(weft_coro_count(), 0);
    /* Joined: the handle is stale. */
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), -ESRCH);
    CHECK_ERR(weft_coro_done(c), -ESRCH);
    CHECK_EQ(weft_coro_id(c), 0);
    CHECK_PTR_EQ(weft_coro_name(c), NULL);

    /* Finished before the join, result NULL pointer accepted. */
    CHECK_ERR(weft_spawn(&c, ret_arg, (void *)7, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(weft_coro_done(c), 1);
    CHECK_EQ(weft_coro_count(), 0); /* finished, not yet joined: not counted */
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), -ESRCH);

    /* Many coroutines, joined in reverse order, each with its own value. */
    weft_coro cs[100];
    for (int i = 0; i < 100; i++)
        CHECK_ERR(weft_spawn(&cs[i], yield_then_ret, (void *)(intptr_t)(i * 3), NULL), 0);
    CHECK_EQ(weft_coro_count(), 100);
    for (int i = 99; i >= 0; i--) {
        CHECK_ERR(weft_join(cs[i], WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, i * 3);
    }
}
WEFT_TEST(spawn_join_result) { SKIP_IN_GROUP("weft_coro_count before the spawned ones run"); run_in_thread(body_spawn_join_result); }

static weft_coro self_join_main;
static void *self_join_fn(void *arg) {
    (void)arg;
    CHECK_ERR(weft_join(weft_self(), WEFT_FOREVER, NULL), -EDEADLK);
    CHECK_ERR(weft_join(weft_self(), WEFT_NOWAIT, NULL), -EDEADLK);
    /* The main coroutine cannot be joined or detached. */
    CHECK_ERR(weft_join(self_join_main, WEFT_NOWAIT, NULL), -EINVAL);
    CHECK_ERR(weft_detach(self_join_main), -EINVAL);
    return (void *)1;
}

static atomic_int detached_ran;
static void *detached_fn(void *arg) {
    CHECK_EQ(weft_yield(), 0);
    atomic_fetch_add(&detached_ran, 1);
    return arg;
}

static void body_join_errors(void) {
    self_join_main = weft_self();
    CHECK_ERR(weft_join(self_join_main, WEFT_FOREVER, NULL), -EDEADLK);
    weft_coro c;
    void *res = NULL;
    CHECK_ERR(weft_spawn(&c, self_join_fn, NULL, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 1);

    /* A zero handle was never valid. */
    weft_coro zero = {0};
    CHECK_ERR(weft_join(zero, WEFT_NOWAIT, NULL), -ESRCH);
    CHECK_ERR(weft_detach(zero), -ESRCH);
    CHECK_ERR(weft_cancel(zero), -ESRCH);
    CHECK_ERR(weft_switch(zero, NULL, NULL), -ESRCH);
    CHECK_ERR(weft_coro_done(zero), -ESRCH);

    /* Detached via opts: cannot be joined; it runs and frees itself. */
    atomic_store(&detached_ran, 0);
    weft_coro_opts o = {.detached = 1};
    CHECK_ERR(weft_spawn(&c, detached_fn, NULL, &o), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), -EINVAL);
    CHECK_ERR(weft_detach(c), -EINVAL);
    CHECK_EQ(weft_coro_count(), 1);
    /* out may be NULL when detached. */
    CHECK_ERR(weft_spawn(NULL, detached_fn, NULL, &o), 0);
    CHECK_EQ(weft_coro_count(), 2);
    while (weft_coro_count() > 0)
        CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(atomic_load(&detached_ran), 2);
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), -ESRCH);
    CHECK_ERR(weft_detach(c), -ESRCH);

    /* Detached after spawn, while running. */
    CHECK_ERR(weft_spawn(&c, detached_fn, NULL, NULL), 0);
    CHECK_ERR(weft_detach(c), 0);
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), -EINVAL);
    while (weft_coro_count() > 0)
        CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(atomic_load(&detached_ran), 3);
    CHECK_ERR(weft_detach(c), -ESRCH);

    /* Detached after it finished: released at once. */
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(weft_coro_done(c), 1);
    CHECK_ERR(weft_detach(c), 0);
    CHECK_ERR(weft_coro_done(c), -ESRCH);
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), -ESRCH);
}
WEFT_TEST(join_errors) { SKIP_IN_GROUP("the thread's main coroutine"); run_in_thread(body_join_errors); }

static void body_spawn_bad_args(void) {
    weft_coro c;
    weft_coro_opts o;
    CHECK_ERR(weft_spawn(&c, NULL, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_spawn(NULL, ret_arg, NULL, NULL), -EINVAL);
    o = (weft_coro_opts){.stack_size = (size_t)-1};
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, &o), -EINVAL);
    o = (weft_coro_opts){.stack_size = (size_t)INT64_MAX};
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, &o), -EINVAL);
    o = (weft_coro_opts){.stack_size = 1024}; /* under 16 KiB */
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, &o), -EINVAL);
    o = (weft_coro_opts){.stack_size = 16 * 1024 - 1};
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, &o), -EINVAL);
    o = (weft_coro_opts){.stack_mode = WEFT_STACK_SHARED, .stack_size = (size_t)-1};
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, &o), -EINVAL);
    o = (weft_coro_opts){.stack_mode = WEFT_STACK_SHARED, .stack_size = 256 * 1024 + 1};
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, &o), -EINVAL);
    o = (weft_coro_opts){.stack_mode = (weft_stack_mode)7};
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, &o), -EINVAL);
    o = (weft_coro_opts){.stack_mode = (weft_stack_mode)-1};
    CHECK_ERR(weft_spawn(&c, ret_arg, NULL, &o), -EINVAL);
    o = (weft_coro_opts){.suspended = 1};
    CHECK_ERR(weft_spawn(&c, ret_arg, (void *)1, &o), -EINVAL);
    CHECK_EQ(weft_coro_count(), 0);

    /* The boundaries themselves are fine. */
    void *res;
    o = (weft_coro_opts){.stack_size = 16 * 1024};
    CHECK_ERR(weft_spawn(&c, add_one, (void *)1, &o), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 2);
    o = (weft_coro_opts){.stack_mode = WEFT_STACK_SHARED, .stack_size = 256 * 1024};
    CHECK_ERR(weft_spawn(&c, add_one, (void *)2, &o), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 3);
    o = (weft_coro_opts){.stack_size = 16 * 1024 + 1}; /* rounded up to pages */
    CHECK_ERR(weft_spawn(&c, add_one, (void *)3, &o), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 4);
}
WEFT_TEST(spawn_bad_args) { run_in_thread(body_spawn_bad_args); }

/* Uses `kb` KiB of its stack, then returns the sum of what it wrote. */
__attribute__((noinline)) static long touch_stack(size_t kb) {
    volatile unsigned char *buf = __builtin_alloca(kb * 1024);
    for (size_t i = 0; i < kb * 1024; i += 512)
        buf[i] = (unsigned char)(i / 512);
    CHECK_EQ(weft_yield(), 0); /* a SHARED one has all that copied aside */
    CHECK_ERR(weft_sleep(WEFT_MSEC), 0);
    long sum = 0;
    for (size_t i = 0; i < kb * 1024; i += 512)
        sum += buf[i];
    return sum;
}

static void *use_stack_fn(void *arg) {
    size_t kb = (size_t)(uintptr_t)arg;
    CHECK_EQ(weft_yield(), 0);
    return (void *)(intptr_t)touch_stack(kb);
}

static long expected_touch(size_t kb) {
    long sum = 0;
    for (size_t i = 0; i < kb * 1024; i += 512)
        sum += (unsigned char)(i / 512);
    return sum;
}

static void body_stack_sizes(void) {
    struct {
        size_t stack, use_kb;
        weft_stack_mode mode;
    } cases[] = {
        {16 * 1024, 8, WEFT_STACK_GUARDED},     {0, 128, WEFT_STACK_GUARDED},
        {1024 * 1024, 700, WEFT_STACK_GUARDED}, {0, 128, WEFT_STACK_SHARED},
        {4096, 100, WEFT_STACK_SHARED},
    };
    weft_coro cs[5];
    for (int i = 0; i < 5; i++) {
        weft_coro_opts o = {.stack_size = cases[i].stack, .stack_mode = cases[i].mode};
        CHECK_ERR(weft_spawn(&cs[i], use_stack_fn, (void *)(uintptr_t)cases[i].use_kb, &o), 0);
    }
    for (int i = 0; i < 5; i++) {
        void *res;
        CHECK_ERR(weft_join(cs[i], WEFT_FOREVER, &res), 0);
        CHECK_EQ((long)(intptr_t)res, expected_touch(cases[i].use_kb));
    }
}
WEFT_TEST(stack_sizes) { run_in_thread(body_stack_sizes); }

static void body_join_deadline(void) {
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(int), 0), 0);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, recv_int, ch, NULL), 0);
    /* Deadlines already past, before and after it started. */
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), -ETIMEDOUT);
    CHECK_ERR(weft_join(c, weft_now() - WEFT_SEC, NULL), -ETIMEDOUT);
    CHECK_EQ(weft_yield(), 0); /* c now blocks in recv */
    CHECK_ERR(weft_join(c, 1, NULL), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_join(c, weft_after(20 * WEFT_MSEC), NULL), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
    CHECK_EQ(weft_coro_done(c), 0);
    /* Untouched: it can still be joined. */
    int v = 1234;
    CHECK_ERR(weft_chan_send(ch, &v, WEFT_FOREVER), 0);
    void *res;
    CHECK_ERR(weft_join(c, weft_after(10 * WEFT_SEC), &res), 0);
    CHECK_EQ((intptr_t)res, 1234);
    CHECK_ERR(weft_chan_destroy(ch), 0);
}
WEFT_TEST(join_deadline) { run_in_thread(body_join_deadline); }

static weft_chan *joinall_gate;
static void *joinall_slow(void *arg) {
    int v;
    CHECK_ERR(weft_chan_recv(joinall_gate, &v, WEFT_FOREVER), 0);
    return (void *)((intptr_t)arg + v);
}

static void body_joinall(void) {
    weft_coro cs[6];
    void *res[6] = {0};
    for (int i = 0; i < 6; i++)
        CHECK_ERR(weft_spawn(&cs[i], i % 2 ? ret_arg : yield_then_ret, (void *)(intptr_t)(i * 10),
                             NULL),
                  0);
    CHECK_ERR(weft_joinall(cs, 6, WEFT_FOREVER, res), 0);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ((intptr_t)res[i], i * 10);
        CHECK_ERR(weft_coro_done(cs[i]), -ESRCH);
    }
    CHECK_ERR(weft_joinall(NULL, 1, WEFT_FOREVER, NULL), -EINVAL);
    CHECK_ERR(weft_joinall(NULL, 0, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_joinall(cs, 0, WEFT_FOREVER, NULL), 0);

    /* Results NULL. */
    for (int i = 0; i < 3; i++)
        CHECK_ERR(weft_spawn(&cs[i], ret_arg, NULL, NULL), 0);
    CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);

    /* A failure part-way: the first is joined, the stuck one and those after it stay. */
    CHECK_ERR(weft_chan_create(&joinall_gate, sizeof(int), 0), 0);
    CHECK_ERR(weft_spawn(&cs[0], ret_arg, (void *)5, NULL), 0);
    CHECK_ERR(weft_spawn(&cs[1], joinall_slow, (void *)100, NULL), 0);
    CHECK_ERR(weft_spawn(&cs[2], ret_arg, (void *)6, NULL), 0);
    memset(res, 0, sizeof res);
    CHECK_ERR(weft_joinall(cs, 3, weft_after(10 * WEFT_MSEC), res), -ETIMEDOUT);
    CHECK_EQ((intptr_t)res[0], 5);
    CHECK_ERR(weft_coro_done(cs[0]), -ESRCH);
    CHECK_EQ(weft_coro_done(cs[1]), 0);
    CHECK_EQ(weft_coro_done(cs[2]), 1);
    int v = 23;
    CHECK_ERR(weft_chan_send(joinall_gate, &v, WEFT_FOREVER), 0);
    CHECK_ERR(weft_joinall(cs + 1, 2, WEFT_FOREVER, res + 1), 0);
    CHECK_EQ((intptr_t)res[1], 123);
    CHECK_EQ((intptr_t)res[2], 6);
    /* Stale handle in the list: -ESRCH. */
    CHECK_ERR(weft_joinall(cs, 1, WEFT_FOREVER, NULL), -ESRCH);
    CHECK_ERR(weft_chan_destroy(joinall_gate), 0);
}
WEFT_TEST(joinall) { SKIP_IN_GROUP("one thread's FIFO order"); run_in_thread(body_joinall); }

/* ------------------------------------------------------------ yield, sleep */

static void *yield_logger(void *arg) {
    const char *name = arg;
    for (int i = 1; i <= 3; i++) {
        logf_("%s%d", name, i);
        CHECK_EQ(weft_yield(), 0);
    }
    return NULL;
}

static void body_yield_fifo(void) {
    log_reset();
    weft_coro cs[3];
    static const char *names[3] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++)
        CHECK_ERR(weft_spawn(&cs[i], yield_logger, (void *)names[i], NULL), 0);
    CHECK_STR_EQ(logbuf, ""); /* nothing runs until main blocks or yields */
    CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);
    CHECK_STR_EQ(logbuf, "a1 b1 c1 a2 b2 c2 a3 b3 c3");

    /* main yielding takes its turn in the same FIFO. */
    log_reset();
    for (int i = 0; i < 3; i++)
        CHECK_ERR(weft_spawn(&cs[i], yield_logger, (void *)names[i], NULL), 0);
    for (int i = 1; i <= 4; i++) {
        logf_("m%d", i);
        CHECK_EQ(weft_yield(), 0);
    }
    CHECK_STR_EQ(logbuf, "m1 a1 b1 c1 m2 a2 b2 c2 m3 a3 b3 c3 m4");
    CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);

    /* Yield with nothing else ready returns at once. */
    CHECK_EQ(weft_yield(), 0);
}
WEFT_TEST(yield_fifo) { SKIP_IN_GROUP("one thread's FIFO order"); run_in_thread(body_yield_fifo); }

typedef struct {
    int64_t deadline;
    int64_t rel;
    int tag;
} sleeper_arg;

static void *sleeper(void *p) {
    sleeper_arg *a = p;
    int64_t t0 = weft_now();
    if (a->deadline)
        CHECK_ERR(weft_sleep_until(a->deadline), 0);
    else
        CHECK_ERR(weft_sleep(a->rel), 0);
    int64_t now = weft_now();
    if (a->deadline)
        CHECK_GE(now, a->deadline);
    else
        CHECK_GE(now - t0, a->rel);
    logf_("%d", a->tag);
    return NULL;
}

static void body_sleep_order(void) {
    /* Absolute deadlines from one base, set once all three are spawned and far enough
     * ahead that all of them are parked by then: the order does not depend on timing. */
    log_reset();
    sleeper_arg a[3] = {{30 * WEFT_MSEC, 0, 30}, {10 * WEFT_MSEC, 0, 10}, {20 * WEFT_MSEC, 0, 20}};
    weft_coro cs[3];
    for (int i = 0; i < 3; i++)
        CHECK_ERR(weft_spawn(&cs[i], sleeper, &a[i], NULL), 0);
    int64_t base = weft_after(50 * WEFT_MSEC);
    for (int i = 0; i < 3; i++)
        a[i].deadline += base;
    CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);
    CHECK_STR_EQ(logbuf, "10 20 30");

    /* Relative sleeps of 30, 10, 20 (x3) ms, started back to back. */
    log_reset();
    sleeper_arg b[3] = {{0, 90 * WEFT_MSEC, 30}, {0, 30 * WEFT_MSEC, 10}, {0, 60 * WEFT_MSEC, 20}};
    int64_t t0 = weft_now();
    for (int i = 0; i < 3; i++)
        CHECK_ERR(weft_spawn(&cs[i], sleeper, &b[i], NULL), 0);
    CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);
    CHECK_STR_EQ(logbuf, "10 20 30");
    CHECK_GE(weft_now() - t0, 90 * WEFT_MSEC);

    /* Many sleepers with scrambled deadlines wake sorted (the timer heap). */
    log_reset();
    enum { N = 64 };
    sleeper_arg many[N];
    weft_coro mc[N];
    for (int i = 0; i < N; i++) {
        int k = (i * 37) % N; /* a permutation of 0..N-1 */
        many[i] = (sleeper_arg){k * WEFT_MSEC / 4, 0, k};
        CHECK_ERR(weft_spawn(&mc[i], sleeper, &many[i], NULL), 0);
    }
    base = weft_after(100 * WEFT_MSEC);
    for (int i = 0; i < N; i++)
        many[i].deadline += base;
    CHECK_ERR(weft_joinall(mc, N, WEFT_FOREVER, NULL), 0);
    char want[8192];
    size_t wl = 0;
    for (int k = 0; k < N; k++)
        wl += (size_t)snprintf(want + wl, sizeof want - wl, k ? " %d" : "%d", k);
    CHECK_STR_EQ(logbuf, want);
}
WEFT_TEST(sleep_order) { SKIP_IN_GROUP("one thread's FIFO order"); run_in_thread(body_sleep_order); }

static atomic_int other_ran;
static void *set_other_ran(void *arg) {
    (void)arg;
    atomic_store(&other_ran, 1);
    return NULL;
}

static void *sleep_zero_fn(void *arg) {
    (void)arg;
    int64_t t0 = weft_now();
    CHECK_ERR(weft_sleep(0), 0);
    CHECK_ERR(weft_sleep(-5), 0);
    CHECK_ERR(weft_sleep_until(WEFT_NOWAIT), 0);
    CHECK_ERR(weft_sleep_until(1), 0);
    CHECK_ERR(weft_sleep_until(weft_now() - WEFT_SEC), 0);
    CHECK_ERR(weft_sleep_until(WEFT_FOREVER), -EINVAL);
    CHECK_ERR(weft_sleep_until(-100), 0); /* every negative but WEFT_FOREVER is past */
    CHECK_ERR(weft_sleep_until(INT64_MIN), 0);
    CHECK_LT(weft_now() - t0, 2 * WEFT_SEC);
    return NULL;
}

static void body_sleep_zero(void) {
    atomic_store(&other_ran, 0);
    weft_coro other;
    CHECK_ERR(weft_spawn(&other, set_other_ran, NULL, NULL), 0);
    /* In main, with another coroutine ready: returns at once without running it. */
    CHECK_ERR(weft_sleep(0), 0);
    CHECK_ERR(weft_sleep_until(weft_now() - 1), 0);
    CHECK_EQ(atomic_load(&other_ran), 0);
    CHECK_ERR(weft_join(other, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(atomic_load(&other_ran), 1);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, sleep_zero_fn, NULL, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
}
WEFT_TEST(sleep_zero_and_past) { SKIP_IN_GROUP("no other coroutine runs during a sleep of 0"); run_in_thread(body_sleep_zero); }

/* On a thread that never used coroutines: sleep and yield work without a scheduler. */
static void *plain_sleep_thread(void *arg) {
    (void)arg;
    CHECK_ERR(weft_sleep(0), 0);
    CHECK_ERR(weft_sleep_until(weft_now() - 1), 0);
    CHECK_ERR(weft_sleep_until(WEFT_FOREVER), -EINVAL);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_sleep(10 * WEFT_MSEC), 0);
    CHECK_GE(weft_now() - t0, 10 * WEFT_MSEC);
    CHECK_ERR(weft_yield(), 0);
    CHECK_EQ(weft_cancelled(), 0);
    CHECK_EQ(weft_coro_count(), 0);
    return NULL;
}

WEFT_TEST(plain_thread_sleep) {
    CHECK_OK(test_alloc_install());
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, plain_sleep_thread, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(test_alloc_calls(), 0); /* no scheduler was created */
    CHECK_NO_LEAKS();
}

static weft_chan *mb_ch;
static void *mb_waiter(void *arg) {
    (void)arg;
    logf_("w-start");
    int v;
    CHECK_ERR(weft_chan_recv(mb_ch, &v, WEFT_FOREVER), 0);
    logf_("w-got%d", v);
    return (void *)(intptr_t)v;
}
static void *mb_worker(void *arg) {
    (void)arg;
    for (int i = 1; i <= 3; i++) {
        logf_("k%d", i);
        CHECK_EQ(weft_yield(), 0);
    }
    CHECK_ERR(weft_sleep(2 * WEFT_MSEC), 0);
    int v = 9;
    logf_("k-send");
    CHECK_ERR(weft_chan_send(mb_ch, &v, WEFT_FOREVER), 0);
    logf_("k-end");
    return NULL;
}

static void body_main_blocks_in_join(void) {
    log_reset();
    CHECK_ERR(weft_chan_create(&mb_ch, sizeof(int), 0), 0);
    weft_coro w, k;
    CHECK_ERR(weft_spawn(&w, mb_waiter, NULL, NULL), 0);
    CHECK_ERR(weft_spawn(&k, mb_worker, NULL, NULL), 0);
    logf_("m-join");
    void *res;
    CHECK_ERR(weft_join(w, WEFT_FOREVER, &res), 0);
    logf_("m-joined");
    CHECK_EQ((intptr_t)res, 9);
    CHECK_ERR(weft_join(k, WEFT_FOREVER, NULL), 0);
    /* The unbuffered send hands over and the sender keeps running until it returns;
     * then the receiver runs, finishes, and main's join returns. */
    CHECK_STR_EQ(logbuf, "m-join w-start k1 k2 k3 k-send k-end w-got9 m-joined");
    CHECK_ERR(weft_chan_destroy(mb_ch), 0);
}
WEFT_TEST(main_blocks_in_join) { SKIP_IN_GROUP("one thread's FIFO order"); run_in_thread(body_main_blocks_in_join); }

/* ------------------------------------------------------------ self, names, ids */

static void *self_fn(void *arg) {
    weft_coro *expect = arg;
    weft_coro me = weft_self();
    CHECK(weft_coro_equal(me, *expect));
    CHECK_EQ(weft_coro_id(me), weft_coro_id(*expect));
    return (void *)weft_coro_name(me);
}

static void body_self_name_id(void) {
    weft_coro m = weft_self();
    CHECK(m.p != NULL);
    CHECK_STR_EQ(weft_coro_name(m), "main");
    uint64_t mid = weft_coro_id(m);
    CHECK_GT(mid, 0);
    CHECK(weft_coro_equal(m, weft_self()));
    CHECK_EQ(weft_coro_id(weft_self()), mid);
    CHECK_EQ(weft_coro_done(m), 0);

    char name[32];
    weft_coro cs[5];
    uint64_t ids[5];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "worker-%d", i);
        weft_coro_opts o = {.name = i == 4 ? NULL : name,
                            .stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&cs[i], self_fn, &cs[i], &o), 0);
        ids[i] = weft_coro_id(cs[i]);
        CHECK_GT(ids[i], mid);
        if (i)
            CHECK_GT(ids[i], ids[i - 1]);
        CHECK(!weft_coro_equal(cs[i], m));
    }
    strcpy(name, "clobbered"); /* the name was copied */
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof name, "worker-%d", i);
        CHECK_STR_EQ(weft_coro_name(cs[i]), name);
    }
    CHECK_PTR_EQ(weft_coro_name(cs[4]), NULL);
    for (int i = 0; i < 5; i++) {
        void *res;
        const char *nm = weft_coro_name(cs[i]);
        CHECK_ERR(weft_join(cs[i], WEFT_FOREVER, &res), 0);
        CHECK_PTR_EQ(res, nm);
        CHECK_EQ(weft_coro_id(cs[i]), 0);
        CHECK_PTR_EQ(weft_coro_name(cs[i]), NULL);
    }
    /* Ids are never reused, even when control blocks are. */
    weft_coro again;
    CHECK_ERR(weft_spawn(&again, ret_arg, NULL, NULL), 0);
    CHECK_GT(weft_coro_id(again), ids[4]);
    for (int i = 0; i < 5; i++)
        CHECK(!weft_coro_equal(again, cs[i]));
    CHECK_ERR(weft_join(again, WEFT_FOREVER, NULL), 0);
}
WEFT_TEST(self_name_id) { SKIP_IN_GROUP("the thread's main coroutine"); run_in_thread(body_self_name_id); }

/* Ids are unique across threads too. */
static void *ids_thread(void *arg) {
    uint64_t *out = arg;
    for (int i = 0; i < 100; i++) {
        weft_coro c;
        CHECK_ERR(weft_spawn(&c, ret_arg, NULL, NULL), 0);
        out[i] = weft_coro_id(c);
        CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    }
    out[100] = weft_coro_id(weft_self());
    return NULL;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

WEFT_TEST(ids_unique_across_threads) {
    CHECK_OK(test_alloc_install());
    static uint64_t ids[4][101];
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, ids_thread, ids[i]), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
    for (int i = 0; i < 4; i++)
        for (int j = 1; j < 100; j++)
            CHECK_GT(ids[i][j], ids[i][j - 1]);
    qsort(ids, 4 * 101, sizeof(uint64_t), cmp_u64);
    for (int i = 1; i < 4 * 101; i++)
        CHECK_NE(((uint64_t *)ids)[i], ((uint64_t *)ids)[i - 1]);
    CHECK_GT(((uint64_t *)ids)[0], 0);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------ errno */

static void *errno_fn(void *arg) {
    int mine = (int)(intptr_t)arg;
    CHECK_EQ(errno, 0); /* a new coroutine starts with errno 0 */
    errno = mine;
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(weft_yield(), 0);
        CHECK_EQ(errno, mine);
        errno = mine + i + 1;
        CHECK_ERR(weft_sleep(WEFT_MSEC / 10), 0);
        CHECK_EQ(errno, mine + i + 1);
        errno = mine;
    }
    return NULL;
}

static void body_errno_preserved(void) {
    weft_coro cs[4];
    for (int i = 0; i < 4; i++) {
        weft_coro_opts o = {.stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&cs[i], errno_fn, (void *)(intptr_t)(100 * (i + 1)), &o), 0);
    }
    errno = 7;
    CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(errno, 7);
    errno = 8;
    CHECK_ERR(weft_join(cs[0], WEFT_FOREVER, NULL), 0);
    CHECK_EQ(errno, 8);
    CHECK_ERR(weft_joinall(cs + 1, 3, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(errno, 8);
}
WEFT_TEST(errno_preserved) { SKIP_IN_GROUP("errno used across a call that changes thread needs weft_coro_pin"); run_in_thread(body_errno_preserved); }

/* ------------------------------------------------------------ switch */

static weft_coro sw_main;

static void *switch_echo(void *arg) {
    /* Started by a switch: arg is the switched value. */
    CHECK_STR_EQ(arg, "a");
    void *got = NULL;
    CHECK_ERR(weft_switch(sw_main, "b", &got), 0);
    CHECK_STR_EQ(got, "c");
    CHECK_ERR(weft_switch(sw_main, "d", &got), 0);
    CHECK_STR_EQ(got, "e");
    return "f";
}

static void body_switch_values(void) {
    sw_main = weft_self();
    weft_coro g;
    weft_coro_opts o = {.suspended = 1, .name = "echo"};
    CHECK_ERR(weft_spawn(&g, switch_echo, NULL, &o), 0);
    CHECK_EQ(weft_coro_count(), 1);
    /* Suspended: yielding does not start it. */
    CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(weft_coro_done(g), 0);
    void *got = NULL;
    CHECK_ERR(weft_switch(g, "a", &got), 0);
    CHECK_STR_EQ(got, "b");
    CHECK_ERR(weft_switch(g, "c", &got), 0);
    CHECK_STR_EQ(got, "d");
    /* g finishes: main (its spawner) gets its value and 1. */
    CHECK_ERR(weft_switch(g, "e", &got), 1);
    CHECK_STR_EQ(got, "f");
    CHECK_EQ(weft_coro_done(g), 1);
    void *res;
    CHECK_ERR(weft_join(g, WEFT_FOREVER, &res), 0);
    CHECK_STR_EQ(res, "f");

    /* received may be NULL. */
    o.name = NULL;
    CHECK_ERR(weft_spawn(&g, ret_arg, NULL, &o), 0);
    CHECK_ERR(weft_switch(g, "x", NULL), 1);
    CHECK_ERR(weft_join(g, WEFT_FOREVER, &res), 0);
    CHECK_STR_EQ(res, "x");
}
WEFT_TEST(switch_values) { SKIP_IN_GROUP("weft_switch is per thread"); run_in_thread(body_switch_values); }

/* greenlet's documentation example:
 *     def test1(): print(12); gr2.switch(); print(34)
 *     def test2(): print(56); gr1.switch(); print(78)
 *     gr1.switch()      # prints 12 56 34 */
static weft_coro gr1, gr2;
static void *test1(void *arg) {
    (void)arg;
    logf_("12");
    CHECK_ERR(weft_switch(gr2, NULL, NULL), 0);
    logf_("34");
    return "test1 done";
}
static void *test2(void *arg) {
    (void)arg;
    logf_("56");
    CHECK_ERR(weft_switch(gr1, NULL, NULL), 0);
    logf_("78");
    return "test2 done";
}

static void body_greenlet_example(void) {
    log_reset();
    weft_coro_opts o = {.suspended = 1};
    CHECK_ERR(weft_spawn(&gr1, test1, NULL, &o), 0);
    CHECK_ERR(weft_spawn(&gr2, test2, NULL, &o), 0);
    void *got = NULL;
    CHECK_ERR(weft_switch(gr1, NULL, &got), 1); /* test1 returned to its parent */
    CHECK_STR_EQ(got, "test1 done");
    CHECK_STR_EQ(logbuf, "12 56 34");
    CHECK_EQ(weft_coro_done(gr1), 1);
    CHECK_EQ(weft_coro_done(gr2), 0);
    CHECK_EQ(weft_coro_count(), 1);
    /* gr2 is still suspended in its switch: resume it, it prints 78 and returns to main. */
    CHECK_ERR(weft_switch(gr2, NULL, &got), 1);
    CHECK_STR_EQ(got, "test2 done");
    CHECK_STR_EQ(logbuf, "12 56 34 78");
    CHECK_ERR(weft_join(gr1, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_join(gr2, WEFT_FOREVER, NULL), 0);
}
WEFT_TEST(greenlet_example) { SKIP_IN_GROUP("weft_switch is per thread"); run_in_thread(body_greenlet_example); }

/* Return-to-parent goes to the spawner, not to whoever switched last. */
static weft_coro rp_child;
static void *rp_child_fn(void *arg) { return (void *)((intptr_t)arg * 2); }
static void *rp_parent_fn(void *arg) {
    (void)arg;
    weft_coro_opts o = {.suspended = 1};
    CHECK_ERR(weft_spawn(&rp_child, rp_child_fn, NULL, &o), 0);
    void *got = NULL;
    CHECK_ERR(weft_switch(rp_child, (void *)21, &got), 1);
    CHECK_EQ((intptr_t)got, 42);
    void *res;
    CHECK_ERR(weft_join(rp_child, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    return (void *)1;
}

static void body_switch_return_to_parent(void) {
    weft_coro p;
    CHECK_ERR(weft_spawn(&p, rp_parent_fn, NULL, NULL), 0);
    void *res;
    CHECK_ERR(weft_join(p, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 1);
}
WEFT_TEST(switch_return_to_parent) { SKIP_IN_GROUP("weft_switch is per thread"); run_in_thread(body_switch_return_to_parent); }

static weft_chan *swe_ch;
static void *swe_self(void *arg) {
    (void)arg;
    CHECK_ERR(weft_switch(weft_self(), NULL, NULL), -EDEADLK);
    return NULL;
}

static void body_switch_errors(void) {
    weft_coro c;
    /* Ready (spawned, not suspended, not run yet): -EBUSY. */
    CHECK_ERR(weft_spawn(&c, swe_self, NULL, NULL), 0);
    CHECK_ERR(weft_switch(c, NULL, NULL), -EBUSY);
    CHECK_ERR(weft_switch(weft_self(), NULL, NULL), -EDEADLK);
    CHECK_EQ(weft_yield(), 0);
    /* Finished (not joined): -ESRCH; joined (stale): -ESRCH. */
    CHECK_EQ(weft_coro_done(c), 1);
    CHECK_ERR(weft_switch(c, NULL, NULL), -ESRCH);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_switch(c, NULL, NULL), -ESRCH);
    /* Blocked in a channel receive: -EBUSY. */
    CHECK_ERR(weft_chan_create(&swe_ch, sizeof(int), 0), 0);
    CHECK_ERR(weft_spawn(&c, recv_int, swe_ch, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_switch(c, NULL, NULL), -EBUSY);
    int v = 5;
    CHECK_ERR(weft_chan_send(swe_ch, &v, WEFT_FOREVER), 0);
    void *res;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 5);
    CHECK_ERR(weft_chan_destroy(swe_ch), 0);
}
WEFT_TEST(switch_errors) { SKIP_IN_GROUP("weft_switch is per thread"); run_in_thread(body_switch_errors); }

/* ------------------------------------------------------------ cancel */

static weft_chan *cx_ch;

static void *cancel_in_sleep(void *arg) {
    (void)arg;
    logf_("sleeping");
    CHECK_EQ(weft_cancelled(), 0);
    int r = weft_sleep(3600 * WEFT_SEC);
    logf_("woke%d", r);
    CHECK_EQ(weft_cancelled(), 1);
    /* Sticky: every later blocking call fails at once. */
    int v;
    CHECK_ERR(weft_chan_recv(cx_ch, &v, WEFT_FOREVER), -ECANCELED);
    CHECK_ERR(weft_chan_recv(cx_ch, &v, weft_after(WEFT_SEC)), -ECANCELED);
    CHECK_ERR(weft_sleep(WEFT_SEC), -ECANCELED);
    CHECK_ERR(weft_yield(), -ECANCELED);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, ret_arg, (void *)3, NULL), 0); /* spawning still works */
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), -ECANCELED);
    CHECK_ERR(weft_detach(c), 0);
    /* Non-blocking and deadline-0 calls keep working for clean-up. */
    CHECK_ERR(weft_chan_try_recv(cx_ch, &v), -EAGAIN);
    CHECK_ERR(weft_chan_recv(cx_ch, &v, WEFT_NOWAIT), -ETIMEDOUT);
    v = 77;
    CHECK_ERR(weft_chan_try_send(cx_ch, &v), 0); /* cx_ch is buffered */
    CHECK_ERR(weft_chan_try_recv(cx_ch, &v), 0);
    CHECK_EQ(v, 77);
    logf_("cleaned");
    return (void *)(intptr_t)r;
}

static void body_cancel_sleep(void) {
    log_reset();
    CHECK_ERR(weft_chan_create(&cx_ch, sizeof(int), 4), 0);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, cancel_in_sleep, NULL, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_STR_EQ(logbuf, "sleeping");
    int64_t t0 = weft_now();
    CHECK_ERR(weft_cancel(c), 0);
    CHECK_STR_EQ(logbuf, "sleeping"); /* the caller does not wait */
    void *res;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_LT(weft_now() - t0, 10 * WEFT_SEC);
    CHECK_EQ((intptr_t)res, -ECANCELED);
    char want[64];
    snprintf(want, sizeof want, "sleeping woke%d cleaned", -ECANCELED);
    CHECK_STR_EQ(logbuf, want);
    CHECK_EQ(weft_cancelled(), 0); /* main was not cancelled */
    /* Let the detached helper finish. */
    while (weft_coro_count())
        CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_chan_destroy(cx_ch), 0);
}
WEFT_TEST(cancel_sleep) { SKIP_IN_GROUP("a yield runs the spawned coroutine first"); run_in_thread(body_cancel_sleep); }

static void *cancel_target_recv(void *arg) {
    weft_chan *ch = arg;
    char v[24];
    int r = weft_chan_recv(ch, v, WEFT_FOREVER);
    CHECK_ERR(r, -ECANCELED);
    CHECK_ERR(weft_chan_send(ch, v, WEFT_FOREVER), -ECANCELED);
    return (void *)(intptr_t)r;
}

static void body_cancel_recv(void) {
    for (int mode = 0; mode < 2; mode++) {
        weft_chan *ch;
        CHECK_ERR(weft_chan_create(&ch, 24, 0), 0);
        weft_coro c;
        weft_coro_opts o = {.stack_mode = mode ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&c, cancel_target_recv, ch, &o), 0);
        CHECK_EQ(weft_yield(), 0);
        /* Blocked in recv: destroy refuses. */
        CHECK_ERR(weft_chan_destroy(ch), -EBUSY);
        CHECK_ERR(weft_cancel(c), 0);
        CHECK_ERR(weft_cancel(c), 0); /* twice is fine */
        void *res;
        CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, -ECANCELED);
        /* The cancelled receiver left the queue: a send finds nobody. */
        char v[24] = {0};
        CHECK_ERR(weft_chan_try_send(ch, v), -EAGAIN);
        CHECK_ERR(weft_chan_destroy(ch), 0);
    }
}
WEFT_TEST(cancel_recv) { SKIP_IN_GROUP("a yield runs the spawned coroutine first"); run_in_thread(body_cancel_recv); }

static weft_coro cj_target;
static void *cancel_joiner(void *arg) {
    (void)arg;
    int r = weft_join(cj_target, WEFT_FOREVER, NULL);
    CHECK_ERR(r, -ECANCELED);
    return (void *)(intptr_t)r;
}

static void body_cancel_join(void) {
    CHECK_ERR(weft_chan_create(&cx_ch, sizeof(int), 0), 0);
    CHECK_ERR(weft_spawn(&cj_target, recv_int, cx_ch, NULL), 0);
    weft_coro j;
    CHECK_ERR(weft_spawn(&j, cancel_joiner, NULL, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_cancel(j), 0);
    void *res;
    CHECK_ERR(weft_join(j, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, -ECANCELED);
    /* The target was untouched and can be joined by someone else. */
    CHECK_EQ(weft_coro_done(cj_target), 0);
    int v = 31;
    CHECK_ERR(weft_chan_send(cx_ch, &v, WEFT_FOREVER), 0);
    CHECK_ERR(weft_join(cj_target, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 31);
    CHECK_ERR(weft_chan_destroy(cx_ch), 0);
}
WEFT_TEST(cancel_join) { SKIP_IN_GROUP("a yield runs the spawned coroutine first"); run_in_thread(body_cancel_join); }

static atomic_int never_ran;
static void *must_not_run(void *arg) {
    (void)arg;
    atomic_store(&never_ran, 1);
    return (void *)99;
}

static void *cancel_in_switch(void *arg) {
    (void)arg;
    void *got = (void *)1;
    int r = weft_switch(sw_main, "hello", &got);
    CHECK_ERR(r, -ECANCELED);
    CHECK_ERR(weft_switch(sw_main, NULL, NULL), -ECANCELED);
    return (void *)(intptr_t)r;
}

static void body_cancel_misc(void) {
    atomic_store(&never_ran, 0);
    /* Spawned, never run: fn never runs, the result is NULL. */
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, must_not_run, NULL, NULL), 0);
    CHECK_ERR(weft_cancel(c), 0);
    void *res = (void *)1;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_PTR_EQ(res, NULL);
    /* Spawned suspended, never switched to: same (and SHARED too). */
    for (int mode = 0; mode < 2; mode++) {
        weft_coro_opts o = {.suspended = 1,
                            .stack_mode = mode ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&c, must_not_run, NULL, &o), 0);
        CHECK_EQ(weft_coro_count(), 1);
        CHECK_ERR(weft_cancel(c), 0);
        res = (void *)1;
        CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
        CHECK_PTR_EQ(res, NULL);
    }
    CHECK_EQ(atomic_load(&never_ran), 0);
    CHECK_EQ(weft_coro_count(), 0);

    /* Finished: a no-op; stale: -ESRCH. */
    CHECK_ERR(weft_spawn(&c, ret_arg, (void *)4, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_cancel(c), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 4);
    CHECK_ERR(weft_cancel(c), -ESRCH);

    /* Suspended in weft_switch: it resumes with -ECANCELED. */
    sw_main = weft_self();
    weft_coro_opts o = {.suspended = 1};
    CHECK_ERR(weft_spawn(&c, cancel_in_switch, NULL, &o), 0);
    void *got = NULL;
    CHECK_ERR(weft_switch(c, NULL, &got), 0);
    CHECK_STR_EQ(got, "hello");
    CHECK_ERR(weft_cancel(c), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, -ECANCELED);
}
WEFT_TEST(cancel_misc) { SKIP_IN_GROUP("spawned suspended"); run_in_thread(body_cancel_misc); }

/* ------------------------------------------------------------ counts */

static void body_coro_count(void) {
    CHECK_EQ(weft_coro_count(), 0);
    weft_coro_opts sus = {.suspended = 1};
    weft_coro a, b, c;
    CHECK_ERR(weft_spawn(&a, ret_arg, NULL, NULL), 0);
    CHECK_ERR(weft_spawn(&b, ret_arg, NULL, &sus), 0);
    CHECK_ERR(weft_chan_create(&cx_ch, sizeof(int), 0), 0);
    CHECK_ERR(weft_spawn(&c, recv_int, cx_ch, NULL), 0);
    CHECK_EQ(weft_coro_count(), 3);
    CHECK_EQ(weft_yield(), 0); /* a finishes, c blocks */
    CHECK_EQ(weft_coro_count(), 2);
    CHECK_ERR(weft_join(a, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_coro_count(), 2);
    CHECK_ERR(weft_switch(b, NULL, NULL), 1);
    CHECK_EQ(weft_coro_count(), 1);
    CHECK_ERR(weft_join(b, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_chan_close(cx_ch), 0);
    void *res;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, -EPIPE);
    CHECK_EQ(weft_coro_count(), 0);
    CHECK_ERR(weft_chan_destroy(cx_ch), 0);
}
WEFT_TEST(coro_count) { SKIP_IN_GROUP("spawned suspended"); run_in_thread(body_coro_count); }

/* ------------------------------------------------------------ stack modes */

enum { PATTERN_LEN = 777 };

static void fill_pattern(unsigned char *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)((seed * 2654435761u) >> (i % 24) ^ (unsigned)i * 31u);
}

static void check_pattern(const unsigned char *b, size_t n, unsigned seed) {
    unsigned char want[PATTERN_LEN];
    fill_pattern(want, n, seed);
    if (memcmp(b, want, n) != 0) {
        for (size_t i = 0; i < n; i++)
            CHECK_EQ(b[i], want[i]);
    }
}

static int64_t pattern_deadline;

/* Keeps a distinctive buffer on its stack across sleeps and yields. */
static void *pattern_fn(void *arg) {
    unsigned seed = (unsigned)(uintptr_t)arg;
    volatile unsigned char buf[PATTERN_LEN];
    unsigned char tmp[PATTERN_LEN];
    fill_pattern(tmp, PATTERN_LEN, seed);
    memcpy((void *)buf, tmp, PATTERN_LEN);
    volatile unsigned local = seed ^ 0xA5A5A5A5u;
    for (int round = 0; round < 6; round++) {
        if (round % 2 == 0)
            CHECK_ERR(weft_sleep_until(pattern_deadline + round * WEFT_MSEC), 0);
        else
            CHECK_EQ(weft_yield(), 0);
        memcpy(tmp, (const void *)buf, PATTERN_LEN);
        check_pattern(tmp, PATTERN_LEN, seed);
        CHECK_EQ(local, seed ^ 0xA5A5A5A5u);
    }
    return (void *)(uintptr_t)(seed * 7u + 1u);
}

static void run_pattern_coros(int n, int guarded_every) {
    weft_coro *cs = calloc((size_t)n, sizeof *cs);
    CHECK(cs != NULL);
    pattern_deadline = weft_after(20 * WEFT_MSEC);
    for (int i = 0; i < n; i++) {
        weft_coro_opts o = {.stack_mode = guarded_every && i % guarded_every == 0
                                              ? WEFT_STACK_GUARDED
                                              : WEFT_STACK_SHARED};
        CHECK_ERR(weft_spawn(&cs[i], pattern_fn, (void *)(uintptr_t)(i + 1), &o), 0);
    }
    if (!harness_in_group()) /* in a group, the first ones may have finished already */
        CHECK_EQ(weft_coro_count(), (size_t)n);
    for (int i = 0; i < n; i++) {
        void *res;
        CHECK_ERR(weft_join(cs[i], WEFT_FOREVER, &res), 0);
        CHECK_EQ((uintptr_t)res, (uintptr_t)((unsigned)(i + 1) * 7u + 1u));
    }
    free(cs);
}

/* ThreadSanitizer models each coroutine as a fiber: a fiber takes one of its 8128
 * thread slots and is slow to create, so fewer under it. */
#if defined(__SANITIZE_THREAD__)
#define TEN_THOUSAND 1000
#define MIXED_COUNT 600
#define GUARDED_COUNT 200
#else
#define TEN_THOUSAND 10000
#define MIXED_COUNT 3000
#define GUARDED_COUNT 1000
#endif
static void body_shared_ten_thousand(void) { run_pattern_coros(TEN_THOUSAND, 0); }
WEFT_TEST(shared_ten_thousand) { run_in_thread(body_shared_ten_thousand); }

static void body_shared_and_guarded_mixed(void) { run_pattern_coros(MIXED_COUNT, 3); }
WEFT_TEST(shared_and_guarded_mixed) { run_in_thread(body_shared_and_guarded_mixed); }

/* SHARED and GUARDED coroutines switching into each other directly. */
static weft_coro mix_peer[2];
static void *mix_switcher(void *arg) {
    int me = weft_coro_equal(weft_self(), mix_peer[1]);
    CHECK_EQ((intptr_t)arg, 0); /* 0's spawn argument, and 1's first switched value */
    volatile char mark[300];
    memset((void *)mark, 'a' + me, sizeof mark);
    void *got = NULL;
    for (int i = 0; i < 50; i++) {
        if (me == 0) {
            CHECK_ERR(weft_switch(mix_peer[1], (void *)(intptr_t)(i * 2), &got), 0);
            CHECK_EQ((intptr_t)got, i * 2 + 1);
        } else {
            CHECK_ERR(weft_switch(mix_peer[0], (void *)(intptr_t)(i * 2 + 1), &got), 0);
            if (i < 49)
                CHECK_EQ((intptr_t)got, i * 2 + 2);
        }
        for (size_t k = 0; k < sizeof mark; k++)
            CHECK_EQ(mark[k], 'a' + me);
    }
    return (void *)(intptr_t)me;
}

static void body_switch_shared_guarded(void) {
    for (int combo = 0; combo < 4; combo++) {
        for (int k = 0; k < 2; k++) {
            weft_coro_opts o = {.suspended = k == 1,
                                .stack_mode = (combo >> k) & 1 ? WEFT_STACK_SHARED
                                                               : WEFT_STACK_GUARDED};
            CHECK_ERR(weft_spawn(&mix_peer[k], mix_switcher, k ? NULL : (void *)0, &o), 0);
        }
        /* 0 runs, switching to 1 (started with fn(0)); they alternate 50 times; 0 then
         * finishes, nobody resumes 1 (its parent, main, is not in a switch). */
        CHECK_ERR(weft_join(mix_peer[0], WEFT_FOREVER, NULL), 0);
        CHECK_EQ(weft_coro_done(mix_peer[1]), 0);
        CHECK_ERR(weft_switch(mix_peer[1], (void *)100, NULL), 1);
        CHECK_ERR(weft_join(mix_peer[1], WEFT_FOREVER, NULL), 0);
    }
}
WEFT_TEST(switch_shared_guarded) { SKIP_IN_GROUP("weft_switch is per thread"); run_in_thread(body_switch_shared_guarded); }

/* Many GUARDED coroutines, several rounds: stacks come back from the pool. */
static void body_guarded_many(void) {
    enum { N = GUARDED_COUNT };
    static weft_coro cs[N];
    for (int round = 0; round < 3; round++) {
        pattern_deadline = weft_after(5 * WEFT_MSEC);
        for (int i = 0; i < N; i++)
            CHECK_ERR(weft_spawn(&cs[i], pattern_fn, (void *)(uintptr_t)(i + 1), NULL), 0);
        for (int i = 0; i < N; i++) {
            void *res;
            CHECK_ERR(weft_join(cs[i], WEFT_FOREVER, &res), 0);
            CHECK_EQ((uintptr_t)res, (uintptr_t)((unsigned)(i + 1) * 7u + 1u));
        }
    }
}
WEFT_TEST(guarded_many) { run_in_thread(body_guarded_many); }

/* ------------------------------------------------------------ stack overflow */

__attribute__((noinline)) static int recurse(volatile char *prev, int depth) {
    volatile char buf[1024];
    buf[0] = (char)(prev ? prev[0] + 1 : 0);
    buf[sizeof buf - 1] = (char)depth;
    int r = depth < INT_MAX - 1 ? recurse(buf, depth + 1) : 0;
    __asm__ volatile("" ::: "memory");
    return r + buf[1];
}

static void *overflow_fn(void *arg) {
    (void)arg;
    fprintf(stderr, "id=%llu\n", (unsigned long long)weft_coro_id(weft_self()));
    fflush(stderr);
    return (void *)(intptr_t)recurse(NULL, 0);
}

/* In a child: a coroutine named `name` overflows its stack. The child must die by
 * SIGABRT after printing a report naming the coroutine. */
static void check_overflow(weft_stack_mode mode, const char *name) {
    int p[2];
    CHECK_EQ(pipe(p), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        dup2(p[1], 2);
        close(p[1]);
        weft_coro c;
        weft_coro_opts o = {.name = name, .stack_mode = mode, .stack_size = 0};
        if (weft_spawn(&c, overflow_fn, NULL, &o) != 0)
            _exit(10);
        weft_join(c, WEFT_FOREVER, NULL);
        _exit(11); /* must not get here */
    }
    close(p[1]);
    char out[8192];
    size_t len = 0;
    for (;;) {
        ssize_t n = read(p[0], out + len, sizeof out - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (len == sizeof out - 1)
            break;
    }
    out[len] = 0;
    close(p[0]);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
        fprintf(stderr, "child stderr:\n%s\n", out);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGABRT);
    unsigned long long id = 0;
    const char *idp = strstr(out, "id=");
    CHECK(idp != NULL);
    CHECK_EQ(sscanf(idp, "id=%llu", &id), 1);
    CHECK_GT(id, 0);
    char want[128];
    snprintf(want, sizeof want, "coroutine %llu", id);
    if (!strstr(out, "stack overflow") || !strstr(out, want) || !strstr(out, name))
        fprintf(stderr, "child stderr:\n%s\n", out);
    CHECK(strstr(out, "stack overflow") != NULL);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, name) != NULL);
}

WEFT_TEST(stack_overflow_guarded) { check_overflow(WEFT_STACK_GUARDED, "deep-diver"); }
WEFT_TEST(stack_overflow_shared) { check_overflow(WEFT_STACK_SHARED, "shared-diver"); }

/* ------------------------------------------------------------ out of memory */

static void body_spawn_oom(void) {
    for (int mode = 0; mode < 2; mode++) {
        int k, r = -1;
        for (k = 0; k < 100; k++) {
            weft_coro c;
            weft_coro_opts o = {.name = "oom-victim",
                                .stack_mode = mode ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
            test_alloc_fail_after(k);
            r = weft_spawn(&c, add_one, (void *)(intptr_t)k, &o);
            test_alloc_fail_after(-1);
            if (r == 0) {
                CHECK_STR_EQ(weft_coro_name(c), "oom-victim");
                void *res;
                CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
                CHECK_EQ((intptr_t)res, k + 1);
                break;
            }
            CHECK_ERR(r, -ENOMEM);
            CHECK_EQ(weft_coro_count(), 0);
        }
        CHECK_ERR(r, 0);
        if (mode == 0)
            CHECK_GT(k, 0); /* at least the name needs memory */
    }
    /* A spawn without a name needs no allocation once the scheduler exists. */
    weft_coro c;
    test_alloc_fail_after(0);
    int r = weft_spawn(&c, ret_arg, NULL, NULL);
    test_alloc_fail_after(-1);
    CHECK_ERR(r, 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
}
WEFT_TEST(spawn_oom) { SKIP_IN_GROUP("the counting allocator of run_in_thread"); run_in_thread(body_spawn_oom); }

/* The very first use on a thread, with no memory: weft_self gives a zero handle. */
static void *self_oom_thread(void *arg) {
    (void)arg;
    test_alloc_fail_after(0);
    weft_coro s = weft_self();
    weft_coro c;
    int r = weft_spawn(&c, ret_arg, NULL, NULL);
    test_alloc_fail_after(-1);
    CHECK(s.p == NULL);
    CHECK_ERR(r, -ENOMEM);
    CHECK_EQ(weft_coro_count(), 0);
    CHECK_EQ(weft_coro_id(s), 0);
    return NULL;
}

WEFT_TEST(self_oom) {
    CHECK_OK(test_alloc_install());
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, self_oom_thread, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------ threads */

typedef struct {
    weft_chan *handles; /* the thread sends its coroutine's handle here */
    weft_chan *go;      /* then waits for this */
    weft_chan *done;
} xdev_ctx;

static void *xdev_thread(void *arg) {
    xdev_ctx *x = arg;
    weft_coro c;
    weft_coro_opts o = {.name = "far"};
    CHECK_ERR(weft_spawn(&c, recv_int, x->go, &o), 0);
    CHECK_EQ(weft_yield(), 0); /* c blocks in recv */
    CHECK_ERR(weft_chan_send(x->handles, &c, WEFT_FOREVER), 0);
    void *res;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 66);
    /* And from here, a handle of the main thread's coroutine. */
    weft_coro theirs;
    CHECK_ERR(weft_chan_recv(x->handles, &theirs, WEFT_FOREVER), 0);
    CHECK_ERR(weft_join(theirs, WEFT_NOWAIT, NULL), -EXDEV);
    CHECK_ERR(weft_cancel(theirs), -EXDEV);
    CHECK_ERR(weft_detach(theirs), -EXDEV);
    CHECK_ERR(weft_switch(theirs, NULL, NULL), -EXDEV);
    int one = 1;
    CHECK_ERR(weft_chan_send(x->done, &one, WEFT_FOREVER), 0);
    CHECK_EQ(weft_coro_count(), 0);
    return NULL;
}

static void *xdev_main_coro(void *arg) {
    int v;
    CHECK_ERR(weft_chan_recv(arg, &v, WEFT_FOREVER), 0);
    return (void *)(intptr_t)v;
}

static void body_cross_thread_exdev(void) {
    xdev_ctx x;
    CHECK_ERR(weft_chan_create(&x.handles, sizeof(weft_coro), 1), 0);
    CHECK_ERR(weft_chan_create(&x.go, sizeof(int), 0), 0);
    CHECK_ERR(weft_chan_create(&x.done, sizeof(int), 0), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, xdev_thread, &x), 0);
    weft_coro c;
    CHECK_ERR(weft_chan_recv(x.handles, &c, WEFT_FOREVER), 0);
    /* This thread has no scheduler yet. */
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), -EXDEV);
    CHECK_ERR(weft_detach(c), -EXDEV);
    CHECK_ERR(weft_cancel(c), -EXDEV);
    CHECK_ERR(weft_switch(c, NULL, NULL), -EXDEV);
    /* Read-only queries work from anywhere. */
    CHECK_GT(weft_coro_id(c), 0);
    CHECK_STR_EQ(weft_coro_name(c), "far");
    CHECK_EQ(weft_coro_done(c), 0);
    /* Now with a scheduler of its own. */
    weft_coro me = weft_self();
    CHECK(me.p != NULL);
    CHECK(!weft_coro_equal(me, c));
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), -EXDEV);
    CHECK_ERR(weft_detach(c), -EXDEV);
    CHECK_ERR(weft_cancel(c), -EXDEV);
    CHECK_ERR(weft_switch(c, NULL, NULL), -EXDEV);
    int v = 66;
    CHECK_ERR(weft_chan_send(x.go, &v, WEFT_FOREVER), 0);
    /* A coroutine of ours, handed to the other thread. */
    weft_coro mine;
    CHECK_ERR(weft_spawn(&mine, xdev_main_coro, x.done, NULL), 0);
    CHECK_ERR(weft_chan_send(x.handles, &mine, WEFT_FOREVER), 0);
    void *res;
    CHECK_ERR(weft_join(mine, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    /* c was joined over there: stale here. */
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), -ESRCH);
    CHECK_EQ(weft_coro_id(c), 0);
    CHECK_EQ(weft_coro_count(), 0);
    CHECK_ERR(weft_chan_destroy(x.handles), 0);
    CHECK_ERR(weft_chan_destroy(x.go), 0);
    CHECK_ERR(weft_chan_destroy(x.done), 0);
}
WEFT_TEST(cross_thread_exdev) { SKIP_IN_GROUP("a group's coroutines are not one thread's"); run_in_thread(body_cross_thread_exdev); }

static atomic_int abandoned_ran;
static void *abandoned_fn(void *arg) {
    (void)arg;
    atomic_fetch_add(&abandoned_ran, 1);
    return NULL;
}

static atomic_int unwound;
static void *sleep_long(void *arg) {
    (void)arg;
    /* Thread exit cancels it: the sleep fails and it unwinds. */
    CHECK_ERR(weft_sleep(3600 * WEFT_SEC), -ECANCELED);
    CHECK(weft_cancelled());
    atomic_fetch_add(&unwound, 1);
    return NULL;
}

static void *leaver_thread(void *arg) {
    weft_chan *out = arg;
    weft_coro h[4];
    weft_coro_opts sus = {.suspended = 1, .name = "suspended-one"};
    weft_coro_opts shared = {.stack_mode = WEFT_STACK_SHARED, .name = "shared-sleeper"};
    weft_coro_opts named = {.name = "sleeper"};
    CHECK_ERR(weft_spawn(&h[0], abandoned_fn, NULL, &sus), 0);
    CHECK_ERR(weft_spawn(&h[1], sleep_long, NULL, &named), 0);
    CHECK_ERR(weft_spawn(&h[2], sleep_long, NULL, &shared), 0);
    CHECK_EQ(weft_yield(), 0); /* both sleepers park */
    CHECK_ERR(weft_spawn(&h[3], abandoned_fn, NULL, NULL), 0); /* ready, never runs */
    CHECK_EQ(weft_coro_count(), 4);
    for (int i = 0; i < 4; i++)
        CHECK_ERR(weft_chan_send(out, &h[i], WEFT_FOREVER), 0);
    return NULL; /* exits with all four left */
}

static void *reuse_thread(void *arg) {
    weft_coro *old = arg;
    /* New coroutines may reuse the abandoned control blocks: old handles stay stale. */
    weft_coro cs[64];
    for (int i = 0; i < 64; i++)
        CHECK_ERR(weft_spawn(&cs[i], ret_arg, (void *)(intptr_t)i, NULL), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_ERR(weft_join(old[i], WEFT_NOWAIT, NULL), -ESRCH);
        CHECK_ERR(weft_cancel(old[i]), -ESRCH);
        CHECK_ERR(weft_switch(old[i], NULL, NULL), -ESRCH);
        for (int j = 0; j < 64; j++)
            CHECK(!weft_coro_equal(old[i], cs[j]));
    }
    for (int i = 0; i < 64; i++) {
        void *res;
        CHECK_ERR(weft_join(cs[i], WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, i);
    }
    return NULL;
}

WEFT_TEST(thread_exit_cancels_coroutines) {
    CHECK_OK(test_alloc_install());
    atomic_store(&abandoned_ran, 0);
    atomic_store(&unwound, 0);
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(weft_coro), 4), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, leaver_thread, ch), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    weft_coro h[4];
    for (int i = 0; i < 4; i++)
        CHECK_ERR(weft_chan_recv(ch, &h[i], WEFT_NOWAIT), 0);
    /* The two sleepers were cancelled and ran to their end; the two that
     * never started finished without running. */
    CHECK_EQ(atomic_load(&unwound), 2);
    CHECK_EQ(atomic_load(&abandoned_ran), 0);
    for (int i = 0; i < 4; i++) {
        CHECK_ERR(weft_join(h[i], WEFT_NOWAIT, NULL), -ESRCH);
        CHECK_ERR(weft_detach(h[i]), -ESRCH);
        CHECK_ERR(weft_cancel(h[i]), -ESRCH);
        CHECK_ERR(weft_coro_done(h[i]), -ESRCH);
        CHECK_EQ(weft_coro_id(h[i]), 0);
        CHECK_PTR_EQ(weft_coro_name(h[i]), NULL);
    }
    CHECK_ERR(weft_chan_destroy(ch), 0);
    /* The names and every scheduler allocation are gone. */
    CHECK_NO_LEAKS();
    CHECK_EQ(pthread_create(&t, NULL, reuse_thread, h), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(atomic_load(&abandoned_ran), 0);
    CHECK_NO_LEAKS();
}

/* Several threads, each with its own scheduler and coroutines, at the same time. */
static void *busy_thread(void *arg) {
    (void)arg;
    weft_coro cs[50];
    for (int i = 0; i < 50; i++) {
        weft_coro_opts o = {.stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&cs[i], yield_then_ret, (void *)(intptr_t)i, &o), 0);
    }
    for (int i = 0; i < 50; i++) {
        void *res;
        CHECK_ERR(weft_join(cs[i], WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, i);
    }
    CHECK_EQ(weft_coro_count(), 0);
    return NULL;
}

WEFT_TEST(threads_independent) {
    CHECK_OK(test_alloc_install());
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, busy_thread, NULL), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
    CHECK_NO_LEAKS();
}


/* Stack pinning: a SHARED coroutine waits in weft_offload with a pointer to
 * its local in the task; meanwhile a GUARDED coroutine switches to a
 * suspended SHARED one. That switch waits until the pin ends (the shared
 * stack is not free), then happens with its value and return-to-parent;
 * the pinned coroutine's local and canary come back intact. */
static weft_event pin_go;
static atomic_int pin_switching;
static int pin_task(void *arg, void **result) {
    (void)result;
    int *v = arg;
    CHECK_OK(weft_event_wait(&pin_go, weft_after(30 * WEFT_SEC)));
    *v += 40;
    return 0;
}
static void *pin_holder(void *arg) {
    (void)arg;
    volatile unsigned char canary[256];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(i * 3);
    int v = 2;
    CHECK_OK(weft_offload(pin_task, &v, NULL));
    CHECK_EQ(v, 42);
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(i * 3));
    return NULL;
}
static void *pin_suspended(void *arg) {
    volatile char big[1024]; /* its frames overwrite the holder's if they share */
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)0x5a;
    return (void *)((uintptr_t)arg + (uintptr_t)big[7]);
}
static void *pin_switcher(void *arg) {
    (void)arg;
    weft_coro_opts so = {.stack_mode = WEFT_STACK_SHARED, .suspended = 1};
    weft_coro t;
    CHECK_OK(weft_spawn(&t, pin_suspended, NULL, &so));
    atomic_store(&pin_switching, 1);
    void *got = NULL;
    CHECK_EQ(weft_switch(t, (void *)(uintptr_t)1000, &got), 1); /* it returned */
    CHECK_EQ((uintptr_t)got, 1000 + 0x5a);
    CHECK_OK(weft_join(t, WEFT_FOREVER, NULL));
    return NULL;
}
static void body_pin_switch(void) {
    CHECK_OK(weft_event_init(&pin_go));
    atomic_store(&pin_switching, 0);
    weft_coro h, g;
    weft_coro_opts sh = {.stack_mode = WEFT_STACK_SHARED};
    CHECK_OK(weft_spawn(&h, pin_holder, NULL, &sh));
    CHECK_OK(weft_spawn(&g, pin_switcher, NULL, NULL));
    /* h parks in weft_offload first (FIFO), then g tries its switch. */
    while (!atomic_load(&pin_switching))
        CHECK_OK(weft_yield());
    CHECK_OK(weft_yield());
    CHECK_OK(weft_event_set(&pin_go));
    CHECK_OK(weft_join(h, weft_after(30 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(g, weft_after(30 * WEFT_SEC), NULL));
}
WEFT_TEST(shared_pin_defers_switch) { run_plain_in_thread(body_pin_switch); }

/* The timer structure itself (white box, coro/timer.c): timers set in deadline order go
 * to the lane, the others to the heap; whatever the mix, removals included, the next
 * deadline is always the earliest one left, and expiring fires exactly those due, in
 * (deadline, arrival) order. A model (plain arrays) checks every step. */
#include "coro/sched.h"
WEFT_TEST(timer_lane_and_heap) {
    enum { N = 2000 };
    weft__sched *s = calloc(1, sizeof *s);
    weft__coro *co = calloc(N, sizeof *co);
    int64_t dl[N];
    bool live[N];
    CHECK(s && co);
    for (int i = 0; i < N; i++)
        co[i].flags = WEFT__F_STARTED; /* before its start a coroutine's timer is a heap one */
    uint64_t rng = 12345;
    int lane = 0, heap = 0;
    for (int round = 0; round < 4; round++) {
        memset(live, 0, sizeof live);
        int64_t base = 1000000 * (round + 1);
        for (int i = 0; i < N; i++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            /* mostly rising deadlines (the lane), some earlier ones (the heap), ties */
            int64_t d = round == 0 ? base + i : round == 1 ? base + (int64_t)(rng >> 54)
                        : base + i / 3 - ((rng >> 60) == 0 ? 500 : 0);
            CHECK_OK(weft__timer_add(s, &co[i], d));
            dl[i] = d;
            live[i] = true;
            if (co[i].heap_idx == WEFT__TIMER_LANE)
                lane++;
            else
                heap++;
            if ((rng >> 40) % 5 == 0) { /* cancel an earlier one */
                int j = (int)((rng >> 20) % (uint64_t)(i + 1));
                weft__timer_remove(s, &co[j]);
                live[j] = false;
                CHECK_EQ(co[j].heap_idx, 0);
            }
            int64_t min = -1;
            for (int k = 0; k <= i; k++)
                if (live[k] && (min < 0 || dl[k] < min))
                    min = dl[k];
            CHECK_EQ(weft__timer_next(s), min);
        }
        /* expire in steps: exactly the due ones go, in order of deadline */
        for (int64_t t = base - 600; weft__timer_any(s); t += 97) {
            weft__timer_expire(s, t);
            for (int k = 0; k < N; k++) {
                if (live[k] && dl[k] <= t) {
                    CHECK_EQ(co[k].heap_idx, 0);
                    live[k] = false;
                } else if (live[k]) {
                    CHECK_NE(co[k].heap_idx, 0);
                }
            }
            int64_t next = weft__timer_next(s);
            CHECK(next < 0 || next > t);
        }
        for (int k = 0; k < N; k++)
            CHECK(!live[k]);
    }
    CHECK_GT(lane, N);     /* both places were used */
    CHECK_GT(heap, N / 4);
    weft__free(s->heap);
    free(co);
    free(s);
}

WEFT_MAIN()
