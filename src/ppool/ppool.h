/* Internals of the process pool. Private to src/ppool/.
 *
 * Files: ppool.c (the public pool API: create, apply, close, terminate,
 * join, destroy), dispatch.c (handing out cells), collect.c (taking
 * results and completing futures), map.c (map and imap), watcher.c (the
 * watcher thread, spawning and replacing workers), worker.c (the child
 * side), bytes.c, registry.c.
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
#include <stdbool.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

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
    uint32_t in_var;      /* 1: starmap items, each {uint64 len; packed arguments;
                             padded to 8}; in_size is then their total */
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
    pid_t owner; /* the pool's process, as the parent sees itself */
    int initializer;
    const void *initargs;
    size_t initargs_len;
    uint32_t maxtasks;
} pp_wcfg;

/* The few internals libweft-mpi (src/mpi/) calls: exported from libweft.so, declared here
 * only (no public header), so they are no part of the API. */
#define PP_EXPORT __attribute__((visibility("default")))

/* registry.c */
PP_EXPORT weft_ptask_fn weft__ptask_get(int id);
PP_EXPORT int weft__ptask_count(void);
/* The name task id was registered under, or NULL. */
PP_EXPORT const char *weft__ptask_name(int id);

/* bytes.c */
#define PP_BYTES_FIXED 1u
/* The packed size of a's arguments (see weft_ppool_arg), or -EINVAL for a
 * malformed a. */
int weft__pp_args_size(const weft_ppool_args *a, size_t *size);
/* Packs a's arguments into buf (weft__pp_args_size bytes). */
static inline void weft__pp_args_pack(const weft_ppool_args *a, unsigned char *buf) {
    uint32_t n32 = (uint32_t)a->argc, zero = 0;
    memcpy(buf, &n32, 4);
    memcpy(buf + 4, &zero, 4);
    size_t off = 8 + (size_t)a->argc * 8;
    for (int i = 0; i < a->argc; i++) {
        uint64_t l = a->lens[i];
        memcpy(buf + 8 + 8 * (size_t)i, &l, 8);
        if (l)
            memcpy(buf + off, a->argv[i], l);
        off += l;
    }
}
/* weft__pp_args_size of an item already checked by it. */
static inline size_t pp_args_size_unchecked(const weft_ppool_args *a) {
    size_t total = 8 + (size_t)a->argc * 8;
    for (int i = 0; i < a->argc; i++)
        total += a->lens[i];
    return total;
}
/* worker.c: runs in the child; never returns. */
__attribute__((noreturn)) void weft__ppool_worker(const pp_wcfg *cfg);
/* Both sides: makes *map (of *maplen bytes) cover at least need bytes of fd. */
PP_EXPORT int weft__pp_map(int fd, void **map, size_t *maplen, size_t need);
/* Both sides: grows the memfd to at least need bytes, recorded in *file. */
PP_EXPORT int weft__pp_grow(int fd, uint64_t *file, size_t need);
/* A worker's mappings and scratch buffers, and running one filled cell with them (its
 * kind, task, n, sizes, in_buf, in_file/out_file set; memfds in cfg->infd[c] /
 * cfg->outfd[c]): what an MPI worker rank does with each cell it receives. */
typedef struct pp_wstate pp_wstate;
PP_EXPORT pp_wstate *weft__pp_wstate_new(void);
PP_EXPORT void weft__pp_wstate_free(pp_wstate *ws);
PP_EXPORT void weft__pp_run_cell(const pp_wcfg *cfg, pp_wstate *ws, pp_cell *cell, int c);
/* Direct mode for the next runs: an in_buf input is read from in (not the memfd); a FIXED
 * result larger than a cell is written to out (if out_cap is enough), a VAR one left in
 * the state's scratch buffer; weft__pp_wstate_result then gives where it is (out_buf 1),
 * else NULL (the result is in the cell or the memfd). */
PP_EXPORT void weft__pp_wstate_direct(pp_wstate *ws, const void *in, void *out, size_t out_cap);
PP_EXPORT const void *weft__pp_wstate_result(const pp_wstate *ws);

static inline size_t pp_pad8(size_t n) { return (n + 7) & ~(size_t)7; }

/* ---- parent side ---------------------------------------------------------- */

enum { J_APPLY = 1, J_MAP = 2 };
enum { P_RUNNING = 0, P_CLOSED = 1, P_TERMINATED = 2 };

typedef struct pp_job {
    int kind;
    bool queued;
    struct pp_job *next; /* pending queue */
    struct pp_job *fin;  /* completion list */
    int fin_status;
    bool fin_cancel;     /* apply: cancel instead of finish */
} pp_job;

typedef struct pp_apply {
    weft_future f; /* first: weft_future_release frees the whole record */
    pp_job j;
    weft_bytes res;
    weft_ppool_cb ok, err;
    void *ud;
    struct pp_apply *done_next;
    atomic_int finished; /* its future's completion has run to the end */
    int task;
    int tries;
    size_t in_len;
    unsigned char in[];
} pp_apply;

typedef struct {
    int status;
    bool ready;
    weft_bytes b;
} pp_item;

struct weft_ppool_iter {
    uint32_t tag; /* PP_ITER_MAGIC; WEFT__TAG_DEAD once freed */
    pp_job j;
    weft_ppool *pool;
    int kind;
    int task;
    const unsigned char *in;
    const weft_ppool_args *args; /* starmap: the items' arguments (in is NULL) */
    size_t args_max;             /* starmap: the largest packed item */
    unsigned char *out;
    int *statuses;
    size_t n, in_size, out_size, chunk, nchunks, next_chunk, done_chunks;
    size_t *redo, nredo;
    uint8_t *tries;
    size_t outstanding;
    size_t first_fail;
    int fail_status;
    weft_future *fut; /* map: done when every chunk is */
    bool cancelled;   /* imap: the iterator was destroyed */
    bool pool_done;   /* the pool dropped its reference */
    atomic_int refs;  /* imap: iterator + pool; map: pool */
    /* imap */
    int unordered;
    pp_item *items;
    size_t *arrived, narrived, yielded, next_ordered;
    weft_event ev;
};
typedef struct weft_ppool_iter pp_map;

typedef struct {
    pid_t pid; /* 0: no worker in this slot */
    int pidfd;
    int infd[PP_CELLS], outfd[PP_CELLS];
    void *inmap[PP_CELLS], *outmap[PP_CELLS];
    size_t inlen[PP_CELLS], outlen[PP_CELLS];
    pp_job *job[PP_CELLS];
    size_t chunk[PP_CELLS];
    uint32_t assigned;
    int busy;
    int killed_cell; /* the cell whose timeout we killed it for, or -1 */
    bool gone;       /* remote: its end was signalled (pidfd written) */
} pp_worker;

struct weft_ppool {
    uint32_t tag; /* PP_MAGIC; WEFT__TAG_DEAD once destroyed */
    pthread_mutex_t mu;
    int n;
    pp_worker *w;
    pp_shm *shm;
    size_t shm_len;
    int efd;
    pp_job *head, *tail;
    pp_apply *done_list;
    size_t ndone, sweep_at;
    int state;
    int broken;
    int live;
    size_t inflight;
    uint64_t seq;
    atomic_long started;
    weft_ppool_opts o;
    void *initargs;
    int ntasks;
    pthread_t watcher;
    bool joined;
    weft_event exited;
    weft_event spawned; /* the watcher forked the first workers: spawn_err */
    int spawn_err;
    /* Remote pools (libweft-mpi): no worker is forked; slot i is served by a bridge
     * thread that reads its cells and writes their results like a worker. A remote
     * slot has pid -1 and, as its pidfd, an eventfd written when the slot ends (the
     * bridge: close or a failed initializer; terminate). */
    bool remote;
    int *remote_init;               /* initializer status per slot (0 or < 0) */
    void (*remote_stop)(void *ctx); /* destroy: stops the bridge before freeing */
    void *remote_ctx;
    /* The bridge thread: it takes results and completes futures itself (done-callbacks
     * run on it), so destroy refuses to run there as on the watcher. */
    pthread_t remote_thread;
    bool has_remote_thread;
    /* The process-wide list of pools (weft_dump): linked once created. */
    struct weft_ppool *list_prev, *list_next;
    bool listed;
    pid_t owner; /* the process that created it (a forked child's copy is not its) */
};

/* Calls fn for every pool this process created (weft_dump); try_only: give
 * up with -EAGAIN if the list is locked (from a signal handler). */
PP_EXPORT int weft__ppool_each(bool try_only, void (*fn)(void *ud, weft_ppool *p), void *ud);

/* Creates a pool of n remote slots (ppool.c); opts as weft_ppool_create (task_timeout
 * and maxtasks must be 0); init[i]: the initializer's status in slot i's worker. */
PP_EXPORT int weft__ppool_create_remote(weft_ppool **out, const weft_ppool_opts *opts, int n,
                                        const int *init, void (*stop)(void *), void *ctx,
                                        pthread_t bridge);
/* Marks remote slot wi ended (mu held): its pidfd is written once. */
PP_EXPORT void weft__pp_remote_end(weft_ppool *p, int wi);

static inline void poke(weft_ppool *p) {
    uint64_t one = 1;
    ssize_t r = write(p->efd, &one, sizeof one);
    (void)r;
}

/* ---- pending queue ------------------------------------------------------ */

static inline void q_push(weft_ppool *p, pp_job *j, bool front) {
    j->queued = true;
    j->next = NULL;
    if (front) {
        j->next = p->head;
        p->head = j;
        if (!p->tail)
            p->tail = j;
    } else {
        if (p->tail)
            p->tail->next = j;
        else
            p->head = j;
        p->tail = j;
    }
}

static inline pp_job *q_pop(weft_ppool *p) {
    pp_job *j = p->head;
    if (j) {
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        j->queued = false;
        j->next = NULL;
    }
    return j;
}

static inline void q_remove(weft_ppool *p, pp_job *j) {
    pp_job **pp = &p->head, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp)
        return;
    *pp = j->next;
    if (p->tail == j)
        p->tail = prev;
    j->queued = false;
    j->next = NULL;
}

static inline void fin_add(pp_job **fin, pp_job *j, int status, bool cancel) {
    j->fin_status = status;
    j->fin_cancel = cancel;
    j->fin = *fin;
    *fin = j;
}

static inline size_t chunk_first(pp_map *m, size_t c) { return c * m->chunk; }
static inline size_t chunk_len(pp_map *m, size_t c) {
    size_t f = c * m->chunk;
    return m->n - f < m->chunk ? m->n - f : m->chunk;
}

static inline void note_fail(pp_map *m, size_t idx, int status) {
    if (!m->fail_status || idx < m->first_fail) {
        m->first_fail = idx;
        m->fail_status = status;
    }
}

static inline void item_arrive(pp_map *m, size_t i, int status) {
    m->items[i].status = status;
    m->items[i].ready = true;
    m->arrived[m->narrived++] = i;
}


#define PP_MAGIC 0x70706f6cu      /* "ppol" */
#define PP_ITER_MAGIC 0x70697472u /* "pitr" */
/* Every entry point checks its pool or iterator (garbage would reach the mutex, the
 * worker table and the descriptors). */
static inline void pp_check(const weft_ppool *p, const char *fn) {
    weft__tag_check_handle(p->tag, PP_MAGIC, fn, "weft_ppool", p);
}
static inline void pp_check_iter(const struct weft_ppool_iter *m, const char *fn) {
    weft__tag_check_handle(m->tag, PP_ITER_MAGIC, fn, "weft_ppool_iter", m);
}

static inline int pp_check_task(weft_ppool *p, int task) {
    return task < 0 || task >= p->ntasks ? -EINVAL : 0;
}

/* Whether the pool takes new work (mu held): 0, or why not. */
static inline int pp_admit(weft_ppool *p) {
    if (p->state != P_RUNNING)
        return -EPIPE;
    if (p->broken)
        return p->broken;
    return 0;
}

/* dispatch.c: moves pending work into free cells. mu held. */
PP_EXPORT void weft__pp_dispatch(weft_ppool *p, pp_job **fin);

/* collect.c */
/* Takes the result of DONE cell (wi, c). mu held. */
PP_EXPORT void weft__pp_take(weft_ppool *p, int wi, int c, pp_job **fin);
/* Empties cell (wi, c) and marks it FREE. mu held. */
void weft__pp_release_cell(weft_ppool *p, int wi, int c);
/* Frees finished applies nobody else holds (all: every one). mu held. */
PP_EXPORT void weft__pp_sweep(weft_ppool *p, bool all);
/* Completes what a locked section gathered. mu not held. */
PP_EXPORT void weft__pp_run_fin(weft_ppool *p, pp_job *fin);

/* map.c */
/* A chunk came back or was given up; completes the map when it was the last. */
void weft__pp_map_chunk_done(weft_ppool *p, pp_map *m, pp_job **fin);
/* Fails every item of chunk c with err (it will not be run again). */
void weft__pp_map_fail_chunk(weft_ppool *p, pp_map *m, size_t c, int err, pp_job **fin);
/* Queues chunk c to be handed out again, first. */
int weft__pp_map_redo(weft_ppool *p, pp_map *m, size_t c);
/* Drops one reference; the last frees the map. */
void weft__pp_map_unref(pp_map *m);

/* watcher.c */
/* Forks worker wi. mu held (or the pool not yet shared). */
int weft__pp_spawn(weft_ppool *p, int wi);
/* Every pending task fails with err (a broken pool). mu held. */
void weft__pp_fail_pending(weft_ppool *p, int err, bool cancel, pp_job **fin);
/* The watcher thread: forks the first workers (then sets `spawned`), and
 * reaps, replaces, collects, enforces timeouts. Every worker is forked by
 * this thread, which lives as long as the pool has workers: their
 * parent-death signal (see worker.c) follows it. */
void *weft__pp_watcher_main(void *arg);

#endif
