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

/* Takes an internal lock for a short critical section even in a cancelled
 * coroutine or past a deadline (it is held only for a few instructions):
 * 0, -EOWNERDEAD (held; the caller repairs), -ENOTRECOVERABLE. */
int weft__psync_lock_short(weft__rmutex *m);

#endif
