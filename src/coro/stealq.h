/* A worker group's per-worker run queue (see docs/design.md, "Worker
 * groups"): a bounded ring that its owner pushes to and pops from, and
 * that other workers steal half of. Not used by the scheduler yet.
 *
 * Invariants: only the owner writes `tail` and the slots (at positions
 * from tail on); anyone may advance `head`, only by a CAS, and only after
 * reading the slots it takes, so a taker that loses the CAS discards what
 * it read. 0 <= tail - head <= WEFT__STEALQ_CAP. */
#ifndef WEFT_CORO_STEALQ_H
#define WEFT_CORO_STEALQ_H

#include <stdatomic.h>
#include <stdint.h>

#define WEFT__STEALQ_CAP 256u

typedef struct weft__stealq {
    _Atomic uint32_t head; /* next to take (owner's pop or a thief) */
    _Atomic uint32_t tail; /* next free slot (owner only) */
    _Atomic(void *) slot[WEFT__STEALQ_CAP];
} weft__stealq;

void weft__stealq_init(weft__stealq *q);
/* Owner only. Appends item; returns 0. When the ring is full, moves its
 * older half and then item, in order, to spill (WEFT__STEALQ_CAP / 2 + 1
 * entries) instead and returns how many it moved there (for the group's
 * injection queue). */
unsigned weft__stealq_push(weft__stealq *q, void *item, void **spill);
/* Owner only. The oldest item, or NULL when empty. */
void *weft__stealq_pop(weft__stealq *q);
/* Called by dst's owner, dst empty. Takes the older half (rounded up) of
 * src: returns the newest of them (to run at once) and appends the others
 * to dst, in order; NULL if src was empty. */
void *weft__stealq_steal(weft__stealq *dst, weft__stealq *src);
/* Items in q now (a racy snapshot for any thread). */
uint32_t weft__stealq_len(weft__stealq *q);

#endif
