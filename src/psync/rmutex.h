/* weft__rmutex: the robust process-shared mutex under weft's process-shared
 * objects (psync/rmutex.c). Not installed. */
#ifndef WEFT_PSYNC_RMUTEX_H
#define WEFT_PSYNC_RMUTEX_H
#include "internal.h"

#include <pthread.h>

typedef struct {
    pthread_mutex_t m;
} weft__rmutex;

/* Initialises a robust, process-shared mutex in (shared) memory. */
int weft__rmutex_init(weft__rmutex *m);
/* The same, recursive when `recursive` is non-zero: the owning thread may
 * lock it again (lock and trylock then return 0 and count; -EOVERFLOW past
 * the count's limit) and must unlock it as many times. */
int weft__rmutex_init_type(weft__rmutex *m, int recursive);
void weft__rmutex_destroy(weft__rmutex *m);
/* Which uint32_t of pthread_mutex_t is the robust futex word (probed once
 * per process: it differs between libcs). */
size_t weft__rmutex_word_index(void);
/* 0 when locked. -EOWNERDEAD: locked, but the previous owner died holding
 * it: repair the protected state, then weft__rmutex_consistent (or unlock
 * without it to make the mutex unusable: -ENOTRECOVERABLE for everyone).
 * -ETIMEDOUT, -ECANCELED (coroutine cancelled), -ENOMEM, -ENOTRECOVERABLE,
 * -EDEADLK (not recursive, and a plain thread, one without a scheduler,
 * already owns it). In a thread with a scheduler only the calling coroutine
 * waits; a coroutine whose own thread owns the mutex (another coroutine of
 * it) waits until that thread unlocks. Ownership is per thread: unlock on
 * the locking thread. */
int weft__rmutex_lock(weft__rmutex *m, int64_t deadline);
int weft__rmutex_trylock(weft__rmutex *m); /* 0, -EBUSY, -EOWNERDEAD, ... */
int weft__rmutex_unlock(weft__rmutex *m);  /* 0, -EPERM (not the owner) */
int weft__rmutex_consistent(weft__rmutex *m);
/* 1 if some thread holds it (a snapshot), else 0. */
int weft__rmutex_held(weft__rmutex *m);
/* 1 if the calling thread holds it, else 0. */
int weft__rmutex_mine(weft__rmutex *m);

#endif
