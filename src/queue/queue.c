/* weft_queue: FIFO, LIFO, priority and double-ended queues of fixed-size
 * elements, bounded or not, with direct hand-off to parked peers,
 * task_done/join and shutdown.
 *
 * Storage: a growable ring buffer (FIFO, LIFO, DEQUE), or a binary min-heap
 * on (priority, sequence number) (PRIORITY), both in `buf`.
 *
 * Concurrency invariants, all under `lock`:
 *   - getq holds getters parked on an empty queue. A getter parks only when
 *     len == 0, and every put first offers its element to getq, so while a
 *     claimable getter is queued, len == 0. (Nodes whose waiter was already
 *     claimed by a timeout or cancellation may still be linked; every
 *     claimer skips them and their owners unlink them.)
 *   - putq holds putters parked on a full bounded queue. A putter parks only
 *     when len == maxsize, and every get that frees a slot moves the oldest
 *     claimable putter's element in, so while one is queued, len == maxsize
 *     and cap >= maxsize: moving it in never allocates.
 *   - joinq holds joiners; unfinished > 0 while one is queued.
 *   - A hand-off writes into memory from weft__park_mem (never a parked
 *     WEFT_STACK_SHARED coroutine's stack), after winning the waiter's
 *     claim and before waking it; the waiter is only woken after `lock` is
 *     released.
 * `len` and `shut` are atomics only so that size/empty/full and the spin
 * before parking may read them without the lock. */
#include "sync/watch.h"

#include <sched.h>
#include <string.h>

#define MAX_ELEM 65536
#define MAX_SIZE ((size_t)1 << 30)
#define INIT_CAP 16
#define SPIN_NS (20 * WEFT_USEC) /* about a cross-core futex round trip */

enum { END_BACK = 0, END_FRONT = 1 };

/* Heap slot header (PRIORITY); the element follows. */
typedef struct {
    int64_t prio;
    uint64_t seq;
} hent;

struct weft_queue {
    void *mem; /* the allocation holding this struct (aligned inside it) */
    /* Read-mostly: set at creation, or (buf, cap) when storage grows. */
    uint8_t kind;
    uint32_t esz;   /* element size */
    uint32_t tag;   /* QUEUE_MAGIC; WEFT__TAG_DEAD once destroyed */
    size_t stride;  /* bytes per slot: esz, or sizeof(hent) + esz rounded up */
    size_t maxsize; /* 0: unbounded */
    unsigned char *buf;
    size_t cap;
    uint64_t seq; /* next PRIORITY sequence number */
    weft__wq joinq;
    /* Written by every put and get: one cache line, so that an operation
     * moves one line between the cores of a producer and a consumer. */
    _Alignas(64) weft__spin lock;
    atomic_int shut;     /* 0, or 1 once shut down */
    atomic_size_t len;   /* written under the lock; read without it by size/empty/full
                            and the spin before parking */
    size_t head;         /* ring: slots [head, head + len) mod cap; heap: [0, len) */
    uint64_t unfinished; /* tasks put and not yet task_done */
    weft__wq getq, putq;
    weft__wq itemw, roomw; /* weft_wait_any's watchers: of an item, of room */
    _Alignas(64) unsigned char tmp[]; /* PRIORITY: one slot, for sifting */
};
#define QUEUE_MAGIC 0x71756575u /* "queu" */
/* Every entry point checks its queue (garbage would spin on the lock). */
static inline void check(const weft_queue *q, const char *fn) {
    weft__tag_check_handle(q->tag, QUEUE_MAGIC, fn, "weft_queue", q);
}

/* A parked getter or putter. `elem` is where a hand-off reads or writes. */
typedef struct {
    weft__wq_node n;
    void *elem;
    int64_t prio;
    int end;
} qnode;

static inline void copy_elem(void *dst, const void *src, uint32_t n) {
    switch (n) {
    case 4:
        memcpy(dst, src, 4);
        break;
    case 8:
        memcpy(dst, src, 8);
        break;
    case 16:
        memcpy(dst, src, 16);
        break;
    default:
        memcpy(dst, src, n);
        break;
    }
}


static inline unsigned char *slot(weft_queue *q, size_t i) {
    return q->buf + i * q->stride;
}

/* q->len: written only under the lock, so relaxed accesses suffice there. */
static inline size_t qlen(weft_queue *q) {
    return atomic_load_explicit(&q->len, memory_order_relaxed);
}

static inline void set_len(weft_queue *q, size_t len) {
    atomic_store_explicit(&q->len, len, memory_order_relaxed);
}

/* ---- storage ---------------------------------------------------------- */

/* Makes room for one more element. Lock held. 0 or -ENOMEM. */
static int grow(weft_queue *q) {
    if (qlen(q) < q->cap)
        return 0;
    size_t ncap = q->cap * 2;
    if (q->maxsize && ncap > q->maxsize)
        ncap = q->maxsize;
    if (ncap <= q->cap || ncap > SIZE_MAX / q->stride)
        return -ENOMEM;
    unsigned char *nb = weft__malloc(ncap * q->stride);
    if (!nb)
        return -ENOMEM;
    if (q->kind == WEFT_QUEUE_PRIORITY || q->head + qlen(q) <= q->cap) {
        memcpy(nb, slot(q, q->head), qlen(q) * q->stride);
    } else { /* wrapped ring: two segments */
        size_t first = q->cap - q->head;
        memcpy(nb, slot(q, q->head), first * q->stride);
        memcpy(nb + first * q->stride, q->buf, (qlen(q) - first) * q->stride);
    }
    weft__free(q->buf);
    q->buf = nb;
    q->cap = ncap;
    q->head = 0;
    return 0;
}

static inline bool heap_less(const unsigned char *a, const unsigned char *b) {
    const hent *x = (const hent *)a, *y = (const hent *)b;
    return x->prio < y->prio || (x->prio == y->prio && x->seq < y->seq);
}

/* Stores one element; there is room (grow() succeeded). Lock held. */
static void store(weft_queue *q, const void *elem, int end, int64_t prio) {
    if (q->kind == WEFT_QUEUE_PRIORITY) {
        hent *h = (hent *)q->tmp;
        h->prio = prio;
        h->seq = q->seq++;
        copy_elem(q->tmp + sizeof(hent), elem, q->esz);
        size_t i = qlen(q);
        while (i > 0) {
            size_t p = (i - 1) / 2;
            if (!heap_less(q->tmp, slot(q, p)))
                break;
            memcpy(slot(q, i), slot(q, p), q->stride);
            i = p;
        }
        memcpy(slot(q, i), q->tmp, q->stride);
    } else if (end == END_FRONT) {
        q->head = q->head ? q->head - 1 : q->cap - 1;
        copy_elem(slot(q, q->head), elem, q->esz);
    } else {
        size_t t = q->head + qlen(q);
        if (t >= q->cap)
            t -= q->cap;
        copy_elem(slot(q, t), elem, q->esz);
    }
    set_len(q, qlen(q) + 1);
}

/* Removes one element into out; len > 0. Lock held. */
static void take(weft_queue *q, void *out, int end) {
    size_t n = qlen(q) - 1;
    if (q->kind == WEFT_QUEUE_PRIORITY) {
        copy_elem(out, slot(q, 0) + sizeof(hent), q->esz);
        if (n) { /* sift the last slot down from the root */
            unsigned char *last = slot(q, n);
            size_t i = 0;
            for (;;) {
                size_t c = 2 * i + 1;
                if (c >= n)
                    break;
                if (c + 1 < n && heap_less(slot(q, c + 1), slot(q, c)))
                    c++;
                if (!heap_less(slot(q, c), last))
                    break;
                memcpy(slot(q, i), slot(q, c), q->stride);
                i = c;
            }
            if (slot(q, i) != last)
                memcpy(slot(q, i), last, q->stride);
        }
    } else if (end == END_FRONT) {
        copy_elem(out, slot(q, q->head), q->esz);
        if (++q->head == q->cap)
            q->head = 0;
    } else {
        size_t t = q->head + n;
        if (t >= q->cap)
            t -= q->cap;
        copy_elem(out, slot(q, t), q->esz);
    }
    set_len(q, n);
}

/* ---- parking ---------------------------------------------------------- */

/* Parks the caller on wq with a hand-off slot. Lock held on entry, not on
 * return. For a putter, elem is the element (copied aside first if the
 * caller's stack may move); for a getter, where the element lands. Returns
 * the claimer's result (0 or -EPIPE), -ETIMEDOUT, -ECANCELED or -ENOMEM. */
static int park_on(weft_queue *q, weft__wq *wq, void *elem, bool put, int end, int64_t prio,
                   int64_t deadline) {
    qnode local;
    qnode *n = weft__park_mem(&local, sizeof local + q->esz);
    if (!n) {
        weft__spin_unlock(&q->lock);
        return -ENOMEM;
    }
    void *bounce = n == &local ? NULL : (void *)(n + 1);
    if (bounce && put)
        copy_elem(bounce, elem, q->esz);
    weft__waiter lw, *w = weft__waiter_begin(&lw, WEFT__W_OTHER);
    weft__why(put ? WEFT__WHY_QPUT : WEFT__WHY_QGET, q, 0);
    n->n.w = w;
    n->n.since = 0;
    n->n.arg = 0;
    n->elem = bounce ? bounce : elem;
    n->prio = prio;
    n->end = end;
    weft__wq_push(wq, &n->n, false);
    weft__spin_unlock(&q->lock);
    int r = weft__park(w, deadline);
    if (r < 0) {
        /* We (timeout, cancel) or shutdown claimed the waiter: nothing was
         * handed over. Leave the queue if still in it. */
        weft__spin_lock(&q->lock);
        if (n->n.linked)
            weft__wq_unlink(wq, &n->n);
        weft__spin_unlock(&q->lock);
    } else if (bounce && !put) {
        copy_elem(elem, bounce, q->esz);
    }
    return r;
}

/* Spinning only pays when the party that will end the wait runs on another
 * CPU: never in a coroutine that shares its thread with others. */
static bool may_spin(void) {
    return weft__sched_get() == NULL || weft_coro_count() == 0;
}

/* Spins (lock not held) until the queue is no longer in the state the
 * caller would park for, or SPIN_NS pass, or the deadline. */
static void spin_wait(weft_queue *q, bool put, int64_t deadline) {
    int64_t until = 0;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&q->shut, memory_order_relaxed))
            return;
        size_t len = atomic_load_explicit(&q->len, memory_order_relaxed);
        if (put ? len < q->maxsize : len > 0)
            return;
        if (i < 128) {
            weft__cpu_relax();
            continue;
        }
        /* The other side may be waiting for this very CPU (a futex wake
         * tends to put the wakee next to its waker): let it run. */
        sched_yield();
        if ((i & 7) == 0) {
            int64_t now = weft_now();
            if (!until) {
                until = now + SPIN_NS;
                if (!weft__dl_forever(deadline) && deadline < until)
                    until = deadline;
            } else if (now >= until)
                return;
        }
    }
}

/* ---- operations ------------------------------------------------------- */

WEFT_API int weft_queue_create(weft_queue **out, int kind, size_t elem_size, size_t maxsize) {
    if (!out || kind < WEFT_QUEUE_FIFO || kind > WEFT_QUEUE_DEQUE || elem_size == 0 ||
        elem_size > MAX_ELEM || maxsize > MAX_SIZE)
        return -EINVAL;
    size_t stride = elem_size;
    if (kind == WEFT_QUEUE_PRIORITY)
        stride = (sizeof(hent) + elem_size + 7) & ~(size_t)7;
    void *mem =
        weft__calloc(1, sizeof(weft_queue) + 63 + (kind == WEFT_QUEUE_PRIORITY ? stride : 0));
    if (!mem)
        return -ENOMEM;
    weft_queue *q = (weft_queue *)(((uintptr_t)mem + 63) & ~(uintptr_t)63);
    q->mem = mem;
    size_t cap = maxsize && maxsize < INIT_CAP ? maxsize : INIT_CAP;
    q->buf = weft__malloc(cap * stride);
    if (!q->buf) {
        weft__free(mem);
        return -ENOMEM;
    }
    q->kind = (uint8_t)kind;
    q->esz = (uint32_t)elem_size;
    q->stride = stride;
    q->maxsize = maxsize;
    q->cap = cap;
    q->tag = QUEUE_MAGIC;
    *out = q;
    return 0;
}

WEFT_API int weft_queue_destroy(weft_queue *q) {
    if (!q)
        return 0;
    check(q, "weft_queue_destroy");
    weft__spin_lock(&q->lock);
    bool busy = q->getq.head || q->putq.head || q->joinq.head || q->itemw.head || q->roomw.head;
    weft__spin_unlock(&q->lock);
    if (busy)
        return -EBUSY;
    q->tag = WEFT__TAG_DEAD;
    weft__free(q->buf);
    weft__free(q->mem);
    return 0;
}

/* Claims every watcher of wq (weft_wait_any), chaining them through their
 * unlinked nodes' `next` for wake_watchers once the lock is released. A
 * watcher is told, never handed anything. Lock held. */
static weft__wq_node *claim_watchers(weft__wq *wq) {
    weft__wq_node *list = NULL, *n;
    while ((n = wq->head)) {
        weft__wq_unlink(wq, n);
        if (weft__waiter_claim(n->w, 0, 0)) {
            n->next = list;
            list = n;
        }
    }
    return list;
}

static void wake_watchers(weft__wq_node *list) {
    while (list) {
        weft__wq_node *n = list;
        list = n->next;
        weft__waiter_wake(n->w); /* n may be gone after this */
    }
}

static int put_op(weft_queue *q, const void *elem, int end, int64_t prio, int64_t deadline) {
    bool spun = false;
    weft__spin_lock(&q->lock);
    for (;;) {
        if (q->shut) {
            weft__spin_unlock(&q->lock);
            return -EPIPE;
        }
        weft__wq_node *g = weft__wq_claim_first(&q->getq, 0, 0);
        if (g) { /* the queue is empty and a getter waits: hand it over */
            copy_elem(((qnode *)g)->elem, elem, q->esz);
            q->unfinished++;
            weft__spin_unlock(&q->lock);
            weft__waiter_wake(g->w);
            return 0;
        }
        if (!q->maxsize || qlen(q) < q->maxsize) {
            if (grow(q) != 0) {
                weft__spin_unlock(&q->lock);
                return -ENOMEM;
            }
            store(q, elem, end, prio);
            q->unfinished++;
            weft__wq_node *watchers = q->itemw.head ? claim_watchers(&q->itemw) : NULL;
            weft__spin_unlock(&q->lock);
            wake_watchers(watchers);
            return 0;
        }
        if (weft__dl_passed(deadline)) {
            weft__spin_unlock(&q->lock);
            return -ETIMEDOUT;
        }
        if (spun || !may_spin())
            break;
        weft__spin_unlock(&q->lock);
        spin_wait(q, true, deadline);
        spun = true;
        weft__spin_lock(&q->lock);
    }
    /* A getter that frees a slot stores our element and claims us with 0. */
    return park_on(q, &q->putq, (void *)elem, true, end, prio, deadline);
}

static int get_op(weft_queue *q, void *out, int end, int64_t deadline) {
    bool spun = false;
    weft__spin_lock(&q->lock);
    for (;;) {
        if (qlen(q)) {
            take(q, out, end);
            weft__wq_node *p = q->putq.head ? weft__wq_claim_first(&q->putq, 0, 0) : NULL;
            if (p) { /* the queue was full: the oldest waiting putter's element moves in */
                qnode *pn = (qnode *)p;
                store(q, pn->elem, pn->end, pn->prio); /* cap >= maxsize: no growth */
                q->unfinished++;
            }
            /* A slot freed (no putter took it): room for a watcher. */
            weft__wq_node *watchers = !p && q->roomw.head ? claim_watchers(&q->roomw) : NULL;
            weft__spin_unlock(&q->lock);
            if (p)
                weft__waiter_wake(p->w);
            wake_watchers(watchers);
            return 0;
        }
        if (q->shut) {
            weft__spin_unlock(&q->lock);
            return -EPIPE;
        }
        if (weft__dl_passed(deadline)) {
            weft__spin_unlock(&q->lock);
            return -ETIMEDOUT;
        }
        if (spun || !may_spin())
            break;
        weft__spin_unlock(&q->lock);
        spin_wait(q, false, deadline);
        spun = true;
        weft__spin_lock(&q->lock);
    }
    /* A putter hands us an element (claim 0), or shutdown claims -EPIPE. */
    return park_on(q, &q->getq, out, false, end, 0, deadline);
}

WEFT_API int weft_queue_put(weft_queue *q, const void *elem, int64_t deadline) {
    if (!q || !elem)
        return -EINVAL;
    check(q, "weft_queue_put");
    return put_op(q, elem, END_BACK, 0, deadline);
}

WEFT_API int weft_queue_try_put(weft_queue *q, const void *elem) {
    int r = weft_queue_put(q, elem, WEFT_NOWAIT);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

WEFT_API int weft_queue_put_prio(weft_queue *q, const void *elem, int64_t priority,
                                 int64_t deadline) {
    if (!q || !elem)
        return -EINVAL;
    check(q, "weft_queue_put_prio");
    if (q->kind != WEFT_QUEUE_PRIORITY)
        return -EINVAL;
    return put_op(q, elem, END_BACK, priority, deadline);
}

WEFT_API int weft_queue_put_front(weft_queue *q, const void *elem, int64_t deadline) {
    if (!q || !elem)
        return -EINVAL;
    check(q, "weft_queue_put_front");
    if (q->kind != WEFT_QUEUE_DEQUE)
        return -EINVAL;
    return put_op(q, elem, END_FRONT, 0, deadline);
}

WEFT_API int weft_queue_get(weft_queue *q, void *out, int64_t deadline) {
    if (!q || !out)
        return -EINVAL;
    check(q, "weft_queue_get");
    return get_op(q, out, q->kind == WEFT_QUEUE_LIFO ? END_BACK : END_FRONT, deadline);
}

WEFT_API int weft_queue_try_get(weft_queue *q, void *out) {
    int r = weft_queue_get(q, out, WEFT_NOWAIT);
    return r == -ETIMEDOUT ? -EAGAIN : r;
}

WEFT_API int weft_queue_get_back(weft_queue *q, void *out, int64_t deadline) {
    if (!q || !out)
        return -EINVAL;
    check(q, "weft_queue_get_back");
    if (q->kind != WEFT_QUEUE_DEQUE)
        return -EINVAL;
    return get_op(q, out, END_BACK, deadline);
}

WEFT_API size_t weft_queue_size(weft_queue *q) {
    if (!q)
        return 0;
    check(q, "weft_queue_size");
    return atomic_load_explicit(&q->len, memory_order_relaxed);
}

WEFT_API int weft_queue_empty(weft_queue *q) {
    return weft_queue_size(q) == 0;
}

WEFT_API int weft_queue_full(weft_queue *q) {
    if (q)
        check(q, "weft_queue_full");
    return q && q->maxsize && atomic_load_explicit(&q->len, memory_order_relaxed) >= q->maxsize;
}

WEFT_API int weft_queue_task_done(weft_queue *q) {
    if (!q)
        return -EINVAL;
    check(q, "weft_queue_task_done");
    weft__spin_lock(&q->lock);
    if (!q->unfinished) {
        weft__spin_unlock(&q->lock);
        return -EINVAL;
    }
    if (--q->unfinished == 0 && q->joinq.head) {
        weft__wq_wake_all(&q->joinq, &q->lock, 0);
        return 0;
    }
    weft__spin_unlock(&q->lock);
    return 0;
}

WEFT_API int weft_queue_join(weft_queue *q, int64_t deadline) {
    if (!q)
        return -EINVAL;
    check(q, "weft_queue_join");
    weft__spin_lock(&q->lock);
    if (!q->unfinished) {
        weft__spin_unlock(&q->lock);
        return 0;
    }
    if (weft__dl_passed(deadline)) {
        weft__spin_unlock(&q->lock);
        return -ETIMEDOUT;
    }
    weft__why(WEFT__WHY_QJOIN, q, 0);
    return weft__wq_wait(&q->joinq, &q->lock, false, 0, NULL, deadline, NULL, WEFT__W_OTHER);
}

/* Claims every claimable waiter of wq with `result`, chaining them on *list
 * through their (now unlinked) nodes' `next`. Lock held. */
static void claim_all(weft__wq *wq, int result, weft__wq_node **list) {
    weft__wq_node *n;
    while ((n = wq->head)) {
        weft__wq_unlink(wq, n);
        if (weft__waiter_claim(n->w, result, 0)) {
            n->next = *list;
            *list = n;
        }
    }
}

WEFT_API int weft_queue_shutdown(weft_queue *q, int immediate) {
    if (!q)
        return -EINVAL;
    check(q, "weft_queue_shutdown");
    weft__wq_node *list = NULL;
    weft__spin_lock(&q->lock);
    q->shut = 1;
    if (immediate && qlen(q)) {
        /* Every stored element was counted when it was put. */
        q->unfinished -= qlen(q);
        q->head = 0;
        set_len(q, 0);
        if (!q->unfinished)
            claim_all(&q->joinq, 0, &list);
    }
    claim_all(&q->getq, -EPIPE, &list); /* the queue is empty while they wait */
    claim_all(&q->putq, -EPIPE, &list);
    claim_all(&q->itemw, 0, &list); /* a get or put would not wait now */
    claim_all(&q->roomw, 0, &list);
    weft__spin_unlock(&q->lock);
    while (list) {
        weft__wq_node *n = list;
        list = n->next;
        weft__waiter_wake(n->w); /* n may be gone after this */
    }
    return 0;
}

WEFT_API int weft_queue_is_shutdown(weft_queue *q) {
    if (q)
        check(q, "weft_queue_is_shutdown");
    return q && atomic_load_explicit(&q->shut, memory_order_relaxed) ? 1 : 0;
}

/* ---- weft_wait_any (sync/watch.h) ---------------------------------------- */

static bool ready_locked(weft_queue *q, int room) {
    if (atomic_load_explicit(&q->shut, memory_order_relaxed))
        return true;
    size_t len = qlen(q);
    return room ? !q->maxsize || len < q->maxsize : len > 0;
}

int weft__queue_ready(weft_queue *q, int room) {
    check(q, "weft_wait_any");
    return ready_locked(q, room);
}

int weft__queue_watch(weft_queue *q, int room, weft__wq_node *n, weft__waiter *w) {
    check(q, "weft_wait_any");
    weft__spin_lock(&q->lock);
    if (ready_locked(q, room)) {
        weft__spin_unlock(&q->lock);
        return 1;
    }
    n->w = w;
    n->since = 0;
    n->arg = 0;
    weft__wq_push(room ? &q->roomw : &q->itemw, n, false);
    weft__spin_unlock(&q->lock);
    return 0;
}

void weft__queue_unwatch(weft_queue *q, int room, weft__wq_node *n) {
    weft__spin_lock(&q->lock);
    if (n->linked)
        weft__wq_unlink(room ? &q->roomw : &q->itemw, n);
    weft__spin_unlock(&q->lock);
}
