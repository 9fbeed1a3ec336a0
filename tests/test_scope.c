/* Timeout scopes (weft_timeout_enter / weft_timeout_leave): every wait inside a scope
 * ends at its deadline with -ETIMEDOUT, the scope is not sticky, scopes nest (earliest
 * wins), belong to the coroutine that entered them, and reach every kind of wait: parks
 * of coroutines and plain threads, process-shared futex waits, descriptor waits.
 *
 * Waits are on objects nobody will ever signal, so only the scope can end them; each
 * check asserts the answer and that the clock had reached the scope's deadline. */
#include "harness.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#define SHORT (20 * WEFT_MSEC)

static weft_event never; /* never set */

/* Enters a scope of SHORT, waits on `never` forever; the wait must end by the scope. */
static void cut_once(void) {
    weft_timeout t;
    int64_t dl = weft_after(SHORT);
    CHECK_OK(weft_timeout_enter(&t, dl));
    CHECK_EQ(weft_timeout_deadline(), dl);
    CHECK_ERR(weft_event_wait(&never, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_GE(weft_now(), dl);
    /* Past the deadline every wait in the scope fails at once. */
    CHECK_ERR(weft_event_wait(&never, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_ERR(weft_timeout_leave(&t), -ETIMEDOUT);
    CHECK_EQ(weft_timeout_deadline(), WEFT_FOREVER);
}

/* Not sticky: after the scope, waits are the caller's own again. */
static weft_event later;
static void *setter(void *arg) {
    (void)arg;
    CHECK_OK(weft_yield());
    CHECK_OK(weft_event_set(&later));
    return NULL;
}

static void *cut_coro(void *arg) {
    (void)arg;
    cut_once();
    weft_coro s;
    CHECK_OK(weft_spawn(&s, setter, NULL, NULL));
    CHECK_OK(weft_event_wait(&later, weft_after(10 * WEFT_SEC)));
    CHECK_OK(weft_join(s, WEFT_FOREVER, NULL));
    /* A deadline of its own still times out as before. */
    CHECK_ERR(weft_event_wait(&never, weft_after(WEFT_MSEC)), -ETIMEDOUT);
    return NULL;
}

WEFT_TEST(cuts_a_coroutine_wait_not_sticky) {
    CHECK_OK(weft_event_init(&never));
    CHECK_OK(weft_event_init(&later));
    weft_coro c;
    CHECK_OK(weft_spawn(&c, cut_coro, NULL, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_OK(weft_event_destroy(&later));
}

static void plain_body(void) {
    cut_once();
    /* weft_sleep is cut too, and reports it; a sleep that ends first returns 0. */
    weft_timeout t;
    CHECK_OK(weft_timeout_enter(&t, weft_after(SHORT)));
    CHECK_OK(weft_sleep(WEFT_MSEC));
    CHECK_ERR(weft_sleep(3600 * WEFT_SEC), -ETIMEDOUT);
    CHECK_ERR(weft_timeout_leave(&t), -ETIMEDOUT);
    CHECK_OK(weft_sleep(WEFT_MSEC));
}

WEFT_TEST(cuts_a_plain_thread_wait) {
    CHECK_OK(weft_event_init(&never));
    run_plain_in_thread(plain_body);
}

/* The main coroutine shares its thread's scopes. */
WEFT_TEST(cuts_the_main_coroutine) {
    CHECK_OK(weft_event_init(&never));
    weft_coro c;
    CHECK_OK(weft_spawn(&c, setter, NULL, NULL)); /* the thread has a scheduler now */
    CHECK_OK(weft_event_init(&later));
    cut_once();
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
}

/* ---------------------------------------------------------------- nesting */

static void *nest_coro(void *arg) {
    (void)arg;
    weft_timeout outer, inner;
    /* Inner earlier: the inner scope fires; leaving it restores the outer's hour. */
    int64_t hour = weft_after(3600 * WEFT_SEC);
    CHECK_OK(weft_timeout_enter(&outer, hour));
    int64_t dl = weft_after(SHORT);
    CHECK_OK(weft_timeout_enter(&inner, dl));
    CHECK_EQ(weft_timeout_deadline(), dl);
    CHECK_ERR(weft_event_wait(&never, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_ERR(weft_timeout_leave(&inner), -ETIMEDOUT);
    CHECK_EQ(weft_timeout_deadline(), hour);
    CHECK_ERR(weft_event_wait(&never, weft_after(WEFT_MSEC)), -ETIMEDOUT); /* its own */
    CHECK_OK(weft_timeout_leave(&outer));

    /* Outer earlier: the outer deadline cuts the wait inside the inner scope; the inner
     * one did not fire, the outer one did. */
    dl = weft_after(SHORT);
    CHECK_OK(weft_timeout_enter(&outer, dl));
    CHECK_OK(weft_timeout_enter(&inner, hour));
    CHECK_EQ(weft_timeout_deadline(), dl);
    CHECK_ERR(weft_event_wait(&never, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_OK(weft_timeout_leave(&inner));
    CHECK_EQ(weft_timeout_deadline(), dl);
    CHECK_ERR(weft_timeout_leave(&outer), -ETIMEDOUT);

    /* A wait's own earlier deadline is not the scope's: the scope did not fire. */
    CHECK_OK(weft_timeout_enter(&outer, hour));
    CHECK_ERR(weft_event_wait(&never, weft_after(WEFT_MSEC)), -ETIMEDOUT);
    CHECK_OK(weft_timeout_leave(&outer));

    /* A scope whose deadline passes while no wait is cut has not fired. */
    CHECK_OK(weft_timeout_enter(&outer, weft_after(WEFT_MSEC)));
    int64_t end = weft_after(2 * WEFT_MSEC);
    while (weft_now() < end) {
    }
    CHECK_OK(weft_timeout_leave(&outer));
    /* WEFT_FOREVER: a scope without a limit. */
    CHECK_OK(weft_timeout_enter(&outer, WEFT_FOREVER));
    CHECK_EQ(weft_timeout_deadline(), WEFT_FOREVER);
    CHECK_ERR(weft_event_wait(&never, weft_after(WEFT_MSEC)), -ETIMEDOUT);
    CHECK_OK(weft_timeout_leave(&outer));
    return NULL;
}

WEFT_TEST(nesting_earliest_wins) {
    CHECK_OK(weft_event_init(&never));
    weft_coro c;
    CHECK_OK(weft_spawn(&c, nest_coro, NULL, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
}

/* ---------------------------------------------------------------- misuse */

static weft_timeout foreign;
static void *leave_foreign(void *arg) {
    (void)arg;
    CHECK_ERR(weft_timeout_leave(&foreign), -EPERM);
    return NULL;
}

WEFT_TEST(misuse_errors) {
    CHECK_ERR(weft_timeout_enter(NULL, WEFT_FOREVER), -EINVAL);
    CHECK_ERR(weft_timeout_leave(NULL), -EINVAL);
    weft_timeout a, b;
    memset(&a, 0, sizeof a);
    CHECK_ERR(weft_timeout_leave(&a), -EINVAL); /* never entered */
    CHECK_OK(weft_timeout_enter(&a, WEFT_FOREVER));
    CHECK_OK(weft_timeout_enter(&b, weft_after(WEFT_SEC)));
    CHECK_ERR(weft_timeout_leave(&a), -EPERM); /* not the innermost */
    CHECK_OK(weft_timeout_leave(&b));
    CHECK_ERR(weft_timeout_leave(&b), -EINVAL); /* left already */
    CHECK_OK(weft_timeout_leave(&a));
    /* Another coroutine cannot leave this one's scope. */
    CHECK_OK(weft_timeout_enter(&foreign, WEFT_FOREVER));
    weft_coro c;
    CHECK_OK(weft_spawn(&c, leave_foreign, NULL, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_OK(weft_timeout_leave(&foreign));
}

/* ---------------------------------------------------------------- ownership */

/* A coroutine's expired scope does not touch the others of its thread, and
 * cancellation still wins over a scope. */
static weft_event entered, go;
static void *expired_holder(void *arg) {
    (void)arg;
    weft_timeout t;
    CHECK_OK(weft_timeout_enter(&t, WEFT_NOWAIT)); /* already past */
    CHECK_OK(weft_event_set(&entered));
    CHECK_ERR(weft_event_wait(&go, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_OK(weft_yield()); /* yields still work: they do not wait */
    CHECK_ERR(weft_timeout_leave(&t), -ETIMEDOUT);
    return NULL;
}
static void *innocent(void *arg) {
    (void)arg;
    CHECK_OK(weft_event_wait(&entered, weft_after(10 * WEFT_SEC)));
    CHECK_EQ(weft_timeout_deadline(), WEFT_FOREVER);
    CHECK_OK(weft_event_wait(&go, weft_after(10 * WEFT_SEC)));
    return NULL;
}
static void *cancelled_in_scope(void *arg) {
    (void)arg;
    weft_timeout t;
    CHECK_OK(weft_timeout_enter(&t, weft_after(3600 * WEFT_SEC)));
    CHECK_ERR(weft_event_wait(&never, WEFT_FOREVER), -ECANCELED);
    CHECK_OK(weft_timeout_leave(&t));
    return NULL;
}

WEFT_TEST(scopes_belong_to_their_coroutine) {
    CHECK_OK(weft_event_init(&never));
    CHECK_OK(weft_event_init(&entered));
    CHECK_OK(weft_event_init(&go));
    weft_coro a, b, c;
    CHECK_OK(weft_spawn(&b, innocent, NULL, NULL));
    CHECK_OK(weft_spawn(&a, expired_holder, NULL, NULL));
    CHECK_OK(weft_join(a, WEFT_FOREVER, NULL));
    CHECK_EQ(weft_timeout_deadline(), WEFT_FOREVER); /* main's untouched */
    CHECK_OK(weft_event_set(&go));
    CHECK_OK(weft_join(b, WEFT_FOREVER, NULL));
    CHECK_OK(weft_spawn(&c, cancelled_in_scope, NULL, NULL));
    CHECK_OK(weft_yield());
    CHECK_OK(weft_cancel(c));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
}

/* A coroutine that ends inside a scope takes it along: a new coroutine on the recycled
 * control block starts with none. */
static void *leaves_scope_open(void *arg) {
    static weft_timeout t;
    (void)arg;
    CHECK_OK(weft_timeout_enter(&t, WEFT_NOWAIT));
    return NULL;
}
static void *fresh(void *arg) {
    (void)arg;
    CHECK_EQ(weft_timeout_deadline(), WEFT_FOREVER);
    CHECK_OK(weft_sleep(WEFT_MSEC));
    return NULL;
}
/* Its links run after its scopes ended: a wait there is not cut. */
static int link_sleep_result = 1;
static void link_sleeps(weft_coro c, void *result, int status, void *ud) {
    (void)c;
    (void)result;
    (void)status;
    (void)ud;
    link_sleep_result = weft_sleep(WEFT_MSEC);
}
WEFT_TEST(links_run_outside_the_ended_scopes) {
    weft_coro c;
    CHECK_OK(weft_spawn(&c, leaves_scope_open, NULL, NULL));
    CHECK_OK(weft_coro_link(c, WEFT_LINK_ALL, link_sleeps, NULL, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_EQ(link_sleep_result, 0);
}

WEFT_TEST(coroutine_end_drops_its_scopes) {
    for (int i = 0; i < 8; i++) {
        weft_coro c;
        CHECK_OK(weft_spawn(&c, i % 2 ? fresh : leaves_scope_open, NULL, NULL));
        CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    }
}

/* ---------------------------------------------------------------- every kind of wait */

/* One past scope around each kind of blocking call, from a coroutine and from a plain
 * thread: each fails with -ETIMEDOUT, and the same call works after the scope. */
static weft_lock held;
static weft_chan *chan;
static weft_queue *queue;
static weft_sem sem0;
static weft_cond cond;
static weft_lock condlk;
static weft_psem *psem;
static int pfd[2];
static weft_pool *pool;
static weft_event pool_gate;

static int gate_task(void *arg, void **res) {
    (void)arg;
    (void)res;
    return weft_event_wait(&pool_gate, weft_after(30 * WEFT_SEC));
}

static void every_kind(void) {
    weft_timeout t;
    int v = 0;
    char b[4];
    CHECK_OK(weft_timeout_enter(&t, weft_after(SHORT)));
    CHECK_ERR(weft_lock_acquire(&held, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_ERR(weft_chan_recv(chan, &v, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_ERR(weft_queue_get(queue, &v, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_ERR(weft_sem_acquire(&sem0, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_OK(weft_lock_acquire(&condlk, WEFT_FOREVER)); /* free: no wait */
    CHECK_ERR(weft_cond_wait(&cond, &condlk, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_OK(weft_lock_release(&condlk)); /* held again after the cut wait */
    CHECK_ERR(weft_psem_acquire(psem, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_ERR(weft_fd_wait(pfd[0], WEFT_READABLE, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_ERR(weft_read(pfd[0], b, 1, WEFT_FOREVER), -ETIMEDOUT);
    weft_waitable ws[2] = {WEFT_WAIT_EVENT(&pool_gate), WEFT_WAIT_FD(pfd[0], WEFT_READABLE)};
    CHECK_ERR(weft_wait_any(ws, 2, WEFT_FOREVER), -ETIMEDOUT);
    weft_future *f;
    CHECK_OK(weft_pool_submit(pool, gate_task, NULL, &f));
    CHECK_ERR(weft_future_result(f, WEFT_FOREVER, NULL), -ETIMEDOUT);
    CHECK_ERR(weft_futures_wait(&f, 1, WEFT_WAIT_ALL, WEFT_FOREVER), -ETIMEDOUT);
    CHECK_GE(weft_now(), weft_timeout_deadline());
    CHECK_ERR(weft_timeout_leave(&t), -ETIMEDOUT);
    /* The same waits, after the scope, with deadlines of their own. */
    CHECK_ERR(weft_lock_acquire(&held, weft_after(WEFT_MSEC)), -ETIMEDOUT);
    CHECK_ERR(weft_psem_acquire(psem, weft_after(WEFT_MSEC)), -ETIMEDOUT);
    CHECK_OK(weft_event_set(&pool_gate));
    CHECK_OK(weft_future_result(f, weft_after(30 * WEFT_SEC), NULL));
    CHECK_OK(weft_event_clear(&pool_gate));
    weft_future_release(f);
    CHECK_EQ(write(pfd[1], "x", 1), 1);
    CHECK_EQ(weft_read(pfd[0], b, 1, weft_after(10 * WEFT_SEC)), 1);
}

static void *every_kind_coro(void *arg) {
    (void)arg;
    every_kind();
    return NULL;
}
static void every_kind_in_coro(void) {
    weft_coro c;
    CHECK_OK(weft_spawn(&c, every_kind_coro, NULL, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
}

static void *hold_lock(void *arg) {
    weft_event *done = arg;
    CHECK_OK(weft_lock_acquire(&held, WEFT_FOREVER));
    CHECK_OK(weft_event_set(&entered));
    CHECK_OK(weft_event_wait(done, WEFT_FOREVER));
    CHECK_OK(weft_lock_release(&held));
    return NULL;
}

WEFT_TEST(every_kind_of_wait) {
    CHECK_OK(weft_event_init(&entered));
    weft_event done;
    CHECK_OK(weft_event_init(&done));
    CHECK_OK(weft_event_init(&pool_gate));
    CHECK_OK(weft_lock_init(&held));
    pthread_t holder;
    CHECK_EQ(pthread_create(&holder, NULL, hold_lock, &done), 0);
    CHECK_OK(weft_event_wait(&entered, weft_after(10 * WEFT_SEC)));
    CHECK_OK(weft_chan_create(&chan, sizeof(int), 0));
    CHECK_OK(weft_queue_create(&queue, WEFT_QUEUE_FIFO, sizeof(int), 4));
    CHECK_OK(weft_sem_init(&sem0, 0, 0));
    CHECK_OK(weft_cond_init(&cond));
    CHECK_OK(weft_lock_init(&condlk));
    psem = test_shared_mem(sizeof *psem);
    CHECK_OK(weft_psem_init(psem, 0, 0));
    CHECK_EQ(pipe2(pfd, O_NONBLOCK), 0);
    CHECK_OK(weft_pool_create(&pool, 1));

    run_plain_in_thread(every_kind);
    run_plain_in_thread(every_kind_in_coro);
    every_kind_in_coro(); /* and on this thread, whose main coroutine has a scheduler */
    every_kind();

    CHECK_OK(weft_event_set(&done));
    CHECK_EQ(pthread_join(holder, NULL), 0);
    CHECK_OK(weft_pool_shutdown(pool, 1, 0));
    CHECK_OK(weft_pool_destroy(pool));
    close(pfd[0]);
    close(pfd[1]);
    CHECK_OK(weft_chan_destroy(chan));
    CHECK_OK(weft_queue_destroy(queue));
}

WEFT_MAIN()
