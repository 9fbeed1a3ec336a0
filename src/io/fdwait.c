/* Waiting for file descriptor readiness: the per-scheduler fd table and
 * weft_fd_wait. Registration is edge-triggered for both directions; an edge
 * that arrives while nobody waits is remembered in rready/wready, so a
 * later wait returns at once (the caller's retry then tells whether it was
 * stale). The fd is (re-)added at each park, so a descriptor closed with
 * plain close() and reused for another file is still waited on correctly.
 * weft__fd_wait_any puts one waiter on several records. */
#include "internal.h"
#include "sync/watch.h"

#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

static struct weft__fdrec *rec_get(struct weft__fdtab *t, int fd) {
    if (fd < t->n)
        return &t->recs[fd];
    int n = t->n ? t->n : 64;
    while (n <= fd)
        n *= 2;
    struct weft__fdrec *r = weft__realloc(t->recs, (size_t)n * sizeof *r);
    if (!r)
        return NULL;
    memset(r + t->n, 0, (size_t)(n - t->n) * sizeof *r);
    t->recs = r;
    t->n = n;
    return &r[fd];
}

void weft__fd_table_free(weft__sched *s) {
    struct weft__fdtab *t = weft__sched_fdtab(s);
    weft__free(t->recs);
    t->recs = NULL;
    t->n = 0;
}

void weft__fd_event(weft__sched *s, int fd, uint32_t events) {
    struct weft__fdtab *t = weft__sched_fdtab(s);
    if (fd < 0 || fd >= t->n)
        return;
    struct weft__fdrec *r = &t->recs[fd];
    weft__waiter *rd = (events & WEFT_READABLE) ? r->rd : NULL;
    weft__waiter *wr = (events & WEFT_WRITABLE) ? r->wr : NULL;
    if (events & WEFT_READABLE) {
        if (rd)
            r->rd = NULL;
        else
            r->rready = 1;
    }
    if (events & WEFT_WRITABLE) {
        if (wr)
            r->wr = NULL;
        else
            r->wready = 1;
    }
    if (rd && rd == wr) {
        /* One waiter for both directions: one claim, the merged mask. */
        if (r->rd == rd)
            r->rd = NULL;
        if (r->wr == rd)
            r->wr = NULL;
        if (weft__waiter_claim(rd, 0, (intptr_t)events))
            weft__waiter_wake(rd);
        return;
    }
    if (rd) {
        if (r->wr == rd)
            r->wr = NULL;
        if (weft__waiter_claim(rd, 0, (intptr_t)(events & WEFT_READABLE ? events : 0)))
            weft__waiter_wake(rd);
    }
    if (wr) {
        if (r->rd == wr)
            r->rd = NULL;
        if (weft__waiter_claim(wr, 0, (intptr_t)events))
            weft__waiter_wake(wr);
    }
}

static int wait_thread_until(int fd, int events, int64_t deadline) {
    struct pollfd p = {.fd = fd, .events = 0};
    if (events & WEFT_READABLE)
        p.events |= POLLIN;
    if (events & WEFT_WRITABLE)
        p.events |= POLLOUT;
    for (;;) {
        int n = weft__sys_poll(&p, 1, weft__dl_poll_ms(deadline));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0) {
            if (weft__dl_passed(deadline))
                return -ETIMEDOUT;
            continue;
        }
        if (p.revents & POLLNVAL)
            return -EBADF;
        int m = 0;
        if (p.revents & (POLLIN | POLLHUP | POLLERR | POLLRDHUP))
            m |= WEFT_READABLE;
        if (p.revents & (POLLOUT | POLLHUP | POLLERR))
            m |= WEFT_WRITABLE;
        if (m & events)
            return m & events;
    }
}

static int wait_thread(int fd, int events, int64_t deadline) {
    weft__scope *sc;
    deadline = weft__scope_clip(deadline, &sc);
    int r = wait_thread_until(fd, events, deadline);
    weft__scope_timed_out(sc, r);
    return r;
}

/* Waits for the next readiness edge of fd in a coroutine (or with poll(2) on a
 * thread without a scheduler). For callers that just saw EAGAIN in that
 * direction (weft_read and friends), so a stale remembered edge at most
 * costs one more try. Arguments are valid. */
int weft__fd_wait_edge(int fd, int events, int64_t deadline) {
    weft__sched *s = weft__sched_get();
    if (!s)
        return wait_thread(fd, events, deadline);
    struct weft__fdtab *t = weft__sched_fdtab(s);
    /* Growing the table for a number that is no descriptor would be a huge
     * allocation (or, near INT_MAX, overflow the size computation). */
    if (fd >= t->n && fcntl(fd, F_GETFD) < 0)
        return -EBADF;
    struct weft__fdrec *r = rec_get(t, fd);
    if (!r)
        return -ENOMEM;
    if (((events & WEFT_READABLE) && r->rd) || ((events & WEFT_WRITABLE) && r->wr))
        return -EBUSY;
    int got = 0;
    if ((events & WEFT_READABLE) && r->rready) {
        r->rready = 0;
        got |= WEFT_READABLE;
    }
    if ((events & WEFT_WRITABLE) && r->wready) {
        r->wready = 0;
        got |= WEFT_WRITABLE;
    }
    if (got)
        return got;
    int e = weft__poller_add(weft__sched_poller(s), fd);
    if (e < 0)
        return e == -EPERM ? wait_thread(fd, events, deadline) : e; /* regular files */
    weft__waiter *w = weft__waiter_begin(NULL, WEFT__W_OTHER);
    weft__coro *me = weft__sched_running(s); /* a process join keeps its reason */
    if (!(me->why == WEFT__WHY_PROC && me->why_arg == fd))
        weft__why(WEFT__WHY_FD, NULL,
                  (intptr_t)((uintptr_t)(intptr_t)fd << 16 | (events & 0xffff)));
    if (events & WEFT_READABLE)
        r->rd = w;
    if (events & WEFT_WRITABLE)
        r->wr = w;
    /* The wait is this thread's (its fd table and poller): a group coroutine
     * resumes here (weft__sched_current(s)->pins: WEFT__AFF_PARK). */
    weft__coro *self = weft__sched_current(s);
    t->waiting++;
    self->pins++;
    int res = weft__park(w, deadline);
    self->pins--;
    t->waiting--;
    r = &t->recs[fd]; /* the table may have moved */
    if (r->rd == w)
        r->rd = NULL;
    if (r->wr == w)
        r->wr = NULL;
    if (res < 0)
        return res;
    int m = (int)w->index & events;
    return m ? m : events; /* hang-up/error: report the asked direction */
}

static int poll_dirs(short ev) {
    int w = 0;
    if (ev & (POLLIN | POLLRDNORM | POLLRDBAND | POLLRDHUP))
        w |= WEFT_READABLE;
    if (ev & (POLLOUT | POLLWRNORM | POLLWRBAND))
        w |= WEFT_WRITABLE;
    return w ? w : WEFT_READABLE;
}

/* Takes w off the records of the first n entries of fds. */
static void any_unregister(struct weft__fdtab *t, const struct pollfd *fds, unsigned long n,
                           weft__waiter *w) {
    for (unsigned long i = 0; i < n; i++) {
        int fd = fds[i].fd;
        if (fd < 0 || fd >= t->n)
            continue;
        struct weft__fdrec *r = &t->recs[fd];
        if (r->rd == w)
            r->rd = NULL;
        if (r->wr == w)
            r->wr = NULL;
    }
}

/* One waiter on the records of several descriptors, the way weft_select
 * waits on several channels: the first edge (weft__fd_event) claims it, and
 * it is taken off all of them afterwards. An edge on another of them that
 * arrives before then finds the waiter claimed and is dropped, which the
 * caller's re-check of every descriptor makes up for. */
int weft__fd_wait_any(const struct pollfd *fds, unsigned long n, int64_t deadline) {
    weft__sched *s = weft__sched_get();
    if (!s || (n && !fds))
        return -EINVAL;
    struct weft__fdtab *t = weft__sched_fdtab(s);
    weft__poller *pl = weft__sched_poller(s);
    weft__waiter *w = weft__waiter_begin(NULL, WEFT__W_OTHER);
    weft__why(WEFT__WHY_FD, (const void *)(uintptr_t)n,
              n ? (intptr_t)((uintptr_t)(intptr_t)fds[0].fd << 16 | (fds[0].events & 0xffff)) : -1);
    int e = 0;
    unsigned long i;
    for (i = 0; i < n && !e; i++) {
        int fd = fds[i].fd;
        if (fd < 0)
            continue;
        if (fds[i].events & POLLPRI) { /* the poller's registration has no EPOLLPRI */
            e = -EPERM;
            break;
        }
        int ev = poll_dirs(fds[i].events);
        if (fd >= t->n && fcntl(fd, F_GETFD) < 0) {
            e = -EBADF;
            break;
        }
        struct weft__fdrec *r = rec_get(t, fd);
        if (!r) {
            e = -ENOMEM;
            break;
        }
        if (((ev & WEFT_READABLE) && r->rd && r->rd != w) ||
            ((ev & WEFT_WRITABLE) && r->wr && r->wr != w)) {
            e = -EBUSY;
            break;
        }
        e = weft__poller_add(pl, fd);
        if (e < 0)
            break;
        /* The caller found it not ready: a remembered edge is stale. */
        if (ev & WEFT_READABLE) {
            r->rready = 0;
            r->rd = w;
        }
        if (ev & WEFT_WRITABLE) {
            r->wready = 0;
            r->wr = w;
        }
    }
    if (e < 0) { /* not parked: nobody but these records knew the waiter */
        any_unregister(t, fds, i, w);
        return e;
    }
    /* The wait is this thread's (its fd table and poller): a group coroutine
     * resumes here (weft__sched_current(s)->pins: WEFT__AFF_PARK). */
    weft__coro *self = weft__sched_current(s);
    t->waiting++;
    self->pins++;
    int res = weft__park(w, deadline);
    self->pins--;
    t->waiting--;
    any_unregister(t, fds, n, w);
    return res;
}

WEFT_API int weft_fd_wait(int fd, int events, int64_t deadline) {
    if (fd < 0)
        return -EBADF;
    if (!(events & (WEFT_READABLE | WEFT_WRITABLE)) || (events & ~(WEFT_READABLE | WEFT_WRITABLE)))
        return -EINVAL;
    weft__sched *s = weft__sched_get();
    if (!s)
        return wait_thread(fd, events, deadline);
    /* Readiness is a level, as with poll(2): what is ready now is reported at
     * once (also with a deadline already past), even when its edge was
     * consumed earlier, e.g. by a wait whose caller did not then read until
     * EAGAIN. Only what is not ready waits for an edge. */
    int now = wait_thread(fd, events, 0);
    if (now != -ETIMEDOUT)
        return now;
    struct weft__fdtab *t = weft__sched_fdtab(s);
    if (fd < t->n) { /* remembered edges for these directions are stale */
        if (events & WEFT_READABLE)
            t->recs[fd].rready = 0;
        if (events & WEFT_WRITABLE)
            t->recs[fd].wready = 0;
    }
    return weft__fd_wait_edge(fd, events, deadline);
}

WEFT_API int weft_fd_close(int fd) {
    weft__sched *s = weft__sched_get();
    if (s) {
        struct weft__fdtab *t = weft__sched_fdtab(s);
        if (fd >= 0 && fd < t->n) {
            struct weft__fdrec *r = &t->recs[fd];
            weft__waiter *rd = r->rd, *wr = r->wr;
            r->rd = r->wr = NULL;
            r->rready = r->wready = 0;
            if (rd && weft__waiter_claim(rd, -EBADF, 0))
                weft__waiter_wake(rd);
            if (wr && wr != rd && weft__waiter_claim(wr, -EBADF, 0))
                weft__waiter_wake(wr);
            weft__poller_del(weft__sched_poller(s), fd);
        }
    }
    if (close(fd) != 0)
        return -errno;
    return 0;
}

/* ---- weft_wait_any (sync/watch.h), in a coroutine ------------------------
 * One record per descriptor and direction, as weft__fd_wait_any: the first
 * edge claims the waiter. The caller found fd not ready with poll(2) just
 * before, and nothing runs on this thread in between: a remembered edge is
 * stale. */

int weft__fd_watch(int fd, int events, weft__waiter *w) {
    weft__sched *s = weft__sched_get();
    struct weft__fdtab *t = weft__sched_fdtab(s);
    if (fd >= t->n && fcntl(fd, F_GETFD) < 0)
        return -EBADF;
    struct weft__fdrec *r = rec_get(t, fd);
    if (!r)
        return -ENOMEM;
    if (((events & WEFT_READABLE) && r->rd && r->rd != w) ||
        ((events & WEFT_WRITABLE) && r->wr && r->wr != w))
        return -EBUSY;
    int e = weft__poller_add(weft__sched_poller(s), fd);
    if (e == -EPERM && fcntl(fd, F_GETFL) >= 0) {
        struct pollfd p = {.fd = fd, .events = POLLIN | POLLOUT};
        /* epoll refuses regular files and directories: poll(2) calls them
         * always ready. Anything else it refuses is reported. */
        if (poll(&p, 1, 0) == 1 && !(p.revents & POLLNVAL))
            return 1;
    }
    if (e < 0)
        return e;
    if (events & WEFT_READABLE) {
        r->rready = 0;
        r->rd = w;
    }
    if (events & WEFT_WRITABLE) {
        r->wready = 0;
        r->wr = w;
    }
    return 0;
}

void weft__fd_unwatch(int fd, weft__waiter *w) {
    struct weft__fdtab *t = weft__sched_fdtab(weft__sched_get());
    if (fd < 0 || fd >= t->n)
        return;
    struct weft__fdrec *r = &t->recs[fd];
    if (r->rd == w)
        r->rd = NULL;
    if (r->wr == w)
        r->wr = NULL;
}

void weft__fd_parking(int delta) {
    weft__sched *s = weft__sched_get();
    weft__sched_fdtab(s)->waiting += delta;
    weft__sched_current(s)->pins = (uint16_t)(weft__sched_current(s)->pins + delta);
}
