/* A FIFO queue of parked waiters, protected by its owner object's spin
 * lock. The building block of every sync primitive. */
#ifndef WEFT_SYNC_WAITQ_H
#define WEFT_SYNC_WAITQ_H

#include "internal.h"

typedef struct weft__wq_node {
    struct weft__wq_node *next, *prev;
    weft__waiter *w;
    int64_t since; /* when its owner first started waiting (0 if not tracked) */
    intptr_t arg;  /* per object: a select op's index, a flag */
    void *elem;    /* per object: where a channel peer copies an element */
    int linked;
} weft__wq_node;

typedef struct {
    weft__wq_node *head, *tail;
} weft__wq;

static inline void weft__wq_push(weft__wq *q, weft__wq_node *n, bool front) {
    if (front) {
        n->prev = NULL;
        n->next = q->head;
        if (q->head)
            q->head->prev = n;
        else
            q->tail = n;
        q->head = n;
    } else {
        n->next = NULL;
        n->prev = q->tail;
        if (q->tail)
            q->tail->next = n;
        else
            q->head = n;
        q->tail = n;
    }
    n->linked = 1;
}

static inline void weft__wq_unlink(weft__wq *q, weft__wq_node *n) {
    if (n->prev)
        n->prev->next = n->next;
    else
        q->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        q->tail = n->prev;
    n->linked = 0;
}

/* Removes waiters from the front until one is claimed with (result,
 * index); returns its node (read it before waking) or NULL. Lock held. */
static inline weft__wq_node *weft__wq_claim_first(weft__wq *q, int result, intptr_t index) {
    weft__wq_node *n;
    while ((n = q->head)) {
        weft__wq_unlink(q, n);
        if (weft__waiter_claim(n->w, result, index))
            return n;
    }
    return NULL;
}

/* Parks the caller on q. `lock` is held on entry and NOT held on return.
 * The node lives in park memory (see weft__park_mem). On return, if the
 * park failed (timeout, cancel), the node has been unlinked. *since keeps
 * the first-wait time across retries (set to now if 0 and track_since).
 * Returns the claim result (>= 0 or an error from the claimer) or
 * -ETIMEDOUT / -ECANCELED / -ENOMEM. */
int weft__wq_wait(weft__wq *q, weft__spin *lock, bool front, intptr_t arg, int64_t *since,
                  int64_t deadline, intptr_t *index_out, int kind);

/* Claims every waiter in q with (result, 0) and wakes them. The lock is
 * held on entry and released on return. Returns how many were woken. */
int weft__wq_wake_all(weft__wq *q, weft__spin *lock, int result);

/* True if token names a coroutine of the calling thread's scheduler. */
bool weft__token_is_local_coro(uintptr_t token);
/* True if the caller runs on a scheduler that has other coroutines ready to
 * run (run queue or inbox): spinning would only keep them waiting. */
bool weft__others_ready(void);

#endif
