/* weft_event: a flag and the queue of those waiting for it. */
#include "sync/watch.h"

#include <string.h>

struct weft__event {
    atomic_int flag; /* 0 or 1; 2 once destroyed */
    weft__spin lock;
    weft__wq q;
    uint32_t tag; /* EVENT_MAGIC or 0 (all-zero bytes); WEFT__TAG_DEAD */
};
#define EVENT_MAGIC 0x65766e74u /* "evnt" */
_Static_assert(sizeof(struct weft__event) <= sizeof(weft_event), "weft_event too small");

/* Every path that takes the spin lock checks first. */
static inline struct weft__event *ev(weft_event *e, const char *fn) {
    struct weft__event *k = (struct weft__event *)e;
    weft__tag_check(k->tag, EVENT_MAGIC, fn, "weft_event", k);
    return k;
}

WEFT_API int weft_event_init(weft_event *e) {
    if (!e)
        return -EINVAL;
    memset(e, 0, sizeof *e);
    ((struct weft__event *)e)->tag = EVENT_MAGIC;
    return 0;
}

WEFT_API int weft_event_destroy(weft_event *e) {
    if (!e)
        return -EINVAL;
    struct weft__event *k = ev(e, "weft_event_destroy");
    weft__spin_lock(&k->lock);
    bool busy = k->q.head != NULL;
    if (!busy) {
        k->tag = WEFT__TAG_DEAD;
        atomic_store_explicit(&k->flag, 2, memory_order_relaxed); /* wait's fast path: no */
    }
    weft__spin_unlock(&k->lock);
    return busy ? -EBUSY : 0;
}

WEFT_API int weft_event_set(weft_event *e) {
    if (!e)
        return -EINVAL;
    struct weft__event *k = ev(e, "weft_event_set");
    weft__spin_lock(&k->lock);
    atomic_store_explicit(&k->flag, 1, memory_order_release);
    weft__wq_wake_all(&k->q, &k->lock, 0);
    return 0;
}

WEFT_API int weft_event_clear(weft_event *e) {
    if (!e)
        return -EINVAL;
    struct weft__event *k = ev(e, "weft_event_clear");
    weft__spin_lock(&k->lock);
    atomic_store_explicit(&k->flag, 0, memory_order_relaxed);
    weft__spin_unlock(&k->lock);
    return 0;
}

WEFT_API int weft_event_is_set(weft_event *e) {
    return e && atomic_load_explicit(&((struct weft__event *)e)->flag, memory_order_acquire) == 1;
}

WEFT_API int weft_event_wait(weft_event *e, int64_t deadline) {
    if (!e)
        return -EINVAL;
    struct weft__event *k = (struct weft__event *)e;
    if (atomic_load_explicit(&k->flag, memory_order_acquire) == 1)
        return 0;
    ev(e, "weft_event_wait");
    weft__spin_lock(&k->lock);
    if (atomic_load_explicit(&k->flag, memory_order_relaxed)) {
        weft__spin_unlock(&k->lock);
        return 0;
    }
    weft__why(WEFT__WHY_EVENT, k, 0);
    return weft__wq_wait(&k->q, &k->lock, false, 0, NULL, deadline, NULL, WEFT__W_OTHER);
}

/* weft_wait_any (sync/watch.h): a watcher is a plain waiter of the queue. */
int weft__event_watch(weft_event *e, weft__wq_node *n, weft__waiter *w) {
    struct weft__event *k = (struct weft__event *)e;
    if (atomic_load_explicit(&k->flag, memory_order_acquire) == 1)
        return 1;
    ev(e, "weft_wait_any");
    weft__spin_lock(&k->lock);
    if (atomic_load_explicit(&k->flag, memory_order_relaxed)) {
        weft__spin_unlock(&k->lock);
        return 1;
    }
    n->w = w;
    n->since = 0;
    n->arg = 0;
    weft__wq_push(&k->q, n, false);
    weft__spin_unlock(&k->lock);
    return 0;
}

void weft__event_unwatch(weft_event *e, weft__wq_node *n) {
    struct weft__event *k = (struct weft__event *)e;
    weft__spin_lock(&k->lock);
    if (n->linked)
        weft__wq_unlink(&k->q, n);
    weft__spin_unlock(&k->lock);
}
