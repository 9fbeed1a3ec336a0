/* weft_pqueue: queues of byte messages between processes, in shared memory.
 *
 * FIFO is a byte ring. Each record is an 8-byte header (the length) and the
 * message rounded up to 8 bytes. Producers serialise on `plock`, consumers
 * on `clock` (both robust, process-shared), and each side keeps its
 * indexes on its own cache line together with a copy of the other side's,
 * re-read only when the ring looks full (or empty). A put writes the whole
 * record first and then publishes the new tail with one store: a producer
 * killed before that store leaves nothing behind but unpublished bytes
 * that the next put overwrites. The message counters (nput, nget) sit
 * beside the byte indexes and are stored just after them; a small journal
 * (the values before and after, and an "armed" flag) written before the
 * commit lets every reader derive the committed counts from the indexes
 * alone (fifo_nput, fifo_nget), so size, empty and get agree after any
 * death, and lets whoever next takes the lock after a death (-EOWNERDEAD)
 * store the counters for good.
 *
 * LIFO, PRIORITY and DEQUE keep each message in a slot (its key and
 * length) and a chain of 64-byte chunks, everything under `plock`. A slot's
 * `valid` word is the commit: a put fills chunks and slot, then sets it; a
 * get clears it after copying the message out. The order structure (a
 * heap of slot indexes for PRIORITY, a ring of them for LIFO and DEQUE),
 * the free lists and the byte and message counts are derived data that a
 * lock owner recovering from a death rebuilds from the valid slots. So a
 * killed producer leaves no partial message, and a consumer killed in the
 * middle of a get leaves the message in the queue. size, empty and full
 * first make that repair when they find the lock's holder dead.
 *
 * Waiting: getters sleep on `dseq`, putters on `sseq`, joiners on `jseq`,
 * after registering in the matching count; a side bumps the word and
 * wakes only if that count is non-zero (Dekker: publish, full fence, read
 * the count). Before sleeping, a plain thread spins for a few
 * microseconds, a coroutine yields to the others of its thread. A process
 * killed after its commit but before its wake-up leaves the sleepers
 * asleep: they sleep at most DEATH_SLICE_NS at a time, then look again
 * (and repair after a dead lock holder, for the slot kinds).
 *
 * Tasks: unfinished = nput - ndone. task_done increments ndone with a
 * compare-and-swap that keeps ndone <= nput, so the pair stays consistent
 * whoever dies when: a message counts as a task once its put commits; a
 * consumer that dies before task_done leaves that task unfinished (as it
 * would be in a single process).
 */
#include "pqueue/pqueue.h"
#include "shm/named.h"

#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void (*weft__pqueue_put_hook)(void);
void (*weft__pqueue_get_hook)(void);

/* Fault injection (see pqueue.h): steps left before this process kills
 * itself, 0 when off. */
static _Atomic long fault_left;

void weft__pqueue_fault(long n) {
    atomic_store_explicit(&fault_left, n > 0 ? n : 0, memory_order_relaxed);
}

long weft__pqueue_fault_left(void) {
    return atomic_load_explicit(&fault_left, memory_order_relaxed);
}

static void fault_step(void) {
    if (atomic_fetch_sub_explicit(&fault_left, 1, memory_order_relaxed) != 1)
        return;
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

/* One step of a put, a get or a repair: a point at which a process may die. */
#define STEP()                               \
    do {                                     \
        if (unlikely(LDR(&fault_left) != 0)) \
            fault_step();                    \
    } while (0)

#define MIN_BYTES 16
#define MAX_BYTES ((uint64_t)1 << 30)
#define MAX_COUNT ((uint64_t)1 << 30)
#define SPIN_NS (20 * WEFT_USEC)
/* The longest a waiter sleeps before it looks again by itself. */
#define DEATH_SLICE_NS (100 * WEFT_MSEC)

enum { END_BACK = 0, END_FRONT = 1 };

static inline uint64_t foot(size_t len) {
    return 8 + (((uint64_t)len + 7) & ~(uint64_t)7);
}

static inline unsigned char *ring(weft_pqueue *q) {
    return (unsigned char *)q + q->off_data;
}
static inline weft__pq_chunk *chunks(weft_pqueue *q) {
    return (weft__pq_chunk *)((char *)q + q->off_data);
}
static inline weft__pq_slot *slots(weft_pqueue *q) {
    return (weft__pq_slot *)((char *)q + q->off_slots);
}
static inline uint32_t *order(weft_pqueue *q) {
    return (uint32_t *)((char *)q + q->off_order);
}
static inline uint32_t *fslots(weft_pqueue *q) {
    return (uint32_t *)((char *)q + q->off_fslots);
}
static inline uint8_t *cmark(weft_pqueue *q) {
    return (uint8_t *)q + q->off_cmark;
}

#define LD(p) atomic_load_explicit((p), memory_order_acquire)
#define LDR(p) atomic_load_explicit((p), memory_order_relaxed)
#define ST(p, v) atomic_store_explicit((p), (v), memory_order_release)

static bool valid_q(weft_pqueue *q) {
    return q && q->magic == WEFT__PQ_MAGIC;
}

/* ---- layout ------------------------------------------------------------ */

static uint64_t align64(uint64_t x) {
    return (x + 63) & ~(uint64_t)63;
}

static uint64_t layout(weft_pqueue *q, int kind, uint64_t max_bytes, uint64_t max_count) {
    uint64_t off = align64(sizeof(struct weft_pqueue));
    q->kind = (uint32_t)kind;
    q->max_bytes = max_bytes;
    q->max_count = max_count;
    q->off_data = off;
    if (kind == WEFT_QUEUE_FIFO) {
        uint64_t r = 64;
        while (r < max_bytes)
            r <<= 1;
        q->ring_size = r;
        return off + r;
    }
    /* Every message has a footprint of at least 8 bytes, and one of n >= 1
     * bytes (footprint >= 16) needs at most footprint/16 chunks. */
    uint64_t ns = max_bytes / 8;
    if (max_count && max_count < ns)
        ns = max_count;
    uint64_t oc = 1;
    while (oc < ns)
        oc <<= 1;
    q->nslots = ns;
    q->ocap = oc;
    q->nchunks = max_bytes / 16;
    off = align64(off + q->nchunks * sizeof(weft__pq_chunk));
    q->off_slots = off;
    off = align64(off + ns * sizeof(weft__pq_slot));
    q->off_order = off;
    off = align64(off + oc * sizeof(uint32_t));
    q->off_fslots = off;
    off = align64(off + ns * sizeof(uint32_t));
    q->off_cmark = off;
    return off + q->nchunks;
}

static int init_shared(weft_pqueue *q) {
    int r = weft__rmutex_init(&q->plock);
    if (r)
        return r;
    r = weft__rmutex_init(&q->clock);
    if (r) {
        weft__rmutex_destroy(&q->plock);
        return r;
    }
    atomic_store(&q->j_slot, WEFT__PQ_NIL);
    if (q->kind != WEFT_QUEUE_FIFO) {
        weft__pq_chunk *c = chunks(q);
        for (uint64_t i = 0; i < q->nchunks; i++)
            c[i].next = i + 1 < q->nchunks ? (uint32_t)(i + 1) : WEFT__PQ_NIL;
        q->fchunk = q->nchunks ? 0 : WEFT__PQ_NIL;
        uint32_t *fs = fslots(q);
        for (uint64_t i = 0; i < q->nslots; i++)
            fs[i] = (uint32_t)(q->nslots - 1 - i);
        q->ftop = q->nslots;
        q->seq_back = 0;
        q->seq_front = -1;
    }
    q->magic = WEFT__PQ_MAGIC;
    return 0;
}

static int check_args(int kind, size_t max_bytes, size_t max_count) {
    if (kind < WEFT_QUEUE_FIFO || kind > WEFT_QUEUE_DEQUE)
        return -EINVAL;
    if (max_bytes < MIN_BYTES || max_bytes > MAX_BYTES || max_count > MAX_COUNT)
        return -EINVAL;
    return 0;
}

/* Checks the arguments and lays out a queue in *tmp: 0 with *size, or -EINVAL. */
static int plan(struct weft_pqueue *tmp, uint64_t *size, int kind, size_t max_bytes,
                size_t max_count) {
    int r = check_args(kind, max_bytes, max_count);
    if (r)
        return r;
    memset(tmp, 0, sizeof *tmp);
    *size = layout(tmp, kind, max_bytes, max_count);
    return 0;
}

/* Makes fresh memory mem (size bytes) the queue laid out in *tmp. */
static int install(void *mem, const struct weft_pqueue *tmp, uint64_t size, int named) {
    weft_pqueue *q = mem;
    memcpy(q, tmp, sizeof *tmp);
    q->map_size = size;
    q->named = named;
    return init_shared(q);
}

int weft_pqueue_create(weft_pqueue **out, int kind, size_t max_bytes, size_t max_count) {
    if (!out)
        return -EINVAL;
    struct weft_pqueue tmp;
    uint64_t size;
    int r = plan(&tmp, &size, kind, max_bytes, max_count);
    if (r)
        return r;
    void *mem;
    if ((r = weft__shm_map_anon(size, &mem)) != 0)
        return r;
    weft_pqueue *q = mem;
    if ((r = install(mem, &tmp, size, 0)) != 0) {
        weft__shm_unmap_anon(mem, size);
        return r;
    }
    *out = q;
    return 0;
}

int weft_pqueue_create_named(weft_pqueue **out, const char *name, int kind, size_t max_bytes,
                             size_t max_count) {
    if (!out || !name)
        return -EINVAL;
    struct weft_pqueue tmp;
    uint64_t size;
    int r = plan(&tmp, &size, kind, max_bytes, max_count);
    if (r)
        return r;
    void *mem;
    if ((r = weft__named_create(name, WEFT__NK_QUEUE, size, &mem)) != 0)
        return r;
    weft_pqueue *q = mem;
    if ((r = install(mem, &tmp, size, 1)) != 0) {
        weft__named_abort(mem, name);
        return r;
    }
    weft__named_ready(mem);
    *out = q;
    return 0;
}

int weft_pqueue_open(weft_pqueue **out, const char *name, int64_t deadline) {
    if (!out || !name)
        return -EINVAL;
    void *mem;
    size_t size;
    int r = weft__named_attach_until(name, WEFT__NK_QUEUE, &mem, &size, deadline);
    if (r)
        return r;
    weft_pqueue *q = mem;
    if (size < sizeof *q || q->magic != WEFT__PQ_MAGIC || q->map_size != size) {
        weft__named_detach(mem);
        return -EPROTO;
    }
    *out = q;
    return 0;
}

int weft_pqueue_unlink(const char *name) {
    char path[256];
    int r = weft__named_path(name, path, sizeof path);
    if (r)
        return r;
    return shm_unlink(path) == 0 ? 0 : -errno;
}

int weft_pqueue_close(weft_pqueue *q) {
    if (!q)
        return 0;
    if (weft__named_kind_of(q) == WEFT__NK_QUEUE)
        return weft__named_detach_as(q, WEFT__NK_QUEUE);
    if (!weft__mem_mapped(q, sizeof *q) || !valid_q(q))
        return -EINVAL;
    if (q->named)
        return weft__named_detach(q);
    weft__shm_unmap_anon(q, q->map_size);
    return 0;
}

size_t weft_pqueue_max_msg(weft_pqueue *q) {
    if (!valid_q(q))
        return 0;
    return (size_t)(q->max_bytes - 8) & ~(size_t)7;
}

/* ---- FIFO message counts ---------------------------------------------------- */

/* A FIFO put commits with its store of `tail`, a get with its store of
 * `head`; the message counters are stored after the commit, with the
 * journal armed around both stores. The counts below are therefore read
 * as "the counter, or the journal's value after the operation if the
 * operation committed (its index is the journal's) but its counter store
 * has not happened": derived from the committed indexes alone, whether
 * the operation's process is still on its way or dead, without waiting
 * for anyone to repair the counter. Each returns a value the count had at
 * some instant during the call; a changed counter means another try. */
static uint64_t fifo_nput(weft_pqueue *q) {
    for (;;) {
        uint64_t n = LD(&q->nput);
        uint32_t armed = LD(&q->j_armed);
        uint64_t jn = LD(&q->j_nput), jt = LD(&q->j_tail), t = LD(&q->tail);
        if (LD(&q->nput) != n)
            continue;
        return n + (armed && jn == n && t == jt ? 1 : 0);
    }
}

static uint64_t fifo_nget(weft_pqueue *q) {
    for (;;) {
        uint64_t g = LD(&q->nget);
        uint32_t armed = LD(&q->cj_armed);
        uint64_t jg = LD(&q->j_nget), ja = LD(&q->j_nget_after);
        uint64_t jh = LD(&q->j_head), h = LD(&q->head);
        if (LD(&q->nget) != g)
            continue;
        return armed && jg == g && h == jh ? ja : g;
    }
}

/* Messages ever put and taken, as committed (any kind). */
static uint64_t nput_of(weft_pqueue *q) {
    return q->kind == WEFT_QUEUE_FIFO ? fifo_nput(q) : LD(&q->nput);
}

/* ---- recovery after a death ---------------------------------------------- */

static int key_cmp(const void *a, const void *b, void *arg) {
    const weft__pq_slot *s = arg;
    const weft__pq_slot *x = &s[*(const uint32_t *)a], *y = &s[*(const uint32_t *)b];
    if (x->k1 != y->k1)
        return x->k1 < y->k1 ? -1 : 1;
    return (x->k2 > y->k2) - (x->k2 < y->k2);
}

/* Rebuilds everything but the valid slots (the committed messages). */
static void recover_slots(weft_pqueue *q) {
    weft__pq_slot *s = slots(q);
    weft__pq_chunk *c = chunks(q);
    uint32_t js = LDR(&q->j_slot);
    if (js != WEFT__PQ_NIL) {
        uint64_t n = LDR(&q->j_nput);
        if (js < q->nslots && LDR(&s[js].valid))
            n++;
        ST(&q->nput, n);
        STEP();
        ST(&q->j_slot, WEFT__PQ_NIL);
    }
    STEP();
    memset(cmark(q), 0, q->nchunks);
    uint32_t *ord = order(q), *fs = fslots(q);
    uint64_t count = 0, used = 0, ftop = 0;
    int64_t kmax = -1, kmin = 0;
    for (uint64_t i = 0; i < q->nslots; i++) {
        if (!LDR(&s[i].valid)) {
            fs[ftop++] = (uint32_t)i;
            continue;
        }
        bool ok = s[i].len <= q->max_bytes;
        uint64_t k = ((uint64_t)s[i].len + WEFT__PQ_CHUNK_DATA - 1) / WEFT__PQ_CHUNK_DATA;
        uint32_t ch = s[i].first;
        for (uint64_t j = 0; ok && j < k; j++) {
            if (ch >= q->nchunks || cmark(q)[ch]) {
                ok = false;
                break;
            }
            cmark(q)[ch] = 1;
            ch = c[ch].next;
        }
        if (!ok) {
            /* Cannot happen unless the memory was corrupted: drop it. */
            ST(&s[i].valid, 0);
            fs[ftop++] = (uint32_t)i;
            continue;
        }
        ord[count++] = (uint32_t)i;
        used += foot(s[i].len);
        if (s[i].k2 > kmax)
            kmax = s[i].k2;
        if (s[i].k2 < kmin)
            kmin = s[i].k2;
    }
    uint32_t fc = WEFT__PQ_NIL;
    for (uint64_t i = q->nchunks; i-- > 0;)
        if (!cmark(q)[i]) {
            c[i].next = fc;
            fc = (uint32_t)i;
        }
    q->fchunk = fc;
    STEP();
    q->ftop = ftop;
    qsort_r(ord, count, sizeof *ord, key_cmp, s);
    q->oh = 0;
    q->ot = count;
    if (q->seq_back <= kmax)
        q->seq_back = kmax + 1;
    if (q->seq_front >= kmin)
        q->seq_front = kmin - 1;
    atomic_store(&q->count, count);
    STEP();
    atomic_store(&q->used, used);
    ST(&q->nget, LDR(&q->nput) - count);
}

static void recover_producer(weft_pqueue *q) {
    if (q->kind != WEFT_QUEUE_FIFO) {
        recover_slots(q);
        return;
    }
    if (LDR(&q->j_armed)) {
        uint64_t n = LDR(&q->j_nput) + (LDR(&q->tail) == LDR(&q->j_tail) ? 1 : 0);
        ST(&q->nput, n);
        STEP();
        ST(&q->j_armed, 0);
    }
    q->c_head = LD(&q->head);
    q->c_nget = fifo_nget(q);
}

static void recover_consumer(weft_pqueue *q) {
    if (LDR(&q->cj_armed)) {
        uint64_t n = LDR(&q->head) == LDR(&q->j_head) ? LDR(&q->j_nget_after) : LDR(&q->j_nget);
        ST(&q->nget, n);
        STEP();
        ST(&q->cj_armed, 0);
    }
    q->c_tail = LD(&q->tail);
}

/* Takes lock m; if its holder died, repairs with recover first. */
static inline int lock_side(weft_pqueue *q, weft__rmutex *m, void (*recover)(weft_pqueue *),
                            int64_t deadline) {
    int r = weft__rmutex_lock(m, deadline);
    if (likely(r == 0))
        return 0;
    if (r == -EOWNERDEAD) {
        recover(q);
        weft__rmutex_consistent(m);
        return 0;
    }
    return r;
}

static int lock_p(weft_pqueue *q, int64_t deadline) {
    return lock_side(q, &q->plock, recover_producer, deadline);
}

static int lock_c(weft_pqueue *q, int64_t deadline) {
    return lock_side(q, &q->clock, recover_consumer, deadline);
}

static inline void unlock_p(weft_pqueue *q) {
    weft__rmutex_unlock(&q->plock);
}
static inline void unlock_c(weft_pqueue *q) {
    weft__rmutex_unlock(&q->clock);
}

/* ---- waiting ------------------------------------------------------------- */

static void settle_slots(weft_pqueue *q);

enum { W_DATA, W_SPACE, W_JOIN };

static bool ready(weft_pqueue *q, int what, uint64_t need) {
    if (what == W_JOIN) {
        uint64_t d = LD(&q->ndone);
        return d == nput_of(q);
    }
    if (LD(&q->shut))
        return true;
    if (what == W_DATA) {
        if (q->kind == WEFT_QUEUE_FIFO)
            return LD(&q->tail) != LD(&q->head);
        return LD(&q->count) != 0;
    }
    uint64_t used, count;
    if (q->kind == WEFT_QUEUE_FIFO) {
        uint64_t h = LD(&q->head), g = fifo_nget(q);
        used = LD(&q->tail) - h;
        count = fifo_nput(q) - g;
    } else {
        used = LD(&q->used);
        count = LD(&q->count);
    }
    uint64_t cap = q->kind == WEFT_QUEUE_FIFO ? q->max_count : q->nslots;
    return used + need <= q->max_bytes && (!cap || count < cap);
}

/* Waits until ready(what) may hold, the deadline or cancellation. 0 means
 * "look again". */
static int wait_for(weft_pqueue *q, int what, uint64_t need, int64_t deadline) {
    if (weft__dl_passed(deadline))
        return -ETIMEDOUT;
    weft__sched *s = weft__sched_get();
    int64_t until = weft_now() + SPIN_NS;
    for (int i = 0;; i++) {
        if (ready(q, what, need))
            return 0;
        if ((i & 15) == 15 && weft_now() >= until)
            break;
        if (s) {
            int r = weft_yield();
            if (r)
                return r;
        } else if ((i & 63) == 63) {
            sched_yield();
        } else {
            weft__cpu_relax();
        }
    }
    _Atomic uint32_t *seq = what == W_DATA ? &q->dseq : what == W_SPACE ? &q->sseq : &q->jseq;
    _Atomic uint32_t *nw = what == W_DATA ? &q->dwait : what == W_SPACE ? &q->swait : &q->jwait;
    atomic_fetch_add_explicit(nw, 1, memory_order_seq_cst);
    uint32_t v = atomic_load_explicit(seq, memory_order_seq_cst);
    int r = 0;
    if (!ready(q, what, need)) {
        /* A process killed between its commit and its wake-up wakes no
         * one: sleep in slices, and look again (repairing after a dead
         * lock holder) after each. */
        int64_t slice = weft_now() + DEATH_SLICE_NS;
        bool sliced = weft__dl_forever(deadline) || deadline > slice;
        r = weft__pfutex_wait_why(seq, v, sliced ? slice : deadline, WEFT__WHY_PQUEUE);
        if (r == -ETIMEDOUT && sliced) {
            settle_slots(q);
            r = 0;
        }
    }
    atomic_fetch_sub_explicit(nw, 1, memory_order_seq_cst);
    return r;
}

/* Called after the caller published its change and then released a lock
 * or made another atomic read-modify-write. Between the publish and the
 * look at the waiter count there must be a full barrier (Dekker with
 * wait_for). On x86 that read-modify-write already is one (the robust
 * mutex's unlock must atomically swap the lock word to learn whether
 * someone sleeps, a locked instruction), so a plain load suffices; else a
 * read-modify-write of the count provides it (ThreadSanitizer cannot model
 * a bare fence). */
static void wake(_Atomic uint32_t *seq, _Atomic uint32_t *nw, int n) {
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__SANITIZE_THREAD__)
    uint32_t waiters = atomic_load_explicit(nw, memory_order_seq_cst);
#else
    uint32_t waiters = atomic_fetch_add_explicit(nw, 0, memory_order_seq_cst);
#endif
    if (waiters) {
        atomic_fetch_add_explicit(seq, 1, memory_order_seq_cst);
        weft__pfutex_wake(seq, n);
    }
}

static void wake_all(weft_pqueue *q) {
    atomic_fetch_add(&q->dseq, 1);
    weft__pfutex_wake(&q->dseq, INT32_MAX);
    atomic_fetch_add(&q->sseq, 1);
    weft__pfutex_wake(&q->sseq, INT32_MAX);
}

/* ---- FIFO ---------------------------------------------------------------- */

static void ring_write(weft_pqueue *q, uint64_t pos, const void *src, size_t n) {
    if (!n)
        return;
    uint64_t m = q->ring_size - 1, at = pos & m;
    uint64_t first = q->ring_size - at;
    if (n <= first) {
        memcpy(ring(q) + at, src, n);
    } else {
        memcpy(ring(q) + at, src, first);
        memcpy(ring(q), (const char *)src + first, n - first);
    }
}

static void ring_read(weft_pqueue *q, uint64_t pos, void *dst, size_t n) {
    if (!n)
        return;
    uint64_t m = q->ring_size - 1, at = pos & m;
    uint64_t first = q->ring_size - at;
    if (n <= first) {
        memcpy(dst, ring(q) + at, n);
    } else {
        memcpy(dst, ring(q) + at, first);
        memcpy((char *)dst + first, ring(q), n - first);
    }
}

/* The queue looked empty under lock m: drops m, then -EPIPE if the queue
 * is shut down, else waits for data (0: look again, or the wait's error). */
static int wait_data(weft_pqueue *q, weft__rmutex *m, int64_t deadline) {
    bool shut = LD(&q->shut);
    weft__rmutex_unlock(m);
    if (shut)
        return -EPIPE;
    return wait_for(q, W_DATA, 0, deadline);
}

/* Takes the producer lock of a queue that is not shut down: 0, -EPIPE
 * (shut down; not held) or the lock's error. */
static inline int lock_put(weft_pqueue *q, int64_t deadline) {
    int r = lock_p(q, deadline);
    if (r)
        return r;
    if (LDR(&q->shut)) {
        unlock_p(q);
        return -EPIPE;
    }
    return 0;
}

static int fifo_put(weft_pqueue *q, const void *msg, size_t len, int64_t deadline) {
    uint64_t f = foot(len);
    for (;;) {
        int r = lock_put(q, deadline);
        if (r)
            return r;
        uint64_t t = LDR(&q->tail), n = LDR(&q->nput);
        if (t + f - q->c_head > q->max_bytes)
            q->c_head = LD(&q->head);
        bool room = t + f - q->c_head <= q->max_bytes;
        if (room && q->max_count && n - q->c_nget >= q->max_count) {
            q->c_nget = fifo_nget(q);
            room = n - q->c_nget < q->max_count;
        }
        if (room) {
            uint64_t hdr = len;
            STEP();
            ring_write(q, t, &hdr, 8);
            STEP();
            if (unlikely(weft__pqueue_put_hook != NULL || LDR(&fault_left) != 0)) {
                ring_write(q, t + 8, msg, len / 2);
                if (weft__pqueue_put_hook)
                    weft__pqueue_put_hook();
                STEP();
                ring_write(q, t + 8 + len / 2, (const char *)msg + len / 2, len - len / 2);
            } else {
                ring_write(q, t + 8, msg, len);
            }
            /* The tail is the commit; nput follows it (see fifo_nput). */
            STEP();
            ST(&q->j_tail, t + f);
            STEP();
            ST(&q->j_nput, n);
            STEP();
            ST(&q->j_armed, 1);
            STEP();
            ST(&q->tail, t + f);
            STEP();
            ST(&q->nput, n + 1);
            STEP();
            ST(&q->j_armed, 0);
            STEP();
            unlock_p(q);
            STEP();
            wake(&q->dseq, &q->dwait, 1);
            return 0;
        }
        unlock_p(q);
        if ((r = wait_for(q, W_SPACE, f, deadline)) != 0)
            return r;
    }
}

static ssize_t fifo_get(weft_pqueue *q, void *buf, size_t cap, int64_t deadline) {
    for (;;) {
        int r = lock_c(q, deadline);
        if (r)
            return r;
        uint64_t h = LDR(&q->head);
        if (h == q->c_tail)
            q->c_tail = LD(&q->tail);
        if (h == q->c_tail && LD(&q->shut))
            q->c_tail = LD(&q->tail); /* puts committed before the shutdown */
        if (h != q->c_tail) {
            uint64_t hdr;
            ring_read(q, h, &hdr, 8);
            if (hdr > cap) {
                unlock_c(q);
                return -EMSGSIZE;
            }
            STEP();
            ring_read(q, h + 8, buf, hdr);
            if (unlikely(weft__pqueue_get_hook != NULL))
                weft__pqueue_get_hook();
            uint64_t n = LDR(&q->nget), f = foot(hdr);
            /* The head is the commit; nget follows it (see fifo_nget). */
            STEP();
            ST(&q->j_head, h + f);
            STEP();
            ST(&q->j_nget, n);
            STEP();
            ST(&q->j_nget_after, n + 1);
            STEP();
            ST(&q->cj_armed, 1);
            STEP();
            ST(&q->head, h + f);
            STEP();
            ST(&q->nget, n + 1);
            STEP();
            ST(&q->cj_armed, 0);
            STEP();
            unlock_c(q);
            STEP();
            wake(&q->sseq, &q->swait, INT32_MAX);
            return (ssize_t)hdr;
        }
        if ((r = wait_data(q, &q->clock, deadline)) != 0)
            return r;
    }
}

/* ---- LIFO, PRIORITY, DEQUE ------------------------------------------------ */

static bool key_less(weft__pq_slot *s, uint32_t a, uint32_t b) {
    if (s[a].k1 != s[b].k1)
        return s[a].k1 < s[b].k1;
    return s[a].k2 < s[b].k2;
}

static void heap_push(weft_pqueue *q, uint32_t slot, uint64_t n) {
    uint32_t *h = order(q);
    weft__pq_slot *s = slots(q);
    uint64_t i = n;
    while (i > 0) {
        uint64_t p = (i - 1) / 2;
        if (!key_less(s, slot, h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = slot;
}

static void heap_pop(weft_pqueue *q, uint64_t n) {
    uint32_t *h = order(q);
    weft__pq_slot *s = slots(q);
    uint32_t last = h[n - 1];
    n--;
    uint64_t i = 0;
    for (;;) {
        uint64_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && key_less(s, h[c + 1], h[c]))
            c++;
        if (!key_less(s, h[c], last))
            break;
        h[i] = h[c];
        i = c;
    }
    if (n)
        h[i] = last;
}

static int slot_put(weft_pqueue *q, const void *msg, size_t len, int64_t prio, int end,
                    int64_t deadline) {
    uint64_t f = foot(len);
    uint64_t k = ((uint64_t)len + WEFT__PQ_CHUNK_DATA - 1) / WEFT__PQ_CHUNK_DATA;
    for (;;) {
        int r = lock_put(q, deadline);
        if (r)
            return r;
        uint64_t used = LDR(&q->used), count = LDR(&q->count);
        if (used + f <= q->max_bytes && count < q->nslots) {
            weft__pq_slot *s = slots(q);
            weft__pq_chunk *c = chunks(q);
            uint32_t slot = fslots(q)[q->ftop - 1];
            uint32_t first = q->fchunk, ch = first, last = WEFT__PQ_NIL;
            size_t done = 0, half = len / 2;
            bool hooked = false;
            for (uint64_t j = 0; j < k; j++) {
                size_t n = len - done < WEFT__PQ_CHUNK_DATA ? len - done : WEFT__PQ_CHUNK_DATA;
                STEP();
                memcpy(c[ch].data, (const char *)msg + done, n);
                done += n;
                if (unlikely(weft__pqueue_put_hook != NULL) && !hooked && done >= half) {
                    hooked = true;
                    weft__pqueue_put_hook();
                }
                last = ch;
                ch = c[ch].next;
            }
            if (unlikely(weft__pqueue_put_hook != NULL) && !hooked)
                weft__pqueue_put_hook();
            STEP();
            s[slot].k1 = prio;
            s[slot].k2 = end == END_FRONT ? q->seq_front-- : q->seq_back++;
            s[slot].len = (uint32_t)len;
            s[slot].first = k ? first : WEFT__PQ_NIL;
            uint64_t n = LDR(&q->nput);
            STEP();
            ST(&q->j_nput, n);
            STEP();
            ST(&q->j_slot, slot);
            STEP();
            ST(&q->nput, n + 1);
            STEP();
            ST(&s[slot].valid, 1);
            /* Committed; the rest is derived state. */
            STEP();
            if (k) {
                c[last].next = WEFT__PQ_NIL;
                q->fchunk = ch;
            }
            STEP();
            q->ftop--;
            if (q->kind == WEFT_QUEUE_PRIORITY)
                heap_push(q, slot, count);
            else if (end == END_FRONT)
                order(q)[--q->oh & (q->ocap - 1)] = slot;
            else
                order(q)[q->ot++ & (q->ocap - 1)] = slot;
            STEP();
            atomic_store_explicit(&q->used, used + f, memory_order_release);
            STEP();
            atomic_store_explicit(&q->count, count + 1, memory_order_release);
            STEP();
            ST(&q->j_slot, WEFT__PQ_NIL);
            STEP();
            unlock_p(q);
            STEP();
            wake(&q->dseq, &q->dwait, 1);
            return 0;
        }
        unlock_p(q);
        if ((r = wait_for(q, W_SPACE, f, deadline)) != 0)
            return r;
    }
}

static ssize_t slot_get(weft_pqueue *q, void *buf, size_t cap, int end, int64_t deadline) {
    for (;;) {
        int r = lock_p(q, deadline);
        if (r)
            return r;
        uint64_t count = LDR(&q->count);
        if (count) {
            weft__pq_slot *s = slots(q);
            weft__pq_chunk *c = chunks(q);
            uint64_t m = q->ocap - 1;
            uint32_t slot;
            if (q->kind == WEFT_QUEUE_PRIORITY)
                slot = order(q)[0];
            else if (end == END_FRONT)
                slot = order(q)[q->oh & m];
            else
                slot = order(q)[(q->ot - 1) & m];
            size_t len = s[slot].len;
            if (len > cap) {
                unlock_p(q);
                return -EMSGSIZE;
            }
            STEP();
            if (q->kind == WEFT_QUEUE_PRIORITY)
                heap_pop(q, count);
            else if (end == END_FRONT)
                q->oh++;
            else
                q->ot--;
            STEP();
            uint32_t ch = s[slot].first, last = WEFT__PQ_NIL;
            size_t done = 0;
            while (done < len) {
                size_t n = len - done < WEFT__PQ_CHUNK_DATA ? len - done : WEFT__PQ_CHUNK_DATA;
                memcpy((char *)buf + done, c[ch].data, n);
                done += n;
                last = ch;
                ch = c[ch].next;
            }
            if (unlikely(weft__pqueue_get_hook != NULL))
                weft__pqueue_get_hook();
            STEP();
            ST(&s[slot].valid, 0); /* the commit */
            STEP();
            if (last != WEFT__PQ_NIL) {
                c[last].next = q->fchunk;
                q->fchunk = s[slot].first;
            }
            STEP();
            fslots(q)[q->ftop++] = slot;
            STEP();
            atomic_store_explicit(&q->used, LDR(&q->used) - foot(len), memory_order_release);
            STEP();
            atomic_store_explicit(&q->count, count - 1, memory_order_release);
            STEP();
            ST(&q->nget, LDR(&q->nget) + 1);
            STEP();
            unlock_p(q);
            STEP();
            wake(&q->sseq, &q->swait, INT32_MAX);
            return (ssize_t)len;
        }
        if ((r = wait_data(q, &q->plock, deadline)) != 0)
            return r;
    }
}

/* ---- public operations ---------------------------------------------------- */

static int put_common(weft_pqueue *q, const void *msg, size_t len, int64_t prio, int end,
                      int64_t deadline) {
    if (!valid_q(q) || (!msg && len))
        return -EINVAL;
    if (foot(len) > q->max_bytes || len > UINT32_MAX)
        return -EMSGSIZE;
    if (q->kind == WEFT_QUEUE_FIFO)
        return fifo_put(q, msg, len, deadline);
    return slot_put(q, msg, len, prio, end, deadline);
}

int weft_pqueue_put(weft_pqueue *q, const void *msg, size_t len, int64_t deadline) {
    return put_common(q, msg, len, 0, END_BACK, deadline);
}

int weft_pqueue_try_put(weft_pqueue *q, const void *msg, size_t len) {
    int r = put_common(q, msg, len, 0, END_BACK, WEFT_NOWAIT);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

int weft_pqueue_put_prio(weft_pqueue *q, const void *msg, size_t len, int64_t priority,
                         int64_t deadline) {
    if (!valid_q(q) || q->kind != WEFT_QUEUE_PRIORITY)
        return -EINVAL;
    return put_common(q, msg, len, priority, END_BACK, deadline);
}

int weft_pqueue_put_front(weft_pqueue *q, const void *msg, size_t len, int64_t deadline) {
    if (!valid_q(q) || q->kind != WEFT_QUEUE_DEQUE)
        return -EINVAL;
    return put_common(q, msg, len, 0, END_FRONT, deadline);
}

static ssize_t get_common(weft_pqueue *q, void *buf, size_t cap, int end, int64_t deadline) {
    if (!valid_q(q) || (!buf && cap))
        return -EINVAL;
    if (q->kind == WEFT_QUEUE_FIFO)
        return fifo_get(q, buf, cap, deadline);
    if (q->kind == WEFT_QUEUE_LIFO)
        end = END_BACK;
    return slot_get(q, buf, cap, end, deadline);
}

ssize_t weft_pqueue_get(weft_pqueue *q, void *buf, size_t cap, int64_t deadline) {
    return get_common(q, buf, cap, END_FRONT, deadline);
}

ssize_t weft_pqueue_try_get(weft_pqueue *q, void *buf, size_t cap) {
    ssize_t r = get_common(q, buf, cap, END_FRONT, WEFT_NOWAIT);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

ssize_t weft_pqueue_get_back(weft_pqueue *q, void *buf, size_t cap, int64_t deadline) {
    if (!valid_q(q) || q->kind != WEFT_QUEUE_DEQUE)
        return -EINVAL;
    return get_common(q, buf, cap, END_BACK, deadline);
}

/* The other kinds keep every count under plock: a process that died
 * holding it may have left them half-updated. Repairs that first when
 * nobody holds the lock (a dead holder does not count); a live holder
 * finishes its own update. */
static void settle_slots(weft_pqueue *q) {
    if (q->kind == WEFT_QUEUE_FIFO || weft__rmutex_held(&q->plock))
        return;
    int t = weft__rmutex_trylock(&q->plock);
    if (t == -EOWNERDEAD) {
        recover_producer(q);
        weft__rmutex_consistent(&q->plock);
    }
    if (t == 0 || t == -EOWNERDEAD)
        unlock_p(q);
}

size_t weft_pqueue_size(weft_pqueue *q) {
    if (!valid_q(q))
        return 0;
    if (q->kind != WEFT_QUEUE_FIFO) {
        /* The count, as empty() reads it: nput - nget lags it while a get or put
         * is between its two stores, so the two could disagree. */
        settle_slots(q);
        return (size_t)LD(&q->count);
    }
    uint64_t g = fifo_nget(q), p = fifo_nput(q);
    return p > g ? (size_t)(p - g) : 0;
}

int weft_pqueue_empty(weft_pqueue *q) {
    if (!valid_q(q))
        return 1;
    if (q->kind == WEFT_QUEUE_FIFO)
        return LD(&q->head) == LD(&q->tail);
    settle_slots(q);
    return LD(&q->count) == 0;
}

int weft_pqueue_full(weft_pqueue *q) {
    if (!valid_q(q))
        return 0;
    settle_slots(q);
    return !ready(q, W_SPACE, 8) && !LD(&q->shut);
}

int weft_pqueue_task_done(weft_pqueue *q) {
    if (!valid_q(q))
        return -EINVAL;
    uint64_t d = LD(&q->ndone);
    for (;;) {
        if (d >= nput_of(q))
            return -EINVAL;
        if (atomic_compare_exchange_weak_explicit(&q->ndone, &d, d + 1, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
    if (d + 1 == nput_of(q))
        wake(&q->jseq, &q->jwait, INT32_MAX);
    return 0;
}

int weft_pqueue_join(weft_pqueue *q, int64_t deadline) {
    if (!valid_q(q))
        return -EINVAL;
    for (;;) {
        if (ready(q, W_JOIN, 0))
            return 0;
        /* A producer of the slot kinds that died between counting a put
         * and committing it leaves nput one too high until a lock owner
         * repairs it: do that here if nobody holds the lock. */
        int t = weft__rmutex_trylock(&q->plock);
        if (t == -EOWNERDEAD) {
            recover_producer(q);
            weft__rmutex_consistent(&q->plock);
        }
        if (t == 0 || t == -EOWNERDEAD) {
            unlock_p(q);
            if (ready(q, W_JOIN, 0))
                return 0;
        }
        int r = wait_for(q, W_JOIN, 0, deadline);
        if (r)
            return r;
    }
}

int weft_pqueue_shutdown(weft_pqueue *q, int immediate) {
    if (!valid_q(q))
        return -EINVAL;
    int r = lock_p(q, WEFT_FOREVER);
    if (r)
        return r;
    ST(&q->shut, 1);
    uint64_t discarded = 0;
    if (immediate) {
        if (q->kind == WEFT_QUEUE_FIFO) {
            if ((r = lock_c(q, WEFT_FOREVER)) != 0) {
                unlock_p(q);
                wake_all(q);
                return r;
            }
            uint64_t t = LDR(&q->tail), g = LDR(&q->nget), p = LDR(&q->nput);
            discarded = p - g;
            ST(&q->j_head, t);
            ST(&q->j_nget, g);
            ST(&q->j_nget_after, p);
            ST(&q->cj_armed, 1);
            ST(&q->head, t);
            ST(&q->nget, p);
            ST(&q->cj_armed, 0);
            q->c_tail = t;
            unlock_c(q);
        } else {
            weft__pq_slot *s = slots(q);
            for (uint64_t i = 0; i < q->nslots; i++)
                ST(&s[i].valid, 0);
            discarded = LDR(&q->count);
            recover_slots(q);
        }
        if (discarded)
            atomic_fetch_add_explicit(&q->ndone, discarded, memory_order_acq_rel);
    }
    unlock_p(q);
    wake_all(q);
    atomic_fetch_add(&q->jseq, 1);
    weft__pfutex_wake(&q->jseq, INT32_MAX);
    return 0;
}

int weft_pqueue_is_shutdown(weft_pqueue *q) {
    return valid_q(q) && LD(&q->shut) ? 1 : 0;
}
