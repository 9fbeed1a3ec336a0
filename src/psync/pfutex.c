/* Waiting on a 32-bit word in memory shared between processes.
 *
 * A plain thread (one without a scheduler) waits with a shared futex
 * directly. A thread with a scheduler must not block in the kernel: the
 * other coroutines would stop. There a helper thread does the futex wait on
 * the caller's behalf while the calling coroutine parks; the helper ends the
 * park when the futex returns. Helper threads are created on demand, reused,
 * and leave after a while idle. If the coroutine's own park ends first
 * (deadline, cancellation), it kicks the helper with a wake on the word:
 * waiters of a futex always re-check their condition, so an extra wake-up
 * is harmless to them. */
#include "internal.h"

#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int futex_wait_abs(_Atomic uint32_t *addr, uint32_t val, int64_t deadline) {
    struct timespec ts, *tp = NULL;
    if (!weft__dl_forever(deadline)) {
        ts.tv_sec = deadline / 1000000000;
        ts.tv_nsec = deadline % 1000000000;
        tp = &ts;
    }
    /* Not FUTEX_PRIVATE: the word may be mapped by other processes. */
    long r = syscall(SYS_futex, addr, FUTEX_WAIT_BITSET, val, tp, NULL, FUTEX_BITSET_MATCH_ANY);
    if (r == 0)
        return 0;
    if (errno == ETIMEDOUT)
        return -ETIMEDOUT;
    if (errno == EAGAIN || errno == EINTR)
        return 0; /* the value changed, or a signal: the caller re-checks */
    return -errno;
}

int weft__pfutex_wake(_Atomic uint32_t *addr, int n) {
    long r = syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
    return r < 0 ? -errno : (int)r;
}

/* ---- helper threads -------------------------------------------------------- */

struct req {
    struct req *next;
    _Atomic uint32_t *addr;
    uint32_t val;
    int64_t deadline;
    weft__spin lock;    /* guards w */
    weft__waiter *w;    /* the parked caller, NULL once its park ended */
    atomic_int refs;    /* the caller and the helper */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct req *head, *tail;
    int queued; /* requests in the list */
    int idle;   /* helpers waiting for one */
} H = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0, 0};
static pthread_once_t h_once = PTHREAD_ONCE_INIT;

static void h_atfork_child(void) {
    /* The helpers do not exist in a forked child; pending requests belong to
     * coroutines that will never run there. */
    pthread_mutex_init(&H.mu, NULL);
    pthread_cond_init(&H.cv, NULL);
    H.head = H.tail = NULL;
    H.queued = 0;
    H.idle = 0;
}
static void h_setup(void) { pthread_atfork(NULL, NULL, h_atfork_child); }

static void req_unref(struct req *q) {
    if (atomic_fetch_sub_explicit(&q->refs, 1, memory_order_acq_rel) == 1)
        weft__free(q);
}

#define IDLE_NS (10 * 1000000000LL)

static void *helper_main(void *unused) {
    (void)unused;
    pthread_mutex_lock(&H.mu);
    for (;;) {
        while (!H.head) {
            H.idle++;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += IDLE_NS / 1000000000;
            int r = pthread_cond_timedwait(&H.cv, &H.mu, &ts);
            H.idle--;
            if (r == ETIMEDOUT && !H.head) {
                pthread_mutex_unlock(&H.mu);
                return NULL;
            }
        }
        struct req *q = H.head;
        H.head = q->next;
        if (!H.head)
            H.tail = NULL;
        H.queued--;
        pthread_mutex_unlock(&H.mu);

        int r = 0;
        for (;;) {
            weft__spin_lock(&q->lock);
            bool gone = q->w == NULL;
            weft__spin_unlock(&q->lock);
            if (gone || atomic_load_explicit(q->addr, memory_order_acquire) != q->val)
                break;
            r = futex_wait_abs(q->addr, q->val, q->deadline);
            if (r != 0)
                break;
            /* Woken: report it, the caller re-checks its condition. */
            break;
        }
        weft__spin_lock(&q->lock);
        if (q->w && weft__waiter_claim(q->w, r == -ETIMEDOUT ? -ETIMEDOUT : 0, 0))
            weft__waiter_wake(q->w);
        q->w = NULL;
        weft__spin_unlock(&q->lock);
        req_unref(q);
        pthread_mutex_lock(&H.mu);
    }
}

static int submit(struct req *q) {
    pthread_once(&h_once, h_setup);
    pthread_mutex_lock(&H.mu);
    q->next = NULL;
    if (H.tail)
        H.tail->next = q;
    else
        H.head = q;
    H.tail = q;
    H.queued++;
    int r = 0;
    /* Every idle helper takes one request when it wakes: start another
     * helper unless enough are idle for all queued requests (a helper may
     * then wait in the kernel indefinitely, so none may be counted twice). */
    if (H.idle >= H.queued) {
        pthread_cond_signal(&H.cv);
    } else {
        /* Helpers run no signal handlers of the application. */
        r = weft__service_thread(helper_main, NULL, 64 * 1024);
        if (r != 0) {
            /* Take the request back out: nobody will serve it. */
            struct req **pp = &H.head, *prev = NULL;
            while (*pp != q) {
                prev = *pp;
                pp = &(*pp)->next;
            }
            *pp = q->next;
            if (H.tail == q)
                H.tail = prev;
            H.queued--;
        }
    }
    pthread_mutex_unlock(&H.mu);
    return r;
}

int weft__pfutex_wait_why(_Atomic uint32_t *addr, uint32_t val, int64_t deadline, int why) {
    weft__scope *sc;
    deadline = weft__scope_clip(deadline, &sc);
    if (weft__dl_passed(deadline)) {
        if (atomic_load_explicit(addr, memory_order_acquire) != val)
            return 0;
        weft__scope_timed_out(sc, -ETIMEDOUT);
        return -ETIMEDOUT;
    }
    if (!weft__sched_get()) {
        weft__why(why, addr, (intptr_t)val);
        weft__tw_park_begin();
        int r = futex_wait_abs(addr, val, deadline);
        weft__tw_park_end();
        weft__scope_timed_out(sc, r);
        return r;
    }

    struct req *q = weft__malloc(sizeof *q);
    if (!q)
        return -ENOMEM;
    q->addr = addr;
    q->val = val;
    q->deadline = deadline;
    q->lock = (weft__spin){0};
    atomic_init(&q->refs, 2);
    weft__waiter local;
    weft__waiter *w = weft__waiter_begin(&local, WEFT__W_OTHER);
    weft__why(why, addr, (intptr_t)val);
    q->w = w;
    int r = submit(q);
    if (r < 0) {
        weft__free(q);
        return r;
    }
    /* The helper's own deadline ends the wait; ours only covers a helper
     * that is slow to start. */
    r = weft__park(w, weft__dl_forever(deadline) ? WEFT_FOREVER : deadline + 1000000);
    weft__spin_lock(&q->lock);
    bool helper_busy = q->w != NULL;
    q->w = NULL;
    weft__spin_unlock(&q->lock);
    if (helper_busy)
        weft__pfutex_wake(addr, INT32_MAX); /* free the helper */
    req_unref(q);
    return r;
}
