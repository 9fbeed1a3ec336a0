/* Queues: every kind's ordering, bounded blocking (coroutines keep running), deadlines,
 * try-variants, size/empty/full, task_done/join, shutdown (plain and immediate), bad
 * arguments, allocation failure, hand-off to parked getters and putters in FIFO order,
 * SHARED-stack coroutines, cancellation, and producers/consumers across plain threads and
 * coroutine threads; the seed's colour example.
 *
 * Most cases run their body on a fresh pthread (run_in_thread): once it has exited, its
 * scheduler is gone and the counting allocator must show nothing left. */
#include "harness.h"

#include <pthread.h>
#include <stdint.h>

/* WEFT_TEST_TIMEOUT(producers_consumers, 180) */
/* WEFT_TEST_TIMEOUT(producers_consumers_kinds, 180) */
/* WEFT_TEST_TIMEOUT(shared_stack_cross_thread, 120) */

#include "internal.h" /* weft__sched_get: to check that no scheduler appeared */

/* ------------------------------------------------------------------ helpers */

static weft_queue *mkq(int kind, size_t esz, size_t maxsize) {
    weft_queue *q = NULL;
    CHECK_ERR(weft_queue_create(&q, kind, esz, maxsize), 0);
    CHECK(q != NULL);
    return q;
}

static int64_t elapsed_since(int64_t t0) {
    return weft_now() - t0;
}

static pthread_t start_thread(void *(*fn)(void *), void *arg) {
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

static void *join_thread(pthread_t t) {
    void *r = NULL;
    CHECK_EQ(pthread_join(t, &r), 0);
    return r;
}

/* ------------------------------------------------------------ arguments */

WEFT_TEST(create_bad_args) { SKIP_IN_GROUP("a thread without a scheduler");
    CHECK_OK(test_alloc_install());
    weft_queue *q = (weft_queue *)1;
    CHECK_ERR(weft_queue_create(NULL, WEFT_QUEUE_FIFO, 8, 0), -EINVAL);
    CHECK_ERR(weft_queue_create(&q, -1, 8, 0), -EINVAL);
    CHECK_ERR(weft_queue_create(&q, 4, 8, 0), -EINVAL);
    CHECK_ERR(weft_queue_create(&q, WEFT_QUEUE_FIFO, 0, 0), -EINVAL);
    CHECK_ERR(weft_queue_create(&q, WEFT_QUEUE_FIFO, 65537, 0), -EINVAL);
    CHECK_ERR(weft_queue_create(&q, WEFT_QUEUE_FIFO, (size_t)-1, 0), -EINVAL);
    CHECK_ERR(weft_queue_create(&q, WEFT_QUEUE_FIFO, 8, ((size_t)1 << 30) + 1), -EINVAL);
    CHECK_ERR(weft_queue_create(&q, WEFT_QUEUE_PRIORITY, 8, (size_t)-1), -EINVAL);
    CHECK_PTR_EQ(q, (weft_queue *)1); /* untouched on failure */
    CHECK_NO_LEAKS();

    for (int kind = WEFT_QUEUE_FIFO; kind <= WEFT_QUEUE_DEQUE; kind++) {
        q = mkq(kind, 65536, (size_t)1 << 30);
        CHECK_ERR(weft_queue_destroy(q), 0);
        q = mkq(kind, 1, 0);
        unsigned char b = 7;
        CHECK_ERR(weft_queue_put(NULL, &b, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_put(q, NULL, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_try_put(NULL, &b), -EINVAL);
        CHECK_ERR(weft_queue_try_put(q, NULL), -EINVAL);
        CHECK_ERR(weft_queue_get(NULL, &b, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_get(q, NULL, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_try_get(NULL, &b), -EINVAL);
        CHECK_ERR(weft_queue_try_get(q, NULL), -EINVAL);
        CHECK_ERR(weft_queue_put_prio(NULL, &b, 1, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_put_prio(q, NULL, 1, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_put_front(NULL, &b, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_put_front(q, NULL, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_get_back(NULL, &b, WEFT_NOWAIT), -EINVAL);
        CHECK_ERR(weft_queue_get_back(q, NULL, WEFT_NOWAIT), -EINVAL);
        /* The kind-specific calls on the wrong kind. */
        CHECK_ERR(weft_queue_put_prio(q, &b, 1, WEFT_NOWAIT),
                  kind == WEFT_QUEUE_PRIORITY ? 0 : -EINVAL);
        CHECK_ERR(weft_queue_put_front(q, &b, WEFT_NOWAIT), kind == WEFT_QUEUE_DEQUE ? 0 : -EINVAL);
        CHECK_ERR(weft_queue_get_back(q, &b, WEFT_NOWAIT), kind == WEFT_QUEUE_DEQUE ? 0 : -EINVAL);
        CHECK_EQ(weft_queue_size(q), kind == WEFT_QUEUE_PRIORITY);
        CHECK_ERR(weft_queue_shutdown(q, 1), 0);
        CHECK_ERR(weft_queue_destroy(q), 0);
    }
    CHECK_ERR(weft_queue_task_done(NULL), -EINVAL);
    CHECK_ERR(weft_queue_join(NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_queue_shutdown(NULL, 0), -EINVAL);
    CHECK_ERR(weft_queue_destroy(NULL), 0);
    CHECK_EQ(weft_queue_size(NULL), 0);
    CHECK_EQ(weft_queue_empty(NULL), 1);
    CHECK_EQ(weft_queue_full(NULL), 0);
    CHECK_EQ(weft_queue_is_shutdown(NULL), 0);
    CHECK_NO_LEAKS();
    CHECK(weft__sched_get() == NULL); /* none of that needed a scheduler */
}

WEFT_TEST(create_oom) {
    CHECK_OK(test_alloc_install());
    for (int kind = WEFT_QUEUE_FIFO; kind <= WEFT_QUEUE_DEQUE; kind++) {
        int k, r = -1;
        weft_queue *q = NULL;
        for (k = 0; k < 10; k++) {
            test_alloc_fail_after(k);
            r = weft_queue_create(&q, kind, 24, 0);
            if (r == 0)
                break;
            CHECK_ERR(r, -ENOMEM);
            CHECK(q == NULL);
            CHECK_NO_LEAKS();
        }
        test_alloc_fail_after(-1);
        CHECK_ERR(r, 0);
        CHECK_GE(k, 1); /* at least one allocation was needed */
        CHECK_ERR(weft_queue_destroy(q), 0);
        q = NULL;
        CHECK_NO_LEAKS();
    }
}

/* Unbounded growth that fails returns -ENOMEM and loses nothing; the queue works on once
 * memory is back. */
WEFT_TEST(grow_oom) {
    CHECK_OK(test_alloc_install());
    for (int kind = WEFT_QUEUE_FIFO; kind <= WEFT_QUEUE_DEQUE; kind++) {
        weft_queue *q = mkq(kind, sizeof(int64_t), 0);
        test_alloc_fail_after(0);
        int64_t n = 0;
        int r;
        /* Wrap the ring once first, so growth has to unwrap it. */
        for (int i = 0; i < 5; i++) {
            CHECK_ERR(weft_queue_put(q, &n, WEFT_NOWAIT), 0);
            int64_t v;
            CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
            CHECK_ERR(weft_queue_task_done(q), 0);
        }
        while ((r = weft_queue_put(q, &n, WEFT_NOWAIT)) == 0)
            n++;
        CHECK_ERR(r, -ENOMEM);
        CHECK_GE(n, 1);
        CHECK_EQ(weft_queue_size(q), n);
        test_alloc_fail_after(-1);
        int64_t total = n + 1000;
        for (int64_t i = n; i < total; i++)
            CHECK_ERR(weft_queue_put(q, &i, WEFT_NOWAIT), 0);
        CHECK_EQ(weft_queue_size(q), total);
        /* Every element is there, once. */
        int64_t sum = 0, v;
        for (int64_t i = 0; i < total; i++) {
            CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
            CHECK(v >= 0 && v < total);
            if (kind == WEFT_QUEUE_FIFO || kind == WEFT_QUEUE_DEQUE || kind == WEFT_QUEUE_PRIORITY)
                CHECK_EQ(v, i);
            else
                CHECK_EQ(v, total - 1 - i);
            sum += v;
        }
        CHECK_EQ(sum, total * (total - 1) / 2);
        CHECK_ERR(weft_queue_try_get(q, &v), -EAGAIN);
        CHECK_ERR(weft_queue_destroy(q), 0);
        CHECK_NO_LEAKS();
    }
}

/* ------------------------------------------------------------ orderings */

WEFT_TEST(fifo_order) {
    CHECK_OK(test_alloc_install());
    weft_queue *q = mkq(WEFT_QUEUE_FIFO, sizeof(int), 0);
    int next_in = 0, next_out = 0, v;
    /* Interleaved puts and gets through wrap-around and several growths. */
    for (int round = 1; round <= 200; round++) {
        for (int i = 0; i < round; i++, next_in++)
            CHECK_ERR(weft_queue_put(q, &next_in, WEFT_NOWAIT), 0);
        for (int i = 0; i < round / 2; i++, next_out++) {
            CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
            CHECK_EQ(v, next_out);
        }
    }
    CHECK_EQ(weft_queue_size(q), next_in - next_out);
    while (next_out < next_in) {
        CHECK_ERR(weft_queue_try_get(q, &v), 0);
        CHECK_EQ(v, next_out++);
    }
    CHECK_ERR(weft_queue_try_get(q, &v), -EAGAIN);
    CHECK_ERR(weft_queue_destroy(q), 0);
    CHECK_NO_LEAKS();
}

WEFT_TEST(lifo_order) {
    CHECK_OK(test_alloc_install());
    weft_queue *q = mkq(WEFT_QUEUE_LIFO, sizeof(int), 0);
    int v;
    for (int i = 0; i < 100; i++)
        CHECK_ERR(weft_queue_put(q, &i, WEFT_NOWAIT), 0);
    for (int i = 99; i >= 50; i--) {
        CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
        CHECK_EQ(v, i);
    }
    int x = 1000;
    CHECK_ERR(weft_queue_put(q, &x, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
    CHECK_EQ(v, 1000);
    for (int i = 49; i >= 0; i--) {
        CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
        CHECK_EQ(v, i);
    }
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_queue_destroy(q), 0);
    CHECK_NO_LEAKS();
}

typedef struct {
    int64_t prio;
    uint32_t seq;
    char pad[5];
} pelem;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int pelem_cmp(const void *a, const void *b) {
    const pelem *x = a, *y = b;
    if (x->prio != y->prio)
        return x->prio < y->prio ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

WEFT_TEST(priority_order) {
    CHECK_OK(test_alloc_install());
    /* Small example, like Python's PriorityQueue, with ties in insertion order. */
    weft_queue *q = mkq(WEFT_QUEUE_PRIORITY, sizeof(int), 0);
    int64_t prios[] = {3, 1, 2, 1, INT64_MIN, INT64_MAX, 1, -7, 2};
    for (int i = 0; i < 9; i++)
        CHECK_ERR(weft_queue_put_prio(q, &i, prios[i], WEFT_NOWAIT), 0);
    int want[] = {4, 7, 1, 3, 6, 2, 8, 0, 5};
    for (int i = 0; i < 9; i++) {
        int v;
        CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
        CHECK_EQ(v, want[i]);
    }
    /* weft_queue_put is priority 0, FIFO among itself. */
    for (int i = 0; i < 5; i++)
        CHECK_ERR(weft_queue_put(q, &i, WEFT_NOWAIT), 0);
    int neg = 99;
    CHECK_ERR(weft_queue_put_prio(q, &neg, -1, WEFT_NOWAIT), 0);
    int v;
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
    CHECK_EQ(v, 99);
    for (int i = 0; i < 5; i++) {
        CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
        CHECK_EQ(v, i);
    }
    CHECK_ERR(weft_queue_destroy(q), 0);

    /* Against a stable sort, with interleaved gets, few distinct priorities (many ties). */
    q = mkq(WEFT_QUEUE_PRIORITY, sizeof(pelem), 0);
    enum { N = 5000 };
    static pelem ref[N];
    uint64_t s = 88172645463325252ull;
    size_t nref = 0;
    uint32_t seq = 0;
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 100; i++) {
            pelem e = {(int64_t)(rng_next(&s) % 13) - 6, seq++, {0}};
            CHECK_ERR(weft_queue_put_prio(q, &e, e.prio, WEFT_NOWAIT), 0);
            ref[nref++] = e;
        }
        qsort(ref, nref, sizeof ref[0], pelem_cmp);
        for (int i = 0; i < 37; i++) {
            pelem e;
            CHECK_ERR(weft_queue_get(q, &e, WEFT_NOWAIT), 0);
            CHECK_EQ(e.prio, ref[0].prio);
            CHECK_EQ(e.seq, ref[0].seq);
            memmove(ref, ref + 1, (nref - 1) * sizeof ref[0]);
            nref--;
        }
    }
    CHECK_EQ(weft_queue_size(q), nref);
    for (size_t i = 0; i < nref; i++) {
        pelem e;
        CHECK_ERR(weft_queue_get(q, &e, WEFT_NOWAIT), 0);
        CHECK_EQ(e.prio, ref[i].prio);
        CHECK_EQ(e.seq, ref[i].seq);
    }
    CHECK_EQ(weft_queue_empty(q), 1);
    CHECK_ERR(weft_queue_destroy(q), 0);
    CHECK_NO_LEAKS();
}

WEFT_TEST(deque_ends) {
    CHECK_OK(test_alloc_install());
    weft_queue *q = mkq(WEFT_QUEUE_DEQUE, sizeof(int), 0);
    /* Front puts wrap the ring backwards from slot 0, then growth unwraps it. */
    for (int i = 0; i < 40; i++) {
        if (i % 2)
            CHECK_ERR(weft_queue_put_front(q, &i, WEFT_NOWAIT), 0);
        else
            CHECK_ERR(weft_queue_put(q, &i, WEFT_NOWAIT), 0);
    }
    /* Now front..back: 39 37 ... 3 1 0 2 4 ... 38 */
    int v;
    for (int i = 39; i >= 1; i -= 2) {
        CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
        CHECK_EQ(v, i);
    }
    for (int i = 38; i >= 0; i -= 2) {
        CHECK_ERR(weft_queue_get_back(q, &v, WEFT_NOWAIT), 0);
        CHECK_EQ(v, i);
    }
    CHECK_ERR(weft_queue_get_back(q, &v, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), -ETIMEDOUT);
    /* Bounded deque: both ends respect the bound. */
    CHECK_ERR(weft_queue_destroy(q), 0);
    q = mkq(WEFT_QUEUE_DEQUE, sizeof(int), 3);
    int a = 1, b = 2, c = 3;
    CHECK_ERR(weft_queue_put(q, &a, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_put_front(q, &b, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_put(q, &c, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_put_front(q, &c, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_queue_try_put(q, &c), -EAGAIN);
    CHECK_EQ(weft_queue_full(q), 1);
    CHECK_ERR(weft_queue_get_back(q, &v, WEFT_NOWAIT), 0);
    CHECK_EQ(v, 3);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
    CHECK_EQ(v, 2);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
    CHECK_EQ(v, 1);
    CHECK_ERR(weft_queue_destroy(q), 0);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------ size, try, deadlines */

WEFT_TEST(size_empty_full_try) { SKIP_IN_GROUP("a thread without a scheduler");
    CHECK_OK(test_alloc_install());
    weft_queue *q = mkq(WEFT_QUEUE_FIFO, sizeof(int), 2);
    int v = 5;
    CHECK_EQ(weft_queue_size(q), 0);
    CHECK_EQ(weft_queue_empty(q), 1);
    CHECK_EQ(weft_queue_full(q), 0);
    CHECK_ERR(weft_queue_try_get(q, &v), -EAGAIN);
    CHECK_EQ(v, 5); /* untouched */
    CHECK_ERR(weft_queue_try_put(q, &v), 0);
    CHECK_EQ(weft_queue_size(q), 1);
    CHECK_EQ(weft_queue_empty(q), 0);
    CHECK_EQ(weft_queue_full(q), 0);
    CHECK_ERR(weft_queue_try_put(q, &v), 0);
    CHECK_EQ(weft_queue_size(q), 2);
    CHECK_EQ(weft_queue_full(q), 1);
    CHECK_ERR(weft_queue_try_put(q, &v), -EAGAIN);
    CHECK_ERR(weft_queue_put(q, &v, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_queue_put(q, &v, weft_after(-WEFT_SEC)), -ETIMEDOUT);
    CHECK_EQ(weft_queue_size(q), 2);
    CHECK_ERR(weft_queue_try_get(q, &v), 0);
    CHECK_EQ(weft_queue_full(q), 0);
    CHECK_ERR(weft_queue_destroy(q), 0);

    q = mkq(WEFT_QUEUE_LIFO, 1, 0); /* unbounded: never full */
    for (int i = 0; i < 1000; i++)
        CHECK_ERR(weft_queue_try_put(q, "x"), 0);
    CHECK_EQ(weft_queue_size(q), 1000);
    CHECK_EQ(weft_queue_full(q), 0);
    CHECK_ERR(weft_queue_destroy(q), 0); /* with elements in it */
    CHECK_NO_LEAKS();
    CHECK(weft__sched_get() == NULL);
}

/* Deadlines in a coroutine (with another coroutine running meanwhile) and on a plain
 * thread without a scheduler. */
static atomic_int ticks;

static void *ticker(void *arg) {
    atomic_int *stop = arg;
    while (!atomic_load(stop)) {
        atomic_fetch_add(&ticks, 1);
        CHECK_ERR(weft_sleep(WEFT_MSEC), 0);
    }
    return NULL;
}

static void deadline_checks(void) {
    weft_queue *q = mkq(WEFT_QUEUE_FIFO, sizeof(int), 1);
    int v = 1;
    int64_t t0 = weft_now();
    CHECK_ERR(weft_queue_get(q, &v, weft_after(30 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 30 * WEFT_MSEC);
    CHECK_EQ(v, 1);
    CHECK_ERR(weft_queue_put(q, &v, WEFT_FOREVER), 0);
    t0 = weft_now();
    CHECK_ERR(weft_queue_put(q, &v, weft_after(30 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 30 * WEFT_MSEC);
    CHECK_EQ(weft_queue_size(q), 1);
    t0 = weft_now();
    CHECK_ERR(weft_queue_join(q, weft_after(30 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(elapsed_since(t0), 30 * WEFT_MSEC);
    CHECK_ERR(weft_queue_join(q, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_task_done(q), 0);
    CHECK_ERR(weft_queue_join(q, WEFT_NOWAIT), 0);
    /* The timed-out waiters left nothing behind. */
    CHECK_ERR(weft_queue_destroy(q), 0);
}

static void *deadline_coro(void *arg) {
    (void)arg;
    deadline_checks();
    return NULL;
}

static void body_deadlines(void) {
    atomic_int stop = 0;
    atomic_store(&ticks, 0);
    weft_coro c, t;
    CHECK_ERR(weft_spawn(&t, ticker, &stop, NULL), 0);
    CHECK_ERR(weft_spawn(&c, deadline_coro, NULL, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    atomic_store(&stop, 1);
    CHECK_ERR(weft_join(t, WEFT_FOREVER, NULL), 0);
    CHECK_GE(atomic_load(&ticks), 2); /* ran while the queue calls waited */
}
WEFT_TEST(deadlines) { SKIP_IN_GROUP("a yield runs the spawned coroutine first");
    run_in_thread(body_deadlines);
}

static void body_deadlines_plain(void) {
    deadline_checks();
    CHECK(weft__sched_get() == NULL); /* a plain thread waits without a scheduler */
}
WEFT_TEST(deadlines_plain_thread) { SKIP_IN_GROUP("a thread without a scheduler");
    run_in_thread(body_deadlines_plain);
}

/* ----------------------------------------- bounded blocking, coroutines */

static char evlog[512];

static void ev(const char *s) {
    strcat(evlog, s);
    strcat(evlog, " ");
}

typedef struct {
    weft_queue *q;
    atomic_int *stop;
} bb_ctx;

static void *bb_producer(void *p) {
    bb_ctx *c = p;
    for (int i = 0; i < 4; i++) {
        CHECK_ERR(weft_queue_put(c->q, &i, WEFT_FOREVER), 0);
        char b[16];
        snprintf(b, sizeof b, "p%d", i);
        ev(b);
    }
    return NULL;
}

static void *bb_consumer(void *p) {
    bb_ctx *c = p;
    /* Let the producer fill the queue and block; meanwhile the ticker keeps running. */
    int before = atomic_load(&ticks);
    while (atomic_load(&ticks) - before < 5)
        CHECK_ERR(weft_sleep(WEFT_MSEC), 0);
    CHECK_EQ(weft_queue_full(c->q), 1);
    CHECK_STR_EQ(evlog, "p0 p1 "); /* the producer is still blocked in its third put */
    ev("g");
    for (int i = 0; i < 4; i++) {
        int v;
        CHECK_ERR(weft_queue_get(c->q, &v, WEFT_FOREVER), 0);
        CHECK_EQ(v, i);
    }
    atomic_store(c->stop, 1);
    return NULL;
}

static void body_bounded_blocks(void) {
    atomic_int stop = 0;
    atomic_store(&ticks, 0);
    evlog[0] = 0;
    bb_ctx c = {mkq(WEFT_QUEUE_FIFO, sizeof(int), 2), &stop};
    weft_coro cs[3];
    CHECK_ERR(weft_spawn(&cs[0], bb_producer, &c, NULL), 0);
    CHECK_ERR(weft_spawn(&cs[1], bb_consumer, &c, NULL), 0);
    CHECK_ERR(weft_spawn(&cs[2], ticker, &stop, NULL), 0);
    CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);
    /* Two puts went through, the third waited for the first get. */
    CHECK_EQ(strncmp(evlog, "p0 p1 g p2", 10), 0);
    CHECK_ERR(weft_queue_destroy(c.q), 0);
}
WEFT_TEST(bounded_put_blocks) { SKIP_IN_GROUP("a yield runs the spawned coroutine first");
    run_in_thread(body_bounded_blocks);
}

/* Parked getters are served in arrival order, each by direct hand-off; so are putters,
 * whose elements move in at the end (or priority) they asked for. */
typedef struct {
    weft_queue *q;
    int id;
    int got;
    int mode; /* 0 get/put, 1 get_back/put_front, 2 put_prio(-id) */
} wf_arg;

static void *wf_getter(void *p) {
    wf_arg *a = p;
    char b[16];
    if (a->mode == 1)
        CHECK_ERR(weft_queue_get_back(a->q, &a->got, WEFT_FOREVER), 0);
    else
        CHECK_ERR(weft_queue_get(a->q, &a->got, WEFT_FOREVER), 0);
    snprintf(b, sizeof b, "g%d=%d", a->id, a->got);
    ev(b);
    return NULL;
}

static void *wf_putter(void *p) {
    wf_arg *a = p;
    int v = 100 + a->id;
    char b[16];
    if (a->mode == 1)
        CHECK_ERR(weft_queue_put_front(a->q, &v, WEFT_FOREVER), 0);
    else if (a->mode == 2)
        CHECK_ERR(weft_queue_put_prio(a->q, &v, -a->id, WEFT_FOREVER), 0);
    else
        CHECK_ERR(weft_queue_put(a->q, &v, WEFT_FOREVER), 0);
    snprintf(b, sizeof b, "p%d", a->id);
    ev(b);
    return NULL;
}

static void body_waiters_fifo(void) {
    for (int kind = WEFT_QUEUE_FIFO; kind <= WEFT_QUEUE_DEQUE; kind++) {
        weft_queue *q = mkq(kind, sizeof(int), 2);
        wf_arg a[3];
        weft_coro cs[3];
        evlog[0] = 0;
        for (int i = 0; i < 3; i++) {
            a[i] = (wf_arg){q, i, -1, kind == WEFT_QUEUE_DEQUE ? i % 2 : 0};
            CHECK_ERR(weft_spawn(&cs[i], wf_getter, &a[i], NULL), 0);
        }
        CHECK_ERR(weft_yield(), 0); /* all three park */
        for (int i = 0; i < 3; i++) {
            int v = 10 + i;
            CHECK_ERR(weft_queue_put(q, &v, WEFT_NOWAIT), 0);
        }
        CHECK_EQ(weft_queue_size(q), 0); /* handed over, not stored */
        CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);
        CHECK_STR_EQ(evlog, "g0=10 g1=11 g2=12 ");
        CHECK_ERR(weft_queue_join(q, WEFT_NOWAIT), -ETIMEDOUT);
        for (int i = 0; i < 3; i++)
            CHECK_ERR(weft_queue_task_done(q), 0);
        CHECK_ERR(weft_queue_join(q, WEFT_NOWAIT), 0);

        /* Full queue, three parked putters. */
        int x = 1, y = 2, v;
        CHECK_ERR(weft_queue_put(q, &x, WEFT_NOWAIT), 0);
        CHECK_ERR(weft_queue_put(q, &y, WEFT_NOWAIT), 0);
        evlog[0] = 0;
        for (int i = 0; i < 3; i++) {
            a[i] = (wf_arg){q, i, -1, 0};
            if (kind == WEFT_QUEUE_DEQUE)
                a[i].mode = i == 1;
            if (kind == WEFT_QUEUE_PRIORITY)
                a[i].mode = 2;
            CHECK_ERR(weft_spawn(&cs[i], wf_putter, &a[i], NULL), 0);
        }
        CHECK_ERR(weft_yield(), 0);
        CHECK_EQ(evlog[0], 0);
        int got[5];
        for (int i = 0; i < 5; i++) {
            CHECK_ERR(weft_queue_get(q, &got[i], WEFT_NOWAIT), 0);
            if (i < 3)
                CHECK_EQ(weft_queue_size(q), 2); /* a putter's element moved in at once */
        }
        CHECK_ERR(weft_joinall(cs, 3, WEFT_FOREVER, NULL), 0);
        CHECK_STR_EQ(evlog, "p0 p1 p2 ");
        /* Each get freed a slot for the next putter in arrival order:
         * FIFO: 1 2 100 101 102; LIFO: 2 100 101 102 1;
         * PRIORITY (put_prio -id): 1 (prio 0 vs 0: older), then p0 (0) moves in... */
        switch (kind) {
        case WEFT_QUEUE_FIFO:
            CHECK_EQ(got[0], 1);
            CHECK_EQ(got[1], 2);
            CHECK_EQ(got[2], 100);
            CHECK_EQ(got[3], 101);
            CHECK_EQ(got[4], 102);
            break;
        case WEFT_QUEUE_LIFO:
            CHECK_EQ(got[0], 2);
            CHECK_EQ(got[1], 100);
            CHECK_EQ(got[2], 101);
            CHECK_EQ(got[3], 102);
            CHECK_EQ(got[4], 1);
            break;
        case WEFT_QUEUE_PRIORITY:
            /* {1:0, 2:0} get 1 -> p0 (100, prio 0) in: {2, 100}; get 2 -> p1 (101, -1) in;
             * get 101 -> p2 (102, -2) in; get 102; get 100. */
            CHECK_EQ(got[0], 1);
            CHECK_EQ(got[1], 2);
            CHECK_EQ(got[2], 101);
            CHECK_EQ(got[3], 102);
            CHECK_EQ(got[4], 100);
            break;
        case WEFT_QUEUE_DEQUE:
            /* [1 2] get 1 -> p0 back: [2 100]; get 2 -> p1 front: [101 100]; get 101
             * -> p2 back: [100 102]; get 100; get 102. */
            CHECK_EQ(got[0], 1);
            CHECK_EQ(got[1], 2);
            CHECK_EQ(got[2], 101);
            CHECK_EQ(got[3], 100);
            CHECK_EQ(got[4], 102);
            break;
        }
        CHECK_ERR(weft_queue_try_get(q, &v), -EAGAIN);
        CHECK_ERR(weft_queue_destroy(q), 0);
    }
}
WEFT_TEST(waiters_fifo_handoff) { SKIP_IN_GROUP("coroutines queue in the order they were spawned");
    run_in_thread(body_waiters_fifo);
}

/* ---------------------------------------------------------- task_done / join */

typedef struct {
    weft_queue *q;
    atomic_int done;
} tj_ctx;

static void *tj_worker(void *p) {
    tj_ctx *c = p;
    int v;
    while (weft_queue_get(c->q, &v, WEFT_FOREVER) == 0) {
        CHECK_ERR(weft_sleep(WEFT_MSEC), 0);
        atomic_fetch_add(&c->done, 1);
        CHECK_ERR(weft_queue_task_done(c->q), 0);
    }
    return NULL;
}

static void *tj_joiner(void *p) {
    tj_ctx *c = p;
    CHECK_ERR(weft_queue_join(c->q, WEFT_FOREVER), 0);
    CHECK_EQ(atomic_load(&c->done), 20); /* returned only after the last task_done */
    return NULL;
}

static void body_task_done_join(void) {
    tj_ctx c = {mkq(WEFT_QUEUE_FIFO, sizeof(int), 0), 0};
    CHECK_ERR(weft_queue_join(c.q, WEFT_FOREVER), 0); /* nothing unfinished */
    CHECK_ERR(weft_queue_task_done(c.q), -EINVAL);
    for (int i = 0; i < 20; i++)
        CHECK_ERR(weft_queue_put(c.q, &i, WEFT_NOWAIT), 0);
    weft_coro w[2], j[2];
    for (int i = 0; i < 2; i++)
        CHECK_ERR(weft_spawn(&j[i], tj_joiner, &c, NULL), 0);
    for (int i = 0; i < 2; i++)
        CHECK_ERR(weft_spawn(&w[i], tj_worker, &c, NULL), 0);
    CHECK_ERR(weft_queue_join(c.q, WEFT_FOREVER), 0); /* main coroutine joins too */
    CHECK_EQ(atomic_load(&c.done), 20);
    CHECK_ERR(weft_joinall(j, 2, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_queue_task_done(c.q), -EINVAL); /* more than were put */
    CHECK_ERR(weft_queue_shutdown(c.q, 0), 0);
    CHECK_ERR(weft_joinall(w, 2, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_queue_destroy(c.q), 0);
}
WEFT_TEST(task_done_join) {
    run_in_thread(body_task_done_join);
}

/* join from a plain thread while a coroutine thread works through the tasks. */
static void *tj_plain_joiner(void *p) {
    tj_ctx *c = p;
    CHECK_ERR(weft_queue_join(c->q, WEFT_FOREVER), 0);
    CHECK_EQ(atomic_load(&c->done), 20);
    return NULL;
}

static void body_join_cross_thread(void) {
    tj_ctx c = {mkq(WEFT_QUEUE_LIFO, sizeof(int), 4), 0};
    for (int i = 0; i < 4; i++) /* tasks exist before the joiner starts */
        CHECK_ERR(weft_queue_try_put(c.q, &i), 0);
    pthread_t t = start_thread(tj_plain_joiner, &c);
    weft_coro w;
    CHECK_ERR(weft_spawn(&w, tj_worker, &c, NULL), 0);
    for (int i = 4; i < 20; i++)
        CHECK_ERR(weft_queue_put(c.q, &i, WEFT_FOREVER), 0);
    CHECK_ERR(weft_queue_join(c.q, WEFT_FOREVER), 0); /* parks: the worker runs */
    join_thread(t);
    CHECK_ERR(weft_queue_shutdown(c.q, 0), 0);
    CHECK_ERR(weft_join(w, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_queue_destroy(c.q), 0);
}
WEFT_TEST(join_cross_thread) {
    run_in_thread(body_join_cross_thread);
}

/* ---------------------------------------------------------------- shutdown */

typedef struct {
    weft_queue *q;
    int result;
    int count;
} sd_arg;

static void *sd_putter(void *p) {
    sd_arg *a = p;
    int v = 77;
    a->result = weft_queue_put(a->q, &v, WEFT_FOREVER);
    return NULL;
}

static void *sd_getter(void *p) {
    sd_arg *a = p;
    int v, r;
    while ((r = weft_queue_get(a->q, &v, WEFT_FOREVER)) == 0)
        a->count++;
    a->result = r;
    return NULL;
}

static void body_shutdown(void) {
    /* Blocked putters (a coroutine and a plain thread) fail with -EPIPE; what is in the
     * queue is still delivered, then -EPIPE. */
    weft_queue *q = mkq(WEFT_QUEUE_FIFO, sizeof(int), 2);
    int v = 1;
    CHECK_ERR(weft_queue_put(q, &v, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_put(q, &v, WEFT_NOWAIT), 0);
    sd_arg pc = {q, 1, 0}, pt = {q, 1, 0};
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, sd_putter, &pc, NULL), 0);
    pthread_t t = start_thread(sd_putter, &pt);
    CHECK_ERR(weft_sleep(20 * WEFT_MSEC), 0);
    CHECK_EQ(pc.result, 1); /* still blocked */
    CHECK_EQ(weft_queue_is_shutdown(q), 0);
    CHECK_ERR(weft_queue_shutdown(q, 0), 0);
    CHECK_EQ(weft_queue_is_shutdown(q), 1);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    join_thread(t);
    CHECK_ERR(pc.result, -EPIPE);
    CHECK_ERR(pt.result, -EPIPE);
    CHECK_ERR(weft_queue_put(q, &v, WEFT_NOWAIT), -EPIPE);
    CHECK_ERR(weft_queue_try_put(q, &v), -EPIPE);
    CHECK_ERR(weft_queue_put(q, &v, WEFT_FOREVER), -EPIPE);
    CHECK_EQ(weft_queue_size(q), 2);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_FOREVER), 0);
    CHECK_ERR(weft_queue_try_get(q, &v), 0);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_FOREVER), -EPIPE);
    CHECK_ERR(weft_queue_try_get(q, &v), -EPIPE);
    CHECK_ERR(weft_queue_shutdown(q, 0), 0); /* again: allowed */
    /* The two gets are still unfinished tasks: join waits for them, shutdown or not. */
    CHECK_ERR(weft_queue_join(q, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_ERR(weft_queue_task_done(q), 0);
    CHECK_ERR(weft_queue_task_done(q), 0);
    CHECK_ERR(weft_queue_join(q, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_destroy(q), 0);

    /* Blocked getters (coroutines and a plain thread) fail with -EPIPE. */
    q = mkq(WEFT_QUEUE_PRIORITY, sizeof(int), 0);
    sd_arg g[3] = {{q, 1, 0}, {q, 1, 0}, {q, 1, 0}};
    weft_coro gc[2];
    CHECK_ERR(weft_spawn(&gc[0], sd_getter, &g[0], NULL), 0);
    CHECK_ERR(weft_spawn(&gc[1], sd_getter, &g[1], NULL), 0);
    t = start_thread(sd_getter, &g[2]);
    for (int i = 0; i < 30; i++)
        CHECK_ERR(weft_queue_put(q, &i, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_sleep(20 * WEFT_MSEC), 0);
    CHECK_ERR(weft_queue_shutdown(q, 0), 0);
    CHECK_ERR(weft_joinall(gc, 2, WEFT_FOREVER, NULL), 0);
    join_thread(t);
    for (int i = 0; i < 3; i++)
        CHECK_ERR(g[i].result, -EPIPE);
    CHECK_EQ(g[0].count + g[1].count + g[2].count, 30);
    CHECK_ERR(weft_queue_destroy(q), 0);
}
WEFT_TEST(shutdown_wakes_and_drains) {
    run_in_thread(body_shutdown);
}

/* Getters that arrive after shutdown drain, then stop: the seed's reader without polling. */
static void body_shutdown_drain(void) {
    for (int kind = WEFT_QUEUE_FIFO; kind <= WEFT_QUEUE_DEQUE; kind++) {
        weft_queue *q = mkq(kind, sizeof(int), 10);
        for (int i = 0; i < 10; i++)
            CHECK_ERR(weft_queue_put(q, &i, WEFT_NOWAIT), 0);
        CHECK_ERR(weft_queue_shutdown(q, 0), 0);
        sd_arg g[2] = {{q, 1, 0}, {q, 1, 0}};
        weft_coro gc[2];
        for (int i = 0; i < 2; i++)
            CHECK_ERR(weft_spawn(&gc[i], sd_getter, &g[i], NULL), 0);
        CHECK_ERR(weft_joinall(gc, 2, WEFT_FOREVER, NULL), 0);
        CHECK_ERR(g[0].result, -EPIPE);
        CHECK_ERR(g[1].result, -EPIPE);
        CHECK_EQ(g[0].count + g[1].count, 10);
        int v;
        if (kind == WEFT_QUEUE_DEQUE)
            CHECK_ERR(weft_queue_get_back(q, &v, WEFT_NOWAIT), -EPIPE);
        CHECK_ERR(weft_queue_destroy(q), 0);
    }
}
WEFT_TEST(shutdown_getters_drain) {
    run_in_thread(body_shutdown_drain);
}

static void *sd_joiner(void *p) {
    sd_arg *a = p;
    a->result = weft_queue_join(a->q, WEFT_FOREVER);
    return NULL;
}

static void body_shutdown_immediate(void) {
    weft_queue *q = mkq(WEFT_QUEUE_DEQUE, sizeof(int), 8);
    for (int i = 0; i < 8; i++)
        CHECK_ERR(weft_queue_put(q, &i, WEFT_NOWAIT), 0);
    int v;
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0); /* one taken, not yet done */
    CHECK_ERR(weft_queue_put_front(q, &v, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
    sd_arg j = {q, 1, 0}, p = {q, 1, 0};
    CHECK_ERR(weft_queue_put(q, &v, WEFT_NOWAIT), 0); /* full again */
    weft_coro jc, pc;
    CHECK_ERR(weft_spawn(&jc, sd_joiner, &j, NULL), 0);
    CHECK_ERR(weft_spawn(&pc, sd_putter, &p, NULL), 0);
    pthread_t jt;
    sd_arg j2 = {q, 1, 0};
    jt = start_thread(sd_joiner, &j2);
    CHECK_ERR(weft_sleep(10 * WEFT_MSEC), 0);
    CHECK_EQ(j.result, 1);
    CHECK_ERR(weft_queue_shutdown(q, 1), 0);
    CHECK_EQ(weft_queue_size(q), 0); /* discarded */
    CHECK_EQ(weft_queue_empty(q), 1);
    CHECK_ERR(weft_join(pc, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(p.result, -EPIPE);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), -EPIPE);
    /* Two elements were taken without task_done: joiners still wait for those. */
    CHECK_ERR(weft_sleep(10 * WEFT_MSEC), 0);
    CHECK_EQ(j.result, 1);
    CHECK_ERR(weft_queue_task_done(q), 0);
    CHECK_EQ(j.result, 1);
    CHECK_ERR(weft_queue_task_done(q), 0);
    CHECK_ERR(weft_join(jc, WEFT_FOREVER, NULL), 0);
    join_thread(jt);
    CHECK_ERR(j.result, 0);
    CHECK_ERR(j2.result, 0);
    CHECK_ERR(weft_queue_task_done(q), -EINVAL);
    CHECK_ERR(weft_queue_destroy(q), 0);

    /* Immediate shutdown with every task outstanding in the queue releases join at once. */
    q = mkq(WEFT_QUEUE_PRIORITY, sizeof(int), 0);
    for (int i = 0; i < 5; i++)
        CHECK_ERR(weft_queue_put_prio(q, &i, 5 - i, WEFT_NOWAIT), 0);
    j = (sd_arg){q, 1, 0};
    CHECK_ERR(weft_spawn(&jc, sd_joiner, &j, NULL), 0);
    CHECK_ERR(weft_yield(), 0);
    CHECK_ERR(weft_queue_shutdown(q, 0), 0); /* not immediate: join still waits */
    CHECK_ERR(weft_yield(), 0);
    CHECK_EQ(j.result, 1);
    CHECK_ERR(weft_queue_shutdown(q, 1), 0);
    CHECK_ERR(weft_join(jc, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(j.result, 0);
    CHECK_ERR(weft_queue_join(q, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_destroy(q), 0);
}
WEFT_TEST(shutdown_immediate) {
    run_in_thread(body_shutdown_immediate);
}

/* ------------------------------------------------- destroy, cancel, SHARED */

static void body_destroy_busy(void) {
    weft_queue *q = mkq(WEFT_QUEUE_FIFO, sizeof(int), 1);
    sd_arg g = {q, 1, 0};
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, sd_getter, &g, NULL), 0);
    CHECK_ERR(weft_yield(), 0);
    CHECK_ERR(weft_queue_destroy(q), -EBUSY);
    CHECK_ERR(weft_queue_shutdown(q, 0), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_queue_destroy(q), 0);

    q = mkq(WEFT_QUEUE_FIFO, sizeof(int), 0);
    int v = 1;
    CHECK_ERR(weft_queue_put(q, &v, WEFT_NOWAIT), 0);
    sd_arg j = {q, 1, 0};
    CHECK_ERR(weft_spawn(&c, sd_joiner, &j, NULL), 0);
    CHECK_ERR(weft_yield(), 0);
    CHECK_ERR(weft_queue_destroy(q), -EBUSY);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_task_done(q), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_queue_destroy(q), 0);
}
WEFT_TEST(destroy_busy) { SKIP_IN_GROUP("a yield runs the spawned coroutine first");
    run_in_thread(body_destroy_busy);
}

static void body_cancel(void) {
    weft_queue *q = mkq(WEFT_QUEUE_FIFO, sizeof(int), 1);
    sd_arg g = {q, 1, 0}, p = {q, 1, 0}, j = {q, 1, 0};
    weft_coro gc, pc, jc;
    CHECK_ERR(weft_spawn(&gc, sd_getter, &g, NULL), 0);
    CHECK_ERR(weft_yield(), 0);
    CHECK_ERR(weft_cancel(gc), 0);
    CHECK_ERR(weft_join(gc, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(g.result, -ECANCELED);
    int v = 5;
    CHECK_ERR(weft_queue_put(q, &v, WEFT_NOWAIT), 0); /* not handed to the cancelled one */
    CHECK_EQ(weft_queue_size(q), 1);
    CHECK_ERR(weft_spawn(&pc, sd_putter, &p, NULL), 0);
    CHECK_ERR(weft_spawn(&jc, sd_joiner, &j, NULL), 0);
    CHECK_ERR(weft_yield(), 0);
    CHECK_ERR(weft_cancel(pc), 0);
    CHECK_ERR(weft_cancel(jc), 0);
    CHECK_ERR(weft_join(pc, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_join(jc, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(p.result, -ECANCELED);
    CHECK_ERR(j.result, -ECANCELED);
    CHECK_EQ(weft_queue_size(q), 1);
    CHECK_ERR(weft_queue_get(q, &v, WEFT_NOWAIT), 0);
    CHECK_EQ(v, 5);
    CHECK_ERR(weft_queue_try_get(q, &v), -EAGAIN); /* the cancelled put left nothing */
    CHECK_ERR(weft_queue_task_done(q), 0);
    CHECK_ERR(weft_queue_task_done(q), -EINVAL);
    CHECK_ERR(weft_queue_destroy(q), 0);
}
WEFT_TEST(cancel) { SKIP_IN_GROUP("a yield runs the spawned coroutine first");
    run_in_thread(body_cancel);
}

/* SHARED-stack coroutines hand elements that live on their own stacks to each other,
 * while other SHARED coroutines overwrite the shared stack in between. */
typedef struct {
    uint32_t seq;
    uint32_t check;
    unsigned char bytes[200];
} big_elem;

static void big_fill(big_elem *e, uint32_t seq) {
    e->seq = seq;
    e->check = seq * 2654435761u;
    for (size_t i = 0; i < sizeof e->bytes; i++)
        e->bytes[i] = (unsigned char)(seq + i * 7);
}

static void big_check(const big_elem *e) {
    CHECK_EQ(e->check, e->seq * 2654435761u);
    for (size_t i = 0; i < sizeof e->bytes; i++)
        CHECK_EQ(e->bytes[i], (unsigned char)(e->seq + i * 7));
}

enum { SH_N = 3000 };

typedef struct {
    weft_queue *q;
    int n;
    int64_t sum;
} sh_arg;

static void *sh_putter(void *p) {
    sh_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        big_elem e;
        big_fill(&e, (uint32_t)i);
        CHECK_ERR(weft_queue_put(a->q, &e, WEFT_FOREVER), 0);
        if (i % 7 == 0)
            CHECK_ERR(weft_yield(), 0);
    }
    return NULL;
}

static void *sh_getter(void *p) {
    sh_arg *a = p;
    volatile unsigned char guard[64];
    memset((void *)guard, 0x5A, sizeof guard);
    for (;;) {
        big_elem e;
        memset(&e, 0, sizeof e);
        int r = weft_queue_get(a->q, &e, WEFT_FOREVER);
        if (r == -EPIPE)
            break;
        CHECK_ERR(r, 0);
        big_check(&e);
        a->sum += e.seq;
        for (size_t k = 0; k < sizeof guard; k++)
            CHECK_EQ(guard[k], 0x5A);
    }
    return NULL;
}

static void *sh_busy(void *arg) {
    volatile unsigned char junk[2000];
    atomic_int *stop = arg;
    for (int i = 0; !atomic_load(stop); i++) {
        memset((void *)junk, i, sizeof junk);
        CHECK_ERR(weft_yield(), 0);
    }
    return NULL;
}

static void body_shared_stack(void) {
    for (int kind = WEFT_QUEUE_FIFO; kind <= WEFT_QUEUE_DEQUE; kind++) {
        weft_queue *q = mkq(kind, sizeof(big_elem), kind == WEFT_QUEUE_LIFO ? 0 : 3);
        weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
        sh_arg p = {q, SH_N, 0}, g[2] = {{q, 0, 0}, {q, 0, 0}};
        atomic_int stop = 0;
        weft_coro pc, gc[2], bc;
        CHECK_ERR(weft_spawn(&gc[0], sh_getter, &g[0], &o), 0);
        CHECK_ERR(weft_spawn(&bc, sh_busy, &stop, &o), 0);
        CHECK_ERR(weft_spawn(&pc, sh_putter, &p, &o), 0);
        CHECK_ERR(weft_spawn(&gc[1], sh_getter, &g[1], &o), 0);
        CHECK_ERR(weft_join(pc, WEFT_FOREVER, NULL), 0);
        CHECK_ERR(weft_queue_shutdown(q, 0), 0);
        CHECK_ERR(weft_joinall(gc, 2, WEFT_FOREVER, NULL), 0);
        atomic_store(&stop, 1);
        CHECK_ERR(weft_join(bc, WEFT_FOREVER, NULL), 0);
        CHECK_EQ(g[0].sum + g[1].sum, (int64_t)SH_N * (SH_N - 1) / 2);
        CHECK_ERR(weft_queue_destroy(q), 0);
    }
}
WEFT_TEST(shared_stack) {
    run_in_thread(body_shared_stack);
}

/* A SHARED getter on one thread, fed by a plain thread; a SHARED putter fed to a plain
 * thread. */
static void *sh_plain_getter(void *p) {
    return sh_getter(p);
}
static void *sh_plain_putter(void *p) {
    sh_putter(p);
    CHECK_ERR(weft_queue_shutdown(((sh_arg *)p)->q, 0), 0);
    return NULL;
}

static void body_shared_cross_thread(void) {
    weft_queue *q1 = mkq(WEFT_QUEUE_FIFO, sizeof(big_elem), 2);
    weft_queue *q2 = mkq(WEFT_QUEUE_FIFO, sizeof(big_elem), 0);
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    sh_arg in = {q1, SH_N, 0}, cg = {q1, 0, 0}, cp = {q2, SH_N, 0}, out = {q2, 0, 0};
    atomic_int stop = 0;
    weft_coro g, p, b;
    CHECK_ERR(weft_spawn(&g, sh_getter, &cg, &o), 0);
    CHECK_ERR(weft_spawn(&b, sh_busy, &stop, &o), 0);
    CHECK_ERR(weft_spawn(&p, sh_putter, &cp, &o), 0);
    pthread_t t1 = start_thread(sh_plain_putter, &in);
    pthread_t t2 = start_thread(sh_plain_getter, &out);
    /* Only park (never block the thread) while coroutines of this thread have work. */
    CHECK_ERR(weft_join(g, WEFT_FOREVER, NULL), 0); /* ends when t1 has shut q1 down */
    CHECK_ERR(weft_join(p, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_queue_shutdown(q2, 0), 0);
    atomic_store(&stop, 1);
    join_thread(t1);
    join_thread(t2);
    CHECK_ERR(weft_join(b, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(cg.sum, (int64_t)SH_N * (SH_N - 1) / 2);
    CHECK_EQ(out.sum, (int64_t)SH_N * (SH_N - 1) / 2);
    CHECK_ERR(weft_queue_destroy(q1), 0);
    CHECK_ERR(weft_queue_destroy(q2), 0);
}
WEFT_TEST(shared_stack_cross_thread) {
    run_in_thread(body_shared_cross_thread);
}

/* A SHARED getter whose wait ends without an element keeps its buffer intact. */
typedef struct {
    weft_queue *q;
    weft_event timed_out; /* its first get has ended: the queue is shut down after */
} sgf_arg;
static void *shared_get_fails(void *p) {
    sgf_arg *a = p;
    big_elem e;
    big_fill(&e, 9);
    CHECK_ERR(weft_queue_get(a->q, &e, weft_after(5 * WEFT_MSEC)), -ETIMEDOUT);
    big_check(&e);
    CHECK_EQ(e.seq, 9);
    CHECK_OK(weft_event_set(&a->timed_out));
    CHECK_ERR(weft_queue_get(a->q, &e, WEFT_FOREVER), -EPIPE);
    big_check(&e);
    CHECK_EQ(e.seq, 9);
    return NULL;
}

static void body_shared_get_fails(void) {
    sgf_arg arg = {.q = mkq(WEFT_QUEUE_FIFO, sizeof(big_elem), 0)};
    CHECK_OK(weft_event_init(&arg.timed_out));
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    atomic_int stop = 0;
    weft_coro a, b;
    CHECK_ERR(weft_spawn(&a, shared_get_fails, &arg, &o), 0);
    CHECK_ERR(weft_spawn(&b, sh_busy, &stop, &o), 0);
    CHECK_OK(weft_event_wait(&arg.timed_out, weft_after(20 * WEFT_SEC)));
    CHECK_ERR(weft_queue_shutdown(arg.q, 0), 0); /* the second get may wait already, or not */
    CHECK_ERR(weft_join(a, WEFT_FOREVER, NULL), 0);
    atomic_store(&stop, 1);
    CHECK_ERR(weft_join(b, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_queue_destroy(arg.q), 0);
    CHECK_OK(weft_event_destroy(&arg.timed_out));
}
WEFT_TEST(shared_get_fails) {
    run_in_thread(body_shared_get_fails);
}

/* ------------------------------------------------ producers and consumers */

/* 2 plain threads and 2 coroutine threads (each running producer and consumer
 * coroutines) move PC_TOTAL items through one queue; every item arrives exactly once. */
enum { PC_TOTAL = 200000, PC_PRODUCERS = 6, PC_CONSUMERS = 6 };

typedef struct {
    weft_queue *q;
    pthread_barrier_t exit_barrier;
    atomic_int producers_left;
    atomic_long count;
    atomic_llong sum;
    unsigned char *seen;
} pc_ctx;

typedef struct {
    pc_ctx *c;
    int id;
} pc_arg;

static void pc_produce(pc_ctx *c, int id) {
    for (int64_t v = id; v < PC_TOTAL; v += PC_PRODUCERS) {
        int r;
        if (v % 5 == 0) {
            while ((r = weft_queue_try_put(c->q, &v)) == -EAGAIN)
                CHECK_ERR(weft_yield(), 0);
        } else if (v % 5 == 1) {
            while ((r = weft_queue_put(c->q, &v, weft_after(WEFT_MSEC))) == -ETIMEDOUT)
                ;
        } else {
            r = weft_queue_put(c->q, &v, WEFT_FOREVER);
        }
        CHECK_ERR(r, 0);
    }
    if (atomic_fetch_sub(&c->producers_left, 1) == 1)
        CHECK_ERR(weft_queue_shutdown(c->q, 0), 0);
}

static void pc_consume(pc_ctx *c, int id) {
    long count = 0;
    long long sum = 0;
    for (int i = 0;; i++) {
        int64_t v;
        int r;
        if ((i + id) % 4 == 0) {
            r = weft_queue_try_get(c->q, &v);
            if (r == -EAGAIN) {
                CHECK_ERR(weft_yield(), 0);
                continue;
            }
        } else if ((i + id) % 4 == 1) {
            r = weft_queue_get(c->q, &v, weft_after(WEFT_MSEC));
            if (r == -ETIMEDOUT)
                continue;
        } else {
            r = weft_queue_get(c->q, &v, WEFT_FOREVER);
        }
        if (r == -EPIPE)
            break;
        CHECK_ERR(r, 0);
        CHECK(v >= 0 && v < PC_TOTAL);
        CHECK_EQ(c->seen[v], 0);
        c->seen[v] = 1; /* each index written by one consumer only: else seen twice */
        count++;
        sum += v;
        CHECK_ERR(weft_queue_task_done(c->q), 0);
    }
    atomic_fetch_add(&c->count, count);
    atomic_fetch_add(&c->sum, sum);
}

static void *pc_coro_producer(void *p) {
    pc_arg *a = p;
    pc_produce(a->c, a->id);
    return NULL;
}

static void *pc_coro_consumer(void *p) {
    pc_arg *a = p;
    pc_consume(a->c, a->id);
    return NULL;
}

/* Plain thread: one producer (role 0) or one consumer (role 1). */
typedef struct {
    pc_ctx *c;
    int role, id;
} pc_thread_arg;

static void *pc_plain(void *p) {
    pc_thread_arg *a = p;
    if (a->role == 0)
        pc_produce(a->c, a->id);
    else
        pc_consume(a->c, a->id);
    pthread_barrier_wait(&a->c->exit_barrier);
    return NULL;
}

/* Coroutine thread: producers ids [pid, pid + 2), consumers [cid, cid + 2). */
static void *pc_coro_thread(void *p) {
    pc_thread_arg *a = p;
    pc_arg args[4] = {{a->c, a->id}, {a->c, a->id + 1}, {a->c, a->id}, {a->c, a->id + 1}};
    weft_coro cs[4];
    weft_coro_opts shared = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < 4; i++)
        CHECK_ERR(weft_spawn(&cs[i], i < 2 ? pc_coro_producer : pc_coro_consumer, &args[i],
                             i == 3 ? &shared : NULL),
                  0);
    CHECK_ERR(weft_joinall(cs, 4, WEFT_FOREVER, NULL), 0);
    /* No thread exits (freeing its scheduler) until every thread is done: a waker on
     * another thread may still be inside weft__coro_ready for one of our coroutines
     * after the coroutine already ran (see the report on sched.c). */
    pthread_barrier_wait(&a->c->exit_barrier);
    return NULL;
}

static void pc_run(int kind, size_t maxsize) {
    pc_ctx c;
    c.q = mkq(kind, sizeof(int64_t), maxsize);
    atomic_init(&c.producers_left, PC_PRODUCERS);
    atomic_init(&c.count, 0);
    atomic_init(&c.sum, 0);
    CHECK_EQ(pthread_barrier_init(&c.exit_barrier, NULL, 6), 0);
    c.seen = calloc(PC_TOTAL, 1);
    CHECK(c.seen != NULL);
    /* producer ids: plain 0, coroutine threads 1-2 and 3-4, plain 5;
     * consumer ids likewise. */
    pc_thread_arg pa[4] = {{&c, 0, 0}, {&c, 1, 0}, {&c, 0, 1}, {&c, 0, 3}};
    pc_thread_arg pp = {&c, 0, 5}, pcn = {&c, 1, 5};
    pthread_t t[6];
    t[0] = start_thread(pc_plain, &pa[0]);
    t[1] = start_thread(pc_plain, &pa[1]);
    t[2] = start_thread(pc_coro_thread, &pa[2]);
    t[3] = start_thread(pc_coro_thread, &pa[3]);
    t[4] = start_thread(pc_plain, &pp);
    t[5] = start_thread(pc_plain, &pcn);
    for (int i = 0; i < 6; i++)
        join_thread(t[i]);
    CHECK_EQ(atomic_load(&c.count), PC_TOTAL);
    CHECK_EQ(atomic_load(&c.sum), (long long)PC_TOTAL * (PC_TOTAL - 1) / 2);
    for (long i = 0; i < PC_TOTAL; i++)
        CHECK_EQ(c.seen[i], 1);
    CHECK_ERR(weft_queue_join(c.q, WEFT_NOWAIT), 0);
    CHECK_EQ(weft_queue_size(c.q), 0);
    CHECK_ERR(weft_queue_destroy(c.q), 0);
    CHECK_EQ(pthread_barrier_destroy(&c.exit_barrier), 0);
    free(c.seen);
}

static void body_producers_consumers(void) {
    pc_run(WEFT_QUEUE_FIFO, 64);
    pc_run(WEFT_QUEUE_FIFO, 0);
}
WEFT_TEST(producers_consumers) {
    run_in_thread(body_producers_consumers);
}

static void body_producers_consumers_kinds(void) {
    pc_run(WEFT_QUEUE_LIFO, 16);
    pc_run(WEFT_QUEUE_PRIORITY, 16);
    pc_run(WEFT_QUEUE_DEQUE, 1);
}
WEFT_TEST(producers_consumers_kinds) {
    run_in_thread(body_producers_consumers_kinds);
}

/* ------------------------------------------------------- the seed's colours */

typedef struct {
    char name[16];
} colour;

static const char *const colours[] = {"red", "blue", "black", "green", "yellow", "orange"};

static void *colour_writer(void *p) {
    weft_queue *q = p;
    for (int i = 0; i < 6; i++) {
        colour c;
        memset(&c, 0, sizeof c);
        snprintf(c.name, sizeof c.name, "%s", colours[i]);
        CHECK_ERR(weft_queue_put(q, &c, WEFT_FOREVER), 0);
        CHECK_ERR(weft_sleep(2 * WEFT_MSEC), 0);
    }
    CHECK_ERR(weft_queue_shutdown(q, 0), 0); /* the reader stops without polling empty() */
    return NULL;
}

static void *colour_reader(void *p) {
    weft_queue *q = p;
    int n = 0, r;
    colour c;
    while ((r = weft_queue_get(q, &c, WEFT_FOREVER)) == 0) {
        CHECK(n < 6);
        CHECK_STR_EQ(c.name, colours[n]);
        n++;
        CHECK_ERR(weft_queue_task_done(q), 0);
    }
    CHECK_ERR(r, -EPIPE);
    CHECK_EQ(n, 6);
    return NULL;
}

static void body_colours(void) {
    /* Writer and reader as coroutines of one thread, then as a plain thread and a
     * coroutine. */
    weft_queue *q = mkq(WEFT_QUEUE_FIFO, sizeof(colour), 0);
    weft_coro w, r;
    CHECK_ERR(weft_spawn(&w, colour_writer, q, NULL), 0);
    CHECK_ERR(weft_spawn(&r, colour_reader, q, NULL), 0);
    CHECK_ERR(weft_join(w, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_join(r, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_queue_join(q, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_queue_destroy(q), 0);

    q = mkq(WEFT_QUEUE_FIFO, sizeof(colour), 2);
    CHECK_ERR(weft_spawn(&r, colour_reader, q, NULL), 0);
    pthread_t t = start_thread(colour_writer, q);
    CHECK_ERR(weft_join(r, WEFT_FOREVER, NULL), 0);
    join_thread(t);
    CHECK_ERR(weft_queue_destroy(q), 0);
}
WEFT_TEST(colours) {
    run_in_thread(body_colours);
}

WEFT_MAIN()
