/* Channels: buffered or unbuffered, with direct hand-off to a parked peer.
 * Every operation runs with the channel entered (biased or locked, see
 * chan.h); a peer's park is
 * ended through its waiter's claim, so a peer that timed out, was
 * cancelled, or was completed by another channel of its select is skipped
 * (and left unlinked for its owner to notice). */
#include "chan/chan.h"

#include <sched.h>

#define MAX_ELEM 65536
#define MAX_CAP ((size_t)1 << 30)

void weft__chan_revoke(weft_chan *ch) {
    weft__spin_lock(&ch->lock);
    if (!atomic_load_explicit(&ch->shared, memory_order_relaxed)) {
        atomic_store(&ch->shared, 1);
        if (weft__asym_ok()) {
            /* Every running thread passes a full barrier: an owner (even
             * one that has just claimed the bias) either sees `shared` in
             * its next entry, or its owner_busy is visible to us now. */
            weft__asym_barrier();
            while (atomic_load_explicit(&ch->owner_busy, memory_order_acquire))
                sched_yield();
        }
    }
    weft__spin_unlock(&ch->lock);
}

void weft__chan_nobias(weft_chan *ch) {
    weft__sched *o = NULL;
    /* Nobody can take the bias from here on: `shared` needs no barrier. */
    if (atomic_compare_exchange_strong(&ch->owner, &o, WEFT__CHAN_NOBIAS))
        atomic_store(&ch->shared, 1);
}

void weft__chan_settle(weft_chan *ch) {
    weft__sched *s = weft__sched_get();
    weft__sched *o = atomic_load(&ch->owner);
    if (s && !o && weft__sched_in_group(s))
        weft__chan_nobias(ch);
    else if (s && !o && weft__asym_ok() && atomic_compare_exchange_strong(&ch->owner, &o, s))
        o = s;
    if ((!s || o != s) && !atomic_load(&ch->shared))
        weft__chan_revoke(ch);
}

void weft__chan_corrupted(const weft_chan *ch, int op) {
    static const char *const names[] = {
        [WEFT__CHAN_RECV] = "weft_chan_recv",   [WEFT__CHAN_SEND] = "weft_chan_send",
        [WEFT__CHAN_CLOSE] = "weft_chan_close", [WEFT__CHAN_LEN] = "weft_chan_len",
        [WEFT__CHAN_CAP] = "weft_chan_cap",     [WEFT__CHAN_DESTROY] = "weft_chan_destroy",
        [WEFT__CHAN_SELECT] = "weft_select",
    };
    weft__corrupted(names[op], "weft_chan", ch);
}

WEFT_API int weft_chan_create(weft_chan **out, size_t elem_size, size_t capacity) {
    if (!out || elem_size == 0 || elem_size > MAX_ELEM || capacity > MAX_CAP)
        return -EINVAL;
    weft_chan *ch = weft__calloc(1, sizeof *ch);
    if (!ch)
        return -ENOMEM;
    if (capacity) {
        ch->buf = weft__malloc(elem_size * capacity);
        if (!ch->buf) {
            weft__free(ch);
            return -ENOMEM;
        }
    }
    ch->elem_size = (uint32_t)elem_size;
    ch->cap = capacity;
    ch->tag = WEFT__CHAN_MAGIC;
    *out = ch;
    return 0;
}

WEFT_API int weft_chan_destroy(weft_chan *ch) {
    if (!ch)
        return 0;
    weft__chan_check(ch, WEFT__CHAN_DESTROY);
    bool b = weft__chan_enter(ch, WEFT__CHAN_DESTROY);
    int busy = ch->recvq.head || ch->sendq.head;
    weft__chan_leave(ch, b);
    if (busy)
        return -EBUSY;
    ch->tag = WEFT__TAG_DEAD;
    weft__free(ch->buf);
    weft__free(ch);
    return 0;
}

/* Pops parked nodes until one's waiter is claimed for this operation. */
static weft__wq_node *take_peer(weft__wq *q) {
    weft__wq_node *n;
    while ((n = q->head)) {
        weft__wq_unlink(q, n);
        if (weft__waiter_claim(n->w, 0, n->arg))
            return n;
    }
    return NULL;
}

/* The ring buffer: append at the tail (len < cap), and the head's advance. */
static inline void buf_push(weft_chan *ch, const void *elem) {
    size_t tail = ch->head + ch->len;
    if (tail >= ch->cap)
        tail -= ch->cap;
    weft__chan_copy(ch->buf + tail * ch->elem_size, elem, ch->elem_size);
    ch->len++;
}

static inline void head_advance(weft_chan *ch) {
    if (++ch->head == ch->cap)
        ch->head = 0;
}

/* The two operations are inlined into chan_op, itself inlined into each entry
 * point (send, recv, try_send, try_recv: `send` a constant there): the fast path
 * of a buffered channel is then straight-line code (select.c calls the out-of-line
 * copies below). */
static inline __attribute__((always_inline)) int try_send(weft_chan *ch, const void *elem,
                                                          weft__waiter **wake) {
    if (ch->closed)
        return -EPIPE;
    weft__wq_node *r = take_peer(&ch->recvq);
    if (r) {
        weft__chan_copy(r->elem, elem, ch->elem_size);
        *wake = r->w;
        return 1;
    }
    if (ch->len < ch->cap) {
        buf_push(ch, elem);
        return 1;
    }
    return 0;
}

static inline __attribute__((always_inline)) int try_recv(weft_chan *ch, void *elem,
                                                          weft__waiter **wake) {
    if (ch->len) {
        unsigned char *slot = ch->buf + ch->head * ch->elem_size;
        weft__chan_copy(elem, slot, ch->elem_size);
        weft__wq_node *s = take_peer(&ch->sendq);
        if (s) { /* the buffer was full: the oldest sender's element moves in */
            weft__chan_copy(slot, s->elem, ch->elem_size);
            head_advance(ch);
            *wake = s->w;
        } else {
            head_advance(ch);
            ch->len--;
        }
        return 1;
    }
    weft__wq_node *s = take_peer(&ch->sendq);
    if (s) {
        weft__chan_copy(elem, s->elem, ch->elem_size);
        *wake = s->w;
        return 1;
    }
    return ch->closed ? -EPIPE : 0;
}

int weft__chan_try_send_locked(weft_chan *ch, const void *elem, weft__waiter **wake) {
    return try_send(ch, elem, wake);
}

int weft__chan_try_recv_locked(weft_chan *ch, void *elem, weft__waiter **wake) {
    return try_recv(ch, elem, wake);
}

static int chan_park(weft_chan *ch, void *elem, int64_t deadline, int send, bool biased);

static inline __attribute__((always_inline)) int chan_op(weft_chan *ch, void *elem,
                                                         int64_t deadline, int send) {
    if (!ch || !elem)
        return -EINVAL;
    weft__waiter *wake = NULL;
    bool biased = weft__chan_enter(ch, send);
    int r = send ? try_send(ch, elem, &wake) : try_recv(ch, elem, &wake);
    if (r != 0) {
        weft__chan_leave(ch, biased);
        if (wake)
            weft__waiter_wake(wake);
        return r < 0 ? r : 0;
    }
    if (weft__dl_nowait(deadline)) {
        weft__chan_leave(ch, biased);
        return -ETIMEDOUT;
    }
    return chan_park(ch, elem, deadline, send, biased);
}

/* chan_op's slow path: the operation waits for a peer (channel entered). */
static __attribute__((noinline)) int chan_park(weft_chan *ch, void *elem, int64_t deadline,
                                               int send, bool biased) {
    /* The node (and, for a SHARED coroutine, a bounce copy of the element)
     * must stay reachable while we are parked. */
    weft__wq_node local;
    weft__wq_node *n = weft__park_mem(&local, sizeof local + ch->elem_size);
    if (!n) {
        weft__chan_leave(ch, biased);
        return -ENOMEM;
    }
    void *bounce = n == &local ? NULL : (void *)(n + 1);
    if (bounce && send)
        weft__chan_copy(bounce, elem, ch->elem_size);
    weft__waiter lw, *w = weft__waiter_begin(&lw, WEFT__W_OTHER);
    weft__why(send ? WEFT__WHY_SEND : WEFT__WHY_RECV, ch, 0);
    *n = (weft__wq_node){.w = w, .elem = bounce ? bounce : elem, .arg = 0};
    weft__wq_push(send ? &ch->sendq : &ch->recvq, n, false);
    weft__chan_leave(ch, biased);
    int res = weft__park(w, deadline);
    if (res != 0) {
        /* Timed out or cancelled: we claimed our own waiter, so nobody took
         * the element; leave the queue if still there. Closing claims with
         * -EPIPE and unlinks, also fine. */
        biased = weft__chan_enter(ch, send);
        if (n->linked)
            weft__wq_unlink(send ? &ch->sendq : &ch->recvq, n);
        weft__chan_leave(ch, biased);
    } else if (bounce && !send) {
        weft__chan_copy(elem, bounce, ch->elem_size);
    }
    return res;
}

/* The commonest case first, in a leaf that needs few registers (so no frame to
 * build): a buffered channel biased to the caller's thread, with room (send) or an
 * element (recv) and nobody parked on the other side. Everything else: chan_op
 * (105 instead of 161 instructions per message through a buffered channel). */
static inline bool fast_enter(weft_chan *ch) {
    weft__sched *s = weft__sched_get();
    return s && atomic_load_explicit(&ch->owner, memory_order_relaxed) == s &&
           weft__chan_enter_biased(ch);
}

static __attribute__((noinline)) int send_slow(weft_chan *ch, const void *elem,
                                               int64_t deadline) {
    return chan_op(ch, (void *)elem, deadline, 1);
}

static __attribute__((noinline)) int recv_slow(weft_chan *ch, void *elem, int64_t deadline) {
    return chan_op(ch, elem, deadline, 0);
}

WEFT_API int weft_chan_send(weft_chan *ch, const void *elem, int64_t deadline) {
    if (likely(ch && elem) && ch->cap && fast_enter(ch)) { /* cap never changes */
        if (likely(!ch->closed && !ch->recvq.head && ch->len < ch->cap)) {
            buf_push(ch, elem);
            weft__chan_leave(ch, true);
            return 0;
        }
        weft__chan_leave(ch, true);
    }
    return send_slow(ch, elem, deadline);
}

WEFT_API int weft_chan_recv(weft_chan *ch, void *elem, int64_t deadline) {
    if (likely(ch && elem) && ch->cap && fast_enter(ch)) {
        if (likely(ch->len && !ch->sendq.head)) {
            weft__chan_copy(elem, ch->buf + ch->head * ch->elem_size, ch->elem_size);
            head_advance(ch);
            ch->len--;
            weft__chan_leave(ch, true);
            return 0;
        }
        weft__chan_leave(ch, true);
    }
    return recv_slow(ch, elem, deadline);
}

WEFT_API int weft_chan_try_send(weft_chan *ch, const void *elem) {
    int r = chan_op(ch, (void *)elem, 0, 1);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

WEFT_API int weft_chan_try_recv(weft_chan *ch, void *elem) {
    int r = chan_op(ch, elem, 0, 0);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

WEFT_API int weft_chan_close(weft_chan *ch) {
    if (!ch)
        return -EINVAL;
    bool biased = weft__chan_enter(ch, WEFT__CHAN_CLOSE);
    if (ch->closed) {
        weft__chan_leave(ch, biased);
        return -EPIPE;
    }
    ch->closed = 1;
    /* Claim every parked peer with -EPIPE; wake them after unlocking. A
     * claimed node's `next` is reused for the local list: it is unlinked. */
    weft__wq_node *list = NULL, *n;
    weft__wq *qs[2] = {&ch->recvq, &ch->sendq};
    for (int i = 0; i < 2; i++) {
        while ((n = qs[i]->head)) {
            weft__wq_unlink(qs[i], n);
            if (weft__waiter_claim(n->w, -EPIPE, n->arg)) {
                n->next = list;
                list = n;
            }
        }
    }
    weft__chan_leave(ch, biased);
    while (list) {
        n = list;
        list = n->next;
        weft__waiter_wake(n->w); /* n may be gone after this */
    }
    return 0;
}

WEFT_API size_t weft_chan_len(weft_chan *ch) {
    if (!ch)
        return 0;
    bool biased = weft__chan_enter(ch, WEFT__CHAN_LEN);
    size_t n = ch->len;
    weft__chan_leave(ch, biased);
    return n;
}

WEFT_API size_t weft_chan_cap(weft_chan *ch) {
    if (!ch)
        return 0;
    weft__chan_check(ch, WEFT__CHAN_CAP);
    return ch->cap;
}
