/* weft__rmutex: glibc's robust, process-shared mutex, waited on so that a
 * coroutine parks only itself.
 *
 * Ownership and death detection are the kernel's robust-futex protocol as
 * glibc implements it: the mutex word (the first int of pthread_mutex_t on
 * Linux, for every architecture glibc supports) holds the owner's thread id,
 * FUTEX_WAITERS when someone sleeps on it, and FUTEX_OWNER_DIED once the
 * kernel found the owner dead; the kernel then wakes one waiter. A plain
 * thread simply calls pthread_mutex_clocklock. A thread with a scheduler
 * must not block in the kernel, so it tries the lock, sets FUTEX_WAITERS the
 * way glibc's own waiters do (so the unlocker issues a FUTEX_WAKE), and
 * parks the coroutine on the word through weft__pfutex_wait.
 *
 * Whoever acquires the mutex after having waited must leave FUTEX_WAITERS
 * set, as glibc's waiters do: other waiters may still sleep on the word, and
 * an unlock that does not see the bit wakes nobody. glibc's trylock stores
 * the bare thread id, so every path below that returns ownership after a
 * wait ORs the bit back in. */
#include "psync/rmutex.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static WEFT_TLS uint32_t tls_tid;
static WEFT_TLS pid_t tls_tid_pid;

/* The kernel thread id, cached per thread (and re-read after fork: the
 * forking thread's id changes in the child). */
static uint32_t my_tid(void) {
    pid_t pid = getpid();
    if (unlikely(tls_tid == 0 || tls_tid_pid != pid)) {
        tls_tid = (uint32_t)syscall(SYS_gettid);
        tls_tid_pid = pid;
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

static _Atomic uint32_t *word(weft__rmutex *m) { return (_Atomic uint32_t *)(void *)&m->m; }

/* glibc reports a recursion count overflow as EAGAIN. */
static int map_err(int r) { return r == EAGAIN ? -EOVERFLOW : -r; }

int weft__rmutex_trylock(weft__rmutex *m) {
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
    if (!weft__sched_get()) {
        if (deadline < 0)
            return map_err(pthread_mutex_lock(&m->m));
        struct timespec ts = {deadline / 1000000000, deadline % 1000000000};
        return map_err(pthread_mutex_clocklock(&m->m, CLOCK_MONOTONIC, &ts));
    }
    bool waited = false;
    for (;;) {
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
        r = weft__pfutex_wait(word(m), v, deadline);
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

int weft__rmutex_unlock(weft__rmutex *m) { return -pthread_mutex_unlock(&m->m); }

int weft__rmutex_consistent(weft__rmutex *m) { return -pthread_mutex_consistent(&m->m); }
