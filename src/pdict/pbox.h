/* The shared core of weft_pdict and weft_plist (pdict/pbox.c): one mapping
 * holding a header, a robust lock and an arena; the container's committed
 * state is a tree of arena blocks hanging from `root`. Not installed.
 *
 * Every change to a container is made on blocks that nothing references
 * yet, then committed by one aligned store (of root, of a table slot, of
 * an index word or of a length) while the lock is held. Everything else
 * (counts, the arena's free list) is derived. A process killed in the
 * middle leaves its change either committed or unreferenced; the next
 * locker gets -EOWNERDEAD and repairs: it stamps every block reachable from
 * root with a new epoch (the `mark` word each block starts with),
 * recomputes the derived counts, and frees every block of the arena that
 * is not stamped (a block allocated but not yet committed, or replaced but
 * not yet freed). */
#ifndef WEFT_PDICT_PBOX_H
#define WEFT_PDICT_PBOX_H
#include "internal.h"
#include "psync/rmutex.h"
#include "shm/arena.h"

#define WEFT__PBOX_MAGIC 0x7765667450420001ULL
enum { WEFT__PBOX_DICT = 1, WEFT__PBOX_LIST = 2 };

/* The smallest and largest max_bytes of a container. */
#define WEFT__PBOX_MIN_BYTES 64
#define WEFT__PBOX_MAX_BYTES WEFT__MAX_BYTES

typedef struct weft__pbox {
    /* Set at creation, read-only afterwards. */
    uint64_t magic;
    uint32_t type, named;
    uint64_t map_size;  /* the whole mapping */
    uint64_t max_bytes; /* as given to create */
    uint64_t seed;      /* dict: the hash seed */
    uint64_t arena_off; /* the arena, from the start of the box */

    _Alignas(64) weft__rmutex lock;
    /* Under the lock. root is committed state; the rest is derived. */
    _Atomic uint64_t root; /* arena offset of the root block, 0: empty */
    uint64_t epoch;        /* the repair's stamp */
    uint64_t count, tomb;  /* dict: entries, tombstones */
} weft__pbox;

/* Every block a container allocates starts with this word. */
typedef struct {
    uint64_t mark;
} weft__pbox_blk;

/* The box at p if it is a live one of `type`, else NULL. */
weft__pbox *weft__pbox_of(void *p, uint32_t type);

/* Creates a box (name NULL: anonymous, inherited by children forked
 * afterwards). Errors: -EINVAL (max_bytes out of range), those of named
 * creation, -ENOMEM. */
int weft__pbox_create(weft__pbox **out, const char *name, uint32_t type, size_t max_bytes);
/* Errors: those of attach, -EPROTO (inconsistent header). */
int weft__pbox_open(weft__pbox **out, const char *name, uint32_t type, int64_t deadline);
/* NULL: 0. Errors: -EINVAL (not a box of `type` mapped here, closed). */
int weft__pbox_close(void *p, uint32_t type);

/* Takes the lock, repairing after a dead holder (see above).
 * Errors: the lock's -ETIMEDOUT, -ECANCELED, -ENOMEM, -EDEADLK,
 * -ENOTRECOVERABLE. */
int weft__pbox_lock(weft__pbox *b, int64_t deadline);
void weft__pbox_unlock(weft__pbox *b);

/* A zero-filled block of size bytes (>= sizeof(weft__pbox_blk)) and its
 * offset, or NULL with no room. */
void *weft__pbox_alloc(weft__pbox *b, size_t size, uint64_t *off);
void weft__pbox_free(weft__pbox *b, void *blk);
/* The block at offset off holding at least n bytes, or NULL if that is
 * not inside the arena. */
static inline void *weft__pbox_at(weft__pbox *b, uint64_t off, size_t n) {
    uint64_t asize = b->map_size - b->arena_off;
    if (off < WEFT__SHM_ARENA_FIRST || off > asize || n > asize - off || (off & 15))
        return NULL;
    return (char *)b + b->arena_off + off;
}
/* Bytes each block costs beyond its payload. */
#define WEFT__PBOX_BLOCK_COST 16

/* Frees every block that nothing stamped with the current epoch after a
 * weft__pbox_new_epoch (clear: after root = 0, frees everything). */
void weft__pbox_new_epoch(weft__pbox *b);
static inline void weft__pbox_stamp(weft__pbox *b, void *blk) {
    ((weft__pbox_blk *)blk)->mark = b->epoch;
}
int weft__pbox_sweep(weft__pbox *b);

/* The repairs of each type (pdict.c, plist.c): stamp what root reaches
 * (weft__pbox_stamp) and recompute the derived fields. */
void weft__pdict_repair(weft__pbox *b);
void weft__plist_repair(weft__pbox *b);

/* Fault injection for tests, inert unless set: after weft__pbox_fault(n)
 * (n > 0) the calling process kills itself with SIGKILL at the n-th step
 * of a change or a repair from then on (the steps are between the stores
 * that change the shared state); 0 turns it off. weft__pbox_fault_left: the
 * steps left (0 once it fired, or when off). */
void weft__pbox_fault(long n);
long weft__pbox_fault_left(void);
extern _Atomic long weft__pbox_fault_n;
void weft__pbox_fault_step(void);
#define WEFT__PBOX_STEP()                                                              \
    do {                                                                               \
        if (unlikely(atomic_load_explicit(&weft__pbox_fault_n, memory_order_relaxed))) \
            weft__pbox_fault_step();                                                   \
    } while (0)

/* The seeded hash of weft_pdict's keys. */
uint64_t weft__pbox_hash(uint64_t seed, const void *p, size_t n);

#endif
