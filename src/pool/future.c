/* weft_future: the outcome of a pool task; waiting on one or many. */
#include "pool/pool.h"
#include "sync/watch.h"

#include <limits.h>
#include <sched.h>
#include <string.h>

void weft__future_init(weft_future *f, weft_task_fn fn, void *arg, unsigned refs) {
    atomic_init(&f->state, F_PENDING);
    atomic_init(&f->refs, refs);
    f->tag = WEFT__FUTURE_MAGIC;
    f->next = NULL;
    f->fn = fn;
    f->arg = arg;
    f->result = NULL;
    f->status = 0;
    atomic_init(&f->lock.v, 0);
    f->q.head = f->q.tail = NULL;
    f->cbs = f->cbs_tail = NULL;
    f->forget = false;
}

WEFT_API void weft_future_release(weft_future *f) {
    if (!f)
        return;
    weft__future_check(f, "weft_future_release");
    if (atomic_fetch_sub_explicit(&f->refs, 1, memory_order_acq_rel) != 1)
        return;
    f->tag = WEFT__TAG_DEAD;
    /* Every future completes before the pool drops its reference, and
     * completion consumes the callbacks; anything left is a weft bug. */
    WEFT_ASSERT(f->cbs == NULL && f->q.head == NULL);
    weft__free(f);
}

void weft__future_finish(weft_future *f, unsigned old) {
    if (!(old & F_SLOW))
        return;
    weft__spin_lock(&f->lock);
    cb_node *cbs = f->cbs;
    f->cbs = f->cbs_tail = NULL;
    weft__wq_wake_all(&f->q, &f->lock, 0); /* unlocks */
    while (cbs) {
        cb_node *n = cbs;
        cbs = n->next;
        n->cb(f, n->ud);
        weft__free(n);
    }
}

bool weft__future_try_cancel(weft_future *f) {
    unsigned s = atomic_load_explicit(&f->state, memory_order_acquire);
    do {
        if ((s & F_MASK) != F_PENDING)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &s, F_CANCELLED,
                                                    memory_order_acq_rel, memory_order_acquire));
    weft__future_finish(f, s);
    return true;
}

/* Sets F_SLOW unless f is final. Lock held. Returns false if final. */
static bool mark_slow(weft_future *f) {
    unsigned s = atomic_load_explicit(&f->state, memory_order_acquire);
    do {
        if (weft__future_final(s))
            return false;
        if (s & F_SLOW)
            return true;
    } while (!atomic_compare_exchange_weak_explicit(&f->state, &s, s | F_SLOW,
                                                    memory_order_acq_rel, memory_order_acquire));
    return true;
}


/* A plain thread about to sleep looks a little longer first: a futex sleep
 * and cross-core wake-up cost 10-16 us here, while a pool task often ends
 * within a microsecond. (A coroutine parks at once: its thread has other
 * coroutines to run and parking is cheap.) */
#define WAIT_SPIN_NS (8 * WEFT_USEC)

int weft__future_wait(weft_future *f, int64_t deadline, int kind) {
    if (weft__future_final(atomic_load_explicit(&f->state, memory_order_acquire)))
        return 0;
    if (weft__dl_nowait(deadline))
        return -ETIMEDOUT;
    if (!weft__sched_get()) {
        int64_t until = weft_now() + WAIT_SPIN_NS;
        for (unsigned i = 1;; i++) {
            if (i < 32)
                weft__cpu_relax();
            else
                sched_yield(); /* the worker may need this CPU */
            if (weft__future_final(atomic_load_explicit(&f->state, memory_order_acquire)))
                return 0;
            if ((i & 7) == 0 && weft_now() > until)
                break;
        }
    }
    /* The task may be using a pointer into the caller's stack: a SHARED
     * coroutine keeps its stack in place until the wait ends. */
    bool pinned = weft__stack_pin_if(f->arg);
    weft__spin_lock(&f->lock);
    int r = 0;
    if (mark_slow(f)) {
        weft__why(WEFT__WHY_FUTURE, f, 0);
        r = weft__wq_wait(&f->q, &f->lock, false, 0, NULL, deadline, NULL, kind);
    } else
        weft__spin_unlock(&f->lock);
    if (pinned)
        weft__stack_unpin();
    return r;
}

WEFT_API int weft_future_result(weft_future *f, int64_t deadline, void **result) {
    if (!f)
        return -EINVAL;
    weft__future_check(f, "weft_future_result");
    int r = weft__future_wait(f, deadline, WEFT__W_OTHER);
    if (r < 0) {
        if (result)
            *result = NULL;
        return r;
    }
    return weft__future_outcome(f, result);
}

WEFT_API int weft_future_cancel(weft_future *f) {
    if (!f)
        return -EINVAL;
    weft__future_check(f, "weft_future_cancel");
    return weft__future_try_cancel(f) ? 1 : 0;
}

WEFT_API int weft_future_done(weft_future *f) {
    if (f)
        weft__future_check(f, "weft_future_done");
    return f && weft__future_final(atomic_load_explicit(&f->state, memory_order_acquire));
}

WEFT_API int weft_future_cancelled(weft_future *f) {
    if (f)
        weft__future_check(f, "weft_future_cancelled");
    return f && (atomic_load_explicit(&f->state, memory_order_acquire) & F_MASK) == F_CANCELLED;
}

WEFT_API int weft_future_on_done(weft_future *f, weft_future_cb cb, void *ud) {
    if (!f || !cb)
        return -EINVAL;
    weft__future_check(f, "weft_future_on_done");
    if (weft_future_done(f)) {
        cb(f, ud);
        return 0;
    }
    cb_node *n = weft__malloc(sizeof *n);
    if (!n)
        return -ENOMEM;
    n->next = NULL;
    n->cb = cb;
    n->ud = ud;
    weft__spin_lock(&f->lock);
    if (!mark_slow(f)) {
        weft__spin_unlock(&f->lock);
        weft__free(n);
        cb(f, ud);
        return 0;
    }
    if (f->cbs_tail)
        f->cbs_tail->next = n;
    else
        f->cbs = n;
    f->cbs_tail = n;
    weft__spin_unlock(&f->lock);
    return 0;
}

/* ---- waiting on several futures ----------------------------------------
 * One waiter, one wait-queue node per future (select's model): the first
 * completer to claim the waiter wakes it; the others find it claimed and
 * only unlink their node. On return every node is unlinked. */

#define LOCAL_NODES 8

/* Parks until one of fs[idx[k]] (k < m; idx NULL: fs[k]) that is not
 * final when first looked at becomes final, or until the deadline.
 * Returns 0 if one did (or none was pending: nothing to wait for),
 * -ETIMEDOUT, -ECANCELED or -ENOMEM. */
static int wait_some(weft_future *const *fs, const size_t *idx, size_t m, int64_t deadline) {
    if (weft__dl_nowait(deadline))
        return -ETIMEDOUT;
    weft__wq_node local[LOCAL_NODES], *heap = NULL, *nodes;
    if (m <= LOCAL_NODES) {
        nodes = weft__park_mem(local, sizeof local);
    } else {
        if (m > SIZE_MAX / sizeof *nodes)
            return -ENOMEM;
        nodes = heap = weft__malloc(m * sizeof *nodes);
    }
    if (!nodes)
        return -ENOMEM;
    weft__waiter lw, *w = weft__waiter_begin(&lw, WEFT__W_OTHER);
    weft__why(WEFT__WHY_FUTURE, NULL, (intptr_t)m);
    size_t k, registered = 0;
    bool fired = false;
    for (k = 0; k < m; k++) {
        weft_future *f = fs[idx ? idx[k] : k];
        weft__wq_node *n = &nodes[k];
        n->linked = 0;
        n->arg = 0; /* 1: registered; only we write arg, completers only unlink */
        if (weft__future_final(atomic_load_explicit(&f->state, memory_order_acquire)))
            continue; /* final before we looked: not an event */
        weft__spin_lock(&f->lock);
        if (!mark_slow(f)) {
            weft__spin_unlock(&f->lock);
            fired = true;
            k++;
            break;
        }
        n->w = w;
        n->since = 0;
        n->arg = 1;
        weft__wq_push(&f->q, n, false);
        weft__spin_unlock(&f->lock);
        registered++;
    }
    for (; k < m; k++)
        nodes[k].arg = 0;
    /* As in weft__future_wait: keep a SHARED caller's stack in place if a
     * task may be using a pointer into it. */
    bool pinned = false;
    for (k = 0; k < m && !pinned; k++)
        pinned = weft__stack_pin_if(fs[idx ? idx[k] : k]->arg);
    int r = 0;
    if (fired || registered == 0) {
        /* Nothing to park for, unless a completer claimed us meanwhile: then
         * its wake is on the way and the park below consumes it. */
        if (!weft__waiter_claim(w, 0, 0))
            (void)weft__park(w, WEFT_FOREVER);
    } else {
        r = weft__park(w, deadline);
    }
    for (k = 0; k < m; k++) {
        if (!nodes[k].arg)
            continue;
        weft_future *f = fs[idx ? idx[k] : k];
        weft__spin_lock(&f->lock);
        if (nodes[k].linked)
            weft__wq_unlink(&f->q, &nodes[k]);
        weft__spin_unlock(&f->lock);
    }
    if (pinned)
        weft__stack_unpin();
    weft__free(heap);
    return r;
}

static int check_array(weft_future *const *fs, size_t n) {
    if (n && !fs)
        return -EINVAL;
    if (n > INT32_MAX)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!fs[i])
            return -EINVAL;
        weft__future_check(fs[i], "weft_futures_wait");
    }
    return 0;
}

static bool failed(weft_future *f) {
    unsigned s = atomic_load_explicit(&f->state, memory_order_acquire);
    return (s & F_MASK) == F_DONE && f->status < 0;
}

WEFT_API int weft_futures_wait(weft_future *const *fs, size_t n, int mode, int64_t deadline) {
    int r = check_array(fs, n);
    if (r < 0)
        return r;
    if (mode != WEFT_WAIT_ALL && mode != WEFT_WAIT_ANY && mode != WEFT_WAIT_FIRST_ERROR)
        return -EINVAL;
    if (n == 0)
        return 0;
    if (mode == WEFT_WAIT_ALL) {
        /* The later tasks run while the caller waits for the earlier ones:
         * pin for the whole wait (see weft__future_wait). */
        bool pinned = false;
        for (size_t i = 0; i < n && !pinned; i++)
            pinned = weft__stack_pin_if(fs[i]->arg);
        for (size_t i = 0; i < n && r >= 0; i++)
            r = weft__future_wait(fs[i], deadline, WEFT__W_OTHER);
        if (pinned)
            weft__stack_unpin();
        return r < 0 ? r : (int)n;
    }
    for (;;) {
        size_t done = 0;
        bool err = false;
        for (size_t i = 0; i < n; i++) {
            if (weft_future_done(fs[i])) {
                done++;
                err = err || failed(fs[i]);
            }
        }
        if (done == n || (mode == WEFT_WAIT_ANY && done) || err)
            return (int)done;
        if ((r = wait_some(fs, NULL, n, deadline)) < 0)
            return r;
    }
}

/* ---- as_completed ----------------------------------------------------- */

#define ITER_MAGIC 0x6173636fu /* "asco" */

/* 0: initialised; -EINVAL: never (all-zero bytes, or a failed init);
 * anything else (destroyed, garbage) aborts. */
static int iter_check(const weft_as_completed_iter *it, const char *fn) {
    if (likely(it->tag_ == ITER_MAGIC))
        return 0;
    if (it->tag_ == 0)
        return -EINVAL;
    weft__corrupted(fn, "weft_as_completed_iter", it);
}

WEFT_API int weft_as_completed_init(weft_as_completed_iter *it, weft_future *const *fs,
                                    size_t n) {
    if (!it)
        return -EINVAL;
    memset(it, 0, sizeof *it);
    int r = check_array(fs, n);
    if (r < 0)
        return r;
    if (n) {
        it->rest_ = weft__malloc(n * sizeof *it->rest_);
        if (!it->rest_)
            return -ENOMEM;
        for (size_t i = 0; i < n; i++)
            it->rest_[i] = i;
    }
    it->fs_ = fs;
    it->n_ = n;
    it->tag_ = ITER_MAGIC;
    return 0;
}

WEFT_API int weft_as_completed_next(weft_as_completed_iter *it, int64_t deadline,
                                    size_t *index) {
    if (!it || !index)
        return -EINVAL;
    int c = iter_check(it, "weft_as_completed_next");
    if (c < 0)
        return c;
    if (it->n_ && !it->rest_)
        return -EINVAL;
    for (;;) {
        if (it->yielded_ == it->n_)
            return 0;
        size_t *rest = it->rest_ + it->yielded_, m = it->n_ - it->yielded_;
        /* Lowest index first among those done: keep `rest` sorted by
         * shifting instead of swapping. */
        for (size_t k = 0; k < m; k++) {
            if (weft_future_done(it->fs_[rest[k]])) {
                size_t i = rest[k];
                memmove(rest + 1, rest, k * sizeof *rest);
                it->yielded_++;
                *index = i;
                return 1;
            }
        }
        int r = wait_some(it->fs_, rest, m, deadline);
        if (r < 0)
            return r;
    }
}

WEFT_API void weft_as_completed_destroy(weft_as_completed_iter *it) {
    if (!it || it->tag_ == WEFT__TAG_DEAD) /* destroying twice is harmless */
        return;
    if (iter_check(it, "weft_as_completed_destroy") == 0)
        weft__free(it->rest_);
    memset(it, 0, sizeof *it);
    it->tag_ = WEFT__TAG_DEAD;
}

/* ---- weft_wait_any (sync/watch.h) ---------------------------------------
 * A watcher is a wait-queue node like wait_some's: completion claims it. */

int weft__future_watch(weft_future *f, weft__wq_node *n, weft__waiter *w) {
    if (weft__future_final(atomic_load_explicit(&f->state, memory_order_acquire)))
        return 1;
    weft__spin_lock(&f->lock);
    if (!mark_slow(f)) {
        weft__spin_unlock(&f->lock);
        return 1;
    }
    n->w = w;
    n->since = 0;
    n->arg = 0;
    weft__wq_push(&f->q, n, false);
    weft__spin_unlock(&f->lock);
    return 0;
}

void weft__future_unwatch(weft_future *f, weft__wq_node *n) {
    weft__spin_lock(&f->lock);
    if (n->linked)
        weft__wq_unlink(&f->q, n);
    weft__spin_unlock(&f->lock);
}
