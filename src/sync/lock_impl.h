/* weft_lock's representation, shared with rlock.c and cond.c. */
#ifndef WEFT_SYNC_LOCK_IMPL_H
#define WEFT_SYNC_LOCK_IMPL_H

#include "sync/waitq.h"

#include <string.h>

enum { WEFT__LOCK_LOCKED = 1, WEFT__LOCK_PARKED = 2 };

struct weft__lock {
    atomic_uint state;
    weft__spin qlock;
    _Atomic uintptr_t owner; /* token of the holder (for -EDEADLK and spinning) */
    weft__wq q;
};

static inline struct weft__lock *weft__lock_of(weft_lock *l) { return (struct weft__lock *)l; }

/* kind: WEFT__W_OTHER, or WEFT__W_NOCANCEL to ignore cancellation. */
int weft__lock_acquire_slow(struct weft__lock *k, uintptr_t me, int64_t deadline, int kind);
void weft__lock_release_slow(struct weft__lock *k);

static inline int weft__lock_acquire(struct weft__lock *k, uintptr_t me, int64_t deadline) {
    unsigned expected = 0;
    if (likely(atomic_compare_exchange_weak_explicit(&k->state, &expected, WEFT__LOCK_LOCKED,
                                                     memory_order_acquire, memory_order_relaxed))) {
        atomic_store_explicit(&k->owner, me, memory_order_relaxed);
        return 0;
    }
    return weft__lock_acquire_slow(k, me, deadline, WEFT__W_OTHER);
}

static inline int weft__lock_release(struct weft__lock *k) {
    unsigned s = atomic_load_explicit(&k->state, memory_order_relaxed);
    if (unlikely(!(s & WEFT__LOCK_LOCKED)))
        return -EPERM;
    atomic_store_explicit(&k->owner, 0, memory_order_relaxed);
    unsigned expected = WEFT__LOCK_LOCKED;
    if (likely(atomic_compare_exchange_strong_explicit(&k->state, &expected, 0,
                                                       memory_order_release, memory_order_relaxed)))
        return 0;
    weft__lock_release_slow(k);
    return 0;
}

#endif
