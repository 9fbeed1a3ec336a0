/* Process queues and pipes: every operation across forked processes, many
 * producers and consumers with exact accounting, ordering per kind, bounds
 * and -EMSGSIZE, deadlines, shutdown, task_done/join, a producer killed in
 * the middle of a put (made deterministic by the internal put hook), a
 * coroutine that parks only itself, named queues, and message pipes.
 *
 * Every child is reaped and must exit 0. "X is blocked now" is read
 * white-box from the queue's waiter counts, never slept on. */
#include "harness.h"

#include "pqueue/pqueue.h" /* white-box: waiter counts, the put hook */

#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>

/* WEFT_TEST_TIMEOUT(mpmc_fifo, 120) */
/* WEFT_TEST_TIMEOUT(mpmc_other_kinds, 120) */
/* WEFT_TEST_TIMEOUT(fifo_stream_two_processes, 120) */

#define MB ((size_t)1 << 20)
static const int KINDS[4] = {WEFT_QUEUE_FIFO, WEFT_QUEUE_LIFO, WEFT_QUEUE_PRIORITY,
                             WEFT_QUEUE_DEQUE};

/* ---------------------------------------------------------------- helpers */

/* Reaps pid; it must have exited with status 0. */
static void reap_ok(pid_t pid) {
    int st = test_reap(pid);
    if (st != 0)
        harness_fail(__FILE__, __LINE__, "child %d: exit %d (1000 + n: signal n)", (int)pid, st);
}

static void reap_killed(pid_t pid, int sig) { CHECK_EQ(test_reap(pid), 1000 + sig); }

/* Polls cond (a count of waiters) until it is at least n, for up to 10 s. */
static void wait_waiters(_Atomic uint32_t *w, uint32_t n) {
    int64_t end = weft_after(10 * WEFT_SEC);
    while (atomic_load(w) < n) {
        CHECK(weft_now() < end);
        usleep(200);
    }
}

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* A message of `len` bytes derived from (id, seq): byte i = mix(id, seq, i). */
static void fill_msg(unsigned char *m, size_t len, uint32_t id, uint32_t seq) {
    for (size_t i = 0; i < len; i++)
        m[i] = (unsigned char)(mix(((uint64_t)id << 40) ^ ((uint64_t)seq << 8) ^ i) & 0xff);
    if (len >= 8) {
        memcpy(m, &id, 4);
        memcpy(m + 4, &seq, 4);
    }
}
static bool msg_ok(const unsigned char *m, size_t len, uint32_t *id, uint32_t *seq) {
    if (len < 8)
        return false;
    memcpy(id, m, 4);
    memcpy(seq, m + 4, 4);
    for (size_t i = 8; i < len; i++)
        if (m[i] != (unsigned char)(mix(((uint64_t)*id << 40) ^ ((uint64_t)*seq << 8) ^ i) & 0xff))
            return false;
    return true;
}
static size_t msg_len(uint32_t id, uint32_t seq) {
    return 8 + (mix(id * 7919u + seq) % 200);
}

/* ---------------------------------------------------------------- bad input */

WEFT_TEST(bad_input) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_pqueue *q = NULL;
    char b[16];
    CHECK_ERR(weft_pqueue_create(NULL, WEFT_QUEUE_FIFO, 1024, 0), -EINVAL);
    CHECK_ERR(weft_pqueue_create(&q, -1, 1024, 0), -EINVAL);
    CHECK_ERR(weft_pqueue_create(&q, 4, 1024, 0), -EINVAL);
    CHECK_ERR(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, 15, 0), -EINVAL);
    CHECK_ERR(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, ((size_t)1 << 30) + 1, 0), -EINVAL);
    CHECK_ERR(weft_pqueue_create(&q, WEFT_QUEUE_LIFO, 1024, ((size_t)1 << 30) + 1), -EINVAL);
    CHECK(q == NULL);
    CHECK_ERR(weft_pqueue_put(NULL, b, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_try_put(NULL, b, 1), -EINVAL);
    CHECK_ERR(weft_pqueue_get(NULL, b, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_try_get(NULL, b, 1), -EINVAL);
    CHECK_ERR(weft_pqueue_task_done(NULL), -EINVAL);
    CHECK_ERR(weft_pqueue_join(NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_shutdown(NULL, 0), -EINVAL);
    CHECK_EQ(weft_pqueue_size(NULL), 0);
    CHECK_EQ(weft_pqueue_empty(NULL), 1);
    CHECK_EQ(weft_pqueue_full(NULL), 0);
    CHECK_EQ(weft_pqueue_is_shutdown(NULL), 0);
    CHECK_EQ(weft_pqueue_max_msg(NULL), 0);
    CHECK_ERR(weft_pqueue_close(NULL), 0);
    CHECK_ERR(weft_pqueue_open(NULL, "x", WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_open(&q, NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_create_named(&q, NULL, WEFT_QUEUE_FIFO, 1024, 0), -EINVAL);
    CHECK_ERR(weft_pqueue_create_named(&q, "a/b", WEFT_QUEUE_FIFO, 1024, 0), -EINVAL);
    CHECK_ERR(weft_pqueue_unlink(NULL), -EINVAL);

    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, 1024, 0));
    CHECK_EQ(weft_pqueue_max_msg(q), 1016);
    CHECK_ERR(weft_pqueue_put(q, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_get(q, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_put_prio(q, b, 1, 0, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_put_front(q, b, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_get_back(q, b, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pqueue_task_done(q), -EINVAL); /* nothing was put */
    CHECK_ERR(weft_pqueue_join(q, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_pqueue_try_get(q, b, sizeof b), -EAGAIN);
    CHECK_ERR(weft_pqueue_get(q, b, sizeof b, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_OK(weft_pqueue_close(q));

    /* A NULL, zero-length message is fine. */
    for (int k = 0; k < 4; k++) {
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 64, 0));
        CHECK_OK(weft_pqueue_put(q, NULL, 0, WEFT_NOWAIT));
        CHECK_EQ(weft_pqueue_size(q), 1);
        CHECK_ERR(weft_pqueue_get(q, NULL, 0, WEFT_NOWAIT), 0);
        CHECK_EQ(weft_pqueue_empty(q), 1);
        if (KINDS[k] != WEFT_QUEUE_PRIORITY)
            CHECK_ERR(weft_pqueue_put_prio(q, b, 1, 0, WEFT_NOWAIT), -EINVAL);
        CHECK_OK(weft_pqueue_close(q));
    }
}

/* ---------------------------------------------------------------- one process */

WEFT_TEST(sizes_bounds_msgsize) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    for (int k = 0; k < 4; k++) {
        weft_pqueue *q;
        /* 64 bytes: footprints 16 (1..8 bytes), 24 (9..16), ... */
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 64, 0));
        unsigned char big[128] = {0}, out[128];
        CHECK_ERR(weft_pqueue_put(q, big, 57, WEFT_FOREVER), -EMSGSIZE);
        CHECK_ERR(weft_pqueue_try_put(q, big, 57), -EMSGSIZE);
        CHECK_OK(weft_pqueue_put(q, big, 56, WEFT_NOWAIT)); /* footprint 64: full */
        CHECK_EQ(weft_pqueue_full(q), 1);
        CHECK_ERR(weft_pqueue_try_put(q, NULL, 0), -EAGAIN);
        CHECK_ERR(weft_pqueue_put(q, NULL, 0, WEFT_NOWAIT), -ETIMEDOUT);
        /* Too small a buffer: -EMSGSIZE, the message stays. */
        CHECK_ERR(weft_pqueue_get(q, out, 55, WEFT_NOWAIT), -EMSGSIZE);
        CHECK_EQ(weft_pqueue_size(q), 1);
        CHECK_EQ(weft_pqueue_get(q, out, sizeof out, WEFT_NOWAIT), 56);
        CHECK_EQ(weft_pqueue_full(q), 0);
        /* 4 messages of 1..8 bytes fill 64. */
        for (int i = 0; i < 4; i++)
            CHECK_OK(weft_pqueue_try_put(q, "abcdefgh", (size_t)i + 5));
        CHECK_EQ(weft_pqueue_size(q), 4);
        CHECK_EQ(weft_pqueue_full(q), 1);
        CHECK_ERR(weft_pqueue_try_put(q, "a", 1), -EAGAIN);
        for (int i = 0; i < 4; i++)
            CHECK_OK(weft_pqueue_get(q, out, sizeof out, WEFT_NOWAIT));
        CHECK_EQ(weft_pqueue_empty(q), 1);
        CHECK_OK(weft_pqueue_close(q));

        /* The count bound. */
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 4096, 3));
        for (int i = 0; i < 3; i++)
            CHECK_OK(weft_pqueue_try_put(q, "x", 1));
        CHECK_EQ(weft_pqueue_full(q), 1);
        CHECK_ERR(weft_pqueue_try_put(q, "x", 1), -EAGAIN);
        CHECK_EQ(weft_pqueue_get(q, out, 1, WEFT_NOWAIT), 1);
        CHECK_OK(weft_pqueue_try_put(q, "y", 1));
        CHECK_OK(weft_pqueue_close(q));
    }
}

static void put_str(weft_pqueue *q, const char *s) {
    CHECK_OK(weft_pqueue_put(q, s, strlen(s), WEFT_NOWAIT));
}
static void expect_str(weft_pqueue *q, const char *s) {
    char b[64];
    ssize_t n = weft_pqueue_get(q, b, sizeof b - 1, WEFT_NOWAIT);
    CHECK_EQ(n, (ssize_t)strlen(s));
    b[n] = 0;
    CHECK_STR_EQ(b, s);
}

WEFT_TEST(order_per_kind) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_pqueue *q;
    const char *w[] = {"red", "orange", "yellow", "green", "blue", "purple"};
    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, 256, 0));
    for (int i = 0; i < 6; i++)
        put_str(q, w[i]);
    for (int i = 0; i < 6; i++)
        expect_str(q, w[i]);
    CHECK_OK(weft_pqueue_close(q));

    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_LIFO, 256, 0));
    for (int i = 0; i < 6; i++)
        put_str(q, w[i]);
    for (int i = 5; i >= 0; i--)
        expect_str(q, w[i]);
    CHECK_OK(weft_pqueue_close(q));

    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_PRIORITY, 512, 0));
    int64_t pr[] = {5, -2, 5, 0, 9, -2};
    for (int i = 0; i < 6; i++)
        CHECK_OK(weft_pqueue_put_prio(q, w[i], strlen(w[i]), pr[i], WEFT_NOWAIT));
    put_str(q, "zero"); /* priority 0, after "green" */
    const char *want[] = {"orange", "purple", "green", "zero", "red", "yellow", "blue"};
    for (int i = 0; i < 7; i++)
        expect_str(q, want[i]);
    CHECK_OK(weft_pqueue_close(q));

    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_DEQUE, 512, 0));
    put_str(q, "b");
    CHECK_OK(weft_pqueue_put_front(q, "a", 1, WEFT_NOWAIT));
    put_str(q, "c");
    CHECK_OK(weft_pqueue_put_front(q, "z", 1, WEFT_NOWAIT)); /* z a b c */
    char b[4];
    CHECK_EQ(weft_pqueue_get_back(q, b, sizeof b, WEFT_NOWAIT), 1);
    CHECK_EQ(b[0], 'c');
    expect_str(q, "z");
    expect_str(q, "a");
    CHECK_EQ(weft_pqueue_get_back(q, b, sizeof b, WEFT_NOWAIT), 1);
    CHECK_EQ(b[0], 'b');
    CHECK_ERR(weft_pqueue_get_back(q, b, sizeof b, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_OK(weft_pqueue_close(q));
}

WEFT_TEST(fifo_wraps_and_large_messages) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    /* Messages that straddle the end of the ring, up to the largest one. */
    weft_pqueue *q;
    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, 1000, 0));
    size_t cap = weft_pqueue_max_msg(q);
    unsigned char *m = malloc(cap), *o = malloc(cap);
    for (uint32_t i = 0; i < 3000; i++) {
        size_t len = 8 + (mix(i) % (cap - 8));
        if (i % 100 == 0)
            len = cap;
        fill_msg(m, len, 1, i);
        CHECK_OK(weft_pqueue_put(q, m, len, WEFT_NOWAIT));
        CHECK_EQ(weft_pqueue_get(q, o, cap, WEFT_NOWAIT), (ssize_t)len);
        uint32_t id, seq;
        CHECK(msg_ok(o, len, &id, &seq));
        CHECK_EQ(seq, i);
    }
    CHECK_OK(weft_pqueue_close(q));
    /* The chunked kinds with the largest message as well. */
    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_PRIORITY, 1000, 0));
    for (uint32_t i = 0; i < 50; i++) {
        size_t len = i % 2 ? cap : 8 + i;
        fill_msg(m, len, 2, i);
        CHECK_OK(weft_pqueue_put(q, m, len, WEFT_NOWAIT));
        CHECK_EQ(weft_pqueue_get(q, o, cap, WEFT_NOWAIT), (ssize_t)len);
        uint32_t id, seq;
        CHECK(msg_ok(o, len, &id, &seq));
        CHECK_EQ(seq, i);
    }
    CHECK_OK(weft_pqueue_close(q));
    free(m);
    free(o);
}

WEFT_TEST(deadlines) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    for (int k = 0; k < 4; k++) {
        weft_pqueue *q;
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 32, 0));
        char b[32];
        int64_t t0 = weft_now();
        CHECK_ERR(weft_pqueue_get(q, b, sizeof b, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
        CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
        CHECK_OK(weft_pqueue_put(q, "0123456789abcdef", 16, WEFT_NOWAIT)); /* footprint 24 */
        t0 = weft_now();
        CHECK_ERR(weft_pqueue_put(q, "0123456789", 10, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
        CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
        CHECK_EQ(weft_pqueue_size(q), 1);
        CHECK_OK(weft_pqueue_close(q));
    }
}

/* ---------------------------------------------------------------- across processes */

struct ctx {
    weft_pqueue *q;
    int id, n, kind;
    int fd;
    uint64_t *res; /* shared results */
};

static void producer(void *p) {
    struct ctx *c = p;
    unsigned char m[256];
    for (int i = 0; i < c->n; i++) {
        size_t len = msg_len((uint32_t)c->id, (uint32_t)i);
        fill_msg(m, len, (uint32_t)c->id, (uint32_t)i);
        int r;
        if (c->kind == WEFT_QUEUE_PRIORITY)
            r = weft_pqueue_put_prio(c->q, m, len, (int64_t)(mix((uint64_t)i) % 5), WEFT_FOREVER);
        else if (c->kind == WEFT_QUEUE_DEQUE && i % 2)
            r = weft_pqueue_put_front(c->q, m, len, WEFT_FOREVER);
        else
            r = weft_pqueue_put(c->q, m, len, WEFT_FOREVER);
        CHECK_OK(r);
    }
}

/* Consumes until -EPIPE; res[id*4 + 0..3] = count, checksum, order violations, errors. */
static void consumer(void *p) {
    struct ctx *c = p;
    unsigned char m[256];
    uint32_t last[16];
    memset(last, 0xff, sizeof last);
    uint64_t cnt = 0, sum = 0, bad = 0;
    for (;;) {
        ssize_t n = (c->kind == WEFT_QUEUE_DEQUE && cnt % 2)
                        ? weft_pqueue_get_back(c->q, m, sizeof m, WEFT_FOREVER)
                        : weft_pqueue_get(c->q, m, sizeof m, WEFT_FOREVER);
        if (n == -EPIPE)
            break;
        CHECK_OK(n);
        uint32_t id, seq;
        CHECK(msg_ok(m, (size_t)n, &id, &seq));
        CHECK_LT(id, 16);
        CHECK_EQ((size_t)n, msg_len(id, seq));
        if (c->kind == WEFT_QUEUE_FIFO && last[id] != 0xffffffffu && seq <= last[id])
            bad++;
        last[id] = seq;
        cnt++;
        sum += mix(((uint64_t)id << 32) | seq);
        CHECK_OK(weft_pqueue_task_done(c->q));
    }
    c->res[c->id * 4 + 0] = cnt;
    c->res[c->id * 4 + 1] = sum;
    c->res[c->id * 4 + 2] = bad;
}

static void mpmc(int kind, size_t max_bytes, int np, int nc, int n) {
    weft_pqueue *q;
    CHECK_OK(weft_pqueue_create(&q, kind, max_bytes, 0));
    uint64_t *res = test_shared_mem(4096);
    struct ctx pc[8], cc[8];
    pid_t pp[8], cp[8];
    for (int i = 0; i < nc; i++) {
        cc[i] = (struct ctx){.q = q, .id = i, .n = n, .kind = kind, .res = res};
        cp[i] = test_fork_child(consumer, &cc[i]);
    }
    for (int i = 0; i < np; i++) {
        pc[i] = (struct ctx){.q = q, .id = i, .n = n, .kind = kind, .res = res};
        pp[i] = test_fork_child(producer, &pc[i]);
    }
    for (int i = 0; i < np; i++)
        reap_ok(pp[i]);
    CHECK_OK(weft_pqueue_join(q, weft_after(60 * WEFT_SEC)));
    CHECK_EQ(weft_pqueue_size(q), 0);
    CHECK_OK(weft_pqueue_shutdown(q, 0));
    for (int i = 0; i < nc; i++)
        reap_ok(cp[i]);
    uint64_t cnt = 0, sum = 0, want = 0;
    for (int i = 0; i < nc; i++) {
        cnt += res[i * 4];
        sum += res[i * 4 + 1];
        CHECK_EQ(res[i * 4 + 2], 0);
    }
    for (int id = 0; id < np; id++)
        for (int s = 0; s < n; s++)
            want += mix(((uint64_t)id << 32) | (uint32_t)s);
    CHECK_EQ(cnt, (uint64_t)np * (uint64_t)n);
    CHECK_EQ(sum, want);
    CHECK_ERR(weft_pqueue_task_done(q), -EINVAL);
    CHECK_ERR(weft_pqueue_put(q, "x", 1, WEFT_FOREVER), -EPIPE);
    munmap(res, 4096);
    CHECK_OK(weft_pqueue_close(q));
}

WEFT_TEST(mpmc_fifo) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    mpmc(WEFT_QUEUE_FIFO, 4096, 3, 3, 20000); /* small: putters wait for room */
    mpmc(WEFT_QUEUE_FIFO, 1 * MB, 4, 2, 20000);
}

WEFT_TEST(mpmc_other_kinds) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    mpmc(WEFT_QUEUE_LIFO, 4096, 3, 3, 5000);
    mpmc(WEFT_QUEUE_PRIORITY, 4096, 3, 3, 5000);
    mpmc(WEFT_QUEUE_DEQUE, 4096, 3, 3, 5000);
}

static void stream_reader(void *p) {
    struct ctx *c = p;
    unsigned char m[256];
    for (int i = 0; i < c->n; i++) {
        ssize_t n = weft_pqueue_get(c->q, m, sizeof m, WEFT_FOREVER);
        CHECK_OK(n);
        uint32_t id, seq;
        CHECK(msg_ok(m, (size_t)n, &id, &seq));
        CHECK_EQ(seq, (uint32_t)i);
    }
    CHECK_ERR(weft_pqueue_get(c->q, m, sizeof m, WEFT_FOREVER), -EPIPE);
}

WEFT_TEST(fifo_stream_two_processes) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_pqueue *q;
    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, 8192, 0));
    struct ctx c = {.q = q, .n = 200000};
    pid_t r = test_fork_child(stream_reader, &c);
    c.id = 3;
    c.kind = WEFT_QUEUE_FIFO;
    producer(&c);
    CHECK_OK(weft_pqueue_shutdown(q, 0));
    reap_ok(r);
    CHECK_OK(weft_pqueue_close(q));
}

/* ---------------------------------------------------------------- shutdown, tasks */

static void get_expect_epipe(void *p) {
    struct ctx *c = p;
    char b[8];
    CHECK_ERR(weft_pqueue_get(c->q, b, sizeof b, WEFT_FOREVER), -EPIPE);
}

static void put_expect_epipe(void *p) {
    struct ctx *c = p;
    CHECK_ERR(weft_pqueue_put(c->q, "12345678", 8, WEFT_FOREVER), -EPIPE);
}

WEFT_TEST(shutdown_wakes_blocked) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    for (int k = 0; k < 4; k++) {
        weft_pqueue *q;
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 16, 0));
        struct ctx c = {.q = q};
        pid_t g1 = test_fork_child(get_expect_epipe, &c), g2 = test_fork_child(get_expect_epipe, &c);
        wait_waiters(&q->dwait, 2);
        CHECK_OK(weft_pqueue_shutdown(q, 0));
        reap_ok(g1);
        reap_ok(g2);
        CHECK_EQ(weft_pqueue_is_shutdown(q), 1);
        CHECK_OK(weft_pqueue_close(q));

        /* A putter blocked on a full queue. */
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 16, 0));
        c.q = q;
        CHECK_OK(weft_pqueue_put(q, "abcdefgh", 8, WEFT_NOWAIT));
        pid_t p1 = test_fork_child(put_expect_epipe, &c);
        wait_waiters(&q->swait, 1);
        CHECK_OK(weft_pqueue_shutdown(q, 0));
        reap_ok(p1);
        /* What is left is still delivered, then -EPIPE. */
        char b[8];
        CHECK_EQ(weft_pqueue_get(q, b, sizeof b, WEFT_FOREVER), 8);
        CHECK_ERR(weft_pqueue_get(q, b, sizeof b, WEFT_FOREVER), -EPIPE);
        CHECK_OK(weft_pqueue_close(q));
    }
}

static void join_child(void *p) {
    struct ctx *c = p;
    CHECK_OK(weft_pqueue_join(c->q, weft_after(30 * WEFT_SEC)));
}

WEFT_TEST(task_done_join_across_processes) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    for (int k = 0; k < 4; k++) {
        weft_pqueue *q;
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 1024, 0));
        for (int i = 0; i < 5; i++)
            CHECK_OK(weft_pqueue_put(q, "t", 1, WEFT_NOWAIT));
        struct ctx c = {.q = q};
        pid_t j = test_fork_child(join_child, &c);
        wait_waiters(&q->jwait, 1);
        CHECK_ERR(weft_pqueue_join(q, weft_after(5 * WEFT_MSEC)), -ETIMEDOUT);
        char b[4];
        for (int i = 0; i < 5; i++) {
            CHECK_EQ(weft_pqueue_get(q, b, sizeof b, WEFT_NOWAIT), 1);
            CHECK_OK(weft_pqueue_task_done(q));
        }
        reap_ok(j);
        CHECK_ERR(weft_pqueue_task_done(q), -EINVAL);
        CHECK_OK(weft_pqueue_join(q, WEFT_NOWAIT));

        /* Immediate shutdown discards and counts as done. */
        for (int i = 0; i < 3; i++)
            CHECK_OK(weft_pqueue_put(q, "u", 1, WEFT_NOWAIT));
        CHECK_EQ(weft_pqueue_get(q, b, sizeof b, WEFT_NOWAIT), 1);
        CHECK_OK(weft_pqueue_shutdown(q, 1));
        CHECK_EQ(weft_pqueue_size(q), 0);
        CHECK_EQ(weft_pqueue_empty(q), 1);
        CHECK_ERR(weft_pqueue_join(q, WEFT_NOWAIT), -ETIMEDOUT); /* one taken, not done */
        CHECK_OK(weft_pqueue_task_done(q));
        CHECK_OK(weft_pqueue_join(q, WEFT_NOWAIT));
        CHECK_ERR(weft_pqueue_get(q, b, sizeof b, WEFT_NOWAIT), -EPIPE);
        CHECK_OK(weft_pqueue_close(q));
    }
}

/* ---------------------------------------------------------------- a producer killed mid-put */

static int hook_fd = -1;
static void stop_here(void) {
    char x = 'h';
    ssize_t w = write(hook_fd, &x, 1);
    (void)w;
    for (;;)
        pause();
}

/* Forks fn with q, waits until it stops in stop_here (inside a put or a
 * get) and kills it there. */
static void kill_in_hook(void (*fn)(void *), weft_pqueue *q) {
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    hook_fd = fds[1];
    struct ctx c = {.q = q};
    pid_t d = test_fork_child(fn, &c);
    char x;
    CHECK_EQ(read(fds[0], &x, 1), 1);
    CHECK_EQ(kill(d, SIGKILL), 0);
    reap_killed(d, SIGKILL);
    close(fds[0]);
    close(fds[1]);
}

static void doomed_producer(void *p) {
    struct ctx *c = p;
    unsigned char m[200];
    memset(m, 0xee, sizeof m);
    weft__pqueue_put_hook = stop_here;
    weft_pqueue_put(c->q, m, sizeof m, WEFT_FOREVER);
    _exit(3); /* not reached */
}

WEFT_TEST(producer_killed_mid_put) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    for (int k = 0; k < 4; k++) {
        weft_pqueue *q;
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 2048, 0));
        put_str(q, "before");
        kill_in_hook(doomed_producer, q); /* killed inside the put, holding the lock */
        char x;
        /* Nothing partial appeared; the queue works for others. */
        CHECK_EQ(weft_pqueue_size(q), 1);
        put_str(q, "after");
        CHECK_EQ(weft_pqueue_size(q), 2);
        if (KINDS[k] == WEFT_QUEUE_LIFO) {
            expect_str(q, "after");
            expect_str(q, "before");
        } else {
            expect_str(q, "before");
            expect_str(q, "after");
        }
        CHECK_ERR(weft_pqueue_try_get(q, &x, 1), -EAGAIN);
        CHECK_OK(weft_pqueue_task_done(q));
        CHECK_OK(weft_pqueue_task_done(q));
        CHECK_ERR(weft_pqueue_task_done(q), -EINVAL);
        CHECK_OK(weft_pqueue_join(q, WEFT_NOWAIT));
        /* Other producers and consumers go on, across processes. */
        uint64_t *res = test_shared_mem(4096);
        struct ctx pc = {.q = q, .id = 0, .n = 2000, .kind = KINDS[k], .res = res};
        struct ctx cc = {.q = q, .id = 0, .n = 2000, .kind = KINDS[k], .res = res};
        pid_t cons = test_fork_child(consumer, &cc), prod = test_fork_child(producer, &pc);
        reap_ok(prod);
        CHECK_OK(weft_pqueue_join(q, weft_after(30 * WEFT_SEC)));
        CHECK_OK(weft_pqueue_shutdown(q, 0));
        reap_ok(cons);
        CHECK_EQ(res[0], 2000);
        CHECK_EQ(res[2], 0);
        munmap(res, 4096);
        CHECK_OK(weft_pqueue_close(q));
    }
}

static void doomed_consumer(void *p) {
    struct ctx *c = p;
    char b[64];
    weft__pqueue_get_hook = stop_here;
    weft_pqueue_get(c->q, b, sizeof b, WEFT_FOREVER);
    _exit(3); /* not reached */
}

WEFT_TEST(consumer_killed_mid_get) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    for (int k = 0; k < 4; k++) {
        weft_pqueue *q;
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 2048, 0));
        put_str(q, "first");
        kill_in_hook(doomed_consumer, q); /* killed after it copied "first" out, uncommitted */
        /* The message is still there, whole; the queue works on. */
        CHECK_EQ(weft_pqueue_size(q), 1);
        put_str(q, "second");
        if (KINDS[k] == WEFT_QUEUE_LIFO) {
            expect_str(q, "second");
            expect_str(q, "first");
        } else {
            expect_str(q, "first");
            expect_str(q, "second");
        }
        CHECK_EQ(weft_pqueue_size(q), 0);
        CHECK_EQ(weft_pqueue_empty(q), 1);
        CHECK_OK(weft_pqueue_task_done(q));
        CHECK_OK(weft_pqueue_task_done(q));
        CHECK_OK(weft_pqueue_join(q, WEFT_NOWAIT));
        CHECK_OK(weft_pqueue_close(q));
    }
}

/* ---------------------------------------------------------------- a death at every step */

/* A child that dies at step `step` of one put (or get) of q, through the
 * internal fault injection; it exits 7 if the operation finished first
 * (the step was past its last). */
struct fault_ctx {
    weft_pqueue *q;
    long step;
    int get;
};

static void fault_child(void *p) {
    struct fault_ctx *c = p;
    unsigned char m[100], b[256];
    fill_msg(m, sizeof m, 9, 9);
    weft__pqueue_fault(c->step);
    if (c->get)
        (void)weft_pqueue_get(c->q, b, sizeof b, WEFT_NOWAIT);
    else
        (void)weft_pqueue_put(c->q, m, sizeof m, WEFT_NOWAIT);
    _exit(weft__pqueue_fault_left() ? 7 : 8);
}

/* Runs a fault child; returns 1 if it died at its step, 0 if it finished. */
static int fault_run(weft_pqueue *q, long step, int get) {
    struct fault_ctx c = {q, step, get};
    int st = test_reap(test_fork_child(fault_child, &c));
    if (st != 7)
        CHECK_EQ(st, 1000 + SIGKILL);
    return st != 7;
}

/* size and empty (asked first, before any get could repair anything) agree
 * with what try_get then takes; every message is whole. Returns how many
 * were taken, their (id, seq) in want_id/want_seq order. */
static size_t drain_agree(weft_pqueue *q, uint32_t *ids, uint32_t *seqs, size_t max) {
    size_t sz = weft_pqueue_size(q);
    int em = weft_pqueue_empty(q);
    CHECK_EQ(em, sz == 0);
    CHECK_EQ(weft_pqueue_size(q), sz);
    unsigned char b[256];
    ssize_t r;
    size_t n = 0;
    while ((r = weft_pqueue_try_get(q, b, sizeof b)) >= 0) {
        CHECK_LT(n, max);
        CHECK(msg_ok(b, (size_t)r, &ids[n], &seqs[n]));
        CHECK_EQ((size_t)r, ids[n] == 9 ? 100 : msg_len(ids[n], seqs[n]));
        n++;
    }
    CHECK_ERR(r, -EAGAIN);
    CHECK_EQ(n, sz);
    CHECK_EQ(weft_pqueue_size(q), 0);
    CHECK_EQ(weft_pqueue_empty(q), 1);
    return n;
}

static void put_msg(weft_pqueue *q, uint32_t id, uint32_t seq) {
    unsigned char m[256];
    size_t len = msg_len(id, seq);
    fill_msg(m, len, id, seq);
    CHECK_OK(weft_pqueue_put(q, m, len, WEFT_NOWAIT));
}

/* A producer killed at every step of a put, then (second = 1..3) a second
 * one killed in the first steps of its own put, inside the repair: size,
 * empty and try_get agree before anyone else comes, and the new message is
 * there whole or not at all. */
WEFT_TEST(producer_killed_at_every_step) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    int kills = 0;
    for (int k = 0; k < 4; k++) {
        long commit = 0; /* the first step at which the put had committed */
        for (long step = 1;; step++) {
            int died = 0;
            for (long second = 0; second <= 3; second++) {
                weft_pqueue *q;
                CHECK_OK(weft_pqueue_create(&q, KINDS[k], 2048, 0));
                put_msg(q, 1, 0);
                died = fault_run(q, step, 0);
                if (!died) {
                    CHECK_OK(weft_pqueue_close(q));
                    break;
                }
                kills++;
                if (second)
                    CHECK_EQ(fault_run(q, second, 0), 1);
                uint32_t ids[4], seqs[4];
                size_t n = drain_agree(q, ids, seqs, 4);
                CHECK(n == 1 || n == 2);
                /* One commit point: before it nothing, from it on the message. */
                if (n == 2 && !commit)
                    commit = step;
                CHECK_EQ(n, commit ? 2 : 1);
                /* The old message, and the new one after it (LIFO: before). */
                size_t old = KINDS[k] == WEFT_QUEUE_LIFO && n == 2 ? 1 : 0;
                CHECK_EQ(ids[old], 1);
                CHECK_EQ(seqs[old], 0);
                if (n == 2)
                    CHECK_EQ(ids[1 - old], 9);
                /* A message is a task exactly when it was committed. */
                for (size_t i = 0; i < n; i++)
                    CHECK_OK(weft_pqueue_task_done(q));
                CHECK_ERR(weft_pqueue_task_done(q), -EINVAL);
                CHECK_OK(weft_pqueue_join(q, WEFT_NOWAIT));
                /* And it works on. */
                put_msg(q, 2, 0);
                CHECK_EQ(weft_pqueue_size(q), 1);
                CHECK_EQ(drain_agree(q, ids, seqs, 4), 1);
                CHECK_EQ(ids[0], 2);
                CHECK_OK(weft_pqueue_close(q));
            }
            if (!died)
                break;
        }
    }
    printf("producers killed at every step: %d kills\n", kills);
    CHECK_GE(kills, 4 * 4 * 10);
    CHECK_NO_ZOMBIES();
}

/* The same for a consumer killed at every step of a get: the message it
 * was taking is still there or gone, never both, with one commit point;
 * nothing else moves. */
WEFT_TEST(consumer_killed_at_every_step) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    int kills = 0;
    for (int k = 0; k < 4; k++) {
        long commit = 0; /* the first step at which the get had committed */
        for (long step = 1;; step++) {
            int died = 0;
            for (long second = 0; second <= 3; second++) {
                weft_pqueue *q;
                CHECK_OK(weft_pqueue_create(&q, KINDS[k], 2048, 0));
                put_msg(q, 1, 0);
                put_msg(q, 1, 1);
                died = fault_run(q, step, 1);
                if (!died) {
                    CHECK_OK(weft_pqueue_close(q));
                    break;
                }
                kills++;
                if (second)
                    CHECK_EQ(fault_run(q, second, 1), 1);
                uint32_t ids[4], seqs[4];
                size_t n = drain_agree(q, ids, seqs, 4);
                CHECK(n == 1 || n == 2);
                if (n == 1 && !commit)
                    commit = step;
                CHECK_EQ(n, commit ? 1 : 2);
                bool lifo = KINDS[k] == WEFT_QUEUE_LIFO;
                for (size_t i = 0; i < n; i++) {
                    CHECK_EQ(ids[i], 1);
                    CHECK_EQ(seqs[i], lifo ? n - 1 - i : 2 - n + i);
                }
                for (size_t i = 0; i < n; i++)
                    CHECK_OK(weft_pqueue_task_done(q));
                if (n == 1) {
                    /* The dead consumer's task stays unfinished. */
                    CHECK_ERR(weft_pqueue_join(q, WEFT_NOWAIT), -ETIMEDOUT);
                    CHECK_OK(weft_pqueue_task_done(q));
                }
                CHECK_ERR(weft_pqueue_task_done(q), -EINVAL);
                CHECK_OK(weft_pqueue_join(q, WEFT_NOWAIT));
                put_msg(q, 2, 0);
                CHECK_EQ(drain_agree(q, ids, seqs, 4), 1);
                CHECK_EQ(ids[0], 2);
                CHECK_OK(weft_pqueue_close(q));
            }
            if (!died)
                break;
        }
    }
    printf("consumers killed at every step: %d kills\n", kills);
    CHECK_GE(kills, 4 * 4 * 8);
    CHECK_NO_ZOMBIES();
}

/* Steps one put (get = 0) or get of a 100-byte message takes on a fresh
 * queue of kind k, counted with the fault countdown in this process. */
static long steps_of(int kind, int get) {
    weft_pqueue *q;
    unsigned char m[100], b[256];
    fill_msg(m, sizeof m, 9, 9);
    CHECK_OK(weft_pqueue_create(&q, kind, 2048, 1));
    if (get)
        CHECK_OK(weft_pqueue_put(q, m, sizeof m, WEFT_NOWAIT));
    weft__pqueue_fault(1000000);
    if (get)
        CHECK_EQ(weft_pqueue_get(q, b, sizeof b, WEFT_NOWAIT), 100);
    else
        CHECK_OK(weft_pqueue_put(q, m, sizeof m, WEFT_NOWAIT));
    long n = 1000000 - weft__pqueue_fault_left();
    weft__pqueue_fault(0);
    CHECK_OK(weft_pqueue_close(q));
    return n;
}

static void getter_10s(void *p) {
    struct ctx *c = p;
    unsigned char b[256];
    uint32_t id, seq;
    ssize_t n = weft_pqueue_get(c->q, b, sizeof b, weft_after(10 * WEFT_SEC));
    CHECK_EQ(n, 100);
    CHECK(msg_ok(b, 100, &id, &seq));
    CHECK_EQ(id, 9);
}

static void putter_10s(void *p) {
    struct ctx *c = p;
    unsigned char m[100];
    fill_msg(m, sizeof m, 9, 9);
    CHECK_OK(weft_pqueue_put(c->q, m, sizeof m, weft_after(10 * WEFT_SEC)));
}

/* WEFT_TEST_TIMEOUT(killed_before_its_wakeup, 120) */
/* A producer killed after its put committed but before it woke the
 * sleeping getter, and a consumer killed after its get committed but
 * before it woke the sleeping putter: the sleeper goes on all the same
 * (well before its 10 s deadline), without anyone else coming. */
WEFT_TEST(killed_before_its_wakeup) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    for (int k = 0; k < 4; k++) {
        weft_pqueue *q;
        unsigned char m[100];
        fill_msg(m, sizeof m, 9, 9);
        /* A getter asleep on an empty queue; the producer dies at its last
         * step, after unlocking, before the wake-up. */
        CHECK_OK(weft_pqueue_create(&q, KINDS[k], 2048, 1));
        struct ctx c = {.q = q};
        pid_t g = test_fork_child(getter_10s, &c);
        wait_waiters(&q->dwait, 1);
        CHECK_EQ(fault_run(q, steps_of(KINDS[k], 0), 0), 1);
        reap_ok(g);
        CHECK_EQ(weft_pqueue_size(q), 0);
        /* A putter asleep on a full queue (max_count 1); the consumer dies
         * at its last step. */
        CHECK_OK(weft_pqueue_put(q, m, sizeof m, WEFT_NOWAIT));
        pid_t pt = test_fork_child(putter_10s, &c);
        wait_waiters(&q->swait, 1);
        CHECK_EQ(fault_run(q, steps_of(KINDS[k], 1), 1), 1);
        reap_ok(pt);
        CHECK_EQ(weft_pqueue_size(q), 1);
        CHECK_OK(weft_pqueue_close(q));
    }
}

static void blocked_getter(void *p) {
    struct ctx *c = p;
    char b[8];
    weft_pqueue_get(c->q, b, sizeof b, WEFT_FOREVER);
    _exit(3);
}

WEFT_TEST(consumer_killed_while_waiting) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_pqueue *q;
    CHECK_OK(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, 256, 0));
    struct ctx c = {.q = q};
    pid_t g = test_fork_child(blocked_getter, &c);
    wait_waiters(&q->dwait, 1);
    CHECK_EQ(kill(g, SIGKILL), 0);
    reap_killed(g, SIGKILL);
    /* Its registration as a waiter is left behind: it only costs wake-ups. */
    put_str(q, "still");
    expect_str(q, "still");
    CHECK_OK(weft_pqueue_close(q));
}

/* ---------------------------------------------------------------- coroutines */

static weft_pqueue *cq;
static int cq_fd;
static int ticks;

static void *co_getter(void *arg) {
    (void)arg;
    char b[16];
    ssize_t n = weft_pqueue_get(cq, b, sizeof b, weft_after(20 * WEFT_SEC));
    CHECK_EQ(n, 5);
    CHECK_GE(ticks, 3); /* the ticker ran while this coroutine waited */
    return NULL;
}

static void *co_ticker(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_sleep(2 * WEFT_MSEC));
        ticks++;
    }
    char x = 'g';
    CHECK_EQ(write(cq_fd, &x, 1), 1); /* now the child may put */
    return NULL;
}

static void put_on_signal(void *p) {
    struct ctx *c = p;
    char x;
    CHECK_EQ(read(c->fd, &x, 1), 1);
    CHECK_OK(weft_pqueue_put(c->q, "hello", 5, WEFT_FOREVER));
}

static void coro_body(void) {
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    CHECK_OK(weft_pqueue_create(&cq, WEFT_QUEUE_FIFO, 256, 0));
    struct ctx c = {.q = cq, .fd = fds[0]};
    pid_t p = test_fork_child(put_on_signal, &c);
    cq_fd = fds[1];
    ticks = 0;
    weft_coro a, b;
    CHECK_OK(weft_spawn(&a, co_getter, NULL, NULL));
    CHECK_OK(weft_spawn(&b, co_ticker, NULL, NULL));
    CHECK_OK(weft_join(a, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(b, WEFT_FOREVER, NULL));
    reap_ok(p);
    close(fds[0]);
    close(fds[1]);
    CHECK_OK(weft_pqueue_close(cq));
}

WEFT_TEST(coroutine_parks_only_itself) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    run_plain_in_thread(coro_body);
}

/* Eight coroutines of one thread (half on the shared stack) take 2000
 * messages that a child process puts into a small queue, and two more put
 * 500 each into a queue the child drains: gets and puts park and resume
 * side by side, and every message arrives exactly once. */
static weft_pqueue *cq_in, *cq_out;
static int co_got[8];

static void *co_taker(void *arg) {
    int i = (int)(intptr_t)arg;
    char b[16];
    for (;;) {
        ssize_t n = weft_pqueue_get(cq_in, b, sizeof b, weft_after(30 * WEFT_SEC));
        if (n == -EPIPE)
            return NULL;
        CHECK_EQ(n, 8);
        co_got[i]++;
    }
}

static void *co_giver(void *arg) {
    (void)arg;
    for (int i = 0; i < 500; i++)
        CHECK_OK(weft_pqueue_put(cq_out, "12345678", 8, weft_after(30 * WEFT_SEC)));
    return NULL;
}

static void feed_and_drain(void *p) {
    (void)p;
    for (int i = 0; i < 2000; i++)
        CHECK_OK(weft_pqueue_put(cq_in, "abcdefgh", 8, WEFT_FOREVER));
    CHECK_OK(weft_pqueue_shutdown(cq_in, 0));
    char b[16];
    for (int i = 0; i < 1000; i++)
        CHECK_EQ(weft_pqueue_get(cq_out, b, sizeof b, WEFT_FOREVER), 8);
}

static void coro_many_body(void) {
    CHECK_OK(weft_pqueue_create(&cq_in, WEFT_QUEUE_FIFO, 64, 0));
    CHECK_OK(weft_pqueue_create(&cq_out, WEFT_QUEUE_DEQUE, 64, 0));
    pid_t p = test_fork_child(feed_and_drain, NULL);
    weft_coro c[10];
    for (int i = 0; i < 8; i++) {
        weft_coro_opts o = {.stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        co_got[i] = 0;
        CHECK_OK(weft_spawn(&c[i], co_taker, (void *)(intptr_t)i, &o));
    }
    CHECK_OK(weft_spawn(&c[8], co_giver, NULL, NULL));
    CHECK_OK(weft_spawn(&c[9], co_giver, NULL, NULL));
    for (int i = 0; i < 10; i++)
        CHECK_OK(weft_join(c[i], WEFT_FOREVER, NULL));
    int total = 0;
    for (int i = 0; i < 8; i++)
        total += co_got[i];
    CHECK_EQ(total, 2000);
    reap_ok(p);
    CHECK_EQ(weft_pqueue_size(cq_out), 0);
    CHECK_OK(weft_pqueue_close(cq_in));
    CHECK_OK(weft_pqueue_close(cq_out));
}

WEFT_TEST(coroutines_many_on_one_thread) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    run_in_thread(coro_many_body);
}

/* ---------------------------------------------------------------- named */

static char pq_name[64];

static void named_child(void *p) {
    (void)p;
    weft_pqueue *q;
    CHECK_OK(weft_pqueue_open(&q, pq_name, weft_after(5 * WEFT_SEC)));
    char b[16];
    CHECK_EQ(weft_pqueue_get(q, b, sizeof b, weft_after(10 * WEFT_SEC)), 4);
    CHECK(memcmp(b, "ping", 4) == 0);
    CHECK_OK(weft_pqueue_put_prio(q, "pong", 4, 1, WEFT_FOREVER));
    CHECK_OK(weft_pqueue_close(q));
}

WEFT_TEST(named_queue) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    char *name = pq_name;
    snprintf(pq_name, sizeof pq_name, "weft_test_pq_%d", (int)getpid());
    weft_pqueue_unlink(name);
    weft_pqueue *w;
    CHECK_OK(weft_pqueue_create_named(&w, name, WEFT_QUEUE_FIFO, 64, 0));
    CHECK_OK(weft_pqueue_close(w));
    CHECK_OK(weft_pqueue_unlink(name));
    CHECK_ERR(weft_pqueue_create_named(&w, name, 9, 64, 0), -EINVAL);
    CHECK_ERR(weft_pqueue_open(&w, name, WEFT_NOWAIT), -ENOENT);
    weft_pqueue *q, *q2;
    CHECK_OK(weft_pqueue_create_named(&q, name, WEFT_QUEUE_PRIORITY, 4096, 0));
    CHECK_ERR(weft_pqueue_create_named(&q2, name, WEFT_QUEUE_FIFO, 4096, 0), -EEXIST);
    pid_t c = test_fork_child(named_child, NULL);
    CHECK_OK(weft_pqueue_put_prio(q, "ping", 4, 5, WEFT_FOREVER));
    /* Wait until the child took ping and answered. */
    char b[16];
    int64_t end = weft_after(10 * WEFT_SEC);
    ssize_t n;
    while ((n = weft_pqueue_get(q, b, sizeof b, weft_after(10 * WEFT_MSEC))) == -ETIMEDOUT ||
           (n == 4 && memcmp(b, "ping", 4) == 0)) {
        if (n == 4) /* took our own ping back: put it again */
            CHECK_OK(weft_pqueue_put_prio(q, "ping", 4, 5, WEFT_FOREVER));
        CHECK(weft_now() < end);
    }
    CHECK_EQ(n, 4);
    CHECK(memcmp(b, "pong", 4) == 0);
    reap_ok(c);
    CHECK_OK(weft_pqueue_unlink(name));
    CHECK_ERR(weft_pqueue_open(&q2, name, WEFT_NOWAIT), -ENOENT);
    CHECK_ERR(weft_pqueue_unlink(name), -ENOENT);
    /* Still usable after the name is gone. */
    put_str(q, "x");
    expect_str(q, "x");
    CHECK_OK(weft_pqueue_close(q));
}

/* ---------------------------------------------------------------- pipes */

WEFT_TEST(pipe_bad_input) {
    weft_pipe *a, *b;
    char buf[8];
    CHECK_ERR(weft_pipe_create(NULL, &b, 1), -EINVAL);
    CHECK_ERR(weft_pipe_create(&a, NULL, 1), -EINVAL);
    CHECK_ERR(weft_pipe_create(&a, &b, 2), -EINVAL);
    CHECK_ERR(weft_pipe_send(NULL, "x", 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pipe_recv(NULL, buf, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pipe_next_size(NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pipe_fd(NULL), -EINVAL);
    CHECK_ERR(weft_pipe_close(NULL), 0);
    CHECK_OK(weft_pipe_create(&a, &b, 0));
    CHECK_ERR(weft_pipe_send(a, "x", 1, WEFT_NOWAIT), -EBADF); /* receive-only */
    CHECK_ERR(weft_pipe_recv(b, buf, 1, WEFT_NOWAIT), -EBADF); /* send-only */
    CHECK_ERR(weft_pipe_send(b, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pipe_recv(a, NULL, 1, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pipe_recv(a, buf, sizeof buf, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_OK(weft_pipe_send(b, "hello!", 6, WEFT_NOWAIT));
    CHECK_OK(weft_pipe_send(b, NULL, 0, WEFT_NOWAIT));
    CHECK_EQ(weft_pipe_next_size(a, WEFT_NOWAIT), 6);
    CHECK_ERR(weft_pipe_recv(a, buf, 5, WEFT_NOWAIT), -EMSGSIZE);
    CHECK_EQ(weft_pipe_recv(a, buf, sizeof buf, WEFT_NOWAIT), 6);
    CHECK(memcmp(buf, "hello!", 6) == 0);
    CHECK_EQ(weft_pipe_recv(a, buf, sizeof buf, WEFT_NOWAIT), 0);
    CHECK_OK(weft_pipe_close(a));
    CHECK_OK(weft_pipe_close(b));
    /* Allocation failure leaves nothing behind. */
    CHECK_OK(test_alloc_install());
    test_alloc_fail_after(0);
    CHECK_ERR(weft_pipe_create(&a, &b, 1), -ENOMEM);
    test_alloc_fail_after(1);
    CHECK_ERR(weft_pipe_create(&a, &b, 1), -ENOMEM);
    test_alloc_fail_after(-1);
    CHECK_NO_LEAKS();
    CHECK_OK(weft_pipe_create(&a, &b, 1));
    CHECK_OK(weft_pipe_close(a));
    CHECK_OK(weft_pipe_close(b));
    CHECK_NO_LEAKS();
    CHECK_OK(test_alloc_uninstall());
}

struct pctx {
    weft_pipe *p;
    weft_pipe *other; /* the parent's end: the child closes its copy */
    size_t big;
    int fd;
};

static void echo_child(void *arg) {
    struct pctx *c = arg;
    CHECK_OK(weft_pipe_close(c->other));
    unsigned char *buf = malloc(c->big);
    for (;;) {
        ssize_t n = weft_pipe_recv(c->p, buf, c->big, WEFT_FOREVER);
        if (n == -EPIPE)
            break;
        CHECK_OK(n);
        CHECK_OK(weft_pipe_send(c->p, buf, (size_t)n, WEFT_FOREVER));
    }
    free(buf);
}

WEFT_TEST(pipe_duplex_echo_and_large) {
    weft_pipe *a, *b;
    CHECK_OK(weft_pipe_create(&a, &b, 1));
    struct pctx c = {.p = b, .other = a, .big = 4 * MB};
    pid_t e = test_fork_child(echo_child, &c);
    CHECK_OK(weft_pipe_close(b));
    unsigned char *m = malloc(4 * MB), *o = malloc(4 * MB);
    for (uint32_t i = 0; i < 200; i++) {
        size_t len = i % 50 == 0 ? 4 * MB : 8 + mix(i) % 3000;
        fill_msg(m, len, 9, i);
        CHECK_OK(weft_pipe_send(a, m, len, weft_after(20 * WEFT_SEC)));
        CHECK_EQ(weft_pipe_recv(a, o, 4 * MB, weft_after(20 * WEFT_SEC)), (ssize_t)len);
        uint32_t id, seq;
        CHECK(msg_ok(o, len, &id, &seq));
        CHECK_EQ(seq, i);
    }
    CHECK_OK(weft_pipe_close(a)); /* the echo child sees EOF */
    reap_ok(e);
    free(m);
    free(o);
}

static void die_child(void *arg) {
    (void)arg;
    _exit(0);
}

WEFT_TEST(pipe_peer_died) {
    weft_pipe *a, *b;
    CHECK_OK(weft_pipe_create(&a, &b, 1));
    pid_t d = test_fork_child(die_child, NULL);
    CHECK_OK(weft_pipe_close(b)); /* now only the (exited) child had it */
    reap_ok(d);
    char buf[8];
    CHECK_ERR(weft_pipe_recv(a, buf, sizeof buf, weft_after(5 * WEFT_SEC)), -EPIPE);
    CHECK_ERR(weft_pipe_send(a, "x", 1, weft_after(5 * WEFT_SEC)), -EPIPE); /* no SIGPIPE */
    CHECK_OK(weft_pipe_close(a));
}

static void half_writer(void *arg) {
    struct pctx *c = arg;
    CHECK_OK(weft_pipe_close(c->other));
    int fd = weft_pipe_fd(c->p);
    uint64_t len = 16;
    char x;
    CHECK_EQ(write(fd, &len, 8), 8);
    CHECK_EQ(write(fd, "01234567", 8), 8);
    CHECK_EQ(read(c->fd, &x, 1), 1);
    CHECK_EQ(write(fd, "89abcdef", 8), 8);
}

WEFT_TEST(pipe_deadlines_and_partial) {
    weft_pipe *a, *b;
    CHECK_OK(weft_pipe_create(&a, &b, 0));
    /* A send that cannot start times out and sends nothing: fill the
     * socket's buffer with raw bytes first. */
    static char chunk[4096];
    while (write(weft_pipe_fd(b), chunk, sizeof chunk) > 0)
        ;
    CHECK_EQ(errno, EAGAIN);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_pipe_send(b, "z", 1, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 10 * WEFT_MSEC);
    CHECK_ERR(weft_pipe_send(b, "z", 1, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_OK(weft_pipe_close(a));
    CHECK_OK(weft_pipe_close(b));

    /* A receive that times out inside a message continues it next time. */
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    CHECK_OK(weft_pipe_create(&a, &b, 0));
    struct pctx c = {.p = b, .other = a, .fd = fds[0]};
    pid_t w = test_fork_child(half_writer, &c);
    CHECK_OK(weft_pipe_close(b));
    char buf[32];
    CHECK_ERR(weft_pipe_recv(a, buf, sizeof buf, weft_after(30 * WEFT_MSEC)), -ETIMEDOUT);
    char x = 'g';
    CHECK_EQ(write(fds[1], &x, 1), 1);
    CHECK_EQ(weft_pipe_recv(a, buf, sizeof buf, weft_after(10 * WEFT_SEC)), 16);
    CHECK(memcmp(buf, "0123456789abcdef", 16) == 0);
    reap_ok(w);
    CHECK_ERR(weft_pipe_recv(a, buf, sizeof buf, weft_after(10 * WEFT_SEC)), -EPIPE);
    CHECK_OK(weft_pipe_close(a));
    close(fds[0]);
    close(fds[1]);
}

static weft_pipe *cp_end;
static void *co_pipe_reader(void *arg) {
    (void)arg;
    char b[16];
    CHECK_EQ(weft_pipe_recv(cp_end, b, sizeof b, weft_after(20 * WEFT_SEC)), 5);
    CHECK_GE(ticks, 3);
    return NULL;
}

static void pipe_put_on_signal(void *arg) {
    struct pctx *c = arg;
    char x;
    CHECK_OK(weft_pipe_close(c->other));
    CHECK_EQ(read(c->fd, &x, 1), 1);
    CHECK_OK(weft_pipe_send(c->p, "hello", 5, WEFT_FOREVER));
}

static void coro_pipe_body(void) {
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    weft_pipe *a, *b;
    CHECK_OK(weft_pipe_create(&a, &b, 0));
    struct pctx c = {.p = b, .other = a, .fd = fds[0]};
    pid_t p = test_fork_child(pipe_put_on_signal, &c);
    CHECK_OK(weft_pipe_close(b));
    cp_end = a;
    cq_fd = fds[1];
    ticks = 0;
    weft_coro r, t;
    CHECK_OK(weft_spawn(&r, co_pipe_reader, NULL, NULL));
    CHECK_OK(weft_spawn(&t, co_ticker, NULL, NULL));
    CHECK_OK(weft_join(r, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(t, WEFT_FOREVER, NULL));
    reap_ok(p);
    CHECK_OK(weft_pipe_close(a));
    close(fds[0]);
    close(fds[1]);
}

WEFT_TEST(pipe_coroutine_parks_only_itself) {
    run_plain_in_thread(coro_pipe_body);
}

WEFT_MAIN()
