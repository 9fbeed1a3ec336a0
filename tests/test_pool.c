/* Thread pool and futures: submit/result, deadlines, cancel, done-callbacks, waiting on
 * many (ALL/ANY/FIRST_ERROR), as_completed, map, shutdown, offload from coroutines,
 * concurrent submitters, bad input and allocation failure.
 *
 * Cases that use coroutines run their body on a fresh pthread (run_in_thread) so that
 * its scheduler is freed before the leak check. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

/* WEFT_TEST_TIMEOUT(many_threads_submit, 120) */
/* WEFT_TEST_TIMEOUT(stress_result_races, 120) */

/* ------------------------------------------------------------------ helpers */

/* run_plain_in_thread and the ordering log (logf_) come from harness.h. */

/* Task: returns (int)(intptr_t)arg and stores arg + 1000 as its result. */
static int task_value(void *arg, void **result) {
    *result = (void *)((intptr_t)arg + 1000);
    return (int)(intptr_t)arg;
}

static atomic_int ran_count;

static int task_count(void *arg, void **result) {
    (void)arg;
    (void)result;
    atomic_fetch_add(&ran_count, 1);
    return 0;
}

/* Task gated on events: sets g->started, waits for g->go, returns g->status. */
typedef struct {
    weft_event started, go;
    int status;
    const char *name; /* logged when it finishes, if set */
} gate;

static void gate_init(gate *g, int status, const char *name) {
    CHECK_OK(weft_event_init(&g->started));
    CHECK_OK(weft_event_init(&g->go));
    g->status = status;
    g->name = name;
}

static int task_gate(void *arg, void **result) {
    gate *g = arg;
    weft_event_set(&g->started);
    CHECK_OK(weft_event_wait(&g->go, WEFT_FOREVER));
    if (g->name)
        logf_("%s", g->name);
    *result = g;
    return g->status;
}

static weft_pool *make_pool(int n) {
    weft_pool *p = NULL;
    CHECK_OK(weft_pool_create(&p, n));
    CHECK(p != NULL);
    return p;
}

/* ------------------------------------------------------------------ basics */

WEFT_TEST(submit_result) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(2);
    CHECK_EQ(weft_pool_size(p), 2);
    weft_future *fs[16];
    for (intptr_t i = 0; i < 16; i++)
        CHECK_OK(weft_pool_submit(p, task_value, (void *)(i - 8), &fs[i]));
    for (intptr_t i = 0; i < 16; i++) {
        void *res = NULL;
        CHECK_EQ(weft_future_result(fs[i], WEFT_FOREVER, &res), i - 8);
        CHECK_EQ((intptr_t)res, i - 8 + 1000);
        CHECK_EQ(weft_future_done(fs[i]), 1);
        CHECK_EQ(weft_future_cancelled(fs[i]), 0);
        /* Again, with no wait and no result pointer. */
        CHECK_EQ(weft_future_result(fs[i], WEFT_NOWAIT, NULL), i - 8);
        CHECK_EQ(weft_future_cancel(fs[i]), 0);
        weft_future_release(fs[i]);
    }
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(default_size_and_fire_and_forget) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(0);
    CHECK_EQ(weft_pool_size(p), sysconf(_SC_NPROCESSORS_ONLN));
    atomic_store(&ran_count, 0);
    for (int i = 0; i < 1000; i++)
        CHECK_OK(weft_pool_submit(p, task_count, NULL, NULL));
    CHECK_OK(weft_pool_shutdown(p, 1, 0));
    CHECK_EQ(atomic_load(&ran_count), 1000);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(result_deadline) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 7, NULL);
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, task_gate, &g, &f));
    void *res = (void *)1;
    CHECK_ERR(weft_future_result(f, WEFT_NOWAIT, &res), -ETIMEDOUT);
    CHECK(res == NULL);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_future_result(f, weft_after(20 * WEFT_MSEC), &res), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
    CHECK_EQ(weft_future_done(f), 0);
    CHECK_OK(weft_event_set(&g.go));
    CHECK_EQ(weft_future_result(f, weft_after(10 * WEFT_SEC), &res), 7);
    CHECK_PTR_EQ(res, &g);
    weft_future_release(f);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(task_error_status) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, task_value, (void *)(intptr_t)-EIO, &f));
    void *res;
    CHECK_ERR(weft_future_result(f, WEFT_FOREVER, &res), -EIO);
    CHECK_EQ((intptr_t)res, -EIO + 1000); /* a failed task may still leave a result */
    CHECK_EQ(weft_future_cancelled(f), 0);
    weft_future_release(f);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ cancel */

WEFT_TEST(cancel_pending_and_started) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 3, NULL);
    weft_future *a, *b;
    atomic_store(&ran_count, 0);
    CHECK_OK(weft_pool_submit(p, task_gate, &g, &a));
    CHECK_OK(weft_event_wait(&g.started, WEFT_FOREVER)); /* the only worker is busy */
    CHECK_OK(weft_pool_submit(p, task_count, NULL, &b));
    CHECK_EQ(weft_future_cancel(b), 1);
    CHECK_EQ(weft_future_cancel(b), 0); /* already cancelled */
    CHECK_EQ(weft_future_done(b), 1);
    CHECK_EQ(weft_future_cancelled(b), 1);
    void *res = (void *)1;
    CHECK_ERR(weft_future_result(b, WEFT_NOWAIT, &res), -ECANCELED);
    CHECK(res == NULL);
    CHECK_EQ(weft_future_cancel(a), 0); /* running */
    CHECK_OK(weft_event_set(&g.go));
    CHECK_EQ(weft_future_result(a, WEFT_FOREVER, NULL), 3);
    CHECK_EQ(weft_future_cancel(a), 0); /* finished */
    CHECK_EQ(weft_future_cancelled(a), 0);
    CHECK_OK(weft_pool_shutdown(p, 1, 0));
    CHECK_EQ(atomic_load(&ran_count), 0); /* the cancelled task never ran */
    weft_future_release(a);
    weft_future_release(b);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* A waiter parked on a future is woken by its cancellation. */
static weft_future *cancel_target;

static void *waiter_thread(void *arg) {
    (void)arg;
    return (void *)(intptr_t)weft_future_result(cancel_target, WEFT_FOREVER, NULL);
}

WEFT_TEST(cancel_wakes_waiter) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 0, NULL);
    weft_future *a;
    CHECK_OK(weft_pool_submit(p, task_gate, &g, &a));
    CHECK_OK(weft_event_wait(&g.started, WEFT_FOREVER));
    CHECK_OK(weft_pool_submit(p, task_count, NULL, &cancel_target));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, waiter_thread, NULL), 0);
    usleep(20000); /* let it park */
    CHECK_EQ(weft_future_cancel(cancel_target), 1);
    void *r;
    CHECK_EQ(pthread_join(t, &r), 0);
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK_OK(weft_event_set(&g.go));
    weft_future_release(a);
    weft_future_release(cancel_target);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ callbacks */

typedef struct {
    pthread_t thread;
    int status;
    int calls;
    char tag;
    char *order;
} cb_rec;

static void record_cb(weft_future *f, void *ud) {
    cb_rec *r = ud;
    r->thread = pthread_self();
    r->status = weft_future_result(f, WEFT_NOWAIT, NULL);
    r->calls++;
    size_t n = strlen(r->order);
    r->order[n] = r->tag;
    r->order[n + 1] = 0;
}

WEFT_TEST(done_callbacks) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 5, NULL);
    weft_future *f;
    char order[8] = "";
    cb_rec r1 = {0, 0, 0, 'a', order}, r2 = {0, 0, 0, 'b', order}, r3 = {0, 0, 0, 'c', order};
    CHECK_OK(weft_pool_submit(p, task_gate, &g, &f));
    CHECK_OK(weft_future_on_done(f, record_cb, &r1)); /* before completion */
    CHECK_OK(weft_future_on_done(f, record_cb, &r2));
    CHECK_EQ(r1.calls, 0);
    CHECK_OK(weft_event_set(&g.go));
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 5);
    CHECK_OK(weft_pool_shutdown(p, 1, 0)); /* callbacks ran before the worker exited */
    CHECK_EQ(r1.calls, 1);
    CHECK_EQ(r2.calls, 1);
    CHECK_EQ(r1.status, 5);
    CHECK(!pthread_equal(r1.thread, pthread_self())); /* ran on the worker */
    CHECK_STR_EQ(order, "ab");
    CHECK_OK(weft_future_on_done(f, record_cb, &r3)); /* after: at once, here */
    CHECK_EQ(r3.calls, 1);
    CHECK(pthread_equal(r3.thread, pthread_self()));
    CHECK_STR_EQ(order, "abc");
    weft_future_release(f);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(callback_on_cancel_runs_on_canceller) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 0, NULL);
    weft_future *a, *b;
    char order[8] = "";
    cb_rec r = {0, 0, 0, 'x', order};
    CHECK_OK(weft_pool_submit(p, task_gate, &g, &a));
    CHECK_OK(weft_event_wait(&g.started, WEFT_FOREVER));
    CHECK_OK(weft_pool_submit(p, task_count, NULL, &b));
    CHECK_OK(weft_future_on_done(b, record_cb, &r));
    CHECK_EQ(weft_future_cancel(b), 1);
    CHECK_EQ(r.calls, 1);
    CHECK_EQ(r.status, -ECANCELED);
    CHECK(pthread_equal(r.thread, pthread_self()));
    CHECK_OK(weft_event_set(&g.go));
    weft_future_release(a);
    weft_future_release(b);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ waiting on many */

WEFT_TEST(wait_all_any_first_error) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(4);
    gate g[3];
    weft_future *fs[3];
    gate_init(&g[0], 0, NULL);
    gate_init(&g[1], -EIO, NULL);
    gate_init(&g[2], 2, NULL);
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_pool_submit(p, task_gate, &g[i], &fs[i]));
    for (int i = 0; i < 3; i++)
        CHECK_OK(weft_event_wait(&g[i].started, WEFT_FOREVER));

    CHECK_ERR(weft_futures_wait(fs, 3, WEFT_WAIT_ANY, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_futures_wait(fs, 3, WEFT_WAIT_ANY, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_ERR(weft_futures_wait(fs, 3, WEFT_WAIT_ALL, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_ERR(weft_futures_wait(fs, 3, WEFT_WAIT_FIRST_ERROR, WEFT_NOWAIT), -ETIMEDOUT);

    CHECK_OK(weft_event_set(&g[2].go)); /* a success */
    CHECK_EQ(weft_futures_wait(fs, 3, WEFT_WAIT_ANY, WEFT_FOREVER), 1);
    CHECK_EQ(weft_future_done(fs[2]), 1);
    /* A success does not satisfy FIRST_ERROR. */
    CHECK_ERR(weft_futures_wait(fs, 3, WEFT_WAIT_FIRST_ERROR, weft_after(10 * WEFT_MSEC)),
              -ETIMEDOUT);
    CHECK_OK(weft_event_set(&g[1].go)); /* the failure */
    CHECK_EQ(weft_futures_wait(fs, 3, WEFT_WAIT_FIRST_ERROR, WEFT_FOREVER), 2);
    CHECK_ERR(weft_future_result(fs[1], WEFT_NOWAIT, NULL), -EIO);
    CHECK_ERR(weft_futures_wait(fs, 3, WEFT_WAIT_ALL, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_OK(weft_event_set(&g[0].go));
    CHECK_EQ(weft_futures_wait(fs, 3, WEFT_WAIT_ALL, WEFT_FOREVER), 3);
    CHECK_EQ(weft_futures_wait(fs, 3, WEFT_WAIT_ANY, WEFT_NOWAIT), 3);
    CHECK_EQ(weft_futures_wait(fs, 0, WEFT_WAIT_ANY, WEFT_NOWAIT), 0);
    for (int i = 0; i < 3; i++)
        weft_future_release(fs[i]);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(first_error_all_succeed) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(2);
    weft_future *fs[20]; /* more than the on-stack node count */
    for (intptr_t i = 0; i < 20; i++)
        CHECK_OK(weft_pool_submit(p, task_value, (void *)i, &fs[i]));
    CHECK_EQ(weft_futures_wait(fs, 20, WEFT_WAIT_FIRST_ERROR, WEFT_FOREVER), 20);
    for (int i = 0; i < 20; i++)
        weft_future_release(fs[i]);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(as_completed_order) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(4);
    gate g[4];
    weft_future *fs[4];
    for (int i = 0; i < 4; i++) {
        gate_init(&g[i], i, NULL);
        CHECK_OK(weft_pool_submit(p, task_gate, &g[i], &fs[i]));
        CHECK_OK(weft_event_wait(&g[i].started, WEFT_FOREVER));
    }
    weft_as_completed_iter it;
    size_t idx = 99;
    CHECK_OK(weft_as_completed_init(&it, fs, 4));
    CHECK_ERR(weft_as_completed_next(&it, WEFT_NOWAIT, &idx), -ETIMEDOUT);
    CHECK_ERR(weft_as_completed_next(&it, weft_after(5 * WEFT_MSEC), &idx), -ETIMEDOUT);
    static const int order[4] = {2, 0, 3, 1};
    for (int k = 0; k < 4; k++) {
        CHECK_OK(weft_event_set(&g[order[k]].go));
        CHECK_EQ(weft_as_completed_next(&it, WEFT_FOREVER, &idx), 1);
        CHECK_EQ(idx, order[k]);
        CHECK_ERR(weft_as_completed_next(&it, WEFT_NOWAIT, &idx), k == 3 ? 0 : -ETIMEDOUT);
    }
    CHECK_EQ(weft_as_completed_next(&it, WEFT_FOREVER, &idx), 0);
    weft_as_completed_destroy(&it);

    /* All done already: index order. */
    CHECK_OK(weft_as_completed_init(&it, fs, 4));
    for (size_t k = 0; k < 4; k++) {
        CHECK_EQ(weft_as_completed_next(&it, WEFT_NOWAIT, &idx), 1);
        CHECK_EQ(idx, k);
    }
    CHECK_EQ(weft_as_completed_next(&it, WEFT_NOWAIT, &idx), 0);
    weft_as_completed_destroy(&it);
    weft_as_completed_destroy(NULL);

    for (int i = 0; i < 4; i++)
        weft_future_release(fs[i]);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ map */

static int task_square_or_fail(void *arg, void **result) {
    intptr_t x = (intptr_t)arg;
    if (x % 5 == 3)
        return -EDOM;
    *result = (void *)(x * x);
    return 0;
}

WEFT_TEST(map_statuses) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(3);
    enum { N = 50 };
    void *args[N], *results[N];
    int statuses[N];
    for (intptr_t i = 0; i < N; i++)
        args[i] = (void *)i;
    CHECK_ERR(weft_pool_map(p, task_square_or_fail, args, results, statuses, N, WEFT_FOREVER),
              -EDOM);
    for (intptr_t i = 0; i < N; i++) {
        if (i % 5 == 3) {
            CHECK_ERR(statuses[i], -EDOM);
            CHECK(results[i] == NULL);
        } else {
            CHECK_EQ(statuses[i], 0);
            CHECK_EQ((intptr_t)results[i], i * i);
        }
    }
    /* All succeed; NULL outputs are allowed. */
    for (intptr_t i = 0; i < N; i++)
        args[i] = (void *)(i * 5);
    CHECK_OK(weft_pool_map(p, task_square_or_fail, args, results, NULL, N, WEFT_FOREVER));
    CHECK_EQ((intptr_t)results[7], 35 * 35);
    CHECK_OK(weft_pool_map(p, task_square_or_fail, args, NULL, NULL, N, WEFT_FOREVER));
    CHECK_OK(weft_pool_map(p, task_square_or_fail, NULL, NULL, NULL, 0, WEFT_FOREVER));
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(map_deadline_cancels_rest) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 1, NULL);
    weft_future *blocker;
    CHECK_OK(weft_pool_submit(p, task_gate, &g, &blocker));
    CHECK_OK(weft_event_wait(&g.started, WEFT_FOREVER));
    void *args[4] = {(void *)1, (void *)2, (void *)3, (void *)4};
    int statuses[4];
    atomic_store(&ran_count, 0);
    CHECK_ERR(weft_pool_map(p, task_count, args, NULL, statuses, 4, weft_after(10 * WEFT_MSEC)),
              -ETIMEDOUT);
    for (int i = 0; i < 4; i++)
        CHECK_ERR(statuses[i], -ECANCELED);
    CHECK_OK(weft_event_set(&g.go));
    CHECK_OK(weft_pool_shutdown(p, 1, 0));
    CHECK_EQ(atomic_load(&ran_count), 0);
    weft_future_release(blocker);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ shutdown */

static int task_sleep_count(void *arg, void **result) {
    (void)result;
    usleep((useconds_t)(intptr_t)arg);
    atomic_fetch_add(&ran_count, 1);
    return 0;
}

WEFT_TEST(shutdown_wait_waits) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(2);
    atomic_store(&ran_count, 0);
    for (int i = 0; i < 10; i++)
        CHECK_OK(weft_pool_submit(p, task_sleep_count, (void *)(intptr_t)5000, NULL));
    CHECK_OK(weft_pool_shutdown(p, 1, 0));
    CHECK_EQ(atomic_load(&ran_count), 10);
    CHECK_ERR(weft_pool_submit(p, task_count, NULL, NULL), -EPIPE);
    CHECK_OK(weft_pool_shutdown(p, 1, 1)); /* again: fine */
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(shutdown_nowait_then_destroy) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    atomic_store(&ran_count, 0);
    for (int i = 0; i < 5; i++)
        CHECK_OK(weft_pool_submit(p, task_sleep_count, (void *)(intptr_t)5000, NULL));
    CHECK_OK(weft_pool_shutdown(p, 0, 0));
    CHECK_ERR(weft_pool_submit(p, task_count, NULL, NULL), -EPIPE);
    CHECK_LT(atomic_load(&ran_count), 5); /* still running */
    CHECK_OK(weft_pool_destroy(p));       /* waits for the queued tasks */
    CHECK_EQ(atomic_load(&ran_count), 5);
    CHECK_NO_LEAKS();
}

WEFT_TEST(shutdown_cancel_pending) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 9, NULL);
    weft_future *a, *q[5];
    atomic_store(&ran_count, 0);
    CHECK_OK(weft_pool_submit(p, task_gate, &g, &a));
    CHECK_OK(weft_event_wait(&g.started, WEFT_FOREVER));
    for (int i = 0; i < 5; i++)
        CHECK_OK(weft_pool_submit(p, task_count, NULL, &q[i]));
    CHECK_OK(weft_pool_shutdown(p, 0, 1));
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(weft_future_cancelled(q[i]), 1);
        CHECK_ERR(weft_future_result(q[i], WEFT_NOWAIT, NULL), -ECANCELED);
    }
    CHECK_EQ(weft_future_done(a), 0); /* the running task is not interrupted */
    CHECK_ERR(weft_pool_submit(p, task_count, NULL, NULL), -EPIPE);
    CHECK_OK(weft_event_set(&g.go));
    CHECK_OK(weft_pool_shutdown(p, 1, 0));
    CHECK_EQ(weft_future_result(a, WEFT_NOWAIT, NULL), 9);
    CHECK_EQ(atomic_load(&ran_count), 0);
    weft_future_release(a);
    for (int i = 0; i < 5; i++)
        weft_future_release(q[i]);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

static weft_pool *self_pool;

static int task_self_shutdown(void *arg, void **result) {
    (void)arg;
    (void)result;
    if (weft_pool_shutdown(self_pool, 1, 0) != -EDEADLK)
        return -1;
    if (weft_pool_destroy(self_pool) != -EDEADLK)
        return -2;
    void *args[1] = {NULL};
    if (weft_pool_map(self_pool, task_count, args, NULL, NULL, 1, WEFT_FOREVER) != -EDEADLK)
        return -3;
    return weft_pool_shutdown(self_pool, 0, 0); /* not waiting is fine */
}

WEFT_TEST(self_wait_deadlk) {
    CHECK_OK(test_alloc_install());
    self_pool = make_pool(1);
    weft_future *f;
    CHECK_OK(weft_pool_submit(self_pool, task_self_shutdown, NULL, &f));
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_pool_submit(self_pool, task_count, NULL, NULL), -EPIPE);
    weft_future_release(f);
    CHECK_OK(weft_pool_destroy(self_pool));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ coroutines */

static weft_event offload_go;
static int offload_blocking(void *arg, void **result) {
    /* Blocks this worker thread (not a coroutine) until coroutine B says so: if
     * weft_offload blocked the caller's thread, B could never run. */
    logf_("%s", "call-start");
    CHECK_OK(weft_event_wait(&offload_go, WEFT_FOREVER));
    logf_("%s", "call-end");
    *result = arg;
    return 42;
}

static void *coro_offloader(void *arg) {
    (void)arg;
    logf_("%s", "A-offload");
    void *res = NULL;
    int r = weft_offload(offload_blocking, (void *)0x1234, &res);
    CHECK_EQ(r, 42);
    CHECK_PTR_EQ(res, (void *)0x1234);
    logf_("%s", "A-back");
    return NULL;
}

static void *coro_ticker(void *arg) {
    (void)arg;
    /* Runs while A is parked in weft_offload. */
    for (int i = 0; i < 3; i++) {
        logf_("%s", "B-tick");
        CHECK_OK(weft_sleep(2 * WEFT_MSEC));
    }
    logf_("%s", "B-release");
    CHECK_OK(weft_event_set(&offload_go));
    return NULL;
}

static void body_offload(void) {
    log_reset();
    CHECK_OK(weft_event_init(&offload_go));
    weft_coro a, b;
    CHECK_OK(weft_spawn(&a, coro_offloader, NULL, NULL));
    CHECK_OK(weft_spawn(&b, coro_ticker, NULL, NULL));
    CHECK_OK(weft_join(a, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(b, WEFT_FOREVER, NULL));
}

WEFT_TEST(offload_parks_only_the_coroutine) {
    run_plain_in_thread(body_offload);
    /* "call-start" is logged by the worker, at a time that depends on when it gets the
     * CPU; everything else is ordered: B ran while A was parked in weft_offload, and A
     * came back only after the blocking call, which waited for B. */
    char *cs = strstr(logbuf, " call-start");
    CHECK(cs != NULL);
    memmove(cs, cs + strlen(" call-start"), strlen(cs + strlen(" call-start")) + 1);
    CHECK_STR_EQ(logbuf, "A-offload B-tick B-tick B-tick B-release call-end A-back");
    /* From a plain thread it just blocks. */
    void *res;
    CHECK_EQ(weft_offload(task_value, (void *)5, &res), 5);
    CHECK_EQ((intptr_t)res, 1005);
    CHECK_ERR(weft_offload(NULL, NULL, &res), -EINVAL);
    weft_pool *d1, *d2;
    CHECK_OK(weft_pool_default(&d1));
    CHECK_OK(weft_pool_default(&d2));
    CHECK_PTR_EQ(d1, d2);
    long n = sysconf(_SC_NPROCESSORS_ONLN) + 4;
    CHECK_EQ(weft_pool_size(d1), n > 32 ? 32 : n);
}

/* Coroutines wait on futures (result, ANY, as_completed) while others run. */
static weft_pool *cpool;
static gate cgates[2];
static weft_future *cfs[2];

static void *coro_waits_result(void *arg) {
    (void)arg;
    logf_("%s", "W-wait");
    CHECK_EQ(weft_future_result(cfs[0], WEFT_FOREVER, NULL), 10);
    logf_("%s", "W-got0");
    CHECK_EQ(weft_futures_wait(cfs, 2, WEFT_WAIT_ANY, WEFT_FOREVER), 1);
    weft_as_completed_iter it;
    size_t idx;
    CHECK_OK(weft_as_completed_init(&it, cfs, 2));
    CHECK_EQ(weft_as_completed_next(&it, WEFT_FOREVER, &idx), 1);
    CHECK_EQ(idx, 0);
    CHECK_EQ(weft_as_completed_next(&it, WEFT_FOREVER, &idx), 1); /* parks */
    CHECK_EQ(idx, 1);
    CHECK_EQ(weft_as_completed_next(&it, WEFT_FOREVER, &idx), 0);
    weft_as_completed_destroy(&it);
    logf_("%s", "W-next");
    return NULL;
}

static void *coro_drives(void *arg) {
    (void)arg;
    logf_("%s", "D-run");
    CHECK_OK(weft_event_set(&cgates[0].go));
    CHECK_OK(weft_sleep(20 * WEFT_MSEC));
    logf_("%s", "D-set1");
    CHECK_OK(weft_event_set(&cgates[1].go));
    return NULL;
}

static void body_coro_wait(void) {
    log_reset();
    cpool = make_pool(2);
    gate_init(&cgates[0], 10, NULL);
    gate_init(&cgates[1], 11, NULL);
    CHECK_OK(weft_pool_submit(cpool, task_gate, &cgates[0], &cfs[0]));
    CHECK_OK(weft_pool_submit(cpool, task_gate, &cgates[1], &cfs[1]));
    weft_coro w, d;
    CHECK_OK(weft_spawn(&w, coro_waits_result, NULL, NULL));
    CHECK_OK(weft_spawn(&d, coro_drives, NULL, NULL));
    CHECK_OK(weft_join(w, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(d, WEFT_FOREVER, NULL));
    weft_future_release(cfs[0]);
    weft_future_release(cfs[1]);
    CHECK_OK(weft_pool_destroy(cpool));
}

WEFT_TEST(coroutine_waits_on_futures) {
    CHECK_OK(test_alloc_install());
    run_plain_in_thread(body_coro_wait);
    CHECK_STR_EQ(logbuf, "W-wait D-run W-got0 D-set1 W-next");
    CHECK_NO_LEAKS();
}

/* Cancelling a coroutine parked in weft_future_result. */
static void *coro_waits_forever(void *arg) {
    weft_future *f = arg;
    return (void *)(intptr_t)weft_future_result(f, WEFT_FOREVER, NULL);
}

static void body_coro_cancel(void) {
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 0, NULL);
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, task_gate, &g, &f));
    weft_coro c;
    CHECK_OK(weft_spawn(&c, coro_waits_forever, f, NULL));
    CHECK_OK(weft_yield()); /* c parks */
    CHECK_OK(weft_cancel(c));
    void *r;
    CHECK_OK(weft_join(c, WEFT_FOREVER, &r));
    CHECK_EQ((intptr_t)r, -ECANCELED);
    CHECK_EQ(weft_future_cancelled(f), 0);
    CHECK_OK(weft_event_set(&g.go));
    CHECK_EQ(weft_future_result(f, WEFT_FOREVER, NULL), 0);
    weft_future_release(f);
    CHECK_OK(weft_pool_destroy(p));
}

WEFT_TEST(coroutine_cancelled_while_waiting) {
    CHECK_OK(test_alloc_install());
    run_plain_in_thread(body_coro_cancel);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ threads */

typedef struct {
    weft_pool *p;
    int n;
} submitter_arg;

static atomic_long sum;

static int task_add(void *arg, void **result) {
    atomic_fetch_add(&sum, (long)(intptr_t)arg);
    *result = arg;
    return 0;
}

static void *submitter(void *arg) {
    submitter_arg *a = arg;
    weft_future *fs[64];
    int k = 0;
    for (int i = 0; i < a->n; i++) {
        if (i % 3 == 0) {
            CHECK_OK(weft_pool_submit(a->p, task_add, (void *)(intptr_t)1, NULL));
            continue;
        }
        CHECK_OK(weft_pool_submit(a->p, task_add, (void *)(intptr_t)1, &fs[k++]));
        if (k == 64 || i == a->n - 1) {
            if (i % 2)
                CHECK_EQ(weft_futures_wait(fs, (size_t)k, WEFT_WAIT_ALL, WEFT_FOREVER), k);
            for (int j = 0; j < k; j++) {
                void *res = NULL;
                if (j % 2 == 0) {
                    CHECK_EQ(weft_future_result(fs[j], WEFT_FOREVER, &res), 0);
                    CHECK_EQ((intptr_t)res, 1);
                }
                weft_future_release(fs[j]); /* possibly before it ran */
            }
            k = 0;
        }
    }
    for (int j = 0; j < k; j++)
        weft_future_release(fs[j]);
    return NULL;
}

WEFT_TEST(many_threads_submit) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(4);
    atomic_store(&sum, 0);
    enum { T = 8, N = 5000 };
    pthread_t ts[T];
    submitter_arg a = {p, N};
    for (int i = 0; i < T; i++)
        CHECK_EQ(pthread_create(&ts[i], NULL, submitter, &a), 0);
    for (int i = 0; i < T; i++)
        CHECK_EQ(pthread_join(ts[i], NULL), 0);
    CHECK_OK(weft_pool_shutdown(p, 1, 0));
    CHECK_EQ(atomic_load(&sum), (long)T * N);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* Waiters with tiny deadlines, cancels and callbacks racing completions. */
static void count_cb(weft_future *f, void *ud) {
    (void)f;
    atomic_fetch_add((atomic_int *)ud, 1);
}

static void *racer(void *arg) {
    weft_pool *p = arg;
    atomic_int cbs = 0;
    int added = 0;
    for (int i = 0; i < 3000; i++) {
        weft_future *f[3];
        for (int j = 0; j < 3; j++)
            CHECK_OK(weft_pool_submit(p, task_value, (void *)(intptr_t)j, &f[j]));
        if (weft_future_on_done(f[0], count_cb, &cbs) == 0)
            added++;
        int c = weft_future_cancel(f[2]);
        CHECK(c == 0 || c == 1);
        int r = weft_future_result(f[1], weft_after(i % 7 * 1000), NULL);
        CHECK(r == 1 || r == -ETIMEDOUT);
        r = weft_futures_wait(f, 3, i % 2 ? WEFT_WAIT_ANY : WEFT_WAIT_FIRST_ERROR,
                              weft_after(i % 5 * 1000));
        CHECK(r >= 0 || r == -ETIMEDOUT);
        for (int j = 0; j < 3; j++)
            weft_future_release(f[j]);
    }
    /* Callbacks may still run on workers: wait for them. */
    for (int spins = 0; atomic_load(&cbs) != added; spins++) {
        CHECK_LT(spins, 10000);
        usleep(1000);
    }
    return NULL;
}

WEFT_TEST(stress_result_races) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(3);
    pthread_t ts[4];
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_create(&ts[i], NULL, racer, p), 0);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(pthread_join(ts[i], NULL), 0);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ bad input */

WEFT_TEST(bad_input) {
    CHECK_OK(test_alloc_install());
    weft_pool *p;
    CHECK_ERR(weft_pool_create(NULL, 1), -EINVAL);
    CHECK_ERR(weft_pool_create(&p, -1), -EINVAL);
    CHECK_ERR(weft_pool_create(&p, 1025), -EINVAL);
    p = make_pool(1);
    weft_future *f;
    CHECK_ERR(weft_pool_submit(NULL, task_count, NULL, &f), -EINVAL);
    CHECK_ERR(weft_pool_submit(p, NULL, NULL, &f), -EINVAL);
    CHECK_ERR(weft_future_result(NULL, WEFT_NOWAIT, NULL), -EINVAL);
    CHECK_ERR(weft_future_cancel(NULL), -EINVAL);
    CHECK_EQ(weft_future_done(NULL), 0);
    CHECK_EQ(weft_future_cancelled(NULL), 0);
    weft_future_release(NULL);
    CHECK_OK(weft_pool_submit(p, task_count, NULL, &f));
    CHECK_ERR(weft_future_on_done(NULL, record_cb, NULL), -EINVAL);
    CHECK_ERR(weft_future_on_done(f, NULL, NULL), -EINVAL);
    weft_future *arr[2] = {f, NULL};
    CHECK_ERR(weft_futures_wait(NULL, 1, WEFT_WAIT_ALL, 0), -EINVAL);
    CHECK_ERR(weft_futures_wait(arr, 2, WEFT_WAIT_ALL, 0), -EINVAL);
    CHECK_ERR(weft_futures_wait(arr, 1, 7, 0), -EINVAL);
    weft_as_completed_iter it;
    size_t idx;
    CHECK_ERR(weft_as_completed_init(NULL, arr, 1), -EINVAL);
    CHECK_ERR(weft_as_completed_init(&it, NULL, 1), -EINVAL);
    CHECK_ERR(weft_as_completed_init(&it, arr, 2), -EINVAL);
    CHECK_ERR(weft_as_completed_next(NULL, 0, &idx), -EINVAL);
    CHECK_OK(weft_as_completed_init(&it, arr, 1));
    CHECK_ERR(weft_as_completed_next(&it, 0, NULL), -EINVAL);
    weft_as_completed_destroy(&it);
    CHECK_ERR(weft_pool_map(NULL, task_count, NULL, NULL, NULL, 0, 0), -EINVAL);
    CHECK_ERR(weft_pool_map(p, NULL, NULL, NULL, NULL, 0, 0), -EINVAL);
    CHECK_ERR(weft_pool_map(p, task_count, NULL, NULL, NULL, 3, 0), -EINVAL);
    CHECK_ERR(weft_pool_shutdown(NULL, 1, 0), -EINVAL);
    CHECK_ERR(weft_pool_default(NULL), -EINVAL);
    CHECK_EQ(weft_pool_size(NULL), 0);
    CHECK_OK(weft_pool_destroy(NULL));
    weft_future_release(f);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(allocation_failure) {
    CHECK_OK(test_alloc_install());
    weft_pool *p;
    test_alloc_fail_after(0);
    CHECK_ERR(weft_pool_create(&p, 2), -ENOMEM);
    test_alloc_fail_after(1);
    CHECK_ERR(weft_pool_create(&p, 2), -ENOMEM);
    test_alloc_fail_after(-1);
    CHECK_NO_LEAKS();
    p = make_pool(1);
    weft_future *f = (weft_future *)1, *g;
    CHECK_OK(weft_pool_submit(p, task_count, NULL, &g)); /* a real one: futures are checked */
    test_alloc_fail_after(0);
    CHECK_ERR(weft_pool_submit(p, task_count, NULL, &f), -ENOMEM);
    CHECK_ERR(weft_pool_submit(p, task_count, NULL, NULL), -ENOMEM);
    void *args[3] = {0};
    CHECK_ERR(weft_pool_map(p, task_count, args, NULL, NULL, 3, WEFT_FOREVER), -ENOMEM);
    weft_as_completed_iter it;
    weft_future *arr[1] = {g};
    CHECK_ERR(weft_as_completed_init(&it, arr, 1), -ENOMEM);
    /* map whose second submit fails: the first is waited for, the rest reported. */
    test_alloc_fail_after(2); /* the future array and one future */
    int st[3];
    CHECK_ERR(weft_pool_map(p, task_count, args, NULL, st, 3, WEFT_FOREVER), -ENOMEM);
    CHECK_ERR(st[1], -ECANCELED);
    CHECK_ERR(st[2], -ECANCELED);
    CHECK(st[0] == 0 || st[0] == -ECANCELED);
    test_alloc_fail_after(-1);
    CHECK_OK(weft_future_result(g, WEFT_FOREVER, NULL));
    weft_future_release(g);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ---- futures made by hand (promises) ------------------------------------- */

static weft_future *promise;
static weft_event promise_waiting;
static void promise_cb(weft_future *f, void *ud) {
    void *r = NULL;
    CHECK_EQ(weft_future_result(f, WEFT_NOWAIT, &r), 0);
    CHECK_PTR_EQ(r, (void *)0x42);
    *(int *)ud += 1;
}
static void *promise_waiter(void *arg) {
    void *r = NULL;
    CHECK_OK(weft_event_set(&promise_waiting));
    CHECK_EQ(weft_future_result(promise, weft_after(10 * WEFT_SEC), &r), 0);
    CHECK_PTR_EQ(r, (void *)0x42);
    weft_future_release(promise); /* the waiter's own reference */
    return arg;
}

/* A future made by hand is completed once, by any thread: waiters (a coroutine and a
 * plain thread) wake with its value, callbacks run at the set, later sets fail. */
WEFT_TEST(promise_set_result) {
    CHECK_OK(test_alloc_install());
    CHECK_ERR(weft_future_create(NULL), -EINVAL);
    CHECK_OK(weft_future_create(&promise));
    CHECK_OK(weft_event_init(&promise_waiting));
    CHECK_EQ(weft_future_done(promise), 0);
    CHECK_ERR(weft_future_result(promise, WEFT_NOWAIT, NULL), -ETIMEDOUT);
    int calls = 0;
    CHECK_OK(weft_future_on_done(promise, promise_cb, &calls));
    CHECK_OK(weft_future_retain(promise)); /* for the thread */
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, promise_waiter, NULL, NULL));
    CHECK_OK(weft_event_wait(&promise_waiting, weft_after(10 * WEFT_SEC)));
    CHECK_EQ(calls, 0);
    CHECK_OK(weft_future_set_result(promise, (void *)0x42));
    CHECK_EQ(calls, 1); /* run by the setter, at once */
    CHECK_OK(weft_thread_join(t, weft_after(10 * WEFT_SEC), NULL));
    CHECK_ERR(weft_future_set_result(promise, NULL), -EALREADY);
    CHECK_ERR(weft_future_set_exception(promise, -EIO), -EALREADY);
    CHECK_ERR(weft_future_cancel(promise), 0);
    void *r = NULL;
    CHECK_EQ(weft_future_result(promise, WEFT_NOWAIT, &r), 0);
    CHECK_PTR_EQ(r, (void *)0x42);
    weft_future_release(promise);
    CHECK_OK(weft_event_destroy(&promise_waiting));
    CHECK_NO_LEAKS();
}

/* set_exception: the waiter gets the error; a pending promise can be cancelled, after
 * which it cannot be set; a pool task's future cannot be set by hand; the promise takes
 * part in weft_futures_wait like any future. */
WEFT_TEST(promise_exception_cancel_wait) {
    CHECK_OK(test_alloc_install());
    weft_future *a, *b;
    CHECK_OK(weft_future_create(&a));
    CHECK_OK(weft_future_create(&b));
    CHECK_ERR(weft_future_set_exception(a, 0), -EINVAL);
    CHECK_ERR(weft_future_set_exception(a, 5), -EINVAL);
    weft_future *fs[2] = {a, b};
    CHECK_ERR(weft_futures_wait(fs, 2, WEFT_WAIT_ANY, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_OK(weft_future_set_exception(a, -EIO));
    CHECK_EQ(weft_futures_wait(fs, 2, WEFT_WAIT_FIRST_ERROR, WEFT_NOWAIT), 1); /* one done */
    void *r = (void *)1;
    CHECK_ERR(weft_future_result(a, WEFT_NOWAIT, &r), -EIO);
    CHECK_PTR_EQ(r, NULL);
    CHECK_EQ(weft_future_cancelled(a), 0);
    CHECK_EQ(weft_future_cancel(b), 1);
    CHECK_ERR(weft_future_set_result(b, NULL), -EALREADY);
    CHECK_ERR(weft_future_result(b, WEFT_NOWAIT, NULL), -ECANCELED);
    weft_future_release(a);
    weft_future_release(b);
    weft_pool *p = make_pool(1);
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, task_value, (void *)7, &f));
    CHECK_ERR(weft_future_set_result(f, NULL), -EPERM);
    CHECK_ERR(weft_future_set_exception(f, -EIO), -EPERM);
    CHECK(weft_future_result(f, weft_after(10 * WEFT_SEC), NULL) >= 0);
    weft_future_release(f);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* Racing setters: exactly one wins. */
static weft_future *race_f;
static atomic_int race_wins;
static void *race_setter(void *arg) {
    if (weft_future_set_result(race_f, arg) == 0)
        atomic_fetch_add(&race_wins, 1);
    return NULL;
}
WEFT_TEST(promise_racing_setters) {
    for (int round = 0; round < 200; round++) {
        CHECK_OK(weft_future_create(&race_f));
        atomic_store(&race_wins, 0);
        weft_thread *t[4];
        for (int i = 0; i < 4; i++)
            CHECK_OK(weft_thread_start(&t[i], race_setter, (void *)(intptr_t)(i + 1), NULL));
        for (int i = 0; i < 4; i++)
            CHECK_OK(weft_thread_join(t[i], weft_after(10 * WEFT_SEC), NULL));
        CHECK_EQ(atomic_load(&race_wins), 1);
        void *r = NULL;
        CHECK_EQ(weft_future_result(race_f, WEFT_NOWAIT, &r), 0);
        CHECK((intptr_t)r >= 1 && (intptr_t)r <= 4);
        weft_future_release(race_f);
    }
}

WEFT_MAIN()

/* ------------------------------------------------------- SHARED-stack callers */

/* A task given a pointer to a local of a WEFT_STACK_SHARED coroutine reads
 * its input and writes its output there while the coroutine waits; the
 * other SHARED coroutines of the thread keep canaries on their stacks. */
#define SHARED_N 50
struct stack_job {
    int in;
    int out;
    unsigned char buf[256];
};
static int stack_job_task(void *arg, void **result) {
    struct stack_job *j = arg;
    j->out = j->in * 3 + 1;
    for (size_t i = 0; i < sizeof j->buf; i++)
        j->buf[i] = (unsigned char)(j->in + i);
    *result = &j->out;
    return j->in;
}
static atomic_int shared_ok;
enum { VIA_OFFLOAD, VIA_FUTURE, VIA_MAP };
static weft_pool *shared_pool;
static void *shared_caller(void *arg) {
    int id = (int)((intptr_t)arg >> 2), via = (int)((intptr_t)arg & 3);
    volatile unsigned char canary[512];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 5 + i);
    struct stack_job j = {.in = id, .out = -1};
    void *res = NULL;
    if (via == VIA_OFFLOAD) {
        CHECK_EQ(weft_offload(stack_job_task, &j, &res), id);
    } else if (via == VIA_FUTURE) {
        weft_future *f;
        CHECK_OK(weft_pool_submit(shared_pool, stack_job_task, &j, &f));
        CHECK_EQ(weft_future_result(f, WEFT_FOREVER, &res), id);
        weft_future_release(f);
    } else {
        /* The first task's argument is not on the stack, the second's is. */
        static struct stack_job off_stack[SHARED_N];
        off_stack[id].in = id;
        void *args[2] = {&off_stack[id], &j};
        int st[2];
        void *results[2];
        CHECK_OK(weft_pool_map(shared_pool, stack_job_task, args, results, st, 2, WEFT_FOREVER));
        CHECK_EQ(st[0], id);
        CHECK_EQ(st[1], id);
        CHECK_EQ(off_stack[id].out, id * 3 + 1);
        res = results[1];
    }
    CHECK_PTR_EQ(res, &j.out);
    CHECK_EQ(j.out, id * 3 + 1);
    for (size_t i = 0; i < sizeof j.buf; i++)
        CHECK_EQ(j.buf[i], (unsigned char)(id + i));
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 5 + i));
    atomic_fetch_add(&shared_ok, 1);
    return NULL;
}
static void shared_callers(int via) {
    atomic_store(&shared_ok, 0);
    weft_coro c[SHARED_N];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < SHARED_N; i++)
        CHECK_OK(weft_spawn(&c[i], shared_caller, (void *)(intptr_t)(i << 2 | via), &o));
    CHECK_OK(weft_joinall(c, SHARED_N, weft_after(30 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&shared_ok), SHARED_N);
}
static void body_offload_shared(void) { shared_callers(VIA_OFFLOAD); }
WEFT_TEST(offload_shared_stack_local) { run_plain_in_thread(body_offload_shared); }
static void body_future_shared(void) {
    shared_pool = make_pool(4);
    shared_callers(VIA_FUTURE);
    shared_callers(VIA_MAP);
    CHECK_OK(weft_pool_destroy(shared_pool));
}
WEFT_TEST(future_shared_stack_local) { run_in_thread(body_future_shared); }

/* While one SHARED coroutine waits with its stack in use by a task, GUARDED
 * coroutines of its thread keep running (only SHARED ones wait). */
static weft_event guarded_ran;
static int wait_guarded_task(void *arg, void **result) {
    (void)result;
    struct stack_job *j = arg;
    CHECK_OK(weft_event_wait(&guarded_ran, weft_after(30 * WEFT_SEC)));
    j->out = 7;
    return 0;
}
static void *pinned_caller(void *arg) {
    (void)arg;
    struct stack_job j = {.in = 1, .out = 0};
    CHECK_OK(weft_offload(wait_guarded_task, &j, NULL));
    CHECK_EQ(j.out, 7);
    return NULL;
}
static void *guarded_setter(void *arg) {
    (void)arg;
    CHECK_OK(weft_event_set(&guarded_ran));
    return NULL;
}
static void body_guarded_runs(void) {
    weft_event_init(&guarded_ran);
    weft_coro a, b;
    weft_coro_opts sh = {.stack_mode = WEFT_STACK_SHARED};
    CHECK_OK(weft_spawn(&a, pinned_caller, NULL, &sh));
    CHECK_OK(weft_spawn(&b, guarded_setter, NULL, NULL));
    CHECK_OK(weft_join(a, weft_after(30 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(30 * WEFT_SEC), NULL));
}
WEFT_TEST(offload_shared_guarded_keep_running) { run_plain_in_thread(body_guarded_runs); }
