/* Internals of the thread pool and futures. Private to src/pool/. */
#ifndef WEFT_POOL_POOL_H
#define WEFT_POOL_POOL_H

#include "internal.h"
#include "sync/waitq.h"

/* Future state word: the state in the low two bits, plus F_SLOW once a
 * waiter or a done-callback is registered (always under the future's
 * lock). The completer changes the state with one atomic operation and
 * takes the lock only if the word it replaced had F_SLOW: a future nobody
 * waits on completes with no lock and no wake-up. PENDING -> RUNNING (the
 * worker) and PENDING -> CANCELLED (a canceller) race by compare-and-swap;
 * DONE and CANCELLED are final and drop F_SLOW. */
enum {
    F_PENDING = 0,
    F_RUNNING = 1,
    F_DONE = 2,
    F_CANCELLED = 3,
    F_MASK = 3,
    F_SLOW = 4,
};

typedef struct cb_node {
    struct cb_node *next;
    weft_future_cb cb;
    void *ud;
} cb_node;

struct weft_future {
    atomic_uint state;
    atomic_uint refs;           /* caller's + pool's (until done) */
    uint32_t tag;               /* WEFT__FUTURE_MAGIC; WEFT__TAG_DEAD once freed */
    struct weft_future *next;   /* submission queue link (owned by the pool) */
    weft_task_fn fn;
    void *arg;
    void *result;               /* written before state becomes DONE */
    int status;                 /* likewise */
    weft__spin lock;            /* protects q and cbs */
    weft__wq q;                 /* parked waiters */
    cb_node *cbs, *cbs_tail;    /* done-callbacks, in order */
    bool forget;                /* submitted with no future for the caller: a failure is
                                   reported to the excepthook */
};

#define WEFT__FUTURE_MAGIC 0x66757475u /* "futu" */
/* Every entry point checks its future. */
static inline void weft__future_check(const weft_future *f, const char *fn) {
    weft__tag_check_handle(f->tag, WEFT__FUTURE_MAGIC, fn, "weft_future", f);
}

static inline bool weft__future_final(unsigned s) { return (s & F_MASK) >= F_DONE; }

/* The outcome of a final future: its status (or -ECANCELED) and result. */
static inline int weft__future_outcome(weft_future *f, void **result) {
    unsigned s = atomic_load_explicit(&f->state, memory_order_acquire);
    if ((s & F_MASK) == F_CANCELLED) {
        if (result)
            *result = NULL;
        return -ECANCELED;
    }
    if (result)
        *result = f->result;
    return f->status;
}

/* pool.c */
/* Checks p's tag (aborts on a corrupted or destroyed pool). */
void weft__pool_check(const weft_pool *p, const char *fn);
/* True if the calling thread is one of p's workers (a wait for p's tasks
 * could wait for itself). */
bool weft__pool_is_own_worker(const weft_pool *p);

/* imap.c */
/* The function of every imap task (its argument is the iterator's slot). */
int weft__imap_task(void *arg, void **result);
/* Cancels imap task f if it has not started (true), completing its slot. */
bool weft__imap_task_cancel(weft_future *f);

/* future.c */
void weft__future_init(weft_future *f, weft_task_fn fn, void *arg, unsigned refs);
/* Wakes waiters and runs callbacks after a transition whose replaced
 * state word was `old` (no-op unless it had F_SLOW). */
void weft__future_finish(weft_future *f, unsigned old);
/* PENDING -> CANCELLED; true if this call did it (and finished f). */
bool weft__future_try_cancel(weft_future *f);
/* Waits for one future; kind WEFT__W_NOCANCEL ignores cancellation. */
int weft__future_wait(weft_future *f, int64_t deadline, int kind);

#endif
