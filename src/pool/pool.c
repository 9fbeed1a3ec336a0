/* weft_pool: worker threads, the submission queue, shutdown, map, and the
 * default pool behind weft_offload.
 *
 * Submission queue. Submitters push futures on `inbox`, a lock-free LIFO
 * (one compare-and-swap, no lock shared with the workers). Workers take
 * tasks one at a time from `ready`, a FIFO under `qlock`; when it is empty,
 * the worker holding qlock swaps the whole inbox out, reverses it (arrival
 * order) and makes it the ready list. Every queued task stays visible to
 * every worker (no private batches), so a task never waits behind a
 * blocked one while another worker idles. Shutdown swaps the inbox for the
 * CLOSED marker in one exchange: a submit either lands before it (and is
 * run or cancelled) or sees CLOSED (-EPIPE); none can be stranded.
 *
 * Waking workers. Cross-core futex wake-ups cost 10-16 us here, so a
 * submit wakes a worker only when one sleeps: a worker out of work first
 * spins briefly, then registers in the idle list (nidle++, seq_cst), then
 * re-checks the queue, and only then sleeps on its own futex word; a
 * submitter pushes (seq_cst), then reads nidle and, if it is non-zero,
 * pops one idle worker and wakes exactly that one. (Dekker: either the
 * worker's re-check sees the task or the submitter sees the worker.) A
 * popped worker is out of the idle list, so wake-ups in flight are bounded
 * by the number of sleepers: busy workers cost a submitter one load.
 *
 * Future memory. When the pool's reference is the last one (fire and
 * forget, or the caller released early), the worker does not free the
 * future but pushes it on `recycled` (lock-free push); submitters take the
 * whole stack at once into `cache` (under alloc_lock, so there is no ABA
 * problem) and reuse it: no cross-thread malloc/free per task. Futures the
 * caller releases last are freed normally (they may outlive the pool).
 *
 * Lifetime. Workers exit once the inbox is CLOSED and the ready list is
 * empty; the last one to exit wakes the shutdown waiters under `lock`, and
 * that unlock is its last touch of the pool (destroy then joins the
 * threads before freeing). */
#include "pool/pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#define CLOSED ((weft_future *)(uintptr_t)1)
#define MAX_THREADS 1024
#define SPIN_NS (30 * WEFT_USEC) /* how long an idle worker looks before sleeping */

typedef struct worker {
    weft_pool *p;
    pthread_t tid;
    atomic_uint wake;          /* 1: popped from the idle list by a waker */
    struct worker *next_idle;  /* idle list link, under idle_lock */
} worker;

struct weft_pool {
    /* Written by every submit: alone on its cache line. */
    _Atomic(weft_future *) inbox;
    uint32_t tag; /* POOL_MAGIC; WEFT__TAG_DEAD once destroyed */
    char pad0[64 - sizeof(void *) - sizeof(uint32_t)];
    /* The workers' side. ready_head is atomic only so that spinning
     * workers can peek at it without the lock; it changes under qlock. */
    weft__spin qlock;
    _Atomic(weft_future *) ready_head;
    weft_future *ready_tail;
    char pad1[64 - 3 * sizeof(void *)];
    /* Read by every submit, written when workers go to sleep or are woken. */
    atomic_int nidle;
    weft__spin idle_lock;
    worker *idle;
    char pad2[64 - 2 * sizeof(void *)];
    /* Future recycling (see above). */
    _Atomic(weft_future *) recycled;
    char pad3[64 - sizeof(void *)];
    weft__spin alloc_lock;
    weft_future *cache;
    char pad4[64 - 2 * sizeof(void *)];
    /* Exit of the workers. */
    weft__spin lock;   /* protects live, join_q */
    int live;          /* workers not yet exited */
    weft__wq join_q;   /* waiting in shutdown/destroy for live == 0 */
    int nthreads;
    worker *workers;
};

#define POOL_MAGIC 0x706f6f6cu /* "pool" */
/* Every entry point checks its pool. */
static inline void check(const weft_pool *p, const char *fn) {
    weft__tag_check_handle(p->tag, POOL_MAGIC, fn, "weft_pool", p);
}

/* The pool whose worker is the calling thread (to refuse self-waits). */
static WEFT_TLS weft_pool *tls_pool;

void weft__pool_check(const weft_pool *p, const char *fn) {
    check(p, fn);
}
bool weft__pool_is_own_worker(const weft_pool *p) {
    return tls_pool == p;
}

static void futex_wait(atomic_uint *word, unsigned val) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* ---- idle workers -------------------------------------------------------- */

static void wake_one(weft_pool *p) {
    weft__spin_lock(&p->idle_lock);
    worker *w = p->idle;
    if (w) {
        p->idle = w->next_idle;
        atomic_fetch_sub(&p->nidle, 1);
        atomic_store_explicit(&w->wake, 1, memory_order_release);
    }
    weft__spin_unlock(&p->idle_lock);
    /* The worker structs live until the pool is destroyed, so a wake that
     * arrives after the worker went on without sleeping is harmless. */
    if (w)
        futex_wake(&w->wake);
}

static void wake_all_idle(weft_pool *p) {
    weft__spin_lock(&p->idle_lock);
    worker *list = p->idle;
    for (worker *w = list; w; w = w->next_idle) {
        atomic_fetch_sub(&p->nidle, 1);
        atomic_store_explicit(&w->wake, 1, memory_order_release);
    }
    p->idle = NULL;
    weft__spin_unlock(&p->idle_lock);
    /* next_idle of a woken worker is only rewritten by that worker under
     * idle_lock when it sleeps again, which it may do meanwhile; so wake
     * every worker of the pool instead of walking the list unlocked. */
    if (list)
        for (int i = 0; i < p->nthreads; i++)
            futex_wake(&p->workers[i].wake);
}

static bool peek_work(weft_pool *p) {
    return atomic_load(&p->inbox) != NULL ||
           atomic_load_explicit(&p->ready_head, memory_order_relaxed) != NULL;
}

static void idle_sleep(weft_pool *p, worker *w) {
    weft__spin_lock(&p->idle_lock);
    atomic_store_explicit(&w->wake, 0, memory_order_relaxed);
    w->next_idle = p->idle;
    p->idle = w;
    atomic_fetch_add(&p->nidle, 1); /* seq_cst: ordered before the re-check */
    weft__spin_unlock(&p->idle_lock);

    weft__spin_lock(&p->qlock);
    bool work = atomic_load(&p->inbox) != NULL ||
                atomic_load_explicit(&p->ready_head, memory_order_relaxed) != NULL;
    weft__spin_unlock(&p->qlock);
    if (work) {
        weft__spin_lock(&p->idle_lock);
        for (worker **pp = &p->idle; *pp; pp = &(*pp)->next_idle) {
            if (*pp == w) {
                *pp = w->next_idle;
                atomic_fetch_sub(&p->nidle, 1);
                break;
            }
        }
        /* Not found: a waker popped us; its futex wake is harmless. */
        weft__spin_unlock(&p->idle_lock);
        return;
    }
    while (!atomic_load_explicit(&w->wake, memory_order_acquire))
        futex_wait(&w->wake, 0);
}

/* Looks for work for up to SPIN_NS: pause first, then yield the CPU (on
 * two cores the submitter may need the one we spin on). */
static bool spin_for_work(weft_pool *p) {
    int64_t start = 0;
    for (unsigned i = 0;; i++) {
        if (peek_work(p))
            return true;
        if (i < 64) {
            weft__cpu_relax();
            continue;
        }
        if ((i & 7) == 0) {
            int64_t now = weft_now();
            if (!start)
                start = now;
            else if (now - start > SPIN_NS)
                return peek_work(p);
        }
        sched_yield();
    }
}

/* ---- the queue ------------------------------------------------------------ */

/* Reverses a LIFO chain into FIFO order and appends it to ready. qlock held. */
static void append_ready(weft_pool *p, weft_future *h) {
    weft_future *rev = NULL, *tail = h;
    while (h) {
        weft_future *n = h->next;
        h->next = rev;
        rev = h;
        h = n;
    }
    if (!rev)
        return;
    if (p->ready_tail)
        p->ready_tail->next = rev;
    else
        atomic_store_explicit(&p->ready_head, rev, memory_order_relaxed);
    p->ready_tail = tail;
}

static weft_future *pop(weft_pool *p, bool *closed) {
    weft__spin_lock(&p->qlock);
    weft_future *f = atomic_load_explicit(&p->ready_head, memory_order_relaxed);
    if (!f) {
        weft_future *h = atomic_load_explicit(&p->inbox, memory_order_acquire);
        while (h && h != CLOSED &&
               !atomic_compare_exchange_weak_explicit(&p->inbox, &h, NULL, memory_order_acquire,
                                                      memory_order_acquire))
            ;
        if (h == CLOSED)
            *closed = true;
        else if (h)
            append_ready(p, h);
        f = atomic_load_explicit(&p->ready_head, memory_order_relaxed);
    }
    if (f) {
        atomic_store_explicit(&p->ready_head, f->next, memory_order_relaxed);
        if (!f->next)
            p->ready_tail = NULL;
    }
    weft__spin_unlock(&p->qlock);
    return f;
}

static void recycle(weft_pool *p, weft_future *f) {
    f->tag = WEFT__TAG_DEAD; /* released: a stale handle must not pass as live */
    weft_future *h = atomic_load_explicit(&p->recycled, memory_order_relaxed);
    do
        f->next = h;
    while (!atomic_compare_exchange_weak_explicit(&p->recycled, &h, f, memory_order_release,
                                                  memory_order_relaxed));
}

/* Drops the pool's reference. refs == 1 means only ours is left, and no
 * one can take a new one: reuse f without an atomic decrement. */
static void drop(weft_pool *p, weft_future *f) {
    if (atomic_load_explicit(&f->refs, memory_order_acquire) == 1 ||
        atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) == 1)
        recycle(p, f);
}

static weft_future *future_alloc(weft_pool *p) {
    weft__spin_lock(&p->alloc_lock);
    weft_future *f = p->cache;
    if (!f && atomic_load_explicit(&p->recycled, memory_order_relaxed))
        f = atomic_exchange_explicit(&p->recycled, NULL, memory_order_acquire);
    if (f)
        p->cache = f->next;
    weft__spin_unlock(&p->alloc_lock);
    return f ? f : weft__malloc(sizeof *f);
}

static void free_chain(weft_future *f) {
    while (f) {
        weft_future *n = f->next;
        weft__free(f);
        f = n;
    }
}

static void run(weft_pool *p, weft_future *f) {
    unsigned s = atomic_load_explicit(&f->state, memory_order_relaxed);
    do {
        if ((s & F_MASK) != F_PENDING) /* cancelled while queued */
            goto drop;
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &s, (s & ~(unsigned)F_MASK) | F_RUNNING,
                                                    memory_order_acq_rel, memory_order_relaxed));
    void *res = NULL;
    int st = f->fn(f->arg, &res);
    if (st < 0 && f->forget)
        weft__thread_report_task(f->fn, f->arg, st); /* no one else will see it */
    f->result = res;
    f->status = st;
    weft__future_finish(f, atomic_exchange_explicit(&f->state, F_DONE, memory_order_acq_rel));
drop:
    drop(p, f);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    weft_pool *p = w->p;
    tls_pool = p;
    for (;;) {
        bool closed = false;
        weft_future *f = pop(p, &closed);
        if (f) {
            run(p, f);
            continue;
        }
        if (closed)
            break;
        if (!spin_for_work(p))
            idle_sleep(p, w);
    }
    tls_pool = NULL;
    weft__spin_lock(&p->lock);
    if (--p->live == 0)
        weft__wq_wake_all(&p->join_q, &p->lock, 0); /* unlocks: last touch of p */
    else
        weft__spin_unlock(&p->lock);
    return NULL;
}

/* ---- create, submit, shutdown, destroy ------------------------------------ */

static int online_cpus(void) {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c < 1 ? 1 : c > MAX_THREADS ? MAX_THREADS : (int)c;
}

/* Closes the queue; with cancel, cancels and drops every queued task. */
static void close_pool(weft_pool *p, bool cancel) {
    weft_future *doomed = NULL;
    weft__spin_lock(&p->qlock);
    weft_future *h = atomic_exchange(&p->inbox, CLOSED);
    if (h != CLOSED)
        append_ready(p, h);
    if (cancel) {
        doomed = atomic_load_explicit(&p->ready_head, memory_order_relaxed);
        atomic_store_explicit(&p->ready_head, NULL, memory_order_relaxed);
        p->ready_tail = NULL;
    }
    weft__spin_unlock(&p->qlock);
    wake_all_idle(p);
    while (doomed) {
        weft_future *f = doomed;
        doomed = f->next;
        if (f->fn == weft__imap_task)
            weft__imap_task_cancel(f); /* its iterator must hear of it */
        else
            weft__future_try_cancel(f);
        weft_future_release(f); /* the pool's reference */
    }
}

static int wait_stopped(weft_pool *p, int kind) {
    weft__spin_lock(&p->lock);
    while (p->live > 0) {
        weft__why(WEFT__WHY_POOL, p, 0);
        int r = weft__wq_wait(&p->join_q, &p->lock, false, 0, NULL, WEFT_FOREVER, NULL, kind);
        if (r < 0)
            return r;
        weft__spin_lock(&p->lock);
    }
    weft__spin_unlock(&p->lock);
    return 0;
}

static void free_pool(weft_pool *p) {
    free_chain(p->cache);
    free_chain(atomic_load(&p->recycled));
    weft__free(p->workers);
    p->tag = WEFT__TAG_DEAD;
    weft__free(p);
}

WEFT_API int weft_pool_create(weft_pool **out, int nthreads) {
    if (!out || nthreads < 0 || nthreads > MAX_THREADS)
        return -EINVAL;
    if (nthreads == 0)
        nthreads = online_cpus();
    weft_pool *p = weft__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->workers = weft__calloc((size_t)nthreads, sizeof *p->workers);
    if (!p->workers) {
        weft__free(p);
        return -ENOMEM;
    }
    p->nthreads = nthreads;
    p->tag = POOL_MAGIC;

    /* Workers take no asynchronous signals; synchronous ones stay open so
     * that faults reach their handlers (e.g. the stack overflow report). */
    sigset_t all, old;
    sigfillset(&all);
    static const int sync_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t i = 0; i < sizeof sync_sigs / sizeof sync_sigs[0]; i++)
        sigdelset(&all, sync_sigs[i]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int started = 0, err = 0;
    weft__spin_lock(&p->lock);
    p->live = nthreads;
    weft__spin_unlock(&p->lock);
    for (; started < nthreads; started++) {
        worker *w = &p->workers[started];
        w->p = p;
        int e = pthread_create(&w->tid, NULL, worker_main, w);
        if (e) {
            err = e == ENOMEM ? -ENOMEM : -EAGAIN;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        weft__spin_lock(&p->lock);
        p->live -= nthreads - started;
        weft__spin_unlock(&p->lock);
        close_pool(p, false);
        wait_stopped(p, WEFT__W_NOCANCEL);
        for (int i = 0; i < started; i++)
            pthread_join(p->workers[i].tid, NULL);
        free_pool(p);
        return err;
    }
    *out = p;
    return 0;
}

WEFT_API int weft_pool_size(const weft_pool *p) {
    if (!p)
        return 0;
    check(p, "weft_pool_size");
    return p->nthreads;
}

WEFT_API int weft_pool_submit(weft_pool *p, weft_task_fn fn, void *arg, weft_future **out) {
    if (!p || !fn)
        return -EINVAL;
    check(p, "weft_pool_submit");
    weft_future *h = atomic_load_explicit(&p->inbox, memory_order_relaxed);
    if (h == CLOSED)
        return -EPIPE;
    weft_future *f = future_alloc(p);
    if (!f)
        return -ENOMEM;
    weft__future_init(f, fn, arg, out ? 2 : 1);
    f->forget = !out;
    do {
        if (h == CLOSED) {
            weft__free(f);
            return -EPIPE;
        }
        f->next = h;
    } while (!atomic_compare_exchange_weak_explicit(&p->inbox, &h, f, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* seq_cst push, then this load: see "Waking workers" above. */
    if (atomic_load(&p->nidle) > 0)
        wake_one(p);
    if (out)
        *out = f;
    return 0;
}

WEFT_API int weft_pool_shutdown(weft_pool *p, int wait, int cancel_pending) {
    if (!p)
        return -EINVAL;
    check(p, "weft_pool_shutdown");
    if (wait && tls_pool == p)
        return -EDEADLK;
    close_pool(p, cancel_pending != 0);
    return wait ? wait_stopped(p, WEFT__W_OTHER) : 0;
}

WEFT_API int weft_pool_destroy(weft_pool *p) {
    if (!p)
        return 0;
    check(p, "weft_pool_destroy");
    if (tls_pool == p)
        return -EDEADLK;
    close_pool(p, false);
    wait_stopped(p, WEFT__W_NOCANCEL);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->workers[i].tid, NULL);
    free_pool(p);
    return 0;
}

/* ---- map ------------------------------------------------------------------- */

WEFT_API int weft_pool_map(weft_pool *p, weft_task_fn fn, void *const *args, void **results,
                           int *statuses, size_t n, int64_t deadline) {
    if (!p || !fn || (n && !args))
        return -EINVAL;
    check(p, "weft_pool_map");
    if (n == 0)
        return 0;
    if (tls_pool == p)
        return -EDEADLK;
    if (n > SIZE_MAX / sizeof(weft_future *))
        return -ENOMEM;
    weft_future **fs = weft__malloc(n * sizeof *fs);
    if (!fs)
        return -ENOMEM;
    size_t k, i;
    int err = 0;
    /* Every task may run while the caller waits for any one of them: a
     * SHARED caller that hands one a pointer into its stack keeps the
     * stack in place for the whole call. */
    bool pinned = false;
    for (k = 0; k < n && !pinned; k++)
        pinned = weft__stack_pin_if(args[k]);
    for (k = 0; k < n; k++) {
        int r = weft_pool_submit(p, fn, args[k], &fs[k]);
        if (r < 0) {
            err = r;
            break;
        }
    }
    for (i = 0; i < k && !err; i++) {
        int r = weft__future_wait(fs[i], deadline, WEFT__W_OTHER);
        if (r < 0)
            err = r;
    }
    if (err) {
        /* Cancel what has not started; wait for what runs (it uses args). */
        for (i = 0; i < k; i++)
            weft__future_try_cancel(fs[i]);
        for (i = 0; i < k; i++)
            while (weft__future_wait(fs[i], WEFT_FOREVER, WEFT__W_NOCANCEL) < 0)
                sched_yield(); /* only -ENOMEM (no park memory) can fail */
    }
    int ret = err;
    for (i = 0; i < n; i++) {
        void *res = NULL;
        int st = i < k ? weft__future_outcome(fs[i], &res) : -ECANCELED;
        if (statuses)
            statuses[i] = st;
        if (results)
            results[i] = res;
        if (!ret && st < 0)
            ret = st;
        if (i < k)
            weft_future_release(fs[i]);
    }
    if (pinned)
        weft__stack_unpin();
    weft__free(fs);
    return ret;
}

/* ---- the default pool and offload ---------------------------------------- */

/* The one piece of global state of the pool layer: created on first use,
 * never destroyed (its workers never keep the process from exiting). A
 * forked child starts without one (the parent's workers do not exist
 * there; its memory is abandoned). */
static _Atomic(weft_pool *) default_pool;
static pthread_mutex_t default_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void default_atfork_child(void) {
    atomic_store(&default_pool, NULL);
    pthread_mutex_init(&default_mu, NULL);
}

static void default_setup(void) { pthread_atfork(NULL, NULL, default_atfork_child); }

WEFT_API int weft_pool_default(weft_pool **out) {
    if (!out)
        return -EINVAL;
    weft_pool *p = atomic_load_explicit(&default_pool, memory_order_acquire);
    if (!p) {
        pthread_once(&default_once, default_setup);
        pthread_mutex_lock(&default_mu);
        p = atomic_load_explicit(&default_pool, memory_order_acquire);
        if (!p) {
            int n = online_cpus() + 4;
            int r = weft_pool_create(&p, n > 32 ? 32 : n);
            if (r < 0) {
                pthread_mutex_unlock(&default_mu);
                return r;
            }
            atomic_store_explicit(&default_pool, p, memory_order_release);
        }
        pthread_mutex_unlock(&default_mu);
    }
    *out = p;
    return 0;
}

WEFT_API int weft_offload(weft_task_fn fn, void *arg, void **result) {
    if (result)
        *result = NULL;
    if (!fn)
        return -EINVAL;
    weft_pool *p;
    int r = weft_pool_default(&p);
    if (r < 0)
        return r;
    weft_future *f;
    if ((r = weft_pool_submit(p, fn, arg, &f)) < 0)
        return r;
    r = weft__future_wait(f, WEFT_FOREVER, WEFT__W_OTHER);
    if (r < 0) {
        if (weft__future_try_cancel(f)) {
            weft_future_release(f);
            return r;
        }
        /* fn runs (or ran): arg stays in use until it returns. */
        while (weft__future_wait(f, WEFT_FOREVER, WEFT__W_NOCANCEL) < 0)
            sched_yield(); /* only -ENOMEM (no park memory) can fail */
    }
    r = weft__future_outcome(f, result);
    weft_future_release(f);
    return r;
}
