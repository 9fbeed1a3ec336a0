/* Process-shared primitives: plock, prlock, psem, pevent, pcond, pbarrier, across
 * processes (plain fork + waitpid), from plain threads and from coroutines; a lock
 * holder killed with SIGKILL (-EOWNERDEAD, repair, the lock goes on); a coroutine
 * waiting on a process lock while another coroutine of its thread runs; named
 * primitives; the robust mutex and the shared futex underneath; bad input.
 *
 * Orderings come from pipes and shared counters polled with a bound; sleeps appear
 * only where a deadline must pass. Children are forked only from threads without a
 * scheduler, and every child is reaped. */
#include "harness.h"

#include "psync/psync.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <time.h>

/* WEFT_TEST_TIMEOUT(plock_counter_processes, 120) */
/* WEFT_TEST_TIMEOUT(rmutex_waiters_mixed, 120) */

/* ------------------------------------------------------------------ helpers */

static void pipe_put(int fd) {
    char c = 'x';
    CHECK_EQ(write(fd, &c, 1), 1);
}
static void pipe_get(int fd) {
    char c;
    CHECK_EQ(read(fd, &c, 1), 1);
}

/* Polls *v until it is at least want, for at most 10 s. */
static void wait_at_least(_Atomic int *v, int want) {
    int64_t end = weft_after(10 * WEFT_SEC);
    while (atomic_load(v) < want) {
        CHECK_LT(weft_now(), end);
        if (weft__sched_get())
            weft_sleep(WEFT_MSEC);
        else
            usleep(1000);
    }
}

/* Runs fn on a new thread that spawns coroutines, with the counting allocator;
 * afterwards nothing weft allocated may be left (a helper thread may drop its
 * last reference a moment after the waiter it served: bounded poll). */
static void run_coro_thread(void (*fn)(void)) {
    CHECK_OK(test_alloc_install());
    harness_body b = {fn};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, harness_body_tramp, &b), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    int64_t end = weft_after(2 * WEFT_SEC);
    while (test_alloc_live() != 0 && weft_now() < end)
        usleep(1000);
    CHECK_NO_LEAKS();
    CHECK_OK(test_alloc_uninstall());
}

static weft_coro spawn(weft_coro_fn fn, void *arg) {
    weft_coro c;
    CHECK_OK(weft_spawn(&c, fn, arg, NULL));
    return c;
}
static intptr_t join(weft_coro c) {
    void *r;
    CHECK_OK(weft_join(c, weft_after(20 * WEFT_SEC), &r));
    return (intptr_t)r;
}
/* Spawns n coroutines running fn(NULL) and joins them all. */
static void spawn_join(weft_coro_fn fn, int n) {
    weft_coro c[8];
    CHECK(n <= 8);
    for (int i = 0; i < n; i++)
        c[i] = spawn(fn, NULL);
    for (int i = 0; i < n; i++)
        join(c[i]);
}

static char *name_of(char *buf, const char *tag) {
    snprintf(buf, 64, "/weft_test_psync_%d_%s", (int)getpid(), tag);
    return buf;
}

/* ------------------------------------------------------------------ plock basics */

WEFT_TEST(plock_basics) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    weft_plock *l = test_shared_mem(sizeof *l);
    CHECK_ERR(weft_plock_acquire(l, WEFT_FOREVER), -EINVAL); /* not initialised */
    CHECK_OK(weft_plock_init(l));
    CHECK_EQ(weft_plock_locked(l), 0);
    CHECK_ERR(weft_plock_release(l), -EPERM);
    CHECK_OK(weft_plock_try_acquire(l));
    CHECK_EQ(weft_plock_locked(l), 1);
    CHECK_ERR(weft_plock_try_acquire(l), -EAGAIN);
    CHECK_ERR(weft_plock_acquire(l, WEFT_FOREVER), -EDEADLK);
    CHECK_ERR(weft_plock_acquire(l, weft_after(WEFT_MSEC)), -EDEADLK);
    CHECK_ERR(weft_plock_destroy(l), -EBUSY);
    CHECK_ERR(weft_plock_consistent(l), -EINVAL); /* not after an owner death */
    CHECK_OK(weft_plock_release(l));
    CHECK_OK(weft_plock_acquire(l, WEFT_NOWAIT));
    CHECK_OK(weft_plock_release(l));
    CHECK_OK(weft_plock_destroy(l));
    CHECK_ERR(weft_plock_acquire(l, WEFT_FOREVER), -EINVAL);
    CHECK_ERR(weft_plock_destroy(l), -EINVAL);
    CHECK_EQ(weft_plock_locked(l), 0);

    CHECK_ERR(weft_plock_init(NULL), -EINVAL);
    CHECK_ERR(weft_plock_destroy(NULL), -EINVAL);
    CHECK_ERR(weft_plock_acquire(NULL, WEFT_FOREVER), -EINVAL);
    CHECK_ERR(weft_plock_try_acquire(NULL), -EINVAL);
    CHECK_ERR(weft_plock_release(NULL), -EINVAL);
    CHECK_ERR(weft_plock_consistent(NULL), -EINVAL);
    CHECK_EQ(weft_plock_locked(NULL), 0);
    munmap(l, sizeof *l);
}

/* Release from another thread than the owner: -EPERM. */
static weft_plock *g_l;
static void release_other_thread(void) { CHECK_ERR(weft_plock_release(g_l), -EPERM); }

WEFT_TEST(plock_owner_is_thread) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_l = test_shared_mem(sizeof *g_l);
    CHECK_OK(weft_plock_init(g_l));
    CHECK_OK(weft_plock_acquire(g_l, WEFT_FOREVER));
    run_plain_in_thread(release_other_thread);
    CHECK_OK(weft_plock_release(g_l));
    CHECK_OK(weft_plock_destroy(g_l));
    munmap(g_l, sizeof *g_l);
}

/* ------------------------------------------------------------------ across processes */

struct counter_shm {
    weft_plock l;
    long counter;
    _Atomic int inside;
    _Atomic int overlap;
};
#define COUNTER_ROUNDS 3000

static void counter_child(void *arg) {
    struct counter_shm *s = arg;
    for (int i = 0; i < COUNTER_ROUNDS; i++) {
        CHECK_OK(weft_plock_acquire(&s->l, weft_after(20 * WEFT_SEC)));
        if (atomic_fetch_add(&s->inside, 1) != 0)
            atomic_store(&s->overlap, 1);
        long v = s->counter;
        if (i % 64 == 0)
            sched_yield(); /* let others run into the held lock */
        s->counter = v + 1;
        atomic_fetch_sub(&s->inside, 1);
        CHECK_OK(weft_plock_release(&s->l));
    }
}

WEFT_TEST(plock_counter_processes) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct counter_shm *s = test_shared_mem(sizeof *s);
    CHECK_OK(weft_plock_init(&s->l));
    pid_t kids[4];
    for (int i = 0; i < 4; i++)
        kids[i] = test_fork_child(counter_child, s);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(test_reap(kids[i]), 0);
    CHECK_EQ(s->counter, 4L * COUNTER_ROUNDS);
    CHECK_EQ(atomic_load(&s->overlap), 0);
    CHECK_EQ(weft_plock_locked(&s->l), 0);
    CHECK_OK(weft_plock_destroy(&s->l));
    CHECK_NO_ZOMBIES();
    munmap(s, sizeof *s);
}

/* A child takes the lock, tells the parent, then waits to be killed. */
struct dead_shm {
    weft_plock l;
    int fds[2];
    long state;
};
static void hold_and_wait(void *arg) {
    struct dead_shm *s = arg;
    CHECK_OK(weft_plock_acquire(&s->l, WEFT_FOREVER));
    s->state = 1; /* a half-done update the next owner must repair */
    pipe_put(s->fds[1]);
    for (;;)
        pause();
}

static pid_t start_holder(struct dead_shm *s) {
    pid_t p = test_fork_child(hold_and_wait, s);
    pipe_get(s->fds[0]);
    return p;
}

static void kill_and_reap(pid_t p) {
    CHECK_OK(kill(p, SIGKILL));
    CHECK_EQ(test_reap(p), 1000 + SIGKILL);
}

static weft_plock *g_nr;
static void *nr_coro(void *arg) {
    (void)arg;
    return (void *)(intptr_t)weft_plock_acquire(g_nr, weft_after(WEFT_SEC));
}
static void notrecoverable_body(void) {
    CHECK_EQ(join(spawn(nr_coro, NULL)), -ENOTRECOVERABLE);
}
WEFT_TEST(plock_owner_killed) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct dead_shm *s = test_shared_mem(sizeof *s);
    CHECK_OK(weft_plock_init(&s->l));
    CHECK_OK(pipe(s->fds));
    pid_t p = start_holder(s);
    CHECK_EQ(weft_plock_locked(&s->l), 1);
    CHECK_ERR(weft_plock_acquire(&s->l, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    kill_and_reap(p);
    CHECK_ERR(weft_plock_acquire(&s->l, weft_after(5 * WEFT_SEC)), -EOWNERDEAD);
    CHECK_EQ(s->state, 1);
    s->state = 0; /* repaired */
    CHECK_OK(weft_plock_consistent(&s->l));
    CHECK_OK(weft_plock_release(&s->l));
    CHECK_OK(weft_plock_acquire(&s->l, WEFT_FOREVER));
    CHECK_OK(weft_plock_release(&s->l));

    /* try_acquire sees the death too. */
    p = start_holder(s);
    kill_and_reap(p);
    CHECK_ERR(weft_plock_try_acquire(&s->l), -EOWNERDEAD);
    CHECK_OK(weft_plock_consistent(&s->l));
    CHECK_OK(weft_plock_release(&s->l));

    /* Released without repair: unusable for everyone. */
    p = start_holder(s);
    kill_and_reap(p);
    CHECK_ERR(weft_plock_acquire(&s->l, WEFT_FOREVER), -EOWNERDEAD);
    CHECK_OK(weft_plock_release(&s->l));
    CHECK_ERR(weft_plock_acquire(&s->l, WEFT_FOREVER), -ENOTRECOVERABLE);
    CHECK_ERR(weft_plock_try_acquire(&s->l), -ENOTRECOVERABLE);
    CHECK_ERR(weft_plock_try_acquire(&s->l), -ENOTRECOVERABLE);
    CHECK_ERR(weft_plock_acquire(&s->l, WEFT_NOWAIT), -ENOTRECOVERABLE);
    g_nr = &s->l;
    run_coro_thread(notrecoverable_body);
    CHECK_NO_ZOMBIES();
    close(s->fds[0]);
    close(s->fds[1]);
    munmap(s, sizeof *s);
}

/* The parent is already waiting (in a coroutine, and in a plain thread) when the
 * holder is killed: the waits end with -EOWNERDEAD for one of them, the other gets
 * the lock after the repair. Nobody hangs. */
static struct dead_shm *g_dead;
static _Atomic int g_waiting;
/* Run both as a coroutine and as a plain thread. */
static void *dead_waiter(void *arg) {
    (void)arg;
    atomic_fetch_add(&g_waiting, 1);
    int r = weft_plock_acquire(&g_dead->l, weft_after(20 * WEFT_SEC));
    if (r == -EOWNERDEAD) {
        g_dead->state = 0;
        CHECK_OK(weft_plock_consistent(&g_dead->l));
    }
    CHECK(r == 0 || r == -EOWNERDEAD);
    CHECK_OK(weft_plock_release(&g_dead->l));
    return (void *)(intptr_t)(r == -EOWNERDEAD);
}
static void *ticker(void *arg) {
    _Atomic int *ticks = arg;
    while (atomic_load(ticks) >= 0) {
        atomic_fetch_add(ticks, 1);
        weft_sleep(WEFT_MSEC);
    }
    return NULL;
}
static pid_t g_holder;
static void owner_killed_while_waiting_body(void) {
    static _Atomic int ticks;
    atomic_store(&ticks, 0);
    weft_coro t = spawn(ticker, &ticks);
    weft_coro w = spawn(dead_waiter, NULL);
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, dead_waiter, NULL), 0);
    wait_at_least(&g_waiting, 2);
    int before = atomic_load(&ticks);
    weft_sleep(30 * WEFT_MSEC); /* both are (very likely) in their kernel waits now */
    CHECK_GT(atomic_load(&ticks), before); /* the waiting coroutine parks only itself */
    CHECK_OK(kill(g_holder, SIGKILL));
    intptr_t dead = join(w);
    void *pr;
    CHECK_EQ(pthread_join(pt, &pr), 0);
    CHECK_EQ(dead + (intptr_t)pr, 1); /* exactly one saw the death */
    atomic_store(&ticks, -1000000);
    join(t);
}
WEFT_TEST(plock_owner_killed_while_waiting) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_dead = test_shared_mem(sizeof *g_dead);
    CHECK_OK(weft_plock_init(&g_dead->l));
    CHECK_OK(pipe(g_dead->fds));
    g_holder = start_holder(g_dead);
    run_coro_thread(owner_killed_while_waiting_body);
    CHECK_EQ(test_reap(g_holder), 1000 + SIGKILL);
    CHECK_EQ(g_dead->state, 0);
    CHECK_OK(weft_plock_acquire(&g_dead->l, WEFT_NOWAIT));
    CHECK_OK(weft_plock_release(&g_dead->l));
    CHECK_NO_ZOMBIES();
}

/* A coroutine waits on a lock another process holds while a second coroutine of
 * its thread keeps running; that coroutine makes the other process release it. */
struct park_shm {
    weft_plock l;
    int go[2], ready[2];
};
static void hold_until_told(void *arg) {
    struct park_shm *s = arg;
    CHECK_OK(weft_plock_acquire(&s->l, WEFT_FOREVER));
    pipe_put(s->ready[1]);
    pipe_get(s->go[0]);
    CHECK_OK(weft_plock_release(&s->l));
}
static struct park_shm *g_park;
static _Atomic int g_order;
static void *park_acquirer(void *arg) {
    (void)arg;
    CHECK_ERR(weft_plock_acquire(&g_park->l, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_ERR(weft_plock_try_acquire(&g_park->l), -EAGAIN);
    atomic_store(&g_order, 1);
    CHECK_OK(weft_plock_acquire(&g_park->l, weft_after(20 * WEFT_SEC)));
    int seen = atomic_load(&g_order); /* the other coroutine ran meanwhile */
    CHECK_OK(weft_plock_release(&g_park->l));
    return (void *)(intptr_t)seen;
}
static void *park_runner(void *arg) {
    (void)arg;
    wait_at_least(&g_order, 1);
    for (int i = 0; i < 20; i++)
        weft_yield();
    weft_sleep(5 * WEFT_MSEC);
    atomic_store(&g_order, 2);
    pipe_put(g_park->go[1]); /* the holder releases now */
    return NULL;
}
static void coro_parks_only_itself_body(void) {
    atomic_store(&g_order, 0);
    weft_coro a = spawn(park_acquirer, NULL);
    weft_coro b = spawn(park_runner, NULL);
    CHECK_EQ(join(a), 2);
    join(b);
}
WEFT_TEST(plock_coro_parks_only_itself) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_park = test_shared_mem(sizeof *g_park);
    CHECK_OK(weft_plock_init(&g_park->l));
    CHECK_OK(pipe(g_park->go));
    CHECK_OK(pipe(g_park->ready));
    pid_t p = test_fork_child(hold_until_told, g_park);
    pipe_get(g_park->ready[0]);
    run_coro_thread(coro_parks_only_itself_body);
    CHECK_EQ(test_reap(p), 0);
    CHECK_NO_ZOMBIES();
}

/* Two coroutines of one thread: ownership is per thread, the second waits until
 * the first releases. */
static weft_plock *g_same;
static void *same_holder(void *arg) {
    (void)arg;
    CHECK_OK(weft_plock_acquire(g_same, WEFT_FOREVER));
    atomic_store(&g_order, 1);
    wait_at_least(&g_order, 2);
    weft_sleep(5 * WEFT_MSEC);
    atomic_store(&g_order, 3);
    CHECK_OK(weft_plock_release(g_same));
    return NULL;
}
static void *same_waiter(void *arg) {
    (void)arg;
    wait_at_least(&g_order, 1);
    CHECK_ERR(weft_plock_try_acquire(g_same), -EAGAIN);
    atomic_store(&g_order, 2);
    CHECK_OK(weft_plock_acquire(g_same, weft_after(10 * WEFT_SEC)));
    CHECK_EQ(atomic_load(&g_order), 3);
    CHECK_OK(weft_plock_release(g_same));
    return NULL;
}
static void same_thread_body(void) {
    atomic_store(&g_order, 0);
    weft_coro a = spawn(same_holder, NULL);
    weft_coro b = spawn(same_waiter, NULL);
    join(a);
    join(b);
}
WEFT_TEST(plock_coros_same_thread) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_same = test_shared_mem(sizeof *g_same);
    CHECK_OK(weft_plock_init(g_same));
    run_coro_thread(same_thread_body);
    CHECK_OK(weft_plock_destroy(g_same));
}

/* A cancelled coroutine stops waiting with -ECANCELED; the lock is unaffected. */
static void *cancel_waiter(void *arg) {
    (void)arg;
    atomic_store(&g_order, 1);
    return (void *)(intptr_t)weft_plock_acquire(&g_park->l, WEFT_FOREVER);
}
static void cancel_body(void) {
    atomic_store(&g_order, 0);
    weft_coro a = spawn(cancel_waiter, NULL);
    wait_at_least(&g_order, 1);
    weft_sleep(10 * WEFT_MSEC);
    CHECK_OK(weft_cancel(a));
    CHECK_EQ(join(a), -ECANCELED);
}
WEFT_TEST(plock_cancel_waiter) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_park = test_shared_mem(sizeof *g_park);
    CHECK_OK(weft_plock_init(&g_park->l));
    CHECK_OK(pipe(g_park->go));
    CHECK_OK(pipe(g_park->ready));
    pid_t p = test_fork_child(hold_until_told, g_park);
    pipe_get(g_park->ready[0]);
    run_coro_thread(cancel_body);
    pipe_put(g_park->go[1]);
    CHECK_EQ(test_reap(p), 0);
    CHECK_OK(weft_plock_acquire(&g_park->l, weft_after(5 * WEFT_SEC)));
    CHECK_OK(weft_plock_release(&g_park->l));
}

/* ------------------------------------------------------------------ the robust mutex */

/* Many waiters at once (coroutines of two threads, plain threads, other
 * processes) take the lock in turns. If a waiter that got the lock after a wait
 * dropped FUTEX_WAITERS, a later unlock would wake nobody and the rest would hang
 * (caught by the bounded deadline). */
struct mixed_shm {
    weft__rmutex m;
    long count;
    _Atomic int done;
};
static struct mixed_shm *g_mx;
#define MX_ROUNDS 300
static void mx_round(void) {
    for (int i = 0; i < MX_ROUNDS; i++) {
        CHECK_OK(weft__rmutex_lock(&g_mx->m, weft_after(30 * WEFT_SEC)));
        long v = g_mx->count;
        if (i % 8 == 0) {
            if (weft__sched_get())
                weft_yield(); /* the lock is held across a switch */
            else
                sched_yield();
        }
        g_mx->count = v + 1;
        CHECK_OK(weft__rmutex_unlock(&g_mx->m));
    }
}
static void *mx_coro(void *arg) {
    (void)arg;
    mx_round();
    return NULL;
}
static void mx_coros(void) {
    spawn_join(mx_coro, 3);
}
static void *mx_coro_thread(void *arg) {
    (void)arg;
    mx_coros();
    return NULL;
}
static void *mx_plain_thread(void *arg) {
    (void)arg;
    mx_round();
    return NULL;
}
static void mx_child(void *arg) {
    (void)arg;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, mx_coro_thread, NULL), 0);
    mx_round();
    CHECK_EQ(pthread_join(t, NULL), 0);
}
static void mixed_body(void) {
    pthread_t t[3];
    CHECK_EQ(pthread_create(&t[0], NULL, mx_coro_thread, NULL), 0);
    CHECK_EQ(pthread_create(&t[1], NULL, mx_plain_thread, NULL), 0);
    CHECK_EQ(pthread_create(&t[2], NULL, mx_plain_thread, NULL), 0);
    mx_coros();
    for (int i = 0; i < 3; i++)
        CHECK_EQ(pthread_join(t[i], NULL), 0);
}
WEFT_TEST(rmutex_waiters_mixed) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_mx = test_shared_mem(sizeof *g_mx);
    CHECK_OK(weft__rmutex_init(&g_mx->m));
    pid_t kids[2];
    for (int i = 0; i < 2; i++)
        kids[i] = test_fork_child(mx_child, NULL); /* 1 plain + 3 coroutines each */
    run_coro_thread(mixed_body);            /* 3 + 3 coroutines, 2 plain threads */
    for (int i = 0; i < 2; i++)
        CHECK_EQ(test_reap(kids[i]), 0);
    CHECK_EQ(g_mx->count, (long)MX_ROUNDS * (2 * 4 + 3 + 3 + 2));
    CHECK_EQ(weft__rmutex_held(&g_mx->m), 0);
    /* Nobody waits now: the word is back to 0 (no stale owner or waiter bits
     * beyond FUTEX_WAITERS, which an unlock clears). */
    CHECK_EQ(*((uint32_t *)(void *)&g_mx->m.m + weft__rmutex_word_index()), 0u);
    weft__rmutex_destroy(&g_mx->m);
}

/* The waiter bit after a coroutine's waited-for acquisition: a coroutine waits
 * for a plain thread, a second plain thread queues behind it; when the coroutine
 * gets the lock, the word must still say FUTEX_WAITERS. */
static _Atomic int g_stage;
static void *wb_second(void *arg) {
    (void)arg;
    atomic_store(&g_stage, 2);
    CHECK_OK(weft__rmutex_lock(&g_mx->m, weft_after(20 * WEFT_SEC)));
    CHECK_OK(weft__rmutex_unlock(&g_mx->m));
    return NULL;
}
static void *wb_coro(void *arg) {
    (void)arg;
    atomic_store(&g_stage, 1);
    CHECK_OK(weft__rmutex_lock(&g_mx->m, weft_after(20 * WEFT_SEC)));
    uint32_t w = *((_Atomic uint32_t *)(void *)&g_mx->m.m + weft__rmutex_word_index());
    CHECK_NE(w & FUTEX_WAITERS, 0u);
    CHECK_OK(weft__rmutex_unlock(&g_mx->m));
    return NULL;
}
static void waiters_bit_body(void) {
    CHECK_OK(weft__rmutex_lock(&g_mx->m, WEFT_FOREVER)); /* main coroutine holds */
    weft_coro c = spawn(wb_coro, NULL);
    wait_at_least(&g_stage, 1);
    weft_sleep(10 * WEFT_MSEC);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, wb_second, NULL), 0);
    wait_at_least(&g_stage, 2);
    weft_sleep(20 * WEFT_MSEC); /* the thread is (very likely) asleep in the kernel */
    CHECK_OK(weft__rmutex_unlock(&g_mx->m));
    join(c);
    CHECK_EQ(pthread_join(t, NULL), 0);
}
WEFT_TEST(rmutex_waiters_bit_kept) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_mx = test_shared_mem(sizeof *g_mx);
    CHECK_OK(weft__rmutex_init(&g_mx->m));
    run_coro_thread(waiters_bit_body);
    weft__rmutex_destroy(&g_mx->m);
}

/* The futex word weft waits on is the one the kernel and the libc mark on an
 * owner's death, wherever the libc keeps it in pthread_mutex_t (a wrong guess
 * fails plock_owner_killed and every waiting test above). Here: a child locks
 * the mutex and dies; the word, which held its id, holds FUTEX_OWNER_DIED. */
WEFT_TEST(rmutex_word_is_robust_futex) {
    SKIP_UNLESS_ROBUST_FUTEX();
    g_mx = test_shared_mem(sizeof *g_mx);
    CHECK_OK(weft__rmutex_init(&g_mx->m));
    size_t idx = weft__rmutex_word_index();
#if defined(__GLIBC__)
    CHECK_EQ(idx, 0);
#else
    CHECK_EQ(idx, 1); /* musl: the type, then the lock word */
#endif
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        _exit(weft__rmutex_lock(&g_mx->m, -1) == 0 ? 0 : 1);
    }
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    uint32_t w = __atomic_load_n((uint32_t *)(void *)&g_mx->m.m + idx, __ATOMIC_ACQUIRE);
    CHECK_EQ(w & ~(uint32_t)FUTEX_WAITERS, (uint32_t)FUTEX_OWNER_DIED);
    CHECK_ERR(weft__rmutex_trylock(&g_mx->m), -EOWNERDEAD);
    CHECK_OK(weft__rmutex_consistent(&g_mx->m));
    CHECK_OK(weft__rmutex_unlock(&g_mx->m));
    weft__rmutex_destroy(&g_mx->m);
}

/* ------------------------------------------------------------------ the shared futex */

/* One helper idle, then two coroutines wait on two words at once: each needs its
 * own helper (an idle one may be counted only once). Waking only the second word
 * must end the second wait. */
static _Atomic uint32_t g_w1, g_w2, g_w3;
static void *fw_wait(void *arg) {
    _Atomic uint32_t *w = arg;
    while (atomic_load(w) == 0) {
        int r = weft__pfutex_wait(w, 0, weft_after(20 * WEFT_SEC));
        CHECK(r == 0);
    }
    return NULL;
}
static void futex_helpers_body(void) {
    /* A first wait leaves a helper idle. */
    CHECK_ERR(weft__pfutex_wait(&g_w1, 0, weft_after(WEFT_MSEC)), -ETIMEDOUT);
    weft_coro a = spawn(fw_wait, (void *)&g_w2);
    weft_coro b = spawn(fw_wait, (void *)&g_w3);
    weft_sleep(20 * WEFT_MSEC);
    atomic_store(&g_w3, 1);
    weft__pfutex_wake(&g_w3, 1);
    join(b);
    atomic_store(&g_w2, 1);
    weft__pfutex_wake(&g_w2, 1);
    join(a);
    /* Value already different, deadline past, bad-free waits. */
    CHECK_EQ(weft__pfutex_wait(&g_w2, 0, WEFT_FOREVER), 0);
    CHECK_ERR(weft__pfutex_wait(&g_w1, 0, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_EQ(weft__pfutex_wait(&g_w2, 0, WEFT_NOWAIT), 0);
}
WEFT_TEST(pfutex_helpers) {
    run_coro_thread(futex_helpers_body);
    /* A plain thread waits in the kernel itself. */
    int64_t t0 = weft_now();
    CHECK_ERR(weft__pfutex_wait(&g_w1, 0, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 19 * WEFT_MSEC);
    CHECK_EQ(weft__pfutex_wake(&g_w1, 1), 0);
}

/* ------------------------------------------------------------------ prlock */

static weft_prlock *g_rl;
static void *prl_other(void *arg) {
    (void)arg;
    CHECK_ERR(weft_prlock_try_acquire(g_rl), -EAGAIN);
    CHECK_ERR(weft_prlock_release(g_rl), -EPERM);
    CHECK_ERR(weft_prlock_acquire(g_rl, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    return NULL;
}
static void prl_child(void *arg) {
    int *fds = arg;
    CHECK_ERR(weft_prlock_try_acquire(g_rl), -EAGAIN);
    pipe_put(fds[1]);
    CHECK_OK(weft_prlock_acquire(g_rl, weft_after(20 * WEFT_SEC)));
    CHECK_OK(weft_prlock_acquire(g_rl, WEFT_NOWAIT));
    CHECK_OK(weft_prlock_release(g_rl));
    CHECK_OK(weft_prlock_release(g_rl));
}
WEFT_TEST(prlock_reentrant) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_rl = test_shared_mem(sizeof *g_rl);
    CHECK_ERR(weft_prlock_init(NULL), -EINVAL);
    CHECK_ERR(weft_prlock_acquire(g_rl, WEFT_FOREVER), -EINVAL);
    CHECK_OK(weft_prlock_init(g_rl));
    CHECK_ERR(weft_prlock_release(g_rl), -EPERM);
    for (int i = 0; i < 5; i++)
        CHECK_OK(weft_prlock_acquire(g_rl, WEFT_FOREVER));
    CHECK_OK(weft_prlock_try_acquire(g_rl));
    CHECK_ERR(weft_prlock_destroy(g_rl), -EBUSY);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, prl_other, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    int fds[2];
    CHECK_OK(pipe(fds));
    pid_t p = test_fork_child(prl_child, fds);
    pipe_get(fds[0]);
    for (int i = 0; i < 6; i++)
        CHECK_OK(weft_prlock_release(g_rl));
    CHECK_ERR(weft_prlock_release(g_rl), -EPERM);
    CHECK_EQ(test_reap(p), 0);
    CHECK_OK(weft_prlock_destroy(g_rl));
    CHECK_ERR(weft_prlock_destroy(g_rl), -EINVAL);
    close(fds[0]);
    close(fds[1]);
}

static void prl_hold_die(void *arg) {
    int *fds = arg;
    CHECK_OK(weft_prlock_acquire(g_rl, WEFT_FOREVER));
    CHECK_OK(weft_prlock_acquire(g_rl, WEFT_FOREVER));
    pipe_put(fds[1]);
    for (;;)
        pause();
}
WEFT_TEST(prlock_owner_killed) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_rl = test_shared_mem(sizeof *g_rl);
    CHECK_OK(weft_prlock_init(g_rl));
    int fds[2];
    CHECK_OK(pipe(fds));
    pid_t p = test_fork_child(prl_hold_die, fds);
    pipe_get(fds[0]);
    kill_and_reap(p);
    CHECK_ERR(weft_prlock_acquire(g_rl, weft_after(5 * WEFT_SEC)), -EOWNERDEAD);
    CHECK_OK(weft_prlock_consistent(g_rl));
    CHECK_OK(weft_prlock_acquire(g_rl, WEFT_FOREVER)); /* nested once */
    CHECK_OK(weft_prlock_release(g_rl));
    CHECK_OK(weft_prlock_release(g_rl));
    CHECK_OK(weft_prlock_try_acquire(g_rl));
    CHECK_OK(weft_prlock_release(g_rl));
    close(fds[0]);
    close(fds[1]);
}

/* ------------------------------------------------------------------ psem */

struct sem_shm {
    weft_psem s;
    _Atomic int got;
    _Atomic int started;
};
static void sem_child(void *arg) {
    struct sem_shm *s = arg;
    atomic_fetch_add(&s->started, 1);
    for (int i = 0; i < 3; i++) {
        CHECK_OK(weft_psem_acquire(&s->s, weft_after(20 * WEFT_SEC)));
        atomic_fetch_add(&s->got, 1);
    }
}
static struct sem_shm *g_sem;
static void *sem_coro(void *arg) {
    (void)arg;
    sem_child(g_sem);
    return NULL;
}
static void sem_coros_body(void) {
    spawn_join(sem_coro, 2);
}
static void *sem_coros_thread(void *arg) {
    (void)arg;
    sem_coros_body();
    return NULL;
}
static void sem_coro_child(void *arg) {
    (void)arg;
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, sem_coros_thread, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
}
WEFT_TEST(psem_processes) {
    struct sem_shm *s = g_sem = test_shared_mem(sizeof *s);
    CHECK_OK(weft_psem_init(&s->s, 0, 0));
    pid_t kids[3];
    kids[0] = test_fork_child(sem_child, s);
    kids[1] = test_fork_child(sem_child, s);
    kids[2] = test_fork_child(sem_coro_child, NULL); /* two coroutines waiting */
    wait_at_least(&s->started, 4);
    CHECK_EQ(atomic_load(&s->got), 0);
    CHECK_OK(weft_psem_release(&s->s, 5));
    wait_at_least(&s->got, 5);
    CHECK_EQ(weft_psem_value(&s->s), 0);
    for (int i = 0; i < 7; i++)
        CHECK_OK(weft_psem_release(&s->s, 1));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(test_reap(kids[i]), 0);
    CHECK_EQ(atomic_load(&s->got), 12);
    CHECK_EQ(weft_psem_value(&s->s), 0);
    CHECK_OK(weft_psem_destroy(&s->s));
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(psem_basics) {
    weft_psem *s = test_shared_mem(sizeof *s);
    CHECK_ERR(weft_psem_init(NULL, 1, 0), -EINVAL);
    CHECK_ERR(weft_psem_init(s, -1, 0), -EINVAL);
    CHECK_ERR(weft_psem_init(s, (int64_t)INT32_MAX + 1, 0), -EINVAL);
    CHECK_ERR(weft_psem_acquire(s, WEFT_FOREVER), -EINVAL);
    CHECK_OK(weft_psem_init(s, 2, 1));
    CHECK_ERR(weft_psem_release(s, 1), -EOVERFLOW); /* bounded at 2 */
    CHECK_ERR(weft_psem_release(s, 0), -EINVAL);
    CHECK_OK(weft_psem_try_acquire(s));
    CHECK_OK(weft_psem_acquire(s, WEFT_NOWAIT));
    CHECK_ERR(weft_psem_try_acquire(s), -EAGAIN);
    CHECK_ERR(weft_psem_acquire(s, WEFT_NOWAIT), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_psem_acquire(s, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 19 * WEFT_MSEC);
    CHECK_ERR(weft_psem_release(s, 3), -EOVERFLOW);
    CHECK_EQ(weft_psem_value(s), 0);
    CHECK_OK(weft_psem_release(s, 2));
    CHECK_EQ(weft_psem_value(s), 2);
    CHECK_OK(weft_psem_destroy(s));
    CHECK_EQ(weft_psem_value(s), -EINVAL);
    CHECK_OK(weft_psem_init(s, INT32_MAX - 1, 0));
    CHECK_OK(weft_psem_release(s, 1));
    CHECK_ERR(weft_psem_release(s, 1), -EOVERFLOW);
    CHECK_ERR(weft_psem_release(s, INT64_MAX), -EOVERFLOW);
    CHECK_EQ(weft_psem_value(s), INT32_MAX);
    CHECK_ERR(weft_psem_destroy(NULL), -EINVAL);
    CHECK_ERR(weft_psem_try_acquire(NULL), -EINVAL);
    CHECK_ERR(weft_psem_release(NULL, 1), -EINVAL);
    CHECK_EQ(weft_psem_value(NULL), -EINVAL);
}

/* A waiter killed while waiting leaves the semaphore working for the others. */
static void sem_wait_forever(void *arg) {
    struct sem_shm *s = arg;
    atomic_fetch_add(&s->started, 1);
    weft_psem_acquire(&s->s, WEFT_FOREVER);
    _exit(3);
}
WEFT_TEST(psem_waiter_killed) {
    struct sem_shm *s = test_shared_mem(sizeof *s);
    CHECK_OK(weft_psem_init(&s->s, 0, 0));
    pid_t p = test_fork_child(sem_wait_forever, s);
    wait_at_least(&s->started, 1);
    usleep(20000);
    kill_and_reap(p);
    CHECK_OK(weft_psem_release(&s->s, 1));
    CHECK_OK(weft_psem_acquire(&s->s, weft_after(WEFT_SEC)));
    CHECK_EQ(weft_psem_value(&s->s), 0);
}

/* ------------------------------------------------------------------ pevent */

struct ev_shm {
    weft_pevent e;
    _Atomic int started, woke;
};
static void ev_child(void *arg) {
    struct ev_shm *s = arg;
    atomic_fetch_add(&s->started, 1);
    CHECK_OK(weft_pevent_wait(&s->e, weft_after(20 * WEFT_SEC)));
    atomic_fetch_add(&s->woke, 1);
}
static struct ev_shm *g_ev;
static void *ev_coro(void *arg) {
    (void)arg;
    ev_child(g_ev);
    return NULL;
}
static void *ev_coro_thread(void *arg) {
    (void)arg;
    spawn_join(ev_coro, 3);
    return NULL;
}
WEFT_TEST(pevent_processes) {
    struct ev_shm *s = g_ev = test_shared_mem(sizeof *s);
    CHECK_ERR(weft_pevent_init(NULL), -EINVAL);
    CHECK_ERR(weft_pevent_wait(&s->e, WEFT_NOWAIT), -EINVAL);
    CHECK_OK(weft_pevent_init(&s->e));
    CHECK_EQ(weft_pevent_is_set(&s->e), 0);
    CHECK_ERR(weft_pevent_wait(&s->e, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = test_fork_child(ev_child, s);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, ev_coro_thread, NULL), 0);
    wait_at_least(&s->started, 6);
    usleep(20000);
    CHECK_EQ(atomic_load(&s->woke), 0);
    /* Set then clear at once: every waiter still returns 0. */
    CHECK_OK(weft_pevent_set(&s->e));
    CHECK_OK(weft_pevent_clear(&s->e));
    for (int i = 0; i < 3; i++)
        CHECK_EQ(test_reap(kids[i]), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(atomic_load(&s->woke), 6);
    CHECK_EQ(weft_pevent_is_set(&s->e), 0);
    CHECK_OK(weft_pevent_set(&s->e));
    CHECK_OK(weft_pevent_set(&s->e));
    CHECK_EQ(weft_pevent_is_set(&s->e), 1);
    CHECK_OK(weft_pevent_wait(&s->e, WEFT_NOWAIT));
    CHECK_OK(weft_pevent_destroy(&s->e));
    CHECK_ERR(weft_pevent_set(&s->e), -EINVAL);
    CHECK_ERR(weft_pevent_clear(NULL), -EINVAL);
    CHECK_ERR(weft_pevent_destroy(NULL), -EINVAL);
    CHECK_EQ(weft_pevent_is_set(NULL), 0);
    CHECK_NO_ZOMBIES();
}

/* ------------------------------------------------------------------ pcond */

struct cond_shm {
    weft_plock l;
    weft_pcond c;
    int items[64];
    int head, tail;
    _Atomic int started;
};
#define PC_ITEMS 200
static void cond_consumer(void *arg) {
    struct cond_shm *s = arg;
    atomic_fetch_add(&s->started, 1);
    long sum = 0;
    for (;;) {
        CHECK_OK(weft_plock_acquire(&s->l, weft_after(20 * WEFT_SEC)));
        while (s->head == s->tail)
            CHECK_OK(weft_pcond_wait(&s->c, &s->l, weft_after(20 * WEFT_SEC)));
        int v = s->items[s->head++ % 64];
        CHECK_OK(weft_pcond_notify_all(&s->c)); /* room for the producer */
        CHECK_OK(weft_plock_release(&s->l));
        if (v < 0)
            break;
        sum += v;
    }
    CHECK_EQ(sum % 100, 0);
}
WEFT_TEST(pcond_processes) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct cond_shm *s = test_shared_mem(sizeof *s);
    CHECK_OK(weft_plock_init(&s->l));
    CHECK_ERR(weft_pcond_wait(&s->c, &s->l, WEFT_NOWAIT), -EINVAL); /* not initialised */
    CHECK_OK(weft_pcond_init(&s->c));
    CHECK_ERR(weft_pcond_wait(&s->c, &s->l, WEFT_NOWAIT), -EPERM); /* lock not held */
    /* A timed-out wait returns with the lock held. */
    CHECK_OK(weft_plock_acquire(&s->l, WEFT_FOREVER));
    int64_t t0 = weft_now();
    CHECK_ERR(weft_pcond_wait(&s->c, &s->l, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 19 * WEFT_MSEC);
    CHECK_EQ(weft_plock_locked(&s->l), 1);
    CHECK_OK(weft_pcond_destroy(&s->c));
    CHECK_OK(weft_pcond_init(&s->c));
    CHECK_OK(weft_plock_release(&s->l));

    pid_t kids[2];
    for (int i = 0; i < 2; i++)
        kids[i] = test_fork_child(cond_consumer, s);
    wait_at_least(&s->started, 2);
    for (int i = 0; i < PC_ITEMS + 2; i++) {
        CHECK_OK(weft_plock_acquire(&s->l, weft_after(20 * WEFT_SEC)));
        while (s->tail - s->head >= 64)
            CHECK_OK(weft_pcond_wait(&s->c, &s->l, weft_after(20 * WEFT_SEC)));
        s->items[s->tail++ % 64] = i < PC_ITEMS ? 100 : -1;
        CHECK_GE(weft_pcond_notify(&s->c, 1), 0);
        CHECK_OK(weft_plock_release(&s->l));
    }
    for (int i = 0; i < 2; i++)
        CHECK_EQ(test_reap(kids[i]), 0);
    CHECK_EQ(s->head, PC_ITEMS + 2);
    CHECK_EQ(weft_pcond_notify(&s->c, 0), 0);
    CHECK_ERR(weft_pcond_notify(&s->c, -1), -EINVAL);
    CHECK_ERR(weft_pcond_notify(NULL, 1), -EINVAL);
    CHECK_ERR(weft_pcond_notify_all(NULL), -EINVAL);
    CHECK_ERR(weft_pcond_wait(NULL, &s->l, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_pcond_wait(&s->c, NULL, WEFT_NOWAIT), -EINVAL);
    CHECK_OK(weft_pcond_destroy(&s->c));
    CHECK_ERR(weft_pcond_destroy(&s->c), -EINVAL);
    CHECK_NO_ZOMBIES();
}

/* Waiting in a coroutine: the wait parks only it; notify from another process. */
static struct cond_shm *g_cs;
static void *cond_coro_waiter(void *arg) {
    (void)arg;
    CHECK_OK(weft_plock_acquire(&g_cs->l, WEFT_FOREVER));
    atomic_store(&g_cs->started, 1);
    while (g_cs->head == 0)
        CHECK_OK(weft_pcond_wait(&g_cs->c, &g_cs->l, weft_after(20 * WEFT_SEC)));
    CHECK_OK(weft_plock_release(&g_cs->l));
    return NULL;
}
static void cond_notifier(void *arg) {
    struct cond_shm *s = arg;
    wait_at_least(&s->started, 1);
    CHECK_OK(weft_plock_acquire(&s->l, weft_after(20 * WEFT_SEC)));
    s->head = 1;
    CHECK_GE(weft_pcond_notify_all(&s->c), 0);
    CHECK_OK(weft_plock_release(&s->l));
}
static void cond_coro_body(void) {
    static _Atomic int ticks;
    atomic_store(&ticks, 0);
    weft_coro t = spawn(ticker, &ticks);
    weft_coro w = spawn(cond_coro_waiter, NULL);
    join(w);
    CHECK_GT(atomic_load(&ticks), 0);
    atomic_store(&ticks, -1000000);
    join(t);
}
WEFT_TEST(pcond_coroutine) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_cs = test_shared_mem(sizeof *g_cs);
    CHECK_OK(weft_plock_init(&g_cs->l));
    CHECK_OK(weft_pcond_init(&g_cs->c));
    pid_t p = test_fork_child(cond_notifier, g_cs);
    run_coro_thread(cond_coro_body);
    CHECK_EQ(test_reap(p), 0);
}

/* ------------------------------------------------------------------ pbarrier */

struct bar_shm {
    weft_pbarrier b;
    _Atomic int idx_seen[5][4];
    _Atomic int started;
};
static void bar_child(void *arg) {
    struct bar_shm *s = arg;
    for (int round = 0; round < 5; round++) {
        int i = weft_pbarrier_wait(&s->b, weft_after(20 * WEFT_SEC));
        CHECK_GE(i, 0);
        CHECK_LT(i, 4);
        atomic_fetch_add(&s->idx_seen[round][i], 1);
    }
}
WEFT_TEST(pbarrier_processes) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct bar_shm *s = test_shared_mem(sizeof *s);
    CHECK_ERR(weft_pbarrier_init(s ? &s->b : NULL, 0), -EINVAL);
    CHECK_ERR(weft_pbarrier_init(NULL, 2), -EINVAL);
    CHECK_ERR(weft_pbarrier_wait(&s->b, WEFT_NOWAIT), -EINVAL);
    CHECK_OK(weft_pbarrier_init(&s->b, 4));
    pid_t kids[3];
    for (int i = 0; i < 3; i++)
        kids[i] = test_fork_child(bar_child, s);
    bar_child(s);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(test_reap(kids[i]), 0);
    for (int r = 0; r < 5; r++)
        for (int i = 0; i < 4; i++)
            CHECK_EQ(atomic_load(&s->idx_seen[r][i]), 1); /* each index once per round */
    CHECK_EQ(weft_pbarrier_waiting(&s->b), 0);
    CHECK_EQ(weft_pbarrier_broken(&s->b), 0);
    CHECK_OK(weft_pbarrier_destroy(&s->b));
    CHECK_ERR(weft_pbarrier_destroy(&s->b), -EINVAL);
    CHECK_NO_ZOMBIES();
}

static void bar_wait_expect_pipe(void *arg) {
    struct bar_shm *s = arg;
    atomic_fetch_add(&s->started, 1);
    CHECK_ERR(weft_pbarrier_wait(&s->b, weft_after(20 * WEFT_SEC)), -EPIPE);
}
WEFT_TEST(pbarrier_timeout_breaks) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct bar_shm *s = test_shared_mem(sizeof *s);
    CHECK_OK(weft_pbarrier_init(&s->b, 3));
    pid_t p = test_fork_child(bar_wait_expect_pipe, s);
    wait_at_least(&s->started, 1);
    int64_t end = weft_after(10 * WEFT_SEC);
    while (weft_pbarrier_waiting(&s->b) < 1)
        CHECK_LT(weft_now(), end);
    CHECK_ERR(weft_pbarrier_wait(&s->b, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_EQ(test_reap(p), 0);
    CHECK_EQ(weft_pbarrier_broken(&s->b), 1);
    CHECK_ERR(weft_pbarrier_wait(&s->b, WEFT_FOREVER), -EPIPE);
    CHECK_OK(weft_pbarrier_reset(&s->b));
    CHECK_EQ(weft_pbarrier_broken(&s->b), 0);
    /* abort while one waits */
    atomic_store(&s->started, 0);
    p = test_fork_child(bar_wait_expect_pipe, s);
    wait_at_least(&s->started, 1);
    while (weft_pbarrier_waiting(&s->b) < 1)
        CHECK_LT(weft_now(), end);
    CHECK_OK(weft_pbarrier_abort(&s->b));
    CHECK_EQ(test_reap(p), 0);
    CHECK_OK(weft_pbarrier_reset(&s->b));
    /* reset while one waits: that one gets -EPIPE, the barrier works after */
    atomic_store(&s->started, 0);
    p = test_fork_child(bar_wait_expect_pipe, s);
    wait_at_least(&s->started, 1);
    while (weft_pbarrier_waiting(&s->b) < 1)
        CHECK_LT(weft_now(), end);
    CHECK_OK(weft_pbarrier_reset(&s->b));
    CHECK_EQ(test_reap(p), 0);
    CHECK_EQ(weft_pbarrier_broken(&s->b), 0);
    CHECK_OK(weft_pbarrier_destroy(&s->b));
    CHECK_OK(weft_pbarrier_init(&s->b, 1));
    CHECK_EQ(weft_pbarrier_wait(&s->b, WEFT_NOWAIT), 0);
    CHECK_EQ(weft_pbarrier_wait(&s->b, WEFT_NOWAIT), 0);
    CHECK_ERR(weft_pbarrier_abort(NULL), -EINVAL);
    CHECK_ERR(weft_pbarrier_reset(NULL), -EINVAL);
    CHECK_EQ(weft_pbarrier_broken(NULL), 0);
    CHECK_ERR(weft_pbarrier_waiting(NULL), -EINVAL);
}

/* A process dies holding the barrier's internal lock: the next caller breaks the
 * barrier instead of anyone waiting forever. (White-box: the child takes the
 * internal lock directly.) */
static void bar_take_internal_and_die(void *arg) {
    struct bar_shm *s = arg;
    struct weft__pbarrier *p = (struct weft__pbarrier *)(void *)&s->b;
    CHECK_OK(weft__rmutex_lock(&p->m, WEFT_FOREVER));
    atomic_store(&s->started, 1);
    for (;;)
        pause();
}
WEFT_TEST(pbarrier_internal_owner_killed) {
    SKIP_UNLESS_ROBUST_FUTEX();
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct bar_shm *s = test_shared_mem(sizeof *s);
    CHECK_OK(weft_pbarrier_init(&s->b, 2));
    pid_t p = test_fork_child(bar_take_internal_and_die, s);
    wait_at_least(&s->started, 1);
    kill_and_reap(p);
    CHECK_ERR(weft_pbarrier_wait(&s->b, weft_after(5 * WEFT_SEC)), -EPIPE);
    CHECK_EQ(weft_pbarrier_broken(&s->b), 1);
    CHECK_OK(weft_pbarrier_reset(&s->b));
    CHECK_ERR(weft_pbarrier_wait(&s->b, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
}

/* ------------------------------------------------------------------ named primitives */

struct named_arg {
    char lock[64], sem[64], ev[64], cond[64], bar[64], rl[64];
};
static void named_child(void *arg) {
    struct named_arg *n = arg;
    weft_plock *l;
    weft_psem *s;
    weft_pevent *e;
    weft_pbarrier *b;
    CHECK_OK(weft_plock_attach(&l, n->lock));
    CHECK_OK(weft_psem_attach(&s, n->sem));
    CHECK_OK(weft_pevent_attach(&e, n->ev));
    CHECK_OK(weft_pbarrier_attach(&b, n->bar));
    CHECK_OK(weft_plock_acquire(l, weft_after(20 * WEFT_SEC)));
    CHECK_OK(weft_psem_release(s, 1));
    CHECK_OK(weft_plock_release(l));
    CHECK_OK(weft_pevent_wait(e, weft_after(20 * WEFT_SEC)));
    CHECK_GE(weft_pbarrier_wait(b, weft_after(20 * WEFT_SEC)), 0);
    CHECK_OK(weft_plock_detach(l));
    CHECK_OK(weft_psem_detach(s));
    CHECK_OK(weft_pevent_detach(e));
    CHECK_OK(weft_pbarrier_detach(b));
}
WEFT_TEST(named_primitives) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    struct named_arg n;
    name_of(n.lock, "lock");
    name_of(n.sem, "sem");
    name_of(n.ev, "ev");
    name_of(n.cond, "cond");
    name_of(n.bar, "bar");
    name_of(n.rl, "rl");
    weft_plock *l, *l2;
    weft_prlock *rl;
    weft_psem *s;
    weft_pevent *e;
    weft_pcond *c;
    weft_pbarrier *b;
    CHECK_OK(weft_plock_create_named(&l, n.lock));
    CHECK_ERR(weft_plock_create_named(&l2, n.lock), -EEXIST);
    CHECK_OK(weft_prlock_create_named(&rl, n.rl));
    CHECK_ERR(weft_psem_create_named(&s, n.sem, -1, 0), -EINVAL);
    CHECK_OK(weft_psem_create_named(&s, n.sem, 1, 1));
    CHECK_OK(weft_psem_try_acquire(s));
    CHECK_OK(weft_pevent_create_named(&e, n.ev));
    CHECK_OK(weft_pcond_create_named(&c, n.cond));
    CHECK_ERR(weft_pbarrier_create_named(&b, n.bar, 0), -EINVAL);
    CHECK_OK(weft_pbarrier_create_named(&b, n.bar, 2));
    /* Wrong kinds. */
    weft_psem *s2;
    weft_pcond *c2;
    CHECK_ERR(weft_psem_attach(&s2, n.lock), -EPROTOTYPE);
    CHECK_ERR(weft_pcond_attach(&c2, n.ev), -EPROTOTYPE);
    CHECK_ERR(weft_plock_attach(&l2, n.rl), -EPROTOTYPE);
    CHECK_ERR(weft_plock_detach((weft_plock *)(void *)rl), -EINVAL);
    /* Bad input. */
    CHECK_ERR(weft_plock_attach(NULL, n.lock), -EINVAL);
    CHECK_ERR(weft_plock_attach(&l2, NULL), -EINVAL);
    CHECK_ERR(weft_plock_create_named(&l2, "a/b"), -EINVAL);
    CHECK_ERR(weft_plock_detach(NULL), -EINVAL);

    pid_t p = test_fork_child(named_child, &n);
    CHECK_OK(weft_psem_acquire(s, weft_after(20 * WEFT_SEC))); /* the child released */
    CHECK_OK(weft_psem_release(s, 1));
    CHECK_ERR(weft_psem_release(s, 1), -EOVERFLOW); /* bounded at 1 */
    CHECK_OK(weft_pevent_set(e));
    CHECK_GE(weft_pbarrier_wait(b, weft_after(20 * WEFT_SEC)), 0);
    CHECK_EQ(test_reap(p), 0);
    /* A second mapping of the same lock in this process sees the same state. */
    CHECK_OK(weft_plock_attach(&l2, n.lock));
    CHECK_NE((void *)l2, (void *)l);
    CHECK_OK(weft_plock_acquire(l, WEFT_FOREVER));
    CHECK_EQ(weft_plock_locked(l2), 1);
    CHECK_ERR(weft_plock_try_acquire(l2), -EAGAIN);
    CHECK_OK(weft_plock_release(l));
    CHECK_EQ(weft_plock_locked(l2), 0);
    CHECK_OK(weft_plock_detach(l2));

    CHECK_OK(weft_prlock_detach(rl));
    CHECK_OK(weft_plock_detach(l));
    CHECK_OK(weft_psem_detach(s));
    CHECK_OK(weft_pevent_detach(e));
    CHECK_OK(weft_pcond_detach(c));
    CHECK_OK(weft_pbarrier_detach(b));
    const char *all[] = {n.lock, n.sem, n.ev, n.cond, n.bar, n.rl};
    for (int i = 0; i < 6; i++)
        CHECK_OK(weft_shm_unlink(all[i]));
    CHECK_ERR(weft_plock_attach(&l2, n.lock), -ENOENT);
    CHECK_NO_ZOMBIES();
}

/* Out of memory in a coroutine's wait: -ENOMEM, no leak, the lock still works. */
static weft_plock *g_oom;
static void *oom_coro(void *arg) {
    (void)arg;
    test_alloc_fail_after(0);
    int r = weft_plock_acquire(g_oom, weft_after(50 * WEFT_MSEC));
    test_alloc_fail_after(-1);
    return (void *)(intptr_t)r;
}
static void oom_body(void) {
    weft_coro c = spawn(oom_coro, NULL);
    CHECK_EQ(join(c), -ENOMEM);
}
static void oom_hold(void *arg) {
    struct park_shm *s = arg;
    hold_until_told(s);
}
WEFT_TEST(plock_wait_out_of_memory) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_park = test_shared_mem(sizeof *g_park);
    g_oom = &g_park->l;
    CHECK_OK(weft_plock_init(g_oom));
    CHECK_OK(pipe(g_park->go));
    CHECK_OK(pipe(g_park->ready));
    pid_t p = test_fork_child(oom_hold, g_park);
    pipe_get(g_park->ready[0]);
    run_coro_thread(oom_body);
    pipe_put(g_park->go[1]);
    CHECK_EQ(test_reap(p), 0);
    CHECK_OK(weft_plock_acquire(g_oom, weft_after(5 * WEFT_SEC)));
    CHECK_OK(weft_plock_release(g_oom));
}

/* SHARED-stack coroutines wait on a process lock, a semaphore and an event that
 * another process releases (their waiters live off the copied stack). */
struct shared_shm {
    weft_plock l;
    weft_psem s;
    weft_pevent e;
    int go[2];
    _Atomic int waiting;
};
static struct shared_shm *g_sh;
static void *shared_coro(void *arg) {
    (void)arg;
    char pad[2000]; /* a stack worth copying aside */
    memset(pad, 1, sizeof pad);
    atomic_fetch_add(&g_sh->waiting, 1);
    CHECK_OK(weft_plock_acquire(&g_sh->l, weft_after(20 * WEFT_SEC)));
    CHECK_OK(weft_plock_release(&g_sh->l));
    CHECK_OK(weft_psem_acquire(&g_sh->s, weft_after(20 * WEFT_SEC)));
    CHECK_OK(weft_pevent_wait(&g_sh->e, weft_after(20 * WEFT_SEC)));
    return (void *)(intptr_t)pad[1999];
}
static void shared_stack_body(void) {
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    weft_coro c[4];
    for (int i = 0; i < 4; i++)
        CHECK_OK(weft_spawn(&c[i], shared_coro, NULL, &o));
    for (int i = 0; i < 4; i++)
        CHECK_EQ(join(c[i]), 1);
}
static void shared_releaser(void *arg) {
    struct shared_shm *s = arg;
    CHECK_OK(weft_plock_acquire(&s->l, WEFT_FOREVER));
    pipe_put(s->go[1]);
    wait_at_least(&s->waiting, 4);
    usleep(20000);
    CHECK_OK(weft_plock_release(&s->l));
    usleep(10000);
    CHECK_OK(weft_psem_release(&s->s, 4));
    usleep(10000);
    CHECK_OK(weft_pevent_set(&s->e));
}
WEFT_TEST(shared_stack_coroutines) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    g_sh = test_shared_mem(sizeof *g_sh);
    CHECK_OK(weft_plock_init(&g_sh->l));
    CHECK_OK(weft_psem_init(&g_sh->s, 0, 0));
    CHECK_OK(weft_pevent_init(&g_sh->e));
    CHECK_OK(pipe(g_sh->go));
    pid_t p = test_fork_child(shared_releaser, g_sh);
    pipe_get(g_sh->go[0]);
    run_coro_thread(shared_stack_body);
    CHECK_EQ(test_reap(p), 0);
    CHECK_EQ(weft_psem_value(&g_sh->s), 0);
    CHECK_NO_ZOMBIES();
}

/* 50 WEFT_STACK_SHARED coroutines wait on one process-shared event (each
 * through a helper thread that ends its park) with canaries on their
 * stacks; the main coroutine sets the event once all of them wait. */
#define PSH_N 50
static weft_pevent psh_ev;
static atomic_int psh_waiting, psh_ok;
static void *psh_waiter(void *arg) {
    int id = (int)(intptr_t)arg;
    volatile unsigned char canary[512];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 3 + i);
    atomic_fetch_add(&psh_waiting, 1);
    int r = weft_pevent_wait(&psh_ev, weft_after(30 * WEFT_SEC));
    CHECK_EQ(r, 0);
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 3 + i));
    atomic_fetch_add(&psh_ok, 1);
    return NULL;
}
static void body_pevent_shared(void) {
    CHECK_OK(weft_pevent_init(&psh_ev));
    weft_coro c[PSH_N];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < PSH_N; i++)
        CHECK_OK(weft_spawn(&c[i], psh_waiter, (void *)(intptr_t)i, &o));
    while (atomic_load(&psh_waiting) < PSH_N)
        CHECK_OK(weft_yield());
    CHECK_OK(weft_yield());
    CHECK_OK(weft_pevent_set(&psh_ev));
    CHECK_OK(weft_joinall(c, PSH_N, weft_after(30 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&psh_ok), PSH_N);
    CHECK_OK(weft_pevent_destroy(&psh_ev));
}
WEFT_TEST(pevent_shared_stack_waiters) {
    run_plain_in_thread(body_pevent_shared);
}

WEFT_MAIN()

/* Every *_detach on what no *_create_named / *_attach of this process
 * returned: a heap object, one at the start of a MAP_SHARED page whose
 * previous page is unmapped, one inside an arena, one initialised in an
 * anonymous shared value, NULL, and a detached one. Each is -EINVAL, and
 * nothing is read before the object (the header used to be trusted). */
static int d_plock(void *p) {
    return weft_plock_detach(p);
}
static int d_prlock(void *p) {
    return weft_prlock_detach(p);
}
static int d_psem(void *p) {
    return weft_psem_detach(p);
}
static int d_pevent(void *p) {
    return weft_pevent_detach(p);
}
static int d_pcond(void *p) {
    return weft_pcond_detach(p);
}
static int d_pbarrier(void *p) {
    return weft_pbarrier_detach(p);
}
static int d_shm(void *p) {
    return weft_shm_detach(p);
}
static int c_plock(void **o, const char *n) {
    return weft_plock_create_named((weft_plock **)o, n);
}
static int c_prlock(void **o, const char *n) {
    return weft_prlock_create_named((weft_prlock **)o, n);
}
static int c_psem(void **o, const char *n) {
    return weft_psem_create_named((weft_psem **)o, n, 1, 0);
}
static int c_pevent(void **o, const char *n) {
    return weft_pevent_create_named((weft_pevent **)o, n);
}
static int c_pcond(void **o, const char *n) {
    return weft_pcond_create_named((weft_pcond **)o, n);
}
static int c_pbarrier(void **o, const char *n) {
    return weft_pbarrier_create_named((weft_pbarrier **)o, n, 2);
}
static int c_shm(void **o, const char *n) {
    return weft_shm_create(o, n, 256);
}
static int a_plock(void **o, const char *n) {
    return weft_plock_attach((weft_plock **)o, n);
}
static int a_prlock(void **o, const char *n) {
    return weft_prlock_attach((weft_prlock **)o, n);
}
static int a_psem(void **o, const char *n) {
    return weft_psem_attach((weft_psem **)o, n);
}
static int a_pevent(void **o, const char *n) {
    return weft_pevent_attach((weft_pevent **)o, n);
}
static int a_pcond(void **o, const char *n) {
    return weft_pcond_attach((weft_pcond **)o, n);
}
static int a_pbarrier(void **o, const char *n) {
    return weft_pbarrier_attach((weft_pbarrier **)o, n);
}
static int a_shm(void **o, const char *n) {
    return weft_shm_attach(o, n, NULL);
}

static const struct named_ops {
    const char *what;
    int (*detach)(void *);
    int (*create)(void **, const char *);
    int (*attach)(void **, const char *);
} named_ops[] = {
    {"plock", d_plock, c_plock, a_plock}, {"prlock", d_prlock, c_prlock, a_prlock},
    {"psem", d_psem, c_psem, a_psem},     {"pevent", d_pevent, c_pevent, a_pevent},
    {"pcond", d_pcond, c_pcond, a_pcond}, {"pbarrier", d_pbarrier, c_pbarrier, a_pbarrier},
    {"shm", d_shm, c_shm, a_shm},
};
#define N_NAMED_OPS (sizeof named_ops / sizeof named_ops[0])

struct detach_fork_arg {
    const struct named_ops *op;
    void *created;
    char name[64];
};
static void detach_fork_child(void *arg) {
    struct detach_fork_arg *a = arg;
    /* The child inherited the mapping and may detach it, once. */
    CHECK_OK(a->op->detach(a->created));
    CHECK_ERR(a->op->detach(a->created), -EINVAL);
    void *p;
    CHECK_OK(a->op->attach(&p, a->name));
    CHECK_OK(a->op->detach(p));
    CHECK_ERR(a->op->detach(p), -EINVAL);
}

WEFT_TEST(detach_not_named) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    weft_shm_arena *arena;
    CHECK_OK(weft_shm_arena_create(&arena, 4096));
    for (size_t i = 0; i < N_NAMED_OPS; i++) {
        const struct named_ops *op = &named_ops[i];
        /* (a) heap. */
        void *heap = calloc(1, 256);
        CHECK(heap);
        CHECK_ERR(op->detach(heap), -EINVAL);
        free(heap);
        /* (b) the start of a MAP_SHARED page, the page before unmapped. */
        char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        CHECK(two != MAP_FAILED);
        CHECK_OK(munmap(two, pg));
        weft_plock_init((weft_plock *)(void *)(two + pg));
        CHECK_ERR(op->detach(two + pg), -EINVAL);
        CHECK_OK(munmap(two + pg, pg));
        /* (c) inside an arena. */
        void *blk = weft_shm_alloc(arena, 256);
        CHECK(blk);
        CHECK_ERR(op->detach(blk), -EINVAL);
        weft_shm_free(arena, blk);
        /* (d) made by the anonymous constructor: a lock in a shared value. */
        weft_shm_value *v;
        CHECK_OK(weft_shm_value_create(&v, NULL, 256, WEFT_SHM_LOCKED));
        CHECK_ERR(op->detach(weft_shm_value_data(v)), -EINVAL);
        CHECK_ERR(op->detach(weft_shm_value_lock(v)), -EINVAL);
        CHECK_OK(weft_shm_value_destroy(v));
        /* A stack object, and one inside a named object of another kind. */
        char stack[256] = {0};
        CHECK_ERR(op->detach(stack + 64), -EINVAL);
        /* (f) NULL. */
        CHECK_ERR(op->detach(NULL), -EINVAL);
        /* (e) the real thing works once, across fork too. */
        char name[64];
        snprintf(name, sizeof name, "/weft_test_psync_%d_det_%s", (int)getpid(), op->what);
        void *obj;
        CHECK_OK(op->create(&obj, name));
        CHECK_ERR(op->detach((char *)obj + 64), -EINVAL);
        CHECK_ERR(named_ops[(i + 1) % N_NAMED_OPS].detach(obj), -EINVAL); /* other kind */
        struct detach_fork_arg *fa = test_shared_mem(sizeof *fa);
        fa->op = op;
        fa->created = obj;
        snprintf(fa->name, sizeof fa->name, "%s", name);
        CHECK_EQ(test_reap(test_fork_child(detach_fork_child, fa)), 0);
        CHECK_OK(op->detach(obj));
        CHECK_ERR(op->detach(obj), -EINVAL);
        CHECK_OK(op->attach(&obj, name));
        CHECK_OK(op->detach(obj));
        CHECK_ERR(op->detach(obj), -EINVAL);
        CHECK_OK(weft_shm_unlink(name));
        munmap(fa, sizeof *fa);
    }
    CHECK_OK(weft_shm_arena_destroy(arena));
}
