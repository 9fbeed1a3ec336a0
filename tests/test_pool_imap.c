/* The thread pool's lazy map (weft_pool_imap / imap_gen / iter_next / iter_cancel /
 * iter_destroy): order, unordered, windowed (lazy) submission, deadlines that keep
 * results, early close, generator and submit errors, bad input, coroutines.
 *
 * Timeouts are deterministic: the task in the way is blocked on an event the test sets. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>

/* Task: returns (int)arg and stores arg + 1000 as its result. */
static int task_value(void *arg, void **result) {
    *result = (void *)((intptr_t)arg + 1000);
    return (int)(intptr_t)arg;
}

static atomic_int ran;

/* Task gated on an event: counts itself in `ran`, sets started, waits for go. */
typedef struct {
    weft_event started, go;
    int status;
} gate;

static void gate_init(gate *g, int status) {
    CHECK_OK(weft_event_init(&g->started));
    CHECK_OK(weft_event_init(&g->go));
    g->status = status;
}

static int task_gate(void *arg, void **result) {
    gate *g = arg;
    atomic_fetch_add(&ran, 1);
    weft_event_set(&g->started);
    CHECK_OK(weft_event_wait(&g->go, WEFT_FOREVER));
    *result = g;
    return g->status;
}

/* Task: counts itself in `ran`, returns (int)arg. */
static int task_counted(void *arg, void **result) {
    (void)result;
    atomic_fetch_add(&ran, 1);
    return (int)(intptr_t)arg;
}

static weft_pool *make_pool(int n) {
    weft_pool *p = NULL;
    CHECK_OK(weft_pool_create(&p, n));
    return p;
}

static int64_t soon(void) {
    return weft_after(20 * WEFT_MSEC);
}
static int64_t later(void) {
    return weft_after(10 * WEFT_SEC);
}

/* ------------------------------------------------------------------ values and order */

static void check_all(weft_pool *p, size_t n, size_t window, int flags) {
    void **args = malloc((n ? n : 1) * sizeof *args);
    char *seen = calloc(n ? n : 1, 1);
    CHECK(args && seen);
    for (size_t i = 0; i < n; i++)
        args[i] = (void *)(intptr_t)(i * 3);
    weft_pool_iter *it;
    CHECK_OK(weft_pool_imap(p, task_value, args, n, window, flags, &it));
    size_t idx, count = 0;
    int st, r;
    void *res;
    while ((r = weft_pool_iter_next(it, later(), &idx, &st, &res)) == 1) {
        if (!(flags & WEFT_POOL_UNORDERED))
            CHECK_EQ(idx, count);
        CHECK_LT(idx, n);
        CHECK_EQ(seen[idx], 0);
        seen[idx] = 1;
        CHECK_EQ(st, (int)(idx * 3));
        CHECK_EQ((intptr_t)res, (intptr_t)(idx * 3 + 1000));
        count++;
    }
    CHECK_EQ(r, 0);
    CHECK_EQ(count, n);
    CHECK_EQ(weft_pool_iter_next(it, WEFT_NOWAIT, &idx, &st, NULL), 0);
    weft_pool_iter_destroy(it);
    free(args);
    free(seen);
}

WEFT_TEST(ordered_and_unordered_exact) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(3);
    size_t windows[] = {0, 1, 2, 7, 5000};
    for (size_t w = 0; w < sizeof windows / sizeof *windows; w++) {
        check_all(p, 1000, windows[w], 0);
        check_all(p, 1000, windows[w], WEFT_POOL_UNORDERED);
    }
    check_all(p, 0, 0, 0);
    check_all(p, 0, 0, WEFT_POOL_UNORDERED);
    check_all(p, 1, 0, 0);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ deadlines */

/* A mixed input: a gate first, then plain values. */
typedef struct {
    gate *g;
    intptr_t v;
} mixed_arg;

static int task_mixed(void *arg, void **result) {
    mixed_arg *m = arg;
    if (m->g)
        return task_gate(m->g, result);
    *result = NULL;
    return (int)m->v;
}

WEFT_TEST(deadline_order_and_unordered) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(2);
    for (int unordered = 0; unordered < 2; unordered++) {
        gate g;
        gate_init(&g, 5);
        mixed_arg a[4] = {{&g, 0}, {NULL, 11}, {NULL, 12}, {NULL, 13}};
        void *args[4] = {&a[0], &a[1], &a[2], &a[3]};
        weft_pool_iter *it;
        CHECK_OK(
            weft_pool_imap(p, task_mixed, args, 4, 4, unordered ? WEFT_POOL_UNORDERED : 0, &it));
        CHECK_OK(weft_event_wait(&g.started, later()));
        size_t idx;
        int st;
        /* The same absolute deadline for the whole map, as Python's timeout. */
        int64_t whole = soon();
        if (unordered) {
            int got = 0;
            for (int k = 0; k < 3; k++) {
                CHECK_EQ(weft_pool_iter_next(it, whole, &idx, &st, NULL), 1);
                CHECK(idx >= 1 && idx <= 3);
                CHECK_EQ(st, (int)(10 + idx));
                got |= 1 << idx;
            }
            CHECK_EQ(got, 0xE);
        }
        CHECK_ERR(weft_pool_iter_next(it, whole, &idx, &st, NULL), -ETIMEDOUT);
        CHECK_ERR(weft_pool_iter_next(it, whole, &idx, &st, NULL), -ETIMEDOUT);
        CHECK_OK(weft_event_set(&g.go));
        CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 1);
        CHECK_EQ(idx, 0);
        CHECK_EQ(st, 5);
        for (size_t k = 1; !unordered && k < 4; k++) {
            /* already finished: a past deadline still yields them */
            CHECK_EQ(weft_pool_iter_next(it, whole, &idx, &st, NULL), 1);
            CHECK_EQ(idx, k);
            CHECK_EQ(st, (int)(10 + k));
        }
        CHECK_EQ(weft_pool_iter_next(it, whole, &idx, &st, NULL), 0);
        weft_pool_iter_destroy(it);
    }
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ lazy submission */

typedef struct {
    intptr_t next, limit; /* limit < 0: endless */
    int fail_at;          /* >= 0: returns -EIO for that call */
    int calls;
} counter_gen;

static int gen_count(void *ud, void **arg) {
    counter_gen *c = ud;
    int call = c->calls++;
    if (call == c->fail_at)
        return -EIO;
    if (c->limit >= 0 && c->next >= c->limit)
        return 0;
    *arg = (void *)c->next++;
    return 1;
}

WEFT_TEST(window_bounds_submission) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(2);
    /* An endless input: only `window` inputs are taken ahead of the consumer. */
    counter_gen c = {0, -1, -1, 0};
    weft_pool_iter *it;
    CHECK_OK(weft_pool_imap_gen(p, task_value, gen_count, &c, 3, 0, &it));
    CHECK_EQ(c.calls, 3);
    size_t idx;
    int st;
    void *res;
    for (size_t k = 0; k < 100; k++) {
        CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, &res), 1);
        CHECK_EQ(idx, k);
        CHECK_EQ(st, (int)k);
        CHECK_EQ((intptr_t)res, (intptr_t)k + 1000);
        /* topped up to the window before each wait: k + 3 taken, then one more */
        CHECK_EQ(c.calls, (int)k + 3);
    }
    /* Close early: nothing more is taken; what was submitted still comes. */
    int cancelled = weft_pool_iter_cancel(it);
    CHECK(cancelled >= 0 && cancelled <= 2);
    int calls = c.calls;
    size_t count = 0;
    int r;
    while ((r = weft_pool_iter_next(it, later(), &idx, &st, &res)) == 1) {
        CHECK_EQ(idx, 100 + count);
        CHECK(st == (int)idx || st == -ECANCELED);
        count++;
    }
    CHECK_EQ(r, 0);
    CHECK_EQ(count, 2); /* 100 and 101: the window is topped up by the next call */
    CHECK_EQ(c.calls, calls);
    weft_pool_iter_destroy(it);

    /* The same unordered, with a bounded generator. */
    counter_gen d = {0, 50, -1, 0};
    CHECK_OK(weft_pool_imap_gen(p, task_value, gen_count, &d, 4, WEFT_POOL_UNORDERED, &it));
    CHECK_EQ(d.calls, 4);
    unsigned char seen[50] = {0};
    count = 0;
    while ((r = weft_pool_iter_next(it, later(), &idx, &st, &res)) == 1) {
        CHECK_LT(idx, 50);
        CHECK_EQ(seen[idx], 0);
        seen[idx] = 1;
        CHECK_EQ(st, (int)idx);
        count++;
        CHECK_LE(d.calls, (int)count + 4 + 1);
    }
    CHECK_EQ(r, 0);
    CHECK_EQ(count, 50);
    weft_pool_iter_destroy(it);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ early close */

WEFT_TEST(cancel_early) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    for (int unordered = 0; unordered < 2; unordered++) {
        /* One worker: item 0 blocks it, items 1..4 wait in the queue. */
        gate g;
        gate_init(&g, 9);
        mixed_arg a[5] = {{&g, 0}, {NULL, 1}, {NULL, 2}, {NULL, 3}, {NULL, 4}};
        void *args[5] = {&a[0], &a[1], &a[2], &a[3], &a[4]};
        atomic_store(&ran, 0);
        weft_pool_iter *it;
        CHECK_OK(
            weft_pool_imap(p, task_mixed, args, 5, 5, unordered ? WEFT_POOL_UNORDERED : 0, &it));
        CHECK_OK(weft_event_wait(&g.started, later()));
        CHECK_EQ(weft_pool_iter_cancel(it), 4);
        CHECK_EQ(weft_pool_iter_cancel(it), 0); /* again: nothing left to cancel */
        size_t idx;
        int st;
        void *res;
        if (unordered) {
            /* the cancelled ones are done at once, in index order */
            for (size_t k = 1; k <= 4; k++) {
                CHECK_EQ(weft_pool_iter_next(it, WEFT_NOWAIT, &idx, &st, &res), 1);
                CHECK_EQ(idx, k);
                CHECK_ERR(st, -ECANCELED);
                CHECK_PTR_EQ(res, NULL);
            }
        }
        CHECK_ERR(weft_pool_iter_next(it, soon(), &idx, &st, &res), -ETIMEDOUT);
        CHECK_OK(weft_event_set(&g.go));
        CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, &res), 1);
        CHECK_EQ(idx, 0);
        CHECK_EQ(st, 9);
        for (size_t k = 1; !unordered && k <= 4; k++) {
            CHECK_EQ(weft_pool_iter_next(it, WEFT_NOWAIT, &idx, &st, &res), 1);
            CHECK_EQ(idx, k);
            CHECK_ERR(st, -ECANCELED);
        }
        CHECK_EQ(weft_pool_iter_next(it, WEFT_NOWAIT, &idx, &st, &res), 0);
        weft_pool_iter_destroy(it);
        CHECK_EQ(atomic_load(&ran), 1); /* only item 0 ran */
    }
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* destroy without draining: the cancelled tasks never run, the running one
 * is waited for (another thread opens its gate). */
static void *opener(void *arg) {
    gate *g = arg;
    CHECK_OK(weft_event_wait(&g->started, WEFT_FOREVER));
    CHECK_OK(weft_event_set(&g->go));
    return NULL;
}

static int task_gate_or_count(void *arg, void **result) {
    mixed_arg *m = arg;
    if (m->g)
        return task_gate(m->g, result);
    return task_counted((void *)m->v, result);
}

WEFT_TEST(destroy_early) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    gate g;
    gate_init(&g, 0);
    mixed_arg a[6] = {{&g, 0}, {NULL, 1}, {NULL, 2}, {NULL, 3}, {NULL, 4}, {NULL, 5}};
    void *args[6] = {&a[0], &a[1], &a[2], &a[3], &a[4], &a[5]};
    atomic_store(&ran, 0);
    weft_pool_iter *it;
    CHECK_OK(weft_pool_imap(p, task_gate_or_count, args, 6, 6, 0, &it));
    CHECK_OK(weft_event_wait(&g.started, later()));
    CHECK_EQ(weft_pool_iter_cancel(it), 5);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, opener, &g), 0);
    weft_pool_iter_destroy(it); /* returns once item 0 has finished */
    CHECK_EQ(atomic_load(&ran), 1);
    CHECK_EQ(weft_event_is_set(&g.go), 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    /* the pool is fine: the cancelled ones never run */
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, task_counted, (void *)7, &f));
    CHECK_EQ(weft_future_result(f, later(), NULL), 7);
    weft_future_release(f);
    CHECK_EQ(atomic_load(&ran), 2);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ errors */

WEFT_TEST(generator_error) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(2);
    for (int unordered = 0; unordered < 2; unordered++) {
        /* fails on its 4th call, while imap fills a window of 8 */
        counter_gen c = {0, -1, 3, 0};
        weft_pool_iter *it;
        CHECK_OK(weft_pool_imap_gen(p, task_value, gen_count, &c, 8,
                                    unordered ? WEFT_POOL_UNORDERED : 0, &it));
        CHECK_EQ(c.calls, 4);
        size_t idx;
        int st;
        CHECK_ERR(weft_pool_iter_next(it, later(), &idx, &st, NULL), -EIO);
        unsigned seen = 0;
        for (int k = 0; k < 3; k++) {
            CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 1);
            if (!unordered)
                CHECK_EQ(idx, (size_t)k);
            CHECK_LT(idx, 3);
            CHECK_EQ(st, (int)idx);
            seen |= 1u << idx;
        }
        CHECK_EQ(seen, 7);
        CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 0);
        CHECK_EQ(c.calls, 4); /* the input ended at the error */
        weft_pool_iter_destroy(it);
        /* fails at once: the first next reports it, then the end */
        counter_gen d = {0, -1, 0, 0};
        CHECK_OK(weft_pool_imap_gen(p, task_value, gen_count, &d, 2, 0, &it));
        CHECK_ERR(weft_pool_iter_next(it, later(), &idx, &st, NULL), -EIO);
        CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 0);
        weft_pool_iter_destroy(it);
    }
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

WEFT_TEST(pool_shut_down_midway) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(2);
    counter_gen c = {0, 100, -1, 0};
    weft_pool_iter *it;
    CHECK_OK(weft_pool_imap_gen(p, task_value, gen_count, &c, 2, 0, &it));
    CHECK_OK(weft_pool_shutdown(p, 0, 0));
    size_t idx;
    int st;
    /* the two submitted before the shutdown run; the next input is refused
     * with -EPIPE, yielded as an item, and the input ends there */
    CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 1);
    CHECK_EQ(idx, 0);
    CHECK_EQ(st, 0);
    CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 1);
    CHECK_EQ(idx, 1);
    CHECK_EQ(st, 1);
    CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 1);
    CHECK_EQ(idx, 2);
    CHECK_ERR(st, -EPIPE);
    CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 0);
    CHECK_EQ(c.calls, 3);
    weft_pool_iter_destroy(it);
    /* a pool already shut down refuses the map itself */
    void *args[1] = {NULL};
    it = (weft_pool_iter *)1;
    CHECK_ERR(weft_pool_imap(p, task_value, args, 1, 0, 0, &it), -EPIPE);
    CHECK(it == NULL);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* weft_pool_shutdown(cancel_pending = 1) cancels the iterator's queued tasks: the
 * iterator hears of it (a consumer waiting for them wakes) and yields them with
 * -ECANCELED; the running one still comes. */
typedef struct {
    weft_pool *p;
    gate *g;
} shut_arg;
static void *shutter(void *arg) {
    shut_arg *a = arg;
    CHECK_OK(weft_event_wait(&a->g->started, WEFT_FOREVER));
    CHECK_OK(weft_pool_shutdown(a->p, 0, 1));
    return NULL;
}

WEFT_TEST(pool_shutdown_cancels_queued) {
    CHECK_OK(test_alloc_install());
    for (int unordered = 0; unordered < 2; unordered++) {
        weft_pool *p = make_pool(1);
        gate g;
        gate_init(&g, 4);
        mixed_arg a[4] = {{&g, 0}, {NULL, 1}, {NULL, 2}, {NULL, 3}};
        void *args[4] = {&a[0], &a[1], &a[2], &a[3]};
        weft_pool_iter *it;
        CHECK_OK(
            weft_pool_imap(p, task_mixed, args, 4, 4, unordered ? WEFT_POOL_UNORDERED : 0, &it));
        shut_arg sa = {p, &g};
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, shutter, &sa), 0);
        size_t idx;
        int st;
        if (unordered) {
            /* waits (the only worker is gated) until the shutdown cancels 1..3 */
            unsigned seen = 0;
            for (int k = 0; k < 3; k++) {
                CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 1);
                CHECK(idx >= 1 && idx <= 3);
                CHECK_ERR(st, -ECANCELED);
                seen |= 1u << idx;
            }
            CHECK_EQ(seen, 0xE);
        }
        CHECK_EQ(pthread_join(t, NULL), 0);
        CHECK_ERR(weft_pool_iter_next(it, WEFT_NOWAIT, &idx, &st, NULL), -ETIMEDOUT);
        CHECK_OK(weft_event_set(&g.go));
        CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 1);
        CHECK_EQ(idx, 0);
        CHECK_EQ(st, 4);
        for (size_t k = 1; !unordered && k < 4; k++) {
            CHECK_EQ(weft_pool_iter_next(it, WEFT_NOWAIT, &idx, &st, NULL), 1);
            CHECK_EQ(idx, k);
            CHECK_ERR(st, -ECANCELED);
        }
        CHECK_EQ(weft_pool_iter_next(it, WEFT_NOWAIT, &idx, &st, NULL), 0);
        weft_pool_iter_destroy(it);
        CHECK_OK(weft_pool_destroy(p));
    }
    CHECK_NO_LEAKS();
}

static weft_pool *self_pool;
static int task_self_imap(void *arg, void **result) {
    (void)arg;
    (void)result;
    weft_pool_iter *it;
    void *args[1] = {NULL};
    return weft_pool_imap(self_pool, task_value, args, 1, 0, 0, &it);
}

WEFT_TEST(bad_input) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    void *args[2] = {NULL, NULL};
    weft_pool_iter *it = (weft_pool_iter *)1;
    counter_gen c = {0, 1, -1, 0};
    CHECK_ERR(weft_pool_imap(NULL, task_value, args, 2, 0, 0, &it), -EINVAL);
    CHECK(it == NULL);
    CHECK_ERR(weft_pool_imap(p, NULL, args, 2, 0, 0, &it), -EINVAL);
    CHECK_ERR(weft_pool_imap(p, task_value, NULL, 2, 0, 0, &it), -EINVAL);
    CHECK_ERR(weft_pool_imap(p, task_value, args, 2, 0, 2, &it), -EINVAL);
    CHECK_ERR(weft_pool_imap(p, task_value, args, 2, ((size_t)1 << 24) + 1, 0, &it), -EINVAL);
    CHECK_ERR(weft_pool_imap(p, task_value, args, 2, 0, 0, NULL), -EINVAL);
    CHECK_ERR(weft_pool_imap_gen(p, task_value, NULL, NULL, 0, 0, &it), -EINVAL);
    CHECK_ERR(weft_pool_imap_gen(NULL, task_value, gen_count, &c, 0, 0, &it), -EINVAL);
    CHECK_ERR(weft_pool_imap_gen(p, NULL, gen_count, &c, 0, 0, &it), -EINVAL);
    CHECK_ERR(weft_pool_imap_gen(p, task_value, gen_count, &c, 0, -1, &it), -EINVAL);
    CHECK_ERR(weft_pool_imap_gen(p, task_value, gen_count, &c, 0, 0, NULL), -EINVAL);
    CHECK_EQ(c.calls, 0);
    size_t idx;
    int st;
    CHECK_ERR(weft_pool_iter_next(NULL, 0, &idx, &st, NULL), -EINVAL);
    CHECK_ERR(weft_pool_iter_cancel(NULL), -EINVAL);
    weft_pool_iter_destroy(NULL);
    CHECK_OK(weft_pool_imap(p, task_value, args, 2, 0, 0, &it));
    CHECK_ERR(weft_pool_iter_next(it, 0, NULL, &st, NULL), -EINVAL);
    CHECK_ERR(weft_pool_iter_next(it, 0, &idx, NULL, NULL), -EINVAL);
    weft_pool_iter_destroy(it);
    /* from one of the pool's own workers */
    self_pool = p;
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, task_self_imap, NULL, &f));
    CHECK_ERR(weft_future_result(f, later(), NULL), -EDEADLK);
    weft_future_release(f);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* Every allocation of weft_pool_imap failing in turn: -ENOMEM and nothing left behind
 * (the leak check), or a working iterator. */
WEFT_TEST(allocation_failure) {
    CHECK_OK(test_alloc_install());
    weft_pool *p = make_pool(1);
    void *args[3] = {(void *)1, (void *)2, (void *)3};
    int failed = 0, worked = 0;
    for (int unordered = 0; unordered < 2; unordered++) {
        for (int k = 0; k < 8; k++) {
            weft_pool_iter *it;
            test_alloc_fail_after(k);
            int r =
                weft_pool_imap(p, task_value, args, 3, 2, unordered ? WEFT_POOL_UNORDERED : 0, &it);
            test_alloc_fail_after(-1);
            if (r < 0) {
                CHECK_ERR(r, -ENOMEM);
                failed++;
                continue;
            }
            /* A submit that fails (here, or above for the second input) is yielded as
             * an item with -ENOMEM, and the input ends there. */
            test_alloc_fail_after(0);
            size_t idx, nomem_idx = SIZE_MAX;
            int st, n = 0, nomem = 0;
            unsigned seen = 0;
            while ((r = weft_pool_iter_next(it, later(), &idx, &st, NULL)) == 1) {
                if (st == -ENOMEM) {
                    nomem++;
                    nomem_idx = idx;
                } else {
                    CHECK_EQ(st, (int)(idx + 1));
                }
                seen |= 1u << idx;
                n++;
            }
            test_alloc_fail_after(-1);
            CHECK_EQ(r, 0);
            CHECK_LE(nomem, 1);
            CHECK_EQ(n, nomem ? (int)nomem_idx + 1 : 3);
            CHECK_EQ(seen, (1u << n) - 1);
            weft_pool_iter_destroy(it);
            worked++;
        }
    }
    CHECK_GT(failed, 0);
    CHECK_GT(worked, 0);
    CHECK_OK(weft_pool_destroy(p));
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ coroutines */

/* A coroutine waiting in weft_pool_iter_next parks only itself: the other
 * coroutine of its thread opens the gate the task waits on. */
static gate co_gate;
static weft_pool *co_pool;

static void *co_consumer(void *arg) {
    (void)arg;
    mixed_arg a[3] = {{&co_gate, 0}, {NULL, 21}, {NULL, 22}};
    void *args[3] = {&a[0], &a[1], &a[2]};
    weft_pool_iter *it;
    CHECK_OK(weft_pool_imap(co_pool, task_mixed, args, 3, 0, 0, &it));
    size_t idx;
    int st;
    logf_("%s", "A-wait");
    for (size_t k = 0; k < 3; k++) {
        CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 1);
        CHECK_EQ(idx, k);
    }
    logf_("%s", "A-done");
    CHECK_EQ(weft_pool_iter_next(it, later(), &idx, &st, NULL), 0);
    weft_pool_iter_destroy(it);
    return NULL;
}

static void *co_opener(void *arg) {
    (void)arg;
    CHECK_OK(weft_event_wait(&co_gate.started, later()));
    logf_("%s", "B-open");
    CHECK_OK(weft_event_set(&co_gate.go));
    return NULL;
}

static void body_coro(void) {
    log_reset();
    gate_init(&co_gate, 0);
    co_pool = make_pool(2);
    weft_coro a, b;
    CHECK_OK(weft_spawn(&a, co_consumer, NULL, NULL));
    CHECK_OK(weft_spawn(&b, co_opener, NULL, NULL));
    CHECK_OK(weft_join(a, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(b, WEFT_FOREVER, NULL));
    CHECK_OK(weft_pool_destroy(co_pool));
    CHECK_STR_EQ(logbuf, "A-wait B-open A-done");
}

WEFT_TEST(coroutine_parks_only_itself) {
    run_in_thread(body_coro);
}

/* SHARED-stack coroutines whose tasks read their arguments from the coroutines' stacks:
 * the stack stays in place while the coroutine waits in weft_pool_iter_next. */
#define SHARED_N 12
static atomic_int shared_ok;
static int task_read_slow(void *arg, void **result) {
    (void)result;
    int64_t until = weft_now() + 20 * WEFT_USEC;
    while (weft_now() < until) {
    }
    return *(const int *)arg;
}
static void *shared_consumer(void *arg) {
    weft_pool *p = arg;
    int id = atomic_fetch_add(&shared_ok, 0x10000) >> 16;
    volatile unsigned char canary[256];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 7 + i);
    int vals[16];
    void *args[16];
    for (int i = 0; i < 16; i++) {
        vals[i] = id * 100 + i;
        args[i] = &vals[i];
    }
    weft_pool_iter *it;
    CHECK_OK(weft_pool_imap(p, task_read_slow, args, 16, 4, 0, &it));
    size_t idx;
    int st, r, k = 0;
    while ((r = weft_pool_iter_next(it, later(), &idx, &st, NULL)) == 1) {
        CHECK_EQ(idx, (size_t)k);
        CHECK_EQ(st, id * 100 + k);
        k++;
    }
    CHECK_EQ(r, 0);
    CHECK_EQ(k, 16);
    weft_pool_iter_destroy(it);
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 7 + i));
    atomic_fetch_add(&shared_ok, 1);
    return NULL;
}
static void body_shared(void) {
    weft_pool *p = make_pool(2);
    atomic_store(&shared_ok, 0);
    weft_coro c[SHARED_N];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < SHARED_N; i++)
        CHECK_OK(weft_spawn(&c[i], shared_consumer, p, &o));
    CHECK_OK(weft_joinall(c, SHARED_N, weft_after(30 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&shared_ok) & 0xffff, SHARED_N);
    CHECK_OK(weft_pool_destroy(p));
}
WEFT_TEST(shared_stack_arguments) {
    run_plain_in_thread(body_shared);
}

WEFT_MAIN()
