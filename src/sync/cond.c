/* weft_cond: waiters queue on the condition, then re-take the lock. */
#include "sync/lock_impl.h"

struct weft__cond {
    weft__spin lock;
    uint32_t tag; /* COND_MAGIC or 0 (all-zero bytes); WEFT__TAG_DEAD */
    weft__wq q;
};
#define COND_MAGIC 0x636f6e64u /* "cond" */
_Static_assert(sizeof(struct weft__cond) <= sizeof(weft_cond), "weft_cond too small");

/* Every operation takes the spin lock: check before that. */
static inline struct weft__cond *cv(weft_cond *c, const char *fn) {
    struct weft__cond *k = (struct weft__cond *)c;
    weft__tag_check(k->tag, COND_MAGIC, fn, "weft_cond", k);
    return k;
}

WEFT_API int weft_cond_init(weft_cond *c) {
    if (!c)
        return -EINVAL;
    memset(c, 0, sizeof *c);
    ((struct weft__cond *)c)->tag = COND_MAGIC;
    return 0;
}

WEFT_API int weft_cond_destroy(weft_cond *c) {
    if (!c)
        return -EINVAL;
    struct weft__cond *k = cv(c, "weft_cond_destroy");
    weft__spin_lock(&k->lock);
    bool busy = k->q.head != NULL;
    if (!busy)
        k->tag = WEFT__TAG_DEAD;
    weft__spin_unlock(&k->lock);
    return busy ? -EBUSY : 0;
}

WEFT_API int weft_cond_wait(weft_cond *c, weft_lock *l, int64_t deadline) {
    if (!c || !l)
        return -EINVAL;
    struct weft__cond *k = cv(c, "weft_cond_wait");
    struct weft__lock *m = weft__lock_of(l);
    weft__lock_check(m, "weft_cond_wait");
    uintptr_t me = weft__self_token();
    if (!(atomic_load(&m->state) & WEFT__LOCK_LOCKED) ||
        atomic_load_explicit(&m->owner, memory_order_relaxed) != me)
        return -EPERM;
    /* Queue first, then release the lock: a notify that follows our
     * release (or anything the lock protects) finds us queued. */
    weft__spin_lock(&k->lock);
    weft__lock_release(m);
    weft__why(WEFT__WHY_COND, k, 0);
    int r = weft__wq_wait(&k->q, &k->lock, false, 0, NULL, deadline, NULL, WEFT__W_OTHER);
    /* Re-take the lock whatever happened, even when cancelled. */
    int e = weft__lock_acquire(m, me, WEFT_FOREVER);
    if (e != 0)
        e = weft__lock_acquire_slow(m, me, WEFT_FOREVER, WEFT__W_NOCANCEL);
    if (e != 0)
        WEFT_PANIC("weft_cond_wait could not re-acquire its lock: %s", weft_strerror(e));
    return r < 0 ? r : 0;
}

WEFT_API int weft_cond_notify(weft_cond *c, int n) {
    if (!c || n < 0)
        return -EINVAL;
    struct weft__cond *k = cv(c, "weft_cond_notify");
    int woken = 0;
    while (woken < n) {
        weft__spin_lock(&k->lock);
        weft__wq_node *w = weft__wq_claim_first(&k->q, 0, 0);
        weft__waiter *wt = w ? w->w : NULL;
        weft__spin_unlock(&k->lock);
        if (!wt)
            break;
        weft__waiter_wake(wt);
        woken++;
    }
    return woken;
}

WEFT_API int weft_cond_notify_all(weft_cond *c) {
    if (!c)
        return -EINVAL;
    struct weft__cond *k = cv(c, "weft_cond_notify_all");
    weft__spin_lock(&k->lock);
    return weft__wq_wake_all(&k->q, &k->lock, 0);
}
