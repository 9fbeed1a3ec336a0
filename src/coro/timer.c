/* Deadlines of parked coroutines, ordered on (deadline, arrival), in two places:
 *
 * - the lane: a list of timers set in deadline order. A timer whose deadline is
 *   not before the lane's last one is appended there, in O(1), and the lane's
 *   head is its earliest. Most timers arrive that way (every sleep or timeout of
 *   one length, set as time goes on), and each then costs O(1) to set, to fire
 *   and to cancel, with no memory touched but its neighbours';
 * - a binary min-heap with back-indices (co->heap_idx, 1-based) for the others,
 *   O(log n) each.
 *
 * The earliest timer is the earlier of the two heads. */
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

static void lane_unlink(weft__sched *s, weft__coro *co) {
    if (co->lane_prev)
        co->lane_prev->lane_next = co->lane_next;
    else
        s->lane_head = co->lane_next;
    if (co->lane_next)
        co->lane_next->lane_prev = co->lane_prev;
    else
        s->lane_tail = co->lane_prev;
    co->lane_prev = co->lane_next = NULL;
    co->heap_idx = 0;
}

int weft__timer_add(weft__sched *s, weft__coro *co, int64_t deadline) {
    weft__coro *t = s->lane_tail;
    /* Not before the start: the lane's links share fn and arg's memory. */
    bool lane = (co->flags & WEFT__F_STARTED) && (!t || deadline >= t->deadline);
    if (!lane && s->heap_len == s->heap_cap) {
        uint32_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
        weft__coro **h = weft__realloc(s->heap, cap * sizeof *h);
        if (!h)
            return -ENOMEM;
        s->heap = h;
        s->heap_cap = cap;
    }
    co->deadline = deadline;
    co->timer_seq = s->timer_seq++;
    if (lane) {
        co->heap_idx = WEFT__TIMER_LANE;
        co->lane_prev = t;
        co->lane_next = NULL;
        if (t)
            t->lane_next = co;
        else
            s->lane_head = co;
        s->lane_tail = co;
        return 0;
    }
    s->heap[s->heap_len++] = co;
    sift_up(s, s->heap_len - 1);
    return 0;
}

void weft__timer_remove(weft__sched *s, weft__coro *co) {
    if (!co->heap_idx)
        return;
    if (co->heap_idx == WEFT__TIMER_LANE) {
        lane_unlink(s, co);
        return;
    }
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

/* The earliest timer, or NULL. */
static inline weft__coro *earliest(weft__sched *s) {
    weft__coro *l = s->lane_head;
    if (!s->heap_len)
        return l;
    weft__coro *h = s->heap[0];
    return l && before(l, h) ? l : h;
}

/* Deadline of the earliest timer, or -1 if none. */
int64_t weft__timer_next(weft__sched *s) {
    weft__coro *co = earliest(s);
    return co ? co->deadline : -1;
}

bool weft__timer_any(weft__sched *s) { return s->heap_len || s->lane_head; }

/* Fires every timer due by `now`: the parked coroutine's waiter is claimed
 * with -ETIMEDOUT and made ready, unless someone else claimed it first. */
void weft__timer_expire(weft__sched *s, int64_t now) {
    weft__coro *co;
    while ((co = earliest(s)) && co->deadline <= now) {
        weft__timer_remove(s, co);
        weft__waiter *w = co->waiter;
        if (w && weft__waiter_claim(w, -ETIMEDOUT, 0))
            weft__runq_push(s, co);
    }
}
