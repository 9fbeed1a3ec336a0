/* Deadlines: one rule for every blocking call of weft.h. WEFT_FOREVER (-1)
 * waits forever; every other value at or before now (0, -2, -1000,
 * INT64_MIN, weft_now() - 1) is already past: the call does not wait.
 *
 * The table below has one row per public function that takes an
 * `int64_t deadline`; header_lists_every_row checks it against weft.h, so
 * a new blocking function without a row fails here. Each row sets up a
 * state in which the call would have to wait, makes it with each past
 * deadline under a watchdog (a hang fails the case with the function's
 * name), checks the documented answer (-ETIMEDOUT; 0 for
 * weft_sleep_until and weft_http_server_stop, which stop waiting at the
 * deadline by contract) and undoes the state. Every row runs from a plain
 * thread (a fresh pthread without a scheduler) and from a coroutine. */
#include "harness.h"

#include "pdict/pbox.h" /* the shared dict's and list's lock, held by a helper */

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/mman.h>
#include <unistd.h>

/* WEFT_TEST_TIMEOUT(from_plain_threads, 120) */
/* WEFT_TEST_TIMEOUT(from_coroutines, 120) */

typedef struct {
    const char *name; /* the function, as declared in weft.h */
    int expect;       /* its answer for a deadline already past */
    void (*setup)(void);
    long (*call)(int64_t dl);
    void (*teardown)(void);
} dl_row;

/* ---- state shared by the rows (one row at a time) ---------------------- */

static weft_event gate;  /* what blocked helpers wait for; set by teardowns */
static weft_event ready; /* set by a helper once it holds what it must */
static weft_coro co1;
static weft_chan *ch;
static int fds[2];
static weft_lock lk;
static weft_rlock rlk;
static weft_cond cv;
static weft_sem sem;
static weft_event ev;
static weft_barrier bar;
static weft_waitgroup wg;
static weft_thread *thr;
static weft_thread_obj tobj;
static weft_queue *q;
static weft_pool *pool;
static weft_future *fut[64];
static int nfut;
static weft_as_completed_iter it;
static weft_proc *proc;
static weft_proc_obj pobj;
static weft_plock plk;
static weft_prlock prlk;
static weft_psem psem;
static weft_pevent pev;
static weft_pcond pcv;
static weft_pbarrier pbar;
static char shm_name[64];
static weft_pqueue *pq;
static weft_pipe *pp0, *pp1;
static weft_ppool *ppool;
static weft_ppool_iter *ppit;
static int ptask_block = -1;
static int lfd = -1;   /* a listener with nothing to accept */
static int filler[16]; /* the connections that filled full_lfd's queue */
static int nfiller;
static struct sockaddr_in laddr;
static int cfd = -1; /* the socket a connect row uses */
static weft_http_server *srv;

static void gate_init(void) {
    CHECK_OK(weft_event_init(&gate));
    CHECK_OK(weft_event_init(&ready));
}

/* ---- helpers ----------------------------------------------------------- */

static void *wait_gate(void *arg) {
    (void)arg;
    CHECK_OK(weft_event_wait(&gate, WEFT_FOREVER));
    return NULL;
}

/* A thread that takes a lock with acquire(), reports it, holds it until
 * the gate opens, then gives it back with release(). */
typedef struct {
    int (*acquire)(void);
    int (*release)(void);
} holder_ops;
static holder_ops hops;

static void *holder(void *arg) {
    (void)arg;
    CHECK_OK(hops.acquire());
    CHECK_OK(weft_event_set(&ready));
    CHECK_OK(weft_event_wait(&gate, WEFT_FOREVER));
    CHECK_OK(hops.release());
    return NULL;
}

static void start_holder(int (*acquire)(void), int (*release)(void)) {
    hops = (holder_ops){acquire, release};
    CHECK_OK(weft_thread_start(&thr, holder, NULL, NULL));
    CHECK_OK(weft_event_wait(&ready, WEFT_FOREVER));
}

static void stop_thread(void) {
    CHECK_OK(weft_event_set(&gate));
    CHECK_OK(weft_thread_join(thr, WEFT_FOREVER, NULL));
    thr = NULL;
}

static void nonblocking_pipe(void) {
    CHECK_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
}
static void nonblocking_socketpair(void) {
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
}
/* Fills fds[1] until a write would block. */
static void fill_fd(void) {
    static char junk[65536];
    while (write(fds[1], junk, sizeof junk) > 0) {
    }
    while (write(fds[1], junk, 1) > 0) {
    }
    CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
}
static void close_fds(void) {
    close(fds[0]);
    close(fds[1]);
}

static int task_gate(void *arg, void **result) {
    (void)arg;
    (void)result;
    return weft_event_wait(&gate, WEFT_FOREVER);
}

static __attribute__((noreturn)) void pause_forever(void) {
    for (;;)
        pause();
}
static int ptask_pause(const void *in, size_t len, weft_bytes *out) {
    (void)in;
    (void)len;
    (void)out;
    pause_forever();
}

static int proc_pause(void *arg) {
    (void)arg;
    pause_forever();
}
static int pobj_run(weft_proc_obj *self) {
    (void)self;
    pause_forever();
}
static void *tobj_run(weft_thread_obj *self) {
    (void)self;
    return wait_gate(NULL);
}

/* A TCP listener on 127.0.0.1 with backlog 0 whose accept queue is full:
 * further connection attempts stay in progress (the kernel drops their
 * SYNs while the queue is full, and nobody ever accepts). Made once per
 * process: filled with connects until one has not completed after 1 s. */
static int full_lfd = -1;
static struct sockaddr_in full_addr;
static void full_listener(void) {
    if (full_lfd < 0) {
        full_lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CHECK_GE(full_lfd, 0);
        full_addr =
            (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        CHECK_EQ(bind(full_lfd, (struct sockaddr *)&full_addr, sizeof full_addr), 0);
        socklen_t len = sizeof full_addr;
        CHECK_EQ(getsockname(full_lfd, (struct sockaddr *)&full_addr, &len), 0);
        CHECK_EQ(listen(full_lfd, 0), 0);
        for (nfiller = 0; nfiller < 16;) {
            int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            CHECK_GE(s, 0);
            filler[nfiller++] = s;
            if (connect(s, (struct sockaddr *)&full_addr, sizeof full_addr) == 0)
                continue;
            CHECK_EQ(errno, EINPROGRESS);
            struct pollfd p = {.fd = s, .events = POLLOUT};
            if (poll(&p, 1, 1000) == 0)
                break; /* this one is stuck: the queue is full */
        }
        CHECK_LT(nfiller, 16);
    }
    laddr = full_addr;
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK_GE(cfd, 0);
}
static void close_connector(void) {
    close(cfd);
    cfd = -1;
}
/* A non-blocking listener with no connection waiting. */
static void idle_listener(void) {
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK_GE(lfd, 0);
    laddr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(lfd, (struct sockaddr *)&laddr, sizeof laddr), 0);
    CHECK_EQ(listen(lfd, 16), 0);
}
static void close_listener(void) {
    close(lfd);
    lfd = -1;
}

/* The default pool with every worker busy, so a lookup stays queued. */
static void busy_default_pool(void) {
    weft_pool *dp;
    CHECK_OK(weft_pool_default(&dp));
    nfut = weft_pool_size(dp);
    CHECK_LE(nfut, 64);
    for (int i = 0; i < nfut; i++)
        CHECK_OK(weft_pool_submit(dp, task_gate, NULL, &fut[i]));
}
static void release_futures(void) {
    CHECK_OK(weft_event_set(&gate));
    for (int i = 0; i < nfut; i++) {
        CHECK_EQ(weft_future_result(fut[i], WEFT_FOREVER, NULL), 0);
        weft_future_release(fut[i]);
    }
    nfut = 0;
}

/* ---- the rows ---------------------------------------------------------- */

/* Coroutines */
static void s_coro(void) {
    CHECK_OK(weft_spawn(&co1, wait_gate, NULL, NULL));
}
static void t_coro(void) {
    CHECK_OK(weft_event_set(&gate));
    CHECK_OK(weft_join(co1, WEFT_FOREVER, NULL));
}
static long c_join(int64_t dl) {
    return weft_join(co1, dl, NULL);
}
/* A worker group with one coroutine that waits for the gate. */
static weft_group *grp;
static void s_group(void) {
    CHECK_OK(weft_group_create(&grp, &(weft_group_opts){.threads = 2}));
    CHECK_OK(weft_group_spawn(grp, NULL, wait_gate, NULL, &(weft_coro_opts){.detached = 1}));
}
static void t_group(void) {
    CHECK_OK(weft_event_set(&gate));
    CHECK_OK(weft_group_destroy(grp));
}
static long c_group_wait(int64_t dl) {
    return weft_group_wait(grp, dl);
}
static long c_joinall(int64_t dl) {
    return weft_joinall(&co1, 1, dl, NULL);
}
static long c_sleep_until(int64_t dl) {
    return weft_sleep_until(dl);
}
/* killall: the coroutine is cancelled but has not run to its end yet. */
static void *wait_sleeping(void *arg) {
    (void)arg;
    CHECK_ERR(weft_sleep(3600 * WEFT_SEC), -ECANCELED);
    return NULL;
}
static void s_coro_sleeping(void) {
    CHECK_OK(weft_spawn(&co1, wait_sleeping, NULL, NULL));
    CHECK_OK(weft_yield());
}
static void t_coro_cancelled(void) {
    CHECK_OK(weft_join(co1, WEFT_FOREVER, NULL));
}
static long c_killall(int64_t dl) {
    return weft_killall(&co1, 1, 1, dl);
}

/* Channels */
static void s_chan(void) {
    CHECK_OK(weft_chan_create(&ch, sizeof(int), 0));
}
static void t_chan(void) {
    CHECK_OK(weft_chan_destroy(ch));
}
static long c_chan_send(int64_t dl) {
    int v = 1;
    return weft_chan_send(ch, &v, dl);
}
static long c_chan_recv(int64_t dl) {
    int v;
    return weft_chan_recv(ch, &v, dl);
}
static long c_select(int64_t dl) {
    int r = weft_select(NULL, 0, dl); /* nothing to wait for: sleeps to the deadline */
    if (r != -ETIMEDOUT)
        return r;
    int v;
    weft_select_op ops[2] = {{ch, WEFT_RECV, &v, 0}, {ch, WEFT_SEND, &v, 0}};
    return weft_select(ops, 2, dl);
}

/* Descriptors */
static void s_fdpipe_full(void) {
    nonblocking_pipe();
    fill_fd();
}
static void s_sock_full(void) {
    nonblocking_socketpair();
    fill_fd();
}
static long c_fd_wait(int64_t dl) {
    return weft_fd_wait(fds[0], WEFT_READABLE, dl);
}
static long c_read(int64_t dl) {
    char b[8];
    return weft_read(fds[0], b, sizeof b, dl);
}
static long c_write(int64_t dl) {
    return weft_write(fds[1], "x", 1, dl);
}
static long c_recv(int64_t dl) {
    char b[8];
    return weft_recv(fds[0], b, sizeof b, 0, dl);
}
static long c_send(int64_t dl) {
    return weft_send(fds[1], "x", 1, 0, dl);
}
static long c_write_all(int64_t dl) {
    size_t w = 99;
    long r = weft_write_all(fds[1], "xyz", 3, dl, &w);
    CHECK_EQ(w, 0);
    return r;
}
static long c_accept(int64_t dl) {
    return weft_accept(lfd, NULL, NULL, dl);
}
static long c_connect(int64_t dl) {
    return weft_connect(cfd, (struct sockaddr *)&laddr, sizeof laddr, dl);
}

/* Synchronization */
static int lk_acq(void) {
    return weft_lock_acquire(&lk, WEFT_FOREVER);
}
static int lk_rel(void) {
    return weft_lock_release(&lk);
}
static void s_lock(void) {
    CHECK_OK(weft_lock_init(&lk));
    start_holder(lk_acq, lk_rel);
}
static long c_lock_acquire(int64_t dl) {
    return weft_lock_acquire(&lk, dl);
}
/* A timeout scope with the deadline, around a wait without one. */
static long c_timeout_enter(int64_t dl) {
    weft_timeout t;
    CHECK_OK(weft_timeout_enter(&t, dl));
    long r = weft_lock_acquire(&lk, WEFT_FOREVER);
    CHECK_EQ(weft_timeout_leave(&t), r == -ETIMEDOUT ? -ETIMEDOUT : 0);
    return r;
}
static int rlk_acq(void) {
    return weft_rlock_acquire(&rlk, WEFT_FOREVER);
}
static int rlk_rel(void) {
    return weft_rlock_release(&rlk);
}
static void s_rlock(void) {
    CHECK_OK(weft_rlock_init(&rlk));
    start_holder(rlk_acq, rlk_rel);
}
static long c_rlock_acquire(int64_t dl) {
    return weft_rlock_acquire(&rlk, dl);
}
static void s_cond(void) {
    CHECK_OK(weft_lock_init(&lk));
    CHECK_OK(weft_cond_init(&cv));
}
static long c_cond_wait(int64_t dl) {
    CHECK_OK(weft_lock_acquire(&lk, WEFT_FOREVER));
    long r = weft_cond_wait(&cv, &lk, dl);
    CHECK_EQ(weft_lock_locked(&lk), 1); /* re-acquired, even on error */
    CHECK_OK(weft_lock_release(&lk));
    return r;
}
static void s_sem(void) {
    CHECK_OK(weft_sem_init(&sem, 0, 0));
}
static long c_sem_acquire(int64_t dl) {
    return weft_sem_acquire(&sem, dl);
}
static void s_event(void) {
    CHECK_OK(weft_event_init(&ev));
}
static long c_event_wait(int64_t dl) {
    return weft_event_wait(&ev, dl);
}
static void s_barrier(void) {
    CHECK_OK(weft_barrier_init(&bar, 2));
}
static long c_barrier_wait(int64_t dl) {
    return weft_barrier_wait(&bar, dl);
}
static void s_wg(void) {
    CHECK_OK(weft_waitgroup_init(&wg));
    CHECK_OK(weft_waitgroup_add(&wg, 1));
}
static long c_waitgroup_wait(int64_t dl) {
    return weft_waitgroup_wait(&wg, dl);
}

/* Threads */
static void s_thread(void) {
    CHECK_OK(weft_thread_start(&thr, wait_gate, NULL, NULL));
}
static long c_thread_join(int64_t dl) {
    return weft_thread_join(thr, dl, NULL);
}
static void s_tobj(void) {
    tobj = (weft_thread_obj){.run = tobj_run};
    CHECK_OK(weft_thread_obj_start(&tobj, NULL));
}
static void t_tobj(void) {
    CHECK_OK(weft_event_set(&gate));
    CHECK_OK(weft_thread_obj_join(&tobj, WEFT_FOREVER, NULL));
}
static long c_thread_obj_join(int64_t dl) {
    return weft_thread_obj_join(&tobj, dl, NULL);
}

/* Queues */
static void s_queue_full(int kind) {
    int v = 0;
    CHECK_OK(weft_queue_create(&q, kind, sizeof v, 1));
    CHECK_OK(weft_queue_put(q, &v, WEFT_NOWAIT));
}
static void s_fifo_full(void) {
    s_queue_full(WEFT_QUEUE_FIFO);
}
static void s_prio_full(void) {
    s_queue_full(WEFT_QUEUE_PRIORITY);
}
static void s_deque_full(void) {
    s_queue_full(WEFT_QUEUE_DEQUE);
}
static void s_deque_empty(void) {
    CHECK_OK(weft_queue_create(&q, WEFT_QUEUE_DEQUE, sizeof(int), 0));
}
static void t_queue(void) {
    CHECK_OK(weft_queue_destroy(q));
}
static long c_queue_put(int64_t dl) {
    return weft_queue_put(q, &(int){1}, dl);
}
static long c_queue_put_prio(int64_t dl) {
    return weft_queue_put_prio(q, &(int){1}, 5, dl);
}
static long c_queue_put_front(int64_t dl) {
    return weft_queue_put_front(q, &(int){1}, dl);
}
static long c_queue_get(int64_t dl) {
    int v;
    return weft_queue_get(q, &v, dl);
}
static long c_queue_get_back(int64_t dl) {
    int v;
    return weft_queue_get_back(q, &v, dl);
}
static void s_queue_unfinished(void) {
    s_deque_empty();
    CHECK_OK(weft_queue_put(q, &(int){1}, WEFT_NOWAIT));
}
static long c_queue_join(int64_t dl) {
    return weft_queue_join(q, dl);
}

/* Pools and futures: one worker, busy until the gate opens. */
static void s_pool(void) {
    CHECK_OK(weft_pool_create(&pool, 1));
    CHECK_OK(weft_pool_submit(pool, task_gate, NULL, &fut[0]));
    nfut = 1;
}
static void t_pool(void) {
    release_futures();
    CHECK_OK(weft_pool_destroy(pool));
}
static long c_future_result(int64_t dl) {
    return weft_future_result(fut[0], dl, NULL);
}
static long c_futures_wait(int64_t dl) {
    return weft_futures_wait(fut, 1, WEFT_WAIT_ALL, dl);
}
static long c_as_completed_next(int64_t dl) {
    CHECK_OK(weft_as_completed_init(&it, fut, 1));
    size_t i;
    long r = weft_as_completed_next(&it, dl, &i);
    weft_as_completed_destroy(&it);
    return r;
}
/* Waiting on several (sync/wait.c): the busy pool's future. */
static long c_wait_any(int64_t dl) {
    weft_waitable ws[2] = {WEFT_WAIT_FUTURE(fut[0]), WEFT_WAIT_NONE};
    return weft_wait_any(ws, 2, dl);
}
static long c_wait_next(int64_t dl) {
    weft_waitable ws[1] = {WEFT_WAIT_FUTURE(fut[0])};
    size_t i;
    return weft_wait_next(ws, 1, dl, &i);
}
static int no_failure(void *result, void *ud) {
    (void)result;
    (void)ud;
    return 0;
}
static long c_joinall_failfast(int64_t dl) {
    return weft_joinall_failfast(&co1, 1, dl, NULL, no_failure, NULL, NULL);
}
static weft_pool_iter *pit;
static void s_pool_iter(void) {
    s_pool();
    static void *args[1];
    CHECK_OK(weft_pool_imap(pool, task_gate, args, 1, 0, 0, &pit)); /* queued: never runs */
}
static void t_pool_iter(void) {
    weft_pool_iter_destroy(pit);
    t_pool();
}
static long c_pool_iter_next(int64_t dl) {
    size_t i;
    int st;
    return weft_pool_iter_next(pit, dl, &i, &st, NULL);
}
static long c_pool_map(int64_t dl) {
    void *args[1] = {NULL};
    int st[1] = {1};
    long r = weft_pool_map(pool, task_gate, args, NULL, st, 1, dl);
    CHECK_EQ(st[0], -ECANCELED); /* queued behind the busy worker: never ran */
    return r;
}

/* Processes */
static void s_proc(void) {
    CHECK_OK(weft_proc_start(&proc, proc_pause, NULL, NULL));
}
static void t_proc(void) {
    CHECK_OK(weft_proc_kill(proc));
    CHECK_OK(weft_proc_join(proc, WEFT_FOREVER));
    weft_proc_release(proc);
}
static long c_proc_join(int64_t dl) {
    return weft_proc_join(proc, dl);
}
static void s_pobj(void) {
    pobj = (weft_proc_obj){.run = pobj_run};
    CHECK_OK(weft_proc_obj_start(&pobj, NULL));
}
static void t_pobj(void) {
    CHECK_OK(weft_proc_kill(pobj.handle));
    CHECK_OK(weft_proc_obj_join(&pobj, WEFT_FOREVER));
    weft_proc_obj_release(&pobj);
}
static long c_proc_obj_join(int64_t dl) {
    return weft_proc_obj_join(&pobj, dl);
}

/* Process-shared synchronization */
static int plk_acq(void) {
    return weft_plock_acquire(&plk, WEFT_FOREVER);
}
static int plk_rel(void) {
    return weft_plock_release(&plk);
}
static void s_plock(void) {
    CHECK_OK(weft_plock_init(&plk));
    start_holder(plk_acq, plk_rel);
}
static void t_plock(void) {
    stop_thread();
    CHECK_OK(weft_plock_destroy(&plk));
}
static long c_plock_acquire(int64_t dl) {
    return weft_plock_acquire(&plk, dl);
}
static int prlk_acq(void) {
    return weft_prlock_acquire(&prlk, WEFT_FOREVER);
}
static int prlk_rel(void) {
    return weft_prlock_release(&prlk);
}
static void s_prlock(void) {
    CHECK_OK(weft_prlock_init(&prlk));
    start_holder(prlk_acq, prlk_rel);
}
static void t_prlock(void) {
    stop_thread();
    CHECK_OK(weft_prlock_destroy(&prlk));
}
static long c_prlock_acquire(int64_t dl) {
    return weft_prlock_acquire(&prlk, dl);
}
static void s_psem(void) {
    CHECK_OK(weft_psem_init(&psem, 0, 0));
}
static void t_psem(void) {
    CHECK_OK(weft_psem_destroy(&psem));
}
static long c_psem_acquire(int64_t dl) {
    return weft_psem_acquire(&psem, dl);
}
static void s_pevent(void) {
    CHECK_OK(weft_pevent_init(&pev));
}
static void t_pevent(void) {
    CHECK_OK(weft_pevent_destroy(&pev));
}
static long c_pevent_wait(int64_t dl) {
    return weft_pevent_wait(&pev, dl);
}
static void s_pcond(void) {
    CHECK_OK(weft_plock_init(&plk));
    CHECK_OK(weft_pcond_init(&pcv));
}
static void t_pcond(void) {
    CHECK_OK(weft_pcond_destroy(&pcv));
    CHECK_OK(weft_plock_destroy(&plk));
}
static long c_pcond_wait(int64_t dl) {
    CHECK_OK(weft_plock_acquire(&plk, WEFT_FOREVER));
    long r = weft_pcond_wait(&pcv, &plk, dl);
    CHECK_EQ(weft_plock_locked(&plk), 1);
    CHECK_OK(weft_plock_release(&plk));
    return r;
}
static void s_pbarrier(void) {
    CHECK_OK(weft_pbarrier_init(&pbar, 2));
}
static void t_pbarrier(void) {
    CHECK_OK(weft_pbarrier_destroy(&pbar));
}
static long c_pbarrier_wait(int64_t dl) {
    return weft_pbarrier_wait(&pbar, dl);
}

/* Process queues and pipes */
static void s_pqueue_name(void) {
    /* A name whose creator has not sized it yet: open waits for it. */
    snprintf(shm_name, sizeof shm_name, "/weft-test-deadline-%d", (int)getpid());
    int fd = shm_open(shm_name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    CHECK_GE(fd, 0);
    close(fd);
}
static void t_pqueue_name(void) {
    CHECK_EQ(shm_unlink(shm_name), 0);
}
static long c_pqueue_open(int64_t dl) {
    weft_pqueue *o = NULL;
    long r = weft_pqueue_open(&o, shm_name, dl);
    CHECK(o == NULL);
    return r;
}
static void s_pq_full(int kind) {
    CHECK_OK(weft_pqueue_create(&pq, kind, 4096, 1));
    CHECK_OK(weft_pqueue_put(pq, "m", 1, WEFT_NOWAIT));
}
static void s_pfifo_full(void) {
    s_pq_full(WEFT_QUEUE_FIFO);
}
static void s_pprio_full(void) {
    s_pq_full(WEFT_QUEUE_PRIORITY);
}
static void s_pdeque_full(void) {
    s_pq_full(WEFT_QUEUE_DEQUE);
}
static void s_pdeque_empty(void) {
    CHECK_OK(weft_pqueue_create(&pq, WEFT_QUEUE_DEQUE, 4096, 0));
}
static void s_pq_unfinished(void) {
    s_pdeque_empty();
    CHECK_OK(weft_pqueue_put(pq, "m", 1, WEFT_NOWAIT));
}
static void t_pq(void) {
    CHECK_OK(weft_pqueue_close(pq));
}
static long c_pqueue_put(int64_t dl) {
    return weft_pqueue_put(pq, "x", 1, dl);
}
static long c_pqueue_put_prio(int64_t dl) {
    return weft_pqueue_put_prio(pq, "x", 1, 3, dl);
}
static long c_pqueue_put_front(int64_t dl) {
    return weft_pqueue_put_front(pq, "x", 1, dl);
}
static long c_pqueue_get(int64_t dl) {
    char b[8];
    return weft_pqueue_get(pq, b, sizeof b, dl);
}
static long c_pqueue_get_back(int64_t dl) {
    char b[8];
    return weft_pqueue_get_back(pq, b, sizeof b, dl);
}
static long c_pqueue_join(int64_t dl) {
    return weft_pqueue_join(pq, dl);
}
/* Shared dicts and lists: a helper thread holds the container's lock. */
static weft_pdict *pd;
static weft_plist *pl;
static int pd_acq(void) {
    return weft__pbox_lock((weft__pbox *)(void *)(pd ? (void *)pd : (void *)pl), WEFT_FOREVER);
}
static int pd_rel(void) {
    weft__pbox_unlock((weft__pbox *)(void *)(pd ? (void *)pd : (void *)pl));
    return 0;
}
static void s_pdict(void) {
    CHECK_OK(weft_pdict_create(&pd, 4096));
    CHECK_OK(weft_pdict_set(pd, "k", 1, "v", 1, WEFT_NOWAIT));
    start_holder(pd_acq, pd_rel);
}
static void t_pdict(void) {
    stop_thread();
    CHECK_OK(weft_pdict_close(pd));
    pd = NULL;
}
static void s_plist(void) {
    CHECK_OK(weft_plist_create(&pl, 4096));
    CHECK_OK(weft_plist_append(pl, "v", 1, WEFT_NOWAIT));
    start_holder(pd_acq, pd_rel);
}
static void t_plist(void) {
    stop_thread();
    CHECK_OK(weft_plist_close(pl));
    pl = NULL;
}
static long c_pdict_open(int64_t dl) {
    weft_pdict *o = NULL;
    long r = weft_pdict_open(&o, shm_name, dl);
    CHECK(o == NULL);
    return r;
}
static long c_pdict_set(int64_t dl) {
    return weft_pdict_set(pd, "k", 1, "w", 1, dl);
}
static long c_pdict_add(int64_t dl) {
    return weft_pdict_add(pd, "n", 1, "w", 1, dl);
}
static long c_pdict_cas(int64_t dl) {
    return weft_pdict_cas(pd, "k", 1, "v", 1, "w", 1, dl);
}
static long c_pdict_get(int64_t dl) {
    char b[8];
    return weft_pdict_get(pd, "k", 1, b, sizeof b, dl);
}
static long c_pdict_get_bytes(int64_t dl) {
    weft_bytes b = WEFT_BYTES_INIT;
    long r = weft_pdict_get_bytes(pd, "k", 1, &b, dl);
    weft_bytes_free(&b);
    return r;
}
static long c_pdict_pop(int64_t dl) {
    char b[8];
    return weft_pdict_pop(pd, "k", 1, b, sizeof b, dl);
}
static long c_pdict_delete(int64_t dl) {
    return weft_pdict_delete(pd, "k", 1, dl);
}
static long c_pdict_contains(int64_t dl) {
    return weft_pdict_contains(pd, "k", 1, dl);
}
static long c_pdict_len(int64_t dl) {
    return weft_pdict_len(pd, dl);
}
static long c_pdict_clear(int64_t dl) {
    return weft_pdict_clear(pd, dl);
}
static long c_pdict_items(int64_t dl) {
    weft_bytes b = WEFT_BYTES_INIT;
    long r = weft_pdict_items(pd, &b, dl);
    weft_bytes_free(&b);
    return r;
}
static long c_plist_open(int64_t dl) {
    weft_plist *o = NULL;
    long r = weft_plist_open(&o, shm_name, dl);
    CHECK(o == NULL);
    return r;
}
static long c_plist_append(int64_t dl) {
    return weft_plist_append(pl, "w", 1, dl);
}
static long c_plist_insert(int64_t dl) {
    return weft_plist_insert(pl, 0, "w", 1, dl);
}
static long c_plist_get(int64_t dl) {
    char b[8];
    return weft_plist_get(pl, 0, b, sizeof b, dl);
}
static long c_plist_get_bytes(int64_t dl) {
    weft_bytes b = WEFT_BYTES_INIT;
    long r = weft_plist_get_bytes(pl, 0, &b, dl);
    weft_bytes_free(&b);
    return r;
}
static long c_plist_set(int64_t dl) {
    return weft_plist_set(pl, 0, "w", 1, dl);
}
static long c_plist_pop(int64_t dl) {
    char b[8];
    return weft_plist_pop(pl, -1, b, sizeof b, dl);
}
static long c_plist_delete(int64_t dl) {
    return weft_plist_delete(pl, 0, dl);
}
static long c_plist_len(int64_t dl) {
    return weft_plist_len(pl, dl);
}
static long c_plist_clear(int64_t dl) {
    return weft_plist_clear(pl, dl);
}
static void s_pipe(void) {
    CHECK_OK(weft_pipe_create(&pp0, &pp1, 0));
}
static void s_pipe_full(void) {
    s_pipe();
    /* Empty messages (an 8-byte header each): never sent in part. */
    int r;
    while ((r = weft_pipe_send(pp1, NULL, 0, WEFT_NOWAIT)) == 0) {
    }
    CHECK_ERR(r, -ETIMEDOUT);
}
static void t_pipe(void) {
    CHECK_OK(weft_pipe_close(pp0));
    CHECK_OK(weft_pipe_close(pp1));
}
static long c_pipe_send(int64_t dl) {
    return weft_pipe_send(pp1, "x", 1, dl);
}
static long c_pipe_recv(int64_t dl) {
    char b[8];
    return weft_pipe_recv(pp0, b, sizeof b, dl);
}
static long c_pipe_next_size(int64_t dl) {
    return weft_pipe_next_size(pp0, dl);
}

/* Process pools: one worker, busy with a task that never ends. */
static void s_ppool(void) {
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 1;
    CHECK_OK(weft_ppool_create(&ppool, &o));
    CHECK_OK(weft_ppool_imap(ppool, ptask_block, "a", 1, 1, 1, 0, &ppit));
}
static void s_ppool_closed(void) {
    s_ppool();
    CHECK_OK(weft_ppool_close(ppool));
}
static void t_ppool(void) {
    weft_ppool_iter_destroy(ppit);
    CHECK_OK(weft_ppool_terminate(ppool));
    CHECK_OK(weft_ppool_join(ppool, WEFT_FOREVER));
    CHECK_OK(weft_ppool_destroy(ppool));
}
static long c_ppool_iter_next(int64_t dl) {
    size_t i;
    int st;
    return weft_ppool_iter_next(ppit, dl, &i, &st, NULL);
}
static long c_ppool_join(int64_t dl) {
    return weft_ppool_join(ppool, dl);
}

/* Networking */
static long c_resolve(int64_t dl) {
    weft_addr a[4];
    return weft_resolve("localhost", 80, 0, a, 4, dl);
}
static long c_tcp_accept(int64_t dl) {
    return weft_tcp_accept(lfd, NULL, dl);
}
static long c_tcp_connect(int64_t dl) {
    int fd = weft_tcp_connect("127.0.0.1", ntohs(laddr.sin_port), dl);
    if (fd >= 0)
        close(fd);
    return fd;
}
static long c_tcp_connect_addr(int64_t dl) {
    weft_addr a = {.len = sizeof laddr};
    memcpy(&a.ss, &laddr, sizeof laddr);
    int fd = weft_tcp_connect_addr(&a, dl);
    if (fd >= 0)
        close(fd);
    return fd;
}

/* HTTP: a request in progress whose handler waits until cancelled. */
static int h_wait(const weft_http_request *req, weft_http_response *resp, void *arg) {
    (void)req;
    (void)resp;
    (void)arg;
    CHECK_OK(weft_event_set(&ready));
    return weft_event_wait(&gate, WEFT_FOREVER);
}
static void s_http(void) {
    weft_http_opts o = {.threads = 1};
    CHECK_OK(weft_http_server_start(&srv, "127.0.0.1", 0, h_wait, NULL, &o));
    cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                            .sin_port = htons((uint16_t)weft_http_server_port(srv))};
    CHECK_EQ(connect(cfd, (struct sockaddr *)&a, sizeof a), 0);
    static const char rq[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    CHECK_EQ(write(cfd, rq, sizeof rq - 1), (ssize_t)(sizeof rq - 1));
    CHECK_OK(weft_event_wait(&ready, WEFT_FOREVER));
}
static void t_http(void) {
    close(cfd);
    cfd = -1;
}
static long c_http_server_stop(int64_t dl) {
    return weft_http_server_stop(srv, dl);
}

static void t_close_fds(void) {
    close_fds();
}
static void t_stop_thread(void) {
    stop_thread();
}
static void t_release_futures(void) {
    release_futures();
}

#define ROW(fn, exp, s, t) \
    { #fn, exp, s, c_##fn, t }
static const dl_row rows[] = {
    ROW(join, -ETIMEDOUT, s_coro, t_coro),
    ROW(joinall, -ETIMEDOUT, s_coro, t_coro),
    ROW(group_wait, -ETIMEDOUT, s_group, t_group),
    {"sleep_until", 0, NULL, c_sleep_until, NULL}, /* "0 ... at once if already past" */
    ROW(killall, -ETIMEDOUT, s_coro_sleeping, t_coro_cancelled),
    ROW(chan_send, -ETIMEDOUT, s_chan, t_chan),
    ROW(chan_recv, -ETIMEDOUT, s_chan, t_chan),
    ROW(select, -ETIMEDOUT, s_chan, t_chan),
    ROW(fd_wait, -ETIMEDOUT, nonblocking_pipe, t_close_fds),
    ROW(read, -ETIMEDOUT, nonblocking_pipe, t_close_fds),
    ROW(write, -ETIMEDOUT, s_fdpipe_full, t_close_fds),
    ROW(recv, -ETIMEDOUT, nonblocking_socketpair, t_close_fds),
    ROW(send, -ETIMEDOUT, s_sock_full, t_close_fds),
    ROW(write_all, -ETIMEDOUT, s_fdpipe_full, t_close_fds),
    ROW(accept, -ETIMEDOUT, idle_listener, close_listener),
    ROW(connect, -ETIMEDOUT, full_listener, close_connector),
    ROW(lock_acquire, -ETIMEDOUT, s_lock, t_stop_thread),
    ROW(timeout_enter, -ETIMEDOUT, s_lock, t_stop_thread),
    ROW(rlock_acquire, -ETIMEDOUT, s_rlock, t_stop_thread),
    ROW(cond_wait, -ETIMEDOUT, s_cond, NULL),
    ROW(sem_acquire, -ETIMEDOUT, s_sem, NULL),
    ROW(event_wait, -ETIMEDOUT, s_event, NULL),
    ROW(barrier_wait, -ETIMEDOUT, s_barrier, NULL),
    ROW(waitgroup_wait, -ETIMEDOUT, s_wg, NULL),
    ROW(thread_join, -ETIMEDOUT, s_thread, t_stop_thread),
    ROW(thread_obj_join, -ETIMEDOUT, s_tobj, t_tobj),
    ROW(queue_put, -ETIMEDOUT, s_fifo_full, t_queue),
    ROW(queue_put_prio, -ETIMEDOUT, s_prio_full, t_queue),
    ROW(queue_put_front, -ETIMEDOUT, s_deque_full, t_queue),
    ROW(queue_get, -ETIMEDOUT, s_deque_empty, t_queue),
    ROW(queue_get_back, -ETIMEDOUT, s_deque_empty, t_queue),
    ROW(queue_join, -ETIMEDOUT, s_queue_unfinished, t_queue),
    ROW(future_result, -ETIMEDOUT, s_pool, t_pool),
    ROW(futures_wait, -ETIMEDOUT, s_pool, t_pool),
    ROW(as_completed_next, -ETIMEDOUT, s_pool, t_pool),
    ROW(wait_any, -ETIMEDOUT, s_pool, t_pool),
    ROW(wait_next, -ETIMEDOUT, s_pool, t_pool),
    ROW(joinall_failfast, -ETIMEDOUT, s_coro, t_coro),
    ROW(pool_map, -ETIMEDOUT, s_pool, t_pool),
    ROW(pool_iter_next, -ETIMEDOUT, s_pool_iter, t_pool_iter),
    ROW(proc_join, -ETIMEDOUT, s_proc, t_proc),
    ROW(proc_obj_join, -ETIMEDOUT, s_pobj, t_pobj),
    ROW(plock_acquire, -ETIMEDOUT, s_plock, t_plock),
    ROW(prlock_acquire, -ETIMEDOUT, s_prlock, t_prlock),
    ROW(psem_acquire, -ETIMEDOUT, s_psem, t_psem),
    ROW(pevent_wait, -ETIMEDOUT, s_pevent, t_pevent),
    ROW(pcond_wait, -ETIMEDOUT, s_pcond, t_pcond),
    ROW(pbarrier_wait, -ETIMEDOUT, s_pbarrier, t_pbarrier),
    ROW(pqueue_open, -ETIMEDOUT, s_pqueue_name, t_pqueue_name),
    ROW(pqueue_put, -ETIMEDOUT, s_pfifo_full, t_pq),
    ROW(pqueue_put_prio, -ETIMEDOUT, s_pprio_full, t_pq),
    ROW(pqueue_put_front, -ETIMEDOUT, s_pdeque_full, t_pq),
    ROW(pqueue_get, -ETIMEDOUT, s_pdeque_empty, t_pq),
    ROW(pqueue_get_back, -ETIMEDOUT, s_pdeque_empty, t_pq),
    ROW(pqueue_join, -ETIMEDOUT, s_pq_unfinished, t_pq),
    ROW(pipe_send, -ETIMEDOUT, s_pipe_full, t_pipe),
    ROW(pipe_recv, -ETIMEDOUT, s_pipe, t_pipe),
    ROW(pipe_next_size, -ETIMEDOUT, s_pipe, t_pipe),
    ROW(pdict_open, -ETIMEDOUT, s_pqueue_name, t_pqueue_name),
    ROW(pdict_set, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_add, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_cas, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_get, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_get_bytes, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_pop, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_delete, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_contains, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_len, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_clear, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(pdict_items, -ETIMEDOUT, s_pdict, t_pdict),
    ROW(plist_open, -ETIMEDOUT, s_pqueue_name, t_pqueue_name),
    ROW(plist_append, -ETIMEDOUT, s_plist, t_plist),
    ROW(plist_insert, -ETIMEDOUT, s_plist, t_plist),
    ROW(plist_get, -ETIMEDOUT, s_plist, t_plist),
    ROW(plist_get_bytes, -ETIMEDOUT, s_plist, t_plist),
    ROW(plist_set, -ETIMEDOUT, s_plist, t_plist),
    ROW(plist_pop, -ETIMEDOUT, s_plist, t_plist),
    ROW(plist_delete, -ETIMEDOUT, s_plist, t_plist),
    ROW(plist_len, -ETIMEDOUT, s_plist, t_plist),
    ROW(plist_clear, -ETIMEDOUT, s_plist, t_plist),
    ROW(ppool_iter_next, -ETIMEDOUT, s_ppool, t_ppool),
    ROW(ppool_join, -ETIMEDOUT, s_ppool_closed, t_ppool),
    ROW(resolve, -ETIMEDOUT, busy_default_pool, t_release_futures),
    ROW(tcp_accept, -ETIMEDOUT, idle_listener, close_listener),
    ROW(tcp_connect, -ETIMEDOUT, full_listener, close_connector),
    ROW(tcp_connect_addr, -ETIMEDOUT, full_listener, close_connector),
    /* Stop waits for requests until the deadline, then cancels them. */
    ROW(http_server_stop, 0, s_http, t_http),
};
#define NROWS (sizeof rows / sizeof rows[0])

/* ---- running them ------------------------------------------------------ */

enum { DL_NOW_MINUS_1 = 4, NDL = 5 };
static const int64_t past[NDL] = {-2, -1000, INT64_MIN, 0, 0 /* weft_now() - 1 */};
static const char *const past_name[NDL] = {"-2", "-1000", "INT64_MIN", "0", "weft_now() - 1"};

static const dl_row *cur_row;
static int cur_dl;
static const char *cur_where, *cur_phase;

static void on_watchdog(int sig) {
    (void)sig;
    char msg[256];
    int n = snprintf(msg, sizeof msg, "deadline: weft_%s (%s) with deadline %s did not return\n",
                     cur_row->name, cur_phase, past_name[cur_dl]);
    ssize_t w = write(2, msg, n > 0 ? (size_t)n : 0);
    (void)w;
    _exit(1);
}

static void run_one(void) {
    const dl_row *r = cur_row;
    gate_init();
    signal(SIGALRM, on_watchdog);
    alarm(20);
    cur_phase = "setup";
    if (r->setup)
        r->setup();
    cur_phase = cur_where;
    int64_t dl = cur_dl == DL_NOW_MINUS_1 ? weft_now() - 1 : past[cur_dl];
    long got = r->call(dl);
    cur_phase = "teardown";
    if (r->teardown)
        r->teardown();
    alarm(0);
    if (got != r->expect)
        harness_fail(__FILE__, __LINE__,
                     "weft_%s(deadline %s) from %s returned %ld (%s), expected %d", r->name,
                     past_name[cur_dl], cur_where, got, weft_strerror((int)got), r->expect);
}

static void *run_one_coro(void *arg) {
    (void)arg;
    run_one();
    return NULL;
}

static int ptask_registered(void) {
    if (ptask_block < 0)
        ptask_block = weft_ptask_register("deadline_pause", ptask_pause);
    return ptask_block;
}

WEFT_TEST(from_plain_threads) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    CHECK_GE(ptask_registered(), 0);
    cur_where = "a plain thread";
    for (size_t i = 0; i < NROWS; i++)
        for (int d = 0; d < NDL; d++) {
            cur_row = &rows[i];
            cur_dl = d;
            run_plain_in_thread(run_one); /* a fresh thread: no scheduler */
        }
}

WEFT_TEST(from_coroutines) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    CHECK_GE(ptask_registered(), 0);
    cur_where = "a coroutine";
    for (size_t i = 0; i < NROWS; i++)
        for (int d = 0; d < NDL; d++) {
            cur_row = &rows[i];
            cur_dl = d;
            weft_coro c;
            CHECK_OK(weft_spawn(&c, run_one_coro, NULL, NULL));
            CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
        }
}

/* WEFT_FOREVER still means forever: the same call waits until woken. */
static void *set_later(void *arg) {
    (void)arg;
    CHECK_OK(weft_sleep(20 * WEFT_MSEC));
    CHECK_OK(weft_event_set(&ev));
    return NULL;
}
WEFT_TEST(forever_still_waits) {
    CHECK_OK(weft_event_init(&ev));
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, set_later, NULL, NULL));
    CHECK_OK(weft_event_wait(&ev, WEFT_FOREVER));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    CHECK_ERR(weft_sleep_until(WEFT_FOREVER), -EINVAL);
    int v;
    CHECK_OK(weft_chan_create(&ch, sizeof v, 0));
    CHECK_ERR(weft_select(NULL, 0, WEFT_FOREVER), -EINVAL); /* nothing to wait for */
    CHECK_OK(weft_chan_destroy(ch));
}

/* The table is weft.h's list: every public function taking an int64_t
 * deadline has a row, and every row names such a function. */
WEFT_TEST(header_lists_every_row) {
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    CHECK(slash != NULL);
    snprintf(slash, sizeof path - (size_t)(slash - path), "/../include/weft.h");
    FILE *f = fopen(path, "r");
    if (!f)
        harness_fail(__FILE__, __LINE__, "cannot open %s", path);
    static char decl[4096];
    char line[1024];
    bool in = false;
    size_t len = 0;
    int found = 0;
    bool seen[NROWS] = {false};
    while (fgets(line, sizeof line, f)) {
        if (!in && strncmp(line, "WEFT_API", 8) == 0) {
            in = true;
            len = 0;
        }
        if (!in)
            continue;
        size_t l = strlen(line);
        CHECK_LT(len + l, sizeof decl);
        memcpy(decl + len, line, l + 1);
        len += l;
        if (!strchr(decl, ';'))
            continue;
        in = false;
        if (!strstr(decl, "int64_t deadline"))
            continue;
        char *paren = strchr(decl, '(');
        CHECK(paren != NULL);
        char *e = paren;
        while (e > decl && e[-1] == ' ')
            e--;
        char *b = e;
        while (b > decl && (isalnum((unsigned char)b[-1]) || b[-1] == '_'))
            b--;
        CHECK_EQ(strncmp(b, "weft_", 5), 0);
        b += 5;
        size_t n = (size_t)(e - b);
        bool have = false;
        for (size_t i = 0; i < NROWS; i++)
            if (strlen(rows[i].name) == n && strncmp(rows[i].name, b, n) == 0) {
                have = seen[i] = true;
            }
        if (!have)
            harness_fail(__FILE__, __LINE__, "weft_%.*s takes a deadline but has no row here",
                         (int)n, b);
        found++;
    }
    fclose(f);
    for (size_t i = 0; i < NROWS; i++)
        if (!seen[i])
            harness_fail(__FILE__, __LINE__, "row weft_%s is no deadline function of weft.h",
                         rows[i].name);
    CHECK_EQ(found, (int)NROWS);
}

WEFT_MAIN()
