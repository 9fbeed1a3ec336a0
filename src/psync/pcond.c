/* weft_pcond: a condition variable shared between processes, used with a
 * weft_plock. Lock-free: the futex word is a notification counter. */
#include "psync/psync.h"

WEFT__PSYNC_LAYOUT(C, weft_pcond, struct weft__pcond, WEFT__PCOND_MAGIC)

int weft_pcond_init(weft_pcond *c) {
    if (!c)
        return -EINVAL;
    struct weft__pcond *p = (struct weft__pcond *)(void *)c;
    atomic_init(&p->seq, 0);
    atomic_init(&p->waiters, 0);
    atomic_store_explicit(&p->magic, WEFT__PCOND_MAGIC, memory_order_release);
    return 0;
}

int weft_pcond_destroy(weft_pcond *c) {
    struct weft__pcond *p = C(c);
    return weft__psync_untag(p ? &p->magic : NULL, p ? &p->waiters : NULL);
}

int weft_pcond_wait(weft_pcond *c, weft_plock *l, int64_t deadline) {
    struct weft__pcond *p = C(c);
    struct weft__plock *lk = (struct weft__plock *)(void *)l;
    if (!p || !lk || atomic_load_explicit(&lk->magic, memory_order_acquire) != WEFT__PLOCK_MAGIC)
        return -EINVAL;
    if (!weft__rmutex_mine(&lk->m))
        return -EPERM;
    /* Registered before the lock is released: a notifier that changes the
     * predicate under the lock then sees us. */
    atomic_fetch_add_explicit(&p->waiters, 1, memory_order_seq_cst);
    uint32_t s = atomic_load_explicit(&p->seq, memory_order_seq_cst);
    int r = weft__rmutex_unlock(&lk->m);
    if (r < 0) {
        atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_seq_cst);
        return r;
    }
    for (;;) {
        r = weft__pfutex_wait_why(&p->seq, s, deadline, WEFT__WHY_PCOND);
        if (atomic_load_explicit(&p->seq, memory_order_acquire) != s) {
            r = 0; /* notified (even if the deadline passed meanwhile) */
            break;
        }
        if (r < 0)
            break;
    }
    atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_seq_cst);
    int lr = weft__rmutex_lock(&lk->m, WEFT_FOREVER);
    if (lr == -ECANCELED || lr == -ENOMEM)
        lr = weft__psync_lock_short(&lk->m);
    return lr < 0 ? lr : r;
}

static int notify(struct weft__pcond *p, int n) {
    atomic_fetch_add_explicit(&p->seq, 1, memory_order_seq_cst);
    if (!atomic_load_explicit(&p->waiters, memory_order_seq_cst))
        return 0;
    int r = weft__pfutex_wake(&p->seq, n);
    return r < 0 ? r : r;
}

int weft_pcond_notify(weft_pcond *c, int n) {
    struct weft__pcond *p = C(c);
    if (!p || n < 0)
        return -EINVAL;
    return n == 0 ? 0 : notify(p, n);
}

int weft_pcond_notify_all(weft_pcond *c) {
    struct weft__pcond *p = C(c);
    return p ? notify(p, INT32_MAX) : -EINVAL;
}
