/* Declarations shared between weft's source files. Not installed. */
#ifndef WEFT_INTERNAL_H
#define WEFT_INTERNAL_H

#include "weft.h"
#include "arch/ctx.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WEFT_TLS __thread __attribute__((tls_model("initial-exec")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define container_of(p, T, m) ((T *)((char *)(p)-offsetof(T, m)))

/* Aborts with a message: only for states that valid use cannot reach. */
#define WEFT_PANIC(...) weft__panic(__FILE__, __LINE__, __VA_ARGS__)
#define WEFT_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (unlikely(!(c)))                                                                        \
            WEFT_PANIC("assertion failed: %s", #c);                                                \
    } while (0)
__attribute__((noreturn, format(printf, 3, 4))) void weft__panic(const char *file, int line,
                                                                  const char *fmt, ...);

/* ---- messages written without stdio (signal handlers, out of memory) ----
 * Decimal digits of v at b (at most 20; no NUL): returns how many. */
static inline size_t weft__fmt_u64(char *b, uint64_t v) {
    char t[24];
    size_t n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        b[i] = t[n - 1 - i];
    return n;
}
/* Appends the string s to b[*n..cap), as much as fits (no NUL). */
static inline void weft__str_append(char *b, size_t *n, size_t cap, const char *s) {
    while (*s && *n < cap)
        b[(*n)++] = *s++;
}

/* ---- object tags: corrupted and destroyed objects (core/error.c) -------
 * Every object carries a 32-bit tag: its type's magic once initialised (or
 * 0 for the caller-owned types whose all-zero bytes are a valid initial
 * state, and for a semaphore or barrier used without init), WEFT__TAG_DEAD
 * once destroyed; anything else is garbage. Caller-owned objects check it
 * on their slow paths only (waiting, waking, destroy, every path that
 * would loop or follow an internal pointer): their fast paths accept only
 * exact valid values in the words they touch, and destroy leaves values
 * there that they reject, so garbage and destroyed objects always reach a
 * check. Objects weft allocates (handles) check it on every entry. */
#define WEFT__TAG_DEAD 0x64656164u /* "dead" */
/* Aborts with "weft: <fn>: corrupted or destroyed <type> at <obj>". */
__attribute__((noreturn, cold)) void weft__corrupted(const char *fn, const char *type,
                                                     const void *obj);
/* A caller-owned object's tag: `magic` or 0, else abort. */
static inline void weft__tag_check(uint32_t tag, uint32_t magic, const char *fn,
                                   const char *type, const void *obj) {
    if (unlikely(tag != magic) && tag != 0)
        weft__corrupted(fn, type, obj);
}
/* A handle's tag: exactly `magic`, else abort. */
static inline void weft__tag_check_handle(uint32_t tag, uint32_t magic, const char *fn,
                                          const char *type, const void *obj) {
    if (unlikely(tag != magic))
        weft__corrupted(fn, type, obj);
}

/* ---- deadlines: the one reading of an int64_t deadline (weft.h) --------
 * WEFT_FOREVER (-1) waits forever. Every other value at or before now is
 * already past: 0 (WEFT_NOWAIT), every other negative value (-2,
 * INT64_MIN, ...) and every time the clock has reached. Every wait, and
 * every conversion of a deadline to a timeout, goes through these. */
static inline bool weft__dl_forever(int64_t d) { return d == WEFT_FOREVER; }
/* True if d is past without reading the clock (0 or negative, not forever). */
static inline bool weft__dl_nowait(int64_t d) { return d <= 0 && d != WEFT_FOREVER; }
/* True if d has passed (reads the clock only for a positive d). */
static inline bool weft__dl_passed(int64_t d) {
    return d != WEFT_FOREVER && (d <= 0 || d <= weft_now());
}
/* Nanoseconds left until d: -1 for forever, 0 if passed, else > 0. */
static inline int64_t weft__dl_left(int64_t d) {
    if (d == WEFT_FOREVER)
        return -1;
    if (d <= 0)
        return 0;
    int64_t now = weft_now();
    return d > now ? d - now : 0;
}
/* d as a poll(2) timeout in milliseconds, rounded up: -1 for forever, 0 if
 * passed, capped at INT32_MAX. */
static inline int weft__dl_poll_ms(int64_t d) {
    int64_t left = weft__dl_left(d);
    if (left <= 0)
        return (int)left;
    return left >= (int64_t)INT32_MAX * WEFT_MSEC ? INT32_MAX
                                                  : (int)((left + WEFT_MSEC - 1) / WEFT_MSEC);
}

/* poll(2) as a system call: libweft's own waits never go through an
 * interposed poll (libweft-hook's), which would park the caller instead. */
struct pollfd;
int weft__sys_poll(struct pollfd *fds, unsigned long n, int ms);

/* ---- allocation (core/alloc.c) ---------------------------------------- */
void *weft__malloc(size_t n);
void *weft__calloc(size_t n, size_t size);
void *weft__realloc(void *p, size_t n);
void weft__free(void *p);
char *weft__strdup(const char *s);

/* One pause in a spin loop: tells the CPU (and a hyperthread sibling). */
static inline void weft__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* ---- spin lock for short critical sections (core/spin.c) -------------- */
typedef struct {
    atomic_int v;
} weft__spin;
void weft__spin_lock_slow(weft__spin *s);
static inline void weft__spin_lock(weft__spin *s) {
    if (likely(!atomic_exchange_explicit(&s->v, 1, memory_order_acquire)))
        return;
    weft__spin_lock_slow(s);
}
static inline void weft__spin_unlock(weft__spin *s) {
    atomic_store_explicit(&s->v, 0, memory_order_release);
}

/* The libc-independent description of an errno value, or NULL (core/errtab.c). */
const char *weft__errno_desc(int err);

/* ---- asymmetric barrier for biased objects (core/asym.c) --------------- */
bool weft__asym_ok_slow(void);
int weft__asym_state(void);
/* True if membarrier-based bias can be used in this process. */
static inline bool weft__asym_ok(void) {
    int st = weft__asym_state();
    return likely(st) ? st > 0 : weft__asym_ok_slow();
}
/* Makes every running thread of the process pass a full memory barrier. */
void weft__asym_barrier(void);
/* A per-thread identity: the address of a thread-local byte. */
extern WEFT_TLS char weft__anchor;
static inline uintptr_t weft__thread_anchor(void) { return (uintptr_t)&weft__anchor; }

/* ---- the waiter: one way to wait (sync/waiter.c) -----------------------
 * A waiter lives on the stack of whoever parks (a coroutine or a plain
 * thread) for the duration of one park. Whoever wants to end the park
 * (a waker, the timer, cancellation, a closing channel) must first win
 * weft__waiter_claim(); exactly one party wins, sets the result, and then
 * calls weft__waiter_wake() once. After the wake the waker must not touch
 * the waiter again: its memory may be gone. */
typedef struct weft__waiter {
    atomic_int state;       /* 0 waiting, 1 claimed */
    int result;             /* written by the claimer before waking */
    union {
        intptr_t index;     /* written by the claimer: select's op index, fd events */
        void *value;        /* written by the claimer: switch values */
    };
    struct weft__coro *co;  /* the parked coroutine, NULL for a plain thread */
    atomic_uint futex;      /* plain thread: 1 once woken */
    int kind;               /* WEFT__W_* : what the waiter is parked in */
    int wake_fd;            /* WEFT__W_POLL: the eventfd the thread polls */
} weft__waiter;

enum {
    WEFT__W_OTHER = 0,
    WEFT__W_SWITCH = 1,
    WEFT__W_JOIN = 2,
    WEFT__W_NOCANCEL = 3, /* a wait cancellation must not interrupt (re-locking) */
    WEFT__W_POLL = 4,     /* a plain thread in ppoll(2) (sync/wait.c): the waker
                             writes wake_fd before it sets the futex word */
    WEFT__W_SLEEP = 5,    /* weft_sleep_until: weft__park returns 0 when the wait's
                             own deadline ends it (-ETIMEDOUT only for a scope's) */
};

/* Starts a park of the caller and returns its waiter: a coroutine's own
 * (in its control block, where others can reach it even while a SHARED
 * coroutine's stack is copied aside), or `local` for a plain thread. */
weft__waiter *weft__waiter_begin(weft__waiter *local, int kind);
/* Memory of n bytes that other parties may read and write while the caller
 * is parked: `local` (the caller's stack), except for a SHARED coroutine,
 * whose stack may be copied aside meanwhile: then a per-coroutine scratch
 * area, valid until its next call. NULL when out of memory. */
void *weft__park_mem(void *local, size_t n);
/* True if the caller is a SHARED-stack coroutine (needs park memory). */
bool weft__caller_shared(void);
static inline bool weft__waiter_claim(weft__waiter *w, int result, intptr_t index) {
    int expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&w->state, &expected, 1, memory_order_acq_rel,
                                                 memory_order_acquire))
        return false;
    w->result = result;
    w->index = index;
    return true;
}
/* weft__waiter_claim for a waiter that only the calling thread can claim
 * (a join: the finisher, the timer and cancellation all run on the
 * joiner's thread): no atomic read-modify-write needed. */
static inline bool weft__waiter_claim_local(weft__waiter *w, int result, intptr_t index) {
    if (atomic_load_explicit(&w->state, memory_order_relaxed))
        return false;
    atomic_store_explicit(&w->state, 1, memory_order_relaxed);
    w->result = result;
    w->index = index;
    return true;
}
/* Resumes a claimed waiter from any thread. */
void weft__waiter_wake(weft__waiter *w);
/* Parks the caller until claimed or until deadline (then -ETIMEDOUT) or
 * cancelled (-ECANCELED); returns w->result. If the caller is cancelled
 * already, returns -ECANCELED without waiting (unless already claimed). */
int weft__park(weft__waiter *w, int64_t deadline);

/* ---- timeout scopes (sync/scope.c; weft_timeout in weft.h) -------------
 * Each coroutine has one scope state; the main coroutine and plain threads
 * share their thread's. `dl` is the earliest deadline of the scopes
 * entered (WEFT_FOREVER when none), `top` the innermost scope, `hit` true
 * once a wait failed because a scope's deadline was the earlier one. Every
 * wait that cancellation can interrupt is cut short at `dl` (weft__park,
 * the process-shared futex and poll(2) waits of plain threads). */
typedef struct weft__scope {
    int64_t dl;
    const void *top;
    bool hit;
} weft__scope;
extern WEFT_TLS weft__scope weft__tls_scope;
/* The earlier of two deadlines (WEFT_FOREVER is the latest). */
static inline int64_t weft__dl_min(int64_t a, int64_t b) {
    if (a == WEFT_FOREVER)
        return b;
    if (b == WEFT_FOREVER)
        return a;
    return a < b ? a : b;
}
/* ---- coroutines and schedulers (coro/) -------------------------------- */
enum {
    WEFT__C_READY = 1,     /* in a run queue or inbox, or running */
    WEFT__C_PARKED = 2,    /* blocked in weft__park */
    WEFT__C_SUSPENDED = 3, /* spawned suspended, never run */
    WEFT__C_DONE = 4,      /* finished, result waiting for join */
};

enum {
    WEFT__F_DETACHED = 1,
    WEFT__F_CANCELLED = 2,
    WEFT__F_SHARED = 4,  /* runs on the scheduler's shared stack */
    WEFT__F_MAIN = 8,
    WEFT__F_STARTED = 16,
    WEFT__F_GROUP = 32,  /* a worker group's (coro/group.c): may change thread */
};
/* weft__coro.affine (group coroutines): why it must resume on the worker it
 * parked on (its `sched`) instead of wherever the group runs it next. */
enum {
    WEFT__AFF_PARK = 1,   /* this park left state in that worker: a timer, an fd wait,
                             or the coroutine is pinned (weft_coro_pin) */
    WEFT__AFF_ALWAYS = 2, /* a SHARED coroutine that has run: its frames live there */
};

typedef struct weft__coro {
    weft__ctx ctx;
    struct weft__coro *next;         /* run queue, inbox, free list */
    struct weft__coro *all_prev, *all_next; /* every coroutine of the scheduler */
    _Atomic(struct weft__sched *) sched;
    atomic_uint_fast64_t gen;        /* handle generation, bumped on release */
    uint64_t id;
    union {
        struct {
            weft_coro_fn fn;
            void *arg;               /* argument, then result */
        };
        /* The timer lane (coro/timer.c): only between its start, which has read fn
         * and arg, and its end, which writes the result (a timer set before the
         * start, weft_spawn_later's, goes to the heap). */
        struct {
            struct weft__coro *lane_prev, *lane_next;
        };
    };
    weft__waiter *waiter;            /* set while parked */
    weft__waiter *joiner;            /* a coroutine waiting in weft_join */
    struct weft__coro *parent;       /* spawner, for switch's return-to-parent */
    uint64_t parent_gen;
    int64_t deadline;                /* timer heap key while parked with one */
    uint32_t heap_idx;               /* position in timer heap + 1; 0: not in it;
                                        WEFT__TIMER_LANE: in the lane (coro/timer.c) */
    uint32_t timer_seq;              /* FIFO order among equal deadlines */
    uint8_t state;
    _Atomic uint8_t flags;           /* WEFT__F_*: read anywhere; a group coroutine's
                                        are set by atomic or (other threads cancel it) */
    uint8_t why;                     /* WEFT__WHY_*: what it waits on (see why_obj below) */
    _Atomic uint8_t affine;          /* WEFT__AFF_*: group coroutines; written by the
                                        coroutine itself before it switches off */
    int saved_errno;
    char *name;
    const void *spawn_pc;            /* where weft_spawn was called (weft_dump, gdb) */
    union {
        struct {                     /* GUARDED */
            void *stack;             /* the mapping (guard page first) */
            uint32_t stack_size;     /* mapping size (<= WEFT__MAX_STACK + a page) */
            unsigned vg_stack;       /* valgrind's id for it (coro/san.h) */
        };
        struct {                     /* SHARED */
            void *saved;             /* copy of the live stack while evicted */
            uint32_t saved_len, saved_cap;
        };
    };
#if defined(__SANITIZE_THREAD__)
    void *san_fiber;                 /* ThreadSanitizer's fiber */
#endif
    weft__waiter wait;               /* the one park a coroutine can be in */
    /* What it waits on, for weft_dump and the gdb extension (coro/dump.c):
     * set by each blocking primitive before it parks (weft__why), `since`
     * by weft__park (the scheduler's coarse stamp); next to `wait`, whose
     * cache line a park writes anyway; meaningful only while PARKED. */
    const void *why_obj;             /* the object (lock, channel, ...) */
    int64_t why_arg;                 /* fd: fd << 16 | events; sleep: deadline; others 0 */
    int64_t why_since;               /* when the park began (CLOCK_MONOTONIC_COARSE) */
    weft__scope scope;               /* its timeout scopes (not the main one's) */
    void *scratch;                   /* park memory of a SHARED coroutine */
    struct weft__link *links;        /* coro/link.c: run when it finishes */
    struct weft__locals *locals;     /* coro/local.c: its weft_coro_setspecific values */
    int64_t start_at;                /* weft_spawn_later: still waiting to start if > 0 */
    int status;                      /* before it ends: a weft_throw that ends it unstarted;
                                        then 0, -ECANCELED or that error (links) */
    uint32_t scratch_cap;            /* bytes at `scratch` */
    /* Group coroutines (coro/group.c). */
    _Atomic uint8_t oncpu;           /* 1 from a worker's switch to it until that
                                        worker has switched off it */
    uint8_t gdone;                   /* finished and off its stack (the stripe lock) */
    uint16_t pins;                   /* weft_coro_pin depth, and fd waits under way */
    uint16_t home;                   /* the group list it is on */
    _Atomic uint8_t cancel_st;       /* 1 while in a park weft_cancel may end (its
                                        waiter is `wait`; coro/group.c) */
    _Atomic uint8_t cancel_busy;     /* 1 while a weft_cancel from another thread may
                                        claim `wait` */
} weft__coro;

/* Sets flag f of co (see `flags`). */
static inline void weft__coro_flag_set(weft__coro *co, uint8_t f) {
    uint8_t v = atomic_load_explicit(&co->flags, memory_order_relaxed);
    if (v & WEFT__F_GROUP)
        atomic_fetch_or_explicit(&co->flags, f, memory_order_seq_cst);
    else
        atomic_store_explicit(&co->flags, (uint8_t)(v | f), memory_order_relaxed);
}

typedef struct weft__sched weft__sched;

/* Wait reasons (weft__coro.why; names in coro/dump.c and tools/weft-gdb.py). */
enum {
    WEFT__WHY_NONE = 0, WEFT__WHY_LOCK, WEFT__WHY_RLOCK, WEFT__WHY_COND, WEFT__WHY_SEM,
    WEFT__WHY_EVENT, WEFT__WHY_BARRIER, WEFT__WHY_SEND, WEFT__WHY_RECV, WEFT__WHY_SELECT,
    WEFT__WHY_QGET, WEFT__WHY_QPUT, WEFT__WHY_FD, WEFT__WHY_SLEEP, WEFT__WHY_JOIN,
    WEFT__WHY_FUTURE, WEFT__WHY_PROC, WEFT__WHY_POOL, WEFT__WHY_PFUTEX, WEFT__WHY_SWITCH,
    WEFT__WHY_WAITGROUP, WEFT__WHY_ONCE, WEFT__WHY_QJOIN, WEFT__WHY_KILLALL,
    /* process-shared objects (a pfutex wait on their word) */
    WEFT__WHY_PLOCK, WEFT__WHY_PSEM, WEFT__WHY_PEVENT, WEFT__WHY_PCOND, WEFT__WHY_PBARRIER,
    WEFT__WHY_PQUEUE, WEFT__WHY_SHM_READY, WEFT__WHY_OTHER, WEFT__WHY_COUNT
};

/* The calling thread's scheduler, or NULL if it has none yet. */
extern WEFT_TLS weft__sched *weft__tls_sched;
static inline weft__sched *weft__sched_get(void) { return weft__tls_sched; }
/* The running coroutine: `current` is the scheduler's first member. */
static inline weft__coro *weft__sched_running(weft__sched *s) { return *(weft__coro **)s; }
/* An identity for "the caller": the running coroutine, or the thread when
 * it has no scheduler. Never 0. */
static inline uintptr_t weft__self_token(void) {
    weft__sched *s = weft__sched_get();
    if (s) {
        weft__coro *co = weft__sched_running(s);
        if (!(co->flags & WEFT__F_MAIN))
            return (uintptr_t)co;
    }
    return weft__thread_anchor() | 1; /* the thread itself, and its main coroutine */
}
/* The largest shared-memory object or message size weft accepts: 2^40 bytes on
 * 64-bit ABIs, 2^31 on 32-bit ones (their address space is 4 GiB at most). */
#define WEFT__MAX_BYTES ((size_t)1 << (SIZE_MAX > 0xffffffffu ? 40 : 31))

/* A thread without a scheduler, seen by weft_dump while it waits in a weft
 * primitive (sync/threadwait.c): listed from its first such wait until it
 * exits. Its fields are written only by the thread itself. */
typedef struct weft__tw {
    struct weft__tw *prev, *next; /* the process-wide list; its lock */
    int tid;                      /* 0: not listed yet */
    uintptr_t anchor;             /* weft__thread_anchor(): its lock-owner token, less 1 */
    char name[16];                /* its name when listed (PR_GET_NAME) */
    uint8_t why;                  /* WEFT__WHY_*, as in weft__coro */
    const void *why_obj;
    int64_t why_arg;
    int64_t since; /* CLOCK_MONOTONIC_COARSE at the park; 0: not waiting */
} weft__tw;
extern WEFT_TLS weft__tw weft__tls_tw;
/* Lists the calling thread (once) and marks it waiting / no longer waiting. */
void weft__tw_park_begin(void);
static inline void weft__tw_park_end(void) {
    weft__tls_tw.since = 0;
    weft__tls_tw.why = 0;
}
/* The list, for coro/dump.c: lock (try_only from a signal handler), walk, unlock. */
bool weft__tw_list_lock(bool try_only);
weft__tw *weft__tw_list_head(void);
void weft__tw_list_unlock(void);
void weft__tw_atfork_prepare(void);
void weft__tw_atfork_parent(void);
void weft__tw_atfork_child(void);

/* Records what the calling coroutine (or thread without a scheduler) is
 * about to wait on: three stores in its control block or thread record. */
static inline void weft__why(int why, const void *obj, int64_t arg) {
    weft__sched *s = weft__sched_get();
    if (s) {
        weft__coro *co = weft__sched_running(s);
        co->why = (uint8_t)why;
        co->why_obj = obj;
        co->why_arg = arg;
    } else {
        weft__tls_tw.why = (uint8_t)why;
        weft__tls_tw.why_obj = obj;
        weft__tls_tw.why_arg = arg;
    }
}
/* Whether the caller's record (its coroutine's, or its thread's without a
 * scheduler) already says it waits for (why, arg). */
static inline bool weft__why_is(int why, int64_t arg) {
    weft__sched *s = weft__sched_get();
    if (s) {
        const weft__coro *co = weft__sched_running(s);
        return co->why == why && co->why_arg == arg;
    }
    return weft__tls_tw.why == why && weft__tls_tw.why_arg == arg;
}
/* The calling coroutine's timeout scope state: its own, or its thread's
 * for the main coroutine and for threads without a scheduler. */
static inline weft__scope *weft__scope_self(void) {
    weft__sched *s = weft__sched_get();
    if (s) {
        weft__coro *co = weft__sched_running(s);
        if (!(co->flags & WEFT__F_MAIN))
            return &co->scope;
    }
    return &weft__tls_scope;
}
/* deadline cut by the caller's scopes. *sc is set to the caller's scope
 * state if a scope's deadline is the earlier (a -ETIMEDOUT of the wait is
 * then the scope's: pass it to weft__scope_timed_out), else to NULL. */
static inline int64_t weft__scope_clip(int64_t deadline, weft__scope **sc) {
    weft__scope *s = weft__scope_self();
    *sc = NULL;
    if (likely(s->dl == WEFT_FOREVER))
        return deadline;
    int64_t d = weft__dl_min(deadline, s->dl);
    if (d != deadline)
        *sc = s;
    return d;
}
/* Records that a wait cut by sc's deadline failed with r (-ETIMEDOUT). */
static inline void weft__scope_timed_out(weft__scope *sc, int r) {
    if (sc && r == -ETIMEDOUT)
        sc->hit = true;
}
/* The calling thread's scheduler, created if needed; NULL on out of memory. */
weft__sched *weft__sched_create(void);
static inline weft__sched *weft__sched_ensure(void) {
    weft__sched *s = weft__tls_sched;
    return likely(s) ? s : weft__sched_create();
}
/* The running coroutine of a scheduler. */
weft__coro *weft__sched_current(weft__sched *s);
/* True if s is a worker group's worker: objects it uses first are not biased to
 * it (biased objects pay a process-wide barrier when another thread comes, and a
 * group's objects are everyone's). */
bool weft__sched_in_group(const weft__sched *s);
/* Makes a claimed coroutine runnable, from any thread. */
void weft__coro_ready(weft__coro *co);
/* Remote spawning (weft_thread_spawn). pin/unpin keep a scheduler alive
 * for another thread for a moment: take the pin while the scheduler is
 * known to be alive. remote_spawn consumes the pin, then waits for the
 * target to create the coroutine and returns its weft_spawn result, or
 * -ESRCH if the target stopped accepting spawns. */
void weft__sched_pin(weft__sched *s);
int weft__sched_remote_spawn(weft__sched *s, weft_coro_fn fn, void *arg,
                             const weft_coro_opts *opts);
/* Stops accepting remote spawns (pending ones fail with -ESRCH). */
void weft__sched_close_spawns(weft__sched *s);
/* Pinning a SHARED coroutine's stack in place while another thread may use
 * a pointer into it. weft__stack_pin_if(p): if the caller is a SHARED coroutine
 * and p points into its stack, pins it and returns true: until
 * weft__stack_unpin(), no other SHARED coroutine of the thread runs (those due
 * wait, in order, and run after it), so the stack is never copied aside
 * or overwritten; GUARDED coroutines and the main one run as usual.
 * Otherwise returns false and does nothing. */
bool weft__stack_pin_if(const void *p);
void weft__stack_unpin(void);
/* Switches away from the current coroutine, which must already be marked
 * parked (or done); returns when it is resumed. */
void weft__sched_block(weft__sched *s);
/* Timers. */
#define WEFT__TIMER_LANE UINT32_MAX
int weft__timer_add(weft__sched *s, weft__coro *co, int64_t deadline);
void weft__timer_remove(weft__sched *s, weft__coro *co);

/* ---- poller (poll/) ---------------------------------------------------- */
typedef struct weft__poller weft__poller;
typedef struct {
    int fd;
    uint32_t events; /* WEFT_READABLE | WEFT_WRITABLE, plus hang-up/error mapped to both */
} weft__poll_event;
int weft__poller_create(weft__poller **out);
void weft__poller_destroy(weft__poller *p);
/* Adds fd for edge-triggered read+write readiness; 0 if added or already there. */
int weft__poller_add(weft__poller *p, int fd);
int weft__poller_del(weft__poller *p, int fd);
/* Waits up to timeout_ns (-1 forever, 0 poll) for events or a wake-up;
 * returns the number of events stored (wake-ups are consumed internally). */
int weft__poller_wait(weft__poller *p, weft__poll_event *ev, int max, int64_t timeout_ns);
/* Interrupts a weft__poller_wait from any thread. */
void weft__poller_wake(weft__poller *p);

/* fd readiness dispatch (io/fdwait.c), called by the scheduler. */
void weft__fd_event(weft__sched *s, int fd, uint32_t events);
/* weft_fd_wait without its up-front readiness check, for callers whose
 * system call just reported EAGAIN; arguments must be valid. */
WEFT_API int weft__fd_wait_edge(int fd, int events, int64_t deadline);
void weft__fd_table_free(weft__sched *s);

/* Accessors used by io/ and chan/ without exposing the struct. */
struct weft__fdtab {
    struct weft__fdrec *recs;
    int n;
    int waiting; /* coroutines parked in weft_fd_wait */
};
struct weft__fdrec {
    weft__waiter *rd, *wr;
    uint8_t rready, wready;
};
struct weft__fdtab *weft__sched_fdtab(weft__sched *s);
weft__poller *weft__sched_poller(weft__sched *s);
uint64_t weft__sched_rand(weft__sched *s);

/* ---- waiting on memory shared between processes (psync/pfutex.c) -------
 * weft__pfutex_wait blocks while *addr == val, until woken, until deadline
 * (weft_now() clock; WEFT_FOREVER) or cancellation. Returns 0 when woken or
 * when the value differed (callers always re-check: wake-ups may be
 * spurious), -ETIMEDOUT, -ECANCELED, -ENOMEM. Inside a thread with a
 * scheduler only the calling coroutine waits. The word must not be in
 * FUTEX_PRIVATE use. weft__pfutex_wake wakes up to n waiters, any process. */
int weft__pfutex_wait_why(_Atomic uint32_t *addr, uint32_t val, int64_t deadline, int why);
/* why: the WEFT__WHY_P* kind of object the word belongs to (weft_dump). */
static inline int weft__pfutex_wait(_Atomic uint32_t *addr, uint32_t val, int64_t deadline) {
    return weft__pfutex_wait_why(addr, val, deadline, WEFT__WHY_PFUTEX);
}
int weft__pfutex_wake(_Atomic uint32_t *addr, int n);

/* ---- for libweft-hook (exported, not part of the public API) ------------
 * weft__hook_mode: how a hooked call of the caller waits: PARK (its thread
 * has a scheduler: the calling coroutine parks, the main one included, as
 * gevent's hub does), SCOPED (no scheduler, but a timeout scope is entered:
 * the thread waits with poll(2) until the scope's deadline), PLAIN (the C
 * library's call as it is). The watchdog's view (coro/sched.c): sample copies up
 * to max schedulers' {id, word = switches << 1 | main running, polling,
 * thread}; signal sends sig to the thread of a scheduler still alive;
 * describe (on the scheduler's own thread, e.g. in a signal handler) names
 * the running coroutine and returns 1, or 0 if the main one runs. */
typedef struct {
    const void *id;
    uint64_t word;
    int polling;
    unsigned long thread;
} weft__sched_sample_t;
enum { WEFT__HOOK_PLAIN = 0, WEFT__HOOK_PARK = 1, WEFT__HOOK_SCOPED = 2 };
WEFT_API int weft__hook_mode(void);
/* Records that a wait of the caller was cut by its timeout scope. */
WEFT_API void weft__scope_hit(void);
/* weft__fd_wait_edge (above), for the hook's calls that just saw EAGAIN.
 * weft__fd_wait_any: for poll()/select() in a coroutine that just found none
 * of the n pollfds (fd < 0: skipped) ready: one waiter on all their records
 * until the first readiness edge. 0 (re-check them), -ETIMEDOUT, -ECANCELED,
 * -EBADF (one is no descriptor, or was closed with weft_fd_close), -EBUSY
 * (another waiter has one in that direction), -EPERM (one asks for POLLPRI,
 * or epoll cannot watch it), -ENOMEM, -EINVAL (no scheduler). */
struct pollfd;
WEFT_API int weft__fd_wait_any(const struct pollfd *fds, unsigned long n, int64_t deadline);
WEFT_API size_t weft__sched_sample(weft__sched_sample_t *out, size_t max);
WEFT_API int weft__sched_signal(const void *id, int sig);
WEFT_API int weft__sched_describe(char *buf, size_t n);
/* coro/dump.c, for the watchdog: writes to fd (async-signal-safe) the return
 * addresses found on the running coroutine's stack from sp up, as module +
 * offset; returns how many (0 outside a scheduler or with sp off its stack).
 * weft__dump_prepare loads the code ranges it needs (call it once first). */
WEFT_API size_t weft__sched_backtrace(const void *sp, int fd);
WEFT_API void weft__dump_prepare(void);
/* core/service.c: starts fn(arg) on one of weft's own helper threads (also the
 * hook's watchdog): detached, stack_size bytes of stack, every signal blocked in
 * it. 0, or -errno of pthread_create. */
WEFT_API int weft__service_thread(void *(*fn)(void *), void *arg, size_t stack_size);

/* Threads whose record owns their argument (weft_timer): starts fn(arg) as
 * weft_thread_start with default options; on success free_arg(arg) runs when
 * the record is freed (join or detach), on failure the caller keeps arg. */
int weft__thread_start_owned(weft_thread **out, weft_thread_fn fn, void *arg,
                             void (*free_arg)(void *));
/* t's arg if t was started by weft__thread_start_owned with fn, else NULL. */
void *weft__thread_owned_arg(weft_thread *t, weft_thread_fn fn);
/* Runs the excepthook (weft_thread_set_excepthook) for a fire-and-forget
 * pool task fn(arg) that failed with err, on the calling (worker) thread. */
void weft__thread_report_task(weft_task_fn fn, void *arg, int err);

#endif
