/* weft_pevent: an event shared between processes. Lock-free: the word is
 * generation << 1 | set, so a waiter can tell that a set happened even if a
 * clear followed before it looked. */
#include "psync/psync.h"

WEFT__PSYNC_LAYOUT(E, weft_pevent, struct weft__pevent, WEFT__PEVENT_MAGIC)

int weft_pevent_init(weft_pevent *e) {
    if (!e)
        return -EINVAL;
    struct weft__pevent *p = (struct weft__pevent *)(void *)e;
    atomic_init(&p->word, 0);
    atomic_init(&p->waiters, 0);
    atomic_store_explicit(&p->magic, WEFT__PEVENT_MAGIC, memory_order_release);
    return 0;
}

int weft_pevent_destroy(weft_pevent *e) {
    struct weft__pevent *p = E(e);
    return weft__psync_untag(p ? &p->magic : NULL, p ? &p->waiters : NULL);
}

int weft_pevent_set(weft_pevent *e) {
    struct weft__pevent *p = E(e);
    if (!p)
        return -EINVAL;
    uint32_t w = atomic_load_explicit(&p->word, memory_order_relaxed);
    do {
        if (w & 1)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&p->word, &w, (w + 2) | 1,
                                                    memory_order_seq_cst, memory_order_relaxed));
    if (atomic_load_explicit(&p->waiters, memory_order_seq_cst))
        weft__pfutex_wake(&p->word, INT32_MAX);
    return 0;
}

int weft_pevent_clear(weft_pevent *e) {
    struct weft__pevent *p = E(e);
    if (!p)
        return -EINVAL;
    atomic_fetch_and_explicit(&p->word, ~1u, memory_order_seq_cst);
    return 0;
}

int weft_pevent_is_set(weft_pevent *e) {
    struct weft__pevent *p = E(e);
    return p ? (int)(atomic_load_explicit(&p->word, memory_order_acquire) & 1) : 0;
}

int weft_pevent_wait(weft_pevent *e, int64_t deadline) {
    struct weft__pevent *p = E(e);
    if (!p)
        return -EINVAL;
    uint32_t w = atomic_load_explicit(&p->word, memory_order_acquire);
    if (w & 1)
        return 0;
    atomic_fetch_add_explicit(&p->waiters, 1, memory_order_seq_cst);
    int r;
    for (;;) {
        r = weft__pfutex_wait_why(&p->word, w, deadline, WEFT__WHY_PEVENT);
        /* Any change of a clear word is a set (a clear leaves it alone). */
        if (atomic_load_explicit(&p->word, memory_order_acquire) != w) {
            r = 0;
            break;
        }
        if (r < 0)
            break;
    }
    atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_seq_cst);
    return r;
}
