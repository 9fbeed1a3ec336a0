/* weft_lock's representation, shared with rlock.c and cond.c. */
#ifndef WEFT_SYNC_LOCK_IMPL_H
#define WEFT_SYNC_LOCK_IMPL_H

#include "sync/waitq.h"

#include <string.h>

enum { WEFT__LOCK_LOCKED = 1, WEFT__LOCK_PARKED = 2 };

/* Bias: a lock is biased to the first thread that takes it. That thread's
 * uncontended acquire and release are relaxed loads and stores inside a
 * `busy` window (no read-modify-write: that is most of a lock's cost). The
 * first other thread to touch the lock revokes the bias for good: it sets
 * `shared`, runs the asymmetric barrier and waits for `busy` to drop; from
 * then on everyone uses the atomic paths. Everything but the two biased
 * fast paths always uses the atomic paths, which are also correct while
 * biased (only one thread is involved then). */
struct weft__lock {
    /* Written on every contended acquire and release: the first 16 bytes,
     * which the public type's 16-byte alignment keeps inside one cache line
     * (a lock straddling two lines made both bounce between cores: 2x). */
    atomic_uint state;
    atomic_int busy;
    _Atomic uintptr_t owner; /* token of the holder (for -EDEADLK and spinning) */
    /* Read-mostly, or touched only by those who park. */
    _Atomic uintptr_t bias; /* thread anchor of the biased thread; 0: none yet */
    atomic_int shared;
    weft__spin qlock;
    weft__wq q;
    uint32_t tag; /* WEFT__LOCK_MAGIC or 0 (WEFT_LOCK_INIT); WEFT__TAG_DEAD (internal.h) */
};

#define WEFT__LOCK_MAGIC 0x6c6f636bu /* "lock" */

/* Aborts unless k is a lock (initialised, or all-zero): the slow paths. */
static inline void weft__lock_check(struct weft__lock *k, const char *fn) {
    weft__tag_check(k->tag, WEFT__LOCK_MAGIC, fn, "weft_lock", k);
}
/* Makes k a destroyed lock: tagged dead, and a state that no fast path
 * accepts (LOCKED, never biased), so every later use reaches a check. */
static inline void weft__lock_poison(struct weft__lock *k) {
    k->tag = WEFT__TAG_DEAD;
    atomic_store(&k->bias, 0);
    atomic_store(&k->shared, 1);
    atomic_store(&k->state, WEFT__LOCK_LOCKED | WEFT__LOCK_PARKED);
}

static inline struct weft__lock *weft__lock_of(weft_lock *l) {
    return (struct weft__lock *)l;
}

/* kind: WEFT__W_OTHER, or WEFT__W_NOCANCEL to ignore cancellation. */
int weft__lock_acquire_slow(struct weft__lock *k, uintptr_t me, int64_t deadline, int kind);
void weft__lock_release_slow(struct weft__lock *k);
/* Makes the lock usable by the calling (non-biased) thread. */
void weft__lock_unbias(struct weft__lock *k, uintptr_t self);

#if defined(__SANITIZE_THREAD__)
#define WEFT__LOCK_BIAS 0
#else
#define WEFT__LOCK_BIAS 1
#endif

/* Enters the biased window if the caller owns the bias; true if so. */
static inline bool weft__lock_enter_bias(struct weft__lock *k, uintptr_t self) {
    if (atomic_load_explicit(&k->bias, memory_order_relaxed) != self)
        return false;
    atomic_store_explicit(&k->busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* pairs with the revoker's barrier */
    if (likely(!atomic_load_explicit(&k->shared, memory_order_relaxed)))
        return true;
    atomic_store_explicit(&k->busy, 0, memory_order_release);
    return false;
}

static inline int weft__lock_acquire(struct weft__lock *k, uintptr_t me, int64_t deadline) {
#if WEFT__LOCK_BIAS
    uintptr_t self = weft__thread_anchor();
    if (weft__lock_enter_bias(k, self)) {
        if (likely(atomic_load_explicit(&k->state, memory_order_relaxed) == 0)) {
            atomic_store_explicit(&k->state, WEFT__LOCK_LOCKED, memory_order_relaxed);
            atomic_store_explicit(&k->owner, me, memory_order_relaxed);
            atomic_store_explicit(&k->busy, 0, memory_order_release);
            return 0;
        }
        atomic_store_explicit(&k->busy, 0, memory_order_release);
    } else if (!atomic_load_explicit(&k->shared, memory_order_relaxed)) {
        /* First touch, or another thread's bias: afterwards the lock is
         * biased to us or shared, so this recursion ends. */
        weft__lock_unbias(k, self);
        return weft__lock_acquire(k, me, deadline);
    }
#endif
    unsigned expected = 0;
    if (likely(atomic_compare_exchange_weak_explicit(&k->state, &expected, WEFT__LOCK_LOCKED,
                                                     memory_order_acquire, memory_order_relaxed))) {
        atomic_store_explicit(&k->owner, me, memory_order_relaxed);
        return 0;
    }
    return weft__lock_acquire_slow(k, me, deadline, WEFT__W_OTHER);
}

static inline int weft__lock_release(struct weft__lock *k) {
#if WEFT__LOCK_BIAS
    uintptr_t self = weft__thread_anchor();
    if (weft__lock_enter_bias(k, self)) {
        if (likely(atomic_load_explicit(&k->state, memory_order_relaxed) == WEFT__LOCK_LOCKED)) {
            atomic_store_explicit(&k->owner, 0, memory_order_relaxed);
            atomic_store_explicit(&k->state, 0, memory_order_relaxed);
            atomic_store_explicit(&k->busy, 0, memory_order_release);
            return 0;
        }
        atomic_store_explicit(&k->busy, 0, memory_order_release);
    } else if (!atomic_load_explicit(&k->shared, memory_order_relaxed)) {
        weft__lock_unbias(k, self);
    }
#endif
    unsigned s = atomic_load_explicit(&k->state, memory_order_relaxed);
    if (unlikely(!(s & WEFT__LOCK_LOCKED))) {
        weft__lock_check(k, "weft_lock_release");
        return -EPERM;
    }
    atomic_store_explicit(&k->owner, 0, memory_order_relaxed);
    unsigned expected = WEFT__LOCK_LOCKED;
    if (likely(atomic_compare_exchange_strong_explicit(&k->state, &expected, 0,
                                                       memory_order_release, memory_order_relaxed)))
        return 0;
    weft__lock_release_slow(k);
    return 0;
}

#endif
