/* Coroutines: control blocks, spawn, join, detach, yield, sleep, switch,
 * cancel.
 *
 * Control blocks are type-stable: they come from mmap'd slabs that are never
 * unmapped and are recycled with their `gen` bumped, so a stale handle can
 * always be checked (gen mismatch -> -ESRCH) without touching freed memory.
 * Blocks of a scheduler that is destroyed go to a process-wide orphan list
 * that new schedulers draw from, and the uncarved rest of its slab to a list
 * of rests that they carve from before mapping a slab: memory stays bounded
 * by the most control blocks ever alive at once, however many threads come
 * and go. */
#include "coro/group.h"
#include "sync/watch.h"

#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static weft__coro *orphans;
/* The uncarved rest of the slab of every scheduler that was destroyed, for the next
 * schedulers to carve from before they map a slab of their own: without it every thread
 * whose coroutines outgrew the orphan list left most of a new slab unused and mapped
 * forever. Each rest starts with this header (written into its own, still untouched,
 * memory; zeroed again when it is taken). Guarded by orphan_lock. */
typedef struct slab_rest {
    struct slab_rest *next;
    char *end;
} slab_rest;
static slab_rest *slab_rests;
static atomic_uint_fast64_t next_id = 1;

/* fork: the orphan list must not be left locked in the child. */
void weft__coro_atfork_prepare(void) { pthread_mutex_lock(&orphan_lock); }
void weft__coro_atfork_parent(void) { pthread_mutex_unlock(&orphan_lock); }
void weft__coro_atfork_child(void) { pthread_mutex_unlock(&orphan_lock); }

static weft__coro *cb_alloc(weft__sched *s) {
    weft__coro *co = s->free_coros;
    if (!co) {
        /* A small batch: blocks a thread takes and does not use are out of
         * reach of the threads beside it, which would carve new ones. */
        pthread_mutex_lock(&orphan_lock);
        for (int i = 0; i < 32 && orphans; i++) {
            weft__coro *o = orphans;
            orphans = o->next;
            o->next = s->free_coros;
            s->free_coros = o;
            s->free_len++;
        }
        pthread_mutex_unlock(&orphan_lock);
        co = s->free_coros;
    }
    if (!co) {
        /* Carve from the current slab; map a new one when it runs out. The
         * rest of a slab is left untouched until needed. */
        if (s->slab_next + sizeof(weft__coro) > s->slab_end) {
            pthread_mutex_lock(&orphan_lock);
            slab_rest *r = slab_rests;
            if (r)
                slab_rests = r->next;
            pthread_mutex_unlock(&orphan_lock);
            if (r) {
                s->slab_next = (char *)r;
                s->slab_end = r->end;
                memset(r, 0, sizeof *r); /* as fresh from mmap */
            } else {
                size_t size;
                char *slab = weft__region_map(s->slabs, &size);
                if (!slab)
                    return NULL;
                s->slabs++;
                s->slab_next = slab;
                s->slab_end = slab + size;
            }
        }
        co = (weft__coro *)s->slab_next;
        s->slab_next += sizeof(weft__coro);
    } else {
        s->free_coros = co->next;
        s->free_len--;
    }
    /* `sched` and `gen` may be read by other threads holding stale handles
     * or lock-owner tokens (type-stable memory): only atomic writes. */
#if UINTPTR_MAX > 0xffffffffu /* on 32-bit ABIs the 64-bit gen is aligned past a gap */
    _Static_assert(offsetof(weft__coro, gen) == offsetof(weft__coro, sched) + sizeof(void *),
                   "sched and gen must be adjacent");
#endif
    /* Field by field: a `memset` of the block compiled to `rep stos`,
     * which cost half of weft_spawn. `wait` needs no reset (every park
     * starts with weft__waiter_begin); fields spawn always sets are left. */
    co->next = co->all_prev = co->all_next = NULL;
    co->waiter = NULL;
    co->joiner = NULL;
    co->deadline = 0;
    co->heap_idx = 0;
    co->timer_seq = 0;
    co->state = 0;
    atomic_store_explicit(&co->flags, 0, memory_order_relaxed);
    atomic_store_explicit(&co->affine, 0, memory_order_relaxed);
    atomic_store_explicit(&co->oncpu, 0, memory_order_relaxed);
    co->gdone = 0;
    co->pins = 0;
    atomic_store_explicit(&co->cancel_st, 0, memory_order_relaxed);
    atomic_store_explicit(&co->cancel_busy, 0, memory_order_relaxed);
    co->saved_errno = 0;
    co->name = NULL;
    co->stack = NULL;
    co->stack_size = 0;
#if defined(__SANITIZE_THREAD__)
    co->san_fiber = NULL;
#endif
    co->scratch = NULL;
    co->scratch_cap = 0;
    co->fn = NULL;
    co->arg = NULL;
    co->parent = NULL;
    co->parent_gen = 0;
    co->scope.dl = WEFT_FOREVER;
    co->scope.top = NULL;
    co->scope.hit = false;
    co->links = NULL;
    co->locals = NULL;
    co->start_at = 0;
    co->status = 0;
    /* Release: another thread that finds this block through a lock-owner token and
     * reads `sched` with acquire also sees the mapping of its slab (a plain store on
     * x86; ThreadSanitizer otherwise saw the slab's mmap race with that read). */
    atomic_store_explicit(&co->sched, s, memory_order_release);
    if (s->id_next == s->id_end) { /* ids come in blocks: no shared atomic per spawn */
        s->id_next = atomic_fetch_add_explicit(&next_id, 1024, memory_order_relaxed);
        s->id_end = s->id_next + 1024;
    }
    co->id = s->id_next++;
    return co;
}

static void unlink_all(weft__sched *s, weft__coro *co) {
    if (co->all_prev)
        co->all_prev->all_next = co->all_next;
    else
        s->all = co->all_next;
    if (co->all_next)
        co->all_next->all_prev = co->all_prev;
    co->all_prev = co->all_next = NULL;
}

/* A thread keeps at most FREE_KEEP free control blocks; the ones released past that
 * go, SPILL at a time, to the orphan list, which threads that run short draw from: a
 * worker group's coroutines end on other workers than the ones that made them, and a
 * thread that ran a million coroutines once should not keep their blocks from the
 * others (they would map new slabs, and the kernel zero them). */
#define FREE_KEEP 4096
#define SPILL 512
static __attribute__((noinline)) void spill(weft__sched *s, weft__coro *co) {
    co->next = s->spill;
    if (!s->spill)
        s->spill_tail = co;
    s->spill = co;
    if (++s->spill_len < SPILL)
        return;
    pthread_mutex_lock(&orphan_lock);
    s->spill_tail->next = orphans;
    orphans = s->spill;
    pthread_mutex_unlock(&orphan_lock);
    s->spill = s->spill_tail = NULL;
    s->spill_len = 0;
}

/* Returns a finished (or abandoned) coroutine's block to the free list; its
 * stack must already be gone. Stale handles fail from here on. */
static inline __attribute__((always_inline)) void release(weft__sched *s, weft__coro *co,
                                                          bool group) {
    if (group)
        weft__group_unlist(co);
    else
        unlink_all(s, co);
    if (co->links || co->locals)
        weft__coro_extras_free(co); /* abandoned unfinished: nothing runs */
    weft__free(co->name);
    co->name = NULL;
    /* Only the owning thread writes gen: no read-modify-write needed. */
    atomic_store_explicit(&co->gen, atomic_load_explicit(&co->gen, memory_order_relaxed) + 1,
                          memory_order_release);
    if (unlikely(s->free_len >= FREE_KEEP)) {
        spill(s, co);
        return;
    }
    co->next = s->free_coros;
    s->free_coros = co;
    s->free_len++;
}

void weft__coro_release(weft__sched *s, weft__coro *co) {
    release(s, co, atomic_load_explicit(&co->flags, memory_order_relaxed) & WEFT__F_GROUP);
}

void weft__coro_alloc_main(weft__sched *s, weft__coro **out) {
    weft__coro *co = cb_alloc(s);
    if (co) {
        atomic_store_explicit(&co->flags, WEFT__F_MAIN | WEFT__F_STARTED, memory_order_relaxed);
        co->state = WEFT__C_READY;
    }
    *out = co;
}

/* Thread exit: every coroutine left is abandoned (its handles go stale) and
 * every block goes to the orphan list. */
void weft__coro_free_all(weft__sched *s) {
    while (s->all) {
        weft__coro *co = s->all;
        if (co->flags & WEFT__F_SHARED)
            weft__arena_free(s, co->saved, co->saved_cap);
        else if (co->stack)
            weft__stack_put(s, co->stack, co->stack_size, co->vg_stack);
        co->stack = NULL;
        co->stack_size = 0;
        weft__arena_free(s, co->scratch, co->scratch_cap);
        co->scratch = NULL;
#ifdef WEFT_TSAN
        if (co->san_fiber)
            __tsan_destroy_fiber(co->san_fiber);
        co->san_fiber = NULL;
#endif
        weft__coro_release(s, co);
    }
    if (s->main)
        weft__coro_release(s, s->main);
    slab_rest *rest = NULL;
    if (s->slab_next && s->slab_next + sizeof(weft__coro) <= s->slab_end) {
        rest = (slab_rest *)s->slab_next;
        rest->end = s->slab_end;
    }
    s->slab_next = s->slab_end = NULL;
    if (s->spill) { /* the spilled blocks join the free ones */
        s->spill_tail->next = s->free_coros;
        s->free_coros = s->spill;
        s->spill = s->spill_tail = NULL;
        s->spill_len = 0;
    }
    weft__coro *list = s->free_coros;
    s->free_coros = NULL;
    s->free_len = 0;
    if (!list && !rest)
        return;
    weft__coro *tail = list;
    while (tail && tail->next)
        tail = tail->next;
    pthread_mutex_lock(&orphan_lock);
    if (list) {
        tail->next = orphans;
        orphans = list;
    }
    if (rest) {
        rest->next = slab_rests;
        slab_rests = rest;
    }
    pthread_mutex_unlock(&orphan_lock);
}

static weft_coro handle_of(weft__coro *co) {
    weft_coro h = {co, atomic_load_explicit(&co->gen, memory_order_relaxed)};
    return h;
}

static inline bool in_group(const weft__coro *co) {
    return atomic_load_explicit(&co->flags, memory_order_relaxed) & WEFT__F_GROUP;
}

/* A valid handle's coroutine, from any thread (group coroutines). */
static weft__coro *resolve_any(weft_coro h, int *err) {
    weft__coro *co = h.p;
    if (!co || atomic_load_explicit(&co->gen, memory_order_acquire) != h.gen) {
        *err = -ESRCH;
        return NULL;
    }
    return co;
}

/* Resolves a handle for use on the calling thread. */
static weft__coro *resolve(weft_coro h, weft__sched **sp, int *err) {
    weft__coro *co = h.p;
    if (!co || atomic_load_explicit(&co->gen, memory_order_acquire) != h.gen) {
        *err = -ESRCH;
        return NULL;
    }
    weft__sched *s = weft__sched_get();
    if (!s || atomic_load_explicit(&co->sched, memory_order_relaxed) != s) {
        *err = -EXDEV;
        return NULL;
    }
    *sp = s;
    return co;
}

/* A group coroutine's end: done, joiner and detach are settled once it is off its
 * stack (weft__group_finished). */
static __attribute__((noinline, noreturn)) void finish_group(weft__coro *co, void *result) {
    weft__sched *s = weft__sched_here(); /* it may have changed thread in its links */
    if (co->links)
        weft__links_run(s, co, result, true);
    if (s->shared_owner == co)
        s->shared_owner = NULL;
    s->reap = co;
    weft__sched_block(s);
    WEFT_PANIC("finished coroutine %llu was resumed", (unsigned long long)co->id);
}

static void finish(weft__sched *s, weft__coro *co, void *result) {
    if (!co->status && (co->flags & WEFT__F_CANCELLED))
        co->status = -ECANCELED;
    /* Its last acts, in its own context (they may block): links, then the
     * destructors of its per-coroutine values. Timeout scopes its function
     * left entered end with it: they do not cut those. */
    co->scope.dl = WEFT_FOREVER;
    co->scope.top = NULL;
    co->scope.hit = false;
    if (co->links)
        weft__links_run(s, co, result, false);
    if (co->locals)
        weft__locals_finish(co);
    co->arg = result;
    if (unlikely(in_group(co)))
        finish_group(co, result);
    co->state = WEFT__C_DONE;
    s->live--;
    if (co->links)
        weft__links_run(s, co, result, true); /* watchers of "done" (weft_killall) */
    /* A weft_join is only ever claimed on this thread; weft_wait_any's
     * waiter (sync/wait.c) may be claimed by another thread too. */
    weft__waiter *j = co->joiner;
    if (j && (j->kind == WEFT__W_JOIN ? weft__waiter_claim_local(j, 0, 0)
                                      : weft__waiter_claim(j, 0, 0)))
        weft__waiter_wake(j);
    weft__coro *p = co->parent;
    if (p && atomic_load_explicit(&p->gen, memory_order_relaxed) == co->parent_gen &&
        p->state == WEFT__C_PARKED && p->waiter && p->waiter->kind == WEFT__W_SWITCH &&
        weft__waiter_claim_local(p->waiter, 1, 0)) {
        p->waiter->value = result;
        weft__waiter_wake(p->waiter);
    }
    if (s->shared_owner == co)
        s->shared_owner = NULL; /* its frames are dead: nothing to save */
    s->reap = co;
    weft__sched_block(s);
    WEFT_PANIC("finished coroutine %llu was resumed", (unsigned long long)co->id);
}

void weft__coro_entry(void *arg) {
    (void)arg;
#ifdef WEFT_ASAN
    __sanitizer_finish_switch_fiber(NULL, NULL, NULL);
#endif
    weft__sched *s = weft__sched_get();
    weft__sched_land(s);
    weft__coro *co = s->current;
    if (!(co->flags & WEFT__F_STARTED))
        weft__coro_flag_set(co, WEFT__F_STARTED);
    if (in_group(co) && (co->flags & WEFT__F_SHARED)) /* its frames stay on this worker */
        atomic_store_explicit(&co->affine, WEFT__AFF_ALWAYS, memory_order_relaxed);
    *s->errno_loc = 0;
    if (co->start_at) {
        /* weft_spawn_later: its first park (set up at spawn) is over. */
        co->start_at = 0;
        co->state = WEFT__C_READY;
        co->waiter = NULL;
        if (co->heap_idx)
            weft__timer_remove(s, co);
        if (in_group(co)) {
            weft__group_cancel_end(co);
            atomic_fetch_and_explicit(&co->affine, (uint8_t)~WEFT__AFF_PARK,
                                      memory_order_relaxed);
        }
    }
    void *result = NULL;
    /* Cancelled, or a weft_throw reached it, before it started: fn never runs. */
    if (!(co->flags & WEFT__F_CANCELLED) && !co->status)
        result = co->fn(co->arg);
    finish(s, co, result);
}

/* weft_spawn, and with start_at > 0 weft_spawn_later: the coroutine then
 * starts parked until start_at, on its own waiter, its timer set here (so
 * that running out of memory fails the spawn, not the start). */
static int spawn(weft_group *g, weft_coro *out, weft_coro_fn fn, void *arg,
                 const weft_coro_opts *opts, int64_t start_at, const void *site) {
    static const weft_coro_opts defaults;
    if (!opts)
        opts = &defaults;
    if (!fn || (!out && !opts->detached))
        return -EINVAL;
    if (opts->suspended && (arg || start_at))
        return -EINVAL;
    size_t pg = weft__page_size(), size = 0;
    if (opts->stack_mode == WEFT_STACK_GUARDED) {
        size = opts->stack_size ? opts->stack_size : WEFT__DEFAULT_STACK;
        if (size < WEFT__MIN_STACK || size > WEFT__MAX_STACK)
            return -EINVAL;
        size = (size + pg - 1) & ~(pg - 1);
    } else if (opts->stack_mode == WEFT_STACK_SHARED) {
        if (opts->stack_size > WEFT__SHARED_STACK)
            return -EINVAL;
    } else {
        return -EINVAL;
    }
    weft__sched *s = weft__sched_ensure();
    if (!s)
        return -ENOMEM;
    if (!g)
        g = s->group; /* a group's coroutine spawns into its group */
    if (g) {
        if (opts->suspended)
            return -EINVAL; /* nothing could switch to it: see weft_switch */
        if (start_at && s->group != g)
            return -EINVAL; /* its timer would be the caller's thread's */
        if (atomic_load(&g->closed))
            return -ESRCH;
    }
    weft__coro *co = cb_alloc(s);
    if (!co)
        return -ENOMEM;
    int err = -ENOMEM;
    uint8_t flags = g ? WEFT__F_GROUP : 0;
    if (start_at) {
        co->wait.co = co;
        co->wait.kind = WEFT__W_OTHER;
        co->wait.result = 0;
        co->wait.index = 0;
        atomic_init(&co->wait.state, 0);
        atomic_init(&co->wait.futex, 0);
        if ((err = weft__timer_add(s, co, start_at)) != 0)
            goto fail;
    }
    if (opts->name && !(co->name = weft__strdup(opts->name)))
        goto fail;
    if (size) {
        if ((err = weft__stack_get(s, size + pg, &co->stack, &co->vg_stack)) != 0)
            goto fail;
        co->stack_size = (uint32_t)(size + pg);
        weft__ctx_init(&co->ctx, (char *)co->stack + pg, size, weft__coro_entry);
    } else {
        /* A group's workers have their shared stacks already. */
        if (!g && (err = weft__shared_init(s)) != 0)
            goto fail;
        flags |= WEFT__F_SHARED;
    }
    co->fn = fn;
    co->arg = arg;
    co->spawn_pc = site;
    co->parent = s->current;
    co->parent_gen = atomic_load_explicit(&s->current->gen, memory_order_relaxed);
    if (opts->detached)
        flags |= WEFT__F_DETACHED;
    atomic_store_explicit(&co->flags, flags, memory_order_relaxed);
#ifdef WEFT_TSAN
    co->san_fiber = __tsan_create_fiber(0);
#endif
    if (g) {
        co->state = WEFT__C_READY;
        if (start_at) {
            co->start_at = start_at;
            co->waiter = &co->wait;
            co->state = WEFT__C_PARKED;
        }
        if (out)
            *out = handle_of(co); /* before it may run, finish and be released */
        weft__group_add(g, s, co);
        return 0;
    }
    co->all_next = s->all;
    if (s->all)
        s->all->all_prev = co;
    s->all = co;
    s->live++;
    if (opts->suspended) {
        co->state = WEFT__C_SUSPENDED;
    } else if (start_at) {
        co->start_at = start_at;
        co->waiter = &co->wait;
        co->state = WEFT__C_PARKED;
    } else {
        co->state = WEFT__C_READY;
        weft__runq_push(s, co);
    }
    if (out)
        *out = handle_of(co);
    return 0;
fail:
    if (co->heap_idx)
        weft__timer_remove(s, co);
    weft__free(co->name);
    co->name = NULL;
    co->next = s->free_coros;
    s->free_coros = co;
    s->free_len++;
    return err;
}

WEFT_API int weft_spawn(weft_coro *out, weft_coro_fn fn, void *arg, const weft_coro_opts *opts) {
    return spawn(NULL, out, fn, arg, opts, 0, __builtin_return_address(0));
}

int weft__spawn_in(weft_group *g, weft_coro *out, weft_coro_fn fn, void *arg,
                   const weft_coro_opts *opts, const void *site) {
    return spawn(g, out, fn, arg, opts, 0, site);
}

WEFT_API int weft_spawn_later(weft_coro *out, int64_t start, weft_coro_fn fn, void *arg,
                              const weft_coro_opts *opts) {
    if (weft__dl_forever(start) || (opts && opts->suspended))
        return -EINVAL;
    /* A start already past (0, negative, or reached) is a plain spawn. */
    return spawn(NULL, out, fn, arg, opts, weft__dl_passed(start) ? 0 : start,
                 __builtin_return_address(0));
}

/* weft_join of a handle that is not one of this thread's coroutines. */
static __attribute__((noinline)) int join_other(weft_coro c, int err, int64_t deadline,
                                                void **result) {
    weft__coro *co = resolve_any(c, &err);
    if (co && in_group(co))
        return weft__group_join(co, c.gen, deadline, result);
    return err;
}

WEFT_API int weft_join(weft_coro c, int64_t deadline, void **result) {
    weft__sched *s;
    int err = 0;
    weft__coro *co = resolve(c, &s, &err);
    if (unlikely(!co || in_group(co)))
        return join_other(c, err, deadline, result);
    if (co == s->current)
        return -EDEADLK;
    if (co->flags & (WEFT__F_MAIN | WEFT__F_DETACHED))
        return -EINVAL;
    if (co->joiner)
        return -EBUSY;
    if (co->state != WEFT__C_DONE) {
        weft__waiter *w = weft__waiter_begin(NULL, WEFT__W_JOIN);
        weft__why(WEFT__WHY_JOIN, co, 0);
        co->joiner = w;
        int r = weft__park(w, deadline);
        co->joiner = NULL;
        if (r < 0)
            return r;
    }
    if (result)
        *result = co->arg;
    release(s, co, false);
    return 0;
}

WEFT_API int weft_joinall(const weft_coro *cs, size_t n, int64_t deadline, void **results) {
    if (!cs && n)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        int r = weft_join(cs[i], deadline, results ? &results[i] : NULL);
        if (r < 0)
            return r;
    }
    return 0;
}

/* weft_wait_any (sync/watch.h): readiness, and the joiner slot as a watch. */
int weft__coro_watch(weft_coro c, weft__waiter *w) {
    weft__sched *s;
    int err;
    weft__coro *co = resolve_any(c, &err);
    if (co && in_group(co))
        return weft__group_watch(co, w);
    co = resolve(c, &s, &err);
    if (!co)
        return err;
    if (co == s->current)
        return -EDEADLK;
    if (co->flags & (WEFT__F_MAIN | WEFT__F_DETACHED))
        return -EINVAL;
    if (co->joiner && co->joiner != w)
        return -EBUSY;
    if (co->state == WEFT__C_DONE)
        return 1;
    if (w)
        co->joiner = w;
    return 0;
}

void weft__coro_unwatch(weft_coro c, weft__waiter *w) {
    weft__coro *co = c.p; /* watched: valid until joined, and only we may join it now */
    if (in_group(co)) {
        weft__group_unwatch(co, w);
        return;
    }
    if (co->joiner == w)
        co->joiner = NULL;
}

WEFT_API int weft_detach(weft_coro c) {
    weft__sched *s;
    int err;
    weft__coro *co = resolve_any(c, &err);
    if (co && in_group(co))
        return weft__group_detach(co, c.gen);
    co = resolve(c, &s, &err);
    if (!co)
        return err;
    if (co->flags & (WEFT__F_MAIN | WEFT__F_DETACHED))
        return -EINVAL;
    if (co->joiner)
        return -EBUSY;
    weft__coro_flag_set(co, WEFT__F_DETACHED);
    if (co->state == WEFT__C_DONE)
        weft__coro_release(s, co);
    return 0;
}

WEFT_API int weft_yield(void) {
    weft__sched *s = weft__sched_get();
    if (!s) {
        sched_yield();
        return 0;
    }
    weft__coro *co = s->current;
    if (co->flags & WEFT__F_CANCELLED)
        return -ECANCELED;
    if (in_group(co)) {
        weft__group_yield(s, co);
        return 0;
    }
    if (!s->runq_head) {
        weft__sched_poll(s, false);
        if (!s->runq_head)
            return 0;
    }
    weft__runq_push(s, co);
    weft__sched_block(s);
    return 0;
}

/* weft__park's last: a coroutine's sleep leaves no frame of its own on its stack
 * while it sleeps (a tail call). */
static inline int sleep_park(weft__waiter *local, int64_t deadline) {
    weft__waiter *w = weft__waiter_begin(local, WEFT__W_SLEEP);
    weft__why(WEFT__WHY_SLEEP, NULL, deadline);
    return weft__park(w, deadline);
}
/* A thread without a scheduler: its waiter on its stack, in a frame of its own,
 * so that a coroutine's sleep has none (a parked SHARED coroutine's stack is
 * copied aside, and a million sleepers carry what their frames hold). */
static __attribute__((noinline)) int sleep_plain(int64_t deadline) {
    weft__waiter local;
    return sleep_park(&local, deadline);
}

WEFT_API int weft_sleep_until(int64_t deadline) {
    if (weft__dl_forever(deadline))
        return -EINVAL;
    if (weft__dl_nowait(deadline))
        deadline = WEFT_NOWAIT; /* already past, like 0 */
    /* A plain thread sleeps on a waiter nobody claims, as a coroutine
     * parks: the same clock, and timeout scopes cut both. 0 once it slept its
     * time; -ETIMEDOUT if a timeout scope cut it (weft__park, WEFT__W_SLEEP). */
    if (!weft__sched_get())
        return sleep_plain(deadline);
    return sleep_park(NULL, deadline);
}

WEFT_API int weft_sleep(int64_t ns) { return weft_sleep_until(weft_after(ns)); }

WEFT_API weft_coro weft_self(void) {
    weft__sched *s = weft__sched_ensure();
    if (!s) {
        weft_coro none = {NULL, 0};
        return none;
    }
    return handle_of(s->current);
}

WEFT_API int weft_coro_equal(weft_coro a, weft_coro b) { return a.p == b.p && a.gen == b.gen; }

static weft__coro *peek(weft_coro c) {
    weft__coro *co = c.p;
    if (!co || atomic_load_explicit(&co->gen, memory_order_acquire) != c.gen)
        return NULL;
    return co;
}

WEFT_API uint64_t weft_coro_id(weft_coro c) {
    weft__coro *co = peek(c);
    return co ? co->id : 0;
}

WEFT_API const char *weft_coro_name(weft_coro c) {
    weft__coro *co = peek(c);
    if (!co)
        return NULL;
    return (co->flags & WEFT__F_MAIN) ? "main" : co->name;
}

WEFT_API int weft_coro_done(weft_coro c) {
    weft__coro *co = peek(c);
    if (!co)
        return -ESRCH;
    if (in_group(co))
        return __atomic_load_n(&co->gdone, __ATOMIC_ACQUIRE);
    return co->state == WEFT__C_DONE;
}

WEFT_API size_t weft_coro_count(void) {
    weft__sched *s = weft__sched_get();
    if (s && s->group) { /* the group's, less the caller (as a thread's, less main) */
        size_t n = weft__group_live(s->group);
        return n && s->current != s->main ? n - 1 : n;
    }
    return s ? s->live : 0;
}

/* weft_switch (err 0) and weft_throw (err < 0: what `to` receives). */
static int switch_to(weft_coro to, void *value, void **received, int thrown) {
    weft__sched *s;
    int err;
    weft__coro *t = resolve(to, &s, &err);
    if (!t)
        return err;
    weft__coro *co = s->current;
    if (in_group(t) || in_group(co))
        return -EXDEV; /* a group's coroutines are never switched to, nor switch */
    if (t == co)
        return -EDEADLK;
    if (t->state == WEFT__C_DONE)
        return -ESRCH;
    if (co->flags & WEFT__F_CANCELLED)
        return -ECANCELED;
    if (weft__sched_stalls(s, t)) {
        /* t needs the shared stack, which a waiting coroutine has pinned:
         * wait for it, then start over (t may have changed meanwhile). */
        weft__sched_wait_unpinned(s);
        return switch_to(to, value, received, thrown);
    }
    if (t->state == WEFT__C_SUSPENDED) {
        t->arg = value;
        t->status = thrown; /* a throw: it finishes without running fn */
    } else if (t->state == WEFT__C_PARKED && t->waiter && t->waiter->kind == WEFT__W_SWITCH) {
        /* A switch waiter is only ever claimed on its own thread (a switch, a
         * child's finish, weft_cancel): no atomic read-modify-write. */
        if (!weft__waiter_claim_local(t->waiter, thrown, 0))
            return -EBUSY;
        t->waiter->value = value;
    } else {
        return -EBUSY;
    }
    t->state = WEFT__C_READY;
    weft__waiter *w = weft__waiter_begin(NULL, WEFT__W_SWITCH);
    weft__why(WEFT__WHY_SWITCH, t, 0);
    co->why_since = s->stamp;
    co->waiter = w;
    co->state = WEFT__C_PARKED;
    weft__sched_switch(s, t);
    co->state = WEFT__C_READY;
    co->waiter = NULL;
    if (received)
        *received = w->value;
    return w->result;
}

WEFT_API int weft_switch(weft_coro to, void *value, void **received) {
    return switch_to(to, value, received, 0);
}

WEFT_API int weft_throw(weft_coro to, int err, void **received) {
    if (err >= 0)
        return -EINVAL;
    return switch_to(to, NULL, received, err);
}

/* A coroutine's parent if it is still there (not released), else NULL. */
static weft__coro *parent_of(weft__coro *co) {
    weft__coro *p = co->parent;
    if (p && atomic_load_explicit(&p->gen, memory_order_relaxed) != co->parent_gen)
        return NULL;
    return p;
}

WEFT_API int weft_coro_parent(weft_coro c, weft_coro *parent) {
    if (!parent)
        return -EINVAL;
    weft_coro none = {NULL, 0};
    *parent = none;
    weft__sched *s;
    int err;
    weft__coro *co = resolve(c, &s, &err);
    if (!co)
        return err;
    weft__coro *p = parent_of(co);
    if (p)
        *parent = handle_of(p);
    return 0;
}

WEFT_API int weft_coro_set_parent(weft_coro c, weft_coro parent) {
    weft__sched *s, *ps;
    int err;
    weft__coro *co = resolve(c, &s, &err);
    if (!co)
        return err;
    weft__coro *p = resolve(parent, &ps, &err);
    if (!p)
        return err;
    if (co->flags & WEFT__F_MAIN)
        return -EINVAL;
    /* No cycles: c must be neither p nor one of p's ancestors. */
    for (weft__coro *a = p; a; a = parent_of(a))
        if (a == co)
            return -EDEADLK;
    co->parent = p;
    co->parent_gen = parent.gen;
    return 0;
}

WEFT_API int weft_cancel(weft_coro c) {
    weft__sched *s;
    int err;
    weft__coro *co = resolve_any(c, &err);
    if (co && in_group(co))
        return weft__group_cancel(co);
    co = resolve(c, &s, &err);
    if (!co)
        return err;
    if (co->state == WEFT__C_DONE)
        return 0;
    weft__coro_flag_set(co, WEFT__F_CANCELLED);
    if (co->state == WEFT__C_SUSPENDED) {
        co->state = WEFT__C_READY; /* it finishes without running */
        weft__runq_push(s, co);
    } else if (co->state == WEFT__C_PARKED && co->waiter && co->waiter->kind != WEFT__W_NOCANCEL &&
               weft__waiter_claim(co->waiter, -ECANCELED, 0)) {
        weft__waiter_wake(co->waiter);
    }
    return 0;
}

WEFT_API int weft_cancelled(void) {
    weft__sched *s = weft__sched_get();
    return s && (s->current->flags & WEFT__F_CANCELLED) ? 1 : 0;
}
