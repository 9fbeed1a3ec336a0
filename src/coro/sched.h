/* The per-thread scheduler. Private to src/coro/; other layers use the
 * accessors in internal.h. All fields are owned by the scheduler's thread
 * except `inbox`, which any thread may push to (lock-free, see sched.c). */
#ifndef WEFT_CORO_SCHED_H
#define WEFT_CORO_SCHED_H

#include "internal.h"
#include "coro/san.h"

#include <pthread.h>

#define WEFT__DEFAULT_STACK ((size_t)256 * 1024)
#define WEFT__MIN_STACK ((size_t)16 * 1024)
#define WEFT__MAX_STACK ((size_t)1 << 30)
#define WEFT__SHARED_STACK ((size_t)256 * 1024)
#define WEFT__POOL_MAX 64
#define WEFT__ARENA_MAX ((size_t)2048)

typedef struct weft__stack_free {
    struct weft__stack_free *next;
    size_t size;
    unsigned vg;                    /* valgrind's id for the stack */
} weft__stack_free;

struct weft__sched {
    weft__coro *current;            /* must stay first: see weft__sched_running */
    weft__coro *main;               /* the thread's own stack */
    weft__coro *all;                /* list of every coroutine but main */
    weft__coro *runq_head, *runq_tail;
    _Atomic(weft__coro *) inbox;    /* remote wake-ups (Treiber stack) */
    atomic_int polling;             /* 1 while blocked in the poller */
    atomic_int wakers;              /* other threads inside weft__coro_ready for us */
    _Atomic(struct weft__spawn_req *) reqs; /* remote spawns (Treiber stack; CLOSED) */
    weft__poller *poller;

    weft__coro **heap;              /* timer min-heap on deadline */
    uint32_t heap_len, heap_cap;
    uint32_t timer_seq;
    weft__coro *lane_head, *lane_tail; /* timers set in deadline order (coro/timer.c) */

    weft__stack_free *pool;         /* cached guarded stacks */
    unsigned pool_len;
    weft__coro *free_coros;         /* cached control blocks */
    unsigned free_len;              /* how many (at most FREE_KEEP: coro.c) */
    weft__coro *spill, *spill_tail; /* released past FREE_KEEP, for the orphan list */
    unsigned spill_len;
    char *slab_next, *slab_end;     /* uncarved rest of the current slab */
    unsigned slabs;                 /* slabs mapped so far */
    uint64_t id_next, id_end;       /* block of coroutine ids reserved */
    /* arena.c: small blocks for stack copies and park scratch */
    void *arena_free[WEFT__ARENA_MAX / 16 + 1];
    char *arena_next, *arena_end;
    struct region_hdr *arena_list;
    unsigned arena_regions;

    /* Shared stack: one region for every SHARED coroutine of the thread;
     * `owner`'s frames occupy it, the others wait as copies. The switcher
     * is a tiny context on its own stack that moves stack copies when one
     * SHARED coroutine hands over to another. */
    void *shared_map;               /* mapping: guard page + stack */
    size_t shared_map_size;
    char *shared_lo, *shared_hi;
    weft__coro *shared_owner;
    /* Pinning (sched.c, weft__stack_pin_if): `pinned` owns the shared stack and
     * must not be evicted; SHARED coroutines due to run meanwhile wait on
     * the stalled list, in order. */
    weft__coro *pinned;
    weft__coro *stalled_head, *stalled_tail;
    weft__ctx switcher;
    void *switcher_map;
    weft__coro *sw_from, *sw_to;
    void *switcher_fiber;           /* TSan builds */
    void *main_lo;                  /* the thread's stack, for ASan */
    size_t main_size;
    unsigned vg_shared, vg_switcher; /* valgrind's ids for the stacks */

    weft__coro *reap;               /* finished coroutine to clean after switching off it */
    weft__coro *leaving;            /* group coroutine being switched off: its oncpu
                                       is cleared once the switch has landed */
    struct weft_group *group;       /* a worker group's worker (coro/group.c), or NULL */
    struct weft__worker *worker;
    int *errno_loc;                 /* this thread's errno (its address never changes) */
    size_t live;                    /* spawned, not finished */
    unsigned ticks;
    uint64_t rng;
    struct weft__fdtab fds;
    void *altstack;

    /* Watchdog sampling (sched.c): switches << 1 | (main coroutine running),
     * written by the owner at every switch, read by a monitor thread; and
     * the process-wide list of schedulers. */
    _Atomic uint64_t wd_word;
    struct weft__sched *wd_prev, *wd_next;
    pthread_t wd_thread;
    int wd_tid;                     /* its kernel thread id (weft_dump) */
    uintptr_t wd_anchor;            /* its thread's weft__thread_anchor() (lock owners) */
    int64_t stamp;                  /* coarse clock at the end of the last poll round:
                                       the start of a park (weft_dump's "for N ms") */
};

/* The process-wide list of schedulers (sched.c), for coro/dump.c: lock it
 * (try_only: give up at once if it is taken, from a signal handler), walk
 * from weft__sched_list_head() through wd_next, unlock. A scheduler on it
 * is not freed meanwhile. */
bool weft__sched_list_lock(bool try_only);
weft__sched *weft__sched_list_head(void);
void weft__sched_list_unlock(void);
/* dump.c: installs the WEFT_DUMP_SIGNAL handler (once, at the first
 * scheduler's creation). */
void weft__dump_setup(void);

/* stack.c */
int weft__stack_get(weft__sched *s, size_t size, void **map, unsigned *vg);
void weft__stack_put(weft__sched *s, void *map, size_t size, unsigned vg);
void weft__stack_pool_free(weft__sched *s);
int weft__shared_init(weft__sched *s);
void weft__shared_free(weft__sched *s);
void weft__shared_save(weft__sched *s, weft__coro *co);
void weft__shared_load(weft__sched *s, weft__coro *co);
void weft__stack_bounds(weft__sched *s, weft__coro *co, const void **lo, size_t *size);
void weft__switcher_bounds(weft__sched *s, const void **lo, size_t *size);
int weft__overflow_install(weft__sched *s);
void weft__overflow_uninstall(weft__sched *s);
size_t weft__page_size(void);

/* arena.c */
void *weft__region_map(unsigned nth, size_t *size);
void *weft__arena_alloc(weft__sched *s, size_t n, size_t *cap);
void weft__arena_free(weft__sched *s, void *p, size_t cap);
void weft__arena_destroy(weft__sched *s);

/* coro.c */
void weft__coro_entry(void *arg);
void weft__coro_release(weft__sched *s, weft__coro *co);

/* link.c: a finishing coroutine's links, in its context: those of the
 * user (done false, before it is marked done; they may block) or the
 * internal watchers of "done" (done true, after; they must not block).
 * weft__link_add/remove: an internal watcher (weft_killall), removed by ud. */
void weft__links_run(weft__sched *s, weft__coro *co, void *result, bool done);
int weft__link_watch(weft__coro *co, weft_link_fn fn, void *ud);
void weft__link_unwatch(weft__coro *co, void *ud);
/* local.c: runs the destructors of a finishing coroutine's values. */
void weft__locals_finish(weft__coro *co);
/* link.c, local.c: frees links and values without running anything (a
 * coroutine abandoned at thread exit). */
void weft__coro_extras_free(weft__coro *co);
void weft__locals_free(weft__coro *co);

/* sched.c */
void weft__sched_reap(weft__sched *s);
void weft__runq_push(weft__sched *s, weft__coro *co);
static inline weft__coro *weft__runq_pop(weft__sched *s) {
    weft__coro *co = s->runq_head;
    if (co) {
        s->runq_head = co->next;
        if (!s->runq_head)
            s->runq_tail = NULL;
    }
    return co;
}
/* Makes co ready on s: its run queue from s's thread, else its inbox. */
void weft__sched_push(weft__sched *s, weft__coro *co);
/* co waits on the stalled list until the shared stack's pin ends. */
void weft__sched_stall(weft__sched *s, weft__coro *co);
/* After a switch lands on s's thread: the coroutine switched off is free to
 * run elsewhere, and a finished one is cleaned. */
void weft__sched_left(weft__sched *s);
static inline void weft__sched_land(weft__sched *s) {
    if (unlikely(s->leaving != NULL))
        weft__sched_left(s);
    if (s->reap)
        weft__sched_reap(s);
}
/* The calling thread's scheduler, read anew: for code that may have changed
 * thread since it last read it (a group coroutine after a park). */
weft__sched *weft__sched_here(void);
/* coro.c: weft_spawn into group g (NULL: the caller's own group if it runs in
 * one, else its thread). */
int weft__spawn_in(struct weft_group *g, weft_coro *out, weft_coro_fn fn, void *arg,
                   const weft_coro_opts *opts, const void *site);
void weft__sched_switch(weft__sched *s, weft__coro *to);
int weft__sched_poll(weft__sched *s, bool block);
/* Pinning: true if co may not run before the pin ends; the current
 * coroutine waiting (still ready) until it does. */
bool weft__sched_stalls(weft__sched *s, weft__coro *co);
void weft__sched_wait_unpinned(weft__sched *s);

/* fork handling (called from src/proc/fork.c's pthread_atfork handlers) */
/* src/proc/fork.c: registers the handlers (once; cheap afterwards). */
void weft__fork_setup(void);
void weft__sched_atfork_prepare(void);
void weft__sched_atfork_parent(void);
void weft__sched_atfork_child(void);
void weft__coro_atfork_prepare(void);
void weft__coro_atfork_parent(void);
void weft__coro_atfork_child(void);

/* timer.c */
int64_t weft__timer_next(weft__sched *s);
bool weft__timer_any(weft__sched *s); /* any timer set */
void weft__timer_expire(weft__sched *s, int64_t now);

#endif
