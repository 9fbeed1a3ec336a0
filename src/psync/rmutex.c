/* weft__rmutex: glibc's robust, process-shared mutex, waited on so that a
 * coroutine parks only itself.
 *
 * Ownership and death detection are the kernel's robust-futex protocol as
 * the libc implements it: the mutex word (the first int of pthread_mutex_t
 * in glibc, the second in musl; found at run time, see lock_word_index)
 * holds the owner's thread id,
 * FUTEX_WAITERS when someone sleeps on it, and FUTEX_OWNER_DIED once the
 * kernel found the owner dead; the kernel then wakes one waiter. A plain
 * thread waiting without a deadline simply calls pthread_mutex_lock.
 * Otherwise (a deadline, or a thread with a scheduler, which must not block
 * in the kernel) the caller tries the lock, sets FUTEX_WAITERS the way
 * glibc's own waiters do (so the unlocker issues a FUTEX_WAKE), and waits on
 * the word through weft__pfutex_wait (which parks only the coroutine).
 *
 * Whoever acquires the mutex after having waited must leave FUTEX_WAITERS
 * set, as glibc's waiters do: other waiters may still sleep on the word, and
 * an unlock that does not see the bit wakes nobody. glibc's trylock stores
 * the bare thread id, so every path below that returns ownership after a
 * wait ORs the bit back in. */
#include "psync/rmutex.h"

#include <linux/futex.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static WEFT_TLS uint32_t tls_tid;
static pthread_once_t tid_once = PTHREAD_ONCE_INIT;

/* In a forked child only the forking thread exists, and its id changed. */
static void tid_atfork_child(void) { tls_tid = 0; }
static void tid_setup(void) { pthread_atfork(NULL, NULL, tid_atfork_child); }

/* The kernel thread id, cached per thread (a system call only the first
 * time: getpid() is not cached by glibc, so it cannot guard the cache). */
static uint32_t my_tid(void) {
    if (unlikely(tls_tid == 0)) {
        pthread_once(&tid_once, tid_setup);
        tls_tid = (uint32_t)syscall(SYS_gettid);
    }
    return tls_tid;
}

int weft__rmutex_init_type(weft__rmutex *m, int recursive) {
    pthread_mutexattr_t a;
    int r = pthread_mutexattr_init(&a);
    if (r)
        return -r;
    if ((r = pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED)) == 0 &&
        (r = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST)) == 0 &&
        (r = pthread_mutexattr_settype(&a, recursive ? PTHREAD_MUTEX_RECURSIVE
                                                     : PTHREAD_MUTEX_NORMAL)) == 0)
        r = pthread_mutex_init(&m->m, &a);
    pthread_mutexattr_destroy(&a);
    return -r;
}

int weft__rmutex_init(weft__rmutex *m) { return weft__rmutex_init_type(m, 0); }

void weft__rmutex_destroy(weft__rmutex *m) { pthread_mutex_destroy(&m->m); }

/* Which int of pthread_mutex_t is the robust futex word is the libc's
 * business (glibc: the first; musl: the second, after the type). It is
 * found once, by what only that word shows: a thread locks a robust mutex
 * and exits holding it; the word held its id, and the libc or the kernel
 * (whichever walks the robust list) replaces that by FUTEX_OWNER_DIED (plus
 * FUTEX_WAITERS, if set); other fields (glibc's __owner) keep the bare id. Where no death is
 * reported (qemu-user has no robust list), the first int that held the
 * owner's id while locked. */
#define NWORDS (sizeof(pthread_mutex_t) / sizeof(uint32_t))
static pthread_once_t g_layout_once = PTHREAD_ONCE_INIT;
static size_t g_word_index;

struct layout_probe {
    pthread_mutex_t *mu;
    uint32_t tid;
    uint32_t held[NWORDS];
};

static void *layout_probe_thread(void *arg) {
    struct layout_probe *p = arg;
    p->tid = (uint32_t)syscall(SYS_gettid);
    if (pthread_mutex_lock(p->mu) == 0)
        memcpy(p->held, (void *)p->mu, sizeof p->held);
    return NULL; /* exits holding it */
}

static void find_lock_word(void) {
    pthread_mutex_t mu;
    pthread_mutexattr_t a;
    struct layout_probe p = {.mu = &mu};
    pthread_t t;
    if (pthread_mutexattr_init(&a) != 0)
        return;
    int ok = pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST) == 0 &&
             pthread_mutex_init(&mu, &a) == 0;
    pthread_mutexattr_destroy(&a);
    if (!ok)
        return;
    if (pthread_create(&t, NULL, layout_probe_thread, &p) == 0 && pthread_join(t, NULL) == 0) {
        uint32_t now[NWORDS];
        memcpy(now, (void *)&mu, sizeof now);
        size_t first_held = NWORDS, died = NWORDS;
        for (size_t i = 0; i < NWORDS; i++) {
            if (first_held == NWORDS && (p.held[i] & FUTEX_TID_MASK) == p.tid)
                first_held = i;
            if (died == NWORDS && (p.held[i] & FUTEX_TID_MASK) == p.tid &&
                (now[i] & FUTEX_OWNER_DIED) != 0 && (now[i] & FUTEX_TID_MASK) == 0)
                died = i;
        }
        g_word_index = died < NWORDS ? died : first_held < NWORDS ? first_held : 0;
        if (pthread_mutex_trylock(&mu) == EOWNERDEAD) {
            pthread_mutex_consistent(&mu);
            pthread_mutex_unlock(&mu);
        }
    }
    pthread_mutex_destroy(&mu);
}

size_t weft__rmutex_word_index(void) {
#ifdef __GLIBC__
    /* glibc's layout is fixed (__lock first) on every architecture it
     * supports: no probe (under ThreadSanitizer, whose interceptors own
     * pthread_mutex_*, the probe's dying thread does not show the word). */
    (void)g_layout_once;
    (void)find_lock_word;
    return 0;
#else
    pthread_once(&g_layout_once, find_lock_word);
    return g_word_index;
#endif
}

static _Atomic uint32_t *word(weft__rmutex *m) {
    return (_Atomic uint32_t *)(void *)&m->m + weft__rmutex_word_index();
}

/* glibc marks a mutex unlocked without being made consistent after an owner
 * death by this owner value (its PTHREAD_MUTEX_NOTRECOVERABLE). The state is
 * final, and glibc 2.36's trylock on such a mutex returns ENOTRECOVERABLE but
 * leaves it locked, so weft checks it before calling glibc at all. */
#define NOTRECOVERABLE_OWNER 0x7ffffffe
static bool dead_for_good(weft__rmutex *m) {
#ifdef __GLIBC__
    return __atomic_load_n(&m->m.__data.__owner, __ATOMIC_ACQUIRE) == NOTRECOVERABLE_OWNER;
#else
    (void)m; /* other libcs: their trylock reports the state and leaves it unlocked */
    return false;
#endif
}

/* glibc reports a recursion count overflow as EAGAIN. After its trylock
 * said ENOTRECOVERABLE (the state changed after our check), the word may
 * still hold our id: clear it and wake everyone, who will all see the
 * final state. */
static int map_err_m(weft__rmutex *m, int r) {
    if (r == ENOTRECOVERABLE) {
        uint32_t me = my_tid();
        uint32_t v = atomic_load_explicit(word(m), memory_order_relaxed);
        if ((v & FUTEX_TID_MASK) == me &&
            atomic_compare_exchange_strong_explicit(word(m), &v, 0, memory_order_release,
                                                    memory_order_relaxed))
            weft__pfutex_wake(word(m), INT32_MAX);
    }
    return r == EAGAIN ? -EOVERFLOW : -r;
}
#define map_err(r) map_err_m(m, (r))

int weft__rmutex_trylock(weft__rmutex *m) {
    (void)weft__rmutex_word_index(); /* probe before owning anything, not while */
    if (dead_for_good(m))
        return -ENOTRECOVERABLE;
    int r = pthread_mutex_trylock(&m->m);
    return r == 0 ? 0 : map_err(r); /* -EBUSY, -EOWNERDEAD (held), -ENOTRECOVERABLE */
}

int weft__rmutex_held(weft__rmutex *m) {
    return (atomic_load_explicit(word(m), memory_order_relaxed) & FUTEX_TID_MASK) != 0;
}

int weft__rmutex_mine(weft__rmutex *m) {
    return (atomic_load_explicit(word(m), memory_order_relaxed) & FUTEX_TID_MASK) == my_tid();
}

/* Locked after having waited: restore FUTEX_WAITERS (see the top). */
static int got_after_wait(weft__rmutex *m, int r) {
    if (r == 0 || r == EOWNERDEAD)
        atomic_fetch_or_explicit(word(m), FUTEX_WAITERS, memory_order_relaxed);
    return map_err(r);
}

int weft__rmutex_lock(weft__rmutex *m, int64_t deadline) {
    (void)weft__rmutex_word_index(); /* probe before owning anything, not while */
    if (dead_for_good(m))
        return -ENOTRECOVERABLE;
    int r = pthread_mutex_trylock(&m->m);
    if (r != EBUSY)
        return map_err(r);
    bool self = weft__rmutex_mine(m); /* a recursive one never gets here as owner */
    if (self && !weft__sched_get())
        return -EDEADLK;
    /* Spin a little: critical sections in shared memory are short. */
    if (!self) {
        for (int i = 0; i < 100; i++) {
            weft__cpu_relax();
            uint32_t v = atomic_load_explicit(word(m), memory_order_relaxed);
            if ((v & FUTEX_TID_MASK) == 0 || (v & FUTEX_OWNER_DIED)) {
                r = pthread_mutex_trylock(&m->m);
                if (r != EBUSY)
                    return map_err(r);
            }
        }
    }
    /* A plain thread without a deadline blocks in glibc. With one, it runs
     * the loop below too (weft__pfutex_wait then waits in the kernel
     * directly): pthread_mutex_clocklock would do the same, but sanitizers
     * do not all know it, and the loop keeps one code path for deadlines. */
    if (!weft__sched_get() && weft__dl_forever(deadline))
        return map_err(pthread_mutex_lock(&m->m));
    bool waited = false;
    for (;;) {
        if (dead_for_good(m)) {
            /* Whoever made it so woke one waiter: pass it on to all. */
            weft__pfutex_wake(word(m), INT32_MAX);
            return -ENOTRECOVERABLE;
        }
        uint32_t v = atomic_load_explicit(word(m), memory_order_relaxed);
        if ((v & FUTEX_TID_MASK) == 0 || (v & FUTEX_OWNER_DIED)) {
            r = pthread_mutex_trylock(&m->m);
            if (r != EBUSY)
                return waited ? got_after_wait(m, r) : map_err(r);
            continue;
        }
        if (!(v & FUTEX_WAITERS)) {
            if (!atomic_compare_exchange_weak_explicit(word(m), &v, v | FUTEX_WAITERS,
                                                       memory_order_relaxed,
                                                       memory_order_relaxed))
                continue;
            v |= FUTEX_WAITERS;
        }
        r = weft__pfutex_wait_why(word(m), v, deadline, WEFT__WHY_PLOCK);
        waited = true;
        if (r == -ETIMEDOUT || r == -ECANCELED || r == -ENOMEM) {
            /* We may have consumed a wake-up meant for a waiter: pass it on. */
            weft__pfutex_wake(word(m), 1);
            return r;
        }
        r = pthread_mutex_trylock(&m->m);
        if (r != EBUSY)
            return got_after_wait(m, r);
    }
}

int weft__rmutex_unlock(weft__rmutex *m) {
    /* glibc would say EPERM too, but checking first keeps a misuse from
     * reaching the unlock (which ThreadSanitizer reports as a bug). */
    if (!weft__rmutex_mine(m))
        return -EPERM;
    return -pthread_mutex_unlock(&m->m);
}

int weft__rmutex_consistent(weft__rmutex *m) { return -pthread_mutex_consistent(&m->m); }
