/* weft_pbarrier: a barrier shared between processes. A short robust lock
 * guards the arrival count; waiters sleep on the word round << 1 | broken
 * outside it. If a process dies holding that lock, the next caller breaks
 * the barrier (its state may be half-updated), so nobody waits for a party
 * that will never come. */
#include "psync/psync.h"

WEFT__PSYNC_LAYOUT(B, weft_pbarrier, struct weft__pbarrier, WEFT__PBARRIER_MAGIC)

int weft_pbarrier_init(weft_pbarrier *b, int parties) {
    if (!b || parties < 1)
        return -EINVAL;
    struct weft__pbarrier *p = (struct weft__pbarrier *)(void *)b;
    int r = weft__rmutex_init(&p->m);
    if (r < 0)
        return r;
    atomic_init(&p->word, 0);
    atomic_init(&p->broken_round, 0);
    p->parties = (uint32_t)parties;
    p->arrived = 0;
    atomic_init(&p->waiting, 0);
    atomic_store_explicit(&p->magic, WEFT__PBARRIER_MAGIC, memory_order_release);
    return 0;
}

int weft_pbarrier_destroy(weft_pbarrier *b) {
    struct weft__pbarrier *p = B(b);
    if (!p)
        return -EINVAL;
    if (atomic_load_explicit(&p->waiting, memory_order_acquire) || weft__rmutex_held(&p->m))
        return -EBUSY;
    atomic_store_explicit(&p->magic, 0, memory_order_release);
    weft__rmutex_destroy(&p->m);
    return 0;
}

/* Under the lock: breaks the current round and wakes everyone. */
static void break_locked(struct weft__pbarrier *p) {
    uint32_t w = atomic_load_explicit(&p->word, memory_order_relaxed);
    if (w & 1)
        return;
    atomic_store_explicit(&p->broken_round, (w >> 1) + 1, memory_order_relaxed);
    p->arrived = 0;
    atomic_store_explicit(&p->word, w | 1, memory_order_release);
    weft__pfutex_wake(&p->word, INT32_MAX);
}

/* Takes the internal lock; a dead previous holder breaks the barrier. */
static int enter(struct weft__pbarrier *p, int64_t deadline, bool must) {
    int r = must ? weft__psync_lock_short(&p->m) : weft__rmutex_lock(&p->m, deadline);
    if (r == -EOWNERDEAD) {
        break_locked(p);
        weft__rmutex_consistent(&p->m);
        r = 0;
    }
    return r;
}

int weft_pbarrier_wait(weft_pbarrier *b, int64_t deadline) {
    struct weft__pbarrier *p = B(b);
    if (!p)
        return -EINVAL;
    int r = enter(p, deadline, false);
    if (r < 0)
        return r;
    uint32_t w = atomic_load_explicit(&p->word, memory_order_relaxed);
    if (w & 1) {
        weft__rmutex_unlock(&p->m);
        return -EPIPE;
    }
    int idx = (int)p->arrived++;
    if (p->arrived == p->parties) {
        p->arrived = 0;
        atomic_store_explicit(&p->word, w + 2, memory_order_release);
        weft__rmutex_unlock(&p->m);
        weft__pfutex_wake(&p->word, INT32_MAX);
        return idx;
    }
    atomic_fetch_add_explicit(&p->waiting, 1, memory_order_relaxed);
    weft__rmutex_unlock(&p->m);
    for (;;) {
        r = weft__pfutex_wait_why(&p->word, w, deadline, WEFT__WHY_PBARRIER);
        if (atomic_load_explicit(&p->word, memory_order_acquire) != w || r < 0)
            break;
    }
    if (atomic_load_explicit(&p->word, memory_order_acquire) == w) {
        /* Timed out or cancelled in this round: break it, unless it
         * completed or broke while we took the lock. */
        if (enter(p, WEFT_FOREVER, true) == 0) {
            if (atomic_load_explicit(&p->word, memory_order_relaxed) == w)
                break_locked(p);
            else
                r = 1; /* it moved on: judge below */
            weft__rmutex_unlock(&p->m);
        }
        if (r != 1) {
            atomic_fetch_sub_explicit(&p->waiting, 1, memory_order_relaxed);
            return r;
        }
    }
    atomic_fetch_sub_explicit(&p->waiting, 1, memory_order_relaxed);
    uint32_t nw = atomic_load_explicit(&p->word, memory_order_acquire);
    if ((nw >> 1) == (w >> 1))
        return -EPIPE; /* same round, broken */
    if (atomic_load_explicit(&p->broken_round, memory_order_acquire) == (w >> 1) + 1)
        return -EPIPE; /* broken, then reset */
    return idx;
}

/* Takes the lock of the barrier at b for abort or reset: 0 with *out set,
 * or -EINVAL or the lock's error. */
static int enter_checked(weft_pbarrier *b, struct weft__pbarrier **out) {
    struct weft__pbarrier *p = B(b);
    if (!p)
        return -EINVAL;
    *out = p;
    return enter(p, WEFT_FOREVER, true);
}

int weft_pbarrier_abort(weft_pbarrier *b) {
    struct weft__pbarrier *p;
    int r = enter_checked(b, &p);
    if (r < 0)
        return r;
    break_locked(p);
    weft__rmutex_unlock(&p->m);
    return 0;
}

int weft_pbarrier_reset(weft_pbarrier *b) {
    struct weft__pbarrier *p;
    int r = enter_checked(b, &p);
    if (r < 0)
        return r;
    uint32_t w = atomic_load_explicit(&p->word, memory_order_relaxed);
    if (!(w & 1)) {
        /* Not broken: waiters of this round are let go with -EPIPE, as in
         * Python (reset breaks the current round first). */
        if (p->arrived)
            break_locked(p);
        w = atomic_load_explicit(&p->word, memory_order_relaxed);
    }
    p->arrived = 0;
    if (w & 1) {
        atomic_store_explicit(&p->word, (w & ~1u) + 2, memory_order_release);
        weft__pfutex_wake(&p->word, INT32_MAX);
    }
    weft__rmutex_unlock(&p->m);
    return 0;
}

int weft_pbarrier_broken(weft_pbarrier *b) {
    struct weft__pbarrier *p = B(b);
    return p ? (int)(atomic_load_explicit(&p->word, memory_order_acquire) & 1) : 0;
}

int weft_pbarrier_waiting(weft_pbarrier *b) {
    struct weft__pbarrier *p = B(b);
    return p ? (int)atomic_load_explicit(&p->waiting, memory_order_relaxed) : -EINVAL;
}
