/* Process queues (pqueue/pqueue.c): the shared-memory layout, read by the
 * white-box tests, and the test hook. Not installed. */
#ifndef WEFT_PQUEUE_PQUEUE_H
#define WEFT_PQUEUE_PQUEUE_H
#include "internal.h"
#include "psync/rmutex.h"

#define WEFT__PQ_MAGIC 0x7765667450510001ULL
#define WEFT__PQ_NIL 0xffffffffu
#define WEFT__PQ_CHUNK_DATA 60

/* Test hook: when non-NULL, every put calls it once after copying the
 * first half of the message (before anything is published), with the
 * producer lock held. Tests set it in a forked child to stop there and be
 * killed. */
extern void (*weft__pqueue_put_hook)(void);
/* The same for gets: called once the message was copied out, before the
 * get commits (with the lock held). */
extern void (*weft__pqueue_get_hook)(void);

/* Fault injection for tests, inert unless set: after weft__pqueue_fault(n)
 * (n > 0) the calling process kills itself with SIGKILL at the n-th step
 * it takes from then on in a put, a get or a repair after a death (the
 * steps are between the stores that change the shared state, and around
 * the lock); 0 turns it off. A child that sets n = 1, 2, ... and dies at
 * each in turn visits every kill point. weft__pqueue_fault_left: the steps
 * left (0 once it fired or when off). */
void weft__pqueue_fault(long n);
long weft__pqueue_fault_left(void);

/* A chunk of a message in the non-FIFO kinds. */
typedef struct {
    uint32_t next;
    unsigned char data[WEFT__PQ_CHUNK_DATA];
} weft__pq_chunk;

/* A message slot of the non-FIFO kinds: valid = 1 commits it. */
typedef struct {
    int64_t k1, k2; /* order key: (priority, sequence) */
    uint32_t len, first;
    _Atomic uint32_t valid;
    uint32_t pad_;
} weft__pq_slot;

struct weft_pqueue {
    /* Set at creation, read-only afterwards. */
    uint64_t magic;
    uint32_t kind, named;
    uint64_t map_size;
    uint64_t max_bytes, max_count;  /* max_count: 0 = no count bound */
    uint64_t ring_size;             /* FIFO: a power of two >= max_bytes */
    uint64_t nslots, nchunks, ocap; /* others */
    uint64_t off_data;              /* FIFO ring, or chunks */
    uint64_t off_slots, off_order, off_fslots, off_cmark;
    _Atomic uint32_t shut;

    /* Producer side (FIFO), or everything (other kinds), under plock. */
    _Alignas(64) weft__rmutex plock;
    _Atomic uint64_t nput;           /* messages ever put */
    uint64_t c_head, c_nget;         /* FIFO: the producers' copies of head and nget */
    _Atomic uint64_t j_tail, j_nput; /* journal of the put in progress */
    _Atomic uint32_t j_armed;        /* FIFO: 1 while a put publishes */
    _Atomic uint32_t j_slot;         /* others: slot being put, or NIL */
    _Atomic uint64_t used, count;    /* others: footprint bytes, messages */
    uint64_t oh, ot;                 /* LIFO/DEQUE: order ring [oh, ot) */
    uint64_t ftop;                   /* free slot stack height */
    uint32_t fchunk;                 /* free chunk list */
    int64_t seq_back, seq_front;

    /* FIFO: bytes ever written (published), alone on its line: consumers
     * read it while producers work on theirs. */
    _Alignas(64) _Atomic uint64_t tail;

    /* Consumer side (FIFO), under clock. */
    _Alignas(64) weft__rmutex clock;
    _Atomic uint64_t nget; /* messages ever taken */
    uint64_t c_tail;       /* the consumers' copy of tail */
    _Atomic uint64_t j_head, j_nget, j_nget_after;
    _Atomic uint32_t cj_armed;

    /* FIFO: bytes ever consumed, alone on its line. */
    _Alignas(64) _Atomic uint64_t head;

    /* Waiting: sequence words bumped only when someone sleeps. */
    _Alignas(64) _Atomic uint32_t dseq, dwait; /* data (getters) */
    _Alignas(64) _Atomic uint32_t sseq, swait; /* space (putters) */
    _Alignas(64) _Atomic uint64_t ndone;       /* tasks done */
    _Atomic uint32_t jseq, jwait;              /* joiners */
};

#endif
