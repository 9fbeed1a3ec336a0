/* The interposed blocking calls of libweft-hook (see include/weft_hook.h).
 *
 * Every hooked call starts with two cheap tests: is a probe of
 * weft_hook_check() running (then it only records that it was reached),
 * and how may the caller wait (weft__hook_mode). On a thread with a
 * scheduler every coroutine, its main one included, parks: descriptors of
 * sockets and pipes are made non-blocking on first use and the call waits
 * for readiness with weft_fd_wait, and the other coroutines run meanwhile
 * (gevent's hub does this for the main greenlet too). On a thread without
 * one the C library's function is called directly, except on a descriptor
 * the hook itself made non-blocking, where blocking behaviour is emulated
 * with the real poll(), and inside a timeout scope (weft_timeout_enter),
 * where the thread waits as a coroutine would, with poll(2), until the
 * scope's deadline.
 *
 * Per-descriptor state (one byte, plus the socket timeouts) lives in
 * process-wide arrays indexed by descriptor number: descriptors are
 * process-wide, so this is the one place where global state is needed. */
#include "hook/hook.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* glibc declares the socket calls with transparent unions of address
 * pointers (with _GNU_SOURCE); musl with plain pointers. The hooks must
 * match the libc's prototypes. */
#ifdef __SOCKADDR_ALLTYPES
typedef __SOCKADDR_ARG hook_sa;
typedef __CONST_SOCKADDR_ARG hook_csa;
#define HOOK_SA(a) ((a).__sockaddr__)
#else
typedef struct sockaddr *hook_sa;
typedef const struct sockaddr *hook_csa;
#define HOOK_SA(a) (a)
#endif
/* glibc: ioctl(int, unsigned long, ...); musl (and POSIX): ioctl(int, int, ...). */
#ifdef __GLIBC__
typedef unsigned long hook_ioctl_req;
#else
typedef int hook_ioctl_req;
#endif

struct weft_hook_real weft_hook__real;
#define R weft_hook__real

HOOK_TLS int weft_hook__probing;
HOOK_TLS int weft_hook__probe_hit;
HOOK_TLS const char *weft_hook__current_call;

const char *const weft_hook__names[WEFT_HOOK_COUNT] = {
    "read",    "write",     "readv",           "writev",
    "recv",    "recvfrom",  "recvmsg",         "send",
    "sendto",  "sendmsg",   "connect",         "accept",
    "accept4", "poll",      "select",          "sleep",
    "usleep",  "nanosleep", "clock_nanosleep", "getaddrinfo",
};
enum {
    I_READ,
    I_WRITE,
    I_READV,
    I_WRITEV,
    I_RECV,
    I_RECVFROM,
    I_RECVMSG,
    I_SEND,
    I_SENDTO,
    I_SENDMSG,
    I_CONNECT,
    I_ACCEPT,
    I_ACCEPT4,
    I_POLL,
    I_SELECT,
    I_SLEEP,
    I_USLEEP,
    I_NANOSLEEP,
    I_CLOCK_NANOSLEEP,
    I_GETADDRINFO,
};

static void *next_sym(const char *name) {
    void *p = dlsym(RTLD_NEXT, name);
    if (!p) {
        /* Nothing after us defines it: the C library comes earlier in the lookup order
         * (the hooks are dead then, which weft_hook_check reports); take its definition.
         * The C library is found by what defines abort (which the hooks leave
         * alone), not by a soname: glibc's is libc.so.6, musl's its loader. */
        Dl_info di;
        void *libc = dladdr((void *)&abort, &di) && di.dli_fname
                         ? dlopen(di.dli_fname, RTLD_LAZY | RTLD_NOLOAD)
                         : NULL;
        if (libc)
            p = dlsym(libc, name);
    }
    if (!p) {
        static const char msg[] = "weft-hook: dlsym(RTLD_NEXT) failed for a libc function\n";
        syscall(SYS_write, 2, msg, sizeof msg - 1);
        abort();
    }
    return p;
}

static pthread_once_t resolve_once = PTHREAD_ONCE_INIT;
static void resolve_all(void) {
#define GET(f) *(void **)&R.f = next_sym(#f)
    GET(read);
    GET(write);
    GET(readv);
    GET(writev);
    GET(recv);
    GET(recvfrom);
    GET(recvmsg);
    GET(send);
    GET(sendto);
    GET(sendmsg);
    GET(connect);
    GET(accept);
    GET(accept4);
    GET(poll);
    GET(select);
    GET(sleep);
    GET(usleep);
    GET(nanosleep);
    GET(clock_nanosleep);
    GET(getaddrinfo);
    GET(close);
    GET(fcntl);
    GET(ioctl);
    GET(socket);
    GET(socketpair);
    GET(pipe);
    GET(pipe2);
    GET(dup);
    GET(dup2);
    GET(dup3);
    GET(setsockopt);
#undef GET
}
void weft_hook__resolve(void) {
    pthread_once(&resolve_once, resolve_all);
}
__attribute__((constructor)) static void hook_init(void) {
    weft_hook__resolve();
}

#define RESOLVE()                                                                               \
    do {                                                                                        \
        if (unlikely(                                                                           \
                !atomic_load_explicit((_Atomic(void *) *)&R.setsockopt, memory_order_acquire))) \
            weft_hook__resolve();                                                               \
    } while (0)

/* ------------------------------------------------------------ per-fd state */

enum { ST_UNKNOWN = 0, ST_HOOKNB = 1, ST_USERNB = 2, ST_PASS = 3 };
#define MAXFD 65536
static _Atomic uint8_t fd_st[MAXFD];
static _Atomic uint32_t fd_rcvto_us[MAXFD], fd_sndto_us[MAXFD];

static inline int st_get(int fd) {
    return (unsigned)fd < MAXFD ? atomic_load_explicit(&fd_st[fd], memory_order_relaxed) : ST_PASS;
}
static inline void st_set(int fd, int st) {
    if ((unsigned)fd < MAXFD)
        atomic_store_explicit(&fd_st[fd], (uint8_t)st, memory_order_relaxed);
}
static void fd_forget(int fd) {
    if ((unsigned)fd < MAXFD) {
        atomic_store_explicit(&fd_st[fd], ST_UNKNOWN, memory_order_relaxed);
        atomic_store_explicit(&fd_rcvto_us[fd], 0, memory_order_relaxed);
        atomic_store_explicit(&fd_sndto_us[fd], 0, memory_order_relaxed);
    }
}
/* A descriptor just made by the process: nothing known of it yet but, if
 * user_nb, that its maker asked for non-blocking mode. */
static void fd_new(int fd, bool user_nb) {
    fd_forget(fd);
    if (user_nb)
        st_set(fd, ST_USERNB);
}
/* A new descriptor `to` sharing the open file of `from` (dup). */
static void fd_copy(int from, int to) {
    if ((unsigned)to >= MAXFD)
        return;
    if ((unsigned)from >= MAXFD) {
        fd_forget(to);
        return;
    }
    st_set(to, st_get(from) == ST_PASS ? ST_UNKNOWN : st_get(from));
    atomic_store(&fd_rcvto_us[to], atomic_load(&fd_rcvto_us[from]));
    atomic_store(&fd_sndto_us[to], atomic_load(&fd_sndto_us[from]));
}

/* Inside a coroutine: decides how fd is treated, making a blocking socket
 * or pipe non-blocking (ST_HOOKNB). */
static int fd_prepare(int fd) {
    int st = st_get(fd);
    if (likely(st != ST_UNKNOWN))
        return st;
    if (fd <= 2) {
        st_set(fd, ST_PASS);
        return ST_PASS;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0)
        return ST_PASS; /* not open: the call itself reports EBADF */
    if (!S_ISSOCK(sb.st_mode) && !S_ISFIFO(sb.st_mode)) {
        st_set(fd, ST_PASS);
        return ST_PASS;
    }
    int fl = R.fcntl(fd, F_GETFL);
    if (fl < 0)
        return ST_PASS;
    if (fl & O_NONBLOCK)
        st = ST_USERNB;
    else if (R.fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)
        st = ST_HOOKNB;
    else
        return ST_PASS;
    st_set(fd, st);
    return st;
}

/* True if the caller waits through weft (parks, or honours a timeout scope). */
static inline bool in_coro(void) {
    return weft__hook_mode() != WEFT__HOOK_PLAIN;
}

/* Waits until fd is ready for `ev` after a call reported EAGAIN on a
 * descriptor the hook made non-blocking. *dl is 0 until the first wait
 * computes the deadline from SO_RCVTIMEO/SO_SNDTIMEO. Returns 0, or -1
 * with errno set: EAGAIN when the socket timeout passed, ETIMEDOUT when a
 * timeout scope's deadline did. */
static int wait_ready(int fd, int ev, bool coro, int64_t *dl) {
    if (!*dl) {
        uint32_t us = 0;
        if ((unsigned)fd < MAXFD)
            us = atomic_load_explicit(ev == WEFT_READABLE ? &fd_rcvto_us[fd] : &fd_sndto_us[fd],
                                      memory_order_relaxed);
        *dl = us ? weft_after((int64_t)us * WEFT_USEC) : WEFT_FOREVER;
    }
    if (coro) {
        for (;;) {
            int w = weft__fd_wait_edge(fd, ev, *dl); /* the call just saw EAGAIN */
            if (w >= 0)
                return 0;
            if (w == -EBUSY) { /* another coroutine waits on fd this way: take turns */
                if ((w = weft_sleep(50 * WEFT_USEC)) == 0)
                    continue;
            }
            if (w == -ETIMEDOUT) /* the socket's timeout, or a scope's */
                w = weft__dl_passed(*dl) ? -EAGAIN : -ETIMEDOUT;
            errno = -w;
            return -1;
        }
    }
    struct pollfd p = {fd, (short)(ev == WEFT_READABLE ? POLLIN : POLLOUT), 0};
    for (;;) {
        int ms = weft__dl_poll_ms(*dl);
        if (ms == 0) {
            errno = EAGAIN;
            return -1;
        }
        int r = R.poll(&p, 1, ms);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

#define PROBE(idx, ret)                     \
    do {                                    \
        if (unlikely(weft_hook__probing)) { \
            weft_hook__probe_hit = (idx);   \
            return ret;                     \
        }                                   \
    } while (0)

/* The body of every descriptor call: `call` is the real call expression. */
#define IO_BODY(idx, fd, ev, call)                                \
    PROBE(idx, (errno = EBADF, -1));                              \
    RESOLVE();                                                    \
    bool coro_ = in_coro();                                       \
    int st_ = coro_ ? fd_prepare(fd) : st_get(fd);                \
    if (likely(st_ != ST_HOOKNB)) {                               \
        if (!coro_)                                               \
            return call;                                          \
        const char *prev_ = weft_hook__current_call;              \
        weft_hook__current_call = weft_hook__names[idx];          \
        __typeof__(call) r_ = call;                               \
        weft_hook__current_call = prev_;                          \
        return r_;                                                \
    }                                                             \
    int64_t dl_ = 0;                                              \
    for (;;) {                                                    \
        __typeof__(call) r_ = call;                               \
        if (r_ >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) \
            return r_;                                            \
        if (wait_ready(fd, ev, coro_, &dl_) != 0) {               \
            if (errno == ETIMEDOUT) /* a scope's: as SO_RCVTIMEO */ \
                errno = EAGAIN;                                   \
            return -1;                                            \
        }                                                         \
    }

HOOK_API ssize_t read(int fd, void *buf, size_t n){
    IO_BODY(I_READ, fd, WEFT_READABLE, R.read(fd, buf, n))} HOOK_API ssize_t
    write(int fd, const void *buf,
          size_t n){IO_BODY(I_WRITE, fd, WEFT_WRITABLE, R.write(fd, buf, n))} HOOK_API ssize_t
    readv(int fd, const struct iovec *iov,
          int cnt){IO_BODY(I_READV, fd, WEFT_READABLE, R.readv(fd, iov, cnt))} HOOK_API ssize_t
    writev(int fd, const struct iovec *iov, int cnt) {
    IO_BODY(I_WRITEV, fd, WEFT_WRITABLE, R.writev(fd, iov, cnt))
}
/* MSG_DONTWAIT asks for a non-blocking call: never wait then. */
#define SOCK_BODY(idx, fd, ev, flags, call) \
    if ((flags)&MSG_DONTWAIT) {             \
        PROBE(idx, (errno = EBADF, -1));    \
        RESOLVE();                          \
        return call;                        \
    }                                       \
    IO_BODY(idx, fd, ev, call)

static ssize_t recvfrom_once(int idx, int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                             socklen_t *alen) {
    SOCK_BODY(idx, fd, WEFT_READABLE, flags, R.recvfrom(fd, buf, n, flags, addr, alen))
}
/* MSG_WAITALL on a descriptor the hook made non-blocking returns what is there: wait
 * for the rest, as the blocking call would (until end of file or an error). */
static ssize_t recvfrom_hook(int idx, int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
                             socklen_t *alen) {
    ssize_t r = recvfrom_once(idx, fd, buf, n, flags, addr, alen);
    if (!(flags & MSG_WAITALL) || r <= 0 || (size_t)r == n || st_get(fd) != ST_HOOKNB)
        return r;
    size_t got = (size_t)r;
    while (got < n) {
        int e = errno;
        r = recvfrom_once(idx, fd, (char *)buf + got, n - got, flags, NULL, NULL);
        if (r <= 0) {
            errno = e;
            break;
        }
        got += (size_t)r;
    }
    return (ssize_t)got;
}
HOOK_API ssize_t recv(int fd, void *buf, size_t n, int flags) {
    return recvfrom_hook(I_RECV, fd, buf, n, flags, NULL, NULL);
}
HOOK_API ssize_t recvfrom(int fd, void *buf, size_t n, int flags, hook_sa addr,
                          socklen_t *alen) {
    return recvfrom_hook(I_RECVFROM, fd, buf, n, flags, HOOK_SA(addr), alen);
}
HOOK_API ssize_t recvmsg(int fd, struct msghdr *msg, int flags){
    SOCK_BODY(I_RECVMSG, fd, WEFT_READABLE, flags, R.recvmsg(fd, msg, flags))} HOOK_API ssize_t
    send(int fd, const void *buf, size_t n, int flags){
        SOCK_BODY(I_SEND, fd, WEFT_WRITABLE, flags, R.send(fd, buf, n, flags))} HOOK_API ssize_t
    sendto(int fd, const void *buf, size_t n, int flags, hook_csa addr, socklen_t alen){
        SOCK_BODY(I_SENDTO, fd, WEFT_WRITABLE, flags,
                  R.sendto(fd, buf, n, flags, HOOK_SA(addr), alen))} HOOK_API ssize_t
    sendmsg(int fd, const struct msghdr *msg, int flags) {
    SOCK_BODY(I_SENDMSG, fd, WEFT_WRITABLE, flags, R.sendmsg(fd, msg, flags))
}

static int accept_io(int idx, int fd, struct sockaddr *addr, socklen_t *alen, int flags) {
    IO_BODY(idx, fd, WEFT_READABLE, R.accept4(fd, addr, alen, flags))
}
static int accept_done(int nfd, int flags) {
    if (nfd >= 0)
        fd_new(nfd, flags & SOCK_NONBLOCK);
    return nfd;
}
HOOK_API int accept(int fd, hook_sa addr, socklen_t *alen) {
    return accept_done(accept_io(I_ACCEPT, fd, HOOK_SA(addr), alen, 0), 0);
}
HOOK_API int accept4(int fd, hook_sa addr, socklen_t *alen, int flags) {
    return accept_done(accept_io(I_ACCEPT4, fd, HOOK_SA(addr), alen, flags), flags);
}

HOOK_API int connect(int fd, hook_csa addr, socklen_t alen) {
    PROBE(I_CONNECT, (errno = EBADF, -1));
    RESOLVE();
    bool coro = in_coro();
    int st = coro ? fd_prepare(fd) : st_get(fd);
    if (likely(st != ST_HOOKNB))
        return R.connect(fd, HOOK_SA(addr), alen);
    int r = R.connect(fd, HOOK_SA(addr), alen);
    if (r == 0 || errno != EINPROGRESS)
        return r;
    int64_t dl = 0;
    if (wait_ready(fd, WEFT_WRITABLE, coro, &dl) != 0) {
        if (errno == EAGAIN) /* SO_SNDTIMEO passed: what a blocking connect reports */
            errno = EINPROGRESS;
        return -1; /* ETIMEDOUT: a timeout scope's deadline */
    }
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
        return -1;
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------ poll, select */

static int poll_events(short ev) {
    int w = 0;
    if (ev & (POLLIN | POLLPRI | POLLRDNORM | POLLRDBAND | POLLRDHUP))
        w |= WEFT_READABLE;
    if (ev & (POLLOUT | POLLWRNORM | POLLWRBAND))
        w |= WEFT_WRITABLE;
    return w ? w : WEFT_READABLE;
}

/* Waits in the calling coroutine until one of fds is ready or deadline;
 * returns what the real poll(.., 0) returns then (0 on timeout), or -1. */
static int coro_poll(struct pollfd *fds, nfds_t n, int64_t deadline) {
    const char *prev = weft_hook__current_call;
    int r;
    for (;;) {
        r = R.poll(fds, n, 0);
        if (r != 0)
            break;
        int w;
        if (n == 0) {
            w = deadline == WEFT_FOREVER ? weft_sleep(3600 * WEFT_SEC) : weft_sleep_until(deadline);
            if (w == 0 && deadline != WEFT_FOREVER)
                w = -ETIMEDOUT;
        } else if ((w = weft__fd_wait_any(fds, n, deadline)) == 0 || w == -ETIMEDOUT ||
                   w == -ECANCELED || (w == -EBADF && n > 1)) {
            /* One waiter on all their records (none was ready just now). A
             * descriptor closed with weft_fd_close meanwhile (-EBADF): the
             * re-check reports it (POLLNVAL). */
            if (w == -EBADF)
                w = 0;
        } else if (n == 1 && fds[0].fd >= 0) {
            w = weft_fd_wait(fds[0].fd, poll_events(fds[0].events), deadline);
        } else {
            /* Another waiter has one of them, or epoll refuses one: an epoll
             * instance of their own, waited on. */
            int ep = epoll_create1(EPOLL_CLOEXEC);
            if (ep < 0) {
                r = -1;
                break;
            }
            for (nfds_t i = 0; i < n; i++) {
                if (fds[i].fd < 0)
                    continue;
                int e = poll_events(fds[i].events);
                struct epoll_event ee = {0};
                ee.events = (e & WEFT_READABLE ? EPOLLIN | EPOLLPRI | EPOLLRDHUP : 0) |
                            (e & WEFT_WRITABLE ? EPOLLOUT : 0);
                epoll_ctl(ep, EPOLL_CTL_ADD, fds[i].fd, &ee);
            }
            w = weft_fd_wait(ep, WEFT_READABLE, deadline);
            R.close(ep);
        }
        if (w >= 0)
            continue;
        if (w == -EBUSY && (w = weft_sleep(50 * WEFT_USEC)) == 0)
            continue;
        if (w == -ETIMEDOUT && weft__dl_passed(deadline)) {
            r = 0; /* poll's own timeout */
            break;
        }
        errno = -w; /* ETIMEDOUT: a timeout scope's deadline */
        r = -1;
        break;
    }
    weft_hook__current_call = prev;
    return r;
}

/* A plain thread inside a timeout scope: the real poll, cut at the scope's
 * deadline (then -1 with ETIMEDOUT). */
static int scoped_poll(struct pollfd *fds, nfds_t n, int64_t deadline) {
    int64_t scope = weft_timeout_deadline();
    int64_t dl = weft__dl_min(deadline, scope);
    for (;;) {
        int r = R.poll(fds, n, weft__dl_poll_ms(dl));
        if (r != 0 && !(r < 0 && errno == EINTR))
            return r;
        if (!weft__dl_passed(dl))
            continue;
        if (dl == deadline)
            return 0;
        weft__scope_hit();
        errno = ETIMEDOUT;
        return -1;
    }
}

HOOK_API int poll(struct pollfd *fds, nfds_t n, int timeout) {
    PROBE(I_POLL, 0);
    RESOLVE();
    int mode = timeout == 0 ? WEFT__HOOK_PLAIN : weft__hook_mode();
    if (mode == WEFT__HOOK_PLAIN)
        return R.poll(fds, n, timeout);
    if (n > 0 && !fds) {
        errno = EFAULT;
        return -1;
    }
    int64_t dl = timeout < 0 ? WEFT_FOREVER : weft_after(timeout * WEFT_MSEC);
    return mode == WEFT__HOOK_PARK ? coro_poll(fds, n, dl) : scoped_poll(fds, n, dl);
}

HOOK_API int select(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, struct timeval *tv) {
    PROBE(I_SELECT, 0);
    RESOLVE();
    if (!in_coro() || (tv && tv->tv_sec == 0 && tv->tv_usec == 0))
        return R.select(nfds, rd, wr, ex, tv);
    if (nfds < 0 || nfds > FD_SETSIZE ||
        (tv && (tv->tv_sec < 0 || tv->tv_usec < 0 || tv->tv_usec >= 1000000))) {
        errno = EINVAL;
        return -1;
    }
    int64_t deadline = WEFT_FOREVER;
    if (tv) { /* a timeout past INT64_MAX ns (292 years) saturates instead of overflowing */
        int64_t sec = tv->tv_sec; /* (a 32-bit time_t never reaches the bound) */
        deadline = weft_after(sec >= INT64_MAX / WEFT_SEC - 1
                                  ? INT64_MAX
                                  : sec * WEFT_SEC + (int64_t)tv->tv_usec * WEFT_USEC);
    }
    struct pollfd *p = nfds ? malloc((size_t)nfds * sizeof *p) : NULL;
    if (nfds && !p) {
        errno = ENOMEM;
        return -1;
    }
    nfds_t n = 0;
    for (int fd = 0; fd < nfds; fd++) {
        short ev = 0;
        if (rd && FD_ISSET(fd, rd))
            ev |= POLLIN;
        if (wr && FD_ISSET(fd, wr))
            ev |= POLLOUT;
        if (ex && FD_ISSET(fd, ex))
            ev |= POLLPRI;
        if (ev)
            p[n++] = (struct pollfd){fd, ev, 0};
    }
    int r = weft__hook_mode() == WEFT__HOOK_PARK ? coro_poll(p, n, deadline)
                                                 : scoped_poll(p, n, deadline);
    if (r >= 0) {
        for (nfds_t i = 0; i < n; i++)
            if (p[i].revents & POLLNVAL) {
                free(p);
                errno = EBADF;
                return -1;
            }
        if (rd)
            FD_ZERO(rd);
        if (wr)
            FD_ZERO(wr);
        if (ex)
            FD_ZERO(ex);
        r = 0;
        for (nfds_t i = 0; i < n; i++) {
            short re = p[i].revents, ev = p[i].events;
            if ((ev & POLLIN) && (re & (POLLIN | POLLHUP | POLLERR)))
                FD_SET(p[i].fd, rd), r++;
            if ((ev & POLLOUT) && (re & (POLLOUT | POLLERR)))
                FD_SET(p[i].fd, wr), r++;
            if ((ev & POLLPRI) && (re & POLLPRI))
                FD_SET(p[i].fd, ex), r++;
        }
        if (tv) { /* Linux reports the time left */
            int64_t left = deadline - weft_now();
            if (left < 0)
                left = 0;
            tv->tv_sec = left / WEFT_SEC;
            tv->tv_usec = (left % WEFT_SEC) / WEFT_USEC;
        }
    }
    free(p);
    return r;
}

/* ------------------------------------------------------------ sleeping */

static int64_t ts_ns(const struct timespec *ts) {
    int64_t sec = ts->tv_sec; /* (a 32-bit time_t never reaches the bound) */
    if (sec > INT64_MAX / WEFT_SEC - 1)
        return INT64_MAX;
    return sec * WEFT_SEC + ts->tv_nsec;
}
static void ns_ts(int64_t ns, struct timespec *ts) {
    if (ns < 0)
        ns = 0;
    ts->tv_sec = ns / WEFT_SEC;
    ts->tv_nsec = ns % WEFT_SEC;
}

/* Sleeps the coroutine for ns; 0, or the time left when cancelled. */
static int64_t coro_sleep(int64_t ns, const char *name) {
    (void)name;
    int64_t dl = weft_after(ns);
    if (weft_sleep_until(dl) == 0)
        return 0;
    int64_t left = dl - weft_now();
    return left > 0 ? left : 1;
}

HOOK_API unsigned sleep(unsigned s) {
    PROBE(I_SLEEP, 0);
    RESOLVE();
    if (!in_coro())
        return R.sleep(s);
    int64_t left = coro_sleep((int64_t)s * WEFT_SEC, "sleep");
    return (unsigned)((left + WEFT_SEC - 1) / WEFT_SEC);
}

HOOK_API int usleep(useconds_t us) {
    PROBE(I_USLEEP, 0);
    RESOLVE();
    if (!in_coro())
        return R.usleep(us);
    if (coro_sleep((int64_t)us * WEFT_USEC, "usleep")) {
        errno = EINTR;
        return -1;
    }
    return 0;
}

HOOK_API int nanosleep(const struct timespec *req, struct timespec *rem) {
    PROBE(I_NANOSLEEP, 0);
    RESOLVE();
    if (!in_coro() || !req)
        return R.nanosleep(req, rem);
    if (req->tv_sec < 0 || req->tv_nsec < 0 || req->tv_nsec >= 1000000000L) {
        errno = EINVAL;
        return -1;
    }
    int64_t left = coro_sleep(ts_ns(req), "nanosleep");
    if (left) {
        if (rem)
            ns_ts(left, rem);
        errno = EINTR;
        return -1;
    }
    return 0;
}

HOOK_API int clock_nanosleep(clockid_t clk, int flags, const struct timespec *req,
                             struct timespec *rem) {
    PROBE(I_CLOCK_NANOSLEEP, 0);
    RESOLVE();
    if (!in_coro() || !req ||
        (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC && clk != CLOCK_BOOTTIME) ||
        (flags & ~TIMER_ABSTIME))
        return R.clock_nanosleep(clk, flags, req, rem);
    if (req->tv_sec < 0 || req->tv_nsec < 0 || req->tv_nsec >= 1000000000L)
        return EINVAL;
    int64_t ns = ts_ns(req);
    if (flags & TIMER_ABSTIME) {
        struct timespec now;
        clock_gettime(clk, &now);
        ns -= ts_ns(&now);
        if (ns <= 0)
            return 0;
    }
    int64_t left = coro_sleep(ns, "clock_nanosleep");
    if (left) {
        if (rem && !(flags & TIMER_ABSTIME))
            ns_ts(left, rem);
        return EINTR;
    }
    return 0;
}

/* ------------------------------------------------------------ getaddrinfo */

/* The pool thread sees only this heap block: the caller's strings, hints
 * and result slot may be on the stack of a SHARED-stack coroutine, whose
 * bytes are copied aside (and the stack reused) while it waits. Two
 * references, the caller's and the task's: a caller whose wait is cut
 * (a timeout scope) leaves the lookup to finish, and the last one out frees
 * the block and any result nobody took. */
struct gai_call {
    char *name, *service;
    struct addrinfo hints, *hp;
    struct addrinfo *res;
    int ret, err;
    atomic_int refs;
};

static void gai_unref(struct gai_call *c) {
    if (atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1)
        return;
    if (c->ret == 0 && c->res)
        freeaddrinfo(c->res);
    free(c->name);
    free(c->service);
    free(c);
}

static int gai_task(void *arg, void **result) {
    (void)result;
    struct gai_call *c = arg;
    c->ret = R.getaddrinfo(c->name, c->service, c->hp, &c->res);
    c->err = errno;
    gai_unref(c);
    return 0;
}

HOOK_API int getaddrinfo(const char *name, const char *service, const struct addrinfo *hints,
                         struct addrinfo **res) {
    PROBE(I_GETADDRINFO, EAI_FAIL);
    RESOLVE();
    if (!in_coro())
        return R.getaddrinfo(name, service, hints, res);
    struct gai_call *c = calloc(1, sizeof *c);
    if (!c)
        return EAI_MEMORY;
    atomic_init(&c->refs, 1);
    if ((name && !(c->name = strdup(name))) || (service && !(c->service = strdup(service)))) {
        gai_unref(c);
        return EAI_MEMORY;
    }
    if (hints) {
        /* Only these members mean anything in hints (the rest must be 0). */
        c->hints.ai_flags = hints->ai_flags;
        c->hints.ai_family = hints->ai_family;
        c->hints.ai_socktype = hints->ai_socktype;
        c->hints.ai_protocol = hints->ai_protocol;
        c->hp = &c->hints;
    }
    weft_pool *pool;
    weft_future *f;
    atomic_store_explicit(&c->refs, 2, memory_order_relaxed);
    if (weft_pool_default(&pool) < 0 || weft_pool_submit(pool, gai_task, c, &f) < 0) {
        gai_unref(c); /* no pool: do it here */
        gai_unref(c);
        return R.getaddrinfo(name, service, hints, res);
    }
    /* In a worker group, pinned: the caller's errno (set below) and whatever
     * thread-local it holds across this call stay its thread's. Every other hooked
     * wait is for a descriptor or a deadline, which resume on their worker anyway. */
    int pinned = weft_coro_pin() == 0;
    int r = weft_future_result(f, WEFT_FOREVER, NULL);
    if (pinned)
        (void)weft_coro_unpin();
    int ret;
    if (r == 0) {
        ret = c->ret;
        if (ret == 0) {
            *res = c->res;
            c->res = NULL;
        }
        errno = c->err;
    } else {
        if (weft_future_cancel(f) == 1)
            gai_unref(c); /* the task never runs: its reference too */
        if (r == -ETIMEDOUT) {
            ret = EAI_AGAIN; /* a timeout scope's deadline */
        } else {
            errno = -r; /* ECANCELED, ENOMEM */
            ret = EAI_SYSTEM;
        }
    }
    weft_future_release(f);
    gai_unref(c);
    return ret;
}

/* ------------------------------------------------------------ bookkeeping */

HOOK_API int close(int fd) {
    RESOLVE();
    fd_forget(fd);
    return R.close(fd);
}

/* fcntl's third argument is an int or a pointer; both travel as one
 * machine word on the ABIs we support. */
static int hook_fcntl(int fd, int cmd, unsigned long arg) {
    RESOLVE();
    switch (cmd) {
    case F_GETFL: {
        int r = R.fcntl(fd, cmd);
        if (r >= 0 && st_get(fd) == ST_HOOKNB)
            r &= ~O_NONBLOCK;
        return r;
    }
    case F_SETFL: {
        int fl = (int)arg;
        int st = st_get(fd);
        if (fl & O_NONBLOCK) {
            int r = R.fcntl(fd, cmd, fl);
            if (r == 0)
                st_set(fd, ST_USERNB);
            return r;
        }
        if (st == ST_HOOKNB) /* still blocking for the program; the hook keeps its flag */
            return R.fcntl(fd, cmd, fl | O_NONBLOCK);
        int r = R.fcntl(fd, cmd, fl);
        if (r == 0 && st == ST_USERNB)
            st_set(fd, ST_UNKNOWN);
        return r;
    }
    case F_DUPFD:
    case F_DUPFD_CLOEXEC: {
        int r = R.fcntl(fd, cmd, (int)arg);
        if (r >= 0)
            fd_copy(fd, r);
        return r;
    }
    default:
        return R.fcntl(fd, cmd, arg);
    }
}

HOOK_API int fcntl(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    unsigned long arg = va_arg(ap, unsigned long);
    va_end(ap);
    return hook_fcntl(fd, cmd, arg);
}

HOOK_API int fcntl64(int fd, int cmd, ...) {
    va_list ap;
    va_start(ap, cmd);
    unsigned long arg = va_arg(ap, unsigned long);
    va_end(ap);
    return hook_fcntl(fd, cmd, arg);
}

HOOK_API int ioctl(int fd, hook_ioctl_req req, ...) {
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    RESOLVE();
    if (req == FIONBIO && arg) {
        int on = *(int *)arg;
        int st = st_get(fd);
        if (!on && st == ST_HOOKNB)
            return 0; /* already blocking as far as the program can tell */
        int r = R.ioctl(fd, req, arg);
        if (r == 0)
            st_set(fd, on ? ST_USERNB : ST_UNKNOWN);
        return r;
    }
    return R.ioctl(fd, req, arg);
}

HOOK_API int setsockopt(int fd, int level, int opt, const void *val, socklen_t len) {
    RESOLVE();
    int r = R.setsockopt(fd, level, opt, val, len);
    if (r == 0 && level == SOL_SOCKET && (opt == SO_RCVTIMEO || opt == SO_SNDTIMEO) &&
        (unsigned)fd < MAXFD && val && len >= sizeof(struct timeval)) {
        const struct timeval *tv = val;
        int64_t us = tv->tv_sec < 0 ? 0
                     : tv->tv_sec > (time_t)(UINT32_MAX / 1000000)
                         ? (int64_t)UINT32_MAX
                         : (int64_t)tv->tv_sec * 1000000 + tv->tv_usec;
        if (us < 0)
            us = 0;
        if (us > UINT32_MAX)
            us = UINT32_MAX;
        atomic_store(opt == SO_RCVTIMEO ? &fd_rcvto_us[fd] : &fd_sndto_us[fd], (uint32_t)us);
    }
    return r;
}

HOOK_API int socket(int domain, int type, int proto) {
    RESOLVE();
    int fd = R.socket(domain, type, proto);
    if (fd >= 0)
        fd_new(fd, type & SOCK_NONBLOCK);
    return fd;
}

HOOK_API int socketpair(int domain, int type, int proto, int sv[2]) {
    RESOLVE();
    int r = R.socketpair(domain, type, proto, sv);
    if (r == 0)
        for (int i = 0; i < 2; i++)
            fd_new(sv[i], type & SOCK_NONBLOCK);
    return r;
}

HOOK_API int pipe2(int p[2], int flags) {
    RESOLVE();
    int r = R.pipe2(p, flags);
    if (r == 0)
        for (int i = 0; i < 2; i++)
            fd_new(p[i], flags & O_NONBLOCK);
    return r;
}

HOOK_API int pipe(int p[2]) {
    RESOLVE();
    int r = R.pipe(p);
    if (r == 0) {
        fd_forget(p[0]);
        fd_forget(p[1]);
    }
    return r;
}

HOOK_API int dup(int fd) {
    RESOLVE();
    int r = R.dup(fd);
    if (r >= 0)
        fd_copy(fd, r);
    return r;
}

HOOK_API int dup2(int fd, int to) {
    RESOLVE();
    int r = R.dup2(fd, to);
    if (r >= 0 && r != fd)
        fd_copy(fd, r);
    return r;
}

HOOK_API int dup3(int fd, int to, int flags) {
    RESOLVE();
    int r = R.dup3(fd, to, flags);
    if (r >= 0)
        fd_copy(fd, r);
    return r;
}

/* ------------------------------------------------------------ own addresses */

/* Hidden aliases: the addresses of this library's own definitions, which a
 * lookup in the global scope may or may not return. */
#define OWN(f) extern __typeof__(f) own_##f __attribute__((alias(#f), visibility("hidden")));
OWN(read)
OWN(write) OWN(readv) OWN(writev) OWN(recv) OWN(recvfrom) OWN(recvmsg) OWN(send) OWN(sendto)
    OWN(sendmsg) OWN(connect) OWN(accept) OWN(accept4) OWN(poll) OWN(select) OWN(sleep) OWN(usleep)
        OWN(nanosleep) OWN(clock_nanosleep) OWN(getaddrinfo)
#undef OWN

            void *weft_hook__self(int i) {
    static void *const own[WEFT_HOOK_COUNT] = {
        (void *)own_read,
        (void *)own_write,
        (void *)own_readv,
        (void *)own_writev,
        (void *)own_recv,
        (void *)own_recvfrom,
        (void *)own_recvmsg,
        (void *)own_send,
        (void *)own_sendto,
        (void *)own_sendmsg,
        (void *)own_connect,
        (void *)own_accept,
        (void *)own_accept4,
        (void *)own_poll,
        (void *)own_select,
        (void *)own_sleep,
        (void *)own_usleep,
        (void *)own_nanosleep,
        (void *)own_clock_nanosleep,
        (void *)own_getaddrinfo,
    };
    return i >= 0 && i < WEFT_HOOK_COUNT ? own[i] : NULL;
}
