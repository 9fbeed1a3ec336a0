/* weft_rlock: a reentrant weft_lock; the inner lock's owner token names the
 * owner, `count` (touched only by the owner) the nesting depth. */
#include "sync/lock_impl.h"

struct weft__rlock {
    struct weft__lock k;
    int32_t count;
    uint32_t tag; /* RLOCK_MAGIC or 0 (all-zero bytes); WEFT__TAG_DEAD */
};
#define RLOCK_MAGIC 0x726c636bu /* "rlck" */
_Static_assert(sizeof(struct weft__rlock) <= sizeof(weft_rlock), "weft_rlock too small");

static inline struct weft__rlock *rl(weft_rlock *l) {
    return (struct weft__rlock *)l;
}

static void check(struct weft__rlock *r, const char *fn) {
    weft__tag_check(r->tag, RLOCK_MAGIC, fn, "weft_rlock", r);
}

WEFT_API int weft_rlock_init(weft_rlock *l) {
    if (!l)
        return -EINVAL;
    memset(l, 0, sizeof *l);
    rl(l)->tag = RLOCK_MAGIC;
    return 0;
}

WEFT_API int weft_rlock_destroy(weft_rlock *l) {
    if (!l)
        return -EINVAL;
    struct weft__rlock *r = rl(l);
    check(r, "weft_rlock_destroy");
    if (atomic_load(&r->k.state))
        return -EBUSY;
    weft__lock_poison(&r->k); /* the inner lock's tag says "dead" too */
    r->tag = WEFT__TAG_DEAD;
    return 0;
}

static int rlock_acquire(weft_rlock *l, int64_t deadline) {
    if (!l)
        return -EINVAL;
    struct weft__rlock *r = rl(l);
    uintptr_t me = weft__self_token();
    if (atomic_load_explicit(&r->k.owner, memory_order_relaxed) == me) {
        if (r->count == INT32_MAX)
            return -EOVERFLOW;
        r->count++;
        return 0;
    }
    check(r, "weft_rlock_acquire");
    weft__why(WEFT__WHY_RLOCK, r, (intptr_t)&r->k); /* the inner lock's slow path keeps it */
    int e = weft__lock_acquire(&r->k, me, deadline);
    if (e == 0)
        r->count = 1;
    return e;
}

WEFT_API int weft_rlock_acquire(weft_rlock *l, int64_t deadline) {
    return rlock_acquire(l, deadline);
}

WEFT_API int weft_rlock_try_acquire(weft_rlock *l) {
    int e = rlock_acquire(l, 0);
    return e == -ETIMEDOUT ? -EAGAIN : e;
}

WEFT_API int weft_rlock_release(weft_rlock *l) {
    if (!l)
        return -EINVAL;
    struct weft__rlock *r = rl(l);
    if (atomic_load_explicit(&r->k.owner, memory_order_relaxed) != weft__self_token() ||
        r->count <= 0) {
        check(r, "weft_rlock_release");
        return -EPERM;
    }
    if (--r->count == 0)
        return weft__lock_release(&r->k);
    return 0;
}
