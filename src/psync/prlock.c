/* weft_prlock: a reentrant lock shared between processes (robust). */
#include "psync/psync.h"

WEFT__PSYNC_LAYOUT(L, weft_prlock, struct weft__plock, WEFT__PRLOCK_MAGIC)

int weft_prlock_init(weft_prlock *l) {
    return weft__plock_setup((struct weft__plock *)(void *)l, 1, WEFT__PRLOCK_MAGIC);
}

int weft_prlock_destroy(weft_prlock *l) { return weft__plock_teardown(L(l)); }

int weft_prlock_acquire(weft_prlock *l, int64_t deadline) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_lock(&p->m, deadline) : -EINVAL;
}

int weft_prlock_try_acquire(weft_prlock *l) { return weft__plock_try(L(l)); }

int weft_prlock_release(weft_prlock *l) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_unlock(&p->m) : -EINVAL;
}

int weft_prlock_consistent(weft_prlock *l) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_consistent(&p->m) : -EINVAL;
}
