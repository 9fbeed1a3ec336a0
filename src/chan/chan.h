/* Channel internals shared by chan.c and select.c. */
#ifndef WEFT_CHAN_CHAN_H
#define WEFT_CHAN_CHAN_H

#include "sync/waitq.h"

#include <string.h>

/* A parked operation on a channel is a weft__wq_node (sync/waitq.h) in the
 * channel's sendq or recvq: `w` its waiter, `elem` the element to send or
 * the buffer to receive into (park memory, never a parked SHARED
 * coroutine's stack), `arg` select's op index (0 for plain send/recv). */

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
    uint32_t tag; /* WEFT__CHAN_MAGIC; WEFT__TAG_DEAD once destroyed */
    _Atomic(weft__sched *) owner;
    atomic_int shared;
    atomic_int owner_busy;
    uint32_t elem_size;
    int closed;
    size_t cap, head, len; /* ring buffer of cap elements */
    weft__wq recvq, sendq;
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

void weft__chan_revoke(weft_chan *ch);
/* Makes a channel nobody is biased to shared for good, without a barrier (a worker
 * group's channels: everyone's). */
void weft__chan_nobias(weft_chan *ch);
#define WEFT__CHAN_NOBIAS ((weft__sched *)(uintptr_t)1)
/* Makes ch either biased to the caller or shared, so that entering it
 * later never waits for another thread's bias. */
void weft__chan_settle(weft_chan *ch);

#define WEFT__CHAN_MAGIC 0x6368616eu /* "chan" */
/* The operations, for the message of a corrupted channel. */
enum {
    WEFT__CHAN_RECV = 0,
    WEFT__CHAN_SEND = 1,
    WEFT__CHAN_CLOSE,
    WEFT__CHAN_LEN,
    WEFT__CHAN_CAP,
    WEFT__CHAN_DESTROY,
    WEFT__CHAN_SELECT,
};
__attribute__((noreturn, cold)) void weft__chan_corrupted(const weft_chan *ch, int op);
/* Every entry point checks its channel (garbage would spin on the lock). */
static inline void weft__chan_check(const weft_chan *ch, int op) {
    if (unlikely(ch->tag != WEFT__CHAN_MAGIC))
        weft__chan_corrupted(ch, op);
}

/* Enters ch for one short critical section; returns true if entered
 * through the bias (leave with biased = true). A garbage channel never
 * passes the bias check (its owner is no scheduler): its tag is checked
 * on the other path, before the spin lock, for operation `op`. */
/* The bias's owner (the caller) enters: true unless the bias was revoked meanwhile. */
static inline bool weft__chan_enter_biased(weft_chan *ch) {
    atomic_store_explicit(&ch->owner_busy, 1, memory_order_relaxed);
    atomic_signal_fence(memory_order_seq_cst); /* the revoker's membarrier pairs with this */
    if (likely(!atomic_load_explicit(&ch->shared, memory_order_relaxed)))
        return true;
    atomic_store_explicit(&ch->owner_busy, 0, memory_order_release);
    return false;
}

static inline bool weft__chan_enter(weft_chan *ch, int op) {
    weft__sched *s = weft__sched_get();
    if (s) {
        weft__sched *o = atomic_load_explicit(&ch->owner, memory_order_relaxed);
        if (unlikely(!o)) {
            if (weft__asym_ok() && !weft__sched_in_group(s)) {
                if (atomic_compare_exchange_strong(&ch->owner, &o, s))
                    o = s;
            } else {
                weft__chan_nobias(ch);
            }
        }
        if (o == s && weft__chan_enter_biased(ch))
            return true;
    }
    weft__chan_check(ch, op);
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
