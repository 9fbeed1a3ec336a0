/* The epoll backend of the poller interface (see internal.h). Each
 * scheduler owns one; an eventfd lets other threads interrupt its wait. */
#include "core/syscalls.h"
#include "internal.h"

#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct weft__poller {
    int ep;
    int efd;
    atomic_int notified; /* an eventfd write is pending: later wakes may skip it */
    int has_pwait2;      /* -1 unknown, 0 no (ENOSYS or EPERM), 1 yes */
};

#define WAKE_TAG ((uint64_t)-1)

int weft__poller_create(weft__poller **out) {
    weft__poller *p = weft__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->ep = epoll_create1(EPOLL_CLOEXEC);
    if (p->ep < 0) {
        int e = -errno;
        weft__free(p);
        return e;
    }
    p->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (p->efd < 0) {
        int e = -errno;
        close(p->ep);
        weft__free(p);
        return e;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = WAKE_TAG};
    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, p->efd, &ev) != 0) {
        int e = -errno;
        close(p->efd);
        close(p->ep);
        weft__free(p);
        return e;
    }
    p->has_pwait2 = -1;
    *out = p;
    return 0;
}

void weft__poller_destroy(weft__poller *p) {
    if (!p)
        return;
    close(p->efd);
    close(p->ep);
    weft__free(p);
}

int weft__poller_add(weft__poller *p, int fd) {
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                             .data.u64 = (uint64_t)(uint32_t)fd};
    if (epoll_ctl(p->ep, EPOLL_CTL_ADD, fd, &ev) == 0 || errno == EEXIST)
        return 0;
    return -errno;
}

int weft__poller_del(weft__poller *p, int fd) {
    if (epoll_ctl(p->ep, EPOLL_CTL_DEL, fd, NULL) == 0)
        return 0;
    return -errno;
}

/* Neither function below changes errno: they run inside whichever coroutine
 * happens to be parking or waking, and errno is that coroutine's. */
void weft__poller_wake(weft__poller *p) {
    if (atomic_exchange(&p->notified, 1))
        return;
    int saved_errno = errno;
    uint64_t one = 1;
    ssize_t r = write(p->efd, &one, sizeof one);
    (void)r; /* EAGAIN: the counter is already non-zero, a wake is pending */
    errno = saved_errno;
}

int weft__poller_wait(weft__poller *p, weft__poll_event *out, int max, int64_t timeout_ns) {
    struct epoll_event evs[64];
    if (max > 64)
        max = 64;
    int n, saved_errno = errno;
    for (;;) {
        if (p->has_pwait2 != 0 && timeout_ns > 0) {
            struct weft__ktimespec ts = {.tv_sec = timeout_ns / WEFT_SEC,
                                         .tv_nsec = timeout_ns % WEFT_SEC};
            n = weft__epoll_pwait2(p->ep, evs, max, &ts);
            /* ENOSYS: a kernel before 5.11; EPERM: a seccomp filter (a
             * container runtime's) that does not know it. Either way
             * epoll_wait does the job, at millisecond resolution. */
            if (n < 0 && (errno == ENOSYS || errno == EPERM)) {
                p->has_pwait2 = 0;
                continue;
            }
            p->has_pwait2 = 1;
        } else {
            int ms = timeout_ns < 0    ? -1
                     : timeout_ns == 0 ? 0
                     : timeout_ns >= (int64_t)INT32_MAX * WEFT_MSEC
                         ? INT32_MAX
                         : (int)((timeout_ns + WEFT_MSEC - 1) / WEFT_MSEC);
            n = epoll_wait(p->ep, evs, max, ms);
        }
        if (n >= 0)
            break;
        if (errno != EINTR)
            WEFT_PANIC("epoll_wait: %s", strerror(errno));
        errno = saved_errno;
        return 0; /* a signal: let the scheduler re-check its timers */
    }
    int k = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u64 == WAKE_TAG) {
            /* Drain first, then clear: clearing first would let a wake that
             * lands in between be consumed by this read while `notified`
             * stays 1, and every later wake would skip the write (lost for
             * good). The caller drains its inbox after this returns. */
            uint64_t v;
            ssize_t r = read(p->efd, &v, sizeof v);
            (void)r;
            atomic_store(&p->notified, 0);
            continue;
        }
        uint32_t e = evs[i].events, m = 0;
        if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
            m |= WEFT_READABLE;
        if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
            m |= WEFT_WRITABLE;
        out[k].fd = (int)(uint32_t)evs[i].data.u64;
        out[k].events = m;
        k++;
    }
    errno = saved_errno;
    return k;
}
