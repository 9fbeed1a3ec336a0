/* weft_psem: a counting semaphore shared between processes. Lock-free: the
 * permit count is the futex word, so no process can die holding anything
 * its peers wait for. */
#include "psync/psync.h"

#include <limits.h>

WEFT__PSYNC_LAYOUT(S, weft_psem, struct weft__psem, WEFT__PSEM_MAGIC)

int weft_psem_init(weft_psem *s, int64_t value, int bounded) {
    if (!s || value < 0 || value > INT32_MAX)
        return -EINVAL;
    struct weft__psem *p = (struct weft__psem *)(void *)s;
    atomic_init(&p->value, (uint32_t)value);
    atomic_init(&p->waiters, 0);
    p->initial = (uint32_t)value;
    p->bounded = bounded != 0;
    atomic_store_explicit(&p->magic, WEFT__PSEM_MAGIC, memory_order_release);
    return 0;
}

int weft_psem_destroy(weft_psem *s) {
    struct weft__psem *p = S(s);
    return weft__psync_untag(p ? &p->magic : NULL, p ? &p->waiters : NULL);
}

static bool take(struct weft__psem *p) {
    uint32_t v = atomic_load_explicit(&p->value, memory_order_relaxed);
    while (v > 0) {
        if (atomic_compare_exchange_weak_explicit(&p->value, &v, v - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

int weft_psem_try_acquire(weft_psem *s) {
    struct weft__psem *p = S(s);
    if (!p)
        return -EINVAL;
    return take(p) ? 0 : -EAGAIN;
}

int weft_psem_acquire(weft_psem *s, int64_t deadline) {
    struct weft__psem *p = S(s);
    if (!p)
        return -EINVAL;
    for (;;) {
        if (take(p))
            return 0;
        atomic_fetch_add_explicit(&p->waiters, 1, memory_order_seq_cst);
        int r = weft__pfutex_wait_why(&p->value, 0, deadline, WEFT__WHY_PSEM);
        atomic_fetch_sub_explicit(&p->waiters, 1, memory_order_seq_cst);
        if (r < 0) {
            /* A wake-up this caller consumed must not be lost: if a permit
             * is there, take it instead of failing. */
            if (take(p))
                return 0;
            return r;
        }
    }
}

int weft_psem_release(weft_psem *s, int64_t n) {
    struct weft__psem *p = S(s);
    if (!p || n < 1)
        return -EINVAL;
    uint32_t v = atomic_load_explicit(&p->value, memory_order_relaxed);
    uint64_t limit = p->bounded ? p->initial : INT32_MAX;
    do {
        if ((uint64_t)v + (uint64_t)n > limit)
            return -EOVERFLOW;
    } while (!atomic_compare_exchange_weak_explicit(&p->value, &v, v + (uint32_t)n,
                                                    memory_order_seq_cst, memory_order_relaxed));
    if (atomic_load_explicit(&p->waiters, memory_order_seq_cst))
        weft__pfutex_wake(&p->value, n > INT32_MAX ? INT32_MAX : (int)n);
    return 0;
}

int64_t weft_psem_value(weft_psem *s) {
    struct weft__psem *p = S(s);
    return p ? (int64_t)atomic_load_explicit(&p->value, memory_order_relaxed) : -EINVAL;
}
