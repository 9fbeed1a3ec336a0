/* weft_killall: cancel a set of coroutines and wait for them all (gevent's
 * killall). The wait is one park of the caller: each coroutine of the set
 * still running gets an internal watcher (coro/link.c) that counts it down
 * when it is done; the last one wakes the caller. */
#include "coro/sched.h"

typedef struct {
    size_t left;     /* watched coroutines not yet done */
    weft__waiter *w; /* the caller's */
} killall_wait;

static void done_one(weft_coro c, void *result, int status, void *ud) {
    (void)c;
    (void)result;
    (void)status;
    killall_wait *kw = ud;
    if (--kw->left == 0 && weft__waiter_claim_local(kw->w, 0, 0))
        weft__waiter_wake(kw->w);
}

/* cs[i] on the calling thread, or NULL if its handle is stale now (a
 * detached coroutine released once done). */
static weft__coro *live(weft_coro c) {
    weft__coro *co = c.p;
    return atomic_load_explicit(&co->gen, memory_order_acquire) == c.gen ? co : NULL;
}

WEFT_API int weft_killall(const weft_coro *cs, size_t n, int block, int64_t deadline) {
    if ((!cs && n) || (block != 0 && block != 1))
        return -EINVAL;
    if (!n)
        return 0;
    weft__sched *s = weft__sched_get();
    for (size_t i = 0; i < n; i++) {
        weft__coro *co = cs[i].p;
        if (!co || atomic_load_explicit(&co->gen, memory_order_acquire) != cs[i].gen)
            return -ESRCH;
        if (!s || atomic_load_explicit(&co->sched, memory_order_relaxed) != s ||
            (co->flags & WEFT__F_GROUP))
            return -EXDEV;
        if (co == s->current)
            return -EDEADLK;
        if (co->flags & WEFT__F_MAIN)
            return -EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        weft_cancel(cs[i]); /* valid, ours: cannot fail */
    if (!block)
        return 0;
    killall_wait *kw = weft__malloc(sizeof *kw);
    if (!kw)
        return -ENOMEM;
    kw->left = 0;
    kw->w = weft__waiter_begin(NULL, WEFT__W_OTHER);
    weft__why(WEFT__WHY_KILLALL, NULL, 0);
    int r = 0;
    size_t watched = 0;
    for (; watched < n; watched++) {
        weft__coro *co = live(cs[watched]);
        if (!co || co->state == WEFT__C_DONE)
            continue;
        if ((r = weft__link_watch(co, done_one, kw)) != 0)
            break;
        kw->left++;
    }
    if (r == 0 && kw->left)
        r = weft__park(kw->w, deadline);
    for (size_t i = 0; i < watched; i++) { /* drop the watchers that did not run */
        weft__coro *co = live(cs[i]);
        if (co && co->state != WEFT__C_DONE)
            weft__link_unwatch(co, kw);
    }
    weft__free(kw);
    return r;
}
