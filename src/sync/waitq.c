/* Parking on a wait queue, waking all, and caller identity tokens. */
#include "sync/waitq.h"
#include "coro/sched.h"

bool weft__token_is_local_coro(uintptr_t token) {
    if (!token)
        return false;
    weft__sched *s = weft__sched_get();
    if (token & 1) /* a thread: local if it is ours and we run coroutines */
        return s && token == (weft__thread_anchor() | 1);
    /* Control blocks are type-stable: reading a recycled one is safe. */
    return s && atomic_load_explicit(&((weft__coro *)token)->sched, memory_order_acquire) == s;
}

bool weft__others_ready(void) {
    weft__sched *s = weft__sched_get();
    return s && (s->runq_head || atomic_load_explicit(&s->inbox, memory_order_relaxed));
}

int weft__wq_wait(weft__wq *q, weft__spin *lock, bool front, intptr_t arg, int64_t *since,
                  int64_t deadline, intptr_t *index_out, int kind) {
    weft__wq_node local;
    weft__wq_node *n = weft__park_mem(&local, sizeof local);
    if (!n) {
        weft__spin_unlock(lock);
        return -ENOMEM;
    }
    if (since && !*since)
        *since = weft_now();
    weft__waiter lw, *w = weft__waiter_begin(&lw, kind);
    n->w = w;
    n->since = since ? *since : 0;
    n->arg = arg;
    weft__wq_push(q, n, front);
    weft__spin_unlock(lock);
    int r = weft__park(w, deadline);
    /* A claimer unlinked the node; after a timeout or cancel it may still
     * be queued. `linked` is only written under the lock. */
    if (r < 0) {
        weft__spin_lock(lock);
        if (n->linked)
            weft__wq_unlink(q, n);
        weft__spin_unlock(lock);
    }
    if (index_out)
        *index_out = w->index;
    return r;
}

int weft__wq_wake_all(weft__wq *q, weft__spin *lock, int result) {
    /* Claim under the lock, wake after it: the claimed nodes' `next`
     * pointers form the list (each node is unlinked, and its owner cannot
     * return before we wake it). */
    weft__wq_node *list = NULL, *n;
    int count = 0;
    while ((n = q->head)) {
        weft__wq_unlink(q, n);
        if (weft__waiter_claim(n->w, result, 0)) {
            n->next = list;
            list = n;
            count++;
        }
    }
    weft__spin_unlock(lock);
    while (list) {
        n = list;
        list = n->next;
        weft__waiter_wake(n->w);
    }
    return count;
}
