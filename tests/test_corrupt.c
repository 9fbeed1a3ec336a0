/* Corrupted and destroyed objects: weft.h promises that misuse which can
 * only come from a corrupted or destroyed object aborts with a message.
 * For every object type and operation: fill the object with garbage
 * (0xA5 bytes), and separately init then destroy it, call the operation in
 * a forked child under a watchdog, and require that the child dies by
 * SIGABRT with "weft: <function>: corrupted or destroyed <type> at" on
 * stderr, or returns -EINVAL where the header documents that answer (the
 * process-shared primitives). Never a hang, never SIGSEGV. */
#include "harness.h"

#include <fcntl.h>

/* WEFT_TEST_TIMEOUT(caller_owned_garbage, 120) */
/* WEFT_TEST_TIMEOUT(caller_owned_destroyed, 120) */
/* WEFT_TEST_TIMEOUT(handles_garbage, 120) */

enum { ABORTS = 1, EINVAL_ = 2 };

typedef struct {
    const char *type;        /* as in the message */
    const char *op;          /* for the report */
    int expect;              /* ABORTS or EINVAL_ */
    size_t size;             /* the object's size */
    int (*init)(void *o);    /* NULL: the type has no init/destroy pair */
    int (*destroy)(void *o); /* likewise */
    long (*call)(void *o);
} op_row;

static _Alignas(64) unsigned char obj[4096];
static weft_lock held; /* a valid lock for weft_cond_wait */
static weft_plock pheld;

/* ---- the operations ---------------------------------------------------- */

#define L(o) ((weft_lock *)(o))
static int lock_init(void *o) {
    return weft_lock_init(L(o));
}
static int lock_destroy(void *o) {
    return weft_lock_destroy(L(o));
}
static long lock_acquire(void *o) {
    return weft_lock_acquire(L(o), WEFT_FOREVER);
}
static long lock_try(void *o) {
    return weft_lock_try_acquire(L(o));
}
static long lock_release(void *o) {
    return weft_lock_release(L(o));
}
static long lock_destroy_op(void *o) {
    return weft_lock_destroy(L(o));
}

#define RL(o) ((weft_rlock *)(o))
static int rlock_init(void *o) {
    return weft_rlock_init(RL(o));
}
static int rlock_destroy(void *o) {
    return weft_rlock_destroy(RL(o));
}
static long rlock_acquire(void *o) {
    return weft_rlock_acquire(RL(o), WEFT_FOREVER);
}
static long rlock_try(void *o) {
    return weft_rlock_try_acquire(RL(o));
}
static long rlock_release(void *o) {
    return weft_rlock_release(RL(o));
}
static long rlock_destroy_op(void *o) {
    return weft_rlock_destroy(RL(o));
}

#define CV(o) ((weft_cond *)(o))
static int cond_init(void *o) {
    return weft_cond_init(CV(o));
}
static int cond_destroy(void *o) {
    return weft_cond_destroy(CV(o));
}
static long cond_wait(void *o) {
    CHECK_OK(weft_lock_acquire(&held, WEFT_FOREVER));
    return weft_cond_wait(CV(o), &held, WEFT_FOREVER);
}
static long cond_notify(void *o) {
    return weft_cond_notify(CV(o), 1);
}
static long cond_notify_all(void *o) {
    return weft_cond_notify_all(CV(o));
}
static long cond_destroy_op(void *o) {
    return weft_cond_destroy(CV(o));
}

#define SM(o) ((weft_sem *)(o))
static int sem_init(void *o) {
    return weft_sem_init(SM(o), 1, 0);
}
static int sem_destroy(void *o) {
    return weft_sem_destroy(SM(o));
}
static long sem_acquire(void *o) {
    return weft_sem_acquire(SM(o), WEFT_FOREVER);
}
static long sem_try(void *o) {
    return weft_sem_try_acquire(SM(o));
}
static long sem_release(void *o) {
    return weft_sem_release(SM(o), 1);
}
static long sem_destroy_op(void *o) {
    return weft_sem_destroy(SM(o));
}

#define EV(o) ((weft_event *)(o))
static int event_init(void *o) {
    return weft_event_init(EV(o));
}
static int event_destroy(void *o) {
    return weft_event_destroy(EV(o));
}
static long event_set(void *o) {
    return weft_event_set(EV(o));
}
static long event_clear(void *o) {
    return weft_event_clear(EV(o));
}
static long event_wait(void *o) {
    return weft_event_wait(EV(o), WEFT_FOREVER);
}
static long event_destroy_op(void *o) {
    return weft_event_destroy(EV(o));
}

#define BR(o) ((weft_barrier *)(o))
static int barrier_init(void *o) {
    return weft_barrier_init(BR(o), 1);
}
static int barrier_destroy(void *o) {
    return weft_barrier_destroy(BR(o));
}
static long barrier_wait(void *o) {
    return weft_barrier_wait(BR(o), WEFT_FOREVER);
}
static long barrier_abort(void *o) {
    return weft_barrier_abort(BR(o));
}
static long barrier_reset(void *o) {
    return weft_barrier_reset(BR(o));
}
static long barrier_broken(void *o) {
    return weft_barrier_broken(BR(o));
}
static long barrier_waiting(void *o) {
    return weft_barrier_waiting(BR(o));
}
static long barrier_destroy_op(void *o) {
    return weft_barrier_destroy(BR(o));
}

#define WG(o) ((weft_waitgroup *)(o))
static int wg_init(void *o) {
    return weft_waitgroup_init(WG(o));
}
static int wg_destroy(void *o) {
    return weft_waitgroup_destroy(WG(o));
}
static long wg_add(void *o) {
    return weft_waitgroup_add(WG(o), 1);
}
static long wg_done(void *o) {
    return weft_waitgroup_done(WG(o));
}
static long wg_wait(void *o) {
    return weft_waitgroup_wait(WG(o), WEFT_FOREVER);
}
static long wg_destroy_op(void *o) {
    return weft_waitgroup_destroy(WG(o));
}

static void once_fn(void *arg) {
    (void)arg;
}
static long once_call(void *o) {
    return weft_once_call((weft_once *)o, once_fn, NULL);
}

#define IT(o) ((weft_as_completed_iter *)(o))
static int iter_init(void *o) {
    return weft_as_completed_init(IT(o), NULL, 0);
}
static int iter_destroy(void *o) {
    weft_as_completed_destroy(IT(o));
    return 0;
}
static long iter_next(void *o) {
    size_t i;
    return weft_as_completed_next(IT(o), WEFT_FOREVER, &i);
}
static long iter_destroy_op(void *o) {
    return iter_destroy(o);
}

/* Process-shared primitives: -EINVAL (documented: "not initialised"). */
#define PL(o) ((weft_plock *)(o))
static int plock_init(void *o) {
    return weft_plock_init(PL(o));
}
static int plock_destroy(void *o) {
    return weft_plock_destroy(PL(o));
}
static long plock_acquire(void *o) {
    return weft_plock_acquire(PL(o), WEFT_FOREVER);
}
static long plock_try(void *o) {
    return weft_plock_try_acquire(PL(o));
}
static long plock_release(void *o) {
    return weft_plock_release(PL(o));
}
static long plock_consistent(void *o) {
    return weft_plock_consistent(PL(o));
}
static long plock_destroy_op(void *o) {
    return weft_plock_destroy(PL(o));
}

#define PRL(o) ((weft_prlock *)(o))
static int prlock_init(void *o) {
    return weft_prlock_init(PRL(o));
}
static int prlock_destroy(void *o) {
    return weft_prlock_destroy(PRL(o));
}
static long prlock_acquire(void *o) {
    return weft_prlock_acquire(PRL(o), WEFT_FOREVER);
}
static long prlock_try(void *o) {
    return weft_prlock_try_acquire(PRL(o));
}
static long prlock_release(void *o) {
    return weft_prlock_release(PRL(o));
}
static long prlock_destroy_op(void *o) {
    return weft_prlock_destroy(PRL(o));
}

#define PS(o) ((weft_psem *)(o))
static int psem_init(void *o) {
    return weft_psem_init(PS(o), 1, 0);
}
static int psem_destroy(void *o) {
    return weft_psem_destroy(PS(o));
}
static long psem_acquire(void *o) {
    return weft_psem_acquire(PS(o), WEFT_FOREVER);
}
static long psem_try(void *o) {
    return weft_psem_try_acquire(PS(o));
}
static long psem_release(void *o) {
    return weft_psem_release(PS(o), 1);
}
static long psem_value(void *o) {
    return (long)weft_psem_value(PS(o));
}
static long psem_destroy_op(void *o) {
    return weft_psem_destroy(PS(o));
}

#define PE(o) ((weft_pevent *)(o))
static int pevent_init(void *o) {
    return weft_pevent_init(PE(o));
}
static int pevent_destroy(void *o) {
    return weft_pevent_destroy(PE(o));
}
static long pevent_set(void *o) {
    return weft_pevent_set(PE(o));
}
static long pevent_clear(void *o) {
    return weft_pevent_clear(PE(o));
}
static long pevent_wait(void *o) {
    return weft_pevent_wait(PE(o), WEFT_FOREVER);
}
static long pevent_destroy_op(void *o) {
    return weft_pevent_destroy(PE(o));
}

#define PC(o) ((weft_pcond *)(o))
static int pcond_init(void *o) {
    return weft_pcond_init(PC(o));
}
static int pcond_destroy(void *o) {
    return weft_pcond_destroy(PC(o));
}
static long pcond_wait(void *o) {
    CHECK_OK(weft_plock_init(&pheld));
    CHECK_OK(weft_plock_acquire(&pheld, WEFT_FOREVER));
    return weft_pcond_wait(PC(o), &pheld, WEFT_FOREVER);
}
static long pcond_notify(void *o) {
    return weft_pcond_notify(PC(o), 1);
}
static long pcond_notify_all(void *o) {
    return weft_pcond_notify_all(PC(o));
}
static long pcond_destroy_op(void *o) {
    return weft_pcond_destroy(PC(o));
}

#define PB(o) ((weft_pbarrier *)(o))
static int pbarrier_init(void *o) {
    return weft_pbarrier_init(PB(o), 2);
}
static int pbarrier_destroy(void *o) {
    return weft_pbarrier_destroy(PB(o));
}
static long pbarrier_wait(void *o) {
    return weft_pbarrier_wait(PB(o), WEFT_FOREVER);
}
static long pbarrier_abort(void *o) {
    return weft_pbarrier_abort(PB(o));
}
static long pbarrier_reset(void *o) {
    return weft_pbarrier_reset(PB(o));
}
static long pbarrier_waiting(void *o) {
    return weft_pbarrier_waiting(PB(o));
}
static long pbarrier_destroy_op(void *o) {
    return weft_pbarrier_destroy(PB(o));
}

#define ROW(type, fn, exp, pre) \
    { #type, #fn, exp, sizeof(type), pre##_init, pre##_destroy, fn }
static const op_row caller_owned[] = {
    ROW(weft_lock, lock_acquire, ABORTS, lock),
    ROW(weft_lock, lock_try, ABORTS, lock),
    ROW(weft_lock, lock_release, ABORTS, lock),
    ROW(weft_lock, lock_destroy_op, ABORTS, lock),
    ROW(weft_rlock, rlock_acquire, ABORTS, rlock),
    ROW(weft_rlock, rlock_try, ABORTS, rlock),
    ROW(weft_rlock, rlock_release, ABORTS, rlock),
    ROW(weft_rlock, rlock_destroy_op, ABORTS, rlock),
    ROW(weft_cond, cond_wait, ABORTS, cond),
    ROW(weft_cond, cond_notify, ABORTS, cond),
    ROW(weft_cond, cond_notify_all, ABORTS, cond),
    ROW(weft_cond, cond_destroy_op, ABORTS, cond),
    ROW(weft_sem, sem_acquire, ABORTS, sem),
    ROW(weft_sem, sem_try, ABORTS, sem),
    ROW(weft_sem, sem_release, ABORTS, sem),
    ROW(weft_sem, sem_destroy_op, ABORTS, sem),
    ROW(weft_event, event_set, ABORTS, event),
    ROW(weft_event, event_clear, ABORTS, event),
    ROW(weft_event, event_wait, ABORTS, event),
    ROW(weft_event, event_destroy_op, ABORTS, event),
    ROW(weft_barrier, barrier_wait, ABORTS, barrier),
    ROW(weft_barrier, barrier_abort, ABORTS, barrier),
    ROW(weft_barrier, barrier_reset, ABORTS, barrier),
    ROW(weft_barrier, barrier_broken, ABORTS, barrier),
    ROW(weft_barrier, barrier_waiting, ABORTS, barrier),
    ROW(weft_barrier, barrier_destroy_op, ABORTS, barrier),
    ROW(weft_waitgroup, wg_add, ABORTS, wg),
    ROW(weft_waitgroup, wg_done, ABORTS, wg),
    ROW(weft_waitgroup, wg_wait, ABORTS, wg),
    ROW(weft_waitgroup, wg_destroy_op, ABORTS, wg),
    {"weft_once", "once_call", ABORTS, sizeof(weft_once), NULL, NULL, once_call},
    ROW(weft_as_completed_iter, iter_next, ABORTS, iter),
    /* destroying a destroyed iterator is harmless: garbage only */
    {"weft_as_completed_iter", "iter_destroy_op", ABORTS, sizeof(weft_as_completed_iter), NULL,
     NULL, iter_destroy_op},
    ROW(weft_as_completed_iter, iter_next, ABORTS, iter),
    /* destroying a destroyed iterator is harmless: garbage only */
    {"weft_as_completed_iter", "iter_destroy_op", ABORTS, sizeof(weft_as_completed_iter), NULL,
     NULL, iter_destroy_op},
    ROW(weft_plock, plock_acquire, EINVAL_, plock),
    ROW(weft_plock, plock_try, EINVAL_, plock),
    ROW(weft_plock, plock_release, EINVAL_, plock),
    ROW(weft_plock, plock_consistent, EINVAL_, plock),
    ROW(weft_plock, plock_destroy_op, EINVAL_, plock),
    ROW(weft_prlock, prlock_acquire, EINVAL_, prlock),
    ROW(weft_prlock, prlock_try, EINVAL_, prlock),
    ROW(weft_prlock, prlock_release, EINVAL_, prlock),
    ROW(weft_prlock, prlock_destroy_op, EINVAL_, prlock),
    ROW(weft_psem, psem_acquire, EINVAL_, psem),
    ROW(weft_psem, psem_try, EINVAL_, psem),
    ROW(weft_psem, psem_release, EINVAL_, psem),
    ROW(weft_psem, psem_value, EINVAL_, psem),
    ROW(weft_psem, psem_destroy_op, EINVAL_, psem),
    ROW(weft_pevent, pevent_set, EINVAL_, pevent),
    ROW(weft_pevent, pevent_clear, EINVAL_, pevent),
    ROW(weft_pevent, pevent_wait, EINVAL_, pevent),
    ROW(weft_pevent, pevent_destroy_op, EINVAL_, pevent),
    ROW(weft_pcond, pcond_wait, EINVAL_, pcond),
    ROW(weft_pcond, pcond_notify, EINVAL_, pcond),
    ROW(weft_pcond, pcond_notify_all, EINVAL_, pcond),
    ROW(weft_pcond, pcond_destroy_op, EINVAL_, pcond),
    ROW(weft_pbarrier, pbarrier_wait, EINVAL_, pbarrier),
    ROW(weft_pbarrier, pbarrier_abort, EINVAL_, pbarrier),
    ROW(weft_pbarrier, pbarrier_reset, EINVAL_, pbarrier),
    ROW(weft_pbarrier, pbarrier_waiting, EINVAL_, pbarrier),
    ROW(weft_pbarrier, pbarrier_destroy_op, EINVAL_, pbarrier),
};
#define NCALLER (sizeof caller_owned / sizeof caller_owned[0])

/* ---- handles: objects weft allocates, passed as pointers to garbage ------ */

static long chan_send(void *o) {
    return weft_chan_send(o, &(int){1}, WEFT_FOREVER);
}
static long chan_recv(void *o) {
    int v;
    return weft_chan_recv(o, &v, WEFT_FOREVER);
}
static long chan_try_send(void *o) {
    return weft_chan_try_send(o, &(int){1});
}
static long chan_try_recv(void *o) {
    int v;
    return weft_chan_try_recv(o, &v);
}
static long chan_close(void *o) {
    return weft_chan_close(o);
}
static long chan_len(void *o) {
    return (long)weft_chan_len(o);
}
static long chan_cap(void *o) {
    return (long)weft_chan_cap(o);
}
static long chan_destroy(void *o) {
    return weft_chan_destroy(o);
}
static long chan_select(void *o) {
    int v;
    weft_select_op op = {o, WEFT_RECV, &v, 0};
    return weft_select(&op, 1, WEFT_FOREVER);
}

static long queue_put(void *o) {
    return weft_queue_put(o, &(int){1}, WEFT_FOREVER);
}
static long queue_try_put(void *o) {
    return weft_queue_try_put(o, &(int){1});
}
static long queue_put_prio(void *o) {
    return weft_queue_put_prio(o, &(int){1}, 1, WEFT_FOREVER);
}
static long queue_put_front(void *o) {
    return weft_queue_put_front(o, &(int){1}, WEFT_FOREVER);
}
static long queue_get(void *o) {
    int v;
    return weft_queue_get(o, &v, WEFT_FOREVER);
}
static long queue_try_get(void *o) {
    int v;
    return weft_queue_try_get(o, &v);
}
static long queue_get_back(void *o) {
    int v;
    return weft_queue_get_back(o, &v, WEFT_FOREVER);
}
static long queue_size(void *o) {
    return (long)weft_queue_size(o);
}
static long queue_empty(void *o) {
    return weft_queue_empty(o);
}
static long queue_full(void *o) {
    return weft_queue_full(o);
}
static long queue_task_done(void *o) {
    return weft_queue_task_done(o);
}
static long queue_join(void *o) {
    return weft_queue_join(o, WEFT_FOREVER);
}
static long queue_shutdown(void *o) {
    return weft_queue_shutdown(o, 1);
}
static long queue_is_shutdown(void *o) {
    return weft_queue_is_shutdown(o);
}
static long queue_destroy(void *o) {
    return weft_queue_destroy(o);
}

static int task_nop(void *arg, void **result) {
    (void)arg;
    (void)result;
    return 0;
}
static long pool_size(void *o) {
    return weft_pool_size(o);
}
static long pool_submit(void *o) {
    return weft_pool_submit(o, task_nop, NULL, NULL);
}
static long pool_shutdown(void *o) {
    return weft_pool_shutdown(o, 1, 0);
}
static long pool_destroy(void *o) {
    return weft_pool_destroy(o);
}
static long pool_map(void *o) {
    void *args[1] = {NULL};
    return weft_pool_map(o, task_nop, args, NULL, NULL, 1, WEFT_FOREVER);
}

static long future_result(void *o) {
    return weft_future_result(o, WEFT_FOREVER, NULL);
}
static long future_cancel(void *o) {
    return weft_future_cancel(o);
}
static long future_done(void *o) {
    return weft_future_done(o);
}
static long future_cancelled(void *o) {
    return weft_future_cancelled(o);
}
static void cb_nop(weft_future *f, void *ud) {
    (void)f;
    (void)ud;
}
static long future_on_done(void *o) {
    return weft_future_on_done(o, cb_nop, NULL);
}
static long future_release(void *o) {
    weft_future_release(o);
    return 0;
}
static long futures_wait(void *o) {
    weft_future *fs[1] = {o};
    return weft_futures_wait(fs, 1, WEFT_WAIT_ANY, WEFT_FOREVER);
}
static long as_completed(void *o) {
    static weft_future *fs[1];
    fs[0] = o;
    weft_as_completed_iter it;
    return weft_as_completed_init(&it, fs, 1);
}

static long thread_join(void *o) {
    return weft_thread_join(o, WEFT_FOREVER, NULL);
}
static long thread_detach(void *o) {
    return weft_thread_detach(o);
}
static void *coro_nop(void *arg) {
    return arg;
}
static long thread_spawn(void *o) {
    return weft_thread_spawn(o, coro_nop, NULL, NULL);
}
static long thread_stop(void *o) {
    return weft_thread_stop(o);
}
static long thread_is_alive(void *o) {
    return weft_thread_is_alive(o);
}
static long thread_name(void *o) {
    return weft_thread_name(o) ? 0 : -1;
}
static long thread_native_id(void *o) {
    return (long)weft_thread_native_id(o);
}
static long thread_daemon(void *o) {
    return weft_thread_daemon(o);
}

static long proc_join(void *o) {
    return weft_proc_join(o, WEFT_FOREVER);
}
static long proc_exitcode(void *o) {
    int c;
    return weft_proc_exitcode(o, &c);
}
static long proc_is_alive(void *o) {
    return weft_proc_is_alive(o);
}
static long proc_pid(void *o) {
    return weft_proc_pid(o);
}
static long proc_name(void *o) {
    return weft_proc_name(o) ? 0 : -1;
}
static long proc_daemon(void *o) {
    return weft_proc_daemon(o);
}
static long proc_fd(void *o) {
    return weft_proc_fd(o);
}
static long proc_signal(void *o) {
    return weft_proc_signal(o, SIGTERM);
}
static long proc_terminate(void *o) {
    return weft_proc_terminate(o);
}
static long proc_kill(void *o) {
    return weft_proc_kill(o);
}
static long proc_release(void *o) {
    weft_proc_release(o);
    return 0;
}
static long proc_stdio(void *o) {
    return weft_proc_stdio(o, 1);
}
static long proc_close_stdio(void *o) {
    return weft_proc_close_stdio(o, 1);
}

static long pipe_send(void *o) {
    return weft_pipe_send(o, "x", 1, WEFT_FOREVER);
}
static long pipe_recv(void *o) {
    char b[8];
    return (long)weft_pipe_recv(o, b, sizeof b, WEFT_FOREVER);
}
static long pipe_next_size(void *o) {
    return (long)weft_pipe_next_size(o, WEFT_FOREVER);
}
static long pipe_fd(void *o) {
    return weft_pipe_fd(o);
}
static long pipe_close(void *o) {
    return weft_pipe_close(o);
}

static long ppool_size(void *o) {
    return weft_ppool_size(o);
}
static long ppool_pids(void *o) {
    pid_t p[4];
    return weft_ppool_pids(o, p, 4);
}
static long ppool_started(void *o) {
    return weft_ppool_started(o);
}
static long ppool_apply_async(void *o) {
    weft_future *f;
    return weft_ppool_apply_async(o, 0, "x", 1, NULL, NULL, NULL, &f);
}
static long ppool_apply_argv(void *o) {
    const void *argv[1] = {"x"};
    size_t lens[1] = {1};
    weft_future *f;
    return weft_ppool_apply_argv(o, 0, 1, argv, lens, &f);
}
static long ppool_apply(void *o) {
    return weft_ppool_apply(o, 0, "x", 1, NULL);
}
static long ppool_map(void *o) {
    int in[2] = {1, 2}, out[2];
    return weft_ppool_map(o, 0, in, 2, sizeof in[0], out, sizeof out[0], 1, NULL);
}
static long ppool_map_async(void *o) {
    int in[2] = {1, 2}, out[2];
    weft_future *f;
    return weft_ppool_map_async(o, 0, in, 2, sizeof in[0], out, sizeof out[0], 1, NULL, &f);
}
static long ppool_imap(void *o) {
    int in[2] = {1, 2};
    weft_ppool_iter *it;
    return weft_ppool_imap(o, 0, in, 2, sizeof in[0], 1, 0, &it);
}
static long ppool_close(void *o) {
    return weft_ppool_close(o);
}
static long ppool_terminate(void *o) {
    return weft_ppool_terminate(o);
}
static long ppool_join(void *o) {
    return weft_ppool_join(o, WEFT_FOREVER);
}
static long ppool_destroy(void *o) {
    return weft_ppool_destroy(o);
}
static long ppool_iter_next(void *o) {
    size_t i;
    int st;
    return weft_ppool_iter_next(o, WEFT_FOREVER, &i, &st, NULL);
}
static long ppool_iter_destroy(void *o) {
    weft_ppool_iter_destroy(o);
    return 0;
}

static long http_stop(void *o) {
    return weft_http_server_stop(o, WEFT_FOREVER);
}
static long http_port(void *o) {
    return weft_http_server_port(o);
}

#define H(type, fn) \
    { #type, #fn, ABORTS, 0, NULL, NULL, fn }
static const op_row handle_rows[] = {
    H(weft_chan, chan_send),          H(weft_chan, chan_recv),
    H(weft_chan, chan_try_send),      H(weft_chan, chan_try_recv),
    H(weft_chan, chan_close),         H(weft_chan, chan_len),
    H(weft_chan, chan_cap),           H(weft_chan, chan_destroy),
    H(weft_chan, chan_select),        H(weft_queue, queue_put),
    H(weft_queue, queue_try_put),     H(weft_queue, queue_put_prio),
    H(weft_queue, queue_put_front),   H(weft_queue, queue_get),
    H(weft_queue, queue_try_get),     H(weft_queue, queue_get_back),
    H(weft_queue, queue_size),        H(weft_queue, queue_empty),
    H(weft_queue, queue_full),        H(weft_queue, queue_task_done),
    H(weft_queue, queue_join),        H(weft_queue, queue_shutdown),
    H(weft_queue, queue_is_shutdown), H(weft_queue, queue_destroy),
    H(weft_pool, pool_size),          H(weft_pool, pool_submit),
    H(weft_pool, pool_shutdown),      H(weft_pool, pool_destroy),
    H(weft_pool, pool_map),           H(weft_future, future_result),
    H(weft_future, future_cancel),    H(weft_future, future_done),
    H(weft_future, future_cancelled), H(weft_future, future_on_done),
    H(weft_future, future_release),   H(weft_future, futures_wait),
    H(weft_future, as_completed),     H(weft_thread, thread_join),
    H(weft_thread, thread_detach),    H(weft_thread, thread_spawn),
    H(weft_thread, thread_stop),      H(weft_thread, thread_is_alive),
    H(weft_thread, thread_name),      H(weft_thread, thread_native_id),
    H(weft_thread, thread_daemon),    H(weft_proc, proc_join),
    H(weft_proc, proc_exitcode),      H(weft_proc, proc_is_alive),
    H(weft_proc, proc_pid),           H(weft_proc, proc_name),
    H(weft_proc, proc_daemon),        H(weft_proc, proc_fd),
    H(weft_proc, proc_signal),        H(weft_proc, proc_terminate),
    H(weft_proc, proc_kill),          H(weft_proc, proc_release),
    H(weft_proc, proc_stdio),         H(weft_proc, proc_close_stdio),
    H(weft_pipe, pipe_send),          H(weft_pipe, pipe_recv),
    H(weft_pipe, pipe_next_size),     H(weft_pipe, pipe_fd),
    H(weft_pipe, pipe_close),         H(weft_ppool, ppool_size),
    H(weft_ppool, ppool_pids),        H(weft_ppool, ppool_started),
    H(weft_ppool, ppool_apply_async), H(weft_ppool, ppool_apply_argv),
    H(weft_ppool, ppool_apply),       H(weft_ppool, ppool_map),
    H(weft_ppool, ppool_map_async),   H(weft_ppool, ppool_imap),
    H(weft_ppool, ppool_close),       H(weft_ppool, ppool_terminate),
    H(weft_ppool, ppool_join),        H(weft_ppool, ppool_destroy),
    H(weft_ppool_iter, ppool_iter_next), H(weft_ppool_iter, ppool_iter_destroy),
    H(weft_http_server, http_stop),   H(weft_http_server, http_port),
};
#define NHANDLE (sizeof handle_rows / sizeof handle_rows[0])

/* ---- running one operation in a child ---------------------------------- */

static const op_row *cur;
static bool cur_destroyed;

static void child(void *arg) {
    (void)arg;
    alarm(5); /* a hang dies by SIGALRM: reported as such */
    CHECK_OK(weft_lock_init(&held));
    memset(obj, 0xA5, sizeof obj);
    if (cur_destroyed) {
        CHECK_OK(cur->init(obj));
        CHECK_OK(cur->destroy(obj));
    }
    long r = cur->call(obj);
    printf("%ld\n", r);
    fflush(stdout);
    _exit(r == -EINVAL ? 0 : 3);
}

/* Runs `cur` in a child; its stderr is captured in err. */
static void run_row(const char *where) {
    int p[2];
    CHECK_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        dup2(p[1], 2);
        close(p[0]);
        close(p[1]);
        child(NULL);
    }
    close(p[1]);
    char err[1024];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof err - 1 && (k = read(p[0], err + n, sizeof err - 1 - n)) > 0)
        n += (size_t)k;
    err[n] = 0;
    close(p[0]);
    int st = test_reap(pid);
    char want[128];
    snprintf(want, sizeof want, ": corrupted or destroyed %s at 0x", cur->type);
    if (cur->expect == ABORTS) {
        if (st != 1000 + SIGABRT || strncmp(err, "weft: weft_", 11) != 0 || !strstr(err, want))
            harness_fail(__FILE__, __LINE__,
                         "%s on a %s %s: child ended with %d (want SIGABRT), stderr: \"%s\"",
                         cur->op, where, cur->type, st, err);
    } else if (st != 0) {
        harness_fail(__FILE__, __LINE__,
                     "%s on a %s %s: child ended with %d (want -EINVAL), stderr: \"%s\"", cur->op,
                     where, cur->type, st, err);
    }
}

WEFT_TEST(caller_owned_garbage) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    cur_destroyed = false;
    for (size_t i = 0; i < NCALLER; i++) {
        cur = &caller_owned[i];
        run_row("garbage-filled");
    }
}

WEFT_TEST(caller_owned_destroyed) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    cur_destroyed = true;
    for (size_t i = 0; i < NCALLER; i++) {
        cur = &caller_owned[i];
        if (cur->init)
            run_row("destroyed");
    }
}

/* Destroy, init again: the object is as new (the tag is not sticky). */
WEFT_TEST(reinit_after_destroy) {
    weft_lock l;
    CHECK_OK(weft_lock_init(&l));
    CHECK_OK(weft_lock_destroy(&l));
    CHECK_OK(weft_lock_init(&l));
    CHECK_OK(weft_lock_acquire(&l, WEFT_FOREVER));
    CHECK_OK(weft_lock_release(&l));
    CHECK_OK(weft_lock_destroy(&l));
    weft_event e;
    CHECK_OK(weft_event_init(&e));
    CHECK_OK(weft_event_destroy(&e));
    CHECK_OK(weft_event_init(&e));
    CHECK_OK(weft_event_set(&e));
    CHECK_OK(weft_event_wait(&e, WEFT_NOWAIT));
    CHECK_OK(weft_event_destroy(&e));
    /* All-zero bytes stay a valid lock, event, cond, waitgroup and once. */
    static weft_lock zl = WEFT_LOCK_INIT;
    CHECK_OK(weft_lock_acquire(&zl, WEFT_FOREVER));
    CHECK_OK(weft_lock_release(&zl));
    CHECK_OK(weft_lock_destroy(&zl));
    static weft_once zo = WEFT_ONCE_INIT;
    CHECK_OK(weft_once_call(&zo, once_fn, NULL));
    static weft_barrier zb; /* never initialised: no round can complete */
    CHECK_ERR(weft_barrier_wait(&zb, WEFT_FOREVER), -EINVAL);
    static weft_as_completed_iter zi; /* never initialised */
    size_t idx;
    CHECK_ERR(weft_as_completed_next(&zi, WEFT_FOREVER, &idx), -EINVAL);
    weft_as_completed_destroy(&zi);
    weft_as_completed_destroy(&zi); /* twice: harmless */
}

WEFT_TEST(handles_garbage) {
    cur_destroyed = false;
    for (size_t i = 0; i < NHANDLE; i++) {
        cur = &handle_rows[i];
        run_row("garbage-filled");
    }
}

WEFT_MAIN()
