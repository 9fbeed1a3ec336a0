/* Internals of the process pool. Private to src/ppool/.
 *
 * Memory shared with the workers (one MAP_SHARED region made before the
 * first fork, so every worker inherits it) holds one slot per worker, and
 * each slot two cells: the tasks given to that worker. The parent alone
 * chooses which worker gets what, so it always knows what a worker held
 * when it died. A cell moves FREE -> READY (parent: filled in) -> RUN
 * (worker: started) -> DONE (worker: result written) -> FREE (parent: result
 * taken). Inputs and results up to PP_INLINE bytes live in the cell; larger
 * ones in a memfd per cell and direction, grown by the writer and mapped by
 * both sides (the mappings are kept, so a pool that maps repeatedly touches
 * no new pages).
 *
 * A cell carries a chunk of items of one task:
 *   input:  n items of in_size bytes each;
 *   FIXED result: int32 status[n], padded to 8, then n items of out_size;
 *   VAR result: per item {int32 status; uint32 0; uint64 len; data padded
 *               to 8}.
 * An apply is a VAR chunk of one item whose size is the input's length.
 * Cell field `status` is the count of failed items.
 *
 * Wake-ups: a worker sleeps on its slot's `wake` futex word (after spinning
 * a while); the parent bumps it at each dispatch and wakes it if `sleeping`.
 * The parent's watcher sleeps in poll() on the workers' pidfds and an
 * eventfd, which a worker writes after a result only if `parent_sleeping`.
 */
#ifndef WEFT_PPOOL_H
#define WEFT_PPOOL_H

#include "internal.h"
#include "pool/pool.h"

#include <pthread.h>
#include <sys/types.h>

#define PP_INLINE 448
#define PP_CELLS 2
#define PP_MAX_WORKERS 256
#define PP_MAX_TASKS 1024

enum { CELL_FREE = 0, CELL_READY = 1, CELL_RUN = 2, CELL_DONE = 3 };
enum { K_FIXED = 1, K_VAR = 2 };

typedef struct {
    _Atomic uint32_t state;
    uint32_t kind;
    uint32_t task;
    uint32_t in_buf;      /* 1: input in the cell's input memfd */
    uint32_t out_buf;     /* 1: result in the cell's result memfd */
    int32_t status;       /* failed items */
    uint64_t in_size;     /* item size */
    uint64_t out_size;    /* FIXED item result size */
    uint64_t seq;         /* dispatch order within the worker */
    uint64_t n;           /* items */
    uint64_t out_len;     /* result bytes */
    uint64_t in_file, out_file; /* current sizes of the memfds */
    _Atomic int64_t started;    /* worker's weft_now() at start */
    unsigned char in[PP_INLINE];
    unsigned char out[PP_INLINE];
} pp_cell;

typedef struct {
    _Atomic uint32_t wake;     /* futex word */
    _Atomic uint32_t sleeping; /* the worker waits on `wake` */
    _Atomic uint32_t quit;     /* the worker should exit once idle */
    _Atomic int32_t init_status; /* 1 until the initializer ran, then its status */
    pp_cell cell[PP_CELLS];
} pp_wshm;

typedef struct {
    _Atomic uint32_t parent_sleeping;
    uint32_t pad_[15];
    pp_wshm w[];
} pp_shm;

/* What the worker needs (a copy of it lives in the child after fork). */
typedef struct {
    pp_shm *shm;
    pp_wshm *ws;
    int efd;
    int infd[PP_CELLS], outfd[PP_CELLS];
    int initializer;
    const void *initargs;
    size_t initargs_len;
    uint32_t maxtasks;
} pp_wcfg;

/* registry.c */
weft_ptask_fn weft__ptask_get(int id);
int weft__ptask_count(void);

/* bytes.c */
#define PP_BYTES_FIXED 1u
/* worker.c: runs in the child; never returns. */
__attribute__((noreturn)) void weft__ppool_worker(const pp_wcfg *cfg);
/* Both sides: makes *map (of *maplen bytes) cover at least need bytes of fd. */
int weft__pp_map(int fd, void **map, size_t *maplen, size_t need);
/* Both sides: grows the memfd to at least need bytes, recorded in *file. */
int weft__pp_grow(int fd, uint64_t *file, size_t need);

static inline size_t pp_pad8(size_t n) { return (n + 7) & ~(size_t)7; }

#endif
