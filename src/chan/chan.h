/* Channel internals shared by chan.c and select.c. */
#ifndef WEFT_CHAN_CHAN_H
#define WEFT_CHAN_CHAN_H

#include "internal.h"

#include <string.h>

/* One parked operation on one channel. Lives on the parker's stack (or in
 * select's array). Linked into the channel's sendq or recvq under its lock;
 * whoever unlinks it sets linked = 0, so the owner knows not to. */
typedef struct weft__chan_node {
    struct weft__chan_node *next, *prev;
    weft__waiter *w;
    void *elem;
    int index; /* select's op index (0 for plain send/recv) */
    int linked;
} weft__chan_node;

typedef struct {
    weft__chan_node *head, *tail;
} weft__chan_q;

/* Invariants (while entered, see below): if recvq is non-empty the buffer
 * is empty; if sendq is non-empty the buffer is full; once closed, sendq is
 * empty.
 *
 * Entering: a channel is biased to the first scheduler that uses it. While
 * only that thread uses it, it enters by raising `owner_busy` (a plain
 * store: no atomic read-modify-write, which is most of the cost of a
 * channel operation) and re-checking `shared`. The first other thread to
 * use it revokes the bias once: it sets `shared`, issues a process-wide
 * memory barrier (membarrier(2)), and waits for `owner_busy` to drop; from
 * then on everyone takes the spin lock. A thread waits for `owner_busy`
 * only while holding no other channel lock or bias, so no cycle can form. */
struct weft_chan {
    weft__spin lock;
    _Atomic(weft__sched *) owner;
    atomic_int shared;
    atomic_int owner_busy;
    uint32_t elem_size;
    int closed;
    size_t cap, head, len; /* ring buffer of cap elements */
    weft__chan_q recvq, sendq;
    unsigned char *buf;
};

static inline void weft__chan_copy(void *dst, const void *src, uint32_t n) {
    switch (n) {
    case 4: memcpy(dst, src, 4); break;
    case 8: memcpy(dst, src, 8); break;
    case 16: memcpy(dst, src, 16); break;
    default: memcpy(dst, src, n); break;
    }
}

static inline void weft__chanq_push(weft__chan_q *q, weft__chan_node *n) {
    n->next = NULL;
    n->prev = q->tail;
    if (q->tail)
        q->tail->next = n;
    else
        q->head = n;
    q->tail = n;
    n->linked = 1;
}

static inline void weft__chanq_unlink(weft__chan_q *q, weft__chan_node *n) {
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

void weft__chan_revoke(weft_chan *ch);
/* Makes ch either biased to the caller or shared, so that entering it
 * later never waits for another thread's bias. */
void weft__chan_settle(weft_chan *ch);

/* Enters ch for one short critical section; returns true if entered
 * through the bias (leave with biased = true). */
static inline bool weft__chan_enter(weft_chan *ch) {
    weft__sched *s = weft__sched_get();
    if (s) {
        weft__sched *o = atomic_load_explicit(&ch->owner, memory_order_relaxed);
        if (unlikely(!o) && weft__asym_ok() &&
            atomic_compare_exchange_strong(&ch->owner, &o, s))
            o = s;
        if (o == s) {
            atomic_store_explicit(&ch->owner_busy, 1, memory_order_relaxed);
            atomic_signal_fence(memory_order_seq_cst); /* the revoker's membarrier pairs with this */
            if (likely(!atomic_load_explicit(&ch->shared, memory_order_relaxed)))
                return true;
            atomic_store_explicit(&ch->owner_busy, 0, memory_order_release);
        }
    }
    if (!atomic_load_explicit(&ch->shared, memory_order_acquire))
        weft__chan_revoke(ch);
    weft__spin_lock(&ch->lock);
    return false;
}

static inline void weft__chan_leave(weft_chan *ch, bool biased) {
    if (biased)
        atomic_store_explicit(&ch->owner_busy, 0, memory_order_release);
    else
        weft__spin_unlock(&ch->lock);
}

/* Try to complete a send/recv now; channel entered. Returns 1 done (the woken
 * peer, if any, is stored in *wake and must be woken after unlocking),
 * 0 would block, or -EPIPE for a closed channel. */
int weft__chan_try_send_locked(weft_chan *ch, const void *elem, weft__waiter **wake);
int weft__chan_try_recv_locked(weft_chan *ch, void *elem, weft__waiter **wake);

#endif
