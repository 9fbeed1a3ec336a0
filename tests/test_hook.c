/* The hook library (src/hook/, linked into this program directly): every hooked call
 * outside coroutines (libc's behaviour and errno) and inside them (the coroutine parks,
 * the thread keeps running others), sleeps that overlap, poll/select, descriptors the
 * program made non-blocking, socket timeouts, getaddrinfo off the scheduler, the check's
 * report, the watchdog, and 100 concurrent libcurl transfers against a loopback server.
 *
 * "The thread was not blocked" is shown by ordering: a coroutine blocked in a hooked call
 * lets another coroutine of the same thread run and unblock it, which could not happen
 * if the call blocked the thread. Sleeps overlap when all sleepers are inside their
 * sleep at once (counted, not timed). */
#include "harness.h"

#include "weft_hook.h"

#include "../examples/seed10_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#ifdef WEFT_TEST_HAVE_CURL
#include <curl/curl.h>
#endif

/* WEFT_TEST_TIMEOUT(curl_100_concurrent, 120) */

/* The descriptor's O_NONBLOCK as the kernel has it (not through the hook's fcntl). */
static int kernel_nonblock(int fd) {
    long fl = syscall(SYS_fcntl, fd, F_GETFL);
    CHECK_GE(fl, 0);
    return (fl & O_NONBLOCK) != 0;
}

static void spawn(weft_coro *c, weft_coro_fn fn, void *arg) {
    CHECK_OK(weft_spawn(c, fn, arg, NULL));
}

/* ------------------------------------------------------------------ outside coroutines */

WEFT_TEST(check_reports_all_live) {
    char buf[8192];
    int live = weft_hook_check(buf, sizeof buf);
    if (live != WEFT_HOOK_COUNT)
        fputs(buf, stderr);
    CHECK_EQ(live, WEFT_HOOK_COUNT);
    CHECK(strstr(buf, "getaddrinfo: live"));
    CHECK(strstr(buf, "20 of 20 hooks live"));
    CHECK_ERR(weft_hook_check(NULL, 4), -EINVAL);
    CHECK_EQ(weft_hook_check(NULL, 0), WEFT_HOOK_COUNT);
}

WEFT_TEST(outside_errno_like_libc) {
    char b[8];
    errno = 0;
    CHECK_EQ(read(-1, b, 1), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(write(-1, b, 1), -1);
    CHECK_EQ(errno, EBADF);
    struct iovec iov = {b, 1};
    CHECK_EQ(readv(-1, &iov, 1), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(writev(-1, &iov, 1), -1);
    CHECK_EQ(errno, EBADF);
    /* (A real address: with NULL, qemu-user fails reading it, EFAULT, before the kernel
     * sees the descriptor.) */
    struct sockaddr_in sin = {.sin_family = AF_INET};
    CHECK_EQ(connect(-1, (struct sockaddr *)&sin, sizeof sin), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(accept(-1, NULL, NULL), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(accept4(-1, NULL, NULL, 0), -1);
    CHECK_EQ(errno, EBADF);

    int p[2];
    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(recv(p[0], b, 1, 0), -1); /* not a socket */
    CHECK_EQ(errno, ENOTSOCK);
    CHECK_EQ(send(p[1], b, 1, 0), -1);
    CHECK_EQ(errno, ENOTSOCK);
    /* (One iovec: with none, qemu-user returns 0 before the kernel sees the descriptor.) */
    struct iovec one = {b, 1};
    struct msghdr mh = {.msg_iov = &one, .msg_iovlen = 1};
    CHECK_EQ(recvmsg(p[0], &mh, 0), -1);
    CHECK_EQ(errno, ENOTSOCK);
    CHECK_EQ(sendmsg(p[1], &mh, 0), -1);
    CHECK_EQ(errno, ENOTSOCK);
    CHECK_EQ(recvfrom(p[0], b, 1, 0, NULL, NULL), -1);
    CHECK_EQ(errno, ENOTSOCK);
    CHECK_EQ(sendto(p[1], b, 1, 0, NULL, 0), -1);
    CHECK_EQ(errno, ENOTSOCK);

    /* A non-blocking empty pipe: EAGAIN. */
    CHECK_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
    CHECK_EQ(read(p[0], b, 1), -1);
    CHECK_EQ(errno, EAGAIN);
    struct pollfd pf = {p[0], POLLIN, 0};
    CHECK_EQ(poll(&pf, 1, 0), 0);
    CHECK_EQ(poll(&pf, 1, 10), 0); /* timeout */
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {0, 1000};
    CHECK_EQ(select(p[0] + 1, &rs, NULL, NULL, &tv), 0);
    CHECK_EQ(write(p[1], "xy", 2), 2);
    CHECK_EQ(poll(&pf, 1, -1), 1);
    CHECK_EQ(pf.revents, POLLIN);
    CHECK_EQ(read(p[0], b, 8), 2);
    close(p[0]);
    close(p[1]);

    struct timespec bad = {0, 1000000000L}, zero = {0, 0};
    CHECK_EQ(nanosleep(&bad, NULL), -1);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(nanosleep(&zero, NULL), 0);
    CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
    CHECK_EQ(clock_nanosleep((clockid_t)1234, 0, &zero, NULL), EINVAL);
    CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &zero, NULL), 0);
    CHECK_EQ(sleep(0), 0);
    CHECK_EQ(usleep(0), 0);

    struct addrinfo hints = {.ai_family = AF_INET, .ai_flags = AI_NUMERICHOST}, *ai = NULL;
    CHECK_EQ(getaddrinfo("127.0.0.1", "80", &hints, &ai), 0);
    CHECK(ai != NULL);
    freeaddrinfo(ai);
    CHECK_EQ(getaddrinfo("not an address", NULL, &hints, &ai), EAI_NONAME);
}

/* ------------------------------------------------------------------ read/write on a pipe */

static int pipe_fds[2];

static void *reader_coro(void *arg) {
    (void)arg;
    char b[16];
    logf_("read-begin");
    ssize_t n = read(pipe_fds[0], b, sizeof b);
    logf_("read-%zd-%c", n, n > 0 ? b[0] : '?');
    return NULL;
}

static void *writer_coro(void *arg) {
    (void)arg;
    logf_("writer-runs");
    CHECK_EQ(write(pipe_fds[1], "z", 1), 1);
    return NULL;
}

static void coro_read_pipe_body(void) {
    log_reset();
    CHECK_EQ(pipe(pipe_fds), 0);
    weft_coro a, b;
    spawn(&a, reader_coro, NULL);
    spawn(&b, writer_coro, NULL);
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(10 * WEFT_SEC), NULL));
    CHECK_STR_EQ(logbuf, "read-begin writer-runs read-1-z");
    /* The hook made the read end non-blocking in the kernel, but the program still sees a
     * blocking descriptor. */
    CHECK_EQ(kernel_nonblock(pipe_fds[0]), 1);
    CHECK_EQ(fcntl(pipe_fds[0], F_GETFL) & O_NONBLOCK, 0);
    CHECK_EQ(close(pipe_fds[0]), 0);
    CHECK_EQ(close(pipe_fds[1]), 0);
}

WEFT_TEST(coro_read_blocks_only_the_coroutine) {
    run_plain_in_thread(coro_read_pipe_body);
}

/* A descriptor the hook made non-blocking still blocks outside coroutines. */
static void *late_writer(void *arg) {
    (void)arg;
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    CHECK_EQ(write(pipe_fds[1], "q", 1), 1);
    return NULL;
}

static void *touch_coro(void *arg) {
    (void)arg;
    char b[1];
    struct pollfd pf = {pipe_fds[0], POLLIN, 0};
    CHECK_EQ(poll(&pf, 1, 0), 0);
    CHECK_EQ(write(pipe_fds[1], "p", 1), 1);
    CHECK_EQ(read(pipe_fds[0], b, 1), 1); /* hook makes both ends non-blocking */
    return NULL;
}

WEFT_TEST(hook_nonblocking_fd_still_blocks_outside) {
    CHECK_EQ(pipe(pipe_fds), 0);
    weft_coro c;
    spawn(&c, touch_coro, NULL);
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_EQ(kernel_nonblock(pipe_fds[0]), 1);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, late_writer, NULL), 0);
    char b[1];
    /* The main coroutine parks in the read (this thread has a scheduler) until the
     * writer thread's byte arrives, instead of failing with EAGAIN. */
    CHECK_EQ(read(pipe_fds[0], b, 1), 1);
    CHECK_EQ(b[0], 'q');
    CHECK_EQ(pthread_join(t, NULL), 0);
    /* The program turns O_NONBLOCK on itself: now EAGAIN, inside and outside. */
    int fl = fcntl(pipe_fds[0], F_GETFL);
    CHECK_EQ(fl & O_NONBLOCK, 0);
    CHECK_EQ(fcntl(pipe_fds[0], F_SETFL, fl | O_NONBLOCK), 0);
    CHECK_EQ(fcntl(pipe_fds[0], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    CHECK_EQ(read(pipe_fds[0], b, 1), -1);
    CHECK_EQ(errno, EAGAIN);
    /* ... and off again: blocking for the program, hook-managed again in coroutines. */
    CHECK_EQ(fcntl(pipe_fds[0], F_SETFL, fl), 0);
    CHECK_EQ(fcntl(pipe_fds[0], F_GETFL) & O_NONBLOCK, 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

/* ------------------------------------------------------------------ user non-blocking */

static void *user_nonblock_coro(void *arg) {
    (void)arg;
    char b[4];
    int p[2];
    CHECK_EQ(pipe2(p, O_NONBLOCK), 0);
    CHECK_EQ(read(p[0], b, 1), -1);
    CHECK_EQ(errno, EAGAIN);
    close(p[0]);
    close(p[1]);

    CHECK_EQ(pipe(p), 0);
    int on = 1;
    CHECK_EQ(ioctl(p[0], FIONBIO, &on), 0);
    CHECK_EQ(read(p[0], b, 1), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK_EQ(fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK), 0);
    /* Fill the pipe: the user non-blocking write end reports EAGAIN instead of parking. */
    static char big[1 << 16];
    ssize_t w;
    while ((w = write(p[1], big, sizeof big)) > 0) {
    }
    CHECK_EQ(w, -1);
    CHECK_EQ(errno, EAGAIN);
    close(p[0]);
    close(p[1]);

    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    CHECK_EQ(recv(sv[0], b, 1, 0), -1);
    CHECK_EQ(errno, EAGAIN);
    close(sv[0]);
    close(sv[1]);
    /* MSG_DONTWAIT on a blocking socket never parks either. */
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    CHECK_EQ(recv(sv[0], b, 1, MSG_DONTWAIT), -1);
    CHECK_EQ(errno, EAGAIN);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}

WEFT_TEST(user_nonblocking_fd_stays_nonblocking) {
    weft_coro c;
    spawn(&c, user_nonblock_coro, NULL);
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
}

/* ------------------------------------------------------------------ sockets */

static int listen_fd, server_port;

static void *server_coro(void *arg) {
    (void)arg;
    int fd = accept(listen_fd, NULL, NULL);
    CHECK_GE(fd, 0);
    logf_("accepted");
    char b[64];
    CHECK_EQ(recv(fd, b, 5, MSG_WAITALL), 5);
    CHECK(memcmp(b, "hello", 5) == 0);
    struct iovec iov[2] = {{"wo", 2}, {"rld", 3}};
    CHECK_EQ(writev(fd, iov, 2), 5);
    struct msghdr mh = {0};
    struct iovec in = {b, sizeof b};
    mh.msg_iov = &in;
    mh.msg_iovlen = 1;
    CHECK_EQ(recvmsg(fd, &mh, 0), 3);
    CHECK(memcmp(b, "msg", 3) == 0);
    CHECK_EQ(sendto(fd, "to", 2, 0, NULL, 0), 2);
    CHECK_EQ(recvfrom(fd, b, sizeof b, 0, NULL, NULL), 0); /* client closed */
    close(fd);
    return NULL;
}

static void *client_coro(void *arg) {
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_GE(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)server_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    logf_("connecting");
    CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(send(fd, "hello", 5, 0), 5);
    char b[8];
    struct iovec iov = {b, 5};
    size_t got = 0;
    while (got < 5) {
        iov.iov_base = b + got;
        iov.iov_len = 5 - got;
        ssize_t n = readv(fd, &iov, 1);
        CHECK_GT(n, 0);
        got += (size_t)n;
    }
    CHECK(memcmp(b, "world", 5) == 0);
    struct iovec out = {"msg", 3};
    struct msghdr mh = {0};
    mh.msg_iov = &out;
    mh.msg_iovlen = 1;
    CHECK_EQ(sendmsg(fd, &mh, 0), 3);
    CHECK_EQ(recv(fd, b, 2, MSG_WAITALL), 2);
    CHECK(memcmp(b, "to", 2) == 0);
    CHECK_EQ(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    return NULL;
}

static void sockets_body(void) {
    log_reset();
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK_EQ(bind(listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(listen_fd, 8), 0);
    CHECK_EQ(getsockname(listen_fd, (struct sockaddr *)&a, &al), 0);
    server_port = ntohs(a.sin_port);
    weft_coro s, c;
    spawn(&s, server_coro, NULL); /* parks in accept first */
    spawn(&c, client_coro, NULL);
    CHECK_OK(weft_join(s, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
    CHECK_STR_EQ(logbuf, "connecting accepted");
    close(listen_fd);
}

WEFT_TEST(coro_sockets_every_call) {
    run_plain_in_thread(sockets_body);
}

/* SO_RCVTIMEO is honoured: EAGAIN after the timeout, other coroutines ran meanwhile. */
static atomic_int ticks;
static void *ticker(void *arg) {
    atomic_int *stop = arg;
    while (!atomic_load(stop)) {
        atomic_fetch_add(&ticks, 1);
        weft_sleep(WEFT_MSEC);
    }
    return NULL;
}
static void *timeo_coro(void *arg) {
    atomic_int *stop = arg;
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    struct timeval tv = {0, 30000};
    CHECK_EQ(setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    char b[1];
    int before = atomic_load(&ticks);
    CHECK_EQ(recv(sv[0], b, 1, 0), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK_GT(atomic_load(&ticks), before);
    atomic_store(stop, 1);
    close(sv[0]);
    close(sv[1]);
    return NULL;
}
WEFT_TEST(coro_so_rcvtimeo) {
    atomic_int stop = 0;
    weft_coro a, b;
    spawn(&a, timeo_coro, &stop);
    spawn(&b, ticker, &stop);
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(10 * WEFT_SEC), NULL));
}

/* MSG_WAITALL waits for every byte even though the hook made the socket non-blocking. */
static int wa_sv[2];
static void *waitall_reader(void *arg) {
    (void)arg;
    char b[8];
    logf_("recv-begin");
    CHECK_EQ(recv(wa_sv[0], b, 6, MSG_WAITALL), 6);
    CHECK(memcmp(b, "abcdef", 6) == 0);
    logf_("recv-6");
    return NULL;
}
static void *waitall_writer(void *arg) {
    (void)arg;
    CHECK_EQ(send(wa_sv[1], "abc", 3, 0), 3);
    logf_("sent-3");
    CHECK_OK(weft_yield());
    CHECK_OK(weft_yield());
    CHECK_EQ(send(wa_sv[1], "def", 3, 0), 3);
    logf_("sent-6");
    return NULL;
}
static void waitall_body(void) {
    log_reset();
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, wa_sv), 0);
    weft_coro a, b;
    spawn(&a, waitall_reader, NULL);
    spawn(&b, waitall_writer, NULL);
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(10 * WEFT_SEC), NULL));
    CHECK_STR_EQ(logbuf, "recv-begin sent-3 sent-6 recv-6");
    close(wa_sv[0]);
    close(wa_sv[1]);
}
WEFT_TEST(coro_recv_waitall) {
    run_plain_in_thread(waitall_body);
}

/* Inside a coroutine, errors are libc's too. */
static void *errors_coro(void *arg) {
    (void)arg;
    char b[4];
    CHECK_EQ(read(-1, b, 1), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(write(12345, b, 1), -1);
    CHECK_EQ(errno, EBADF);
    CHECK_EQ(accept(-1, NULL, NULL), -1);
    CHECK_EQ(errno, EBADF);
    /* connect to a port nobody listens on: refused, after parking */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    CHECK_EQ(bind(l, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(getsockname(l, (struct sockaddr *)&a, &al), 0);
    close(l); /* bound, never listened: the port refuses */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(fd, (struct sockaddr *)&a, sizeof a), -1);
    CHECK_EQ(errno, ECONNREFUSED);
    close(fd);
    struct timespec bad = {0, -1};
    CHECK_EQ(nanosleep(&bad, NULL), -1);
    CHECK_EQ(errno, EINVAL);
    CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, NULL), EINVAL);
    CHECK_EQ(select(-1, NULL, NULL, NULL, NULL), -1);
    CHECK_EQ(errno, EINVAL);
    struct pollfd pf = {-1, POLLIN, 0};
    CHECK_EQ(poll(&pf, 1, 5), 0); /* negative descriptors are ignored: a timeout */
    pf.fd = 12345;
    CHECK_EQ(poll(&pf, 1, 5), 1);
    CHECK_EQ(pf.revents, POLLNVAL);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_flags = AI_NUMERICHOST}, *ai = NULL;
    CHECK_EQ(getaddrinfo("not an address", NULL, &hints, &ai), EAI_NONAME);
    /* accept4 with SOCK_NONBLOCK: the new descriptor is the program's non-blocking one */
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    a.sin_port = 0;
    CHECK_EQ(bind(ls, (struct sockaddr *)&a, sizeof a), 0);
    CHECK_EQ(listen(ls, 4), 0);
    al = sizeof a;
    CHECK_EQ(getsockname(ls, (struct sockaddr *)&a, &al), 0);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    int s = accept4(ls, NULL, NULL, SOCK_NONBLOCK);
    CHECK_GE(s, 0);
    CHECK_EQ(read(s, b, 1), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK_EQ(fcntl(s, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
    close(s), close(c), close(ls);
    return NULL;
}
WEFT_TEST(coro_errors_like_libc) {
    weft_coro c;
    spawn(&c, errors_coro, NULL);
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
}

/* ------------------------------------------------------------------ sleeps overlap */

#define SLEEPERS 12
static atomic_int asleep, max_asleep;
static void *sleeper(void *arg) {
    int kind = (int)(intptr_t)arg % 4;
    int now = atomic_fetch_add(&asleep, 1) + 1;
    int m = atomic_load(&max_asleep);
    while (now > m && !atomic_compare_exchange_weak(&max_asleep, &m, now)) {
    }
    struct timespec ts = {0, 30 * 1000 * 1000}, rem;
    switch (kind) {
    case 0:
        CHECK_EQ(usleep(30000), 0);
        break;
    case 1:
        CHECK_EQ(nanosleep(&ts, &rem), 0);
        break;
    case 2:
        CHECK_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &rem), 0);
        break;
    default: {
        struct timespec abs;
        clock_gettime(CLOCK_REALTIME, &abs);
        abs.tv_nsec += 30 * 1000 * 1000;
        if (abs.tv_nsec >= 1000000000L)
            abs.tv_sec++, abs.tv_nsec -= 1000000000L;
        CHECK_EQ(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &abs, NULL), 0);
    }
    }
    atomic_fetch_sub(&asleep, 1);
    return NULL;
}
static void *sleep_one_sec(void *arg) {
    (void)arg;
    atomic_fetch_add(&asleep, 1);
    CHECK_EQ(sleep(1), 0);
    atomic_fetch_sub(&asleep, 1);
    return NULL;
}
WEFT_TEST(coro_sleeps_overlap) {
    weft_coro c[SLEEPERS + 1];
    for (int i = 0; i < SLEEPERS; i++)
        spawn(&c[i], sleeper, (void *)(intptr_t)i);
    spawn(&c[SLEEPERS], sleep_one_sec, NULL);
    CHECK_OK(weft_joinall(c, SLEEPERS + 1, weft_after(20 * WEFT_SEC), NULL));
    CHECK_EQ(max_asleep, SLEEPERS); /* every sleeper was inside its sleep at once */
    CHECK_EQ(asleep, 0);
}

/* A cancelled coroutine's sleep ends early with EINTR (what a signal would do). */
static void *long_sleeper(void *arg) {
    (void)arg;
    struct timespec ts = {100, 0}, rem = {0, 0};
    CHECK_EQ(nanosleep(&ts, &rem), -1);
    CHECK_EQ(errno, EINTR);
    CHECK_GT(rem.tv_sec, 90);
    return NULL;
}
WEFT_TEST(coro_sleep_cancelled) {
    weft_coro c;
    spawn(&c, long_sleeper, NULL);
    CHECK_OK(weft_yield());
    CHECK_OK(weft_cancel(c));
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
}

/* ------------------------------------------------------------------ poll and select */

static int pa[2], pb[2];
static void *poller_coro(void *arg) {
    (void)arg;
    struct pollfd pf[2] = {{pa[0], POLLIN, 0}, {pb[0], POLLIN, 0}};
    logf_("poll-wait");
    CHECK_EQ(poll(pf, 2, -1), 1);
    CHECK_EQ(pf[0].revents, 0);
    CHECK_EQ(pf[1].revents, POLLIN);
    logf_("poll-woke");
    /* one descriptor, with a timeout that expires */
    struct pollfd one = {pa[0], POLLIN, 0};
    CHECK_EQ(poll(&one, 1, 20), 0);
    CHECK_EQ(poll(pf, 2, 20), 1); /* pb still readable: at once */
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(pa[0], &rs);
    logf_("select-wait");
    CHECK_EQ(select(pa[0] + 1, &rs, NULL, NULL, NULL), 1);
    CHECK(FD_ISSET(pa[0], &rs));
    logf_("select-woke");
    FD_ZERO(&rs);
    FD_SET(pb[1], &rs);
    struct timeval tv = {0, 20000};
    CHECK_EQ(select(pb[1] + 1, NULL, &rs, NULL, &tv), 1); /* writable at once */
    FD_ZERO(&rs);
    FD_SET(pa[1], &rs);
    fd_set ws;
    FD_ZERO(&ws);
    tv = (struct timeval){0, 20000};
    char b[4];
    CHECK_EQ(read(pa[0], b, 4), 1);
    FD_ZERO(&rs);
    FD_SET(pa[0], &rs);
    CHECK_EQ(select(pa[0] + 1, &rs, &ws, NULL, &tv), 0); /* timeout */
    CHECK(!FD_ISSET(pa[0], &rs));
    return NULL;
}
static void *poke_coro(void *arg) {
    (void)arg;
    logf_("poke-b");
    CHECK_EQ(write(pb[1], "b", 1), 1);
    while (!strstr(logbuf, "select-wait"))
        CHECK_OK(weft_yield());
    logf_("poke-a");
    CHECK_EQ(write(pa[1], "a", 1), 1);
    return NULL;
}
static void poll_select_body(void) {
    log_reset();
    CHECK_EQ(pipe(pa), 0);
    CHECK_EQ(pipe(pb), 0);
    weft_coro a, b;
    spawn(&a, poller_coro, NULL);
    spawn(&b, poke_coro, NULL);
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(10 * WEFT_SEC), NULL));
    CHECK_STR_EQ(logbuf, "poll-wait poke-b poll-woke select-wait poke-a select-woke");
    close(pa[0]), close(pa[1]), close(pb[0]), close(pb[1]);
}
WEFT_TEST(coro_poll_select) {
    run_plain_in_thread(poll_select_body);
}

/* Several descriptors: the same one twice, mixed directions, a timeout, one closed with
 * weft_fd_close while waiting, and two coroutines waiting on a shared descriptor. */
static int pc[2], sv[2];
static void *many_coro(void *arg) {
    (void)arg;
    char b[4096];
    struct pollfd dup2_[2] = {{pa[0], POLLIN, 0}, {pa[0], POLLIN, 0}};
    logf_("dup-wait");
    CHECK_EQ(poll(dup2_, 2, -1), 2);
    CHECK_EQ(dup2_[0].revents, POLLIN);
    CHECK_EQ(dup2_[1].revents, POLLIN);
    logf_("dup-woke");
    CHECK_EQ(read(pa[0], b, sizeof b), 1);
    while (send(sv[0], b, sizeof b, MSG_DONTWAIT) > 0) {
    }
    CHECK_EQ(errno, EAGAIN);
    struct pollfd mixed[2] = {{pa[0], POLLIN, 0}, {sv[0], POLLOUT, 0}};
    logf_("out-wait");
    CHECK_EQ(poll(mixed, 2, -1), 1);
    CHECK_EQ(mixed[0].revents, 0);
    CHECK_EQ(mixed[1].revents, POLLOUT);
    logf_("out-woke");
    struct pollfd two[2] = {{pa[0], POLLIN, 0}, {pb[0], POLLIN, 0}};
    int64_t t0 = weft_now();
    CHECK_EQ(poll(two, 2, 20), 0);
    CHECK(weft_now() - t0 >= 19 * WEFT_MSEC);
    CHECK_EQ(two[0].revents, 0);
    CHECK_EQ(two[1].revents, 0);
    struct pollfd cl[2] = {{pa[0], POLLIN, 0}, {pc[0], POLLIN, 0}};
    logf_("close-wait");
    CHECK_EQ(poll(cl, 2, -1), 1);
    CHECK_EQ(cl[0].revents, 0);
    CHECK_EQ(cl[1].revents, POLLNVAL);
    logf_("close-woke");
    return NULL;
}
static void wait_log(const char *what) {
    while (!strstr(logbuf, what))
        CHECK_OK(weft_yield());
}
static void *many_poke_coro(void *arg) {
    (void)arg;
    char b[4096];
    wait_log("dup-wait");
    logf_("poke");
    CHECK_EQ(write(pa[1], "a", 1), 1);
    wait_log("out-wait");
    logf_("drain");
    while (recv(sv[1], b, sizeof b, MSG_DONTWAIT) > 0) {
    }
    wait_log("close-wait");
    logf_("close");
    CHECK_OK(weft_fd_close(pc[0]));
    return NULL;
}
static atomic_int shared_woke;
static void *shared_poller_coro(void *arg) {
    int other = (int)(intptr_t)arg;
    struct pollfd pf[2] = {{other, POLLIN, 0}, {pb[0], POLLIN, 0}};
    logf_("shared-wait");
    CHECK_EQ(poll(pf, 2, 10000), 1);
    CHECK_EQ(pf[0].revents, 0);
    CHECK_EQ(pf[1].revents, POLLIN);
    atomic_fetch_add(&shared_woke, 1);
    return NULL;
}
static void poll_many_body(void) {
    log_reset();
    CHECK_EQ(pipe(pa), 0);
    CHECK_EQ(pipe(pb), 0);
    CHECK_EQ(pipe(pc), 0);
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    weft_coro a, b;
    spawn(&a, many_coro, NULL);
    spawn(&b, many_poke_coro, NULL);
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(10 * WEFT_SEC), NULL));
    CHECK_STR_EQ(logbuf, "dup-wait poke dup-woke out-wait drain out-woke close-wait close "
                         "close-woke");
    /* The second poller finds pb[0] taken by the first one's waiter. */
    log_reset();
    atomic_store(&shared_woke, 0);
    spawn(&a, shared_poller_coro, (void *)(intptr_t)pa[0]);
    spawn(&b, shared_poller_coro, (void *)(intptr_t)sv[0]);
    wait_log("shared-wait shared-wait");
    CHECK_EQ(atomic_load(&shared_woke), 0);
    CHECK_EQ(write(pb[1], "b", 1), 1);
    CHECK_OK(weft_join(a, weft_after(10 * WEFT_SEC), NULL));
    CHECK_OK(weft_join(b, weft_after(10 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&shared_woke), 2);
    close(pa[0]), close(pa[1]), close(pb[0]), close(pb[1]), close(pc[1]);
    close(sv[0]), close(sv[1]);
}
WEFT_TEST(coro_poll_many) {
    run_plain_in_thread(poll_many_body);
}

/* ------------------------------------------------------------------ getaddrinfo */

static atomic_int gai_done;
static void *gai_coro(void *arg) {
    const char *host = arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    CHECK_EQ(getaddrinfo(host, "8080", &hints, &ai), 0);
    CHECK(ai && ai->ai_family == AF_INET);
    CHECK_EQ(ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port), 8080);
    freeaddrinfo(ai);
    atomic_fetch_add(&gai_done, 1);
    return NULL;
}
WEFT_TEST(coro_getaddrinfo_offloaded) {
    weft_coro c[3];
    spawn(&c[0], gai_coro, "127.0.0.1");
    spawn(&c[1], gai_coro, "localhost");
    spawn(&c[2], gai_coro, "127.0.0.1");
    CHECK_OK(weft_joinall(c, 3, weft_after(20 * WEFT_SEC), NULL));
    CHECK_EQ(gai_done, 3);
}

/* In a worker group: hooked reads, sleeps and getaddrinfo from group coroutines, the
 * reader woken by a writer that may run on the other worker. Each hooked call ends on
 * the thread it began on (its wait is the worker's, or pinned). */
static __attribute__((noinline)) pthread_t hk_self(void) {
    pthread_t t = pthread_self();
    __asm__ volatile("" : "+r"(t)::"memory");
    return t;
}
static int grp_pipe[2];
static atomic_int grp_ok;
static void *grp_reader(void *arg) {
    (void)arg;
    char buf[8];
    pthread_t before = hk_self();
    CHECK_EQ(read(grp_pipe[0], buf, sizeof buf), (ssize_t)3);
    CHECK(pthread_equal(before, hk_self()));
    CHECK(memcmp(buf, "abc", 3) == 0);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    before = hk_self();
    CHECK_EQ(getaddrinfo("127.0.0.1", "80", &hints, &ai), 0);
    CHECK(pthread_equal(before, hk_self()));
    freeaddrinfo(ai);
    atomic_fetch_add(&grp_ok, 1);
    return NULL;
}
static void *grp_writer(void *arg) {
    (void)arg;
    pthread_t before = hk_self();
    usleep(5000); /* hooked: parks this coroutine only */
    CHECK(pthread_equal(before, hk_self()));
    CHECK_EQ(write(grp_pipe[1], "abc", 3), (ssize_t)3);
    atomic_fetch_add(&grp_ok, 1);
    return NULL;
}
WEFT_TEST(group_hooked_calls) {
    CHECK_EQ(pipe(grp_pipe), 0);
    weft_group *g;
    CHECK_OK(weft_group_create(&g, &(weft_group_opts){.threads = 2, .migrate = 1}));
    weft_coro c[2];
    CHECK_OK(weft_group_spawn(g, &c[0], grp_reader, NULL, NULL));
    CHECK_OK(weft_group_spawn(g, &c[1], grp_writer, NULL, NULL));
    CHECK_OK(weft_joinall(c, 2, weft_after(20 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&grp_ok), 2);
    CHECK_OK(weft_group_destroy(g));
    close(grp_pipe[0]);
    close(grp_pipe[1]);
}

/* SHARED-stack coroutines: the pool thread must not read the caller's hints
 * or write its result slot in place (that stack is copied aside and reused
 * while the caller waits), and must not corrupt the coroutine running on it
 * meanwhile. Each coroutine keeps a canary of its own on its stack. */
#define GAI_SHARED_N 20
static atomic_int gai_shared_ok;
static void *gai_shared_coro(void *arg) {
    int id = (int)(intptr_t)arg;
    volatile unsigned char canary[512];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 7 + i);
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", 1000 + id % 1000);
    CHECK_EQ(getaddrinfo("127.0.0.1", port, &hints, &ai), 0);
    CHECK(ai != NULL);
    CHECK_EQ(ai->ai_family, AF_INET);
    CHECK_EQ(ai->ai_socktype, SOCK_STREAM);
    CHECK_EQ(ntohs(((struct sockaddr_in *)ai->ai_addr)->sin_port), 1000 + id);
    CHECK_EQ(ntohl(((struct sockaddr_in *)ai->ai_addr)->sin_addr.s_addr), INADDR_LOOPBACK);
    freeaddrinfo(ai);
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 7 + i));
    atomic_fetch_add(&gai_shared_ok, 1);
    return NULL;
}
WEFT_TEST(coro_getaddrinfo_shared_stacks) {
    weft_coro c[GAI_SHARED_N];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < GAI_SHARED_N; i++)
        CHECK_OK(weft_spawn(&c[i], gai_shared_coro, (void *)(intptr_t)i, &o));
    CHECK_OK(weft_joinall(c, GAI_SHARED_N, weft_after(20 * WEFT_SEC), NULL));
    CHECK_EQ(gai_shared_ok, GAI_SHARED_N);
}

/* ------------------------------------------------------------------ watchdog */

static void *spinner(void *arg) {
    (void)arg;
    int64_t end = weft_now() + 300 * WEFT_MSEC;
    while (weft_now() < end) {
    }
    return NULL;
}
static void *stdin_reader(void *arg) {
    (void)arg;
    char b[1];
    CHECK_EQ(read(0, b, 1), 1); /* descriptor 0 is never hooked: blocks the thread */
    return NULL;
}

WEFT_TEST(watchdog_reports_busy_coroutine) {
    if (getenv("WEFT_HOOK_TEST_WD_CHILD")) { /* the child: run with WEFT_WATCHDOG_MS=50 */
        CHECK_EQ(weft_hook_watchdog_running(), 1);
        CHECK_EQ(weft_hook_watchdog_hits(), (uint64_t)0);
        weft_coro c;
        weft_coro_opts o = {.name = "spinner"};
        CHECK_OK(weft_spawn(&c, spinner, NULL, &o));
        CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
#if !defined(__SANITIZE_THREAD__) /* see the parent's check */
        CHECK_EQ(weft_hook_watchdog_hits(), (uint64_t)1);
#endif
        o.name = "stdin-reader";
        CHECK_OK(weft_spawn(&c, stdin_reader, NULL, &o));
        CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
#if !defined(__SANITIZE_THREAD__)
        CHECK_EQ(weft_hook_watchdog_hits(), (uint64_t)2);
#endif
        return;
    }
    CHECK_EQ(weft_hook_watchdog_running(), 0);
    SKIP_UNLESS_EXEC_SELF(); /* the report comes from this program exec'd anew */
    int in[2], err[2];
    CHECK_EQ(pipe(in), 0);
    CHECK_EQ(pipe(err), 0);
    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(err[1], 2);
        close(in[1]);
        close(err[0]);
        setenv("WEFT_HOOK_TEST_WD_CHILD", "1", 1);
        setenv("WEFT_WATCHDOG_MS", "50", 1);
        execl("/proc/self/exe", "test_hook", "watchdog_reports_busy_coroutine", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(err[1]);
    char out[8192];
    size_t len = 0;
    /* Read the child's stderr until both reports are there; then let stdin_reader go. */
    bool released = false;
    for (;;) {
        struct pollfd pf = {err[0], POLLIN, 0};
        if (!released && poll(&pf, 1, 10000) == 0) { /* no report in 10 s: let it finish */
            CHECK_EQ(write(in[1], "x", 1), 1);
            released = true;
        }
        ssize_t n = read(err[0], out + len, sizeof out - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
        out[len] = 0;
        if (!released && strstr(out, "\"stdin-reader\"")) {
            CHECK_EQ(write(in[1], "x", 1), 1);
            released = true;
        }
    }
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    out[len] = 0;
    fputs(out, stderr);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer delivers a signal only when the thread next enters one of its
     * interceptors: a coroutine spinning (or blocked in a plain read) is reported late or
     * never. Only the child's clean run is checked here. */
    return;
#endif
    CHECK(strstr(out, "weft watchdog: coroutine ") != NULL);
    CHECK(strstr(out, "\"spinner\" kept its thread busy for more than 50 ms\n") != NULL);
    CHECK(strstr(out, "\"stdin-reader\" kept its thread busy for more than 50 ms (in read)\n"));
    /* each report is followed by the coroutine's frames, reaching the test program */
    const char *sp = strstr(out, "\"spinner\" kept its thread busy for more than 50 ms\n");
    sp = strchr(sp, '\n') + 1;
    CHECK(!strncmp(sp, "    #0 0x", 9));
    const char *end = strstr(sp, "weft watchdog:");
    /* The program's own frames: glibc's loader names it "main program", musl's by
     * its file name. */
    const char *mp = strstr(sp, "(main program+0x");
    if (!mp)
        mp = strstr(sp, "(test_hook+0x");
    CHECK(mp != NULL && (!end || mp < end));
    const char *rd = strstr(out, "(in read)\n") + 10;
    CHECK(!strncmp(rd, "    #0 0x", 9));
    CHECK(strstr(rd, "(main program+0x") != NULL || strstr(rd, "(test_hook+0x") != NULL);
    close(in[1]);
    close(err[0]);
}

/* Timeouts too large for nanoseconds in int64_t (select's timeval, SO_RCVTIMEO) saturate:
 * computing them overflowed (undefined behaviour, reported by UBSan). */
static void *huge_timeouts_coro(void *arg) {
    (void)arg;
    int p[2];
    CHECK_EQ(pipe(p), 0);
    CHECK_EQ(write(p[1], "x", 1), 1);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(p[0], &rs);
    struct timeval tv = {(time_t)INT64_MAX / 2, 999999};
    CHECK_EQ(select(p[0] + 1, &rs, NULL, NULL, &tv), 1); /* readable: at once */
    CHECK(FD_ISSET(p[0], &rs));
    int s[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
    struct timeval big = {(time_t)INT64_MAX, 0}, neg = {(time_t)INT64_MIN, 0};
    CHECK_EQ(setsockopt(s[0], SOL_SOCKET, SO_RCVTIMEO, &big, sizeof big), 0);
    CHECK_EQ(write(s[1], "y", 1), 1);
    char c;
    CHECK_EQ(read(s[0], &c, 1), 1);
    (void)setsockopt(s[0], SOL_SOCKET, SO_SNDTIMEO, &neg, sizeof neg); /* kernel: EDOM */
    close(p[0]), close(p[1]), close(s[0]), close(s[1]);
    return NULL;
}

WEFT_TEST(huge_timeouts_saturate) {
    weft_coro c;
    spawn(&c, huge_timeouts_coro, NULL);
    CHECK_OK(weft_join(c, weft_after(10 * WEFT_SEC), NULL));
}

/* ------------------------------------------------------------------ libcurl */

#ifdef WEFT_TEST_HAVE_CURL
#define TRANSFERS 100
static seed10_server srv;
static atomic_int curl_ok;

static size_t sink(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

/* GET url with a fresh easy handle (timeout_ms 0: curl's own); checks that it answered
 * 200 and returns the body's length. */
static size_t curl_get(const char *url, long timeout_ms) {
    CURL *h = curl_easy_init();
    CHECK(h);
    size_t got = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    if (timeout_ms)
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    CURLcode rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(h);
    CHECK_EQ(rc, CURLE_OK);
    CHECK_EQ(code, 200);
    return got;
}

static void *curl_coro(void *arg) {
    (void)arg;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/1000", srv.port);
    CHECK_EQ(curl_get(url, 0), 1000);
    atomic_fetch_add(&curl_ok, 1);
    return NULL;
}

#endif

/* ------------------------------------------------------------------ the main coroutine */

/* A hooked call in the main coroutine of a thread with a scheduler parks it and runs the
 * others, as gevent's hub does for the main greenlet. */
static int main_sv[2];
static void *main_peer_writer(void *arg) {
    (void)arg;
    logf_("coro-runs");
    CHECK_EQ(write(main_sv[1], "m", 1), 1);
    return NULL;
}
static void *short_sleeper(void *arg) {
    (void)arg;
    CHECK_EQ(usleep(1000), 0);
    logf_("coro-slept");
    return NULL;
}
static void main_hooked_body(void) {
    log_reset();
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, main_sv), 0);
    weft_coro c;
    spawn(&c, main_peer_writer, NULL);
    /* Only the coroutine can write what main reads: a read that blocked the thread
     * would never return. */
    char b[1];
    logf_("main-reads");
    CHECK_EQ(read(main_sv[0], b, 1), 1);
    CHECK_EQ(b[0], 'm');
    logf_("main-read");
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    /* Sleeps: the coroutine's 1 ms sleep ends inside main's 200 ms one. */
    spawn(&c, short_sleeper, NULL);
    CHECK_EQ(usleep(200 * 1000), 0);
    logf_("main-slept");
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "main-reads coro-runs main-read coro-slept main-slept");
    /* The program still sees its blocking socket as blocking. */
    CHECK_EQ(fcntl(main_sv[0], F_GETFL) & O_NONBLOCK, 0);
    close(main_sv[0]);
    close(main_sv[1]);
}

WEFT_TEST(main_coroutine_hooked) {
    run_plain_in_thread(main_hooked_body);
}

/* A thread that never started a scheduler keeps libc's calls as they are: the
 * descriptor is not touched. */
static void plain_stays_plain_body(void) {
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    CHECK_EQ(write(sv[1], "p", 1), 1);
    char b[1];
    CHECK_EQ(read(sv[0], b, 1), 1);
    CHECK_EQ(kernel_nonblock(sv[0]), 0);
    CHECK_EQ(kernel_nonblock(sv[1]), 0);
    close(sv[0]);
    close(sv[1]);
}

WEFT_TEST(plain_thread_stays_plain) {
    run_plain_in_thread(plain_stays_plain_body);
}

/* ------------------------------------------------------------------ timeout scopes */

#define SCOPE_NS (20 * WEFT_MSEC)

/* Every hooked wait inside an expired scope fails as libc reports a timeout; after
 * the scope the same descriptor works normally. Run in a coroutine, in a main
 * coroutine and on a plain thread without a scheduler. */
static void scoped_calls(void) {
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    char b[4];
    weft_timeout t;
    int64_t dl = weft_after(SCOPE_NS);
    CHECK_OK(weft_timeout_enter(&t, dl));
    errno = 0;
    CHECK_EQ(read(sv[0], b, 1), -1);
    CHECK_EQ(errno, EAGAIN);
    CHECK_GE(weft_now(), dl);
    CHECK_EQ(recv(sv[0], b, 1, 0), -1);
    CHECK_EQ(errno, EAGAIN);
    struct pollfd pf = {sv[0], POLLIN, 0};
    CHECK_EQ(poll(&pf, 1, -1), -1);
    CHECK_EQ(errno, ETIMEDOUT);
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(sv[0], &rd);
    CHECK_EQ(select(sv[0] + 1, &rd, NULL, NULL, NULL), -1);
    CHECK_EQ(errno, ETIMEDOUT);
    CHECK_EQ(sleep(5), 5);
    struct timespec req = {5, 0}, rem = {0, 0};
    CHECK_EQ(nanosleep(&req, &rem), -1);
    CHECK_EQ(errno, EINTR);
    CHECK_GT(rem.tv_sec, 3);
    CHECK_EQ(usleep(5000000), -1);
    CHECK_EQ(errno, EINTR);
    CHECK_ERR(weft_timeout_leave(&t), -ETIMEDOUT);
    /* Not sticky: the program's blocking descriptor blocks and reads again. */
    CHECK_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
    CHECK_EQ(write(sv[1], "ok", 2), 2);
    CHECK_EQ(read(sv[0], b, 2), 2);
    CHECK_EQ(memcmp(b, "ok", 2), 0);
    CHECK_EQ(poll(&pf, 1, 0), 0);
    CHECK_EQ(usleep(1000), 0);
    close(sv[0]);
    close(sv[1]);
}

static void *scoped_coro(void *arg) {
    (void)arg;
    scoped_calls();
    return NULL;
}
static void scoped_in_coro_body(void) {
    weft_coro c;
    spawn(&c, scoped_coro, NULL);
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    scoped_calls(); /* the main coroutine, now that the thread has a scheduler */
}

WEFT_TEST(scope_cuts_hooked_calls) {
    run_plain_in_thread(scoped_in_coro_body);
    run_plain_in_thread(scoped_calls); /* no scheduler */
}

/* connect to a listener whose queue is full waits for ever; a scope ends it with
 * ETIMEDOUT, and the next connect (after the scope) to a live listener succeeds. */
static void scoped_connect_body(void) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_GE(lfd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    CHECK_EQ(listen(lfd, 0), 0);
    int filler[16], n = 0;
    for (; n < 16;) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        CHECK_GE(s, 0);
        filler[n++] = s;
        if (connect(s, (struct sockaddr *)&a, sizeof a) == 0)
            continue;
        CHECK_EQ(errno, EINPROGRESS);
        struct pollfd p = {.fd = s, .events = POLLOUT};
        if (poll(&p, 1, 1000) == 0)
            break; /* this one is stuck: the queue is full */
    }
    CHECK_LT(n, 16);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    weft_timeout t;
    CHECK_OK(weft_timeout_enter(&t, weft_after(SCOPE_NS)));
    errno = 0;
    CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof a), -1);
    CHECK_EQ(errno, ETIMEDOUT);
    CHECK_ERR(weft_timeout_leave(&t), -ETIMEDOUT);
    close(c);
    for (int i = 0; i < n; i++)
        close(filler[i]);
    close(lfd);
    /* After the scope: a listener with room accepts the same coroutine's connect. */
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    a.sin_port = 0;
    CHECK_EQ(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    len = sizeof a;
    CHECK_EQ(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    CHECK_EQ(listen(lfd, 4), 0);
    c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_EQ(connect(c, (struct sockaddr *)&a, sizeof a), 0);
    close(c);
    close(lfd);
}
static void *scoped_connect_coro(void *arg) {
    (void)arg;
    scoped_connect_body();
    return NULL;
}
static void scoped_connect_in_coro(void) {
    weft_coro c;
    spawn(&c, scoped_connect_coro, NULL);
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
}

WEFT_TEST(scope_cuts_connect) {
    run_plain_in_thread(scoped_connect_in_coro);
    run_plain_in_thread(scoped_connect_body);
}

/* getaddrinfo waits for a pool thread: a scope that ends first returns EAI_AGAIN and
 * leaves the lookup behind (here it never started: every worker of the default pool is
 * held, so it is cancelled; the pool's other path is the same release). */
static weft_event gai_gate;
static atomic_int gai_held;
static int hold_worker(void *arg, void **res) {
    (void)arg;
    (void)res;
    atomic_fetch_add(&gai_held, 1);
    return weft_event_wait(&gai_gate, weft_after(30 * WEFT_SEC));
}
static void *gai_scoped_coro(void *arg) {
    (void)arg;
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
    struct addrinfo *res = NULL;
    weft_timeout t;
    CHECK_OK(weft_timeout_enter(&t, weft_after(SCOPE_NS)));
    CHECK_EQ(getaddrinfo("127.0.0.1", "80", &hints, &res), EAI_AGAIN);
    CHECK(res == NULL);
    CHECK_ERR(weft_timeout_leave(&t), -ETIMEDOUT);
    CHECK_OK(weft_event_set(&gai_gate));
    CHECK_EQ(getaddrinfo("127.0.0.1", "80", &hints, &res), 0);
    CHECK(res != NULL);
    freeaddrinfo(res);
    return NULL;
}

WEFT_TEST(scope_cuts_getaddrinfo) {
    CHECK_OK(weft_event_init(&gai_gate));
    weft_pool *p;
    CHECK_OK(weft_pool_default(&p));
    int n = weft_pool_size(p);
    weft_future *f[256];
    CHECK_LE(n, 256);
    for (int i = 0; i < n; i++)
        CHECK_OK(weft_pool_submit(p, hold_worker, NULL, &f[i]));
    while (atomic_load(&gai_held) < n)
        CHECK_OK(weft_sleep(WEFT_MSEC));
    weft_coro c;
    spawn(&c, gai_scoped_coro, NULL);
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    for (int i = 0; i < n; i++) {
        CHECK_OK(weft_future_result(f[i], weft_after(30 * WEFT_SEC), NULL));
        weft_future_release(f[i]);
    }
}

#ifdef WEFT_TEST_HAVE_CURL
/* libcurl from main() against a weft HTTP server served by this same thread's
 * coroutines (threads == 0): only a hooked main coroutine lets the server run. */
static int hello(const weft_http_request *req, weft_http_response *resp, void *arg) {
    (void)req;
    (void)arg;
    return weft_http_response_write(resp, "hello", 5);
}
static void curl_from_main_body(void) {
    weft_http_server *hs;
    weft_http_opts o = {0};
    CHECK_OK(weft_http_server_start(&hs, "127.0.0.1", 0, hello, NULL, &o));
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", weft_http_server_port(hs));
    CHECK_EQ(curl_get(url, 20000L), 5);
    CHECK_OK(weft_http_server_stop(hs, weft_after(5 * WEFT_SEC)));
}
#endif

WEFT_TEST(curl_from_main_with_server_on_same_thread) {
#ifndef WEFT_TEST_HAVE_CURL
    SKIP("libcurl was not found when this test was built");
#else
    CHECK_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    run_plain_in_thread(curl_from_main_body);
    curl_global_cleanup();
#endif
}

/* Registered in every build; without libcurl (libcurl4-openssl-dev) it reports itself as
 * skipped. */
WEFT_TEST(curl_100_concurrent) {
#ifndef WEFT_TEST_HAVE_CURL
    SKIP("libcurl was not found when this test was built");
#else
    CHECK_EQ(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    /* Each response waits until all 100 requests are in flight (10 s at most), then 50
     * ms more: only concurrent clients get there. */
    CHECK_OK(seed10_server_start(&srv, 50 * WEFT_MSEC, TRANSFERS));
    static weft_coro c[TRANSFERS];
    for (int i = 0; i < TRANSFERS; i++)
        spawn(&c[i], curl_coro, NULL);
    CHECK_OK(weft_joinall(c, TRANSFERS, weft_after(100 * WEFT_SEC), NULL));
    CHECK_EQ(curl_ok, TRANSFERS);
    CHECK_EQ(atomic_load(&srv.requests), TRANSFERS);
    CHECK_EQ(atomic_load(&srv.max_in_flight), TRANSFERS);
    seed10_server_stop(&srv);
    curl_global_cleanup();
#endif
}

WEFT_MAIN()
