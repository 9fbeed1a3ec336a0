/* Channels and select: element sizes, buffering, ordering, try-variants, deadlines,
 * close, destroy, bad arguments, select (readiness, closed channels, timeouts, disabled
 * ops, fairness), plain threads and coroutines on several threads, SHARED-stack
 * coroutines (bounce buffers), allocation failure.
 *
 * Most cases run their body on a fresh pthread (run_in_thread): once it has exited, its
 * scheduler is gone and the counting allocator must show nothing left. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>

/* WEFT_TEST_TIMEOUT(cross_thread_plain_stream, 120) */
/* WEFT_TEST_TIMEOUT(cross_thread_coro_pingpong, 120) */
/* WEFT_TEST_TIMEOUT(stress_select_two_threads, 180) */
/* WEFT_TEST_TIMEOUT(shared_bounce_stress, 120) */

struct weft__sched;
#include "internal.h" /* weft__sched_get: to check no scheduler appeared */

/* ------------------------------------------------------------------ helpers */

/* Element number `seq` of a stream of `size`-byte elements. */
static void fill_elem(unsigned char *b, size_t size, uint32_t seq) {
    for (size_t i = 0; i < size; i++)
        b[i] = (unsigned char)(seq * 131u + (uint32_t)i * 7u + (uint32_t)size + (seq >> 8));
}

static void check_elem(const unsigned char *b, size_t size, uint32_t seq) {
    unsigned char want[4096];
    fill_elem(want, size, seq);
    if (memcmp(b, want, size) != 0) {
        for (size_t i = 0; i < size; i++) {
            if (b[i] != want[i])
                fprintf(stderr, "element %u (size %zu): byte %zu is %u, expected %u\n", seq, size,
                        i, b[i], want[i]);
            CHECK_EQ(b[i], want[i]);
        }
    }
}

static int64_t elapsed_since(int64_t t0) { return weft_now() - t0; }

/* ------------------------------------------------------------ arguments */

WEFT_TEST(create_bad_args) { SKIP_IN_GROUP("a thread without a scheduler");
    CHECK_OK(test_alloc_install());
    weft_chan *ch = (weft_chan *)1;
    CHECK_ERR(weft_chan_create(NULL, 8, 0), -EINVAL);
    CHECK_ERR(weft_chan_create(&ch, 0, 0), -EINVAL);
    CHECK_ERR(weft_chan_create(&ch, 65537, 0), -EINVAL);
    CHECK_ERR(weft_chan_create(&ch, (size_t)-1, 0), -EINVAL);
    CHECK_ERR(weft_chan_create(&ch, 8, ((size_t)1 << 30) + 1), -EINVAL);
    CHECK_ERR(weft_chan_create(&ch, 8, (size_t)-1), -EINVAL);
    CHECK_PTR_EQ(ch, (weft_chan *)1); /* untouched on failure */
    CHECK_NO_LEAKS();

    CHECK_ERR(weft_chan_create(&ch, 65536, 2), 0);
    CHECK_EQ(weft_chan_cap(ch), 2);
    CHECK_EQ(weft_chan_len(ch), 0);
    CHECK_ERR(weft_chan_destroy(ch), 0);
    CHECK_ERR(weft_chan_create(&ch, 1, 0), 0);
    CHECK_EQ(weft_chan_cap(ch), 0);

    int v = 0;
    CHECK_ERR(weft_chan_send(NULL, &v, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_chan_send(ch, NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_chan_recv(NULL, &v, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_chan_recv(ch, NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_chan_try_send(NULL, &v), -EINVAL);
    CHECK_ERR(weft_chan_try_send(ch, NULL), -EINVAL);
    CHECK_ERR(weft_chan_try_recv(NULL, &v), -EINVAL);
    CHECK_ERR(weft_chan_try_recv(ch, NULL), -EINVAL);
    CHECK_ERR(weft_chan_close(NULL), -EINVAL);
    CHECK_ERR(weft_chan_destroy(NULL), 0);
    CHECK_EQ(weft_chan_len(NULL), 0);
    CHECK_EQ(weft_chan_cap(NULL), 0);
    CHECK_ERR(weft_chan_destroy(ch), 0);
    CHECK_NO_LEAKS();
    CHECK(weft__sched_get() == NULL); /* none of that needed a scheduler */
}

WEFT_TEST(create_oom) {
    CHECK_OK(test_alloc_install());
    for (size_t cap = 0; cap < 3; cap += 2) {
        int k, r = -1;
        weft_chan *ch = NULL;
        for (k = 0; k < 10; k++) {
            test_alloc_fail_after(k);
            r = weft_chan_create(&ch, 24, cap);
            test_alloc_fail_after(-1);
            if (r == 0)
                break;
            CHECK_ERR(r, -ENOMEM);
            CHECK_NO_LEAKS();
        }
        CHECK_ERR(r, 0);
        CHECK_EQ(k, cap ? 2 : 1); /* the channel, then its buffer */
        unsigned char e[24];
        fill_elem(e, 24, 5);
        if (cap)
            CHECK_ERR(weft_chan_try_send(ch, e), 0);
        CHECK_ERR(weft_chan_destroy(ch), 0);
        CHECK_NO_LEAKS();
    }
}

/* ------------------------------------------------------------ sizes, ordering */

typedef struct {
    weft_chan *ch;
    size_t size;
    uint32_t n;
    int use_try; /* receiver side: spin on try_recv + yield */
} stream_arg;

static void *stream_sender(void *p) {
    stream_arg *a = p;
    unsigned char buf[4096];
    for (uint32_t i = 0; i < a->n; i++) {
        fill_elem(buf, a->size, i);
        CHECK_ERR(weft_chan_send(a->ch, buf, WEFT_FOREVER), 0);
        memset(buf, 0xEE, a->size); /* the channel copied it */
        if (i % 7 == 3)
            CHECK_EQ(weft_yield(), 0);
    }
    return NULL;
}

static void *stream_receiver(void *p) {
    stream_arg *a = p;
    unsigned char buf[4096];
    for (uint32_t i = 0; i < a->n; i++) {
        memset(buf, 0x11, sizeof buf);
        if (a->use_try) {
            int r;
            while ((r = weft_chan_try_recv(a->ch, buf)) == -EAGAIN)
                CHECK_EQ(weft_yield(), 0);
            CHECK_ERR(r, 0);
        } else {
            CHECK_ERR(weft_chan_recv(a->ch, buf, WEFT_FOREVER), 0);
        }
        check_elem(buf, a->size, i);
        CHECK_EQ(buf[a->size], 0x11); /* exactly elem_size bytes written */
        if (i % 5 == 1)
            CHECK_EQ(weft_yield(), 0);
    }
    return NULL;
}

static void body_sizes_and_order(void) {
    static const size_t sizes[] = {1, 2, 4, 8, 16, 24, 100, 1000, 4095};
    static const size_t caps[] = {0, 1, 3, 64};
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (size_t ci = 0; ci < sizeof caps / sizeof caps[0]; ci++) {
            for (int mode = 0; mode < 4; mode++) {
                weft_chan *ch;
                CHECK_ERR(weft_chan_create(&ch, sizes[si], caps[ci]), 0);
                CHECK_EQ(weft_chan_cap(ch), caps[ci]);
                stream_arg a = {ch, sizes[si], 300, mode == 3};
                weft_coro s, r;
                weft_coro_opts so = {.stack_mode = mode & 1 ? WEFT_STACK_SHARED
                                                            : WEFT_STACK_GUARDED};
                weft_coro_opts ro = {.stack_mode = mode & 2 ? WEFT_STACK_SHARED
                                                            : WEFT_STACK_GUARDED};
                /* Receiver first half the time: exercises both hand-off directions. */
                if (mode % 2) {
                    CHECK_ERR(weft_spawn(&r, stream_receiver, &a, &ro), 0);
                    CHECK_ERR(weft_spawn(&s, stream_sender, &a, &so), 0);
                } else {
                    CHECK_ERR(weft_spawn(&s, stream_sender, &a, &so), 0);
                    CHECK_ERR(weft_spawn(&r, stream_receiver, &a, &ro), 0);
                }
                CHECK_ERR(weft_join(s, WEFT_FOREVER, NULL), 0);
                CHECK_ERR(weft_join(r, WEFT_FOREVER, NULL), 0);
                CHECK_EQ(weft_chan_len(ch), 0);
                CHECK_ERR(weft_chan_destroy(ch), 0);
            }
        }
    }
}
WEFT_TEST(sizes_and_order) { SKIP_IN_GROUP("a yield runs the spawned coroutine first"); run_in_thread(body_sizes_and_order); }

/* Main (a coroutine too) against a sender coroutine, element sizes 1, 8, 24, 100. */
static void body_main_send_recv(void) {
    static const size_t sizes[] = {1, 8, 24, 100};
    for (size_t si = 0; si < 4; si++) {
        for (size_t cap = 0; cap < 10; cap += 9) {
            weft_chan *ch;
            CHECK_ERR(weft_chan_create(&ch, sizes[si], cap), 0);
            stream_arg a = {ch, sizes[si], 50, 0};
            weft_coro s;
            CHECK_ERR(weft_spawn(&s, stream_sender, &a, NULL), 0);
            unsigned char buf[128];
            for (uint32_t i = 0; i < 50; i++) {
                CHECK_ERR(weft_chan_recv(ch, buf, WEFT_FOREVER), 0);
                check_elem(buf, sizes[si], i);
            }
            CHECK_ERR(weft_join(s, WEFT_FOREVER, NULL), 0);
            /* And main as the sender, into the buffer only. */
            for (uint32_t i = 0; i < cap; i++) {
                fill_elem(buf, sizes[si], i + 1000);
                CHECK_ERR(weft_chan_send(ch, buf, WEFT_NOWAIT), 0);
                CHECK_EQ(weft_chan_len(ch), i + 1);
            }
            for (uint32_t i = 0; i < cap; i++) {
                CHECK_ERR(weft_chan_recv(ch, buf, WEFT_NOWAIT), 0);
                check_elem(buf, sizes[si], i + 1000);
            }
            CHECK_ERR(weft_chan_destroy(ch), 0);
        }
    }
}
WEFT_TEST(main_send_recv) { run_in_thread(body_main_send_recv); }

/* Blocked receivers are served first come, first served; so are blocked senders. */
static weft_chan *fifo_ch;
static void *fifo_receiver(void *arg) {
    int v;
    CHECK_ERR(weft_chan_recv(fifo_ch, &v, WEFT_FOREVER), 0);
    logf_("%s=%d", (const char *)arg, v);
    return NULL;
}
static void *fifo_sender(void *arg) {
    int v = (int)(intptr_t)arg;
    CHECK_ERR(weft_chan_send(fifo_ch, &v, WEFT_FOREVER), 0);
    logf_("sent%d", v);
    return NULL;
}

static void body_waiters_fifo(void) {
    static const char *names[] = {"r1", "r2", "r3"};
    for (size_t cap = 0; cap < 3; cap++) {
        log_reset();
        CHECK_ERR(weft_chan_create(&fifo_ch, sizeof(int), cap), 0);
        weft_coro cs[3];
        for (int i = 0; i < 3; i++)
            CHECK_ERR(weft_spawn(&cs[i], fifo_receiver, (void *)names[i], NULL), 0);
        CHECK_EQ(weft_yield(), 0); /* all three park, in order */
        for (int v = 1; v <= 3; v++)
            CHECK_ERR(weft_chan_send(fifo_ch, &v, WEFT_NOWAIT), 0); /* hand-off: no wait */
        CHECK_EQ(weft_chan_len(fifo_ch), 0);
        CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);
        CHECK_STR_EQ(logbuf, "r1=1 r2=2 r3=3");

        /* Senders: the buffer fills first, then they park in order. */
        log_reset();
        for (int i = 0; i < 3; i++)
            CHECK_ERR(weft_spawn(&cs[i], fifo_sender, (void *)(intptr_t)(10 + i), NULL), 0);
        CHECK_EQ(weft_yield(), 0);
        CHECK_EQ(weft_chan_len(fifo_ch), cap);
        for (int i = 0; i < 3; i++) {
            int v;
            CHECK_ERR(weft_chan_recv(fifo_ch, &v, WEFT_NOWAIT), 0);
            CHECK_EQ(v, 10 + i);
        }
        CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);
        CHECK_ERR(weft_chan_destroy(fifo_ch), 0);
    }
}
WEFT_TEST(waiters_fifo) { SKIP_IN_GROUP("coroutines queue in the order they were spawned"); run_in_thread(body_waiters_fifo); }

/* ------------------------------------------------------------ try, deadlines */

static void *recv_one_int(void *arg) {
    int v = -1;
    int r = weft_chan_recv(arg, &v, WEFT_FOREVER);
    return (void *)(intptr_t)(r < 0 ? r : v);
}

static void *send_one_int(void *arg) {
    int v = 4242;
    return (void *)(intptr_t)weft_chan_send(arg, &v, WEFT_FOREVER);
}

static void body_try_ops(void) {
    weft_chan *u, *b;
    CHECK_ERR(weft_chan_create(&u, sizeof(int), 0), 0);
    CHECK_ERR(weft_chan_create(&b, sizeof(int), 3), 0);
    int v = 1;
    CHECK_ERR(weft_chan_try_send(u, &v), -EAGAIN);
    CHECK_ERR(weft_chan_try_recv(u, &v), -EAGAIN);
    CHECK_ERR(weft_chan_try_recv(b, &v), -EAGAIN);
    for (v = 1; v <= 3; v++)
        CHECK_ERR(weft_chan_try_send(b, &v), 0);
    CHECK_EQ(weft_chan_len(b), 3);
    CHECK_ERR(weft_chan_try_send(b, &v), -EAGAIN);
    CHECK_EQ(weft_chan_len(b), 3);
    for (int i = 1; i <= 3; i++) {
        CHECK_ERR(weft_chan_try_recv(b, &v), 0);
        CHECK_EQ(v, i);
    }
    CHECK_ERR(weft_chan_try_recv(b, &v), -EAGAIN);
    /* Wrap the ring a few times. */
    for (int i = 0; i < 20; i++) {
        v = i;
        CHECK_ERR(weft_chan_try_send(b, &v), 0);
        if (i % 3 == 2) {
            for (int k = i - 2; k <= i; k++) {
                CHECK_ERR(weft_chan_try_recv(b, &v), 0);
                CHECK_EQ(v, k);
            }
        }
    }
    /* Unbuffered with a parked peer: the try succeeds by hand-off. */
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, recv_one_int, u, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    v = 77;
    CHECK_ERR(weft_chan_try_send(u, &v), 0);
    void *res;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 77);
    CHECK_ERR(weft_spawn(&c, send_one_int, u, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_chan_try_recv(u, &v), 0);
    CHECK_EQ(v, 4242);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 0);
    CHECK_ERR(weft_chan_destroy(u), 0);
    CHECK_ERR(weft_chan_destroy(b), 0);
}
WEFT_TEST(try_ops) { SKIP_IN_GROUP("a yield runs the spawned coroutine first"); run_in_thread(body_try_ops); }

static void body_deadlines(void) {
    weft_chan *u, *b;
    CHECK_ERR(weft_chan_create(&u, 24, 0), 0);
    CHECK_ERR(weft_chan_create(&b, 24, 1), 0);
    unsigned char e[24];
    fill_elem(e, 24, 1);
    CHECK_ERR(weft_chan_recv(u, e, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_chan_send(u, e, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_chan_recv(u, e, weft_now() - WEFT_SEC), -ETIMEDOUT);
    CHECK_ERR(weft_chan_send(u, e, 1), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_chan_recv(u, e, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 20 * WEFT_MSEC);
    t0 = weft_now();
    CHECK_ERR(weft_chan_send(u, e, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 20 * WEFT_MSEC);
    check_elem(e, 24, 1); /* a failed recv leaves the buffer alone */
    CHECK_ERR(weft_chan_send(b, e, WEFT_NOWAIT), 0);
    t0 = weft_now();
    CHECK_ERR(weft_chan_send(b, e, weft_after(15 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 15 * WEFT_MSEC);
    CHECK_EQ(weft_chan_len(b), 1);
    /* Timed-out waiters left no trace: destroy sees nobody. */
    CHECK_ERR(weft_chan_destroy(u), 0);
    CHECK_ERR(weft_chan_destroy(b), 0);
}
/* First on a thread without a scheduler, then as the main coroutine of one. */
static void body_deadlines_both(void) {
    body_deadlines();
    CHECK(weft_self().p != NULL);
    body_deadlines();
}
WEFT_TEST(deadlines) { run_in_thread(body_deadlines_both); }

/* A deadline that ends one wait does not end an unrelated one in another coroutine;
 * a send that completes just before the deadline is not reported as a timeout. */
static void *timed_recv(void *arg) {
    int v = -1;
    int r = weft_chan_recv(arg, &v, weft_after(2 * WEFT_SEC));
    return (void *)(intptr_t)(r < 0 ? r : v);
}

static void body_deadline_not_spurious(void) {
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(int), 0), 0);
    weft_coro c[4];
    for (int i = 0; i < 4; i++)
        CHECK_ERR(weft_spawn(&c[i], timed_recv, ch, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    for (int v = 0; v < 4; v++) {
        CHECK_ERR(weft_sleep(WEFT_MSEC), 0);
        CHECK_ERR(weft_chan_send(ch, &v, WEFT_FOREVER), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *res;
        CHECK_ERR(weft_join(c[i], WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, i);
    }
    CHECK_ERR(weft_chan_destroy(ch), 0);
}
WEFT_TEST(deadline_not_spurious) { run_in_thread(body_deadline_not_spurious); }

/* ------------------------------------------------------------ close, destroy */

static void *send_until_error(void *arg) {
    weft_chan *ch = arg;
    int n = 0, r;
    for (;;) {
        int v = 100 + n;
        r = weft_chan_send(ch, &v, WEFT_FOREVER);
        if (r < 0)
            break;
        n++;
    }
    logf_("sender:%d:%d", n, r);
    return (void *)(intptr_t)r;
}

static void body_close(void) {
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(int), 4), 0);
    for (int v = 1; v <= 3; v++)
        CHECK_ERR(weft_chan_send(ch, &v, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_chan_close(ch), 0);
    CHECK_ERR(weft_chan_close(ch), -EPIPE);
    int v = 9;
    CHECK_ERR(weft_chan_send(ch, &v, WEFT_FOREVER), -EPIPE);
    CHECK_ERR(weft_chan_send(ch, &v, WEFT_NOWAIT), -EPIPE);
    CHECK_ERR(weft_chan_try_send(ch, &v), -EPIPE);
    CHECK_EQ(weft_chan_len(ch), 3);
    /* Receivers drain the buffer first. */
    for (int i = 1; i <= 3; i++) {
        CHECK_ERR(weft_chan_recv(ch, &v, WEFT_FOREVER), 0);
        CHECK_EQ(v, i);
    }
    v = -7;
    CHECK_ERR(weft_chan_recv(ch, &v, WEFT_FOREVER), -EPIPE);
    CHECK_ERR(weft_chan_recv(ch, &v, WEFT_NOWAIT), -EPIPE);
    CHECK_ERR(weft_chan_try_recv(ch, &v), -EPIPE);
    CHECK_EQ(v, -7);
    CHECK_ERR(weft_chan_destroy(ch), 0);

    /* Blocked receivers (unbuffered and empty buffered) get -EPIPE. */
    for (size_t cap = 0; cap < 2; cap++) {
        CHECK_ERR(weft_chan_create(&ch, sizeof(int), cap), 0);
        weft_coro rs[3];
        for (int i = 0; i < 3; i++) {
            weft_coro_opts o = {.stack_mode = i == 1 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
            CHECK_ERR(weft_spawn(&rs[i], recv_one_int, ch, &o), 0);
        }
        CHECK_EQ(weft_yield(), 0);
        CHECK_ERR(weft_chan_close(ch), 0);
        for (int i = 0; i < 3; i++) {
            void *res;
            CHECK_ERR(weft_join(rs[i], WEFT_FOREVER, &res), 0);
            CHECK_EQ((intptr_t)res, -EPIPE);
        }
        CHECK_ERR(weft_chan_destroy(ch), 0);
    }

    /* Blocked senders get -EPIPE; what they had buffered is still delivered. */
    for (size_t cap = 0; cap < 3; cap += 2) {
        log_reset();
        CHECK_ERR(weft_chan_create(&ch, sizeof(int), cap), 0);
        weft_coro s;
        CHECK_ERR(weft_spawn(&s, send_until_error, ch, NULL), 0);
        CHECK_EQ(weft_yield(), 0);
        CHECK_EQ(weft_chan_len(ch), cap);
        CHECK_ERR(weft_chan_close(ch), 0);
        void *res;
        CHECK_ERR(weft_join(s, WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, -EPIPE);
        char want[64];
        snprintf(want, sizeof want, "sender:%zu:%d", cap, -EPIPE);
        CHECK_STR_EQ(logbuf, want);
        for (size_t i = 0; i < cap; i++) {
            CHECK_ERR(weft_chan_recv(ch, &v, WEFT_NOWAIT), 0);
            CHECK_EQ(v, 100 + (int)i);
        }
        CHECK_ERR(weft_chan_recv(ch, &v, WEFT_NOWAIT), -EPIPE);
        CHECK_ERR(weft_chan_destroy(ch), 0);
    }
}
WEFT_TEST(close) { SKIP_IN_GROUP("a yield runs the spawned coroutine first"); run_in_thread(body_close); }

static void body_destroy_busy(void) {
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(int), 0), 0);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, recv_one_int, ch, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_chan_destroy(ch), -EBUSY);
    CHECK_ERR(weft_chan_destroy(ch), -EBUSY);
    int v = 5;
    CHECK_ERR(weft_chan_send(ch, &v, WEFT_NOWAIT), 0); /* still fully usable */
    void *res;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 5);
    /* A blocked sender too. */
    CHECK_ERR(weft_spawn(&c, send_one_int, ch, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_chan_destroy(ch), -EBUSY);
    CHECK_ERR(weft_chan_close(ch), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, -EPIPE);
    CHECK_ERR(weft_chan_destroy(ch), 0);
}
WEFT_TEST(destroy_busy) { SKIP_IN_GROUP("a yield runs the spawned coroutine first"); run_in_thread(body_destroy_busy); }

/* ------------------------------------------------------------ select */

static void body_select_basic(void) {
    weft_chan *a, *b;
    CHECK_ERR(weft_chan_create(&a, sizeof(int), 1), 0);
    CHECK_ERR(weft_chan_create(&b, sizeof(int), 1), 0);
    int va = -1, vb = -1;
    weft_select_op ops[2] = {{a, WEFT_RECV, &va, 99}, {b, WEFT_RECV, &vb, 99}};
    int x = 5;
    CHECK_ERR(weft_chan_send(b, &x, WEFT_NOWAIT), 0);
    for (int rep = 0; rep < 20; rep++) { /* whatever the random start */
        ops[1].result = 99;
        CHECK_ERR(weft_select(ops, 2, WEFT_FOREVER), 1);
        CHECK_EQ(ops[1].result, 0);
        CHECK_EQ(vb, 5);
        CHECK_EQ(va, -1);
        CHECK_ERR(weft_chan_send(b, &x, WEFT_NOWAIT), 0);
    }
    CHECK_ERR(weft_chan_recv(b, &x, WEFT_NOWAIT), 0);
    /* Nothing ready: NOWAIT and past deadlines time out at once; a deadline waits. */
    CHECK_ERR(weft_select(ops, 2, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_select(ops, 2, weft_now() - 1), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_select(ops, 2, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 20 * WEFT_MSEC);
    /* Sends: a is full, b has room. */
    x = 1;
    CHECK_ERR(weft_chan_send(a, &x, WEFT_NOWAIT), 0);
    int sa = 10, sb = 20;
    weft_select_op sops[2] = {{a, WEFT_SEND, &sa, 99}, {b, WEFT_SEND, &sb, 99}};
    CHECK_ERR(weft_select(sops, 2, WEFT_NOWAIT), 1);
    CHECK_EQ(sops[1].result, 0);
    CHECK_ERR(weft_select(sops, 2, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_chan_recv(b, &x, WEFT_NOWAIT), 0);
    CHECK_EQ(x, 20);
    /* Mixed send and recv on the same channel: a is full, so only the recv can go. */
    weft_select_op mops[2] = {{a, WEFT_SEND, &sa, 99}, {a, WEFT_RECV, &va, 99}};
    CHECK_ERR(weft_select(mops, 2, WEFT_FOREVER), 1);
    CHECK_EQ(va, 1);
    /* Now a is empty: the send goes. */
    CHECK_ERR(weft_select(mops, 2, WEFT_FOREVER), 0);
    CHECK_ERR(weft_chan_recv(a, &x, WEFT_NOWAIT), 0);
    CHECK_EQ(x, 10);
    CHECK_ERR(weft_chan_destroy(a), 0);
    CHECK_ERR(weft_chan_destroy(b), 0);
}
/* First on a thread without a scheduler, then as the main coroutine of one. */
static void body_select_basic_both(void) {
    body_select_basic();
    CHECK(weft_self().p != NULL);
    body_select_basic();
}
WEFT_TEST(select_basic) { run_in_thread(body_select_basic_both); }

static void body_select_args(void) {
    weft_chan *a;
    CHECK_ERR(weft_chan_create(&a, sizeof(int), 1), 0);
    int v = 0;
    CHECK_ERR(weft_select(NULL, 1, WEFT_NOWAIT), -EINVAL);
    weft_select_op bad[2] = {{a, 3, &v, 0}, {a, WEFT_RECV, &v, 0}};
    CHECK_ERR(weft_select(bad, 2, WEFT_NOWAIT), -EINVAL);
    bad[0] = (weft_select_op){a, 0, &v, 0};
    CHECK_ERR(weft_select(bad, 2, WEFT_NOWAIT), -EINVAL);
    bad[0] = (weft_select_op){a, WEFT_SEND, NULL, 0};
    CHECK_ERR(weft_select(bad, 2, WEFT_NOWAIT), -EINVAL);
    bad[0] = (weft_select_op){a, WEFT_RECV, NULL, 0};
    CHECK_ERR(weft_select(bad, 1, WEFT_FOREVER), -EINVAL);
    weft_select_op *many = calloc(1025, sizeof *many);
    CHECK(many != NULL);
    CHECK_ERR(weft_select(many, 1025, WEFT_NOWAIT), -EINVAL);
    /* 1024 disabled ops are fine: nothing to wait for. */
    CHECK_ERR(weft_select(many, 1024, WEFT_NOWAIT), -ETIMEDOUT);
    free(many);
    CHECK_EQ(weft_chan_len(a), 0); /* nothing was done by the failed calls */

    /* Disabled ops are ignored, whatever their other fields. */
    weft_select_op ops[3] = {{NULL, 12345, NULL, 0}, {a, WEFT_RECV, &v, 99}, {NULL, 0, NULL, 0}};
    CHECK_ERR(weft_select(ops, 3, WEFT_NOWAIT), -ETIMEDOUT);
    int x = 3;
    CHECK_ERR(weft_chan_send(a, &x, WEFT_NOWAIT), 0);
    for (int rep = 0; rep < 10; rep++) {
        CHECK_ERR(weft_select(ops, 3, WEFT_FOREVER), 1);
        CHECK_EQ(v, 3);
        CHECK_ERR(weft_chan_send(a, &x, WEFT_NOWAIT), 0);
    }
    /* No ops at all (or only disabled ones): waits for the deadline. */
    CHECK_ERR(weft_select(NULL, 0, WEFT_NOWAIT), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_select(NULL, 0, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 10 * WEFT_MSEC);
    t0 = weft_now();
    CHECK_ERR(weft_select(ops, 1, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 10 * WEFT_MSEC);
    CHECK_ERR(weft_chan_destroy(a), 0);
}
/* First on a thread without a scheduler, then as the main coroutine of one. */
static void body_select_args_both(void) {
    body_select_args();
    CHECK(weft_self().p != NULL);
    body_select_args();
}
WEFT_TEST(select_args) { run_in_thread(body_select_args_both); }

static void body_select_closed(void) {
    weft_chan *a, *b;
    CHECK_ERR(weft_chan_create(&a, sizeof(int), 2), 0);
    CHECK_ERR(weft_chan_create(&b, sizeof(int), 0), 0);
    int x = 8, v = -1;
    CHECK_ERR(weft_chan_send(a, &x, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_chan_close(a), 0);
    weft_select_op ops[2] = {{a, WEFT_RECV, &v, 99}, {b, WEFT_RECV, &v, 99}};
    /* The buffered element first, then the closed state. */
    CHECK_ERR(weft_select(ops, 2, WEFT_FOREVER), 0);
    CHECK_EQ(ops[0].result, 0);
    CHECK_EQ(v, 8);
    ops[0].result = 99;
    CHECK_ERR(weft_select(ops, 2, WEFT_FOREVER), 0);
    CHECK_ERR(ops[0].result, -EPIPE);
    ops[0].result = 99;
    CHECK_ERR(weft_select(ops, 2, WEFT_NOWAIT), 0);
    CHECK_ERR(ops[0].result, -EPIPE);
    /* A send op on a closed channel. */
    weft_select_op sops[2] = {{b, WEFT_SEND, &x, 99}, {a, WEFT_SEND, &x, 99}};
    CHECK_ERR(weft_select(sops, 2, WEFT_FOREVER), 1);
    CHECK_ERR(sops[1].result, -EPIPE);
    CHECK_ERR(weft_chan_destroy(a), 0);
    CHECK_ERR(weft_chan_destroy(b), 0);
}
/* First on a thread without a scheduler, then as the main coroutine of one. */
static void body_select_closed_both(void) {
    body_select_closed();
    CHECK(weft_self().p != NULL);
    body_select_closed();
}
WEFT_TEST(select_closed) { run_in_thread(body_select_closed_both); }

/* A select parked in a coroutine, completed in various ways by others. */
typedef struct {
    weft_chan *c1, *c2;
    int send_val;
    int recv_val;
    int idx;
    int result;
    int64_t deadline;
    int nops; /* padding with disabled ops and extra never-ready ops beyond 2 */
    weft_chan *never;
} psel_arg;

static void *parked_select(void *p) {
    psel_arg *a = p;
    weft_select_op ops[20];
    int dummy = 0;
    memset(ops, 0, sizeof ops);
    int n = a->nops < 2 ? 2 : a->nops;
    /* The two live ops are placed at the end, after never-ready and disabled ones. */
    for (int i = 0; i < n - 2; i++)
        ops[i] = (weft_select_op){i % 3 == 0 ? NULL : a->never, WEFT_RECV, &dummy, 0};
    ops[n - 2] = (weft_select_op){a->c1, WEFT_SEND, &a->send_val, 99};
    ops[n - 1] = (weft_select_op){a->c2, WEFT_RECV, &a->recv_val, 99};
    a->idx = weft_select(ops, (size_t)n, a->deadline);
    if (a->idx >= 0) {
        a->result = ops[a->idx].result;
        a->idx -= n - 2; /* 0: the send, 1: the recv */
    }
    return NULL;
}

static void body_select_parked(void) {
    for (int nops = 2; nops <= 20; nops += 18) {
        for (int mode = 0; mode < 2; mode++) {
            weft_chan *c1, *c2, *never;
            CHECK_ERR(weft_chan_create(&c1, sizeof(int), 0), 0);
            CHECK_ERR(weft_chan_create(&c2, sizeof(int), 0), 0);
            CHECK_ERR(weft_chan_create(&never, sizeof(int), 0), 0);
            weft_coro_opts o = {.stack_mode = mode ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
            psel_arg a = {c1, c2, 11, -1, -100, 99, WEFT_FOREVER, nops, never};
            weft_coro c;
            /* The send completes when someone receives. */
            CHECK_ERR(weft_spawn(&c, parked_select, &a, &o), 0);
            CHECK_EQ(weft_yield(), 0);
            CHECK_ERR(weft_chan_destroy(c1), -EBUSY);
            int v = 0;
            CHECK_ERR(weft_chan_recv(c1, &v, WEFT_NOWAIT), 0);
            CHECK_EQ(v, 11);
            CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
            CHECK_EQ(a.idx, 0);
            CHECK_EQ(a.result, 0);
            /* The recv completes when someone sends; the send op was withdrawn. */
            a.send_val = 12;
            CHECK_ERR(weft_spawn(&c, parked_select, &a, &o), 0);
            CHECK_EQ(weft_yield(), 0);
            v = 21;
            CHECK_ERR(weft_chan_send(c2, &v, WEFT_NOWAIT), 0);
            CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
            CHECK_EQ(a.idx, 1);
            CHECK_EQ(a.result, 0);
            CHECK_EQ(a.recv_val, 21);
            CHECK_ERR(weft_chan_recv(c1, &v, WEFT_NOWAIT), -ETIMEDOUT);
            /* Closing one of its channels. */
            CHECK_ERR(weft_spawn(&c, parked_select, &a, &o), 0);
            CHECK_EQ(weft_yield(), 0);
            CHECK_ERR(weft_chan_close(c2), 0);
            CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
            CHECK_EQ(a.idx, 1);
            CHECK_ERR(a.result, -EPIPE);
            /* Timing out. */
            CHECK_ERR(weft_chan_destroy(c2), 0);
            CHECK_ERR(weft_chan_create(&c2, sizeof(int), 0), 0);
            a.c2 = c2;
            a.deadline = weft_after(10 * WEFT_MSEC);
            CHECK_ERR(weft_spawn(&c, parked_select, &a, &o), 0);
            CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
            CHECK_ERR(a.idx, -ETIMEDOUT);
            /* Cancelled. */
            a.deadline = WEFT_FOREVER;
            CHECK_ERR(weft_spawn(&c, parked_select, &a, &o), 0);
            CHECK_EQ(weft_yield(), 0);
            CHECK_ERR(weft_cancel(c), 0);
            CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
            CHECK_ERR(a.idx, -ECANCELED);
            /* Every node was withdrawn each time. */
            CHECK_ERR(weft_chan_destroy(c1), 0);
            CHECK_ERR(weft_chan_destroy(c2), 0);
            CHECK_ERR(weft_chan_destroy(never), 0);
        }
    }
}
WEFT_TEST(select_parked) { SKIP_IN_GROUP("a yield runs the spawned coroutine first"); run_in_thread(body_select_parked); }

/* Both sides in select: a select-send meets a select-recv. */
static weft_chan *ss_a, *ss_b;
static void *select_sender_side(void *arg) {
    int base = (int)(intptr_t)arg;
    for (int i = 0; i < 200; i++) {
        int va = base + i, vb = -(base + i);
        weft_select_op ops[2] = {{ss_a, WEFT_SEND, &va, 99}, {ss_b, WEFT_SEND, &vb, 99}};
        int r = weft_select(ops, 2, WEFT_FOREVER);
        CHECK(r == 0 || r == 1);
        CHECK_EQ(ops[r].result, 0);
    }
    return NULL;
}
static void *select_receiver_side(void *arg) {
    (void)arg;
    long sum = 0;
    for (int i = 0; i < 200; i++) {
        int va = 0, vb = 0;
        weft_select_op ops[2] = {{ss_b, WEFT_RECV, &vb, 99}, {ss_a, WEFT_RECV, &va, 99}};
        int r = weft_select(ops, 2, WEFT_FOREVER);
        CHECK(r == 0 || r == 1);
        CHECK_EQ(ops[r].result, 0);
        sum += r == 1 ? va : -vb;
        if (i % 3 == 0)
            CHECK_EQ(weft_yield(), 0);
    }
    return (void *)(intptr_t)sum;
}

static void body_select_both_sides(void) {
    for (int mode = 0; mode < 4; mode++) {
        CHECK_ERR(weft_chan_create(&ss_a, sizeof(int), mode >= 2 ? 2 : 0), 0);
        CHECK_ERR(weft_chan_create(&ss_b, sizeof(int), 0), 0);
        weft_coro s, r;
        weft_coro_opts o = {.stack_mode = mode % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&r, select_receiver_side, NULL, &o), 0);
        CHECK_ERR(weft_spawn(&s, select_sender_side, (void *)1000, &o), 0);
        void *res;
        CHECK_ERR(weft_join(s, WEFT_FOREVER, NULL), 0);
        CHECK_ERR(weft_join(r, WEFT_FOREVER, &res), 0);
        long want = 0;
        for (int i = 0; i < 200; i++)
            want += 1000 + i;
        CHECK_EQ((long)(intptr_t)res, want);
        CHECK_ERR(weft_chan_destroy(ss_a), 0);
        CHECK_ERR(weft_chan_destroy(ss_b), 0);
    }
}
WEFT_TEST(select_both_sides) { run_in_thread(body_select_both_sides); }

static void body_select_fairness(void) {
    weft_chan *a, *b;
    CHECK_ERR(weft_chan_create(&a, sizeof(int), 1), 0);
    CHECK_ERR(weft_chan_create(&b, sizeof(int), 1), 0);
    int x = 1;
    CHECK_ERR(weft_chan_send(a, &x, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_chan_send(b, &x, WEFT_NOWAIT), 0);
    int va, vb, count[2] = {0, 0};
    weft_select_op ops[2] = {{a, WEFT_RECV, &va, 0}, {b, WEFT_RECV, &vb, 0}};
    for (int i = 0; i < 1000; i++) {
        int r = weft_select(ops, 2, WEFT_FOREVER);
        CHECK(r == 0 || r == 1);
        count[r]++;
        CHECK_ERR(weft_chan_send(r ? b : a, &x, WEFT_NOWAIT), 0); /* ready again */
    }
    CHECK_GE(count[0], 300);
    CHECK_GE(count[1], 300);
    /* Sends: both always have room. */
    CHECK_ERR(weft_chan_recv(a, &x, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_chan_recv(b, &x, WEFT_NOWAIT), 0);
    count[0] = count[1] = 0;
    weft_select_op sops[2] = {{a, WEFT_SEND, &x, 0}, {b, WEFT_SEND, &x, 0}};
    for (int i = 0; i < 1000; i++) {
        int r = weft_select(sops, 2, WEFT_NOWAIT);
        CHECK(r == 0 || r == 1);
        count[r]++;
        CHECK_ERR(weft_chan_recv(r ? b : a, &va, WEFT_NOWAIT), 0);
    }
    CHECK_GE(count[0], 300);
    CHECK_GE(count[1], 300);
    CHECK_ERR(weft_chan_destroy(a), 0);
    CHECK_ERR(weft_chan_destroy(b), 0);
}
/* First on a thread without a scheduler, then as the main coroutine of one. */
static void body_select_fairness_both(void) {
    body_select_fairness();
    CHECK(weft_self().p != NULL);
    body_select_fairness();
}
WEFT_TEST(select_fairness) { run_in_thread(body_select_fairness_both); }

/* On a plain thread too (no scheduler: its own source of randomness). */
WEFT_TEST(select_fairness_plain_thread) { SKIP_IN_GROUP("a thread without a scheduler");
    CHECK_OK(test_alloc_install());
    weft_chan *a, *b, *c;
    CHECK_ERR(weft_chan_create(&a, sizeof(int), 1), 0);
    CHECK_ERR(weft_chan_create(&b, sizeof(int), 1), 0);
    CHECK_ERR(weft_chan_create(&c, sizeof(int), 1), 0);
    int x = 1, v, count[3] = {0, 0, 0};
    CHECK_ERR(weft_chan_send(a, &x, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_chan_send(b, &x, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_chan_send(c, &x, WEFT_NOWAIT), 0);
    weft_select_op ops[3] = {{a, WEFT_RECV, &v, 0}, {b, WEFT_RECV, &v, 0}, {c, WEFT_RECV, &v, 0}};
    for (int i = 0; i < 1500; i++) {
        int r = weft_select(ops, 3, WEFT_FOREVER);
        CHECK(r >= 0 && r < 3);
        count[r]++;
        CHECK_ERR(weft_chan_send(ops[r].chan, &x, WEFT_NOWAIT), 0);
    }
    for (int i = 0; i < 3; i++)
        CHECK_GE(count[i], 300);
    CHECK(weft__sched_get() == NULL);
    CHECK_ERR(weft_chan_destroy(a), 0);
    CHECK_ERR(weft_chan_destroy(b), 0);
    CHECK_ERR(weft_chan_destroy(c), 0);
    CHECK_NO_LEAKS();
}

/* select needs memory beyond 8 ops; every failure is clean. */
static void body_select_oom(void) {
    weft_chan *chs[12];
    int vals[12];
    weft_select_op ops[12];
    for (int i = 0; i < 12; i++) {
        CHECK_ERR(weft_chan_create(&chs[i], sizeof(int), 0), 0);
        ops[i] = (weft_select_op){chs[i], i % 2 ? WEFT_SEND : WEFT_RECV, &vals[i], 0};
    }
    int k, r = 0;
    for (k = 0; k < 20; k++) {
        test_alloc_fail_after(k);
        r = weft_select(ops, 12, weft_after(WEFT_MSEC));
        test_alloc_fail_after(-1);
        if (r != -ENOMEM)
            break;
    }
    CHECK_ERR(r, -ETIMEDOUT);
    CHECK_GT(k, 0);
    for (int i = 0; i < 12; i++)
        CHECK_ERR(weft_chan_destroy(chs[i]), 0);
}
/* First on a thread without a scheduler, then as the main coroutine of one. */
static void body_select_oom_both(void) {
    body_select_oom();
    CHECK(weft_self().p != NULL);
    body_select_oom();
}
WEFT_TEST(select_oom) { SKIP_IN_GROUP("the counting allocator of run_in_thread"); run_in_thread(body_select_oom_both); }

/* ------------------------------------------------------------ plain threads */

typedef struct {
    weft_chan *to_coro, *from_coro;
    uint32_t n, batch;
} stream_ctx;

/* A thread that never uses coroutines: sends in batches, reads back each batch. */
static void *plain_streamer(void *p) {
    stream_ctx *c = p;
    for (uint32_t i = 0; i < c->n; i += c->batch) {
        uint32_t end = i + c->batch < c->n ? i + c->batch : c->n;
        for (uint32_t k = i; k < end; k++) {
            uint64_t v = (uint64_t)k * 3 + 1;
            CHECK_ERR(weft_chan_send(c->to_coro, &v, WEFT_FOREVER), 0);
        }
        for (uint32_t k = i; k < end; k++) {
            uint64_t v;
            CHECK_ERR(weft_chan_recv(c->from_coro, &v, WEFT_FOREVER), 0);
            CHECK_EQ(v, (uint64_t)k * 3 + 2);
        }
    }
    CHECK(weft__sched_get() == NULL);
    return NULL;
}

static void *forwarder(void *p) {
    stream_ctx *c = p;
    for (uint32_t k = 0; k < c->n; k++) {
        uint64_t v;
        CHECK_ERR(weft_chan_recv(c->to_coro, &v, WEFT_FOREVER), 0);
        CHECK_EQ(v, (uint64_t)k * 3 + 1);
        v++;
        CHECK_ERR(weft_chan_send(c->from_coro, &v, WEFT_FOREVER), 0);
    }
    return NULL;
}

static void run_stream(uint32_t n, size_t cap, uint32_t batch, weft_stack_mode mode) {
    stream_ctx c = {NULL, NULL, n, batch};
    CHECK_ERR(weft_chan_create(&c.to_coro, sizeof(uint64_t), cap), 0);
    CHECK_ERR(weft_chan_create(&c.from_coro, sizeof(uint64_t), cap), 0);
    weft_coro f;
    weft_coro_opts o = {.stack_mode = mode};
    CHECK_ERR(weft_spawn(&f, forwarder, &c, &o), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, plain_streamer, &c), 0);
    CHECK_ERR(weft_join(f, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_ERR(weft_chan_destroy(c.to_coro), 0);
    CHECK_ERR(weft_chan_destroy(c.from_coro), 0);
}

static void body_cross_thread_plain_stream(void) {
    run_stream(100000, 64, 32, WEFT_STACK_GUARDED);
    run_stream(20000, 0, 1, WEFT_STACK_GUARDED);   /* unbuffered ping-pong */
    run_stream(20000, 0, 1, WEFT_STACK_SHARED);    /* into a SHARED coroutine's stack */
    run_stream(20000, 16, 16, WEFT_STACK_SHARED);
}
WEFT_TEST(cross_thread_plain_stream) { run_in_thread(body_cross_thread_plain_stream); }

/* Coroutines of two threads ping-pong over unbuffered channels. */
typedef struct {
    weft_chan *ping, *pong;
    int n;
    int server;
    weft_stack_mode mode;
} pp_ctx;

static void *pp_coro(void *p) {
    pp_ctx *c = p;
    for (int i = 0; i < c->n; i++) {
        int v;
        if (c->server) {
            CHECK_ERR(weft_chan_recv(c->ping, &v, WEFT_FOREVER), 0);
            CHECK_EQ(v, i);
            v = -i;
            CHECK_ERR(weft_chan_send(c->pong, &v, WEFT_FOREVER), 0);
        } else {
            v = i;
            CHECK_ERR(weft_chan_send(c->ping, &v, WEFT_FOREVER), 0);
            CHECK_ERR(weft_chan_recv(c->pong, &v, WEFT_FOREVER), 0);
            CHECK_EQ(v, -i);
        }
    }
    return NULL;
}

static void *pp_thread(void *p) {
    pp_ctx *c = p;
    weft_coro a;
    weft_coro_opts o = {.stack_mode = c->mode};
    CHECK_ERR(weft_spawn(&a, pp_coro, c, &o), 0);
    CHECK_ERR(weft_join(a, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_coro_count(), 0);
    return NULL;
}

static void body_cross_thread_coro_pingpong(void) {
    for (int mode = 0; mode < 2; mode++) {
        weft_chan *ping, *pong;
        CHECK_ERR(weft_chan_create(&ping, sizeof(int), 0), 0);
        CHECK_ERR(weft_chan_create(&pong, sizeof(int), 0), 0);
        pp_ctx server = {ping, pong, 20000, 1, mode ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        pp_ctx client = server;
        client.server = 0;
        pthread_t t1, t2;
        CHECK_EQ(pthread_create(&t1, NULL, pp_thread, &server), 0);
        CHECK_EQ(pthread_create(&t2, NULL, pp_thread, &client), 0);
        CHECK_EQ(pthread_join(t1, NULL), 0);
        CHECK_EQ(pthread_join(t2, NULL), 0);
        CHECK_ERR(weft_chan_destroy(ping), 0);
        CHECK_ERR(weft_chan_destroy(pong), 0);
    }
}
WEFT_TEST(cross_thread_coro_pingpong) { run_in_thread(body_cross_thread_coro_pingpong); }

/* A plain thread blocked with a deadline times out; then a coroutine wakes it. */
static weft_chan *pt_ready;
static void *plain_timeout_thread(void *p) {
    weft_chan *ch = p;
    int v = -1;
    int64_t t0 = weft_now();
    CHECK_ERR(weft_chan_recv(ch, &v, weft_after(30 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 30 * WEFT_MSEC);
    CHECK_EQ(v, -1);
    CHECK_ERR(weft_chan_send(ch, &v, weft_after(5 * WEFT_MSEC)), -ETIMEDOUT);
    weft_select_op ops[1] = {{ch, WEFT_RECV, &v, 0}};
    t0 = weft_now();
    CHECK_ERR(weft_select(ops, 1, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 10 * WEFT_MSEC);
    CHECK_ERR(weft_chan_try_recv(ch, &v), -EAGAIN);
    int one = 1;
    CHECK_ERR(weft_chan_send(pt_ready, &one, WEFT_FOREVER), 0);
    /* Then a real wait that a coroutine on another thread completes. */
    CHECK_ERR(weft_chan_recv(ch, &v, weft_after(60 * WEFT_SEC)), 0);
    CHECK_EQ(v, 31337);
    ops[0].op = WEFT_RECV;
    CHECK_ERR(weft_select(ops, 1, weft_after(60 * WEFT_SEC)), 0);
    CHECK_EQ(v, 31338);
    CHECK(weft__sched_get() == NULL);
    return NULL;
}

static void body_plain_thread_timeout(void) {
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(int), 0), 0);
    CHECK_ERR(weft_chan_create(&pt_ready, sizeof(int), 0), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, plain_timeout_thread, ch), 0);
    int v;
    CHECK_ERR(weft_chan_recv(pt_ready, &v, WEFT_FOREVER), 0);
    v = 31337;
    CHECK_ERR(weft_chan_send(ch, &v, weft_after(60 * WEFT_SEC)), 0);
    v++;
    weft_select_op ops[1] = {{ch, WEFT_SEND, &v, 99}};
    CHECK_ERR(weft_select(ops, 1, weft_after(60 * WEFT_SEC)), 0);
    CHECK_EQ(ops[0].result, 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_ERR(weft_chan_destroy(ch), 0);
    CHECK_ERR(weft_chan_destroy(pt_ready), 0);
}
WEFT_TEST(plain_thread_timeout) { run_in_thread(body_plain_thread_timeout); }

/* A plain thread parked in recv is woken by close. */
static weft_chan *ptc_ack;
static void *plain_recv_until_closed(void *p) {
    int v, n = 0, r;
    while ((r = weft_chan_recv(p, &v, WEFT_FOREVER)) == 0) {
        CHECK_EQ(v, n++);
        if (n == 100)
            CHECK_ERR(weft_chan_send(ptc_ack, &n, WEFT_FOREVER), 0);
    }
    CHECK_ERR(r, -EPIPE);
    return (void *)(intptr_t)n;
}

static void body_plain_thread_close(void) {
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(int), 0), 0);
    CHECK_ERR(weft_chan_create(&ptc_ack, sizeof(int), 0), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, plain_recv_until_closed, ch), 0);
    for (int i = 0; i < 100; i++)
        CHECK_ERR(weft_chan_send(ch, &i, WEFT_FOREVER), 0);
    int n;
    CHECK_ERR(weft_chan_recv(ptc_ack, &n, WEFT_FOREVER), 0);
    CHECK_EQ(n, 100);
    /* Most likely parked again by now (either way it must end with -EPIPE). */
    CHECK_ERR(weft_sleep(5 * WEFT_MSEC), 0);
    CHECK_ERR(weft_chan_close(ch), 0);
    void *res;
    CHECK_EQ(pthread_join(t, &res), 0);
    CHECK_EQ((intptr_t)res, 100);
    CHECK_ERR(weft_chan_destroy(ch), 0);
    CHECK_ERR(weft_chan_destroy(ptc_ack), 0);
}
WEFT_TEST(plain_thread_close) { run_in_thread(body_plain_thread_close); }

/* ------------------------------------------------------------ stress */

enum { ST_SENDERS = 4, ST_RECEIVERS = 4, ST_PER_SENDER = 3000, ST_PLAIN_SENDERS = 1 };
#define ST_TOTAL_SENDERS (2 * ST_SENDERS + ST_PLAIN_SENDERS)
#define ST_TOTAL (ST_TOTAL_SENDERS * ST_PER_SENDER)

static weft_chan *st_c1, *st_c2;
static atomic_int st_senders_left;
static atomic_long st_sum, st_count;
static atomic_uchar st_seen[ST_TOTAL];

static void st_sender_done(void) {
    if (atomic_fetch_sub(&st_senders_left, 1) == 1) {
        CHECK_ERR(weft_chan_close(st_c1), 0);
        CHECK_ERR(weft_chan_close(st_c2), 0);
    }
}

static void st_send_all(int id) {
    for (int i = 0; i < ST_PER_SENDER; i++) {
        int v1 = id * ST_PER_SENDER + i, v2 = v1;
        weft_select_op ops[2] = {{st_c1, WEFT_SEND, &v1, 99}, {st_c2, WEFT_SEND, &v2, 99}};
        int r;
        if (i % 4 == 3) {
            /* Now and then a plain send instead. */
            r = weft_chan_send(i % 8 == 3 ? st_c1 : st_c2, &v1, WEFT_FOREVER);
            CHECK_ERR(r, 0);
        } else {
            r = weft_select(ops, 2, WEFT_FOREVER);
            CHECK(r == 0 || r == 1);
            CHECK_ERR(ops[r].result, 0);
        }
    }
    st_sender_done();
}

static void *st_sender(void *arg) {
    st_send_all((int)(intptr_t)arg);
    return NULL;
}

static void *st_receiver(void *arg) {
    (void)arg;
    int v1 = -1, v2 = -1;
    weft_select_op ops[2] = {{st_c1, WEFT_RECV, &v1, 99}, {st_c2, WEFT_RECV, &v2, 99}};
    long n = 0;
    for (;;) {
        if (!ops[0].chan && !ops[1].chan)
            break;
        int r = weft_select(ops, 2, WEFT_FOREVER);
        CHECK(r == 0 || r == 1);
        if (ops[r].result == -EPIPE) {
            ops[r].chan = NULL;
            continue;
        }
        CHECK_ERR(ops[r].result, 0);
        int v = r ? v2 : v1;
        CHECK(v >= 0 && v < ST_TOTAL);
        CHECK_EQ(atomic_exchange(&st_seen[v], 1), 0); /* never twice */
        atomic_fetch_add(&st_sum, v);
        n++;
        if (n % 16 == 0)
            CHECK_EQ(weft_yield(), 0);
    }
    atomic_fetch_add(&st_count, n);
    return NULL;
}

static void *st_thread(void *arg) {
    int t = (int)(intptr_t)arg;
    weft_coro cs[ST_SENDERS + ST_RECEIVERS];
    int k = 0;
    for (int i = 0; i < ST_RECEIVERS; i++) {
        weft_coro_opts o = {.stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&cs[k++], st_receiver, NULL, &o), 0);
    }
    for (int i = 0; i < ST_SENDERS; i++) {
        weft_coro_opts o = {.stack_mode = i % 2 ? WEFT_STACK_GUARDED : WEFT_STACK_SHARED};
        CHECK_ERR(weft_spawn(&cs[k++], st_sender, (void *)(intptr_t)(t * ST_SENDERS + i), &o),
                  0);
    }
    CHECK_ERR(weft_joinall(cs, (size_t)k, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_coro_count(), 0);
    return NULL;
}

static void *st_plain(void *arg) {
    st_send_all((int)(intptr_t)arg);
    CHECK(weft__sched_get() == NULL);
    return NULL;
}

WEFT_TEST(stress_select_two_threads) {
    CHECK_OK(test_alloc_install());
    for (int round = 0; round < 2; round++) {
        CHECK_ERR(weft_chan_create(&st_c1, sizeof(int), round ? 4 : 0), 0);
        CHECK_ERR(weft_chan_create(&st_c2, sizeof(int), round ? 0 : 1), 0);
        atomic_store(&st_senders_left, ST_TOTAL_SENDERS);
        atomic_store(&st_sum, 0);
        atomic_store(&st_count, 0);
        for (int i = 0; i < ST_TOTAL; i++)
            atomic_store(&st_seen[i], 0);
        pthread_t t[3];
        CHECK_EQ(pthread_create(&t[0], NULL, st_thread, (void *)0), 0);
        CHECK_EQ(pthread_create(&t[1], NULL, st_thread, (void *)1), 0);
        CHECK_EQ(pthread_create(&t[2], NULL, st_plain, (void *)(intptr_t)(2 * ST_SENDERS)), 0);
        for (int i = 0; i < 3; i++)
            CHECK_EQ(pthread_join(t[i], NULL), 0);
        CHECK_EQ(atomic_load(&st_count), ST_TOTAL);
        long want = (long)ST_TOTAL * (ST_TOTAL - 1) / 2;
        CHECK_EQ(atomic_load(&st_sum), want);
        CHECK_ERR(weft_chan_destroy(st_c1), 0);
        CHECK_ERR(weft_chan_destroy(st_c2), 0);
    }
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------ SHARED stacks */

/* Elements of 100 bytes carry (sender, seq) and a pattern derived from both. */
typedef struct {
    uint32_t sender, seq;
    unsigned char pat[92];
} big_elem;

static void big_fill(big_elem *e, uint32_t sender, uint32_t seq) {
    e->sender = sender;
    e->seq = seq;
    fill_elem(e->pat, sizeof e->pat, sender * 100000u + seq);
}

static void big_check(const big_elem *e) {
    check_elem(e->pat, sizeof e->pat, e->sender * 100000u + e->seq);
}

enum { SB_SENDERS = 6, SB_RECEIVERS = 6, SB_PER = 400 };
static weft_chan *sb_ch[3];
static unsigned char sb_seen[SB_SENDERS][SB_PER];
static int sb_received;

static void *sb_sender(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    volatile unsigned char guard1[64];
    memset((void *)guard1, 0x5A, sizeof guard1);
    for (uint32_t i = 0; i < SB_PER; i++) {
        big_elem e;
        big_fill(&e, id, i);
        if (i % 3 == 0) {
            CHECK_ERR(weft_chan_send(sb_ch[id % 3], &e, WEFT_FOREVER), 0);
        } else {
            /* Disabled ops around the live one. */
            weft_select_op ops[3] = {{NULL, WEFT_SEND, &e, 0},
                                     {sb_ch[id % 3], WEFT_SEND, &e, 99},
                                     {NULL, WEFT_SEND, &e, 0}};
            CHECK_ERR(weft_select(ops, 3, WEFT_FOREVER), 1);
            CHECK_EQ(ops[1].result, 0);
        }
        if (i % 5 == 0)
            CHECK_EQ(weft_yield(), 0);
        for (size_t k = 0; k < sizeof guard1; k++)
            CHECK_EQ(guard1[k], 0x5A);
    }
    return NULL;
}

static void *sb_receiver(void *arg) {
    uint32_t id = (uint32_t)(uintptr_t)arg;
    volatile unsigned char guard1[48];
    memset((void *)guard1, (int)(0xA0 + id), sizeof guard1);
    int n = 0;
    int64_t last[SB_SENDERS];
    for (int i = 0; i < SB_SENDERS; i++)
        last[i] = -1;
    for (;;) {
        big_elem e1, e2, e3;
        memset(&e1, 0, sizeof e1);
        memset(&e2, 0, sizeof e2);
        memset(&e3, 0, sizeof e3);
        big_elem *got;
        if (id % 2) {
            weft_select_op ops[3] = {{sb_ch[0], WEFT_RECV, &e1, 99},
                                     {sb_ch[1], WEFT_RECV, &e2, 99},
                                     {sb_ch[2], WEFT_RECV, &e3, 99}};
            int r = weft_select(ops, 3, weft_after(500 * WEFT_MSEC));
            if (r == -ETIMEDOUT)
                break;
            CHECK(r >= 0 && r < 3);
            CHECK_ERR(ops[r].result, 0);
            got = r == 0 ? &e1 : r == 1 ? &e2 : &e3;
        } else {
            int r = weft_chan_recv(sb_ch[id % 3], &e1, weft_after(500 * WEFT_MSEC));
            if (r == -ETIMEDOUT)
                break;
            CHECK_ERR(r, 0);
            got = &e1;
        }
        big_check(got);
        CHECK(got->sender < SB_SENDERS);
        CHECK(got->seq < SB_PER);
        /* One channel per sender, FIFO: what one receiver gets of a sender's stream
         * comes in order; and every element arrives exactly once. */
        CHECK_GT((int64_t)got->seq, last[got->sender]);
        last[got->sender] = got->seq;
        CHECK_EQ(sb_seen[got->sender][got->seq], 0);
        sb_seen[got->sender][got->seq] = 1;
        sb_received++;
        n++;
        if (n % 3 == 0)
            CHECK_EQ(weft_yield(), 0);
        for (size_t k = 0; k < sizeof guard1; k++)
            CHECK_EQ(guard1[k], (unsigned char)(0xA0 + id));
        if (sb_received == SB_SENDERS * SB_PER)
            break;
    }
    return NULL;
}

static void body_shared_bounce_stress(void) {
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 3; i++)
            CHECK_ERR(weft_chan_create(&sb_ch[i], sizeof(big_elem), (size_t)(round * i)), 0);
        memset(sb_seen, 0, sizeof sb_seen);
        sb_received = 0;
        weft_coro cs[SB_SENDERS + SB_RECEIVERS];
        int k = 0;
        for (uint32_t i = 0; i < SB_RECEIVERS; i++) {
            weft_coro_opts o = {.stack_mode = round == 2 && i == 0 ? WEFT_STACK_GUARDED
                                                                   : WEFT_STACK_SHARED};
            CHECK_ERR(weft_spawn(&cs[k++], sb_receiver, (void *)(uintptr_t)i, &o), 0);
        }
        for (uint32_t i = 0; i < SB_SENDERS; i++) {
            weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
            CHECK_ERR(weft_spawn(&cs[k++], sb_sender, (void *)(uintptr_t)i, &o), 0);
        }
        CHECK_ERR(weft_joinall(cs, (size_t)k, WEFT_FOREVER, NULL), 0);
        CHECK_EQ(sb_received, SB_SENDERS * SB_PER);
        for (int i = 0; i < 3; i++)
            CHECK_ERR(weft_chan_destroy(sb_ch[i]), 0);
    }
}
WEFT_TEST(shared_bounce_stress) { SKIP_IN_GROUP("its counters are plain variables the coroutines share"); run_in_thread(body_shared_bounce_stress); }

/* A SHARED receiver whose wait ends without an element keeps its variable intact. */
static void *shared_recv_fails(void *arg) {
    weft_chan *ch = arg;
    big_elem e;
    big_fill(&e, 7, 7);
    CHECK_ERR(weft_chan_recv(ch, &e, weft_after(5 * WEFT_MSEC)), -ETIMEDOUT);
    big_check(&e);
    CHECK_EQ(e.seq, 7);
    weft_select_op ops[2] = {{ch, WEFT_RECV, &e, 99}, {ch, WEFT_RECV, &e, 99}};
    CHECK_ERR(weft_select(ops, 2, weft_after(5 * WEFT_MSEC)), -ETIMEDOUT);
    big_check(&e);
    CHECK_EQ(e.seq, 7);
    int r = weft_chan_recv(ch, &e, WEFT_FOREVER); /* closed while waiting */
    CHECK_ERR(r, -EPIPE);
    big_check(&e);
    CHECK_EQ(e.seq, 7);
    return NULL;
}

static void *shared_busy(void *arg) {
    /* Occupies the shared stack with different bytes in between. */
    volatile unsigned char junk[2000];
    for (int i = 0; i < 30; i++) {
        memset((void *)junk, i, sizeof junk);
        CHECK_ERR(weft_sleep(WEFT_MSEC / 2), 0);
    }
    (void)arg;
    return NULL;
}

static void body_shared_recv_fails(void) {
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(big_elem), 0), 0);
    weft_coro a, b;
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    CHECK_ERR(weft_spawn(&a, shared_recv_fails, ch, &o), 0);
    CHECK_ERR(weft_spawn(&b, shared_busy, NULL, &o), 0);
    CHECK_ERR(weft_join(b, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_chan_close(ch), 0);
    CHECK_ERR(weft_join(a, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_chan_destroy(ch), 0);
}
WEFT_TEST(shared_recv_fails) { run_in_thread(body_shared_recv_fails); }

/* SHARED coroutines exchange with a plain thread and with a coroutine on another
 * thread, while other SHARED coroutines keep the shared stack busy. */
typedef struct {
    weft_chan *in, *out;
    int n;
} xs_ctx;

static void *xs_plain(void *p) {
    xs_ctx *c = p;
    for (int i = 0; i < c->n; i++) {
        big_elem e;
        big_fill(&e, 3, (uint32_t)i);
        CHECK_ERR(weft_chan_send(c->in, &e, WEFT_FOREVER), 0);
        memset(&e, 0, sizeof e);
        CHECK_ERR(weft_chan_recv(c->out, &e, WEFT_FOREVER), 0);
        big_check(&e);
        CHECK_EQ(e.sender, 4);
        CHECK_EQ(e.seq, (uint32_t)i);
    }
    return NULL;
}

static void *xs_echo(void *p) {
    xs_ctx *c = p;
    for (int i = 0; i < c->n; i++) {
        big_elem e;
        memset(&e, 0, sizeof e);
        if (i % 2) {
            CHECK_ERR(weft_chan_recv(c->in, &e, WEFT_FOREVER), 0);
        } else {
            weft_select_op ops[1] = {{c->in, WEFT_RECV, &e, 99}};
            CHECK_ERR(weft_select(ops, 1, WEFT_FOREVER), 0);
        }
        big_check(&e);
        CHECK_EQ(e.seq, (uint32_t)i);
        big_fill(&e, 4, (uint32_t)i);
        if (i % 3) {
            CHECK_ERR(weft_chan_send(c->out, &e, WEFT_FOREVER), 0);
        } else {
            weft_select_op ops[1] = {{c->out, WEFT_SEND, &e, 99}};
            CHECK_ERR(weft_select(ops, 1, WEFT_FOREVER), 0);
        }
    }
    return NULL;
}

static void body_shared_cross_thread(void) {
    xs_ctx c = {NULL, NULL, 3000};
    CHECK_ERR(weft_chan_create(&c.in, sizeof(big_elem), 0), 0);
    CHECK_ERR(weft_chan_create(&c.out, sizeof(big_elem), 0), 0);
    weft_coro e, busy[3];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    CHECK_ERR(weft_spawn(&e, xs_echo, &c, &o), 0);
    for (int i = 0; i < 3; i++)
        CHECK_ERR(weft_spawn(&busy[i], shared_busy, NULL, &o), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, xs_plain, &c), 0);
    CHECK_ERR(weft_join(e, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_joinall(busy, 3, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_ERR(weft_chan_destroy(c.in), 0);
    CHECK_ERR(weft_chan_destroy(c.out), 0);
}
WEFT_TEST(shared_cross_thread) { run_in_thread(body_shared_cross_thread); }

WEFT_MAIN()
