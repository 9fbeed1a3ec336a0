/* weft_pool_imap: a lazy map on the thread pool (Python's Executor.map
 * iterated with a timeout), yielding results in input order or as they
 * finish.
 *
 * Window. At most `window` tasks are submitted and not yet yielded; each
 * has a slot (its argument, future, index and outcome). The input (an
 * array or a generator) is read only by the consumer, in weft_pool_imap and
 * weft_pool_iter_next, to top the window up: a huge or endless input never
 * allocates more than the window. In input order the slot of index i is
 * i % window (yields, and so frees, happen in index order); unordered, slots
 * come from a free stack and finished ones wait on a ring (`doneq`).
 *
 * Completion. Each task runs through weft__imap_task, which calls the user's fn and
 * then, under `lock`, records the outcome in its slot and, if the consumer
 * said it is waiting, sets `ev` (still under the lock). The unlock is its
 * last touch of the iterator, so the consumer may free it once it has
 * taken the lock after seeing every slot done, or waited for every future
 * (the future completes after the task returns). A task the pool itself
 * cancels (weft_pool_shutdown with cancel_pending) is completed through
 * weft__imap_task_cancel, so the consumer hears of it too; whoever wins
 * that cancel marks the slot, and destroy waits until every slot is marked
 * (the future turns final a moment before). */
#include "pool/pool.h"

#include <sched.h>
#include <string.h>

#define MAX_WINDOW ((size_t)1 << 24)
#define DEFAULT_WINDOW 256
#define ITER_MAGIC 0x74697472u /* "titr" */

typedef struct slot {
    weft_pool_iter *it;
    weft_future *f; /* NULL: free, or failed to submit */
    void *arg;
    void *result;
    size_t index;
    int status;
    bool done; /* lock */
} slot;

struct weft_pool_iter {
    uint32_t tag;
    weft_pool *pool;
    weft_task_fn fn;
    void *const *args; /* array input, n items; else gen(ud) */
    size_t n, next_arg;
    weft_pool_gen_fn gen;
    void *ud;
    size_t window;
    int unordered;
    slot *slots;
    size_t *free_ids, nfree; /* unordered */
    size_t *doneq;           /* unordered: ring of finished slots; lock */
    size_t dq_head, dq_tail;
    size_t submitted; /* indexes handed out */
    size_t yielded;
    size_t outstanding; /* submitted, not yet yielded */
    bool input_end;
    int pending_err; /* the generator's error, for the next call */
    weft__spin lock;
    bool waiting; /* lock: the consumer waits on ev */
    weft_event ev;
};

static inline void check_iter(const weft_pool_iter *it, const char *fn) {
    weft__tag_check_handle(it->tag, ITER_MAGIC, fn, "weft_pool_iter", it);
}

/* Marks s done (lock held) and queues it for an unordered consumer. */
static void mark_done(weft_pool_iter *it, slot *s) {
    s->done = true;
    if (it->unordered)
        it->doneq[it->dq_tail++ % it->window] = (size_t)(s - it->slots);
}

int weft__imap_task(void *arg, void **result) {
    slot *s = arg;
    weft_pool_iter *it = s->it;
    void *res = NULL;
    int st = it->fn(s->arg, &res);
    s->status = st;
    s->result = res;
    weft__spin_lock(&it->lock);
    mark_done(it, s);
    if (it->waiting) {
        it->waiting = false;
        weft_event_set(&it->ev);
    }
    weft__spin_unlock(&it->lock); /* the last touch of it */
    *result = res;
    return st;
}

bool weft__imap_task_cancel(weft_future *f) {
    /* Only the winner of the cancel may touch the slot: the iterator is
     * freed only once every slot is done, and this one is ours to mark. */
    if (!weft__future_try_cancel(f))
        return false;
    slot *s = f->arg;
    weft_pool_iter *it = s->it;
    weft__spin_lock(&it->lock);
    s->status = -ECANCELED;
    s->result = NULL;
    mark_done(it, s);
    if (it->waiting) {
        it->waiting = false;
        weft_event_set(&it->ev);
    }
    weft__spin_unlock(&it->lock); /* the last touch of it */
    return true;
}

/* The next input: 1 with *arg, 0 at the end, or the generator's error. */
static int next_input(weft_pool_iter *it, void **arg) {
    if (!it->gen) {
        if (it->next_arg == it->n)
            return 0;
        *arg = it->args[it->next_arg++];
        return 1;
    }
    *arg = NULL;
    int r = it->gen(it->ud, arg);
    return r > 0 ? 1 : r;
}

/* Tops the window up. Returns 0, or the first submit's error when
 * `first` (nothing has been submitted yet). */
static int fill(weft_pool_iter *it, bool first) {
    while (!it->input_end && it->outstanding < it->window) {
        void *arg;
        int r = next_input(it, &arg);
        if (r <= 0) {
            it->input_end = true;
            it->pending_err = r;
            break;
        }
        size_t id = it->unordered ? it->free_ids[--it->nfree] : it->submitted % it->window;
        slot *s = &it->slots[id];
        s->arg = arg;
        s->index = it->submitted;
        s->result = NULL;
        s->done = false;
        r = weft_pool_submit(it->pool, weft__imap_task, s, &s->f);
        if (r < 0) {
            s->f = NULL;
            if (first && it->submitted == 0) {
                it->input_end = true;
                return r;
            }
            /* The item is yielded with the error; no more are taken. */
            s->status = r;
            weft__spin_lock(&it->lock);
            mark_done(it, s);
            weft__spin_unlock(&it->lock);
            it->input_end = true;
        }
        it->submitted++;
        it->outstanding++;
    }
    return 0;
}

static void iter_free(weft_pool_iter *it) {
    weft_event_destroy(&it->ev);
    weft__free(it->slots);
    weft__free(it->free_ids);
    weft__free(it->doneq);
    it->tag = WEFT__TAG_DEAD;
    weft__free(it);
}

static int imap_start(weft_pool *p, weft_task_fn fn, void *const *args, size_t n,
                      weft_pool_gen_fn gen, void *ud, size_t window, int flags,
                      weft_pool_iter **out) {
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!p || !fn || (flags & ~WEFT_POOL_UNORDERED) || window > MAX_WINDOW)
        return -EINVAL;
    weft__pool_check(p, gen ? "weft_pool_imap_gen" : "weft_pool_imap");
    if (weft__pool_is_own_worker(p))
        return -EDEADLK;
    if (!window) {
        /* Deep enough that the consumer seldom catches up with the workers and
         * sleeps (a wake-up costs 10-16 us, a no-op task well under 1 us): on
         * 2 CPUs a window of 8 was ~10x slower per result than one of 256. */
        window = 4 * (size_t)weft_pool_size(p);
        if (window < DEFAULT_WINDOW)
            window = DEFAULT_WINDOW;
    }
    if (!gen && window > n)
        window = n ? n : 1;
    weft_pool_iter *it = weft__calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->tag = ITER_MAGIC;
    it->pool = p;
    it->fn = fn;
    it->args = args;
    it->n = n;
    it->gen = gen;
    it->ud = ud;
    it->window = window;
    it->unordered = flags & WEFT_POOL_UNORDERED;
    weft_event_init(&it->ev);
    it->slots = weft__calloc(window, sizeof *it->slots);
    if (it->unordered) {
        it->free_ids = weft__malloc(window * sizeof *it->free_ids);
        it->doneq = weft__malloc(window * sizeof *it->doneq);
    }
    if (!it->slots || (it->unordered && (!it->free_ids || !it->doneq))) {
        iter_free(it);
        return -ENOMEM;
    }
    for (size_t i = 0; i < window; i++) {
        it->slots[i].it = it;
        if (it->unordered)
            it->free_ids[i] = window - 1 - i;
    }
    it->nfree = it->unordered ? window : 0;
    int r = fill(it, true);
    if (r < 0) {
        iter_free(it);
        return r;
    }
    *out = it;
    return 0;
}

WEFT_API int weft_pool_imap(weft_pool *p, weft_task_fn fn, void *const *args, size_t n,
                            size_t window, int flags, weft_pool_iter **it) {
    if (n && !args) {
        if (it)
            *it = NULL;
        return -EINVAL;
    }
    return imap_start(p, fn, args, n, NULL, NULL, window, flags, it);
}

WEFT_API int weft_pool_imap_gen(weft_pool *p, weft_task_fn fn, weft_pool_gen_fn gen, void *ud,
                                size_t window, int flags, weft_pool_iter **it) {
    if (!gen) {
        if (it)
            *it = NULL;
        return -EINVAL;
    }
    return imap_start(p, fn, NULL, 0, gen, ud, window, flags, it);
}

/* A finished slot to yield now (lock held), or NULL. */
static slot *ready(weft_pool_iter *it) {
    if (it->unordered) {
        if (it->dq_head == it->dq_tail)
            return NULL;
        return &it->slots[it->doneq[it->dq_head++ % it->window]];
    }
    slot *s = &it->slots[it->yielded % it->window];
    return s->done ? s : NULL;
}

/* Pins a SHARED caller's stack while a running task may use a pointer
 * into it. */
static bool pin_args(weft_pool_iter *it) {
    for (size_t i = 0; i < it->window; i++) {
        slot *s = &it->slots[i];
        if (s->f && weft__stack_pin_if(s->arg))
            return true;
    }
    return false;
}

/* A plain thread about to sleep looks a little longer first, as
 * weft__future_wait does: a futex sleep and a cross-core wake-up cost
 * 10-16 us here, a no-op task well under one. (A coroutine parks at once.) */
#define WAIT_SPIN_NS (8 * WEFT_USEC)

static void spin(weft_pool_iter *it, int64_t deadline) {
    if (weft__sched_get() || weft__dl_nowait(deadline))
        return;
    int64_t until = weft_now() + WAIT_SPIN_NS;
    if (deadline != WEFT_FOREVER && deadline < until)
        until = deadline;
    for (unsigned i = 1; !weft_event_is_set(&it->ev); i++) {
        if (i < 32)
            weft__cpu_relax();
        else
            sched_yield(); /* a worker may need this CPU */
        if ((i & 7) == 0 && weft_now() > until)
            return;
    }
}

WEFT_API int weft_pool_iter_next(weft_pool_iter *it, int64_t deadline, size_t *index, int *status,
                                 void **result) {
    if (!it || !index || !status)
        return -EINVAL;
    check_iter(it, "weft_pool_iter_next");
    if (result)
        *result = NULL;
    if (it->pending_err < 0) {
        int e = it->pending_err;
        it->pending_err = 0;
        return e;
    }
    (void)fill(it, false);
    if (it->pending_err < 0) {
        int e = it->pending_err;
        it->pending_err = 0;
        return e;
    }
    for (;;) {
        if (it->outstanding == 0)
            return 0;
        weft__spin_lock(&it->lock);
        slot *s = ready(it);
        if (!s) {
            it->waiting = true;
            weft_event_clear(&it->ev);
        }
        weft__spin_unlock(&it->lock);
        if (s) {
            *index = s->index;
            *status = s->status;
            if (result)
                *result = s->result;
            if (s->f)
                weft_future_release(s->f);
            s->f = NULL;
            if (it->unordered)
                it->free_ids[it->nfree++] = (size_t)(s - it->slots);
            it->yielded++;
            it->outstanding--;
            return 1;
        }
        spin(it, deadline);
        bool pinned = pin_args(it);
        int r = weft_event_wait(&it->ev, deadline);
        if (pinned)
            weft__stack_unpin();
        if (r < 0)
            return r;
    }
}

WEFT_API int weft_pool_iter_cancel(weft_pool_iter *it) {
    if (!it)
        return -EINVAL;
    check_iter(it, "weft_pool_iter_cancel");
    it->input_end = true;
    int n = 0;
    for (size_t i = 0; i < it->window; i++) {
        slot *s = &it->slots[i];
        if (s->f && weft__imap_task_cancel(s->f))
            n++; /* it will never run */
    }
    return n;
}

WEFT_API void weft_pool_iter_destroy(weft_pool_iter *it) {
    if (!it)
        return;
    check_iter(it, "weft_pool_iter_destroy");
    (void)weft_pool_iter_cancel(it);
    for (size_t i = 0; i < it->window; i++) {
        slot *s = &it->slots[i];
        if (!s->f)
            continue;
        /* A running task uses its argument and the slot: wait for it. */
        while (weft__future_wait(s->f, WEFT_FOREVER, WEFT__W_NOCANCEL) < 0)
            sched_yield(); /* only -ENOMEM (no park memory) can fail */
        /* Final, but a pool shutdown that cancelled it may not have marked
         * the slot yet (it does so right after). */
        for (;;) {
            weft__spin_lock(&it->lock);
            bool done = s->done;
            weft__spin_unlock(&it->lock);
            if (done)
                break;
            sched_yield();
        }
        weft_future_release(s->f);
        s->f = NULL;
    }
    iter_free(it); /* every slot marked done: no one touches it again */
}
