/* Waiting on several objects of different kinds: weft_wait_any,
 * weft_wait_next and weft_joinall_failfast.
 *
 * One waiter for the whole set, the way weft_select waits on several
 * channels. Each round first looks at every entry (a level check, in index
 * order: what is ready is reported without waiting); if none is ready it
 * registers the one waiter with every object through its watch
 * (sync/watch.h), parks, takes every registration back and looks again.
 * Whoever changes a watched object first claims the waiter; the others find
 * it claimed and only drop their registration (or leave it for the owner
 * to unlink). A wake-up says only "look again": the round after it finds
 * what is ready (a queue's item may already be gone to another consumer,
 * a descriptor's edge may be stale), and waits again if nothing is.
 *
 * A thread without a scheduler has no poller to give descriptors to: it
 * sleeps in ppoll(2) on the descriptors (and processes' pidfds) plus a
 * per-thread eventfd, and its waiter is of kind WEFT__W_POLL, whose wake
 * writes that eventfd before the futex word. Without descriptors it sleeps
 * on the futex word like every other wait. */
#include "sync/watch.h"
#include "pool/pool.h"
#include "proc/proc.h"

#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOCAL 8
#define NOT_READY (-1000000) /* scan(): nothing ready (no errno is this low) */

static bool is_fd(int kind) {
    return kind == WEFT_WAITABLE_FD || kind == WEFT_WAITABLE_PROC;
}

/* Entry k takes part: not disabled and, for weft_wait_next, not reported. */
static bool active(const weft_waitable *e, bool skip_reported) {
    return e->kind != WEFT_WAITABLE_NONE && !(skip_reported && e->reported);
}

/* Checks every active entry; counts them and those waited on with poll. */
static int validate(weft_waitable *ws, size_t n, bool skip, size_t *nact, size_t *nfd) {
    *nact = *nfd = 0;
    for (size_t k = 0; k < n; k++) {
        weft_waitable *e = &ws[k];
        if (!active(e, skip))
            continue;
        switch (e->kind) {
        case WEFT_WAITABLE_CORO: {
            int r = weft__coro_watch(e->u.coro, NULL);
            if (r < 0)
                return r;
            break;
        }
        case WEFT_WAITABLE_FUTURE:
            if (!e->u.future)
                return -EINVAL;
            weft__future_check(e->u.future, "weft_wait_any");
            break;
        case WEFT_WAITABLE_PROC:
            if (!e->u.proc)
                return -EINVAL;
            weft__proc_check(e->u.proc, "weft_wait_any");
            if (e->u.proc->owner != weft__proc_self())
                return -ECHILD;
            break;
        case WEFT_WAITABLE_THREAD: {
            weft_event *done;
            void *arg;
            if (!e->u.thread)
                return -EINVAL;
            int r = weft__thread_watchable(e->u.thread, &done, &arg);
            if (r < 0)
                return r;
            break;
        }
        case WEFT_WAITABLE_QUEUE_GET:
        case WEFT_WAITABLE_QUEUE_PUT:
            if (!e->u.queue)
                return -EINVAL;
            (void)weft__queue_ready(e->u.queue, 0); /* checks the handle */
            break;
        case WEFT_WAITABLE_EVENT:
            if (!e->u.event)
                return -EINVAL;
            break;
        case WEFT_WAITABLE_FD:
            if (!(e->events & (WEFT_READABLE | WEFT_WRITABLE)) ||
                (e->events & ~(WEFT_READABLE | WEFT_WRITABLE)))
                return -EINVAL;
            if (e->u.fd < 0)
                return -EBADF;
            break;
        default:
            return -EINVAL;
        }
        ++*nact;
        if (is_fd(e->kind))
            ++*nfd;
    }
    return 0;
}

/* A validated thread entry's `done` event (and argument). */
static weft_event *thread_done(weft_thread *t, void **arg) {
    weft_event *done = NULL;
    (void)weft__thread_watchable(t, &done, arg);
    return done;
}

/* The pollfd of a descriptor or process entry. */
static struct pollfd pollfd_of(const weft_waitable *e) {
    struct pollfd p = {.fd = -1, .events = POLLIN};
    if (e->kind == WEFT_WAITABLE_PROC) {
        p.fd = e->u.proc->pidfd;
        return p;
    }
    p.fd = e->u.fd;
    p.events = (short)(((e->events & WEFT_READABLE) ? POLLIN : 0) |
                       ((e->events & WEFT_WRITABLE) ? POLLOUT : 0));
    return p;
}

/* Fills pfds[0..nfd) with the active descriptor entries, in index order. */
static void fill_pollfds(const weft_waitable *ws, size_t n, bool skip, struct pollfd *pfds) {
    size_t j = 0;
    for (size_t k = 0; k < n; k++)
        if (active(&ws[k], skip) && is_fd(ws[k].kind))
            pfds[j++] = pollfd_of(&ws[k]);
}

/* 1 ready, 0 not, -EBADF: the revents of a descriptor entry. */
static int fd_ready(const struct pollfd *p) {
    if (p->revents & POLLNVAL)
        return -EBADF;
    return (p->revents & (p->events | POLLHUP | POLLERR)) ? 1 : 0;
}

static int ready_now(weft_waitable *e) {
    switch (e->kind) {
    case WEFT_WAITABLE_CORO:
        return weft__coro_watch(e->u.coro, NULL);
    case WEFT_WAITABLE_FUTURE:
        return weft_future_done(e->u.future);
    case WEFT_WAITABLE_THREAD: {
        void *arg;
        return weft_event_is_set(thread_done(e->u.thread, &arg));
    }
    case WEFT_WAITABLE_QUEUE_GET:
        return weft__queue_ready(e->u.queue, 0);
    case WEFT_WAITABLE_QUEUE_PUT:
        return weft__queue_ready(e->u.queue, 1);
    case WEFT_WAITABLE_EVENT:
        return weft_event_is_set(e->u.event);
    default:
        return 0;
    }
}

/* The lowest index of an active entry that is ready now, NOT_READY, or a
 * negative errno. Descriptors are polled once, when the first of them is
 * reached. */
static int scan(weft_waitable *ws, size_t n, bool skip, struct pollfd *pfds, size_t nfd) {
    bool polled = false;
    size_t j = 0;
    for (size_t k = 0; k < n; k++) {
        weft_waitable *e = &ws[k];
        if (!active(e, skip))
            continue;
        int r;
        if (is_fd(e->kind)) {
            if (!polled) {
                fill_pollfds(ws, n, skip, pfds);
                int pr;
                while ((pr = poll(pfds, (nfds_t)nfd, 0)) < 0 && errno == EINTR)
                    ;
                if (pr < 0)
                    return -errno;
                polled = true;
            }
            r = fd_ready(&pfds[j++]);
            if (r == 0 && e->kind == WEFT_WAITABLE_PROC &&
                atomic_load_explicit(&e->u.proc->state, memory_order_acquire) != WEFT__P_RUNNING)
                r = 1; /* reaped already: its pidfd stays readable too, but say so */
        } else {
            r = ready_now(e);
        }
        if (r < 0)
            return r;
        if (r > 0)
            return (int)k;
    }
    return NOT_READY;
}

/* Registers w with entry e: 1 ready (nothing registered), 0, or an errno.
 * `polling`: the caller sleeps in ppoll, descriptors need no registration. */
static int arm(weft_waitable *e, weft__wq_node *node, weft__waiter *w, bool polling) {
    node->linked = 0;
    switch (e->kind) {
    case WEFT_WAITABLE_CORO:
        return weft__coro_watch(e->u.coro, w);
    case WEFT_WAITABLE_FUTURE:
        return weft__future_watch(e->u.future, node, w);
    case WEFT_WAITABLE_THREAD: {
        void *arg;
        return weft__event_watch(thread_done(e->u.thread, &arg), node, w);
    }
    case WEFT_WAITABLE_QUEUE_GET:
        return weft__queue_watch(e->u.queue, 0, node, w);
    case WEFT_WAITABLE_QUEUE_PUT:
        return weft__queue_watch(e->u.queue, 1, node, w);
    case WEFT_WAITABLE_EVENT:
        return weft__event_watch(e->u.event, node, w);
    case WEFT_WAITABLE_PROC:
        return polling ? 0 : weft__fd_watch(e->u.proc->pidfd, WEFT_READABLE, w);
    case WEFT_WAITABLE_FD:
        return polling ? 0 : weft__fd_watch(e->u.fd, e->events, w);
    default:
        return -EINVAL;
    }
}

static void disarm(weft_waitable *e, weft__wq_node *node, weft__waiter *w, bool polling) {
    switch (e->kind) {
    case WEFT_WAITABLE_CORO:
        weft__coro_unwatch(e->u.coro, w);
        break;
    case WEFT_WAITABLE_FUTURE:
        weft__future_unwatch(e->u.future, node);
        break;
    case WEFT_WAITABLE_THREAD: {
        void *arg;
        weft__event_unwatch(thread_done(e->u.thread, &arg), node);
        break;
    }
    case WEFT_WAITABLE_QUEUE_GET:
    case WEFT_WAITABLE_QUEUE_PUT:
        weft__queue_unwatch(e->u.queue, e->kind == WEFT_WAITABLE_QUEUE_PUT, node);
        break;
    case WEFT_WAITABLE_EVENT:
        weft__event_unwatch(e->u.event, node);
        break;
    case WEFT_WAITABLE_PROC:
        if (!polling)
            weft__fd_unwatch(e->u.proc->pidfd, w);
        break;
    case WEFT_WAITABLE_FD:
        if (!polling)
            weft__fd_unwatch(e->u.fd, w);
        break;
    default:
        break;
    }
}

/* A SHARED coroutine keeps its stack in place while a task or thread it
 * waits for may use a pointer into it (as weft_futures_wait does). */
static bool pin_args(weft_waitable *ws, size_t n, bool skip) {
    for (size_t k = 0; k < n; k++) {
        weft_waitable *e = &ws[k];
        if (!active(e, skip))
            continue;
        void *arg = NULL;
        if (e->kind == WEFT_WAITABLE_FUTURE)
            arg = e->u.future->arg;
        else if (e->kind == WEFT_WAITABLE_THREAD)
            (void)thread_done(e->u.thread, &arg);
        if (arg && weft__stack_pin_if(arg))
            return true;
    }
    return false;
}

/* ---- a plain thread's eventfd ------------------------------------------
 * Made on first need and kept for the thread's life (closed by a key
 * destructor when it exits): a waker writes it only while the thread waits
 * for that waker's futex store, so it is never written once closed. */

static WEFT_TLS int tls_efd = -1;
static pthread_key_t efd_key;
static pthread_once_t efd_once = PTHREAD_ONCE_INIT;
static int efd_key_err;

static void efd_close(void *unused) {
    (void)unused;
    if (tls_efd >= 0)
        close(tls_efd);
    tls_efd = -1;
}

/* A forked child has a copy of the forking thread's eventfd, which is the parent's
 * descriptor too: the child makes its own when it needs one. */
static void efd_child(void) {
    if (tls_efd >= 0)
        close(tls_efd);
    tls_efd = -1;
}

static void efd_key_make(void) {
    efd_key_err = pthread_key_create(&efd_key, efd_close);
    if (!efd_key_err)
        efd_key_err = pthread_atfork(NULL, NULL, efd_child);
}

static int thread_efd(void) {
    if (tls_efd >= 0)
        return tls_efd;
    pthread_once(&efd_once, efd_key_make);
    if (efd_key_err)
        return -EAGAIN;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0)
        return -errno;
    if (pthread_setspecific(efd_key, (void *)1) != 0) {
        close(fd);
        return -ENOMEM;
    }
    tls_efd = fd;
    return fd;
}

/* Waits for the wake of whoever claimed w, then empties the eventfd it
 * wrote (if it is a WEFT__W_POLL waiter). */
static void consume_wake(weft__waiter *w) {
    (void)weft__park(w, WEFT_FOREVER);
    if (w->kind == WEFT__W_POLL) {
        uint64_t v;
        ssize_t r = read(w->wake_fd, &v, sizeof v);
        (void)r;
    }
}

/* A plain thread's park with descriptors: ppoll on them (pfds[0..nfd),
 * filled) and, for a WEFT__W_POLL waiter, its eventfd in pfds[nfd]. Ends
 * with w claimed: by this thread (a descriptor is ready, the deadline, an
 * error) or by a waker, whose wake it consumes. Returns w's result. */
static int park_poll(weft__waiter *w, struct pollfd *pfds, size_t nfd, int64_t deadline) {
    weft__scope *sc; /* the caller's timeout scopes cut this wait as weft__park's */
    deadline = weft__scope_clip(deadline, &sc);
    size_t m = nfd;
    if (w->kind == WEFT__W_POLL)
        pfds[m++] = (struct pollfd){.fd = w->wake_fd, .events = POLLIN};
    for (;;) {
        struct timespec ts, *tp = NULL;
        int64_t left = weft__dl_left(deadline);
        if (left >= 0) {
            ts.tv_sec = left / WEFT_SEC;
            ts.tv_nsec = left % WEFT_SEC;
            tp = &ts;
        }
        int r = ppoll(pfds, (nfds_t)m, tp, NULL);
        if (r < 0 && errno == EINTR)
            continue;
        int res = r < 0 ? -errno : 0;
        bool mine = r < 0;
        for (size_t j = 0; j < nfd && !mine; j++)
            mine = pfds[j].revents != 0;
        if (!mine && r == 0 && weft__dl_passed(deadline)) {
            res = -ETIMEDOUT;
            mine = true;
        }
        if (mine) {
            if (weft__waiter_claim(w, res, 0)) {
                weft__scope_timed_out(sc, res);
                return res;
            }
            break; /* a waker claimed it first */
        }
        if (m > nfd && pfds[nfd].revents) {
            if (atomic_load_explicit(&w->state, memory_order_acquire))
                break;  /* woken (or about to be) */
            uint64_t v; /* nobody claimed us: a stray count, drop it */
            ssize_t rr = read(w->wake_fd, &v, sizeof v);
            (void)rr;
        }
    }
    consume_wake(w);
    return w->result;
}

/* The shared body: the index of a ready active entry, or a negative errno. */
static int wait_core(weft_waitable *ws, size_t n, int64_t deadline, bool skip) {
    if ((!ws && n) || n > INT32_MAX)
        return -EINVAL;
    size_t nact, nfd;
    int r = validate(ws, n, skip, &nact, &nfd);
    if (r < 0)
        return r;
    if (!nact) {
        if (weft__dl_forever(deadline))
            return -EINVAL; /* would wait forever on nothing */
        r = weft_sleep_until(deadline);
        return r < 0 ? r : -ETIMEDOUT;
    }
    weft__sched *s = weft__sched_get();
    bool polling = !s && nfd;
    struct pollfd lpfds[LOCAL + 1], *pfds = lpfds;
    weft__wq_node lnodes[LOCAL], *nodes = NULL, *heap_nodes = NULL;
    if (nfd > LOCAL && !(pfds = weft__malloc((nfd + 1) * sizeof *pfds)))
        return -ENOMEM;
    int res;
    for (;;) {
        res = scan(ws, n, skip, pfds, nfd);
        if (res != NOT_READY)
            break;
        if (weft__dl_passed(deadline)) {
            res = -ETIMEDOUT;
            break;
        }
        /* Nodes are reached by other threads while we are parked: park
         * memory (a SHARED coroutine's stack may be copied aside). */
        if (!nodes) {
            if (n <= LOCAL) {
                nodes = weft__park_mem(lnodes, sizeof lnodes);
            } else {
                nodes = heap_nodes = weft__malloc(n * sizeof *nodes);
            }
            if (!nodes) {
                res = -ENOMEM;
                break;
            }
        }
        int efd = -1;
        if (polling && nact > nfd && (efd = thread_efd()) < 0) {
            res = efd;
            break;
        }
        weft__waiter lw, *w = weft__waiter_begin(&lw, efd >= 0 ? WEFT__W_POLL : WEFT__W_OTHER);
        w->wake_fd = efd;
        size_t armed = 0;
        int ar = 0;
        for (; armed < n; armed++) {
            if (!active(&ws[armed], skip))
                continue;
            if ((ar = arm(&ws[armed], &nodes[armed], w, polling)) != 0)
                break;
        }
        bool pinned = weft__caller_shared() && pin_args(ws, n, skip);
        int pr;
        if (ar != 0) {
            /* Ready (or an error) while arming: nothing to park for, unless
             * a waker claimed us meanwhile; then consume its wake. */
            pr = ar < 0 ? ar : 0;
            if (!weft__waiter_claim(w, pr, 0)) {
                consume_wake(w);
                if (ar > 0)
                    pr = w->result;
            }
        } else if (polling) {
            fill_pollfds(ws, n, skip, pfds);
            pr = park_poll(w, pfds, nfd, deadline);
        } else {
            if (nfd)
                weft__fd_parking(1);
            pr = weft__park(w, deadline);
            if (nfd)
                weft__fd_parking(-1);
        }
        for (size_t k = 0; k < armed; k++)
            if (active(&ws[k], skip))
                disarm(&ws[k], &nodes[k], w, polling);
        if (pinned)
            weft__stack_unpin();
        if (pr < 0) {
            res = pr;
            break;
        }
    }
    if (pfds != lpfds)
        weft__free(pfds);
    weft__free(heap_nodes);
    return res;
}

WEFT_API int weft_wait_any(weft_waitable *ws, size_t n, int64_t deadline) {
    return wait_core(ws, n, deadline, false);
}

WEFT_API int weft_wait_next(weft_waitable *ws, size_t n, int64_t deadline, size_t *index) {
    if (!index || (!ws && n) || n > INT32_MAX)
        return -EINVAL;
    bool left = false;
    for (size_t k = 0; k < n && !left; k++)
        left = active(&ws[k], true);
    if (!left)
        return 0;
    int r = wait_core(ws, n, deadline, true);
    if (r < 0)
        return r;
    ws[r].reported = 1;
    *index = (size_t)r;
    return 1;
}

WEFT_API int weft_joinall_failfast(const weft_coro *cs, size_t n, int64_t deadline, void **results,
                                   weft_coro_failed_fn failed, void *ud, size_t *failed_index) {
    if ((!cs && n) || !failed || n > INT32_MAX)
        return -EINVAL;
    weft_waitable local[LOCAL], *ws = local;
    if (n > LOCAL && !(ws = weft__malloc(n * sizeof *ws)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        ws[i] = WEFT_WAIT_CORO(cs[i]);
    int r;
    size_t i;
    while ((r = weft_wait_next(ws, n, deadline, &i)) > 0) {
        void *res;
        if ((r = weft_join(cs[i], WEFT_NOWAIT, &res)) < 0)
            break; /* cannot happen: it finished, and we are its joiner */
        if (results)
            results[i] = res;
        if (failed(res, ud)) {
            if (failed_index)
                *failed_index = i;
            r = 1;
            break;
        }
    }
    if (ws != local)
        weft__free(ws);
    return r;
}
