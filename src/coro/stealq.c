/* A worker group's per-worker run queue: the bounded stealable ring. */
#include "coro/stealq.h"

#include <stddef.h>

#define MASK (WEFT__STEALQ_CAP - 1)

void weft__stealq_init(weft__stealq *q) {
    atomic_init(&q->head, 0);
    atomic_init(&q->tail, 0);
    for (unsigned i = 0; i < WEFT__STEALQ_CAP; i++)
        atomic_init(&q->slot[i], NULL);
}

unsigned weft__stealq_push(weft__stealq *q, void *item, void **spill) {
    for (;;) {
        uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (t - h < WEFT__STEALQ_CAP) {
            atomic_store_explicit(&q->slot[t & MASK], item, memory_order_relaxed);
            atomic_store_explicit(&q->tail, t + 1, memory_order_release);
            return 0;
        }
        /* Full: take the older half as a thief would, then add item. */
        unsigned n = WEFT__STEALQ_CAP / 2;
        for (unsigned i = 0; i < n; i++)
            spill[i] = atomic_load_explicit(&q->slot[(h + i) & MASK], memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&q->head, &h, h + n, memory_order_acq_rel,
                                                    memory_order_relaxed)) {
            spill[n] = item;
            return n + 1;
        }
        /* A thief took some meanwhile: there is room now. */
    }
}

void *weft__stealq_pop(weft__stealq *q) {
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    for (;;) {
        uint32_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        if (h == t)
            return NULL;
        void *item = atomic_load_explicit(&q->slot[h & MASK], memory_order_relaxed);
        if (atomic_compare_exchange_weak_explicit(&q->head, &h, h + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            return item;
    }
}

void *weft__stealq_steal(weft__stealq *dst, weft__stealq *src) {
    uint32_t dt = atomic_load_explicit(&dst->tail, memory_order_relaxed);
    uint32_t h = atomic_load_explicit(&src->head, memory_order_acquire);
    for (;;) {
        uint32_t t = atomic_load_explicit(&src->tail, memory_order_acquire);
        uint32_t n = t - h;
        if (n == 0)
            return NULL;
        /* A stale head can make t - h look larger than the ring: reload. */
        if (n > WEFT__STEALQ_CAP) {
            h = atomic_load_explicit(&src->head, memory_order_acquire);
            continue;
        }
        n -= n / 2;
        /* Copy into dst's free slots first (dst is ours and empty); the
         * CAS decides whether the copy counts. */
        for (uint32_t i = 0; i < n; i++) {
            void *it = atomic_load_explicit(&src->slot[(h + i) & MASK], memory_order_relaxed);
            atomic_store_explicit(&dst->slot[(dt + i) & MASK], it, memory_order_relaxed);
        }
        if (atomic_compare_exchange_weak_explicit(&src->head, &h, h + n, memory_order_acq_rel,
                                                  memory_order_acquire)) {
            void *run = atomic_load_explicit(&dst->slot[(dt + n - 1) & MASK], memory_order_relaxed);
            if (n > 1)
                atomic_store_explicit(&dst->tail, dt + n - 1, memory_order_release);
            return run;
        }
    }
}

uint32_t weft__stealq_len(weft__stealq *q) {
    uint32_t h = atomic_load_explicit(&q->head, memory_order_acquire);
    uint32_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    uint32_t n = t - h;
    return n > WEFT__STEALQ_CAP ? 0 : n;
}
