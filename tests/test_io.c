/* File descriptors and sockets that yield: pipes between coroutines, blocking only the
 * coroutine, deadlines, one waiter per direction, weft_fd_close, bad arguments, loopback
 * TCP (accept, connect, a 1 MiB echo both ways), and the same wrappers on a thread
 * without a scheduler (poll path).
 *
 * Most cases run their body on a fresh pthread (run_in_thread): once it has exited, its
 * scheduler is gone and the counting allocator must show nothing left. */
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stddef.h>
#include <sys/prctl.h>

/* WEFT_TEST_TIMEOUT(tcp_echo_1mib, 120) */
/* WEFT_TEST_TIMEOUT(plain_thread_tcp, 120) */

struct weft__sched;
#include "internal.h" /* weft__sched_get: to check no scheduler appeared */

/* ------------------------------------------------------------------ helpers */

static void nb_pipe(int p[2]) {
    CHECK_EQ(pipe2(p, O_NONBLOCK | O_CLOEXEC), 0);
}

static unsigned char pat_byte(size_t i, unsigned seed) {
    return (unsigned char)((i * 2654435761u) >> 13 ^ seed ^ (i >> 16));
}

/* ------------------------------------------------------------ pipes */

typedef struct {
    int fd;
    size_t total;
    unsigned seed;
    size_t chunk;
} pipe_arg;

static void *pipe_writer(void *p) {
    pipe_arg *a = p;
    unsigned char *buf = malloc(a->total);
    CHECK(buf != NULL);
    for (size_t i = 0; i < a->total; i++)
        buf[i] = pat_byte(i, a->seed);
    size_t off = 0;
    while (off < a->total) {
        size_t n = a->total - off < a->chunk ? a->total - off : a->chunk;
        size_t w = 0;
        CHECK_EQ(weft_write_all(a->fd, buf + off, n, WEFT_FOREVER, &w), (ssize_t)n);
        CHECK_EQ(w, n);
        off += n;
    }
    free(buf);
    CHECK_ERR(weft_fd_close(a->fd), 0);
    return NULL;
}

static void *pipe_reader(void *p) {
    pipe_arg *a = p;
    unsigned char buf[3000];
    size_t got = 0;
    for (;;) {
        ssize_t n = weft_read(a->fd, buf, sizeof buf, WEFT_FOREVER);
        CHECK_OK(n);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pat_byte(got + (size_t)i, a->seed))
                CHECK_EQ(buf[i], pat_byte(got + (size_t)i, a->seed));
        got += (size_t)n;
    }
    CHECK_ERR(weft_fd_close(a->fd), 0);
    return (void *)(uintptr_t)got;
}

static void body_pipe_between_coroutines(void) {
    static const size_t chunks[] = {1, 100, 4096, 70000, 1 << 20};
    for (int i = 0; i < 5; i++) {
        int p[2];
        nb_pipe(p);
        pipe_arg w = {p[1], 1 << 20, (unsigned)i, chunks[i]};
        pipe_arg r = {p[0], 1 << 20, (unsigned)i, 0};
        if (chunks[i] == 1)
            w.total = r.total = 20000;
        weft_coro cw, cr;
        weft_coro_opts o = {.stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&cr, pipe_reader, &r, &o), 0);
        CHECK_ERR(weft_spawn(&cw, pipe_writer, &w, &o), 0);
        void *res;
        CHECK_ERR(weft_join(cw, WEFT_FOREVER, NULL), 0);
        CHECK_ERR(weft_join(cr, WEFT_FOREVER, &res), 0);
        CHECK_EQ((uintptr_t)res, w.total);
    }
}
WEFT_TEST(pipe_between_coroutines) { run_in_thread(body_pipe_between_coroutines); }

static int bo_pipe[2];
static void *bo_reader(void *arg) {
    (void)arg;
    char buf[16];
    logf_("r-start");
    ssize_t n = weft_read(bo_pipe[0], buf, sizeof buf, WEFT_FOREVER);
    CHECK_EQ(n, 5);
    CHECK(memcmp(buf, "hello", 5) == 0);
    logf_("r-got");
    return NULL;
}
static void *bo_ticker(void *arg) {
    (void)arg;
    for (int i = 1; i <= 3; i++) {
        logf_("t%d", i);
        CHECK_EQ(weft_yield(), 0);
    }
    CHECK_ERR(weft_sleep(5 * WEFT_MSEC), 0);
    logf_("t-write");
    CHECK_EQ(weft_write(bo_pipe[1], "hello", 5, WEFT_FOREVER), 5);
    logf_("t-end");
    return NULL;
}

static void body_read_blocks_only_coroutine(void) {
    log_reset();
    nb_pipe(bo_pipe);
    weft_coro r, t;
    CHECK_ERR(weft_spawn(&r, bo_reader, NULL, NULL), 0);
    CHECK_ERR(weft_spawn(&t, bo_ticker, NULL, NULL), 0);
    CHECK_ERR(weft_join(r, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_join(t, WEFT_FOREVER, NULL), 0);
    CHECK_STR_EQ(logbuf, "r-start t1 t2 t3 t-write t-end r-got");
    CHECK_ERR(weft_fd_close(bo_pipe[0]), 0);
    CHECK_ERR(weft_fd_close(bo_pipe[1]), 0);
}
WEFT_TEST(read_blocks_only_coroutine) { run_in_thread(body_read_blocks_only_coroutine); }

static weft_chan *dr_ready;
static void *deadline_reader(void *arg) {
    int fd = (int)(intptr_t)arg;
    char c;
    CHECK_EQ(weft_read(fd, &c, 1, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_EQ(weft_read(fd, &c, 1, weft_now() - WEFT_SEC), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_EQ(weft_read(fd, &c, 1, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
    CHECK_ERR(weft_fd_wait(fd, WEFT_READABLE, weft_after(5 * WEFT_MSEC)), -ETIMEDOUT);
    /* The direction is free again after a timeout. */
    int one = 1;
    CHECK_ERR(weft_chan_send(dr_ready, &one, WEFT_FOREVER), 0);
    CHECK_EQ(weft_read(fd, &c, 1, WEFT_FOREVER), 1);
    return (void *)(intptr_t)c;
}

static void body_read_deadline(void) {
    int p[2];
    nb_pipe(p);
    CHECK_ERR(weft_chan_create(&dr_ready, sizeof(int), 0), 0);
    weft_coro r;
    CHECK_ERR(weft_spawn(&r, deadline_reader, (void *)(intptr_t)p[0], NULL), 0);
    /* Write once the reader is past its timeouts. */
    int one;
    CHECK_ERR(weft_chan_recv(dr_ready, &one, WEFT_FOREVER), 0);
    CHECK_EQ(weft_write(p[1], "Z", 1, WEFT_NOWAIT), 1);
    CHECK_ERR(weft_chan_destroy(dr_ready), 0);
    void *res;
    CHECK_ERR(weft_join(r, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 'Z');
    /* The write side: a full pipe times out. */
    char big[65536];
    memset(big, 'x', sizeof big);
    ssize_t n;
    while ((n = weft_write(p[1], big, sizeof big, WEFT_NOWAIT)) > 0)
        ;
    CHECK_EQ(n, -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_EQ(weft_write(p[1], big, 1, weft_after(10 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 10 * WEFT_MSEC);
    size_t w = 12345;
    CHECK_EQ(weft_write_all(p[1], big, 10, weft_after(5 * WEFT_MSEC), &w), -ETIMEDOUT);
    CHECK_EQ(w, 0);
    CHECK_ERR(weft_fd_wait(p[1], WEFT_WRITABLE, weft_after(5 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_ERR(weft_fd_close(p[0]), 0);
    CHECK_ERR(weft_fd_close(p[1]), 0);
}
WEFT_TEST(read_deadline) { run_in_thread(body_read_deadline); }

static int tr_pipe[2];
static void *tr_first(void *arg) {
    (void)arg;
    char buf[8];
    ssize_t n = weft_read(tr_pipe[0], buf, sizeof buf, WEFT_FOREVER);
    CHECK_EQ(n, 3);
    return NULL;
}
static void *tr_second(void *arg) {
    (void)arg;
    char buf[8];
    CHECK_EQ(weft_read(tr_pipe[0], buf, sizeof buf, WEFT_FOREVER), -EBUSY);
    CHECK_ERR(weft_fd_wait(tr_pipe[0], WEFT_READABLE, WEFT_FOREVER), -EBUSY);
    CHECK_ERR(weft_fd_wait(tr_pipe[0], WEFT_READABLE | WEFT_WRITABLE, WEFT_FOREVER), -EBUSY);
    /* The other direction of the same descriptor is free. */
    CHECK_ERR(weft_fd_wait(tr_pipe[1], WEFT_WRITABLE, WEFT_FOREVER), WEFT_WRITABLE);
    return NULL;
}

static void body_two_readers_busy(void) {
    nb_pipe(tr_pipe);
    weft_coro a, b;
    CHECK_ERR(weft_spawn(&a, tr_first, NULL, NULL), 0);
    CHECK_ERR(weft_spawn(&b, tr_second, NULL, NULL), 0);
    CHECK_ERR(weft_join(b, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(weft_coro_done(a), 0);
    CHECK_EQ(weft_write(tr_pipe[1], "abc", 3, WEFT_FOREVER), 3);
    CHECK_ERR(weft_join(a, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_fd_close(tr_pipe[0]), 0);
    CHECK_ERR(weft_fd_close(tr_pipe[1]), 0);
}
WEFT_TEST(two_readers_busy) { run_in_thread(body_two_readers_busy); }

/* One reader and one writer on the same socket at once (full duplex). */
static int dx_sv[2];
static void *dx_reader(void *arg) {
    (void)arg;
    unsigned char buf[4096];
    size_t got = 0;
    while (got < (1 << 20)) {
        ssize_t n = weft_read(dx_sv[0], buf, sizeof buf, WEFT_FOREVER);
        CHECK_GT(n, 0);
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pat_byte(got + (size_t)i, 9))
                CHECK_EQ(buf[i], pat_byte(got + (size_t)i, 9));
        got += (size_t)n;
    }
    return NULL;
}
static void *dx_writer(void *arg) {
    (void)arg;
    unsigned char *buf = malloc(1 << 20);
    CHECK(buf != NULL);
    for (size_t i = 0; i < (1 << 20); i++)
        buf[i] = pat_byte(i, 7);
    CHECK_EQ(weft_write_all(dx_sv[0], buf, 1 << 20, WEFT_FOREVER, NULL), 1 << 20);
    free(buf);
    return NULL;
}
static void *dx_peer(void *arg) {
    (void)arg;
    /* The other end: reads what dx_writer sent, writes a pattern for dx_reader. */
    unsigned char *out = malloc(1 << 20), in[8192];
    CHECK(out != NULL);
    for (size_t i = 0; i < (1 << 20); i++)
        out[i] = pat_byte(i, 9);
    size_t sent = 0, got = 0;
    while (sent < (1 << 20) || got < (1 << 20)) {
        int ev = (sent < (1 << 20) ? WEFT_WRITABLE : 0) | (got < (1 << 20) ? WEFT_READABLE : 0);
        int r = weft_fd_wait(dx_sv[1], ev, WEFT_FOREVER);
        CHECK_GT(r, 0);
        CHECK_EQ(r & ~ev, 0);
        if (r & WEFT_READABLE) {
            ssize_t n = read(dx_sv[1], in, sizeof in);
            if (n > 0) {
                for (ssize_t i = 0; i < n; i++)
                    if (in[i] != pat_byte(got + (size_t)i, 7))
                        CHECK_EQ(in[i], pat_byte(got + (size_t)i, 7));
                got += (size_t)n;
            } else {
                CHECK(n < 0 && errno == EAGAIN);
            }
        }
        if (r & WEFT_WRITABLE) {
            ssize_t n = write(dx_sv[1], out + sent, (1 << 20) - sent);
            if (n > 0)
                sent += (size_t)n;
            else
                CHECK(n < 0 && errno == EAGAIN);
        }
    }
    free(out);
    return NULL;
}

static void body_full_duplex(void) {
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, dx_sv), 0);
    weft_coro c[3];
    CHECK_ERR(weft_spawn(&c[0], dx_reader, NULL, NULL), 0);
    CHECK_ERR(weft_spawn(&c[1], dx_writer, NULL, NULL), 0);
    CHECK_ERR(weft_spawn(&c[2], dx_peer, NULL, NULL), 0);
    CHECK_ERR(weft_joinall(c, 3, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_fd_close(dx_sv[0]), 0);
    CHECK_ERR(weft_fd_close(dx_sv[1]), 0);
}
WEFT_TEST(full_duplex) { run_in_thread(body_full_duplex); }

static int fc_pipe[2];
static void *fc_waiter(void *arg) {
    int dir = (int)(intptr_t)arg;
    if (dir == WEFT_READABLE) {
        char c;
        return (void *)(intptr_t)weft_read(fc_pipe[0], &c, 1, WEFT_FOREVER);
    }
    return (void *)(intptr_t)weft_fd_wait(fc_pipe[0], WEFT_READABLE, weft_after(60 * WEFT_SEC));
}

static void *fc_writer(void *arg) {
    (void)arg;
    return (void *)(intptr_t)weft_write(fc_pipe[1], "x", 1, WEFT_FOREVER);
}

static void body_fd_close_wakes(void) {
    for (int mode = 0; mode < 2; mode++) {
        nb_pipe(fc_pipe);
        weft_coro c;
        weft_coro_opts o = {.stack_mode = mode ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_spawn(&c, fc_waiter, (void *)(intptr_t)(mode ? 0 : WEFT_READABLE), &o), 0);
        CHECK_EQ(weft_yield(), 0);
        CHECK_EQ(weft_coro_done(c), 0);
        int64_t t0 = weft_now();
        CHECK_ERR(weft_fd_close(fc_pipe[0]), 0);
        void *res;
        CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, -EBADF);
        CHECK_LT(weft_now() - t0, 10 * WEFT_SEC);
        /* Closed: waiting on it now fails too. */
        CHECK_ERR(weft_fd_wait(fc_pipe[0], WEFT_READABLE, WEFT_NOWAIT), -EBADF);
        CHECK_ERR(weft_fd_close(fc_pipe[0]), -EBADF);
        CHECK_ERR(weft_fd_close(fc_pipe[1]), 0);
    }
    /* A writer parked on a full pipe, too. */
    nb_pipe(fc_pipe);
    char big[65536];
    memset(big, 1, sizeof big);
    while (weft_write(fc_pipe[1], big, sizeof big, WEFT_NOWAIT) > 0)
        ;
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, fc_writer, NULL, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_EQ(weft_coro_done(c), 0);
    CHECK_ERR(weft_fd_close(fc_pipe[1]), 0);
    void *res;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, -EBADF);
    CHECK_ERR(weft_fd_close(fc_pipe[0]), 0);
}
WEFT_TEST(fd_close_wakes_waiter) { run_in_thread(body_fd_close_wakes); }

static void fd_wait_args_checks(void) {
    int p[2];
    nb_pipe(p);
    CHECK_ERR(weft_fd_wait(-1, WEFT_READABLE, WEFT_NOWAIT), -EBADF);
    CHECK_ERR(weft_fd_wait(-1, WEFT_READABLE, WEFT_FOREVER), -EBADF);
    /* A descriptor number that is not open. */
    int closed_fd = dup(p[0]);
    CHECK_GE(closed_fd, 0);
    CHECK_EQ(close(closed_fd), 0);
    CHECK_ERR(weft_fd_wait(closed_fd, WEFT_READABLE, WEFT_FOREVER), -EBADF);
    CHECK_ERR(weft_fd_wait(9999, WEFT_WRITABLE, WEFT_FOREVER), -EBADF);
    CHECK_ERR(weft_fd_wait(INT_MAX, WEFT_READABLE, WEFT_FOREVER), -EBADF);
    char c;
    CHECK_EQ(weft_read(9999, &c, 1, WEFT_FOREVER), -EBADF);
    CHECK_EQ(weft_write(9999, &c, 1, WEFT_FOREVER), -EBADF);
    /* Bad event masks. */
    CHECK_ERR(weft_fd_wait(p[0], 0, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_fd_wait(p[0], 0x100, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_fd_wait(p[0], WEFT_READABLE | 0x002, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_fd_wait(p[0], -1, WEFT_NOWAIT), -EINVAL);
    /* Ready at once: the mask that is ready. */
    CHECK_ERR(weft_fd_wait(p[1], WEFT_WRITABLE, WEFT_NOWAIT), WEFT_WRITABLE);
    CHECK_ERR(weft_fd_wait(p[0], WEFT_READABLE, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_EQ(write(p[1], "x", 1), 1);
    CHECK_ERR(weft_fd_wait(p[0], WEFT_READABLE, WEFT_FOREVER), WEFT_READABLE);
    CHECK_ERR(weft_fd_wait(p[0], WEFT_READABLE, WEFT_NOWAIT), WEFT_READABLE);
    CHECK_EQ(read(p[0], &c, 1), 1);
    /* Hang-up reports the asked direction, and the read then sees end of file. */
    CHECK_ERR(weft_fd_close(p[1]), 0);
    CHECK_ERR(weft_fd_wait(p[0], WEFT_READABLE, weft_after(10 * WEFT_SEC)), WEFT_READABLE);
    CHECK_EQ(weft_read(p[0], &c, 1, weft_after(10 * WEFT_SEC)), 0);
    /* Nonblock helper. */
    CHECK_ERR(weft_fd_set_nonblock(p[0]), 0);
    CHECK_ERR(weft_fd_set_nonblock(9999), -EBADF);
    CHECK_ERR(weft_fd_close(p[0]), 0);
    CHECK_ERR(weft_fd_close(-1), -EBADF);
}

static void *fd_wait_args_coro(void *arg) {
    (void)arg;
    fd_wait_args_checks();
    return NULL;
}

static void body_fd_wait_args(void) {
    fd_wait_args_checks(); /* no scheduler: poll path */
    CHECK(weft__sched_get() == NULL);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, fd_wait_args_coro, NULL, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    fd_wait_args_checks(); /* the main coroutine */
}
WEFT_TEST(fd_wait_args) { run_in_thread(body_fd_wait_args); }

/* A regular file cannot be registered with epoll: it is always ready. */
static void *regular_file_coro(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[16];
    CHECK_ERR(weft_fd_wait(fd, WEFT_READABLE, WEFT_FOREVER), WEFT_READABLE);
    CHECK_EQ(weft_write(fd, "data", 4, WEFT_FOREVER), 4);
    CHECK_EQ(lseek(fd, 0, SEEK_SET), 0);
    CHECK_EQ(weft_read(fd, buf, sizeof buf, WEFT_FOREVER), 4);
    CHECK(memcmp(buf, "data", 4) == 0);
    return NULL;
}

static void body_regular_file(void) {
    char path[] = "/tmp/weft_test_io_XXXXXX";
    int fd = mkstemp(path);
    CHECK_GE(fd, 0);
    unlink(path);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, regular_file_coro, (void *)(intptr_t)fd, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_fd_close(fd), 0);
}
WEFT_TEST(regular_file) { run_in_thread(body_regular_file); }

static void *cancel_reader(void *arg) {
    char c;
    int fd = (int)(intptr_t)arg;
    ssize_t r = weft_read(fd, &c, 1, WEFT_FOREVER);
    CHECK_EQ(r, -ECANCELED);
    CHECK_EQ(weft_read(fd, &c, 1, WEFT_FOREVER), -ECANCELED);
    return NULL;
}

static void body_cancel_read(void) {
    int p[2];
    nb_pipe(p);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, cancel_reader, (void *)(intptr_t)p[0], NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_cancel(c), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    /* The direction is free again. */
    CHECK_EQ(write(p[1], "q", 1), 1);
    char ch;
    CHECK_EQ(weft_read(p[0], &ch, 1, weft_after(10 * WEFT_SEC)), 1);
    CHECK_EQ(ch, 'q');
    CHECK_ERR(weft_fd_close(p[0]), 0);
    CHECK_ERR(weft_fd_close(p[1]), 0);
}
WEFT_TEST(cancel_read) { run_in_thread(body_cancel_read); }

/* ------------------------------------------------------------ TCP */

/* A non-blocking listener on 127.0.0.1 or ::1, port chosen by the kernel. Returns -1 if
 * the family is not available here. */
static int listen_loopback(int family, struct sockaddr_storage *addr, socklen_t *len) {
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(addr, 0, sizeof *addr);
    if (family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)addr;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        *len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)addr, *len) != 0 || listen(fd, 16) != 0) {
        close(fd);
        return -1;
    }
    CHECK_EQ(getsockname(fd, (struct sockaddr *)addr, len), 0);
    return fd;
}

enum { ECHO_BYTES = 1 << 20 };

static void *echo_server(void *arg) {
    int lfd = (int)(intptr_t)arg;
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    int fd = weft_accept(lfd, (struct sockaddr *)&peer, &plen, weft_after(30 * WEFT_SEC));
    CHECK_OK(fd);
    CHECK_GT(plen, 0);
    /* accept returns non-blocking, close-on-exec descriptors. */
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    char buf[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = weft_recv(fd, buf, sizeof buf, 0, weft_after(30 * WEFT_SEC));
        CHECK_OK(n);
        if (n == 0)
            break;
        size_t w = 0;
        CHECK_EQ(weft_write_all(fd, buf, (size_t)n, weft_after(30 * WEFT_SEC), &w), n);
        CHECK_EQ(w, (size_t)n);
        total += (size_t)n;
    }
    CHECK_ERR(weft_fd_close(fd), 0);
    return (void *)(uintptr_t)total;
}

typedef struct {
    int fd;
} client_ctx;

static void *client_writer(void *p) {
    client_ctx *c = p;
    unsigned char *buf = malloc(ECHO_BYTES);
    CHECK(buf != NULL);
    for (size_t i = 0; i < ECHO_BYTES; i++)
        buf[i] = pat_byte(i, 42);
    /* In pieces of varied size, through send and write_all. */
    size_t off = 0, piece = 1;
    while (off < ECHO_BYTES) {
        size_t n = ECHO_BYTES - off < piece ? ECHO_BYTES - off : piece;
        if (piece % 2) {
            size_t w = 0;
            CHECK_EQ(weft_write_all(c->fd, buf + off, n, weft_after(30 * WEFT_SEC), &w),
                     (ssize_t)n);
            off += w;
        } else {
            ssize_t w = weft_send(c->fd, buf + off, n, 0, weft_after(30 * WEFT_SEC));
            CHECK_GT(w, 0);
            off += (size_t)w;
        }
        piece = piece * 3 + 1;
        if (piece > 300000)
            piece = 7;
    }
    free(buf);
    CHECK_EQ(shutdown(c->fd, SHUT_WR), 0);
    return NULL;
}

static void *client_reader(void *p) {
    client_ctx *c = p;
    unsigned char buf[7000];
    size_t got = 0;
    for (;;) {
        ssize_t n = weft_read(c->fd, buf, sizeof buf, weft_after(30 * WEFT_SEC));
        CHECK_OK(n);
        if (n == 0)
            break;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] != pat_byte(got + (size_t)i, 42))
                CHECK_EQ(buf[i], pat_byte(got + (size_t)i, 42));
        got += (size_t)n;
    }
    return (void *)(uintptr_t)got;
}

static void tcp_echo(int family) {
    struct sockaddr_storage addr;
    socklen_t len;
    int lfd = listen_loopback(family, &addr, &len);
    if (lfd < 0) {
        CHECK(family == AF_INET6); /* IPv4 loopback must exist */
        printf("(no ::1 here: IPv6 part skipped)\n");
        return;
    }
    weft_coro srv;
    CHECK_ERR(weft_spawn(&srv, echo_server, (void *)(intptr_t)lfd, NULL), 0);
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK_GE(fd, 0);
    CHECK_ERR(weft_connect(fd, (struct sockaddr *)&addr, len, weft_after(30 * WEFT_SEC)), 0);
    client_ctx c = {fd};
    weft_coro w, r;
    weft_coro_opts shared = {.stack_mode = WEFT_STACK_SHARED};
    CHECK_ERR(weft_spawn(&r, client_reader, &c, &shared), 0);
    CHECK_ERR(weft_spawn(&w, client_writer, &c, NULL), 0);
    void *got, *echoed;
    CHECK_ERR(weft_join(w, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_join(r, WEFT_FOREVER, &got), 0);
    CHECK_ERR(weft_join(srv, WEFT_FOREVER, &echoed), 0);
    CHECK_EQ((uintptr_t)got, ECHO_BYTES);
    CHECK_EQ((uintptr_t)echoed, ECHO_BYTES);
    CHECK_ERR(weft_fd_close(fd), 0);
    CHECK_ERR(weft_fd_close(lfd), 0);
}

static void body_tcp_echo(void) {
    tcp_echo(AF_INET);
    tcp_echo(AF_INET6);
}
WEFT_TEST(tcp_echo_1mib) { run_in_thread(body_tcp_echo); }

/* A port that nobody listens on: bound (so nobody else takes it) but not listening. */
static int refused_addr(struct sockaddr_in *a, int *holder) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_GE(fd, 0);
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_EQ(bind(fd, (struct sockaddr *)a, sizeof *a), 0);
    socklen_t l = sizeof *a;
    CHECK_EQ(getsockname(fd, (struct sockaddr *)a, &l), 0);
    *holder = fd;
    return 0;
}

static void connect_refused_checks(void) {
    struct sockaddr_in a;
    int holder;
    refused_addr(&a, &holder);
    for (int i = 0; i < 3; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK_GE(fd, 0);
        CHECK_ERR(weft_connect(fd, (struct sockaddr *)&a, sizeof a, weft_after(10 * WEFT_SEC)),
                  -ECONNREFUSED);
        CHECK_ERR(weft_fd_close(fd), 0);
    }
    close(holder);
}

static void *connect_refused_coro(void *arg) {
    (void)arg;
    connect_refused_checks();
    return NULL;
}

static void body_connect_refused(void) {
    connect_refused_checks(); /* plain thread */
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, connect_refused_coro, NULL, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
}
WEFT_TEST(connect_refused) { run_in_thread(body_connect_refused); }

static void accept_deadline_checks(void) {
    struct sockaddr_storage addr;
    socklen_t len;
    int lfd = listen_loopback(AF_INET, &addr, &len);
    CHECK_GE(lfd, 0);
    CHECK_ERR(weft_accept(lfd, NULL, NULL, WEFT_NOWAIT), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_accept(lfd, NULL, NULL, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
    /* Then one connection is there: accepted at once, NULL addr allowed. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK_ERR(weft_connect(fd, (struct sockaddr *)&addr, len, weft_after(10 * WEFT_SEC)), 0);
    int afd = weft_accept(lfd, NULL, NULL, weft_after(10 * WEFT_SEC));
    CHECK_OK(afd);
    CHECK_ERR(weft_accept(lfd, NULL, NULL, WEFT_NOWAIT), -ETIMEDOUT);
    /* Small exchange, then the peer's close is seen as end of file. */
    CHECK_EQ(weft_send(fd, "ping", 4, 0, weft_after(10 * WEFT_SEC)), 4);
    char buf[8];
    CHECK_EQ(weft_recv(afd, buf, sizeof buf, 0, weft_after(10 * WEFT_SEC)), 4);
    CHECK(memcmp(buf, "ping", 4) == 0);
    CHECK_ERR(weft_fd_close(fd), 0);
    CHECK_EQ(weft_recv(afd, buf, sizeof buf, 0, weft_after(10 * WEFT_SEC)), 0);
    /* Writing to a closed peer: an error (never SIGPIPE). */
    ssize_t r = 0;
    for (int i = 0; i < 100 && r >= 0; i++)
        r = weft_send(afd, "x", 1, 0, weft_after(10 * WEFT_SEC));
    CHECK(r == -EPIPE || r == -ECONNRESET);
    CHECK_ERR(weft_fd_close(afd), 0);
    CHECK_ERR(weft_fd_close(lfd), 0);
}

static void *accept_deadline_coro(void *arg) {
    (void)arg;
    accept_deadline_checks();
    return NULL;
}

static void body_accept_deadline(void) {
    accept_deadline_checks(); /* plain thread */
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, accept_deadline_coro, NULL, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
}
WEFT_TEST(accept_deadline) { run_in_thread(body_accept_deadline); }

/* Accept parked in a coroutine while other coroutines run; cancel a parked accept. */
static void *cancelled_accept(void *arg) {
    int r = weft_accept((int)(intptr_t)arg, NULL, NULL, WEFT_FOREVER);
    CHECK_ERR(r, -ECANCELED);
    return NULL;
}

static void body_accept_cancel(void) {
    struct sockaddr_storage addr;
    socklen_t len;
    int lfd = listen_loopback(AF_INET, &addr, &len);
    CHECK_GE(lfd, 0);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, cancelled_accept, (void *)(intptr_t)lfd, NULL), 0);
    CHECK_EQ(weft_yield(), 0);
    CHECK_ERR(weft_cancel(c), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_fd_close(lfd), 0);
}
WEFT_TEST(accept_cancel) { run_in_thread(body_accept_cancel); }

/* ------------------------------------------------------------ plain threads */

/* A thread that never uses coroutines: pipe and TCP through the poll path, against a
 * coroutine server on another thread. */
static void *plain_client(void *arg) {
    struct sockaddr_storage *addr = arg;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    CHECK_GE(fd, 0);
    CHECK_ERR(weft_connect(fd, (struct sockaddr *)addr, sizeof(struct sockaddr_in),
                           weft_after(30 * WEFT_SEC)),
              0);
    unsigned char *buf = malloc(ECHO_BYTES), in[8192];
    CHECK(buf != NULL);
    for (size_t i = 0; i < ECHO_BYTES; i++)
        buf[i] = pat_byte(i, 5);
    /* Write and read in turns so neither side's buffers fill. */
    size_t sent = 0, got = 0;
    while (got < ECHO_BYTES) {
        if (sent < ECHO_BYTES && sent - got < 32768) {
            size_t n = ECHO_BYTES - sent < 16384 ? ECHO_BYTES - sent : 16384;
            size_t w = 0;
            CHECK_EQ(weft_write_all(fd, buf + sent, n, weft_after(30 * WEFT_SEC), &w),
                     (ssize_t)n);
            sent += n;
        }
        ssize_t n = weft_read(fd, in, sizeof in, weft_after(30 * WEFT_SEC));
        CHECK_GT(n, 0);
        for (ssize_t i = 0; i < n; i++)
            if (in[i] != pat_byte(got + (size_t)i, 5))
                CHECK_EQ(in[i], pat_byte(got + (size_t)i, 5));
        got += (size_t)n;
    }
    CHECK_EQ(shutdown(fd, SHUT_WR), 0);
    char c;
    CHECK_EQ(weft_read(fd, &c, 1, weft_after(30 * WEFT_SEC)), 0);
    free(buf);
    CHECK_ERR(weft_fd_close(fd), 0);
    /* Pipes too, with a deadline. */
    int p[2];
    nb_pipe(p);
    int64_t t0 = weft_now();
    CHECK_EQ(weft_read(p[0], &c, 1, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
    CHECK_EQ(weft_write(p[1], "k", 1, WEFT_NOWAIT), 1);
    CHECK_EQ(weft_read(p[0], &c, 1, WEFT_FOREVER), 1);
    CHECK_EQ(c, 'k');
    CHECK_ERR(weft_fd_close(p[0]), 0);
    CHECK_ERR(weft_fd_close(p[1]), 0);
    CHECK(weft__sched_get() == NULL);
    CHECK_EQ(weft_coro_count(), 0);
    return NULL;
}

static void body_plain_thread_tcp(void) {
    struct sockaddr_storage addr;
    socklen_t len;
    int lfd = listen_loopback(AF_INET, &addr, &len);
    CHECK_GE(lfd, 0);
    weft_coro srv;
    CHECK_ERR(weft_spawn(&srv, echo_server, (void *)(intptr_t)lfd, NULL), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, plain_client, &addr), 0);
    void *echoed;
    CHECK_ERR(weft_join(srv, WEFT_FOREVER, &echoed), 0);
    CHECK_EQ((uintptr_t)echoed, ECHO_BYTES);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_ERR(weft_fd_close(lfd), 0);
}
WEFT_TEST(plain_thread_tcp) { run_in_thread(body_plain_thread_tcp); }

WEFT_MAIN()

/* ------------------------------------------------------------------ epoll_pwait2 refused */

/* epoll_pwait2 is 441 on every architecture. */
#define NR_EPOLL_PWAIT2 441

static void *timed_fd_wait(void *arg) {
    (void)arg;
    int p[2];
    CHECK_OK(pipe(p));
    int64_t t0 = weft_now();
    /* The scheduler waits in its poller with a timeout: epoll_pwait2's case. */
    CHECK_ERR(weft_fd_wait(p[0], WEFT_READABLE, weft_after(5 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 5 * WEFT_MSEC);
    CHECK_OK(weft_fd_close(p[0]));
    CHECK_OK(close(p[1]));
    return NULL;
}

static void body_timed_sleep(void) {
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, timed_fd_wait, NULL, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
}

/* The poller falls back to epoll_wait on ENOSYS and on EPERM alike (EPERM panicked). */
WEFT_TEST(pwait2_refused_falls_back) {
    int errs[] = {ENOSYS, EPERM};
    for (int i = 0; i < 2; i++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
            /* as under an older kernel (ENOSYS) or a container runtime's seccomp
             * filter that does not know it (EPERM); every other call runs */
            if (harness_seccomp_deny(NR_EPOLL_PWAIT2, -1, errs[i]) != 0)
                _exit(HARNESS_SECCOMP_REFUSED);
            run_in_thread(body_timed_sleep);
            _exit(0);
        }
        int rc = test_reap(pid);
        SKIP_IF_SECCOMP_REFUSED(rc);
        CHECK_EQ(rc, 0);
    }
}
