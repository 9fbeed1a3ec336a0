/* Worker groups: N threads that share coroutines (M:N scheduling).
 *
 * Each worker is an ordinary thread with its ordinary scheduler (poller, timers,
 * fd table, stacks), plus: a stealable ring (coro/stealq.c), a next slot for the
 * coroutine it woke last, and the group's injection queue and idle stack.
 *
 * Where a woken group coroutine goes (weft__group_ready):
 *  - if its park left state in the worker it parked on (a timer, an fd wait, a pin,
 *    or it is a SHARED coroutine that has run: `affine`), back to that worker, as a
 *    coroutine outside a group (its run queue or inbox);
 *  - else, woken by a worker of its group: that worker's next slot (the one there
 *    before moves to its ring), so a producer and its consumer stay on one core;
 *  - else (woken from outside the group): the injection queue, and an idle worker
 *    is woken.
 * With WEFT_GROUP_MIGRATE=always, every wake goes to the next worker's inbox, so that
 * each park resumes on another thread.
 *
 * Changing thread: a worker takes a coroutine (take()) only once the worker that
 * ran it last has switched off its stack (`oncpu`, cleared by that worker right
 * after its switch lands, release); it then re-reads `affine` (written by the
 * coroutine before it switched off) and sends it home if it must resume there.
 *
 * Idle: a worker with nothing to run switches to its main coroutine (the idle loop
 * below, so that no coroutine's stack stays "on cpu" while its worker sleeps),
 * spins a little if fewer than half the workers already do, then pushes itself on
 * the idle stack, looks at every queue once more (wakers push work before they
 * look at the idle count; both sides fence) and sleeps in its poller (its own fds
 * and timers still wake it). An idle group makes no system calls. */
#include "coro/group.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static inline weft_group *group_of(weft__sched *s) { return s ? s->group : NULL; }

/* ---- queues ------------------------------------------------------------ */

static void inj_push_list(weft_group *g, weft__coro *head, weft__coro *tail, unsigned n) {
    tail->next = NULL;
    weft__spin_lock(&g->inj_lock);
    if (g->inj_tail)
        g->inj_tail->next = head;
    else
        g->inj_head = head;
    g->inj_tail = tail;
    atomic_fetch_add_explicit(&g->inj_len, n, memory_order_relaxed);
    weft__spin_unlock(&g->inj_lock);
}

static weft__coro *inj_pop(weft_group *g) {
    if (!atomic_load_explicit(&g->inj_len, memory_order_relaxed))
        return NULL;
    weft__spin_lock(&g->inj_lock);
    weft__coro *co = g->inj_head;
    if (co) {
        g->inj_head = co->next;
        if (!g->inj_head)
            g->inj_tail = NULL;
        atomic_fetch_sub_explicit(&g->inj_len, 1, memory_order_relaxed);
    }
    weft__spin_unlock(&g->inj_lock);
    return co;
}

/* Work another worker could take: the injection queue, or a ring. */
static bool work_visible(weft_group *g) {
    if (atomic_load(&g->inj_len))
        return true;
    for (unsigned i = 0; i < g->n; i++)
        if (weft__stealq_len(&g->w[i].q))
            return true;
    return false;
}

static void wake_one(weft_group *g) {
    weft__spin_lock(&g->idle_lock);
    weft__worker *w = g->idle_top;
    if (w) {
        g->idle_top = w->idle_next;
        w->idle = 0;
        atomic_fetch_sub(&g->nidle, 1);
        /* It wakes up searching: no other worker is woken until it gives up or
         * finds work (then it wakes the next one if there is more). */
        atomic_fetch_add(&g->spinning, 1);
    }
    weft__spin_unlock(&g->idle_lock);
    if (w)
        weft__poller_wake(w->s->poller);
}

/* After making work available to other workers. The read of nidle is a
 * read-modify-write: a worker going idle increments it and then looks at the
 * queues, so either it sees our work or we see it idle (both are ordered on
 * nidle itself; a fence would do on paper, but ThreadSanitizer does not model
 * fences). */
static inline void wake_check(weft_group *g) {
    if (atomic_fetch_add_explicit(&g->nidle, 0, memory_order_acq_rel) &&
        !atomic_load_explicit(&g->spinning, memory_order_relaxed))
        wake_one(g);
}

/* Appends co to w's ring; a full ring's older half goes to the injection queue.
 * Only plain loads decide whether to wake a worker: a wake missed in the race with
 * a worker going idle costs parallelism for a moment, never progress, since the
 * owner runs its ring itself (the injection queue's pushes from outside must not
 * miss one: wake_check). */
static void ring_push(weft__worker *w, weft__coro *co) {
    void *spill[WEFT__STEALQ_CAP / 2 + 1];
    unsigned n = weft__stealq_push(&w->q, co, spill);
    weft_group *g = w->g;
    if (n) {
        for (unsigned i = 0; i + 1 < n; i++)
            ((weft__coro *)spill[i])->next = spill[i + 1];
        inj_push_list(g, spill[0], spill[n - 1], n);
    }
    if (atomic_load_explicit(&g->nidle, memory_order_relaxed) &&
        !atomic_load_explicit(&g->spinning, memory_order_relaxed))
        wake_one(g);
}

static weft__worker *migrate_target(weft_group *g, weft__coro *co) {
    weft__sched *o = atomic_load_explicit(&co->sched, memory_order_relaxed);
    unsigned i = o->worker ? o->worker->idx + 1 : atomic_fetch_add(&g->rr, 1);
    return &g->w[i % g->n];
}

void weft__group_ready(weft__coro *co) {
    weft__sched *o = atomic_load_explicit(&co->sched, memory_order_relaxed);
    if (atomic_load_explicit(&co->affine, memory_order_relaxed) || !o->group) {
        /* Back where it parked (a hint read early: take() checks again). */
        weft__sched_push(o, co);
        return;
    }
    weft_group *g = o->group;
    if (unlikely(g->migrate)) {
        weft__sched_push(migrate_target(g, co)->s, co);
        return;
    }
    weft__sched *s = weft__tls_sched;
    if (s && s->group == g) {
        weft__worker *w = s->worker;
        weft__coro *old = w->next;
        w->next = co;
        w->next_spawned = 0;
        if (old)
            ring_push(w, old);
        return;
    }
    inj_push_list(g, co, co, 1);
    wake_check(g);
}

/* ---- taking a coroutine to run ------------------------------------------ */

/* Makes co (taken from a queue by s's worker) s's to run: false if it must run
 * elsewhere (sent home), later (the shared stack is pinned), or from the worker's main
 * coroutine: a coroutine another worker has not switched off yet is waited for only
 * there. Waiting for it on the stack of a coroutine that is parking would hold that
 * one "on cpu" meanwhile, and two workers could each wait for the other's. */
static bool take(weft__sched *s, weft__coro *co) {
    if (atomic_load_explicit(&co->flags, memory_order_relaxed) & WEFT__F_GROUP) {
        weft__sched *o = atomic_load_explicit(&co->sched, memory_order_relaxed);
        if (o != s) {
            if (atomic_load_explicit(&co->oncpu, memory_order_acquire)) {
                if (s->current != s->main) {
                    co->next = s->worker->deferred;
                    s->worker->deferred = co;
                    return false;
                }
                while (atomic_load_explicit(&co->oncpu, memory_order_acquire))
                    weft__cpu_relax();
            }
            if (atomic_load_explicit(&co->affine, memory_order_relaxed)) {
                weft__sched_push(o, co);
                return false;
            }
            atomic_store_explicit(&co->sched, s, memory_order_release);
        }
    }
    if (weft__sched_stalls(s, co)) {
        weft__sched_stall(s, co);
        return false;
    }
    return true;
}

static weft__coro *steal_any(weft__sched *s) {
    weft__worker *w = s->worker;
    weft_group *g = w->g;
    unsigned n = g->n;
    if (n < 2)
        return NULL;
    unsigned start = (unsigned)(weft__sched_rand(s) % n);
    for (unsigned k = 0; k < n; k++) {
        weft__worker *v = &g->w[(start + k) % n];
        if (v == w)
            continue;
        weft__coro *co = weft__stealq_steal(&w->q, &v->q);
        if (co)
            return co;
    }
    return NULL;
}

/* The next coroutine s's worker should run, taken; NULL if there is none. */
static weft__coro *next_runnable(weft__sched *s) {
    weft__worker *w = s->worker;
    weft_group *g = w->g;
    if (unlikely((++s->ticks & 63) == 0))
        weft__sched_poll(s, false);
    for (;;) {
        weft__coro *co = NULL;
        /* The run queue (coroutines that resume here: woken from a timed or fd wait,
         * pinned, SHARED, or a yield of one of those) takes turns with the group's
         * queues, so that neither can keep the other waiting. */
        bool runq_first = s->ticks & 1;
        if (unlikely(w->deferred != NULL)) {
            /* Deferred ones come first, and only the main coroutine may wait for
             * them: from any other, switch to main (it takes them next). */
            if (s->current != s->main)
                return NULL;
            co = w->deferred;
            w->deferred = co->next;
        } else if (runq_first && s->runq_head) {
            co = weft__runq_pop(s);
        } else if (unlikely(s->ticks % 61 == 0)) {
            co = inj_pop(g); /* the injection queue is not starved by local work */
        }
        if (!co && w->next && w->streak < 64) {
            co = w->next;
            w->next = NULL;
            if (!w->next_spawned) /* a wake-up inherits the waker's turn */
                w->streak++;
        }
        if (!co) {
            w->streak = 0;
            co = weft__stealq_pop(&w->q);
        }
        if (!co && s->runq_head)
            co = weft__runq_pop(s);
        if (!co && w->next) {
            co = w->next;
            w->next = NULL;
        }
        if (!co)
            co = inj_pop(g);
        if (!co)
            co = steal_any(s);
        if (!co)
            return NULL;
        if (take(s, co))
            return co;
    }
}

void weft__group_block(weft__sched *s) {
    weft__coro *co = next_runnable(s);
    /* Nothing: the idle loop runs in the worker's main coroutine. */
    weft__sched_switch(s, co ? co : s->main);
}

void weft__group_yield(weft__sched *s, weft__coro *co) {
    if (co->pins || (atomic_load_explicit(&co->affine, memory_order_relaxed) & WEFT__AFF_ALWAYS))
        weft__runq_push(s, co);
    else
        ring_push(s->worker, co);
    weft__group_block(s);
}

/* ---- the workers ---------------------------------------------------------- */

static void end_spin(weft_group *g, weft__worker *w, bool found) {
    if (!w->spinning)
        return;
    w->spinning = 0;
    /* The last searcher that found work wakes another for what is left. */
    if (atomic_fetch_sub(&g->spinning, 1) == 1 && found)
        wake_check(g);
}

static bool local_work(weft__sched *s) {
    return s->runq_head || s->worker->next || s->worker->deferred ||
           weft__stealq_len(&s->worker->q) ||
           atomic_load_explicit(&s->inbox, memory_order_relaxed);
}

static void idle(weft__sched *s) {
    weft__worker *w = s->worker;
    weft_group *g = w->g;
    weft__sched_poll(s, false);
    if (local_work(s)) {
        end_spin(g, w, true);
        return;
    }
    if (!w->spinning && 2 * atomic_load(&g->spinning) < g->n) {
        atomic_fetch_add(&g->spinning, 1);
        w->spinning = 1;
    }
    if (w->spinning) {
        for (int i = 0; i < 64; i++) {
            if (work_visible(g) || local_work(s)) {
                end_spin(g, w, true);
                return;
            }
            for (int k = 0; k < 32; k++)
                weft__cpu_relax();
        }
        end_spin(g, w, false);
    }
    weft__spin_lock(&g->idle_lock);
    w->idle = 1;
    w->idle_next = g->idle_top;
    g->idle_top = w;
    atomic_fetch_add(&g->nidle, 1); /* before looking again: see wake_check */
    weft__spin_unlock(&g->idle_lock);
    if (!work_visible(g) && !atomic_load(&g->stop))
        weft__sched_poll(s, true);
    weft__spin_lock(&g->idle_lock);
    if (w->idle) {
        weft__worker **pp = &g->idle_top;
        while (*pp != w)
            pp = &(*pp)->idle_next;
        *pp = w->idle_next;
        w->idle = 0;
        atomic_fetch_sub(&g->nidle, 1);
    } else {
        w->spinning = 1; /* wake_one counted us as searching */
    }
    weft__spin_unlock(&g->idle_lock);
}

static void *worker_main(void *arg) {
    weft__worker *w = arg;
    weft_group *g = w->g;
    char name[16];
    snprintf(name, sizeof name, "weft-g%u", w->idx);
    prctl(PR_SET_NAME, name, 0, 0, 0);
    weft__sched *s = weft__sched_ensure();
    int err = s ? weft__shared_init(s) : -ENOMEM;
    if (!err) {
        s->group = g;
        s->worker = w;
        w->s = s;
    }
    pthread_mutex_lock(&g->start_lock);
    if (err && !g->start_err)
        g->start_err = err;
    g->started++;
    pthread_cond_broadcast(&g->start_cond);
    while (g->started < g->n && !g->start_err)
        pthread_cond_wait(&g->start_cond, &g->start_lock);
    err = g->start_err;
    pthread_mutex_unlock(&g->start_lock);
    if (err)
        return NULL;
    while (!atomic_load_explicit(&g->stop, memory_order_acquire)) {
        weft__coro *co = next_runnable(s);
        if (co) {
            end_spin(g, w, true);
            weft__sched_switch(s, co);
        } else {
            idle(s);
        }
    }
    s->group = NULL;
    s->worker = NULL;
    return NULL;
}

/* ---- lists, spawning, finishing ----------------------------------------- */

void weft__group_add(weft_group *g, weft__sched *s, weft__coro *co) {
    weft__worker *w = s->group == g ? s->worker : NULL;
    if (w)
        atomic_store_explicit(&w->spawned,
                              atomic_load_explicit(&w->spawned, memory_order_relaxed) + 1,
                              memory_order_relaxed);
    else
        atomic_fetch_add(&g->outside, 1);
    co->home = (uint16_t)(w ? w->idx : g->n);
    weft__glist *l = &g->lists[co->home];
    weft__spin_lock(&l->lock);
    co->all_prev = NULL;
    co->all_next = l->head;
    if (l->head)
        l->head->all_prev = co;
    l->head = co;
    weft__spin_unlock(&l->lock);
    if (co->start_at) {
        /* weft_spawn_later: its timer is in s until it starts; weft_cancel can
         * end that first park, as any other. */
        atomic_store_explicit(&co->affine, WEFT__AFF_PARK, memory_order_relaxed);
        weft__group_cancel_begin(co);
        return;
    }
    if (g->migrate) {
        weft__sched_push(migrate_target(g, co)->s, co);
    } else if (w) {
        /* The newest spawn runs next (the one it displaces goes to the ring, where
         * others may steal it): a tree of spawns is then walked depth first on each
         * worker, and the oldest, biggest subtrees are what thieves take. */
        weft__coro *old = w->next;
        w->next = co;
        w->next_spawned = 1;
        if (old)
            ring_push(w, old);
    } else {
        inj_push_list(g, co, co, 1);
        wake_check(g);
    }
}

/* The group of a coroutine that has run (every finished one has: a coroutine
 * cancelled before it starts still ends on a worker). */
static weft_group *group_of_run(weft__coro *co) {
    return atomic_load_explicit(&co->sched, memory_order_acquire)->group;
}

static void unlist(weft_group *g, weft__coro *co) {
    weft__glist *l = &g->lists[co->home];
    weft__spin_lock(&l->lock);
    if (co->all_prev)
        co->all_prev->all_next = co->all_next;
    else
        l->head = co->all_next;
    if (co->all_next)
        co->all_next->all_prev = co->all_prev;
    weft__spin_unlock(&l->lock);
    co->all_prev = co->all_next = NULL;
}

void weft__group_unlist(weft__coro *co) { unlist(group_of_run(co), co); }

/* Join, detach, watch and the reaper agree under one of these, picked by the
 * control block's address. */
static struct {
    weft__spin l;
} __attribute__((aligned(64))) stripes[64];
static inline weft__spin *stripe(const weft__coro *co) {
    return &stripes[((uintptr_t)co / sizeof(weft__coro)) % 64].l;
}

/* The count without a shared counter (two workers spawning and finishing would
 * fight over its cache line at every coroutine): each worker counts what it spawned
 * and what finished on it, spawns from outside have a counter of their own. Reading
 * every `finished` first and every spawn counter after gives a count that is never
 * too low: a finish counted was preceded by its spawn, which the later reads see.
 * So 0 means that at the time of the first reads every coroutine had finished. */
size_t weft__group_live(weft_group *g) {
    uint64_t fin = 0, sp = 0;
    for (unsigned i = 0; i < g->n; i++)
        fin += atomic_load(&g->w[i].finished);
    for (unsigned i = 0; i < g->n; i++)
        sp += atomic_load(&g->w[i].spawned);
    sp += atomic_load(&g->outside);
    return sp > fin ? (size_t)(sp - fin) : 0;
}

/* A finish on w: counted (seq_cst, against nwaiters: a waiter registers, then
 * counts), and waiters woken if it was the last. */
static void live_down(weft_group *g, weft__worker *w) {
    atomic_store(&w->finished, atomic_load_explicit(&w->finished, memory_order_relaxed) + 1);
    if (atomic_load(&g->nwaiters) && weft__group_live(g) == 0) {
        weft__spin_lock(&g->wait_lock);
        weft__wq_wake_all(&g->waiters, &g->wait_lock, 0); /* unlocks */
    }
}

/* Waits (the wait_lock held, released) until g has no coroutine left. */
static int wait_empty(weft_group *g, int64_t deadline, int kind) {
    atomic_fetch_add(&g->nwaiters, 1);
    int r = 0;
    if (weft__group_live(g)) {
        r = weft__wq_wait(&g->waiters, &g->wait_lock, false, 0, NULL, deadline, NULL, kind);
        if (r > 0)
            r = 0;
    } else {
        weft__spin_unlock(&g->wait_lock);
    }
    atomic_fetch_sub(&g->nwaiters, 1);
    return r;
}

void weft__group_finished(weft__sched *s, weft__coro *co) {
    weft_group *g = s->group;
    co->state = WEFT__C_DONE;
    if (atomic_load(&co->flags) & WEFT__F_DETACHED) {
        /* Detached already: join, watch and detach refuse it without the lock, and a
         * detach that set the flag under the lock saw it unfinished (gdone is 0). */
        weft__coro_release(s, co);
        live_down(g, s->worker);
        return;
    }
    weft__spin *l = stripe(co);
    weft__spin_lock(l);
    __atomic_store_n(&co->gdone, 1, __ATOMIC_RELEASE);
    bool det = atomic_load(&co->flags) & WEFT__F_DETACHED;
    weft__waiter *j = co->joiner;
    bool woke = !det && j && weft__waiter_claim(j, 0, 0);
    weft__spin_unlock(l);
    if (det)
        weft__coro_release(s, co);
    /* Counted out before the joiner resumes (it may look at the count), and
     * after the release (weft_group_destroy releases what is left once the
     * count is 0). co is not touched from here on. */
    live_down(g, s->worker);
    if (woke)
        weft__waiter_wake(j);
}

static inline bool is_done(const weft__coro *co) {
    return __atomic_load_n(&co->gdone, __ATOMIC_ACQUIRE);
}

/* gdone: 0 running, 1 finished and off its stack, 2 taken by the one party that
 * releases it (a join, a detach, or weft_group_destroy), all under its stripe lock
 * with the handle's generation checked again: two threads joining one handle at once
 * get one result and one -ESRCH, never a double release. */
static inline bool same_gen(const weft__coro *co, uint64_t gen) {
    return atomic_load_explicit(&co->gen, memory_order_acquire) == gen;
}

int weft__group_join(weft__coro *co, uint64_t gen, int64_t deadline, void **result) {
    weft__sched *s = weft__sched_ensure(); /* for the block's free list */
    if (!s)
        return -ENOMEM;
    if (!same_gen(co, gen))
        return -ESRCH; /* released meanwhile: the block may even be ours now */
    if (co == s->current)
        return -EDEADLK;
    if (atomic_load(&co->flags) & WEFT__F_DETACHED)
        return -EINVAL;
    weft__spin *l = stripe(co);
    weft__spin_lock(l);
    if (!same_gen(co, gen)) {
        weft__spin_unlock(l);
        return -ESRCH;
    }
    if (!is_done(co)) {
        if (co->joiner) {
            weft__spin_unlock(l);
            return -EBUSY;
        }
        weft__waiter local;
        weft__waiter *w = weft__waiter_begin(&local, WEFT__W_OTHER);
        weft__why(WEFT__WHY_JOIN, co, 0);
        co->joiner = w;
        weft__spin_unlock(l);
        int r = weft__park(w, deadline);
        weft__spin_lock(l);
        if (co->joiner == w)
            co->joiner = NULL;
        if (r < 0) {
            weft__spin_unlock(l);
            return r;
        }
    }
    if (!same_gen(co, gen) || __atomic_load_n(&co->gdone, __ATOMIC_ACQUIRE) != 1) {
        weft__spin_unlock(l);
        return -ESRCH; /* another party took it */
    }
    __atomic_store_n(&co->gdone, 2, __ATOMIC_RELEASE);
    weft__spin_unlock(l);
    if (result)
        *result = co->arg;
    weft__coro_release(weft__sched_here(), co);
    return 0;
}

int weft__group_detach(weft__coro *co, uint64_t gen) {
    weft__sched *s = weft__sched_ensure();
    if (!s)
        return -ENOMEM;
    weft__spin *l = stripe(co);
    weft__spin_lock(l);
    int r = 0;
    bool take = false;
    if (!same_gen(co, gen) || __atomic_load_n(&co->gdone, __ATOMIC_ACQUIRE) == 2) {
        r = -ESRCH;
    } else if (co->joiner) {
        r = -EBUSY;
    } else if (atomic_load(&co->flags) & WEFT__F_DETACHED) {
        r = -EINVAL;
    } else {
        weft__coro_flag_set(co, WEFT__F_DETACHED);
        if (is_done(co)) {
            __atomic_store_n(&co->gdone, 2, __ATOMIC_RELEASE);
            take = true;
        }
    }
    weft__spin_unlock(l);
    if (take)
        weft__coro_release(s, co);
    return r;
}

int weft__group_watch(weft__coro *co, weft__waiter *w) {
    weft__sched *s = weft__sched_get();
    if (s && co == s->current)
        return -EDEADLK;
    if (atomic_load(&co->flags) & WEFT__F_DETACHED)
        return -EINVAL;
    weft__spin *l = stripe(co);
    weft__spin_lock(l);
    int r = 0;
    if (co->joiner && co->joiner != w)
        r = -EBUSY;
    else if (is_done(co))
        r = 1;
    else if (w)
        co->joiner = w;
    weft__spin_unlock(l);
    return r;
}

void weft__group_unwatch(weft__coro *co, weft__waiter *w) {
    weft__spin *l = stripe(co);
    weft__spin_lock(l);
    if (co->joiner == w)
        co->joiner = NULL;
    weft__spin_unlock(l);
}

/* Cancelling a group coroutine from any thread. Its parks that cancellation may end
 * raise cancel_st (a plain store), then read the cancelled flag; a cancel sets the flag,
 * makes every thread pass a barrier (membarrier: the park side pays nothing), then reads
 * cancel_st: one of the two sees the other. A claim may reach a later park of the same
 * coroutine than the one it saw (its waiter is always `wait`): a park that cancellation
 * may end, which the sticky flag ends anyway; waits cancellation must not end wait first
 * for cancel_busy to drop (weft__group_nocancel_begin). Cancels of one coroutine are one
 * at a time (its stripe lock). Without membarrier both sides are seq_cst. */
int weft__group_cancel(weft__coro *co) {
    weft__spin *l = stripe(co);
    weft__spin_lock(l);
    if (is_done(co)) {
        weft__coro_flag_set(co, WEFT__F_CANCELLED);
        weft__spin_unlock(l);
        return 0;
    }
    atomic_store(&co->cancel_busy, 1);
    weft__coro_flag_set(co, WEFT__F_CANCELLED); /* seq_cst */
    if (weft__asym_ok())
        weft__asym_barrier();
    if (atomic_load(&co->cancel_st) && weft__waiter_claim(&co->wait, -ECANCELED, 0))
        weft__waiter_wake(&co->wait);
    atomic_store_explicit(&co->cancel_busy, 0, memory_order_release);
    weft__spin_unlock(l);
    return 0;
}

/* ---- the list of groups (weft_dump) --------------------------------------- */

static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;
static weft_group *groups;

bool weft__group_each(bool try_only, void (*fn)(weft_group *g, void *arg), void *arg) {
    if (try_only) {
        int i = 0;
        while (pthread_mutex_trylock(&groups_lock) != 0)
            if (++i == 100)
                return false;
            else
                sched_yield();
    } else {
        pthread_mutex_lock(&groups_lock);
    }
    for (weft_group *g = groups; g; g = g->reg_next)
        fn(g, arg);
    pthread_mutex_unlock(&groups_lock);
    return true;
}

static void groups_add(weft_group *g) {
    pthread_mutex_lock(&groups_lock);
    g->reg_next = groups;
    groups = g;
    pthread_mutex_unlock(&groups_lock);
}

static void groups_remove(weft_group *g) {
    pthread_mutex_lock(&groups_lock);
    for (weft_group **pp = &groups; *pp; pp = &(*pp)->reg_next)
        if (*pp == g) {
            *pp = g->reg_next;
            break;
        }
    pthread_mutex_unlock(&groups_lock);
}

/* ---- the public calls --------------------------------------------------- */

static unsigned usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return (unsigned)n;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static int check(weft_group *g) {
    if (!g || g->tag != WEFT__GROUP_MAGIC)
        return -EINVAL;
    return 0;
}

static void stop_workers(weft_group *g, unsigned started) {
    /* A worker frees its scheduler when it exits (once no waker is inside a wake of
     * it): announce ourselves as wakers before it may see `stop`. */
    for (unsigned i = 0; i < started; i++)
        if (g->w[i].s)
            weft__sched_pin(g->w[i].s);
    atomic_store_explicit(&g->stop, 1, memory_order_release);
    for (unsigned i = 0; i < started; i++)
        if (g->w[i].s) {
            weft__poller_wake(g->w[i].s->poller);
            atomic_fetch_sub_explicit(&g->w[i].s->wakers, 1, memory_order_release);
        }
    for (unsigned i = 0; i < started; i++)
        pthread_join(g->w[i].thread, NULL);
}

/* Stops the `started` workers and frees g. */
static void group_end(weft_group *g, unsigned started) {
    stop_workers(g, started);
    g->tag = 0;
    pthread_mutex_destroy(&g->start_lock);
    pthread_cond_destroy(&g->start_cond);
    free(g->lists);
    free(g->w);
    weft__free(g);
}

WEFT_API int weft_group_create(weft_group **out, const weft_group_opts *opts) {
    static const weft_group_opts defaults;
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if (opts->threads > WEFT__GROUP_MAX || (opts->migrate != 0 && opts->migrate != 1))
        return -EINVAL;
    unsigned n = opts->threads ? opts->threads : usable_cpus();
    if (n > WEFT__GROUP_MAX)
        n = WEFT__GROUP_MAX;
    weft_group *g = weft__calloc(1, sizeof *g);
    if (!g)
        return -ENOMEM;
    g->w = NULL;
    if (posix_memalign((void **)&g->w, 64, n * sizeof *g->w) != 0 ||
        posix_memalign((void **)&g->lists, 64, (n + 1) * sizeof *g->lists) != 0) {
        free(g->w);
        weft__free(g);
        return -ENOMEM;
    }
    memset(g->w, 0, n * sizeof *g->w);
    memset(g->lists, 0, (n + 1) * sizeof *g->lists);
    g->tag = WEFT__GROUP_MAGIC;
    g->n = n;
    const char *env = getenv("WEFT_GROUP_MIGRATE");
    g->migrate = opts->migrate || (env && strcmp(env, "always") == 0);
    if (n < 2)
        g->migrate = 0; /* nowhere to go */
    pthread_mutex_init(&g->start_lock, NULL);
    pthread_cond_init(&g->start_cond, NULL);
    unsigned made = 0;
    int err = 0;
    for (; made < n; made++) {
        weft__worker *w = &g->w[made];
        weft__stealq_init(&w->q);
        w->g = g;
        w->idx = made;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, 256 * 1024);
        int e = pthread_create(&w->thread, &attr, worker_main, w);
        pthread_attr_destroy(&attr);
        if (e) {
            err = -e;
            break;
        }
    }
    pthread_mutex_lock(&g->start_lock);
    if (err && !g->start_err)
        g->start_err = err;
    while (g->started < made)
        pthread_cond_wait(&g->start_cond, &g->start_lock);
    err = g->start_err;
    pthread_cond_broadcast(&g->start_cond);
    pthread_mutex_unlock(&g->start_lock);
    if (err) {
        group_end(g, made);
        return err;
    }
    groups_add(g);
    *out = g;
    return 0;
}

WEFT_API int weft_group_spawn(weft_group *g, weft_coro *out, weft_coro_fn fn, void *arg,
                              const weft_coro_opts *opts) {
    int e = check(g);
    if (e)
        return e;
    return weft__spawn_in(g, out, fn, arg, opts, __builtin_return_address(0));
}

WEFT_API weft_group *weft_group_self(void) { return group_of(weft__sched_get()); }

WEFT_API int weft_group_threads(weft_group *g) {
    int e = check(g);
    return e ? e : (int)g->n;
}

WEFT_API size_t weft_group_count(weft_group *g) {
    return check(g) ? 0 : weft__group_live(g);
}

WEFT_API int weft_group_wait(weft_group *g, int64_t deadline) {
    int e = check(g);
    if (e)
        return e;
    if (group_of(weft__sched_get()) == g)
        return -EDEADLK;
    weft__spin_lock(&g->wait_lock);
    return wait_empty(g, deadline, WEFT__W_OTHER);
}

WEFT_API int weft_group_destroy(weft_group *g) {
    int e = check(g);
    if (e)
        return e;
    if (group_of(weft__sched_get()) == g)
        return -EDEADLK;
    if (atomic_exchange(&g->closed, 1))
        return -EINVAL; /* another destroy is under way */
    /* Cancel what is left, then wait for all of it (cancellation cannot reach a
     * coroutine that never blocks: it is waited for all the same). */
    for (unsigned i = 0; i <= g->n; i++) {
        weft__glist *l = &g->lists[i];
        weft__spin_lock(&l->lock);
        for (weft__coro *co = l->head; co; co = co->all_next)
            weft__group_cancel(co);
        weft__spin_unlock(&l->lock);
    }
    while (weft__group_live(g)) {
        weft__spin_lock(&g->wait_lock);
        (void)wait_empty(g, WEFT_FOREVER, WEFT__W_NOCANCEL);
    }
    /* Finished coroutines nobody joined: released, their handles go stale. One that
     * a join or detach is taking meanwhile is left to it (and waited for). */
    weft__sched *s = weft__sched_ensure();
    for (unsigned i = 0; i <= g->n; i++) {
        weft__glist *l = &g->lists[i];
        for (;;) {
            weft__spin_lock(&l->lock);
            weft__coro *co = l->head;
            weft__spin_unlock(&l->lock);
            if (!co)
                break;
            weft__spin *sl = stripe(co);
            weft__spin_lock(sl);
            bool take = __atomic_load_n(&co->gdone, __ATOMIC_ACQUIRE) == 1 && !co->joiner &&
                        !(atomic_load(&co->flags) & WEFT__F_DETACHED);
            if (take)
                __atomic_store_n(&co->gdone, 2, __ATOMIC_RELEASE);
            weft__spin_unlock(sl);
            if (!take)
                sched_yield();
            else if (s)
                weft__coro_release(s, co);
            else
                unlist(g, co);
        }
    }
    groups_remove(g);
    group_end(g, g->n);
    return 0;
}

WEFT_API int weft_coro_pin(void) {
    weft__sched *s = weft__sched_ensure();
    if (!s)
        return -ENOMEM;
    weft__coro *co = s->current;
    if (co->pins >= INT16_MAX)
        return -EOVERFLOW;
    co->pins++;
    return 0;
}

WEFT_API int weft_coro_unpin(void) {
    weft__sched *s = weft__sched_get();
    if (!s || !s->current->pins)
        return -EINVAL;
    s->current->pins--;
    return 0;
}
