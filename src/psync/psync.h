/* Layouts of the process-shared primitives (psync/). Not installed.
 * Every object lives in memory shared between processes and holds no
 * pointers: each process may map it at a different address. */
#ifndef WEFT_PSYNC_PSYNC_H
#define WEFT_PSYNC_PSYNC_H
#include "psync/rmutex.h"

/* Tags set by init and cleared by destroy, so an uninitialised or
 * destroyed object gives -EINVAL. */
#define WEFT__PLOCK_MAGIC 0x706c6b31u
#define WEFT__PRLOCK_MAGIC 0x70726c31u
#define WEFT__PSEM_MAGIC 0x70736d31u
#define WEFT__PEVENT_MAGIC 0x70657631u
#define WEFT__PCOND_MAGIC 0x70636e31u
#define WEFT__PBARRIER_MAGIC 0x70627231u

struct weft__plock {
    weft__rmutex m;
    _Atomic uint32_t magic;
};

struct weft__psem {
    _Atomic uint32_t value;   /* permits; the futex word */
    _Atomic uint32_t waiters; /* callers inside a futex wait (may overcount) */
    uint32_t initial;
    uint32_t bounded;
    _Atomic uint32_t magic;
};

struct weft__pevent {
    _Atomic uint32_t word;    /* generation << 1 | set; the futex word */
    _Atomic uint32_t waiters;
    _Atomic uint32_t magic;
};

struct weft__pcond {
    _Atomic uint32_t seq;     /* bumped by every notify; the futex word */
    _Atomic uint32_t waiters;
    _Atomic uint32_t magic;
};

struct weft__pbarrier {
    weft__rmutex m;           /* guards arrived; word changes under it */
    _Atomic uint32_t word;    /* round << 1 | broken; the futex word */
    _Atomic uint32_t broken_round; /* round + 1 of the last round broken, 0: none */
    uint32_t parties;
    uint32_t arrived;
    _Atomic uint32_t waiting;
    _Atomic uint32_t magic;
};

/* Declares the checks that layout `impl` fits in public type `pub`, and
 * `static impl *fn(pub *o)`: the layout at o if init tagged it with `tag`,
 * NULL if o is NULL, uninitialised or destroyed. */
#define WEFT__PSYNC_LAYOUT(fn, pub, impl, tag)                                           \
    _Static_assert(sizeof(impl) <= sizeof(pub), #pub " too small");                      \
    _Static_assert(_Alignof(impl) <= _Alignof(pub), #pub " alignment");                  \
    static impl *fn(pub *o) {                                                            \
        impl *p = (impl *)(void *)o;                                                     \
        if (!p || atomic_load_explicit(&p->magic, memory_order_acquire) != (tag))        \
            return NULL;                                                                 \
        return p;                                                                        \
    }

/* Destroy of a lock-free object (p from its checked cast, maybe NULL):
 * -EINVAL for NULL, -EBUSY while anyone waits, else untags it. */
static inline int weft__psync_untag(_Atomic uint32_t *magic, _Atomic uint32_t *waiters) {
    if (!magic)
        return -EINVAL;
    if (atomic_load_explicit(waiters, memory_order_acquire))
        return -EBUSY;
    atomic_store_explicit(magic, 0, memory_order_release);
    return 0;
}

/* The operations weft_plock and weft_prlock share (plock.c); p comes from
 * the caller's checked cast and may be NULL (-EINVAL). */
int weft__plock_setup(struct weft__plock *p, int recursive, uint32_t tag);
int weft__plock_teardown(struct weft__plock *p);
int weft__plock_try(struct weft__plock *p);

/* Takes an internal lock for a short critical section even in a cancelled
 * coroutine or past a deadline (it is held only for a few instructions):
 * 0, -EOWNERDEAD (held; the caller repairs), -ENOTRECOVERABLE. */
int weft__psync_lock_short(weft__rmutex *m);

#endif
