/* gevent and greenlet parity for coroutines: weft_spawn_later, links (link, link_exception,
 * link_value, unlink), weft_killall, per-coroutine keys (gevent.local), weft_throw and
 * parents (greenlet's throw() and parent), and AsyncResult on hand-made futures.
 *
 * Bodies run on a fresh pthread (run_in_thread): when it exits its scheduler and its
 * thread slots are gone, so the counting allocator must show nothing left. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define P(v) ((void *)(intptr_t)(v))
#define I(p) ((intptr_t)(p))

static void *ret_arg(void *arg) {
    return arg;
}

/* Logs "run:<arg>" and returns arg. */
static void *log_run(void *arg) {
    logf_("run:%ld", (long)I(arg));
    return arg;
}

/* Sleeps an hour (until cancelled), then returns arg. */
static void *sleep_long(void *arg) {
    int r = weft_sleep(3600 * WEFT_SEC);
    logf_("woke:%ld:%d", (long)I(arg), r);
    return arg;
}

static void log_link(weft_coro c, void *result, int status, void *ud);

/* ============================================================ spawn_later */

static void body_later_order(void) {
    log_reset();
    weft_coro a, b, c;
    int64_t t0 = weft_now();
    CHECK_OK(weft_spawn_later(&a, weft_after(40 * WEFT_MSEC), log_run, P(1), NULL));
    CHECK_OK(weft_spawn_later(&b, weft_after(20 * WEFT_MSEC), log_run, P(2), NULL));
    CHECK_OK(weft_spawn(&c, log_run, P(3), NULL));
    CHECK_EQ(weft_coro_count(), 3);
    CHECK_EQ(weft_coro_done(a), 0);
    void *res = NULL;
    CHECK_OK(weft_join(a, WEFT_FOREVER, &res));
    CHECK_EQ(I(res), 1);
    CHECK_GE(weft_now() - t0, 40 * WEFT_MSEC);
    CHECK_OK(weft_join(b, WEFT_FOREVER, &res));
    CHECK_EQ(I(res), 2);
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "run:3 run:2 run:1");
    CHECK_EQ(weft_coro_count(), 0);
}
WEFT_TEST(later_order) {
    run_in_thread(body_later_order);
}

static void body_later_cancel_before_start(void) {
    log_reset();
    weft_coro c;
    weft_coro_opts o = {.name = "later", .stack_mode = WEFT_STACK_SHARED};
    CHECK_OK(weft_spawn_later(&c, weft_after(3600 * WEFT_SEC), log_run, P(5), &o));
    CHECK_STR_EQ(weft_coro_name(c), "later");
    /* Not started: a join with a deadline times out and leaves it joinable. */
    CHECK_ERR(weft_join(c, weft_after(WEFT_MSEC), NULL), -ETIMEDOUT);
    CHECK_ERR(weft_switch(c, NULL, NULL), -EBUSY); /* waiting to start, not in a switch */
    CHECK_OK(weft_cancel(c));
    void *res = P(99);
    int64_t t0 = weft_now();
    CHECK_OK(weft_join(c, WEFT_FOREVER, &res));
    CHECK_LT(weft_now() - t0, 60 * WEFT_SEC);
    CHECK_PTR_EQ(res, NULL);
    CHECK_STR_EQ(logbuf, ""); /* fn never ran */
    CHECK_EQ(weft_coro_count(), 0);
}
WEFT_TEST(later_cancel_before_start) {
    run_in_thread(body_later_cancel_before_start);
}

static void body_later_past_and_detached(void) {
    log_reset();
    weft_coro a, b;
    /* A start already past is a plain spawn: ready at once, in spawn order. */
    CHECK_OK(weft_spawn_later(&a, WEFT_NOWAIT, log_run, P(1), NULL));
    CHECK_OK(weft_spawn_later(&b, -5, log_run, P(2), NULL));
    weft_coro_opts det = {.detached = 1};
    CHECK_OK(weft_spawn_later(NULL, weft_after(WEFT_MSEC), log_run, P(3), &det));
    CHECK_OK(weft_yield());
    CHECK_EQ(weft_coro_done(a), 1);
    CHECK_EQ(weft_coro_done(b), 1);
    CHECK_OK(weft_joinall((weft_coro[]){a, b}, 2, WEFT_FOREVER, NULL));
    while (weft_coro_count())
        CHECK_OK(weft_sleep(WEFT_MSEC));
    CHECK_STR_EQ(logbuf, "run:1 run:2 run:3");
}
WEFT_TEST(later_past_and_detached) {
    run_in_thread(body_later_past_and_detached);
}

/* A coroutine still waiting to start when its thread exits is cancelled (its links run)
 * and freed. */
static void *later_thread_exit_fn(void *arg) {
    (void)arg;
    weft_coro c;
    CHECK_OK(weft_spawn_later(&c, weft_after(3600 * WEFT_SEC), log_run, P(1), NULL));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, log_link, "exit", NULL));
    CHECK_EQ(weft_coro_count(), 1);
    return NULL;
}
WEFT_TEST(later_thread_exit) {
    log_reset();
    CHECK_OK(test_alloc_install());
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, later_thread_exit_fn, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_NO_LEAKS();
    CHECK_STR_EQ(logbuf, "exit:0:-125:done=0");
}

static void body_later_errors(void) {
    weft_coro c;
    CHECK_ERR(weft_spawn_later(&c, WEFT_FOREVER, ret_arg, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_spawn_later(&c, weft_after(WEFT_SEC), NULL, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_spawn_later(NULL, weft_after(WEFT_SEC), ret_arg, NULL, NULL), -EINVAL);
    weft_coro_opts sus = {.suspended = 1};
    CHECK_ERR(weft_spawn_later(&c, weft_after(WEFT_SEC), ret_arg, NULL, &sus), -EINVAL);
    CHECK_ERR(weft_spawn_later(&c, WEFT_NOWAIT, ret_arg, NULL, &sus), -EINVAL);
    weft_coro_opts big = {.stack_size = SIZE_MAX};
    CHECK_ERR(weft_spawn_later(&c, weft_after(WEFT_SEC), ret_arg, NULL, &big), -EINVAL);
    /* Out of memory for the timer heap (its first 64 slots come with the scheduler;
     * timers set before a coroutine's start are heap ones): the spawn fails, nothing
     * is left behind. */
    (void)weft_self();
    enum { FIRST = 64 };
    weft_coro held[FIRST];
    for (int i = 0; i < FIRST; i++)
        CHECK_OK(weft_spawn_later(&held[i], weft_after(3600 * WEFT_SEC), ret_arg, NULL, NULL));
    test_alloc_fail_after(0);
    CHECK_ERR(weft_spawn_later(&c, weft_after(WEFT_SEC), ret_arg, NULL, NULL), -ENOMEM);
    test_alloc_fail_after(-1);
    CHECK_EQ(weft_coro_count(), FIRST);
    for (int i = 0; i < FIRST; i++) {
        CHECK_OK(weft_cancel(held[i]));
        CHECK_OK(weft_join(held[i], weft_after(10 * WEFT_SEC), NULL));
    }
    CHECK_EQ(weft_coro_count(), 0);
    CHECK_OK(weft_spawn_later(&c, weft_after(WEFT_MSEC), ret_arg, P(4), NULL));
    void *res = NULL;
    CHECK_OK(weft_join(c, WEFT_FOREVER, &res));
    CHECK_EQ(I(res), 4);
}
WEFT_TEST(later_errors) {
    run_in_thread(body_later_errors);
}

/* ================================================================== links */

static void log_link(weft_coro c, void *result, int status, void *ud) {
    logf_("%s:%ld:%d:done=%d", (const char *)ud, (long)I(result), status, weft_coro_done(c));
}

static void body_link_order_success(void) {
    log_reset();
    weft_coro c;
    CHECK_OK(weft_spawn(&c, ret_arg, P(5), NULL));
    uint64_t id1 = 0, id2 = 0, id3 = 0;
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, log_link, "all", &id1));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_FAILURE, log_link, "fail", &id2));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_SUCCESS, log_link, "value", &id3));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, log_link, "all2", NULL));
    CHECK_NE(id1, 0);
    CHECK_NE(id1, id2);
    CHECK_NE(id2, id3);
    void *res = NULL;
    CHECK_OK(weft_join(c, WEFT_FOREVER, &res));
    logf_("joined:%ld", (long)I(res));
    /* In link order, before the coroutine counts as done and before the joiner resumes. */
    CHECK_STR_EQ(logbuf, "all:5:0:done=0 value:5:0:done=0 all2:5:0:done=0 joined:5");
}
WEFT_TEST(link_order_success) {
    run_in_thread(body_link_order_success);
}

static void body_link_failure(void) {
    log_reset();
    weft_coro c;
    CHECK_OK(weft_spawn(&c, sleep_long, P(6), NULL));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_SUCCESS, log_link, "value", NULL));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_FAILURE, log_link, "fail", NULL));
    CHECK_OK(weft_yield()); /* it sleeps */
    CHECK_OK(weft_cancel(c));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    /* Cancelled while running: a failure, whatever it returned. */
    CHECK_STR_EQ(logbuf, "woke:6:-125 fail:6:-125:done=0");

    /* Cancelled before it started: fn never ran, result NULL. */
    log_reset();
    CHECK_OK(weft_spawn(&c, log_run, P(7), NULL));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, log_link, "all", NULL));
    CHECK_OK(weft_cancel(c));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "all:0:-125:done=0");
}
WEFT_TEST(link_failure) {
    run_in_thread(body_link_failure);
}

static void body_link_unlink_and_finished(void) {
    log_reset();
    weft_coro c;
    CHECK_OK(weft_spawn(&c, ret_arg, P(8), NULL));
    uint64_t id1, id2;
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, log_link, "one", &id1));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, log_link, "two", &id2));
    CHECK_OK(weft_coro_unlink(c, id1));
    CHECK_ERR(weft_coro_unlink(c, id1), -ENOENT);
    CHECK_ERR(weft_coro_unlink(c, 0), -ENOENT);
    CHECK_ERR(weft_coro_unlink(c, id2 + 1000), -ENOENT);
    CHECK_OK(weft_yield()); /* it finishes: "two" runs */
    CHECK_EQ(weft_coro_done(c), 1);
    CHECK_STR_EQ(logbuf, "two:8:0:done=0");
    CHECK_ERR(weft_coro_unlink(c, id2), -ENOENT); /* it ran */
    /* Linking a finished coroutine runs the callback at once, in the caller. */
    uint64_t id3 = 77;
    CHECK_OK(weft_coro_link(c, WEFT_LINK_SUCCESS, log_link, "late", &id3));
    CHECK_EQ(id3, 0);
    CHECK_OK(weft_coro_link(c, WEFT_LINK_FAILURE, log_link, "no", NULL));
    CHECK_STR_EQ(logbuf, "two:8:0:done=0 late:8:0:done=1");
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    /* Links not run are freed with the coroutine (leak check at thread exit). */
    CHECK_OK(weft_spawn(&c, ret_arg, NULL, NULL));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_FAILURE, log_link, "never", NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "two:8:0:done=0 late:8:0:done=1");
}
WEFT_TEST(link_unlink_and_finished) {
    run_in_thread(body_link_unlink_and_finished);
}

/* A callback that blocks, links another callback, unlinks a later one and detaches
 * the coroutine: all in the finishing coroutine's context. */
static weft_coro g_c;
static uint64_t g_id_victim;

static void cb_busy(weft_coro c, void *result, int status, void *ud) {
    (void)ud;
    CHECK(weft_coro_equal(c, weft_self()));
    CHECK_EQ(weft_sleep(WEFT_MSEC), 0);
    CHECK_OK(weft_coro_unlink(c, g_id_victim));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, log_link, "added", NULL));
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), -EDEADLK);
    CHECK_OK(weft_detach(c));
    logf_("busy:%ld:%d", (long)I(result), status);
}

static void body_link_callback_acts(void) {
    log_reset();
    CHECK_OK(weft_spawn(&g_c, ret_arg, P(9), NULL));
    CHECK_OK(weft_coro_link(g_c, WEFT_LINK_ALL, cb_busy, NULL, NULL));
    CHECK_OK(weft_coro_link(g_c, WEFT_LINK_ALL, log_link, "victim", &g_id_victim));
    CHECK_OK(weft_coro_link(g_c, WEFT_LINK_ALL, log_link, "last", NULL));
    while (weft_coro_count())
        CHECK_OK(weft_sleep(WEFT_MSEC));
    CHECK_STR_EQ(logbuf, "busy:9:0 last:9:0:done=0 added:9:0:done=0");
    CHECK_ERR(weft_coro_done(g_c), -ESRCH); /* detached in its callback: released */
}
WEFT_TEST(link_callback_acts) {
    run_in_thread(body_link_callback_acts);
}

/* A joiner that waits while a callback blocks resumes only after every callback ran. */
static void cb_sleeps(weft_coro c, void *result, int status, void *ud) {
    (void)c, (void)status, (void)ud;
    logf_("cb-start:%ld", (long)I(result));
    CHECK_OK(weft_sleep(2 * WEFT_MSEC));
    logf_("cb-end");
}

static void body_link_join_waits(void) {
    log_reset();
    weft_coro c;
    CHECK_OK(weft_spawn(&c, ret_arg, P(3), NULL));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_SUCCESS, cb_sleeps, NULL, NULL));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, log_link, "after", NULL));
    /* A join with a deadline shorter than the callback's sleep times out: not done yet. */
    CHECK_OK(weft_yield());
    CHECK_STR_EQ(logbuf, "cb-start:3");
    CHECK_ERR(weft_join(c, WEFT_NOWAIT, NULL), -ETIMEDOUT);
    void *res = NULL;
    CHECK_OK(weft_join(c, WEFT_FOREVER, &res));
    CHECK_EQ(I(res), 3);
    logf_("joined");
    CHECK_STR_EQ(logbuf, "cb-start:3 cb-end after:3:0:done=0 joined");
}
WEFT_TEST(link_join_waits) {
    run_in_thread(body_link_join_waits);
}

static void *spawn_in_thread(void *arg) {
    weft_coro *out = arg;
    CHECK_OK(weft_spawn(out, ret_arg, NULL, NULL));
    CHECK_OK(weft_join(*out, WEFT_FOREVER, NULL));
    return NULL;
}

static weft_coro g_main;
static void *link_main(void *arg) {
    (void)arg;
    CHECK_ERR(weft_coro_link(g_main, WEFT_LINK_ALL, log_link, "", NULL), -EINVAL);
    return NULL;
}

static void body_link_errors(void) {
    log_reset();
    weft_coro c;
    CHECK_OK(weft_spawn(&c, sleep_long, NULL, NULL));
    CHECK_ERR(weft_coro_link(c, WEFT_LINK_ALL, NULL, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_coro_link(c, 3, log_link, "", NULL), -EINVAL);
    CHECK_ERR(weft_coro_link(c, -1, log_link, "", NULL), -EINVAL);
    CHECK_ERR(weft_coro_link(weft_self(), WEFT_LINK_ALL, log_link, "", NULL), -EINVAL);
    g_main = weft_self();
    weft_coro m;
    CHECK_OK(weft_spawn(&m, link_main, NULL, NULL));
    CHECK_OK(weft_join(m, WEFT_FOREVER, NULL));
    weft_coro zero = {0};
    CHECK_ERR(weft_coro_link(zero, WEFT_LINK_ALL, log_link, "", NULL), -ESRCH);
    CHECK_ERR(weft_coro_unlink(zero, 1), -ESRCH);
    test_alloc_fail_after(0);
    CHECK_ERR(weft_coro_link(c, WEFT_LINK_ALL, log_link, "", NULL), -ENOMEM);
    test_alloc_fail_after(-1);
    CHECK_OK(weft_cancel(c));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "woke:0:-125"); /* no link was left to run */
    CHECK_ERR(weft_coro_link(c, WEFT_LINK_ALL, log_link, "", NULL), -ESRCH); /* joined */
    /* Another thread's coroutine: -EXDEV (its handle is stale by then: the thread
     * joined it, so check while it lives via a thread that keeps it). */
    weft_coro other;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, spawn_in_thread, &other), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_ERR(weft_coro_link(other, WEFT_LINK_ALL, log_link, "", NULL), -ESRCH);
}
WEFT_TEST(link_errors) {
    run_in_thread(body_link_errors);
}

/* -EXDEV: a live coroutine of another thread. */
static weft_coro g_remote;
static weft_event g_made, g_release;
static void *remote_thread(void *arg) {
    (void)arg;
    CHECK_OK(weft_spawn(&g_remote, sleep_long, NULL, NULL));
    CHECK_OK(weft_event_set(&g_made));
    CHECK_OK(weft_event_wait(&g_release, WEFT_FOREVER));
    CHECK_OK(weft_cancel(g_remote));
    CHECK_OK(weft_join(g_remote, WEFT_FOREVER, NULL));
    return NULL;
}

WEFT_TEST(other_thread_exdev) {
    CHECK_OK(weft_event_init(&g_made));
    CHECK_OK(weft_event_init(&g_release));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, remote_thread, NULL), 0);
    CHECK_OK(weft_event_wait(&g_made, weft_after(30 * WEFT_SEC)));
    CHECK_ERR(weft_coro_link(g_remote, WEFT_LINK_ALL, log_link, "", NULL), -EXDEV);
    CHECK_ERR(weft_coro_unlink(g_remote, 1), -EXDEV);
    CHECK_ERR(weft_killall(&g_remote, 1, 1, WEFT_FOREVER), -EXDEV);
    CHECK_ERR(weft_throw(g_remote, -EPIPE, NULL), -EXDEV);
    weft_coro p;
    CHECK_ERR(weft_coro_parent(g_remote, &p), -EXDEV);
    CHECK_ERR(weft_coro_set_parent(g_remote, weft_self()), -EXDEV);
    CHECK_ERR(weft_coro_set_parent(weft_self(), g_remote), -EXDEV);
    CHECK_OK(weft_event_set(&g_release));
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_OK(weft_event_destroy(&g_made));
    CHECK_OK(weft_event_destroy(&g_release));
}

/* ================================================================ killall */

static void body_killall_block(void) {
    log_reset();
    weft_coro cs[3];
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_spawn(&cs[i], sleep_long, P(i), NULL));
    CHECK_OK(weft_yield()); /* all three sleep */
    CHECK_OK(weft_coro_link(cs[1], WEFT_LINK_FAILURE, log_link, "fail1", NULL));
    CHECK_OK(weft_killall(cs, 3, 1, weft_after(30 * WEFT_SEC)));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(weft_coro_done(cs[i]), 1);
    CHECK_STR_EQ(logbuf, "woke:0:-125 woke:1:-125 fail1:1:-125:done=0 woke:2:-125");
    void *res[3];
    CHECK_OK(weft_joinall(cs, 3, WEFT_FOREVER, res)); /* the handles stayed valid */
    CHECK_EQ(I(res[2]), 2);
    /* Finished ones and an empty set are fine; so are repeated handles. */
    CHECK_OK(weft_killall(NULL, 0, 1, WEFT_FOREVER));
    CHECK_OK(weft_spawn(&cs[0], ret_arg, P(1), NULL));
    CHECK_OK(weft_spawn(&cs[1], sleep_long, P(2), NULL));
    CHECK_OK(weft_yield());
    CHECK_EQ(weft_coro_done(cs[0]), 1);
    weft_coro dup[3] = {cs[0], cs[1], cs[1]};
    CHECK_OK(weft_killall(dup, 3, 1, WEFT_FOREVER));
    CHECK_OK(weft_joinall(cs, 2, WEFT_FOREVER, res));
    CHECK_EQ(I(res[0]), 1);
    CHECK_EQ(I(res[1]), 2);
}
WEFT_TEST(killall_block) {
    run_in_thread(body_killall_block);
}

static void *join_logged(void *arg) {
    weft_coro *c = arg;
    void *res = NULL;
    int r = weft_join(*c, WEFT_FOREVER, &res);
    logf_("joiner:%d:%ld", r, (long)I(res));
    return NULL;
}

static void body_killall_nowait_and_joiner(void) {
    log_reset();
    weft_coro cs[2];
    weft_coro_opts det = {.detached = 1};
    CHECK_OK(weft_spawn(&cs[0], sleep_long, P(1), NULL));
    CHECK_OK(weft_spawn(&cs[1], sleep_long, P(2), &det)); /* handle kept for killall */
    weft_coro j;
    CHECK_OK(weft_spawn(&j, join_logged, &cs[0], NULL));
    CHECK_OK(weft_yield()); /* both sleep, the joiner waits on cs[0] */
    /* block 0: cancelled, not waited for. */
    CHECK_OK(weft_killall(cs, 2, 0, WEFT_FOREVER));
    CHECK_EQ(weft_coro_done(cs[0]), 0);
    CHECK_STR_EQ(logbuf, "");
    /* A deadline already past: -ETIMEDOUT while they have not run yet. */
    CHECK_ERR(weft_killall(cs, 2, 1, WEFT_NOWAIT), -ETIMEDOUT);
    /* Then a real wait: the detached one is released once done, the joiner resumes. */
    CHECK_OK(weft_killall(cs, 2, 1, weft_after(30 * WEFT_SEC)));
    CHECK_ERR(weft_coro_done(cs[1]), -ESRCH);
    CHECK_OK(weft_join(j, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "woke:1:-125 woke:2:-125 joiner:0:1");
}
WEFT_TEST(killall_nowait_and_joiner) {
    run_in_thread(body_killall_nowait_and_joiner);
}

static weft_coro g_set[2];
static void *killall_self(void *arg) {
    (void)arg;
    g_set[1] = weft_self();
    CHECK_ERR(weft_killall(g_set, 2, 1, WEFT_FOREVER), -EDEADLK);
    weft_coro with_main[2] = {g_set[0], g_main};
    CHECK_ERR(weft_killall(with_main, 2, 1, WEFT_FOREVER), -EINVAL);
    CHECK_EQ(weft_coro_done(g_set[0]), 0);
    CHECK_EQ(weft_cancelled(), 0);
    return NULL;
}

static void *killall_cancelled(void *arg) {
    weft_coro *victim = arg;
    CHECK_OK(weft_cancel(weft_self()));
    CHECK_ERR(weft_killall(victim, 1, 1, WEFT_FOREVER), -ECANCELED);
    return NULL;
}

static void body_killall_errors(void) {
    log_reset();
    weft_coro a, b;
    CHECK_OK(weft_spawn(&a, sleep_long, P(1), NULL));
    CHECK_OK(weft_spawn(&b, ret_arg, NULL, NULL));
    CHECK_OK(weft_join(b, WEFT_FOREVER, NULL)); /* b is stale now */
    CHECK_ERR(weft_killall(NULL, 1, 1, WEFT_FOREVER), -EINVAL);
    CHECK_ERR(weft_killall(&a, 1, 2, WEFT_FOREVER), -EINVAL);
    CHECK_ERR(weft_killall(&a, 1, -1, WEFT_FOREVER), -EINVAL);
    weft_coro ab[2] = {a, b};
    CHECK_ERR(weft_killall(ab, 2, 1, WEFT_FOREVER), -ESRCH);
    weft_coro zero[1] = {{0}};
    CHECK_ERR(weft_killall(zero, 1, 0, WEFT_FOREVER), -ESRCH);
    g_main = weft_self();
    CHECK_ERR(weft_killall(&g_main, 1, 1, WEFT_FOREVER), -EDEADLK);
    g_set[0] = a;
    weft_coro k;
    CHECK_OK(weft_spawn(&k, killall_self, NULL, NULL));
    CHECK_OK(weft_join(k, WEFT_FOREVER, NULL));
    /* Nothing was cancelled by the failed calls: a still sleeps. */
    CHECK_EQ(weft_coro_done(a), 0);
    CHECK_STR_EQ(logbuf, "");
    /* The caller cancelled: every target is cancelled, the wait fails. */
    CHECK_OK(weft_spawn(&k, killall_cancelled, &a, NULL));
    CHECK_OK(weft_join(k, WEFT_FOREVER, NULL));
    /* No memory to wait. */
    weft_coro c;
    CHECK_OK(weft_spawn(&c, sleep_long, P(2), NULL));
    CHECK_OK(weft_yield());
    test_alloc_fail_after(0);
    CHECK_ERR(weft_killall(&c, 1, 1, WEFT_FOREVER), -ENOMEM);
    test_alloc_fail_after(-1);
    CHECK_OK(weft_joinall((weft_coro[]){a, c}, 2, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "woke:1:-125 woke:2:-125");
}
WEFT_TEST(killall_errors) {
    run_in_thread(body_killall_errors);
}

/* =================================================== per-coroutine keys */

static weft_coro_key g_key, g_key2;
static int g_dtor_calls;

static void dtor_log(void *v) {
    g_dtor_calls++;
    logf_("dtor:%ld:self=%d", (long)I(v), weft_coro_equal(weft_self(), g_c));
}

static void *key_user(void *arg) {
    CHECK_PTR_EQ(weft_coro_getspecific(g_key), NULL);
    CHECK_OK(weft_coro_setspecific(g_key, arg));
    CHECK_OK(weft_yield()); /* the others set theirs meanwhile */
    CHECK_PTR_EQ(weft_coro_getspecific(g_key), arg);
    return weft_coro_getspecific(g_key);
}

static void link_reads_key(weft_coro c, void *result, int status, void *ud) {
    (void)c, (void)result, (void)status, (void)ud;
    logf_("link:%ld", (long)I(weft_coro_getspecific(g_key)));
}

static void body_keys_per_coroutine(void) {
    log_reset();
    CHECK_OK(weft_coro_key_create(&g_key, dtor_log));
    CHECK_OK(weft_coro_setspecific(g_key, P(100))); /* the main coroutine's (the thread's) */
    weft_coro cs[3];
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_spawn(&cs[i], key_user, P(i + 1), NULL));
    g_c = cs[1];
    CHECK_OK(weft_coro_link(cs[1], WEFT_LINK_ALL, link_reads_key, NULL, NULL));
    void *res[3];
    CHECK_OK(weft_joinall(cs, 3, WEFT_FOREVER, res));
    logf_("joined");
    for (int i = 0; i < 3; i++)
        CHECK_EQ(I(res[i]), i + 1);
    /* Each destructor ran in its own coroutine, after its links, before the join. */
    CHECK_STR_EQ(logbuf, "dtor:1:self=0 link:2 dtor:2:self=1 dtor:3:self=0 joined");
    CHECK_PTR_EQ(weft_coro_getspecific(g_key), P(100));
    CHECK_OK(weft_coro_setspecific(g_key, NULL));
    CHECK_OK(weft_coro_key_delete(g_key));
}
WEFT_TEST(keys_per_coroutine) {
    run_in_thread(body_keys_per_coroutine);
}

/* Destructor rounds: one that sets its value again once is called twice; one that
 * always does is called 4 times, then the value is dropped. */
static int g_again;
static void dtor_again(void *v) {
    g_dtor_calls++;
    if (g_again-- > 0)
        CHECK_OK(weft_coro_setspecific(g_key2, v));
}

static void *set_key2(void *arg) {
    CHECK_OK(weft_coro_setspecific(g_key2, arg));
    return NULL;
}

static void body_keys_rounds(void) {
    CHECK_OK(weft_coro_key_create(&g_key2, dtor_again));
    weft_coro c;
    g_dtor_calls = 0;
    g_again = 1;
    CHECK_OK(weft_spawn(&c, set_key2, P(1), NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_EQ(g_dtor_calls, 2);
    g_dtor_calls = 0;
    g_again = 1000;
    CHECK_OK(weft_spawn(&c, set_key2, P(1), NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_EQ(g_dtor_calls, 4);
    /* A NULL value has no destructor call; setting NULL allocates nothing. */
    g_dtor_calls = 0;
    CHECK_OK(weft_spawn(&c, set_key2, NULL, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_EQ(g_dtor_calls, 0);
    CHECK_OK(weft_coro_key_delete(g_key2));
}
WEFT_TEST(keys_rounds) {
    run_in_thread(body_keys_rounds);
}

/* The thread's slots: shared by a thread without a scheduler and its main coroutine,
 * destroyed at thread exit. */
static void thread_dtor(void *v) {
    g_dtor_calls++;
    logf_("tdtor:%ld", (long)I(v));
}

static void body_keys_thread(void) {
    CHECK_OK(weft_coro_setspecific(g_key, P(11))); /* no scheduler yet */
    (void)weft_self();                             /* now one: main coroutine */
    CHECK_PTR_EQ(weft_coro_getspecific(g_key), P(11));
    weft_coro c;
    CHECK_OK(weft_spawn(&c, ret_arg, NULL, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_EQ(g_dtor_calls, 0);
}

WEFT_TEST(keys_thread) {
    log_reset();
    CHECK_OK(weft_coro_key_create(&g_key, thread_dtor));
    g_dtor_calls = 0;
    run_in_thread(body_keys_thread);
    CHECK_EQ(g_dtor_calls, 1);
    CHECK_STR_EQ(logbuf, "tdtor:11");
    CHECK_PTR_EQ(weft_coro_getspecific(g_key), NULL); /* this thread's: never set */
    CHECK_OK(weft_coro_key_delete(g_key));
}

static void body_keys_delete_and_errors(void) {
    g_dtor_calls = 0;
    weft_coro_key k, k2, zero = {0, 0};
    CHECK_ERR(weft_coro_key_create(NULL, NULL), -EINVAL);
    CHECK_PTR_EQ(weft_coro_getspecific(zero), NULL);
    CHECK_ERR(weft_coro_setspecific(zero, P(1)), -EINVAL);
    CHECK_ERR(weft_coro_key_delete(zero), -EINVAL);
    weft_coro_key garbage = {WEFT_CORO_KEYS_MAX + 5, 1};
    CHECK_PTR_EQ(weft_coro_getspecific(garbage), NULL);
    CHECK_ERR(weft_coro_setspecific(garbage, P(1)), -EINVAL);
    CHECK_ERR(weft_coro_key_delete(garbage), -EINVAL);
    CHECK_OK(weft_coro_key_create(&k, dtor_log));
    CHECK_OK(weft_coro_setspecific(k, P(5)));
    CHECK_OK(weft_coro_key_delete(k));
    CHECK_ERR(weft_coro_key_delete(k), -EINVAL);
    CHECK_PTR_EQ(weft_coro_getspecific(k), NULL);
    CHECK_ERR(weft_coro_setspecific(k, P(6)), -EINVAL);
    /* The index is reused by a new key, which does not see the old value. */
    CHECK_OK(weft_coro_key_create(&k2, NULL));
    CHECK_EQ(k2.idx_, k.idx_);
    CHECK_NE(k2.gen_, k.gen_);
    CHECK_PTR_EQ(weft_coro_getspecific(k2), NULL);
    CHECK_PTR_EQ(weft_coro_getspecific(k), NULL);
    /* Every key taken: -EAGAIN; one freed: a create succeeds again. */
    static weft_coro_key all[WEFT_CORO_KEYS_MAX];
    int made = 0;
    for (; made < WEFT_CORO_KEYS_MAX; made++) {
        int r = weft_coro_key_create(&all[made], NULL);
        if (r == -EAGAIN)
            break;
        CHECK_OK(r);
    }
    CHECK_EQ(made, WEFT_CORO_KEYS_MAX - 1); /* k2 holds one */
    CHECK_ERR(weft_coro_key_create(&k, NULL), -EAGAIN);
    /* The highest index: the slots grow to it. */
    CHECK_OK(weft_coro_setspecific(all[made - 1], P(9)));
    CHECK_PTR_EQ(weft_coro_getspecific(all[made - 1]), P(9));
    CHECK_OK(weft_coro_setspecific(all[made - 1], NULL));
    CHECK_OK(weft_coro_key_delete(all[0]));
    CHECK_OK(weft_coro_key_create(&k, NULL));
    CHECK_OK(weft_coro_key_delete(k));
    for (int i = 1; i < made; i++)
        CHECK_OK(weft_coro_key_delete(all[i]));
    /* The thread's slots cover every index by now: setting allocates nothing. */
    test_alloc_fail_after(0);
    CHECK_OK(weft_coro_setspecific(k2, P(3)));
    test_alloc_fail_after(-1);
    CHECK_PTR_EQ(weft_coro_getspecific(k2), P(3));
    CHECK_OK(weft_coro_setspecific(k2, NULL));
    CHECK_OK(weft_coro_key_delete(k2));
}
WEFT_TEST(keys_delete_and_errors) {
    run_in_thread(body_keys_delete_and_errors);
    CHECK_EQ(g_dtor_calls, 0); /* k was deleted with its value: no destructor at exit */
}

static void *set_key2_nomem(void *arg) {
    test_alloc_fail_after(0);
    int r = weft_coro_setspecific(g_key2, arg);
    test_alloc_fail_after(-1);
    CHECK_ERR(r, -ENOMEM);
    CHECK_PTR_EQ(weft_coro_getspecific(g_key2), NULL);
    CHECK_OK(weft_coro_setspecific(g_key2, NULL)); /* nothing to grow for NULL */
    return NULL;
}

static void body_keys_nomem(void) {
    CHECK_OK(weft_coro_key_create(&g_key2, dtor_log));
    weft_coro c;
    CHECK_OK(weft_spawn(&c, set_key2_nomem, P(1), NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_OK(weft_coro_key_delete(g_key2));
}
WEFT_TEST(keys_nomem) {
    run_in_thread(body_keys_nomem);
}

/* ========================================================= throw, parent */

static void *switch_then_return(void *arg) {
    void *got = P(-1);
    int r = weft_switch(g_main, arg, &got);
    logf_("child:%d:%ld", r, (long)I(got));
    return P(r == -EPIPE ? 7 : 8);
}

static void body_throw_suspended_in_switch(void) {
    log_reset();
    g_main = weft_self();
    weft_coro c;
    weft_coro_opts sus = {.suspended = 1};
    CHECK_OK(weft_spawn(&c, switch_then_return, NULL, &sus));
    void *got = NULL;
    CHECK_EQ(weft_switch(c, P(3), &got), 0); /* it switches back with 3 */
    CHECK_EQ(I(got), 3);
    CHECK_ERR(weft_throw(c, 0, NULL), -EINVAL);
    CHECK_ERR(weft_throw(c, 5, NULL), -EINVAL);
    /* Its weft_switch returns -EPIPE; it returns 7 to its parent, the thrower. */
    CHECK_EQ(weft_throw(c, -EPIPE, &got), 1);
    CHECK_EQ(I(got), 7);
    CHECK_STR_EQ(logbuf, "child:-32:0");
    CHECK_ERR(weft_throw(c, -EPIPE, NULL), -ESRCH); /* finished */
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_ERR(weft_throw(c, -EPIPE, NULL), -ESRCH);
    CHECK_ERR(weft_throw(weft_self(), -EPIPE, NULL), -EDEADLK);
    CHECK_OK(weft_spawn(&c, ret_arg, NULL, NULL));
    CHECK_ERR(weft_throw(c, -EPIPE, NULL), -EBUSY); /* ready, not in a switch */
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
}
WEFT_TEST(throw_suspended_in_switch) {
    run_in_thread(body_throw_suspended_in_switch);
}

static void body_throw_unstarted(void) {
    log_reset();
    weft_coro c;
    weft_coro_opts sus = {.suspended = 1};
    CHECK_OK(weft_spawn(&c, log_run, NULL, &sus));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_FAILURE, log_link, "fail", NULL));
    void *got = P(1);
    CHECK_EQ(weft_throw(c, -ECONNRESET, &got), 1); /* it ends at once, back to its parent */
    CHECK_PTR_EQ(got, NULL);
    CHECK_STR_EQ(logbuf, "fail:0:-104:done=0"); /* fn never ran */
    CHECK_EQ(weft_coro_done(c), 1);
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
}
WEFT_TEST(throw_unstarted) {
    run_in_thread(body_throw_unstarted);
}

static weft_coro g_a, g_b;

/* b's body: returns at once. Whoever is its parent and waits in a switch gets 42. */
static void *ret42(void *arg) {
    (void)arg;
    return P(42);
}

/* a's body: waits in a switch to b, b's new parent. */
static void *parent_waits(void *arg) {
    (void)arg;
    void *got = NULL;
    int r = weft_switch(g_b, NULL, &got);
    logf_("a:%d:%ld", r, (long)I(got));
    return NULL;
}

static void body_parent(void) {
    log_reset();
    weft_coro_opts sus = {.suspended = 1};
    CHECK_OK(weft_spawn(&g_a, parent_waits, NULL, &sus));
    CHECK_OK(weft_spawn(&g_b, ret42, NULL, &sus));
    weft_coro p;
    CHECK_OK(weft_coro_parent(g_b, &p));
    CHECK(weft_coro_equal(p, weft_self())); /* its spawner, main */
    CHECK_OK(weft_coro_parent(weft_self(), &p));
    CHECK_EQ(weft_coro_id(p), 0); /* main has none */
    CHECK_ERR(weft_coro_parent(g_b, NULL), -EINVAL);
    /* Cycles: b -> a, then a -> b is refused, and so is a -> a. */
    CHECK_OK(weft_coro_set_parent(g_b, g_a));
    CHECK_ERR(weft_coro_set_parent(g_a, g_b), -EDEADLK);
    CHECK_ERR(weft_coro_set_parent(g_a, g_a), -EDEADLK);
    CHECK_ERR(weft_coro_set_parent(weft_self(), g_a), -EINVAL);
    weft_coro zero = {0};
    CHECK_ERR(weft_coro_set_parent(zero, g_a), -ESRCH);
    CHECK_ERR(weft_coro_set_parent(g_a, zero), -ESRCH);
    CHECK_ERR(weft_coro_parent(zero, &p), -ESRCH);
    CHECK_OK(weft_coro_parent(g_b, &p));
    CHECK(weft_coro_equal(p, g_a));
    /* main starts a, a switches to b, b returns: to a (its parent), not to main. */
    void *got = P(1);
    CHECK_EQ(weft_switch(g_a, NULL, &got), 1); /* a returned to main, its parent */
    CHECK_PTR_EQ(got, NULL);
    CHECK_STR_EQ(logbuf, "a:1:42");
    CHECK_OK(weft_joinall((weft_coro[]){g_a, g_b}, 2, WEFT_FOREVER, NULL));
    /* A released parent reads as none. */
    CHECK_OK(weft_spawn(&g_a, ret_arg, NULL, NULL));
    CHECK_OK(weft_spawn(&g_b, ret_arg, NULL, &sus));
    CHECK_OK(weft_coro_set_parent(g_b, g_a));
    CHECK_OK(weft_join(g_a, WEFT_FOREVER, NULL));
    CHECK_OK(weft_coro_parent(g_b, &p));
    CHECK_EQ(weft_coro_id(p), 0);
    CHECK_OK(weft_coro_set_parent(g_b, weft_self()));
    CHECK_EQ(weft_switch(g_b, P(6), &got), 1);
    CHECK_EQ(I(got), 6);
    CHECK_OK(weft_join(g_b, WEFT_FOREVER, NULL));
}
WEFT_TEST(parent) {
    run_in_thread(body_parent);
}

/* ============================================ AsyncResult on hand-made futures */

static weft_future *g_fut;

/* gevent's AsyncResult.get(): waits and logs what it got. */
static void *getter(void *arg) {
    void *v = NULL;
    int r = weft_future_result(g_fut, WEFT_FOREVER, &v);
    logf_("get%ld:%d:%ld", (long)I(arg), r, (long)I(v));
    return NULL;
}

static void *setter(void *arg) {
    CHECK_EQ(weft_future_done(g_fut), 0); /* ready() */
    CHECK_OK(weft_future_set_result(g_fut, arg));
    logf_("set");
    return NULL;
}

static void body_async_result_coroutines(void) {
    log_reset();
    CHECK_OK(weft_future_create(&g_fut));
    /* get(timeout) before it is set: Timeout, and the result stays pending. */
    CHECK_ERR(weft_future_result(g_fut, weft_after(WEFT_MSEC), NULL), -ETIMEDOUT);
    CHECK_ERR(weft_futures_wait(&g_fut, 1, WEFT_WAIT_ALL, WEFT_NOWAIT), -ETIMEDOUT); /* wait() */
    weft_coro cs[4];
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_spawn(&cs[i], getter, P(i), NULL));
    CHECK_OK(weft_spawn(&cs[3], setter, P(33), NULL));
    CHECK_OK(weft_joinall(cs, 4, weft_after(30 * WEFT_SEC), NULL));
    /* Every waiter woke with the value, after the setter went on (futures wake their
     * waiters newest first; gevent's AsyncResult wakes them in order). */
    CHECK_STR_EQ(logbuf, "set get2:0:33 get1:0:33 get0:0:33");
    CHECK_EQ(weft_future_done(g_fut), 1);
    void *v = NULL;
    CHECK_EQ(weft_future_result(g_fut, WEFT_NOWAIT, &v), 0); /* successful() */
    CHECK_EQ(I(v), 33);
    CHECK_ERR(weft_future_set_result(g_fut, P(1)), -EALREADY);
    CHECK_ERR(weft_future_set_exception(g_fut, -EIO), -EALREADY);
    weft_future_release(g_fut);

    /* set_exception: every get returns the error. */
    log_reset();
    CHECK_OK(weft_future_create(&g_fut));
    CHECK_OK(weft_spawn(&cs[0], getter, P(0), NULL));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_future_set_exception(g_fut, -EIO));
    CHECK_OK(weft_join(cs[0], WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "get0:-5:0");
    CHECK_EQ(weft_future_done(g_fut), 1);
    CHECK_ERR(weft_future_result(g_fut, WEFT_NOWAIT, NULL), -EIO); /* not successful() */
    CHECK_EQ(weft_future_cancelled(g_fut), 0);
    weft_future_release(g_fut);
}
WEFT_TEST(async_result_coroutines) {
    run_in_thread(body_async_result_coroutines);
}

/* Across threads: coroutines of one thread and a plain thread wait, another thread sets. */
static weft_barrier g_bar;
static void *plain_getter(void *arg) {
    (void)arg;
    CHECK_GE(weft_barrier_wait(&g_bar, WEFT_FOREVER), 0);
    void *v = NULL;
    int r = weft_future_result(g_fut, weft_after(30 * WEFT_SEC), &v);
    return P(r < 0 ? r : I(v));
}

static void *coro_thread(void *arg) {
    (void)arg;
    weft_coro cs[2];
    for (int i = 0; i < 2; i++)
        CHECK_OK(weft_spawn(&cs[i], getter, P(i), NULL));
    CHECK_OK(weft_yield());
    CHECK_GE(weft_barrier_wait(&g_bar, WEFT_FOREVER), 0);
    CHECK_OK(weft_joinall(cs, 2, weft_after(30 * WEFT_SEC), NULL));
    return NULL;
}

WEFT_TEST(async_result_threads) {
    log_reset();
    CHECK_OK(weft_future_create(&g_fut));
    CHECK_OK(weft_barrier_init(&g_bar, 3));
    pthread_t t1, t2;
    CHECK_EQ(pthread_create(&t1, NULL, coro_thread, NULL), 0);
    CHECK_EQ(pthread_create(&t2, NULL, plain_getter, NULL), 0);
    CHECK_GE(weft_barrier_wait(&g_bar, WEFT_FOREVER), 0);
    CHECK_OK(weft_future_set_result(g_fut, P(44)));
    void *v = NULL;
    CHECK_EQ(pthread_join(t2, &v), 0);
    CHECK_EQ(I(v), 44);
    CHECK_EQ(pthread_join(t1, NULL), 0);
    CHECK(!strcmp(logbuf, "get0:0:44 get1:0:44") || !strcmp(logbuf, "get1:0:44 get0:0:44"));
    CHECK_OK(weft_barrier_destroy(&g_bar));
    weft_future_release(g_fut);
}

WEFT_MAIN()
