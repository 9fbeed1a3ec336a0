/* weft_lock: a mutex for coroutines and threads alike.
 *
 * state: LOCKED | PARKED (someone is queued). The fast paths are one CAS
 * each way. A contended acquirer spins briefly (not when the holder is a
 * coroutine of its own thread: it cannot run while we spin), then queues
 * and parks. Release wakes the first waiter and lets it compete again
 * (barging keeps the lock busy), unless that waiter has waited for more
 * than HANDOFF_NS: then the lock passes to it directly, still LOCKED, so
 * no waiter starves. A woken waiter that loses the race re-queues at the
 * front. `q` and the PARKED bit change only under `qlock`. */
#include "sync/lock_impl.h"

#include <sched.h>

_Static_assert(sizeof(struct weft__lock) <= sizeof(weft_lock), "weft_lock too small");
_Static_assert(_Alignof(struct weft__lock) <= _Alignof(weft_lock), "weft_lock misaligned");

#define HANDOFF_NS (1 * WEFT_MSEC)
#define SPINS 40
#define MAX_BACKOFF 128

void weft__lock_unbias(struct weft__lock *k, uintptr_t self) {
    weft__lock_check(k, "weft_lock_acquire");
    uintptr_t b = atomic_load(&k->bias);
    if (b == 0) {
        if (!weft__asym_ok() || weft__sched_in_group(weft__sched_get())) {
            atomic_store(&k->shared, 1); /* no bias in this process, or a group's */
            return;
        }
        if (atomic_compare_exchange_strong(&k->bias, &b, self))
            return;
    }
    if (b == self)
        return;
    /* Another thread's bias: revoke it for good. Its holder never takes
     * qlock inside its window, so waiting here with qlock held is safe. */
    weft__spin_lock(&k->qlock);
    if (!atomic_load(&k->shared)) {
        atomic_store(&k->shared, 1);
        weft__asym_barrier();
        while (atomic_load_explicit(&k->busy, memory_order_acquire))
            weft__cpu_relax();
    }
    weft__spin_unlock(&k->qlock);
}

WEFT_API int weft_lock_init(weft_lock *l) {
    if (!l)
        return -EINVAL;
    memset(l, 0, sizeof *l);
    weft__lock_of(l)->tag = WEFT__LOCK_MAGIC;
    return 0;
}

WEFT_API int weft_lock_destroy(weft_lock *l) {
    if (!l)
        return -EINVAL;
    struct weft__lock *k = weft__lock_of(l);
    weft__lock_check(k, "weft_lock_destroy");
    if (atomic_load(&k->state))
        return -EBUSY;
    weft__lock_poison(k);
    return 0;
}

static bool try_take(struct weft__lock *k) {
    unsigned s = atomic_load_explicit(&k->state, memory_order_relaxed);
    while (!(s & WEFT__LOCK_LOCKED)) {
        if (atomic_compare_exchange_weak_explicit(&k->state, &s, s | WEFT__LOCK_LOCKED,
                                                  memory_order_acquire, memory_order_relaxed))
            return true;
    }
    return false;
}

int weft__lock_acquire_slow(struct weft__lock *k, uintptr_t me, int64_t deadline, int kind) {
    weft__lock_check(k, "weft_lock_acquire");
    if (atomic_load_explicit(&k->owner, memory_order_relaxed) == me)
        return -EDEADLK;
    int64_t since = 0;
    bool front = false;
    for (;;) {
        /* Spin while the holder runs on another thread: critical sections
         * are usually shorter than a park and wake-up. Not while other
         * coroutines of this thread are ready: spinning would stall them
         * all (and the holder may be waiting for one of them). */
        if (!weft__dl_nowait(deadline) &&
            !weft__token_is_local_coro(atomic_load_explicit(&k->owner, memory_order_relaxed)) &&
            !weft__others_ready()) {
            /* Exponential back-off between looks: every look pulls the
             * cache line away from the holder, who would then pay for it
             * on its release; backing off lets it batch. */
            for (int i = 0, wait = 1; i < SPINS; i++) {
                unsigned s = atomic_load_explicit(&k->state, memory_order_relaxed);
                if (!(s & WEFT__LOCK_LOCKED) && try_take(k))
                    goto got;
                for (int j = 0; j < wait; j++)
                    weft__cpu_relax();
                if (wait < MAX_BACKOFF)
                    wait <<= 1;
                /* A coroutine of ours became ready (perhaps the one the
                 * lock was just handed to): stop stalling it. */
                if (weft__others_ready())
                    break;
            }
        }
        if (weft__dl_nowait(deadline))
            return try_take(k) ? (atomic_store_explicit(&k->owner, me, memory_order_relaxed), 0)
                               : -ETIMEDOUT;
        weft__spin_lock(&k->qlock);
        atomic_fetch_or(&k->state, WEFT__LOCK_PARKED);
        if (try_take(k)) {
            if (!k->q.head)
                atomic_fetch_and(&k->state, ~WEFT__LOCK_PARKED);
            weft__spin_unlock(&k->qlock);
            goto got;
        }
        intptr_t handed = 0;
        /* an rlock's wait (recorded by rlock.c) stays an rlock's */
        if (!weft__why_is(WEFT__WHY_RLOCK, (intptr_t)k))
            weft__why(WEFT__WHY_LOCK, k, 0);
        int r = weft__wq_wait(&k->q, &k->qlock, front, 0, &since, deadline, &handed, kind);
        if (r < 0) {
            /* Timed out or cancelled; clear PARKED if we were the last. */
            weft__spin_lock(&k->qlock);
            if (!k->q.head)
                atomic_fetch_and(&k->state, ~WEFT__LOCK_PARKED);
            weft__spin_unlock(&k->qlock);
            return r;
        }
        if (handed)
            goto got; /* passed to us still LOCKED */
        if (try_take(k))
            goto got;
        front = true; /* lost to a barger: keep our place */
    }
got:
    atomic_store_explicit(&k->owner, me, memory_order_relaxed);
    return 0;
}

void weft__lock_release_slow(struct weft__lock *k) {
    weft__lock_check(k, "weft_lock_release");
    weft__spin_lock(&k->qlock);
    weft__wq_node *n = NULL;
    bool handoff = false;
    while ((n = k->q.head)) {
        weft__wq_unlink(&k->q, n);
        handoff = n->since && weft_now() - n->since > HANDOFF_NS;
        if (weft__waiter_claim(n->w, 0, handoff))
            break;
    }
    unsigned clear = handoff && n ? 0 : WEFT__LOCK_LOCKED;
    if (!k->q.head)
        clear |= WEFT__LOCK_PARKED;
    atomic_fetch_and_explicit(&k->state, ~clear, memory_order_release);
    weft__waiter *w = n ? n->w : NULL;
    weft__spin_unlock(&k->qlock);
    if (w)
        weft__waiter_wake(w);
}

WEFT_API int weft_lock_acquire(weft_lock *l, int64_t deadline) {
    if (unlikely(!l))
        return -EINVAL;
    return weft__lock_acquire(weft__lock_of(l), weft__self_token(), deadline);
}

WEFT_API int weft_lock_try_acquire(weft_lock *l) {
    if (unlikely(!l))
        return -EINVAL;
    int r = weft__lock_acquire(weft__lock_of(l), weft__self_token(), 0);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

WEFT_API int weft_lock_release(weft_lock *l) {
    if (unlikely(!l))
        return -EINVAL;
    return weft__lock_release(weft__lock_of(l));
}

WEFT_API int weft_lock_locked(weft_lock *l) {
    return l && (atomic_load(&weft__lock_of(l)->state) & WEFT__LOCK_LOCKED) ? 1 : 0;
}
