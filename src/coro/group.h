/* Worker groups (M:N): private to src/coro/. See coro/group.c and
 * docs/design.md, "Worker groups". */
#ifndef WEFT_CORO_GROUP_H
#define WEFT_CORO_GROUP_H

#include "coro/sched.h"
#include "coro/stealq.h"
#include "sync/waitq.h"

#include <pthread.h>

typedef struct weft__worker {
    weft__stealq q;              /* its ring: the owner pushes and pops, others steal */
    weft__coro *next;            /* the coroutine it woke last (owner only) */
    weft__coro *deferred;        /* taken while still on another worker's cpu: run from
                                    the main coroutine (owner only; through `next`) */
    unsigned streak;             /* next-slot runs in a row */
    int next_spawned;            /* `next` was spawned, not woken */
    int spinning;                /* counted in the group's `spinning` */
    int idle;                    /* on the idle stack (under idle_lock) */
    struct weft__worker *idle_next;
    weft__sched *s;
    struct weft_group *g;
    unsigned idx;
    pthread_t thread;
    /* Coroutines it spawned and coroutines that finished on it (it alone writes
     * them): the group's count is their difference, summed (group.c, live_count). */
    _Atomic uint64_t spawned __attribute__((aligned(64)));
    _Atomic uint64_t finished;
} __attribute__((aligned(64))) weft__worker;

typedef struct weft__glist {
    weft__spin lock;
    weft__coro *head;            /* through all_prev/all_next */
} __attribute__((aligned(64))) weft__glist;

struct weft_group {
    uint32_t tag;
    unsigned n;
    int migrate;                 /* every wake goes to the next worker (debug) */
    weft__worker *w;             /* n of them */
    weft__glist *lists;          /* n + 1: spawned by worker i, then from outside */

    weft__spin inj_lock __attribute__((aligned(64)));
    weft__coro *inj_head, *inj_tail;
    atomic_uint inj_len;

    atomic_uint spinning __attribute__((aligned(64)));
    atomic_uint nidle;
    weft__spin idle_lock;
    weft__worker *idle_top;

    _Atomic uint64_t outside __attribute__((aligned(64))); /* spawned from other threads */
    atomic_uint nwaiters;        /* in weft_group_wait or destroy: finishes look at the count */
    atomic_int closed;
    atomic_int stop;
    atomic_uint rr;
    weft__spin wait_lock;
    weft__wq waiters;            /* weft_group_wait */

    struct weft_group *reg_next; /* the process-wide list of groups (weft_dump) */
    pthread_mutex_t start_lock;
    pthread_cond_t start_cond;
    unsigned started;
    int start_err;
};

#define WEFT__GROUP_MAGIC 0x67727570u /* "grup" */
#define WEFT__GROUP_MAX 1024u

/* Every live group, for weft_dump (coro/dump.c): calls fn for each with the list
 * locked; false if the lock could not be taken (try_only: from a signal handler). */
bool weft__group_each(bool try_only, void (*fn)(weft_group *g, void *arg), void *arg);

/* The waker side: makes a claimed group coroutine runnable. */
void weft__group_ready(weft__coro *co);
/* A spawned group coroutine: lists it, counts it, queues it (s is the spawner's
 * scheduler, which may belong to no group). */
void weft__group_add(weft_group *g, weft__sched *s, weft__coro *co);
/* Coroutines of g spawned and not yet finished (and reaped). */
size_t weft__group_live(weft_group *g);
/* Reaping a finished group coroutine, off its stack: done, joiner, detach. */
void weft__group_finished(weft__sched *s, weft__coro *co);
/* A group coroutine's control block goes back to s's free list: off its list. */
void weft__group_unlist(weft__coro *co);
/* A group worker's weft__sched_block: runs the next coroutine, or the worker's
 * main coroutine (the idle loop) when there is none. */
void weft__group_block(weft__sched *s);
/* weft_yield of a group coroutine. */
void weft__group_yield(weft__sched *s, weft__coro *co);
/* Join, detach, cancel and the joiner slot as a watch, from any thread. */
int weft__group_join(weft__coro *co, uint64_t gen, int64_t deadline, void **result);
int weft__group_detach(weft__coro *co, uint64_t gen);
int weft__group_cancel(weft__coro *co);
int weft__group_watch(weft__coro *co, weft__waiter *w);
void weft__group_unwatch(weft__coro *co, weft__waiter *w);
/* A park of a group coroutine that weft_cancel may end, from any thread: begins
 * (then the caller reads the cancelled flag) and ends. See group.c. */
static inline void weft__group_cancel_begin(weft__coro *co) {
    if (likely(weft__asym_ok())) {
        atomic_store_explicit(&co->cancel_st, 1, memory_order_relaxed);
        atomic_signal_fence(memory_order_seq_cst); /* the canceller's membarrier pairs */
    } else {
        atomic_store(&co->cancel_st, 1);
    }
}
static inline void weft__group_cancel_end(weft__coro *co) {
    if (likely(weft__asym_ok()))
        atomic_store_explicit(&co->cancel_st, 0, memory_order_relaxed);
    else
        atomic_store(&co->cancel_st, 0);
}
/* Before a wait that cancellation must not end starts (its waiter is reset): no
 * weft_cancel from another thread may be about to claim `wait`. */
static inline void weft__group_nocancel_begin(weft__coro *co) {
    while (atomic_load_explicit(&co->cancel_busy, memory_order_acquire))
        weft__cpu_relax();
}

#endif
