/* Deadlines of parked coroutines: a binary min-heap on (deadline, arrival) with
 * back-indices (co->heap_idx, 1-based) for O(log n) removal. */
#include "coro/sched.h"

/* a fires before b: earlier deadline, or the same one set earlier. */
static inline bool before(const weft__coro *a, const weft__coro *b) {
    return a->deadline < b->deadline ||
           (a->deadline == b->deadline && (int32_t)(a->timer_seq - b->timer_seq) < 0);
}

static inline void place(weft__sched *s, uint32_t i, weft__coro *co) {
    s->heap[i] = co;
    co->heap_idx = i + 1;
}

static void sift_up(weft__sched *s, uint32_t i) {
    weft__coro *co = s->heap[i];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!before(co, s->heap[p]))
            break;
        place(s, i, s->heap[p]);
        i = p;
    }
    place(s, i, co);
}

static void sift_down(weft__sched *s, uint32_t i) {
    weft__coro *co = s->heap[i];
    uint32_t n = s->heap_len;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(s->heap[c + 1], s->heap[c]))
            c++;
        if (!before(s->heap[c], co))
            break;
        place(s, i, s->heap[c]);
        i = c;
    }
    place(s, i, co);
}

int weft__timer_add(weft__sched *s, weft__coro *co, int64_t deadline) {
    if (s->heap_len == s->heap_cap) {
        uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
        weft__coro **h = weft__realloc(s->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        s->heap = h;
        s->heap_cap = cap;
    }
    co->deadline = deadline;
    co->timer_seq = s->timer_seq++;
    s->heap[s->heap_len++] = co;
    sift_up(s, s->heap_len - 1);
    return 0;
}

void weft__timer_remove(weft__sched *s, weft__coro *co) {
    if (!co->heap_idx)
        return;
    uint32_t i = co->heap_idx - 1;
    co->heap_idx = 0;
    weft__coro *last = s->heap[--s->heap_len];
    if (i == s->heap_len)
        return;
    s->heap[i] = last;
    last->heap_idx = i + 1;
    if (i > 0 && before(last, s->heap[(i - 1) / 2]))
        sift_up(s, i);
    else
        sift_down(s, i);
}

/* Deadline of the earliest timer, or -1 if none. */
int64_t weft__timer_next(weft__sched *s) { return s->heap_len ? s->heap[0]->deadline : -1; }

/* Fires every timer due by `now`: the parked coroutine's waiter is claimed
 * with -ETIMEDOUT and made ready, unless someone else claimed it first. */
void weft__timer_expire(weft__sched *s, int64_t now) {
    while (s->heap_len && s->heap[0]->deadline <= now) {
        weft__coro *co = s->heap[0];
        weft__timer_remove(s, co);
        weft__waiter *w = co->waiter;
        if (w && weft__waiter_claim(w, -ETIMEDOUT, 0))
            weft__runq_push(s, co);
    }
}
