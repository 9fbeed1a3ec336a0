/* weft_prlock: a reentrant lock shared between processes (robust). */
#include "psync/psync.h"

_Static_assert(sizeof(struct weft__plock) <= sizeof(weft_prlock), "weft_prlock too small");
_Static_assert(_Alignof(struct weft__plock) <= _Alignof(weft_prlock), "weft_prlock alignment");

static struct weft__plock *L(weft_prlock *l) {
    struct weft__plock *p = (struct weft__plock *)(void *)l;
    if (!p || atomic_load_explicit(&p->magic, memory_order_acquire) != WEFT__PRLOCK_MAGIC)
        return NULL;
    return p;
}

int weft_prlock_init(weft_prlock *l) {
    if (!l)
        return -EINVAL;
    struct weft__plock *p = (struct weft__plock *)(void *)l;
    int r = weft__rmutex_init_type(&p->m, 1);
    if (r < 0)
        return r;
    atomic_store_explicit(&p->magic, WEFT__PRLOCK_MAGIC, memory_order_release);
    return 0;
}

int weft_prlock_destroy(weft_prlock *l) {
    struct weft__plock *p = L(l);
    if (!p)
        return -EINVAL;
    if (weft__rmutex_held(&p->m))
        return -EBUSY;
    atomic_store_explicit(&p->magic, 0, memory_order_release);
    weft__rmutex_destroy(&p->m);
    return 0;
}

int weft_prlock_acquire(weft_prlock *l, int64_t deadline) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_lock(&p->m, deadline) : -EINVAL;
}

int weft_prlock_try_acquire(weft_prlock *l) {
    struct weft__plock *p = L(l);
    if (!p)
        return -EINVAL;
    int r = weft__rmutex_trylock(&p->m);
    return r == -EBUSY ? -EAGAIN : r;
}

int weft_prlock_release(weft_prlock *l) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_unlock(&p->m) : -EINVAL;
}

int weft_prlock_consistent(weft_prlock *l) {
    struct weft__plock *p = L(l);
    return p ? weft__rmutex_consistent(&p->m) : -EINVAL;
}
