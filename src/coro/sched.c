/* The per-thread scheduler: run queue, remote inbox, polling, switching.
 *
 * Invariants:
 *  - Only the owning thread touches anything but `inbox` and `polling`.
 *  - A coroutine is in at most one of: the run queue, the inbox, running.
 *    It gets there only through whoever claimed its waiter (exactly one
 *    party), or by spawning/yielding.
 *  - Remote wake-up: push to `inbox` (seq_cst CAS), then if `polling` is
 *    set, write the poller's eventfd. The scheduler sets `polling`
 *    (seq_cst) and re-reads `inbox` before blocking, so one of the two
 *    always sees the other. */
#include "coro/group.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

WEFT_TLS weft__sched *weft__tls_sched;
static pthread_key_t sched_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Set in a child forked inside a coroutine: that coroutine's stack, which
 * the child's next scheduler takes as its main stack. */
static WEFT_TLS void *tls_forked_lo;
static WEFT_TLS size_t tls_forked_size;

weft__coro *weft__sched_current(weft__sched *s) { return s->current; }
bool weft__sched_in_group(const weft__sched *s) { return s && s->group; }
struct weft__fdtab *weft__sched_fdtab(weft__sched *s) { return &s->fds; }
weft__poller *weft__sched_poller(weft__sched *s) { return s->poller; }

uint64_t weft__sched_rand(weft__sched *s) {
    uint64_t x = s->rng; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    s->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

void weft__coro_alloc_main(weft__sched *s, weft__coro **out);
void weft__coro_free_all(weft__sched *s);

/* ---- the watchdog's view of the schedulers (used by libweft-hook) ------
 * Every scheduler is on one process-wide list (a mutex taken only when a
 * scheduler is created or freed, and by the sampler), and publishes at each
 * switch one relaxed word: switch count << 1 | (main coroutine running). */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static weft__sched *wd_list;

bool weft__sched_list_lock(bool try_only) {
    if (!try_only)
        return pthread_mutex_lock(&wd_lock) == 0;
    for (int i = 0; i < 100; i++) { /* up to ~10 ms: register/unregister are short */
        if (pthread_mutex_trylock(&wd_lock) == 0)
            return true;
        struct timespec ts = {0, 100000};
        nanosleep(&ts, NULL);
    }
    return false;
}
weft__sched *weft__sched_list_head(void) { return wd_list; }
void weft__sched_list_unlock(void) { pthread_mutex_unlock(&wd_lock); }

static void wd_register(weft__sched *s) {
    weft__dump_setup();
    s->wd_thread = pthread_self();
    s->wd_tid = (int)syscall(SYS_gettid);
    s->wd_anchor = weft__thread_anchor();
    atomic_store_explicit(&s->wd_word, 1, memory_order_relaxed);
    pthread_mutex_lock(&wd_lock);
    s->wd_prev = NULL;
    s->wd_next = wd_list;
    if (wd_list)
        wd_list->wd_prev = s;
    wd_list = s;
    pthread_mutex_unlock(&wd_lock);
}

static void wd_unregister(weft__sched *s) {
    pthread_mutex_lock(&wd_lock);
    if (s->wd_prev)
        s->wd_prev->wd_next = s->wd_next;
    else if (wd_list == s)
        wd_list = s->wd_next;
    if (s->wd_next)
        s->wd_next->wd_prev = s->wd_prev;
    s->wd_prev = s->wd_next = NULL;
    pthread_mutex_unlock(&wd_lock);
}

WEFT_API size_t weft__sched_sample(weft__sched_sample_t *out, size_t max) {
    size_t n = 0;
    pthread_mutex_lock(&wd_lock);
    for (weft__sched *s = wd_list; s && n < max; s = s->wd_next, n++) {
        out[n].id = s;
        out[n].word = atomic_load_explicit(&s->wd_word, memory_order_relaxed);
        out[n].polling = atomic_load_explicit(&s->polling, memory_order_relaxed);
        out[n].thread = (unsigned long)s->wd_thread; /* musl: a pointer */
    }
    pthread_mutex_unlock(&wd_lock);
    return n;
}

WEFT_API int weft__sched_signal(const void *id, int sig) {
    int r = -ESRCH;
    pthread_mutex_lock(&wd_lock);
    for (weft__sched *s = wd_list; s; s = s->wd_next)
        if (s == id) {
            r = -pthread_kill(s->wd_thread, sig);
            break;
        }
    pthread_mutex_unlock(&wd_lock);
    return r;
}

WEFT_API int weft__sched_describe(char *buf, size_t n) {
    weft__sched *s = weft__tls_sched;
    if (!s || !buf || !n || (s->current->flags & WEFT__F_MAIN))
        return 0;
    weft__coro *co = s->current;
    snprintf(buf, n, "coroutine %llu \"%s\"", (unsigned long long)co->id,
             co->name ? co->name : "");
    return 1;
}

WEFT_API int weft__hook_mode(void) {
    if (weft__tls_sched)
        return WEFT__HOOK_PARK;
    return weft__tls_scope.dl != WEFT_FOREVER ? WEFT__HOOK_SCOPED : WEFT__HOOK_PLAIN;
}

static void sched_destroy(weft__sched *s) {
    wd_unregister(s);
    weft__coro_free_all(s);
    weft__stack_pool_free(s);
    weft__shared_free(s);
    weft__arena_destroy(s);
    weft__free(s->heap);
    weft__fd_table_free(s);
    weft__poller_destroy(s->poller);
    weft__overflow_uninstall(s);
    weft__free(s);
}

/* Thread exit: coroutines still alive are cancelled and run until they
 * finish (every blocking call they make fails with -ECANCELED), so that
 * none is left queued on an object other threads use. One that still does
 * not finish after many rounds (it loops without blocking, or waits where
 * cancellation cannot reach) is abandoned. Then the scheduler is freed,
 * once no other thread is still inside a wake-up of ours. */
static void on_thread_exit(void *p) {
    weft__sched *s = p;
    if (!s || weft__tls_sched != s || s->current != s->main)
        return;
    weft__sched_close_spawns(s);
    for (int round = 0; s->live > 0 && round < 1000; round++) {
        for (weft__coro *co = s->all; co; co = co->all_next)
            if (co->state != WEFT__C_DONE)
                weft_cancel((weft_coro){co, atomic_load(&co->gen)});
        weft__sched_poll(s, false);
        if (s->runq_head) {
            weft__runq_push(s, s->main);
            weft__sched_block(s);
        } else if (s->live > 0) {
            /* A remote claim may be on its way: wait for it, but boundedly
             * (1000 rounds of at most 1 ms), never forever. */
            weft_sleep(WEFT_MSEC);
        }
    }
    while (atomic_load_explicit(&s->wakers, memory_order_acquire))
        sched_yield();
    weft__tls_sched = NULL;
    sched_destroy(s);
}

static void make_key(void) {
    if (pthread_key_create(&sched_key, on_thread_exit) != 0)
        WEFT_PANIC("pthread_key_create failed");
}

/* weft__sched_ensure's first call on a thread. */
weft__sched *weft__sched_create(void) {
    weft__sched *s;
    pthread_once(&key_once, make_key);
    weft__fork_setup();
    s = weft__calloc(1, sizeof *s);
    if (!s)
        return NULL;
    /* The timer heap's first slots, now: a program with few timers out of
     * deadline order (most go to the lane) never allocates for one later. */
    s->heap = weft__malloc(64 * sizeof *s->heap);
    if (!s->heap) {
        weft__free(s);
        return NULL;
    }
    s->heap_cap = 64;
    if (weft__poller_create(&s->poller) != 0) {
        weft__free(s->heap);
        weft__free(s);
        return NULL;
    }
    if (weft__overflow_install(s) != 0) {
        weft__poller_destroy(s->poller);
        weft__free(s->heap);
        weft__free(s);
        return NULL;
    }
    weft__coro_alloc_main(s, &s->main);
    if (!s->main) {
        weft__overflow_uninstall(s);
        weft__poller_destroy(s->poller);
        weft__free(s->heap);
        weft__free(s);
        return NULL;
    }
    s->current = s->main;
    s->errno_loc = &errno;
#ifdef WEFT_TSAN
    s->main->san_fiber = __tsan_get_current_fiber();
#endif
    if (tls_forked_lo) {
        /* Forked inside a coroutine: its stack is this thread's stack now. */
        s->main_lo = tls_forked_lo;
        s->main_size = tls_forked_size;
    } else {
        pthread_attr_t attr;
        if (pthread_getattr_np(pthread_self(), &attr) == 0) {
            pthread_attr_getstack(&attr, &s->main_lo, &s->main_size);
            pthread_attr_destroy(&attr);
        }
    }
    /* valgrind registers each thread's own stack itself (at startup for the first
     * thread, at clone for the others): a second registration of the same range
     * would, once removed at thread exit, leave valgrind taking the next irregular
     * stack-pointer move on this stack for a switch and skip it (memcheck then reports
     * the frame it opened, e.g. the dynamic linker's lazy-binding save area, as
     * invalid writes). So the thread's own stack is not registered here. */
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    s->rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)s ^ 0x9E3779B97F4A7C15ULL;
    if (!s->rng)
        s->rng = 1;
    weft__tls_sched = s;
    pthread_setspecific(sched_key, s);
    wd_register(s);
    return s;
}

void weft__runq_push(weft__sched *s, weft__coro *co) {
    co->next = NULL;
    if (s->runq_tail)
        s->runq_tail->next = co;
    else
        s->runq_head = co;
    s->runq_tail = co;
}

__attribute__((noinline)) weft__sched *weft__sched_here(void) {
    weft__sched *s = weft__tls_sched;
    __asm__ volatile("" : "+r"(s)::"memory"); /* not pure: never merged across a switch */
    return s;
}

static inline void push(weft__sched *s, weft__coro *co) {
    if (s == weft__tls_sched) {
        weft__runq_push(s, co);
        return;
    }
    /* s stays alive until co has run, and co cannot run before the push:
     * announce ourselves first, so that s is not freed while we still
     * touch it after the push (see sched_destroy). */
    atomic_fetch_add(&s->wakers, 1);
    weft__coro *head = atomic_load(&s->inbox);
    do {
        co->next = head;
    } while (!atomic_compare_exchange_weak(&s->inbox, &head, co));
    if (atomic_load(&s->polling))
        weft__poller_wake(s->poller);
    atomic_fetch_sub_explicit(&s->wakers, 1, memory_order_release);
}


void weft__sched_push(weft__sched *s, weft__coro *co) { push(s, co); }

void weft__coro_ready(weft__coro *co) {
    if (unlikely(atomic_load_explicit(&co->flags, memory_order_relaxed) & WEFT__F_GROUP)) {
        weft__group_ready(co);
        return;
    }
    push(atomic_load_explicit(&co->sched, memory_order_relaxed), co);
}

/* ---- remote spawns --------------------------------------------------- */

typedef struct weft__spawn_req {
    struct weft__spawn_req *next;
    weft_coro_fn fn;
    void *arg;
    weft_coro_opts opts;
    weft__waiter *w; /* the spawner, waiting (not cancellable) */
} weft__spawn_req;

#define REQ_CLOSED ((weft__spawn_req *)(uintptr_t)1)

void weft__sched_pin(weft__sched *s) { atomic_fetch_add(&s->wakers, 1); }

int weft__sched_remote_spawn(weft__sched *s, weft_coro_fn fn, void *arg,
                             const weft_coro_opts *opts) {
    /* The target reads only this block: the name too is copied, since the
     * spawner may be a SHARED coroutine whose stack is reused while it
     * waits. */
    size_t nl = opts->name ? strlen(opts->name) + 1 : 0;
    weft__spawn_req *r = weft__malloc(sizeof *r + nl);
    if (!r) {
        atomic_fetch_sub_explicit(&s->wakers, 1, memory_order_release);
        return -ENOMEM;
    }
    weft__waiter local;
    r->fn = fn;
    r->arg = arg;
    r->opts = *opts;
    if (nl) {
        memcpy(r + 1, opts->name, nl);
        r->opts.name = (const char *)(r + 1);
    }
    r->opts.detached = 1;
    r->w = weft__waiter_begin(&local, WEFT__W_NOCANCEL);
    weft__spawn_req *head = atomic_load(&s->reqs);
    do {
        if (head == REQ_CLOSED) {
            atomic_fetch_sub_explicit(&s->wakers, 1, memory_order_release);
            weft__free(r);
            return -ESRCH;
        }
        r->next = head;
    } while (!atomic_compare_exchange_weak(&s->reqs, &head, r));
    if (atomic_load(&s->polling))
        weft__poller_wake(s->poller);
    atomic_fetch_sub_explicit(&s->wakers, 1, memory_order_release); /* s untouched from here */
    int res = weft__park(r->w, WEFT_FOREVER);
    weft__free(r);
    return res;
}

/* Takes the pending requests (or closes the list); oldest first. */
static weft__spawn_req *take_reqs(weft__sched *s, bool close) {
    weft__spawn_req *head = atomic_load(&s->reqs), *rev = NULL;
    do {
        if (head == REQ_CLOSED)
            return NULL;
        if (!head && !close)
            return NULL;
    } while (!atomic_compare_exchange_weak(&s->reqs, &head, close ? REQ_CLOSED : NULL));
    while (head) {
        weft__spawn_req *n = head->next;
        head->next = rev;
        rev = head;
        head = n;
    }
    return rev;
}

static void answer(weft__spawn_req *r, int result) {
    weft__waiter *w = r->w; /* r belongs to the spawner once we wake it */
    if (weft__waiter_claim(w, result, 0))
        weft__waiter_wake(w);
}

static void run_reqs(weft__sched *s) {
    if (!atomic_load_explicit(&s->reqs, memory_order_relaxed))
        return;
    for (weft__spawn_req *r = take_reqs(s, false), *n; r; r = n) {
        n = r->next;
        answer(r, weft_spawn(NULL, r->fn, r->arg, &r->opts));
    }
}

void weft__sched_close_spawns(weft__sched *s) {
    for (weft__spawn_req *r = take_reqs(s, true), *n; r; r = n) {
        n = r->next;
        answer(r, -ESRCH);
    }
}

static void drain_inbox(weft__sched *s) {
    if (!atomic_load_explicit(&s->inbox, memory_order_relaxed))
        return;
    weft__coro *list = atomic_exchange(&s->inbox, NULL), *rev = NULL;
    while (list) { /* the inbox is LIFO: restore arrival order */
        weft__coro *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        weft__coro *n = rev->next;
        weft__runq_push(s, rev);
        rev = n;
    }
}

/* One round of the outside world: fd events, remote wake-ups, timers.
 * With block set, waits until at least something may have happened. */
int weft__sched_poll(weft__sched *s, bool block) {
    int64_t timeout = 0;
    if (block) {
        int64_t next = weft__timer_next(s);
        if (next < 0) {
            timeout = -1;
        } else {
            int64_t now = weft_now();
            timeout = next > now ? next - now : 0;
        }
        if (timeout != 0) {
            atomic_store(&s->polling, 1);
            weft__spawn_req *rq = atomic_load(&s->reqs);
            if (atomic_load(&s->inbox) || (rq && rq != REQ_CLOSED))
                timeout = 0;
        }
    } else if (!s->fds.waiting) {
        timeout = -2; /* nothing registered: skip the system call */
    }
    if (timeout != -2) {
        weft__poll_event ev[64];
        int n = weft__poller_wait(s->poller, ev, 64, timeout);
        if (block)
            atomic_store(&s->polling, 0);
        for (int i = 0; i < n; i++)
            weft__fd_event(s, ev[i].fd, ev[i].events);
    }
    drain_inbox(s);
    run_reqs(s);
    if (weft__timer_any(s))
        weft__timer_expire(s, weft_now());
    struct timespec ts; /* the coarse clock: a read of the vDSO page, no TSC */
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    s->stamp = (int64_t)ts.tv_sec * WEFT_SEC + ts.tv_nsec;
    return 0;
}

void weft__sched_reap(weft__sched *s) {
    weft__coro *co = s->reap;
    s->reap = NULL;
    if (!(co->flags & WEFT__F_SHARED) && co->stack) {
        weft__stack_put(s, co->stack, co->stack_size, co->vg_stack);
        co->stack = NULL;
    }
#ifdef WEFT_TSAN
    if (co->san_fiber) {
        __tsan_destroy_fiber(co->san_fiber);
        co->san_fiber = NULL;
    }
#endif
    weft__arena_free(s, co->scratch, co->scratch_cap);
    co->scratch = NULL;
    co->scratch_cap = 0;
    if ((co->flags & WEFT__F_SHARED) && co->saved) {
        weft__arena_free(s, co->saved, co->saved_cap);
        co->saved = NULL;
        co->saved_cap = co->saved_len = 0;
    }
    if (atomic_load_explicit(&co->flags, memory_order_relaxed) & WEFT__F_GROUP)
        weft__group_finished(s, co);
    else if (co->flags & WEFT__F_DETACHED)
        weft__coro_release(s, co);
}

/* A switch from or to a group coroutine: the one switched to is on this cpu now,
 * the one switched off until the switch lands (weft__sched_land). */
static __attribute__((noinline, cold)) void group_switch(weft__sched *s, weft__coro *from,
                                                          weft__coro *to) {
    if (atomic_load_explicit(&from->flags, memory_order_relaxed) & WEFT__F_GROUP)
        s->leaving = from;
    if (atomic_load_explicit(&to->flags, memory_order_relaxed) & WEFT__F_GROUP)
        atomic_store_explicit(&to->oncpu, 1, memory_order_relaxed);
}

void weft__sched_left(weft__sched *s) {
    weft__coro *l = s->leaving;
    s->leaving = NULL;
    atomic_store_explicit(&l->oncpu, 0, memory_order_release);
}

/* Runs `to` in place of the current coroutine; returns when the current
 * one is switched back in. */
static inline __attribute__((always_inline)) void sched_switch(weft__sched *s,
                                                               weft__coro *to) {
    weft__coro *from = s->current;
    if (to == from)
        return;
    from->saved_errno = *s->errno_loc;
    s->current = to;
    if (unlikely((atomic_load_explicit(&from->flags, memory_order_relaxed) |
                  atomic_load_explicit(&to->flags, memory_order_relaxed)) &
                 WEFT__F_GROUP))
        group_switch(s, from, to);
    atomic_store_explicit(&s->wd_word,
                          ((atomic_load_explicit(&s->wd_word, memory_order_relaxed) | 1) + 1) |
                              (uint64_t)(to == s->main),
                          memory_order_relaxed);
    weft__ctx *target = &to->ctx;
    bool via_switcher = false;
    if ((to->flags & WEFT__F_SHARED) && s->shared_owner != to) {
        if (from->flags & WEFT__F_SHARED) {
            /* Both live on the shared stack: the switcher, on its own
             * stack, moves the copies. */
            s->sw_from = from;
            s->sw_to = to;
            target = &s->switcher;
            via_switcher = true;
        } else {
            if (s->shared_owner)
                weft__shared_save(s, s->shared_owner);
            weft__shared_load(s, to);
        }
    }
#ifdef WEFT_ASAN
    void *fake = NULL;
    const void *lo;
    size_t size;
    if (via_switcher)
        weft__switcher_bounds(s, &lo, &size);
    else
        weft__stack_bounds(s, to, &lo, &size);
    __sanitizer_start_switch_fiber(s->reap == from ? NULL : &fake, lo, size);
#endif
#ifdef WEFT_TSAN
    __tsan_switch_to_fiber(via_switcher ? s->switcher_fiber : to->san_fiber, 0);
#endif
    /* Whoever resumes us passes its scheduler: a group coroutine may resume on
     * another thread than the one it left. */
    s = weft__ctx_switch(&from->ctx, target, s);
#ifdef WEFT_ASAN
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
    (void)via_switcher;
    *s->errno_loc = from->saved_errno;
    weft__sched_land(s);
}

void weft__sched_switch(weft__sched *s, weft__coro *to) { sched_switch(s, to); }

/* ---- pinning ----------------------------------------------------------
 * A SHARED coroutine that waits while another thread uses a pointer into
 * its stack (weft_offload(fn, &local), a future whose task got one) pins
 * the shared stack: its frames must stay where they are. Frames hold
 * absolute addresses, so an evicted SHARED coroutine can only ever resume
 * on the same stack: there is no other stack to run it on. So while the
 * pin holds, every other SHARED coroutine that comes due waits on the
 * stalled list, and they go back to the front of the run queue, in order,
 * when the pin ends. Only the caller can pin (the stack is its own while
 * it runs), so there is at most one pin per thread. The cost when no pin
 * is held: one test of `pinned` per switch. */

bool weft__stack_pin_if(const void *p) {
    weft__sched *s = weft__sched_get();
    if (!s)
        return false;
    weft__coro *co = s->current;
    if (!(co->flags & WEFT__F_SHARED) || s->pinned)
        return false;
    const char *c = p;
    if (c < s->shared_lo || c >= s->shared_hi)
        return false;
    s->pinned = co;
    return true;
}

void weft__stack_unpin(void) {
    weft__sched *s = weft__sched_get();
    s->pinned = NULL;
    if (s->stalled_head) {
        s->stalled_tail->next = s->runq_head;
        if (!s->runq_head)
            s->runq_tail = s->stalled_tail;
        s->runq_head = s->stalled_head;
        s->stalled_head = s->stalled_tail = NULL;
    }
}

/* True if co must wait for the pin to end before it runs. */
static inline bool stalls(weft__sched *s, weft__coro *co) {
    return unlikely(s->pinned) && (co->flags & WEFT__F_SHARED) && co != s->pinned;
}

void weft__sched_stall(weft__sched *s, weft__coro *co) {
    co->next = NULL;
    if (s->stalled_tail)
        s->stalled_tail->next = co;
    else
        s->stalled_head = co;
    s->stalled_tail = co;
}

void weft__sched_wait_unpinned(weft__sched *s) {
    weft__sched_stall(s, s->current);
    weft__sched_block(s);
}

bool weft__sched_stalls(weft__sched *s, weft__coro *co) { return stalls(s, co); }

/* The current coroutine has been marked parked (or finished): run others,
 * and the outside world, until it is ready again. */
void weft__sched_block(weft__sched *s) {
    if (unlikely(s->group != NULL)) {
        weft__group_block(s);
        return;
    }
    for (;;) {
        if (s->runq_head) {
            /* Keep timers, I/O and remote wake-ups flowing even when
             * coroutines never stop yielding. */
            if (unlikely((++s->ticks & 63) == 0))
                weft__sched_poll(s, false);
            weft__coro *co = weft__runq_pop(s);
            if (stalls(s, co)) {
                weft__sched_stall(s, co);
                continue;
            }
            sched_switch(s, co);
            return;
        }
        weft__sched_poll(s, true);
    }
}

/* fork(), in the child: the forking thread's scheduler is abandoned (see
 * weft.h, "Fork rules"). Its poller's descriptors are the same kernel
 * objects as the parent's: they are closed, never modified. Its memory,
 * coroutines and stacks are left as they are (the code now running may
 * be on one of those stacks); the next weft call creates a new
 * scheduler. */
void weft__sched_atfork_prepare(void) { pthread_mutex_lock(&wd_lock); }
void weft__sched_atfork_parent(void) { pthread_mutex_unlock(&wd_lock); }

void weft__sched_atfork_child(void) {
    /* Every scheduler on the watchdog list belongs to a thread that does
     * not exist here, or to this abandoned one. */
    pthread_mutex_unlock(&wd_lock); /* taken by this thread in prepare */
    wd_list = NULL;
    weft__sched *s = weft__tls_sched;
    if (!s)
        return;
    if (s->current != s->main) {
        const void *lo;
        size_t size;
        weft__stack_bounds(s, s->current, &lo, &size);
        tls_forked_lo = (void *)lo;
        tls_forked_size = size;
    }
    /* destroy only closes the child's two descriptors (and frees the
     * struct): no epoll_ctl, no eventfd read, which would reach the
     * parent's kernel objects. */
    weft__poller_destroy(s->poller);
    s->poller = NULL;
    weft__tls_sched = NULL;
    pthread_setspecific(sched_key, NULL);
}
