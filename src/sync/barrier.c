/* weft_barrier: parties arrive, the last one releases the round. A waiter
 * that gives up (deadline, cancel) breaks the barrier for everyone, as in
 * Python. */
#include "sync/waitq.h"

#include <string.h>

struct weft__barrier {
    weft__spin lock;
    int32_t parties;
    int32_t count; /* arrived in this round */
    int32_t broken;
    uint32_t round;
    uint32_t tag; /* BARRIER_MAGIC, or 0 if never initialised; WEFT__TAG_DEAD */
    weft__wq q;
};
#define BARRIER_MAGIC 0x62617272u /* "barr" */
_Static_assert(sizeof(struct weft__barrier) <= sizeof(weft_barrier), "weft_barrier too small");

/* Every operation takes the spin lock: check before that. */
static inline struct weft__barrier *br(weft_barrier *b, const char *fn) {
    struct weft__barrier *k = (struct weft__barrier *)b;
    weft__tag_check(k->tag, BARRIER_MAGIC, fn, "weft_barrier", k);
    return k;
}

WEFT_API int weft_barrier_init(weft_barrier *b, int parties) {
    if (!b || parties < 1)
        return -EINVAL;
    memset(b, 0, sizeof *b);
    struct weft__barrier *k = (struct weft__barrier *)b;
    k->parties = parties;
    k->tag = BARRIER_MAGIC;
    return 0;
}

WEFT_API int weft_barrier_destroy(weft_barrier *b) {
    if (!b)
        return -EINVAL;
    struct weft__barrier *k = br(b, "weft_barrier_destroy");
    weft__spin_lock(&k->lock);
    bool busy = k->q.head != NULL;
    if (!busy)
        k->tag = WEFT__TAG_DEAD;
    weft__spin_unlock(&k->lock);
    return busy ? -EBUSY : 0;
}

WEFT_API int weft_barrier_wait(weft_barrier *b, int64_t deadline) {
    if (!b)
        return -EINVAL;
    struct weft__barrier *k = br(b, "weft_barrier_wait");
    if (k->parties < 1)
        return -EINVAL; /* never initialised: no round could ever complete */
    weft__spin_lock(&k->lock);
    if (k->broken) {
        weft__spin_unlock(&k->lock);
        return -EPIPE;
    }
    int idx = k->count++;
    if (k->count == k->parties) {
        k->count = 0;
        k->round++;
        weft__wq_wake_all(&k->q, &k->lock, 0);
        return idx;
    }
    uint32_t round = k->round;
    weft__why(WEFT__WHY_BARRIER, k, 0);
    int r = weft__wq_wait(&k->q, &k->lock, false, 0, NULL, deadline, NULL, WEFT__W_OTHER);
    if (r == -ETIMEDOUT || r == -ECANCELED || r == -ENOMEM) {
        weft__spin_lock(&k->lock);
        if (k->round == round && !k->broken) {
            k->broken = 1;
            k->count = 0;
            weft__wq_wake_all(&k->q, &k->lock, -EPIPE);
        } else {
            weft__spin_unlock(&k->lock);
        }
        return r;
    }
    return r < 0 ? r : idx;
}

WEFT_API int weft_barrier_abort(weft_barrier *b) {
    if (!b)
        return -EINVAL;
    struct weft__barrier *k = br(b, "weft_barrier_abort");
    weft__spin_lock(&k->lock);
    k->broken = 1;
    k->count = 0;
    weft__wq_wake_all(&k->q, &k->lock, -EPIPE);
    return 0;
}

WEFT_API int weft_barrier_reset(weft_barrier *b) {
    if (!b)
        return -EINVAL;
    struct weft__barrier *k = br(b, "weft_barrier_reset");
    weft__spin_lock(&k->lock);
    k->broken = 0;
    k->count = 0;
    k->round++;
    weft__wq_wake_all(&k->q, &k->lock, -EPIPE);
    return 0;
}

WEFT_API int weft_barrier_broken(weft_barrier *b) {
    if (!b)
        return 0;
    struct weft__barrier *k = br(b, "weft_barrier_broken");
    weft__spin_lock(&k->lock);
    int r = k->broken;
    weft__spin_unlock(&k->lock);
    return r;
}

WEFT_API int weft_barrier_waiting(weft_barrier *b) {
    if (!b)
        return 0;
    struct weft__barrier *k = br(b, "weft_barrier_waiting");
    weft__spin_lock(&k->lock);
    int r = k->broken ? 0 : k->count;
    weft__spin_unlock(&k->lock);
    return r;
}
