/* Worker groups: the per-worker stealable run queue (src/coro/stealq.c,
 * white-box), then the group itself through the public API. */
#include "harness.h"

#include "coro/stealq.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define P(i) ((void *)(uintptr_t)(i))

static weft__stealq qa, qb;

WEFT_TEST(stealq_push_pop_fifo) {
    weft__stealq_init(&qa);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    CHECK(weft__stealq_pop(&qa) == NULL);
    for (uintptr_t i = 1; i <= 10; i++)
        CHECK_EQ(weft__stealq_push(&qa, P(i), spill), 0u);
    CHECK_EQ(weft__stealq_len(&qa), 10u);
    for (uintptr_t i = 1; i <= 10; i++)
        CHECK_EQ((uintptr_t)weft__stealq_pop(&qa), i);
    CHECK(weft__stealq_pop(&qa) == NULL);
    CHECK_EQ(weft__stealq_len(&qa), 0u);
}

WEFT_TEST(stealq_wraps_around) {
    weft__stealq_init(&qa);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    uintptr_t next_in = 1, next_out = 1;
    for (int round = 0; round < 10; round++) {
        for (unsigned i = 0; i < WEFT__STEALQ_CAP - 3; i++)
            CHECK_EQ(weft__stealq_push(&qa, P(next_in++), spill), 0u);
        for (unsigned i = 0; i < WEFT__STEALQ_CAP - 3; i++)
            CHECK_EQ((uintptr_t)weft__stealq_pop(&qa), next_out++);
    }
    CHECK(weft__stealq_pop(&qa) == NULL);
}

WEFT_TEST(stealq_full_spills_older_half_then_item) {
    weft__stealq_init(&qa);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    for (uintptr_t i = 1; i <= WEFT__STEALQ_CAP; i++)
        CHECK_EQ(weft__stealq_push(&qa, P(i), spill), 0u);
    uintptr_t extra = WEFT__STEALQ_CAP + 1;
    CHECK_EQ(weft__stealq_push(&qa, P(extra), spill), WEFT__STEALQ_CAP / 2 + 1);
    for (uintptr_t i = 0; i < WEFT__STEALQ_CAP / 2; i++)
        CHECK_EQ((uintptr_t)spill[i], i + 1);
    CHECK_EQ((uintptr_t)spill[WEFT__STEALQ_CAP / 2], extra);
    CHECK_EQ(weft__stealq_len(&qa), WEFT__STEALQ_CAP / 2);
    for (uintptr_t i = WEFT__STEALQ_CAP / 2 + 1; i <= WEFT__STEALQ_CAP; i++)
        CHECK_EQ((uintptr_t)weft__stealq_pop(&qa), i);
    CHECK(weft__stealq_pop(&qa) == NULL);
}

WEFT_TEST(stealq_steal_takes_older_half) {
    weft__stealq_init(&qa);
    weft__stealq_init(&qb);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    CHECK(weft__stealq_steal(&qb, &qa) == NULL);
    for (uintptr_t i = 1; i <= 11; i++)
        CHECK_EQ(weft__stealq_push(&qa, P(i), spill), 0u);
    /* 11 queued: the thief takes 6 (1..6), runs 6, keeps 1..5 in order. */
    CHECK_EQ((uintptr_t)weft__stealq_steal(&qb, &qa), 6u);
    CHECK_EQ(weft__stealq_len(&qb), 5u);
    CHECK_EQ(weft__stealq_len(&qa), 5u);
    for (uintptr_t i = 1; i <= 5; i++)
        CHECK_EQ((uintptr_t)weft__stealq_pop(&qb), i);
    for (uintptr_t i = 7; i <= 11; i++)
        CHECK_EQ((uintptr_t)weft__stealq_pop(&qa), i);
    /* One item: the thief takes it to run, its own ring stays empty. */
    CHECK_EQ(weft__stealq_push(&qa, P(42), spill), 0u);
    CHECK_EQ((uintptr_t)weft__stealq_steal(&qb, &qa), 42u);
    CHECK_EQ(weft__stealq_len(&qb), 0u);
    CHECK(weft__stealq_pop(&qa) == NULL);
}

/* The owner pushes (spilling when full) and pops; a thief steals and
 * drains what it stole. Every item is taken exactly once. */
#define CONC_N 1000000u
static _Atomic unsigned char seen[CONC_N + 1];
static atomic_int owner_done;
static atomic_uint taken;
static atomic_int thief_up;

static void take(void *p) {
    uintptr_t i = (uintptr_t)p;
    CHECK(i >= 1 && i <= CONC_N);
    atomic_fetch_add(&seen[i], 1);
    atomic_fetch_add(&taken, 1);
}

static void *thief(void *arg) {
    (void)arg;
    atomic_store(&thief_up, 1);
    for (;;) {
        bool done = atomic_load(&owner_done);
        void *p = weft__stealq_steal(&qb, &qa);
        if (p) {
            take(p);
            while ((p = weft__stealq_pop(&qb)))
                take(p);
        } else if (done) {
            return NULL;
        }
    }
}

WEFT_TEST(stealq_owner_and_thief_take_each_item_once) {
    weft__stealq_init(&qa);
    weft__stealq_init(&qb);
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thief, NULL), 0);
    while (!atomic_load(&thief_up)) /* both run from here on (a stress test, */
        sched_yield();              /* not a proof: the cases above are exact) */
    for (uintptr_t i = 1; i <= CONC_N; i++) {
        unsigned n = weft__stealq_push(&qa, P(i), spill);
        for (unsigned k = 0; k < n; k++)
            take(spill[k]);
        if (i % 2 == 0) {
            void *p = weft__stealq_pop(&qa);
            if (p)
                take(p);
        }
    }
    void *p;
    while ((p = weft__stealq_pop(&qa)))
        take(p);
    atomic_store(&owner_done, 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(atomic_load(&taken), CONC_N);
    for (uintptr_t i = 1; i <= CONC_N; i++)
        if (atomic_load(&seen[i]) != 1)
            CHECK_EQ((unsigned)atomic_load(&seen[i]), 1u);
}



/* ---- the group ---------------------------------------------------------- */

/* Read through functions the compiler cannot see into: glibc declares
 * pthread_self and __errno_location const, so direct calls around a call that
 * migrates may be folded into one (see weft.h, "Worker groups"). */
static __attribute__((noinline)) pthread_t self_thread(void) {
    pthread_t t = pthread_self();
    __asm__ volatile("" : "+r"(t)::"memory");
    return t;
}
static __attribute__((noinline)) int *errno_addr(void) {
    int *p = &errno;
    __asm__ volatile("" : "+r"(p)::"memory");
    return p;
}

static weft_group *mkgroup(unsigned threads, int migrate) {
    weft_group *g = NULL;
    weft_group_opts o = {.threads = threads, .migrate = migrate};
    CHECK_OK(weft_group_create(&g, &o));
    CHECK_EQ(weft_group_threads(g), (int)threads);
    return g;
}

static void *twice(void *arg) { return (void *)((uintptr_t)arg * 2); }

WEFT_TEST(group_spawn_join_from_outside) {
    weft_group *g = mkgroup(2, 0);
    weft_coro c[1000];
    for (uintptr_t i = 0; i < 1000; i++)
        CHECK_OK(weft_group_spawn(g, &c[i], twice, (void *)i, NULL));
    for (uintptr_t i = 0; i < 1000; i++) {
        void *r = NULL;
        CHECK_OK(weft_join(c[i], weft_after(10 * WEFT_SEC), &r));
        CHECK_EQ((uintptr_t)r, 2 * i);
        CHECK_EQ(weft_join(c[i], WEFT_FOREVER, NULL), -ESRCH);
    }
    CHECK_EQ(weft_group_count(g), (size_t)0);
    CHECK_OK(weft_group_destroy(g));
}

/* A plain thread (no scheduler) joins a group's coroutine. */
static weft_coro plain_target;
static void *plain_joiner(void *arg) {
    (void)arg;
    void *r = NULL;
    CHECK_OK(weft_join(plain_target, weft_after(10 * WEFT_SEC), &r));
    CHECK_EQ((uintptr_t)r, 84u);
    return NULL;
}

static weft_event gate;
static void *wait_gate(void *arg) {
    int r = weft_event_wait(&gate, WEFT_FOREVER);
    CHECK_OK(r);
    return arg;
}

WEFT_TEST(group_join_from_a_plain_thread) {
    weft_group *g = mkgroup(2, 0);
    CHECK_OK(weft_event_init(&gate));
    CHECK_OK(weft_group_spawn(g, &plain_target, wait_gate, (void *)84, NULL));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, plain_joiner, NULL), 0);
    CHECK_OK(weft_event_set(&gate));
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_OK(weft_group_destroy(g));
    CHECK_OK(weft_event_destroy(&gate));
}

static atomic_int saw_cancel, entered;
static void *wait_gate_record(void *arg) {
    atomic_fetch_add(&entered, 1); /* a cancel from here on ends the wait below */
    int r = weft_event_wait(&gate, WEFT_FOREVER);
    if (r == -ECANCELED)
        atomic_fetch_add(&saw_cancel, 1);
    return arg;
}

/* Until n wait_gate_record coroutines have entered (bounded: 10 s), then checks it. */
static void until_entered(int n) {
    for (int i = 0; i < 100000 && atomic_load(&entered) < n; i++)
        usleep(100);
    CHECK_EQ(atomic_load(&entered), n);
}

WEFT_TEST(group_cancel_and_detach_from_another_thread) {
    weft_group *g = mkgroup(2, 0);
    CHECK_OK(weft_event_init(&gate));
    atomic_store(&saw_cancel, 0);
    atomic_store(&entered, 0);
    weft_coro a, b;
    CHECK_OK(weft_group_spawn(g, &a, wait_gate_record, NULL, NULL));
    CHECK_OK(weft_group_spawn(g, &b, wait_gate_record, NULL, NULL));
    /* Both have started (a coroutine cancelled before it starts never runs its
     * function): bounded. */
    until_entered(2);
    CHECK_OK(weft_cancel(a));
    CHECK_OK(weft_cancel(a)); /* twice: still fine */
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&saw_cancel), 1);
    CHECK_OK(weft_detach(b));
    CHECK_EQ(weft_detach(b), -EINVAL);
    CHECK_EQ(weft_join(b, WEFT_FOREVER, NULL), -EINVAL);
    CHECK_OK(weft_event_set(&gate));
    CHECK_OK(weft_group_wait(g, weft_after(10 * WEFT_SEC)));
    CHECK_EQ(weft_group_count(g), (size_t)0);
    CHECK_OK(weft_group_destroy(g));
    CHECK_OK(weft_event_destroy(&gate));
}

WEFT_TEST(group_destroy_cancels_what_is_left) {
    weft_group *g = mkgroup(2, 0);
    CHECK_OK(weft_event_init(&gate));
    atomic_store(&saw_cancel, 0);
    atomic_store(&entered, 0);
    weft_coro c[50];
    for (int i = 0; i < 50; i++)
        CHECK_OK(weft_group_spawn(g, &c[i], wait_gate_record, NULL, NULL));
    CHECK_EQ(weft_group_wait(g, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    until_entered(50);
    CHECK_OK(weft_group_destroy(g));
    CHECK_EQ(atomic_load(&saw_cancel), 50);
    for (int i = 0; i < 50; i++) /* released by the destroy */
        CHECK_EQ(weft_join(c[i], WEFT_FOREVER, NULL), -ESRCH);
    CHECK_OK(weft_event_destroy(&gate));
}

/* ---- migration ----------------------------------------------------------- */

/* Two coroutines bounce a counter over two unbuffered channels; in migrate
 * mode every receive that parks resumes on the other worker. Each checks its
 * errno and thread after every park. */
typedef struct {
    weft_chan *in, *out;
    long rounds;
    long moved;     /* parks after which the thread had changed */
    long bad_errno; /* parks after which errno was not what it set */
    int pin;
    int recv_first; /* the other one sends first */
    long pinned_moves;
} bouncer;

static void *bounce(void *p) {
    bouncer *b = p;
    if (b->pin)
        CHECK_OK(weft_coro_pin());
    for (long i = 0; i < b->rounds; i++) {
        long v = i;
        *errno_addr() = (int)(i & 0x7fff) + 1;
        pthread_t before = self_thread();
        if (b->recv_first) {
            CHECK_OK(weft_chan_recv(b->in, &v, WEFT_FOREVER));
            CHECK_OK(weft_chan_send(b->out, &v, WEFT_FOREVER));
        } else {
            CHECK_OK(weft_chan_send(b->out, &v, WEFT_FOREVER));
            CHECK_OK(weft_chan_recv(b->in, &v, WEFT_FOREVER));
        }
        if (*errno_addr() != (int)(i & 0x7fff) + 1)
            b->bad_errno++;
        if (!pthread_equal(before, self_thread())) {
            b->moved++;
            if (b->pin)
                b->pinned_moves++;
        }
    }
    if (b->pin)
        CHECK_OK(weft_coro_unpin());
    return NULL;
}

static void run_bouncers(long rounds, int pin, long *moved, long *bad) {
    weft_group *g = mkgroup(2, 1);
    weft_chan *ab, *ba;
    CHECK_OK(weft_chan_create(&ab, sizeof(long), 0));
    CHECK_OK(weft_chan_create(&ba, sizeof(long), 0));
    bouncer x = {.in = ba, .out = ab, .rounds = rounds, .pin = pin};
    bouncer y = {.in = ab, .out = ba, .rounds = rounds, .pin = pin, .recv_first = 1};
    weft_coro cx, cy;
    CHECK_OK(weft_group_spawn(g, &cx, bounce, &x, NULL));
    CHECK_OK(weft_group_spawn(g, &cy, bounce, &y, NULL));
    CHECK_OK(weft_join(cx, weft_after(120 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(cy, weft_after(120 * WEFT_SEC), NULL));
    CHECK_OK(weft_group_destroy(g));
    CHECK_OK(weft_chan_destroy(ab));
    CHECK_OK(weft_chan_destroy(ba));
    *moved = x.moved + y.moved;
    *bad = x.bad_errno + y.bad_errno;
    CHECK_EQ(x.pinned_moves + y.pinned_moves, 0L);
}

WEFT_TEST_TIMEOUT(group_errno_and_thread_after_a_million_migrating_parks, 240)
WEFT_TEST(group_errno_and_thread_after_a_million_migrating_parks) {
    long moved = 0, bad = 0;
    run_bouncers(500000, 0, &moved, &bad); /* 2 coroutines: 10^6 rounds of parks */
    CHECK_EQ(bad, 0L);
    /* Every round trip parks at least one of them, and each park that parks
     * resumes on the other worker. */
    CHECK(moved >= 500000);
}

WEFT_TEST(group_pinned_coroutine_never_changes_thread) {
    long moved = 0, bad = 0;
    run_bouncers(20000, 1, &moved, &bad);
    CHECK_EQ(bad, 0L);
    CHECK_EQ(moved, 0L);
}

/* Sleeps, timeouts and fd waits resume where their timer or registration is,
 * in a group that migrates every other wake. */
static void *sleeper_and_reader(void *arg) {
    int *fds = arg;
    for (int i = 0; i < 20; i++) {
        pthread_t before = self_thread();
        CHECK_OK(weft_sleep(100 * WEFT_USEC));
        CHECK(pthread_equal(before, self_thread()));
    }
    char c = 0;
    pthread_t before = self_thread();
    CHECK_EQ(weft_read(fds[0], &c, 1, weft_after(10 * WEFT_SEC)), (ssize_t)1);
    CHECK(pthread_equal(before, self_thread()));
    CHECK_EQ(c, 'x');
    CHECK_EQ(weft_event_wait(&gate, weft_after(1 * WEFT_MSEC)), -ETIMEDOUT);
    return NULL;
}

static void *writer_later(void *arg) {
    int *fds = arg;
    CHECK_OK(weft_sleep(5 * WEFT_MSEC));
    CHECK_EQ(write(fds[1], "x", 1), (ssize_t)1);
    return NULL;
}

WEFT_TEST(group_timers_and_fd_waits_resume_where_they_wait) {
    weft_group *g = mkgroup(2, 1);
    CHECK_OK(weft_event_init(&gate));
    int fds[2];
    CHECK_EQ(pipe(fds), 0);
    weft_coro a, b;
    CHECK_OK(weft_group_spawn(g, &a, sleeper_and_reader, fds, NULL));
    CHECK_OK(weft_group_spawn(g, &b, writer_later, fds, NULL));
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_group_destroy(g));
    close(fds[0]);
    close(fds[1]);
    CHECK_OK(weft_event_destroy(&gate));
}

/* ---- fairness, idleness ---------------------------------------------------- */

static atomic_int third_ran;
static atomic_long pongs_before_third;
static void *ponger(void *p) {
    bouncer *b = p;
    long v = 0;
    while (!atomic_load(&third_ran)) {
        if (weft_chan_send(b->out, &v, weft_after(10 * WEFT_SEC)) != 0)
            break;
        if (weft_chan_recv(b->in, &v, weft_after(10 * WEFT_SEC)) != 0)
            break;
        atomic_fetch_add(&pongs_before_third, 1);
    }
    return NULL;
}
static void *third(void *p) {
    (void)p;
    atomic_store(&third_ran, 1);
    return NULL;
}
static void *start_pair_then_third(void *p) {
    bouncer *x = p, *y = x + 1;
    weft_coro a, b, c;
    CHECK_OK(weft_spawn(&a, ponger, x, NULL));
    CHECK_OK(weft_spawn(&b, ponger, y, NULL));
    CHECK_OK(weft_yield()); /* let the pair start bouncing */
    CHECK_OK(weft_spawn(&c, third, NULL, NULL));
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
    /* The one still waiting for its partner gets -EPIPE. */
    CHECK_OK(weft_chan_close(x->out));
    CHECK_OK(weft_chan_close(y->out));
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(10 * WEFT_SEC), NULL));
    return NULL;
}

WEFT_TEST(group_ping_pong_pair_does_not_starve_a_third) {
    weft_group *g = mkgroup(1, 0); /* one worker: nothing can be stolen */
    weft_chan *ab, *ba;
    CHECK_OK(weft_chan_create(&ab, sizeof(long), 0));
    CHECK_OK(weft_chan_create(&ba, sizeof(long), 0));
    bouncer pair[2] = {{.in = ba, .out = ab}, {.in = ab, .out = ba}};
    atomic_store(&third_ran, 0);
    atomic_store(&pongs_before_third, 0);
    weft_coro m;
    CHECK_OK(weft_group_spawn(g, &m, start_pair_then_third, pair, NULL));
    CHECK_OK(weft_join(m, weft_after(20 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&third_ran), 1);
    /* The woken one runs next, but at most 64 times in a row before the queue. */
    CHECK(atomic_load(&pongs_before_third) < 1000);
    CHECK_OK(weft_group_destroy(g));
    CHECK_OK(weft_chan_destroy(ab));
    CHECK_OK(weft_chan_destroy(ba));
}

static int64_t cpu_ns(void) {
    struct rusage ru;
    CHECK_EQ(getrusage(RUSAGE_SELF, &ru), 0);
    return ((int64_t)ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * WEFT_SEC +
           ((int64_t)ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

WEFT_TEST(group_idle_uses_no_cpu) {
    weft_group *g = mkgroup(2, 0);
    weft_coro c;
    CHECK_OK(weft_group_spawn(g, &c, twice, NULL, NULL)); /* wake the workers once */
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
    usleep(50000); /* the searchers give up within microseconds */
    int64_t c0 = cpu_ns(), t0 = weft_now();
    usleep(500000);
    int64_t used = cpu_ns() - c0, wall = weft_now() - t0;
    /* Under 1% of one CPU, two workers included. */
    CHECK(used * 100 < wall);
    CHECK_OK(weft_group_destroy(g));
}

/* ---- a tree of a hundred thousand SHARED coroutines (skynet) ----------------
 * Ten thousand under ThreadSanitizer, whose fibers count as threads (8128 at most). */
#if defined(__SANITIZE_THREAD__)
#define TREE_N ((int64_t)10000)
#else
#define TREE_N ((int64_t)100000)
#endif

typedef struct {
    int64_t num, size;
    weft_chan *out;
} node;

static void *tree(void *p) {
    node a = *(node *)p;
    int64_t sum = 0;
    if (a.size == 1) {
        sum = a.num;
    } else {
        weft_chan *ch;
        CHECK_OK(weft_chan_create(&ch, sizeof(int64_t), 10));
        int64_t child = a.size / 10;
        node *kids = malloc(10 * sizeof *kids);
        CHECK(kids != NULL);
        static const weft_coro_opts sh = {.stack_mode = WEFT_STACK_SHARED, .detached = 1};
        for (int64_t i = 0; i < 10; i++) {
            kids[i] = (node){a.num + i * child, child, ch};
            CHECK_OK(weft_spawn(NULL, tree, &kids[i], &sh));
        }
        for (int64_t i = 0; i < 10; i++) {
            int64_t v;
            CHECK_OK(weft_chan_recv(ch, &v, WEFT_FOREVER));
            sum += v;
        }
        free(kids);
        CHECK_OK(weft_chan_destroy(ch));
    }
    CHECK_OK(weft_chan_send(a.out, &sum, WEFT_FOREVER));
    return NULL;
}

static void tree_in(unsigned threads, int migrate) {
    weft_group *g = mkgroup(threads, migrate);
    weft_chan *root;
    CHECK_OK(weft_chan_create(&root, sizeof(int64_t), 1));
    node a = {0, TREE_N, root};
    static const weft_coro_opts sh = {.stack_mode = WEFT_STACK_SHARED, .detached = 1};
    CHECK_OK(weft_group_spawn(g, NULL, tree, &a, &sh));
    int64_t r = 0;
    CHECK_OK(weft_chan_recv(root, &r, weft_after(60 * WEFT_SEC)));
    CHECK_EQ(r, TREE_N * (TREE_N - 1) / 2);
    CHECK_OK(weft_group_wait(g, weft_after(10 * WEFT_SEC)));
    CHECK_OK(weft_group_destroy(g));
    CHECK_OK(weft_chan_destroy(root));
}

WEFT_TEST(group_tree_of_shared_coroutines) { tree_in(2, 0); }
WEFT_TEST(group_tree_of_shared_coroutines_migrating) { tree_in(2, 1); }

/* ---- a lock across workers --------------------------------------------------- */

static weft_lock glock;
static long gcounter;
static void *locker(void *p) {
    (void)p;
    for (int i = 0; i < 20000; i++) {
        CHECK_OK(weft_lock_acquire(&glock, WEFT_FOREVER));
        long v = gcounter;
        if (i % 64 == 0)
            CHECK_OK(weft_yield());
        gcounter = v + 1;
        CHECK_OK(weft_lock_release(&glock));
    }
    return NULL;
}

WEFT_TEST(group_lock_counts_exactly) {
    for (int migrate = 0; migrate < 2; migrate++) {
        weft_group *g = mkgroup(2, migrate);
        CHECK_OK(weft_lock_init(&glock));
        gcounter = 0;
        weft_coro c[4];
        for (int i = 0; i < 4; i++)
            CHECK_OK(weft_group_spawn(g, &c[i], locker, NULL, NULL));
        for (int i = 0; i < 4; i++)
            CHECK_OK(weft_join(c[i], weft_after(60 * WEFT_SEC), NULL));
        CHECK_EQ(gcounter, 80000L);
        CHECK_OK(weft_lock_destroy(&glock));
        CHECK_OK(weft_group_destroy(g));
    }
}

/* ---- bad input ------------------------------------------------------------- */

static weft_group *bad_g;
static void *inside_calls(void *p) {
    (void)p;
    CHECK(weft_group_self() == bad_g);
    CHECK_EQ(weft_group_wait(bad_g, WEFT_NOWAIT), -EDEADLK);
    CHECK_EQ(weft_group_destroy(bad_g), -EDEADLK);
    weft_coro self = weft_self();
    CHECK_EQ(weft_join(self, WEFT_FOREVER, NULL), -EDEADLK);
    weft_coro_opts susp = {.suspended = 1};
    weft_coro s;
    CHECK_EQ(weft_spawn(&s, twice, NULL, &susp), -EINVAL);
    CHECK_EQ(weft_coro_unpin(), -EINVAL);
    CHECK_OK(weft_coro_pin());
    CHECK_OK(weft_coro_pin());
    CHECK_OK(weft_coro_unpin());
    CHECK_OK(weft_coro_unpin());
    CHECK_EQ(weft_coro_unpin(), -EINVAL);
    /* A spawn inside goes to the group and may be joined here. */
    weft_coro k;
    CHECK_OK(weft_spawn(&k, twice, (void *)21, NULL));
    void *r;
    CHECK_OK(weft_join(k, weft_after(10 * WEFT_SEC), &r));
    CHECK_EQ((uintptr_t)r, 42u);
    return NULL;
}

static void *nothing(void *p) { return p; }

WEFT_TEST(group_bad_input) {
    weft_group_opts o = {.threads = 1025};
    weft_group *g = (weft_group *)1;
    CHECK_EQ(weft_group_create(NULL, NULL), -EINVAL);
    CHECK_EQ(weft_group_create(&g, &o), -EINVAL);
    CHECK(g == NULL);
    o.threads = 1;
    o.migrate = 2;
    CHECK_EQ(weft_group_create(&g, &o), -EINVAL);
    weft_coro c;
    CHECK_EQ(weft_group_spawn(NULL, &c, twice, NULL, NULL), -EINVAL);
    CHECK_EQ(weft_group_wait(NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_EQ(weft_group_destroy(NULL), -EINVAL);
    CHECK_EQ(weft_group_threads(NULL), -EINVAL);
    CHECK_EQ(weft_group_count(NULL), (size_t)0);
    CHECK(weft_group_self() == NULL);
    bad_g = mkgroup(2, 0);
    CHECK_EQ(weft_group_spawn(bad_g, &c, NULL, NULL, NULL), -EINVAL);
    CHECK_EQ(weft_group_spawn(bad_g, NULL, twice, NULL, NULL), -EINVAL);
    weft_coro_opts susp = {.suspended = 1};
    CHECK_EQ(weft_group_spawn(bad_g, &c, nothing, NULL, &susp), -EINVAL);
    CHECK_OK(weft_group_spawn(bad_g, &c, inside_calls, NULL, NULL));
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
    /* switch and link are per thread: a group's coroutine is refused. */
    CHECK_OK(weft_event_init(&gate));
    CHECK_OK(weft_group_spawn(bad_g, &c, wait_gate, NULL, NULL));
    CHECK_EQ(weft_switch(c, NULL, NULL), -EXDEV);
    CHECK_EQ(weft_killall(&c, 1, 0, WEFT_FOREVER), -EXDEV);
    CHECK_OK(weft_event_set(&gate));
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_group_destroy(bad_g));
    CHECK_OK(weft_event_destroy(&gate));
}

/* weft_dump lists a group and its coroutines, each as its worker sees it. */
WEFT_TEST(group_in_the_dump) {
    weft_group *g = mkgroup(2, 0);
    CHECK_OK(weft_event_init(&gate));
    atomic_store(&entered, 0);
    weft_coro c;
    weft_coro_opts o = {.name = "gdump"};
    CHECK_OK(weft_group_spawn(g, &c, wait_gate_record, NULL, &o));
    until_entered(1);
    char *text = NULL;
    for (int tries = 0; tries < 1000; tries++) { /* until it has parked: bounded */
        FILE *f = tmpfile();
        CHECK(f != NULL);
        CHECK_OK(weft_dump(fileno(f)));
        long n = ftell(f);
        if (n <= 0) {
            CHECK_EQ(fseek(f, 0, SEEK_END), 0);
            n = ftell(f);
        }
        CHECK_EQ(fseek(f, 0, SEEK_SET), 0);
        free(text);
        text = calloc(1, (size_t)n + 1);
        CHECK(text != NULL);
        CHECK_EQ(fread(text, 1, (size_t)n, f), (size_t)n);
        fclose(f);
        if (strstr(text, "\"gdump\": parked on event"))
            break;
        usleep(1000);
    }
    CHECK(strstr(text, "worker groups:\ngroup of 2 workers (threads ") != NULL);
    CHECK(strstr(text, " 1 live coroutines\n") != NULL);
    CHECK(strstr(text, "\"gdump\": parked on event") != NULL);
    free(text);
    CHECK_OK(weft_event_set(&gate));
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_group_destroy(g));
    CHECK_OK(weft_event_destroy(&gate));
}

/* A fork from a group's coroutine: the child runs outside any group, on the
 * coroutine's stack, and its weft calls work on its own thread. */
static void *forker(void *arg) {
    (void)arg;
    fflush(NULL);
    pid_t p = fork();
    CHECK(p >= 0);
    if (p == 0) {
        int ok = weft_group_self() == NULL;
        weft_coro c;
        void *r = NULL;
        ok = ok && weft_spawn(&c, twice, (void *)5, NULL) == 0;
        ok = ok && weft_join(c, weft_after(10 * WEFT_SEC), &r) == 0 && (uintptr_t)r == 10;
        ok = ok && weft_sleep(WEFT_MSEC) == 0;
        _exit(ok ? 0 : 3);
    }
    return (void *)(intptr_t)p;
}

WEFT_TEST(group_fork_from_a_coroutine) {
    weft_group *g = mkgroup(2, 1);
    weft_coro c;
    void *r = NULL;
    CHECK_OK(weft_group_spawn(g, &c, forker, NULL, NULL));
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), &r));
    CHECK_EQ(test_reap((pid_t)(intptr_t)r), 0);
    CHECK_OK(weft_group_destroy(g));
}

/* Two threads join one handle at once: one gets the result, the other -EBUSY (the
 * joiner slot is taken) or -ESRCH (already released); never a double release. */
static weft_coro race_c;
static int race_r[2];
static weft_event race_go;
static void *race_joiner(void *arg) {
    int k = (int)(intptr_t)arg;
    CHECK_OK(weft_event_wait(&race_go, weft_after(10 * WEFT_SEC)));
    void *v = NULL;
    race_r[k] = weft_join(race_c, weft_after(10 * WEFT_SEC), &v);
    if (race_r[k] == 0)
        CHECK_EQ((uintptr_t)v, 14u);
    return NULL;
}

WEFT_TEST(group_two_joiners_one_result) {
    weft_group *g = mkgroup(2, 0);
    for (int round = 0; round < 200; round++) {
        CHECK_OK(weft_event_init(&race_go));
        CHECK_OK(weft_group_spawn(g, &race_c, twice, (void *)7, NULL));
        pthread_t t[2];
        for (int k = 0; k < 2; k++)
            CHECK_EQ(pthread_create(&t[k], NULL, race_joiner, (void *)(intptr_t)k), 0);
        CHECK_OK(weft_event_set(&race_go));
        for (int k = 0; k < 2; k++)
            CHECK_EQ(pthread_join(t[k], NULL), 0);
        int ok = (race_r[0] == 0) + (race_r[1] == 0);
        CHECK_EQ(ok, 1);
        int other = race_r[0] == 0 ? race_r[1] : race_r[0];
        CHECK(other == -EBUSY || other == -ESRCH);
        CHECK_OK(weft_event_destroy(&race_go));
    }
    CHECK_EQ(weft_group_count(g), (size_t)0);
    CHECK_OK(weft_group_destroy(g));
}

WEFT_MAIN()
