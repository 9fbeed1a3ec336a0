/* The waiter: the one way every blocking call in weft waits.
 * A coroutine parks through its scheduler; a thread without a scheduler
 * sleeps on the waiter's futex word. */
#include "coro/group.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

weft__waiter *weft__waiter_begin(weft__waiter *local, int kind) {
    weft__sched *s = weft__sched_get();
    weft__coro *co = s ? s->current : NULL;
    weft__waiter *w = co ? &co->wait : local;
    if (unlikely(kind == WEFT__W_NOCANCEL) && co &&
        (atomic_load_explicit(&co->flags, memory_order_relaxed) & WEFT__F_GROUP))
        weft__group_nocancel_begin(co);
    atomic_init(&w->state, 0);
    atomic_init(&w->futex, 0);
    w->result = 0;
    w->index = 0;
    w->kind = kind;
    w->co = co;
    return w;
}

bool weft__caller_shared(void) {
    weft__sched *s = weft__sched_get();
    return s && (s->current->flags & WEFT__F_SHARED);
}

void *weft__park_mem(void *local, size_t n) {
    weft__sched *s = weft__sched_get();
    weft__coro *co = s ? s->current : NULL;
    if (!co || !(co->flags & WEFT__F_SHARED))
        return local;
    if (!n)
        n = 1;
    if (n > UINT32_MAX)
        return NULL; /* as out of memory: scratch_cap is 32 bits */
    if (co->scratch_cap < n) {
        size_t cap;
        void *p = weft__arena_alloc(s, n, &cap);
        if (!p)
            return NULL;
        weft__arena_free(s, co->scratch, co->scratch_cap);
        co->scratch = p;
        co->scratch_cap = (uint32_t)cap;
    }
    return co->scratch;
}

void weft__waiter_wake(weft__waiter *w) {
    if (w->co) {
        weft__coro_ready(w->co);
        return;
    }
    if (w->kind == WEFT__W_POLL) {
        /* The thread also polls descriptors: wake its ppoll. It waits for
         * the futex word before it returns, so the descriptor is still its
         * own here. */
        uint64_t one = 1;
        ssize_t r = write(w->wake_fd, &one, sizeof one);
        (void)r;
    }
    atomic_store_explicit(&w->futex, 1, memory_order_release);
    /* The waiter may return (and its stack be reused) as soon as the store
     * lands; a wake on a stale address is at worst a spurious wake-up for
     * someone else, which every futex user tolerates. */
    syscall(SYS_futex, &w->futex, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Not inlined: its locals would sit in weft__park's frame on the coroutine path too,
 * which a parked SHARED coroutine's stack copy then carries. */
static __attribute__((noinline)) int park_thread(weft__waiter *w, int64_t deadline) {
    for (;;) {
        if (atomic_load_explicit(&w->futex, memory_order_acquire))
            return w->result;
        struct timespec ts, *tp = NULL;
        if (!weft__dl_forever(deadline)) {
            if (weft__dl_passed(deadline)) {
                if (weft__waiter_claim(w, -ETIMEDOUT, 0))
                    return -ETIMEDOUT;
                deadline = -1; /* claimed: the wake is on its way */
                continue;
            }
            int64_t d = deadline - 1; /* weft_now() is CLOCK_MONOTONIC + 1 */
            ts.tv_sec = d / WEFT_SEC;
            ts.tv_nsec = d % WEFT_SEC;
            tp = &ts;
        }
        syscall(SYS_futex, &w->futex, FUTEX_WAIT_BITSET_PRIVATE, 0, tp, NULL,
                FUTEX_BITSET_MATCH_ANY);
    }
}

/* A park's result r, once the park is over: a timeout cut by sc (the caller's scope,
 * whose deadline was the earlier) is recorded there. For a sleep, its own deadline
 * (`own`) passing is success: -ETIMEDOUT only when a scope cut it, and then not if the
 * sleep's own deadline has passed meanwhile too (it slept its time). */
static int park_end(const weft__waiter *w, int r, int64_t own, weft__scope *sc) {
    weft__scope_timed_out(sc, r);
    if (w->kind == WEFT__W_SLEEP && r == -ETIMEDOUT &&
        (!sc || own == WEFT_NOWAIT || weft__dl_passed(own)))
        return 0;
    return r;
}

/* What every coroutine park does before it blocks: ends at once, with the claimed
 * result, when it is cancelled (and cancellable) or its deadline has passed; else arms
 * the deadline's timer in s. 0: go on and block. */
static __attribute__((always_inline)) inline int park_early(weft__coro *co, weft__sched *s,
                                                            weft__waiter *w, int64_t deadline,
                                                            bool cancelled) {
    if (cancelled) {
        if (weft__waiter_claim(w, -ECANCELED, 0))
            return -ECANCELED;
    } else if (weft__dl_passed(deadline)) {
        if (weft__waiter_claim(w, -ETIMEDOUT, 0))
            return -ETIMEDOUT;
    } else if (!weft__dl_forever(deadline)) {
        if (weft__timer_add(s, co, deadline) != 0 && weft__waiter_claim(w, -ENOMEM, 0))
            return -ENOMEM;
    }
    return 0;
}

/* Blocks co, parked on w, in s until its waiter is claimed and it is run again. */
static __attribute__((always_inline)) inline void park_block(weft__coro *co, weft__sched *s,
                                                             weft__waiter *w) {
    /* When the park began, to a poll round: the scheduler polls at least
     * every 64 switches and whenever it has nothing to run, so this is
     * early only by what ran since (a clock read here cost 5-10% of a
     * channel round trip). */
    co->why_since = s->stamp;
    co->waiter = w;
    co->state = WEFT__C_PARKED;
    weft__sched_block(s);
    co->state = WEFT__C_READY;
    co->waiter = NULL;
    co->why = WEFT__WHY_NONE;
}

/* The park of a group coroutine: it may resume on another worker unless it leaves
 * state in this one (a timer, an fd wait, a pin: WEFT__AFF_PARK). weft_cancel may
 * come from any thread (weft__group_cancel: cancel_st, then the flag). */
static int park_group(weft__coro *co, weft__waiter *w, int64_t deadline, int64_t own,
                      weft__scope *sc) {
    weft__sched *s = atomic_load_explicit(&co->sched, memory_order_relaxed);
    const bool cancellable = w->kind != WEFT__W_NOCANCEL;
    if (cancellable)
        weft__group_cancel_begin(co);
    int r = park_early(co, s, w, deadline,
                       cancellable && (atomic_load(&co->flags) & WEFT__F_CANCELLED));
    if (r == 0) {
        uint8_t aff = atomic_load_explicit(&co->affine, memory_order_relaxed);
        if (co->heap_idx || co->pins)
            atomic_store_explicit(&co->affine, (uint8_t)(aff | WEFT__AFF_PARK),
                                  memory_order_relaxed);
        park_block(co, s, w);
        if (co->heap_idx) /* it resumed where its timer is (WEFT__AFF_PARK) */
            weft__timer_remove(weft__sched_here(), co);
        atomic_store_explicit(&co->affine, aff, memory_order_relaxed);
        r = w->result;
    }
    if (cancellable)
        weft__group_cancel_end(co);
    return park_end(w, r, own, sc);
}

int weft__park(weft__waiter *w, int64_t deadline) {
    weft__coro *co = w->co;
    const int64_t own = deadline;
    /* Timeout scopes cut what cancellation interrupts: not NOCANCEL waits. */
    weft__scope *sc = NULL;
    if (likely(w->kind != WEFT__W_NOCANCEL))
        deadline = weft__scope_clip(deadline, &sc);
    if (!co) {
        weft__tw_park_begin();
        int r = park_thread(w, deadline);
        weft__tw_park_end();
        return park_end(w, r, own, sc);
    }
    if (unlikely(atomic_load_explicit(&co->flags, memory_order_relaxed) & WEFT__F_GROUP))
        return park_group(co, w, deadline, own, sc);
    weft__sched *s = atomic_load_explicit(&co->sched, memory_order_relaxed);
    int r = park_early(co, s, w, deadline,
                       (co->flags & WEFT__F_CANCELLED) && w->kind != WEFT__W_NOCANCEL);
    if (unlikely(r))
        return park_end(w, r, own, sc);
    park_block(co, s, w);
    if (co->heap_idx)
        weft__timer_remove(s, co);
    return park_end(w, w->result, own, sc);
}
