/* weft_sem: permits in an atomic counter (taken without the lock when
 * available); releases hand permits to queued waiters first (FIFO). */
#include "sync/waitq.h"

#include <string.h>

struct weft__sem {
    _Atomic int64_t count; /* < 0 only once destroyed (or garbage) */
    weft__spin lock;
    int32_t bounded;
    int32_t initial;
    uint32_t tag; /* SEM_MAGIC, or 0 if never initialised; WEFT__TAG_DEAD */
    weft__wq q;
};
#define SEM_MAGIC 0x73656d61u /* "sema" */
_Static_assert(sizeof(struct weft__sem) <= sizeof(weft_sem), "weft_sem too small");

static inline struct weft__sem *sm(weft_sem *s) {
    return (struct weft__sem *)s;
}

/* The slow paths (everything that takes the spin lock) check first. */
static void check(struct weft__sem *k, const char *fn) {
    weft__tag_check(k->tag, SEM_MAGIC, fn, "weft_sem", k);
}

WEFT_API int weft_sem_init(weft_sem *s, int64_t value, int bounded) {
    if (!s || value < 0 || value > INT32_MAX)
        return -EINVAL;
    memset(s, 0, sizeof *s);
    struct weft__sem *k = sm(s);
    atomic_init(&k->count, value);
    k->initial = (int32_t)value;
    k->bounded = bounded ? 1 : 0;
    k->tag = SEM_MAGIC;
    return 0;
}

WEFT_API int weft_sem_destroy(weft_sem *s) {
    if (!s)
        return -EINVAL;
    struct weft__sem *k = sm(s);
    check(k, "weft_sem_destroy");
    weft__spin_lock(&k->lock);
    bool busy = k->q.head != NULL;
    if (!busy) { /* no permit to take for the fast path */
        k->tag = WEFT__TAG_DEAD;
        atomic_store_explicit(&k->count, -1, memory_order_relaxed);
    }
    weft__spin_unlock(&k->lock);
    return busy ? -EBUSY : 0;
}

static bool take(struct weft__sem *k) {
    int64_t c = atomic_load_explicit(&k->count, memory_order_relaxed);
    while (c > 0) {
        if (atomic_compare_exchange_weak_explicit(&k->count, &c, c - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

WEFT_API int weft_sem_acquire(weft_sem *s, int64_t deadline) {
    if (!s)
        return -EINVAL;
    struct weft__sem *k = sm(s);
    if (take(k))
        return 0;
    check(k, "weft_sem_acquire");
    if (weft__dl_nowait(deadline))
        return -ETIMEDOUT;
    weft__spin_lock(&k->lock);
    if (take(k)) {
        weft__spin_unlock(&k->lock);
        return 0;
    }
    /* A claim with result 0 means a releaser handed us a permit. */
    weft__why(WEFT__WHY_SEM, k, 0);
    return weft__wq_wait(&k->q, &k->lock, false, 0, NULL, deadline, NULL, WEFT__W_OTHER);
}

WEFT_API int weft_sem_try_acquire(weft_sem *s) {
    int r = weft_sem_acquire(s, 0);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

WEFT_API int weft_sem_release(weft_sem *s, int64_t n) {
    if (!s || n < 1)
        return -EINVAL;
    struct weft__sem *k = sm(s);
    check(k, "weft_sem_release");
    weft__spin_lock(&k->lock);
    int64_t c = atomic_load_explicit(&k->count, memory_order_relaxed);
    if ((k->bounded && c + n > k->initial) || c > INT32_MAX - n) {
        weft__spin_unlock(&k->lock);
        return -EOVERFLOW;
    }
    weft__wq_node *list = NULL, *node;
    while (n > 0 && (node = weft__wq_claim_first(&k->q, 0, 0))) {
        node->next = list;
        list = node;
        n--;
    }
    if (n)
        atomic_fetch_add_explicit(&k->count, n, memory_order_release);
    weft__spin_unlock(&k->lock);
    while (list) {
        node = list;
        list = node->next;
        weft__waiter_wake(node->w);
    }
    return 0;
}

WEFT_API int64_t weft_sem_value(weft_sem *s) {
    return s ? atomic_load(&sm(s)->count) : 0;
}
