/* weft_waitgroup: a counter; waiters wait for it to reach zero. */
#include "sync/waitq.h"

#include <string.h>

struct weft__waitgroup {
    _Atomic int64_t count; /* -1 once destroyed */
    weft__spin lock;
    uint32_t tag; /* WG_MAGIC or 0 (all-zero bytes); WEFT__TAG_DEAD */
    weft__wq q;
};
#define WG_MAGIC 0x77677270u /* "wgrp" */
_Static_assert(sizeof(struct weft__waitgroup) <= sizeof(weft_waitgroup),
               "weft_waitgroup too small");

/* Every path that takes the spin lock checks first. */
static inline struct weft__waitgroup *wgp(weft_waitgroup *w, const char *fn) {
    struct weft__waitgroup *k = (struct weft__waitgroup *)w;
    weft__tag_check(k->tag, WG_MAGIC, fn, "weft_waitgroup", k);
    return k;
}

WEFT_API int weft_waitgroup_init(weft_waitgroup *wg) {
    if (!wg)
        return -EINVAL;
    memset(wg, 0, sizeof *wg);
    ((struct weft__waitgroup *)wg)->tag = WG_MAGIC;
    return 0;
}

WEFT_API int weft_waitgroup_destroy(weft_waitgroup *wg) {
    if (!wg)
        return -EINVAL;
    struct weft__waitgroup *k = wgp(wg, "weft_waitgroup_destroy");
    weft__spin_lock(&k->lock);
    bool busy = k->q.head != NULL;
    if (!busy) {
        k->tag = WEFT__TAG_DEAD;
        atomic_store_explicit(&k->count, -1, memory_order_relaxed); /* wait's fast path: no */
    }
    weft__spin_unlock(&k->lock);
    return busy ? -EBUSY : 0;
}

WEFT_API int weft_waitgroup_add(weft_waitgroup *wg, int64_t delta) {
    if (!wg)
        return -EINVAL;
    struct weft__waitgroup *k = wgp(wg, "weft_waitgroup_add");
    weft__spin_lock(&k->lock);
    int64_t c = atomic_load_explicit(&k->count, memory_order_relaxed);
    if ((delta < 0 && c + delta < 0) || (delta > 0 && c > INT64_MAX - delta)) {
        weft__spin_unlock(&k->lock);
        return -EINVAL;
    }
    c += delta;
    atomic_store_explicit(&k->count, c, memory_order_release);
    if (c == 0)
        weft__wq_wake_all(&k->q, &k->lock, 0);
    else
        weft__spin_unlock(&k->lock);
    return 0;
}

WEFT_API int weft_waitgroup_done(weft_waitgroup *wg) {
    return weft_waitgroup_add(wg, -1);
}

WEFT_API int weft_waitgroup_wait(weft_waitgroup *wg, int64_t deadline) {
    if (!wg)
        return -EINVAL;
    struct weft__waitgroup *k = (struct weft__waitgroup *)wg;
    if (atomic_load_explicit(&k->count, memory_order_acquire) == 0)
        return 0;
    wgp(wg, "weft_waitgroup_wait");
    weft__spin_lock(&k->lock);
    if (atomic_load_explicit(&k->count, memory_order_relaxed) == 0) {
        weft__spin_unlock(&k->lock);
        return 0;
    }
    weft__why(WEFT__WHY_WAITGROUP, k, 0);
    return weft__wq_wait(&k->q, &k->lock, false, 0, NULL, deadline, NULL, WEFT__W_OTHER);
}
