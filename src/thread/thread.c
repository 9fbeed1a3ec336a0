/* weft_thread: Python's threading.Thread on top of pthreads.
 *
 * A thread record (one allocation: the struct, then its name) lives from
 * weft_thread_start until it is released by exactly one party:
 *  - the joiner, after the thread's "done" event is set and pthread_join
 *    has returned (so the thread no longer touches the record), or
 *  - the thread itself at the very end of its trampoline, if it was
 *    detached, or the detacher, if the thread had already finished.
 * `state` arbitrates: the thread sets FINISHED as the last thing it does
 * with the record; detach sets DETACHED; whoever comes second frees.
 * JOINING is held by one joiner at a time (a second concurrent join or a
 * detach meanwhile gets -EINVAL).
 *
 * Finishing is signalled with a weft_event, so a join waits like any other
 * weft call: a coroutine parks (its thread keeps running the others), a
 * plain thread blocks on a futex, deadlines and cancellation work. Only
 * then is pthread_join called, which at that point waits at most for the
 * thread's exit path (TLS destructors, e.g. freeing its scheduler); from a
 * coroutine with other coroutines to run, even that wait polls with
 * pthread_tryjoin_np and short sleeps. One shortcut: a thread without a
 * scheduler joining with WEFT_FOREVER has nothing to keep running and
 * nothing to time out, so it calls pthread_join directly (one futex round
 * trip instead of two: thread_spawn goes from ~2x to ~1.1x raw pthreads
 * when pinned to one CPU).
 *
 * Daemon semantics: every non-daemon thread is counted in `g_live` from
 * before pthread_create until its function returns (protected by g_mu).
 * An atexit handler, registered once with the first thread start, waits
 * on g_cv until no non-daemon thread other than the caller of exit() is
 * counted. After fork the child's count is reset to the forking thread
 * alone (the other threads do not exist there). */
#include "internal.h"
#include "sync/watch.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

enum {
    T_FINISHED = 1, /* the thread is done with the record (except freeing it) */
    T_DETACHED = 2,
    T_JOINING = 4,
};

struct weft_thread {
    weft_event done; /* set when fn has returned */
    uint32_t tag;    /* THREAD_MAGIC; WEFT__TAG_DEAD once freed */
    pthread_t pt;    /* written by the starter before anyone joins/detaches */
    weft_thread_fn fn;
    void *arg;
    void *result;        /* written by the thread before `done` is set */
    _Atomic int64_t tid; /* 0 until the thread runs */
    atomic_uint state;   /* T_* */
    int daemon;
    int counted; /* in g_live; protected by g_mu */
    int serve;
    weft_event stop;          /* serve: set by weft_thread_stop */
    weft_event ready;         /* serve: set once sched is published (or failed) */
    weft__spin slock;         /* serve: guards sched */
    weft__sched *sched;       /* serve: while it accepts spawns; NULL before and after */
    uint64_t ident;           /* weft_thread_ident of the thread, fixed at start */
    weft_thread *prev, *next; /* the registry of running threads; g_mu */
    int listed;               /* in the registry; g_mu */
    void (*free_arg)(void *); /* weft__thread_start_owned: frees arg with the record */
    int error;                /* weft_thread_fail: reported when fn returns */
    char name[];              /* copied */
};

#define THREAD_MAGIC 0x74687264u /* "thrd" */
/* Every entry point checks its handle. */
static inline void check(const weft_thread *t, const char *fn) {
    weft__tag_check_handle(t->tag, THREAD_MAGIC, fn, "weft_thread", t);
}

/* Process-wide state. */
static atomic_ulong g_counter; /* "Thread-N" and "Dummy-N", as Python shares it */
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static long g_live; /* non-daemon threads still running fn; g_mu */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* The registry (weft_thread_enumerate): every started thread whose fn has not
 * returned, in start order; g_mu. */
static weft_thread *g_head, *g_tail;
/* Idents: 1 is the process's initial thread (after fork: the forking thread's
 * ident); others are numbered from 2 at start or at first use, never reused. */
static atomic_uint_least64_t g_next_ident = 2;
static atomic_uint_least64_t g_main_ident = 1;
static WEFT_TLS uint64_t tls_ident;

/* The excepthook (weft_thread_set_excepthook); NULL: the default. g_mu. */
static weft_excepthook_fn g_hook;
static void *g_hook_ud;

static WEFT_TLS weft_thread *tls_self; /* the weft thread running on this thread */
static WEFT_TLS char tls_dummy[32];    /* "Dummy-N" of a foreign thread, once named */

static int64_t gettid_(void) {
    return (int64_t)syscall(SYS_gettid);
}

/* ---------------------------------------------------------------- exit/fork */

static void at_exit_wait(void) {
    weft_thread *self = tls_self;
    pthread_mutex_lock(&g_mu);
    for (;;) {
        long others = g_live - (self && self->counted ? 1 : 0);
        if (others <= 0)
            break;
        pthread_cond_wait(&g_cv, &g_mu);
    }
    pthread_mutex_unlock(&g_mu);
}

static void fork_prepare(void) {
    pthread_mutex_lock(&g_mu);
}
static void fork_parent(void) {
    pthread_mutex_unlock(&g_mu);
}
static void fork_child(void) {
    /* Only the forking thread exists in the child. */
    pthread_mutex_init(&g_mu, NULL);
    pthread_cond_init(&g_cv, NULL);
    weft_thread *self = tls_self;
    g_live = self && self->counted ? 1 : 0;
    /* The forking thread is the child's main thread; it keeps its ident. */
    atomic_store(&g_main_ident, weft_thread_ident());
    g_head = g_tail = NULL;
    if (self && self->listed) {
        self->prev = self->next = NULL;
        g_head = g_tail = self;
    }
}

static void global_init(void) {
    if (atexit(at_exit_wait) != 0)
        WEFT_PANIC("atexit failed");
    if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0)
        WEFT_PANIC("pthread_atfork failed");
}

static void live_remove(weft_thread *t) {
    pthread_mutex_lock(&g_mu);
    if (t->listed) {
        t->listed = 0;
        *(t->prev ? &t->prev->next : &g_head) = t->next;
        *(t->next ? &t->next->prev : &g_tail) = t->prev;
    }
    if (t->counted) {
        t->counted = 0;
        g_live--;
        pthread_cond_broadcast(&g_cv); /* cheap without waiters */
    }
    pthread_mutex_unlock(&g_mu);
}

/* ---------------------------------------------------------------- records */

static void record_free(weft_thread *t) {
    int r = weft_event_destroy(&t->done);
    WEFT_ASSERT(r == 0);
    if (t->free_arg)
        t->free_arg(t->arg);
    t->tag = WEFT__TAG_DEAD;
    weft__free(t);
}

/* Sets the kernel's name of the calling thread (15 bytes at most, cut at a
 * UTF-8 character boundary). Best effort. */
static void set_kernel_name(const char *name) {
    char buf[16];
    size_t n = strlen(name);
    if (n > 15) {
        n = 15;
        while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(buf, name, n);
    buf[n] = 0;
    (void)pthread_setname_np(pthread_self(), buf);
}

/* ---------------------------------------------------------------- excepthook */

/* Runs the hook for thread t's failure (t NULL: a pool task fn(arg)) on the
 * failing thread; the hook is called outside g_mu, so it may replace itself. */
static void report(weft_thread *t, weft_task_fn task, void *arg, int err) {
    pthread_once(&g_once, global_init);
    pthread_mutex_lock(&g_mu);
    weft_excepthook_fn fn = g_hook;
    void *ud = g_hook_ud;
    pthread_mutex_unlock(&g_mu);
    weft_excepthook_args a = {weft_thread_current_name(), weft_thread_ident(), err, t, task, arg};
    if (fn)
        fn(&a, ud);
    else
        weft_thread_excepthook_default(&a, NULL);
}

void weft__thread_report_task(weft_task_fn fn, void *arg, int err) {
    report(NULL, fn, arg, err);
}

WEFT_API void weft_thread_excepthook_default(const weft_excepthook_args *a, void *ud) {
    (void)ud;
    if (!a)
        return;
    char line[512];
    int n;
    const char *name = a->thread_name ? a->thread_name : "?";
    if (a->task)
        n = snprintf(line, sizeof line,
                     "Exception in a fire-and-forget pool task on thread %s (ident %llu): %s "
                     "(%d)\n",
                     name, (unsigned long long)a->ident, weft_strerror(a->err), a->err);
    else
        n = snprintf(line, sizeof line, "Exception in thread %s (ident %llu): %s (%d)\n", name,
                     (unsigned long long)a->ident, weft_strerror(a->err), a->err);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    /* One write: lines of several failing threads do not interleave. */
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}

WEFT_API void weft_thread_set_excepthook(weft_excepthook_fn fn, void *ud) {
    pthread_once(&g_once, global_init);
    pthread_mutex_lock(&g_mu);
    g_hook = fn;
    g_hook_ud = fn ? ud : NULL;
    pthread_mutex_unlock(&g_mu);
}

WEFT_API int weft_thread_get_excepthook(weft_excepthook_fn *fn, void **ud) {
    if (!fn)
        return -EINVAL;
    pthread_once(&g_once, global_init);
    pthread_mutex_lock(&g_mu);
    weft_excepthook_fn h = g_hook;
    if (ud)
        *ud = g_hook_ud;
    pthread_mutex_unlock(&g_mu);
    *fn = h ? h : weft_thread_excepthook_default;
    return 0;
}

WEFT_API int weft_thread_fail(int err) {
    if (err >= 0)
        return -EINVAL;
    weft_thread *t = tls_self;
    if (!t)
        return -ESRCH;
    t->error = err;
    return 0;
}

static void *trampoline(void *p) {
    weft_thread *t = p;
    tls_self = t;
    tls_ident = t->ident;
    atomic_store_explicit(&t->tid, gettid_(), memory_order_release);
    set_kernel_name(t->name);

    if (t->serve) {
        /* A coroutine server: publish the scheduler, run fn, then keep
         * running what others spawn onto us until stopped and idle. */
        weft__sched *s = weft__sched_ensure();
        weft__spin_lock(&t->slock);
        t->sched = s;
        weft__spin_unlock(&t->slock);
        weft_event_set(&t->ready);
        if (t->fn)
            t->result = t->fn(t->arg);
        if (s) {
            while (weft_event_wait(&t->stop, WEFT_FOREVER) != 0)
                ;
            weft__spin_lock(&t->slock);
            t->sched = NULL;
            weft__spin_unlock(&t->slock);
            weft__sched_close_spawns(s);
            /* Coroutines spawned here are detached: wait for them to end. */
            while (weft_coro_count() > 0)
                weft_sleep(WEFT_MSEC);
        }
    } else {
        t->result = t->fn(t->arg);
    }
    if (t->error < 0)
        report(t, NULL, NULL, t->error); /* still alive and listed, as in Python */

    live_remove(t);
    tls_self = NULL;
    weft_event_set(&t->done);
    unsigned prev = atomic_fetch_or_explicit(&t->state, T_FINISHED, memory_order_acq_rel);
    if (prev & T_DETACHED)
        record_free(t); /* pthread_detach was called by weft_thread_detach */
    return NULL;
}

/* Creates and starts a thread. With `early`, *out is set before the thread
 * starts (so the thread may read it) and reset to NULL on failure. */
static int start_impl(weft_thread **out, weft_thread_fn fn, void *arg, const weft_thread_opts *opts,
                      bool early) {
    if (!out || (!fn && !(opts && opts->serve)))
        return -EINVAL;
    size_t stack = opts ? opts->stack_size : 0;
    if (stack && stack < 64 * 1024)
        return -EINVAL;
    pthread_once(&g_once, global_init);

    char defname[32];
    const char *name = opts && opts->name ? opts->name : NULL;
    if (!name) {
        unsigned long n = atomic_fetch_add_explicit(&g_counter, 1, memory_order_relaxed) + 1;
        snprintf(defname, sizeof defname, "Thread-%lu", n);
        name = defname;
    }
    size_t len = strlen(name);
    weft_thread *t = weft__malloc(sizeof *t + len + 1);
    if (!t)
        return -ENOMEM;
    memset(t, 0, sizeof *t);
    t->tag = THREAD_MAGIC;
    memcpy(t->name, name, len + 1);
    weft_event_init(&t->done);
    t->fn = fn;
    t->arg = arg;
    t->daemon = opts && opts->daemon ? 1 : 0;
    t->serve = opts && opts->serve ? 1 : 0;
    weft_event_init(&t->stop);
    weft_event_init(&t->ready);

    pthread_attr_t attr, *pattr = NULL;
    if (stack) {
        long page = sysconf(_SC_PAGESIZE);
        if (page <= 0)
            page = 4096;
        size_t ps = (size_t)page;
        if (stack > SIZE_MAX / 2) {
            record_free(t);
            return -EINVAL;
        }
        stack = (stack + ps - 1) / ps * ps;
        /* The platform's own minimum (PTHREAD_STACK_MIN: 16 KiB on x86_64, 128 KiB on
         * aarch64 with glibc) may be above weft's documented one: raise to it. */
        long pmin = sysconf(_SC_THREAD_STACK_MIN);
        if (pmin > 0 && stack < (size_t)pmin)
            stack = (size_t)pmin;
        if (pthread_attr_init(&attr) != 0) {
            record_free(t);
            return -ENOMEM;
        }
        int e = pthread_attr_setstacksize(&attr, stack);
        if (e != 0) {
            pthread_attr_destroy(&attr);
            record_free(t);
            return -e;
        }
        pattr = &attr;
    }

    /* Counted before it exists, so an exit() racing with this start waits;
     * listed before it exists, so weft_thread_enumerate sees it once start
     * returns. */
    t->ident = atomic_fetch_add_explicit(&g_next_ident, 1, memory_order_relaxed);
    pthread_mutex_lock(&g_mu);
    if (!t->daemon) {
        t->counted = 1;
        g_live++;
    }
    t->listed = 1;
    t->prev = g_tail;
    *(g_tail ? &g_tail->next : &g_head) = t;
    g_tail = t;
    pthread_mutex_unlock(&g_mu);
    weft_thread *old = early ? *out : NULL;
    if (early)
        *out = t;
    /* A thread that detaches itself may be gone as soon as it is created:
     * read nothing from t afterwards, except a server's (which cannot end
     * before weft_thread_stop). */
    int serve = t->serve;
    int e = pthread_create(&t->pt, pattr, trampoline, t);
    if (pattr)
        pthread_attr_destroy(pattr);
    if (e != 0) {
        if (early)
            *out = old;
        live_remove(t);
        record_free(t);
        return e == EAGAIN ? -EAGAIN : e == ENOMEM ? -ENOMEM : -e;
    }
    if (serve) {
        /* Spawning onto it works as soon as start returns. Not cancellable:
         * the thread is already running and owned by the caller. */
        if (weft_event_wait(&t->ready, WEFT_FOREVER) != 0)
            while (!weft_event_is_set(&t->ready)) /* cancelled: wait unparked */
                sched_yield();
    }
    if (!early)
        *out = t;
    return 0;
}

WEFT_API int weft_thread_start(weft_thread **out, weft_thread_fn fn, void *arg,
                               const weft_thread_opts *opts) {
    return start_impl(out, fn, arg, opts, false);
}

int weft__thread_start_owned(weft_thread **out, weft_thread_fn fn, void *arg,
                             void (*free_arg)(void *)) {
    int r = start_impl(out, fn, arg, NULL, false);
    /* Only the holder of the handle can free the record (join, detach), so
     * setting this after the thread started is not a race. */
    if (r == 0)
        (*out)->free_arg = free_arg;
    return r;
}

void *weft__thread_owned_arg(weft_thread *t, weft_thread_fn fn) {
    check(t, "weft_timer_cancel");
    return t->fn == fn && t->free_arg ? t->arg : NULL;
}

/* pthread_join on a thread whose fn has returned: it is at most running its
 * exit path. A coroutine with others to run polls instead of blocking them. */
static void reap(weft_thread *t) {
    int e = pthread_tryjoin_np(t->pt, NULL);
    if (e == EBUSY && weft__sched_get() && weft_coro_count() > 0) {
        int64_t pause = 20 * WEFT_USEC;
        while ((e = pthread_tryjoin_np(t->pt, NULL)) == EBUSY) {
            if (weft_sleep(pause) < 0)
                break; /* cancelled: finish the join blocking */
            if (pause < WEFT_MSEC)
                pause *= 2;
        }
    }
    if (e == EBUSY)
        e = pthread_join(t->pt, NULL);
    if (e != 0)
        WEFT_PANIC("pthread_join of thread \"%s\" failed: %s", t->name, weft_strerror(e));
}

WEFT_API int weft_thread_join(weft_thread *t, int64_t deadline, void **result) {
    if (!t)
        return -EINVAL;
    check(t, "weft_thread_join");
    if (t == tls_self)
        return -EDEADLK;
    unsigned s = atomic_load_explicit(&t->state, memory_order_acquire);
    do {
        if (s & (T_DETACHED | T_JOINING))
            return -EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, s | T_JOINING,
                                                    memory_order_acq_rel, memory_order_acquire));
    /* A plain thread (no coroutines to keep running) waiting forever loses
     * nothing by blocking in pthread_join at once, and saves a futex round
     * trip; everyone else waits on the event first. */
    int r = 0;
    if (deadline != WEFT_FOREVER || weft__sched_get()) {
        /* A SHARED coroutine that gave the thread a pointer into its stack
         * keeps the stack in place while it waits. */
        bool pinned = weft__stack_pin_if(t->arg);
        r = weft_event_wait(&t->done, deadline);
        if (pinned)
            weft__stack_unpin();
    }
    if (r < 0) {
        atomic_fetch_and_explicit(&t->state, ~(unsigned)T_JOINING, memory_order_release);
        return r;
    }
    reap(t);
    if (result)
        *result = t->result;
    record_free(t);
    return 0;
}

WEFT_API int weft_thread_detach(weft_thread *t) {
    if (!t)
        return -EINVAL;
    check(t, "weft_thread_detach");
    pthread_t pt = t == tls_self ? pthread_self() : t->pt;
    unsigned s = atomic_load_explicit(&t->state, memory_order_acquire);
    do {
        if (s & (T_DETACHED | T_JOINING))
            return -EINVAL;
    } while (!atomic_compare_exchange_weak_explicit(&t->state, &s, s | T_DETACHED,
                                                    memory_order_acq_rel, memory_order_acquire));
    /* From here the thread may free t as soon as it finishes: use only pt. */
    int e = pthread_detach(pt);
    if (e != 0)
        WEFT_PANIC("pthread_detach failed: %s", weft_strerror(e));
    if (s & T_FINISHED)
        record_free(t);
    return 0;
}

WEFT_API int weft_thread_spawn(weft_thread *t, weft_coro_fn fn, void *arg,
                               const weft_coro_opts *opts) {
    static const weft_coro_opts defaults;
    if (!t || !fn)
        return -EINVAL;
    check(t, "weft_thread_spawn");
    if (!t->serve)
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    if (opts->suspended)
        return -EINVAL;
    weft__spin_lock(&t->slock);
    weft__sched *s = t->sched;
    if (s)
        weft__sched_pin(s); /* alive: it is only freed after sched is cleared */
    weft__spin_unlock(&t->slock);
    if (!s)
        return -ESRCH;
    return weft__sched_remote_spawn(s, fn, arg, opts);
}

WEFT_API int weft_thread_stop(weft_thread *t) {
    if (!t)
        return -EINVAL;
    check(t, "weft_thread_stop");
    if (!t->serve)
        return -EINVAL;
    return weft_event_set(&t->stop);
}

WEFT_API int weft_thread_is_alive(const weft_thread *t) {
    if (t)
        check(t, "weft_thread_is_alive");
    return t && !weft_event_is_set((weft_event *)&t->done) ? 1 : 0;
}

WEFT_API const char *weft_thread_name(const weft_thread *t) {
    if (t)
        check(t, "weft_thread_name");
    return t ? t->name : NULL;
}

WEFT_API int64_t weft_thread_native_id(const weft_thread *t) {
    if (t)
        check(t, "weft_thread_native_id");
    return t ? atomic_load_explicit(&((weft_thread *)t)->tid, memory_order_acquire) : 0;
}

WEFT_API int weft_thread_daemon(const weft_thread *t) {
    if (t)
        check(t, "weft_thread_daemon");
    return t && t->daemon ? 1 : 0;
}

WEFT_API const char *weft_thread_current_name(void) {
    weft_thread *t = tls_self;
    if (t)
        return t->name;
    if (getpid() == gettid_())
        return "MainThread";
    if (!tls_dummy[0]) {
        unsigned long n = atomic_fetch_add_explicit(&g_counter, 1, memory_order_relaxed) + 1;
        snprintf(tls_dummy, sizeof tls_dummy, "Dummy-%lu", n);
    }
    return tls_dummy;
}

WEFT_API int64_t weft_thread_current_id(void) {
    return gettid_();
}

WEFT_API uint64_t weft_thread_ident(void) {
    uint64_t id = tls_ident;
    if (id == 0) {
        /* So that a fork from here moves the main ident (fork_child). */
        pthread_once(&g_once, global_init);
        if (gettid_() == (int64_t)getpid())
            id = atomic_load(&g_main_ident);
        else
            id = atomic_fetch_add_explicit(&g_next_ident, 1, memory_order_relaxed);
        tls_ident = id;
    }
    return id;
}

WEFT_API int weft_thread_enumerate(uint64_t *idents, int max) {
    if (max < 0 || (!idents && max > 0))
        return -EINVAL;
    uint64_t self = weft_thread_ident(), main_id = atomic_load(&g_main_ident);
    int n = 0;
    pthread_mutex_lock(&g_mu);
    if (n < max)
        idents[n] = main_id;
    n++;
    weft_thread *me = tls_self;
    if (self != main_id && !(me && me->listed)) {
        if (n < max)
            idents[n] = self;
        n++;
    }
    for (weft_thread *t = g_head; t; t = t->next) {
        if (t->ident == main_id)
            continue; /* after fork, the forking weft thread is the main thread */
        if (n < max)
            idents[n] = t->ident;
        n++;
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

WEFT_API int weft_thread_active_count(void) {
    return weft_thread_enumerate(NULL, 0);
}

/* ---------------------------------------------------------------- subclass style */

static void *obj_trampoline(void *p) {
    weft_thread_obj *o = p;
    return o->run(o);
}

WEFT_API int weft_thread_obj_start(weft_thread_obj *self, const weft_thread_opts *opts) {
    if (!self || !self->run)
        return -EINVAL;
    /* self->handle is set before the thread starts, so run() may use it. */
    return start_impl(&self->handle, obj_trampoline, self, opts, true);
}

WEFT_API int weft_thread_obj_join(weft_thread_obj *self, int64_t deadline, void **result) {
    if (!self || !self->handle)
        return -EINVAL;
    int r = weft_thread_join(self->handle, deadline, result);
    if (r == 0)
        self->handle = NULL;
    return r;
}

int weft__thread_watchable(weft_thread *t, weft_event **done, void **arg) {
    check(t, "weft_wait_any");
    if (t == tls_self)
        return -EDEADLK;
    if (atomic_load_explicit(&t->state, memory_order_acquire) & T_DETACHED)
        return -EINVAL;
    *done = &t->done;
    *arg = t->arg;
    return 0;
}
