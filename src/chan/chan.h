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

/* Invariants (under lock): if recvq is non-empty the buffer is empty; if
 * sendq is non-empty the buffer is full; once closed, sendq is empty. */
struct weft_chan {
    weft__spin lock;
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

/* Try to complete a send/recv now; lock held. Returns 1 done (the woken
 * peer, if any, is stored in *wake and must be woken after unlocking),
 * 0 would block, or -EPIPE for a closed channel. */
int weft__chan_try_send_locked(weft_chan *ch, const void *elem, weft__waiter **wake);
int weft__chan_try_recv_locked(weft_chan *ch, void *elem, weft__waiter **wake);

#endif
