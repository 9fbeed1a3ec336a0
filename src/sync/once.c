/* weft_once: 0 = not run, 1 = running, 2 = done. */
#include "sync/waitq.h"

struct weft__once {
    atomic_int state;
    weft__spin lock;
    weft__wq q;
    uint32_t tag; /* always 0 (WEFT_ONCE_INIT): anything else is garbage */
};
_Static_assert(sizeof(struct weft__once) <= sizeof(weft_once), "weft_once too small");

WEFT_API int weft_once_call(weft_once *o, void (*fn)(void *arg), void *arg) {
    if (!o || !fn)
        return -EINVAL;
    struct weft__once *k = (struct weft__once *)o;
    if (atomic_load_explicit(&k->state, memory_order_acquire) == 2)
        return 0;
    int st = atomic_load_explicit(&k->state, memory_order_relaxed);
    if (k->tag != 0 || st < 0 || st > 2)
        weft__corrupted("weft_once_call", "weft_once", k);
    weft__spin_lock(&k->lock);
    st = atomic_load_explicit(&k->state, memory_order_relaxed);
    if (st == 2) {
        weft__spin_unlock(&k->lock);
        return 0;
    }
    if (st == 1) { /* someone runs fn: wait for it */
        weft__why(WEFT__WHY_ONCE, k, 0);
        return weft__wq_wait(&k->q, &k->lock, false, 0, NULL, WEFT_FOREVER, NULL, WEFT__W_OTHER);
    }
    atomic_store_explicit(&k->state, 1, memory_order_relaxed);
    weft__spin_unlock(&k->lock);
    fn(arg);
    weft__spin_lock(&k->lock);
    atomic_store_explicit(&k->state, 2, memory_order_release);
    weft__wq_wake_all(&k->q, &k->lock, 0);
    return 0;
}
