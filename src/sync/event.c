/* weft_event: a flag and the queue of those waiting for it. */
#include "sync/waitq.h"

#include <string.h>

struct weft__event {
    atomic_int flag;
    weft__spin lock;
    weft__wq q;
};
_Static_assert(sizeof(struct weft__event) <= sizeof(weft_event), "weft_event too small");

static inline struct weft__event *ev(weft_event *e) { return (struct weft__event *)e; }

WEFT_API int weft_event_init(weft_event *e) {
    if (!e)
        return -EINVAL;
    memset(e, 0, sizeof *e);
    return 0;
}

WEFT_API int weft_event_destroy(weft_event *e) {
    if (!e)
        return -EINVAL;
    struct weft__event *k = ev(e);
    weft__spin_lock(&k->lock);
    bool busy = k->q.head != NULL;
    weft__spin_unlock(&k->lock);
    return busy ? -EBUSY : 0;
}

WEFT_API int weft_event_set(weft_event *e) {
    if (!e)
        return -EINVAL;
    struct weft__event *k = ev(e);
    weft__spin_lock(&k->lock);
    atomic_store_explicit(&k->flag, 1, memory_order_release);
    weft__wq_wake_all(&k->q, &k->lock, 0);
    return 0;
}

WEFT_API int weft_event_clear(weft_event *e) {
    if (!e)
        return -EINVAL;
    struct weft__event *k = ev(e);
    weft__spin_lock(&k->lock);
    atomic_store_explicit(&k->flag, 0, memory_order_relaxed);
    weft__spin_unlock(&k->lock);
    return 0;
}

WEFT_API int weft_event_is_set(weft_event *e) {
    return e && atomic_load_explicit(&ev(e)->flag, memory_order_acquire) ? 1 : 0;
}

WEFT_API int weft_event_wait(weft_event *e, int64_t deadline) {
    if (!e)
        return -EINVAL;
    struct weft__event *k = ev(e);
    if (atomic_load_explicit(&k->flag, memory_order_acquire))
        return 0;
    weft__spin_lock(&k->lock);
    if (atomic_load_explicit(&k->flag, memory_order_relaxed)) {
        weft__spin_unlock(&k->lock);
        return 0;
    }
    return weft__wq_wait(&k->q, &k->lock, false, 0, NULL, deadline, NULL, WEFT__W_OTHER);
}
