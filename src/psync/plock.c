/* weft_plock: a lock shared between processes (robust: a dead holder's
 * lock passes to the next taker with -EOWNERDEAD). */
#include "psync/psync.h"

#include <sched.h>

WEFT__PSYNC_LAYOUT(L, weft_plock, struct weft__plock, WEFT__PLOCK_MAGIC)

int weft__psync_lock_short(weft__rmutex *m) {
    for (;;) {
        int r = weft__rmutex_trylock(m);
        if (r != -EBUSY)
            return r;
        if (weft__sched_get())
            weft_yield();
        sched_yield();
    }
}

int weft__plock_setup(struct weft__plock *p, int recursive, uint32_t tag) {
    if (!p)
        return -EINVAL;
    int r = weft__rmutex_init_type(&p->m, recursive);
    if (r < 0)
        return r;
    atomic_store_explicit(&p->magic, tag, memory_order_release);
    return 0;
}

int weft__plock_teardown(struct weft__plock *p) {
    if (!p)
        return -EINVAL;
    if (weft__rmutex_held(&p->m))
        return -EBUSY;
    atomic_store_explicit(&p->magic, 0, memory_order_release);
    weft__rmutex_destroy(&p->m);
    return 0;
}

int weft__plock_try(struct weft__plock *p) {
    if (!p)
        return -EINVAL;
    int r = weft__rmutex_trylock(&p->m);
    return r == -EBUSY ? -EAGAIN : r;
}

int weft_plock_init(weft_plock *l) {
    return weft__plock_setup((struct weft__plock *)(void *)l, 0, WEFT__PLOCK_MAGIC);
}

int weft_plock_destroy(weft_plock *l) { return weft__plock_teardown(L(l)); }

int weft_plock_acquire(weft_plock *l, int64_t deadline) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_lock(&p->m, deadline) : -EINVAL;
}

int weft_plock_try_acquire(weft_plock *l) { return weft__plock_try(L(l)); }

int weft_plock_release(weft_plock *l) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_unlock(&p->m) : -EINVAL;
}

int weft_plock_consistent(weft_plock *l) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_consistent(&p->m) : -EINVAL;
}

int weft_plock_locked(weft_plock *l) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_held(&p->m) : 0;
}
