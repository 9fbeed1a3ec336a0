/* TCP networking: listen/accept/connect over 127.0.0.1 and ::1 (skipped cleanly when the
 * machine has no IPv6 loopback), connect and accept deadlines, name resolution of numeric
 * addresses and "localhost" (from /etc/hosts, nothing else) without blocking the other
 * coroutines, socket options read back, address formatting and bad input.
 *
 * Cases that use no resolver run on a fresh pthread with the counting allocator
 * (run_in_thread): nothing may be left once the thread is gone. */
#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "internal.h"

static const int64_t T5 = 5 * WEFT_SEC;

static int local_port(int fd) {
    weft_addr a;
    CHECK_OK(weft_sock_local_addr(fd, &a));
    int p = weft_addr_port(&a);
    CHECK_GT(p, 0);
    return p;
}

/* 1 if ::1 can be bound here. */
static int have_ipv6_loopback(void) {
    int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* --------------------------------------------------- listen/accept/connect */

typedef struct {
    const char *host;
    int port;
    int result;
} client_arg;

static void *ping_client(void *p) {
    client_arg *a = p;
    int fd = weft_tcp_connect(a->host, a->port, weft_after(T5));
    CHECK_GE(fd, 0);
    CHECK_EQ(weft_sock_get(fd, WEFT_SO_NODELAY), 1);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK_EQ(weft_write_all(fd, "ping", 4, weft_after(T5), NULL), 4);
    char buf[8] = {0};
    CHECK_EQ(weft_read(fd, buf, sizeof buf, weft_after(T5)), 4);
    CHECK_STR_EQ(buf, "pong");
    CHECK_EQ(weft_read(fd, buf, sizeof buf, weft_after(T5)), 0); /* server closed */
    CHECK_OK(weft_fd_close(fd));
    a->result = 1;
    return NULL;
}

static void ping_pong(const char *listen_host, const char *connect_host, int family) {
    int lfd = weft_tcp_listen(listen_host, 0, 16, 0);
    CHECK_GE(lfd, 0);
    CHECK(fcntl(lfd, F_GETFL) & O_NONBLOCK);
    CHECK_EQ(weft_sock_get(lfd, WEFT_SO_REUSEADDR), 1);
    weft_addr la;
    CHECK_OK(weft_sock_local_addr(lfd, &la));
    CHECK_EQ(la.ss.ss_family, family);
    client_arg a = {connect_host, weft_addr_port(&la), 0};
    weft_coro c;
    CHECK_OK(weft_spawn(&c, ping_client, &a, NULL));
    weft_addr peer;
    int fd = weft_tcp_accept(lfd, &peer, weft_after(T5));
    CHECK_GE(fd, 0);
    CHECK_EQ(peer.ss.ss_family, family);
    char s[64];
    CHECK_GT(weft_addr_format(&peer, s, sizeof s), 0);
    CHECK(strncmp(s, family == AF_INET ? "127.0.0.1:" : "[::1]:", family == AF_INET ? 10 : 6) == 0);
    weft_addr pa;
    CHECK_OK(weft_sock_peer_addr(fd, &pa));
    CHECK_EQ(weft_addr_port(&pa), weft_addr_port(&peer));
    CHECK_EQ(weft_sock_get(fd, WEFT_SO_NODELAY), 1);
    CHECK(fcntl(fd, F_GETFL) & O_NONBLOCK);
    char buf[8] = {0};
    CHECK_EQ(weft_read(fd, buf, 4, weft_after(T5)), 4);
    CHECK_STR_EQ(buf, "ping");
    CHECK_EQ(weft_write_all(fd, "pong", 4, weft_after(T5), NULL), 4);
    CHECK_OK(weft_fd_close(fd));
    CHECK_OK(weft_join(c, weft_after(T5), NULL));
    CHECK_EQ(a.result, 1);
    CHECK_OK(weft_fd_close(lfd));
}

static void body_v4(void) {
    ping_pong("127.0.0.1", "127.0.0.1", AF_INET);
}

WEFT_TEST(tcp_ipv4) {
    run_in_thread(body_v4);
}

static void body_v6(void) {
    ping_pong("::1", "::1", AF_INET6);
}

WEFT_TEST(tcp_ipv6) {
    if (!have_ipv6_loopback()) {
        printf("skip: no IPv6 loopback on this machine\n");
        return;
    }
    run_in_thread(body_v6);
}

/* A plain thread (no scheduler): connect and accept wait with poll(2). */
static void *plain_client(void *p) {
    client_arg *a = p;
    int fd = weft_tcp_connect(a->host, a->port, weft_after(T5));
    CHECK_GE(fd, 0);
    char b;
    CHECK_EQ(weft_read(fd, &b, 1, weft_after(T5)), 1);
    CHECK_EQ(b, 'x');
    close(fd);
    return NULL;
}

WEFT_TEST(tcp_plain_threads) {
    int lfd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
    CHECK_GE(lfd, 0);
    client_arg a = {"127.0.0.1", local_port(lfd), 0};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, plain_client, &a), 0);
    int fd = weft_tcp_accept(lfd, NULL, weft_after(T5));
    CHECK_GE(fd, 0);
    CHECK_EQ(weft_write(fd, "x", 1, weft_after(T5)), 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK(weft__sched_get() == NULL);
    close(fd);
    close(lfd);
}

/* ------------------------------------------------------------- deadlines */

static void body_accept_deadline(void) {
    int lfd = weft_tcp_listen("127.0.0.1", 0, 4, 0);
    CHECK_GE(lfd, 0);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_tcp_accept(lfd, NULL, weft_after(50 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 50 * WEFT_MSEC);
    CHECK_ERR(weft_tcp_accept(lfd, NULL, WEFT_NOWAIT), -ETIMEDOUT);
    CHECK_OK(weft_fd_close(lfd));
}

WEFT_TEST(accept_deadline) {
    run_in_thread(body_accept_deadline); /* in a coroutine scheduler thread */
    body_accept_deadline();              /* and on a plain thread */
}

/* A listener with backlog 1 that never accepts: its queue fills with two
 * connections, then the kernel drops further SYNs and connect must time out. */
static void body_connect_deadline(void) {
    int lfd = weft_tcp_listen("127.0.0.1", 0, 1, 0);
    CHECK_GE(lfd, 0);
    int port = local_port(lfd);
    int fds[16], n = 0, r = 0;
    while (n < 16) {
        int64_t t0 = weft_now();
        r = weft_tcp_connect("127.0.0.1", port, weft_after(100 * WEFT_MSEC));
        if (r < 0) {
            CHECK_ERR(r, -ETIMEDOUT);
            CHECK_GE(weft_now() - t0, 100 * WEFT_MSEC);
            break;
        }
        fds[n++] = r;
    }
    CHECK_ERR(r, -ETIMEDOUT);
    CHECK_GE(n, 1);
    for (int i = 0; i < n; i++)
        CHECK_OK(weft_fd_close(fds[i]));
    CHECK_OK(weft_fd_close(lfd));
}

WEFT_TEST(connect_deadline) {
    run_in_thread(body_connect_deadline);
}

static void body_refused(void) {
    int lfd = weft_tcp_listen("127.0.0.1", 0, 0, 0);
    CHECK_GE(lfd, 0);
    int port = local_port(lfd);
    /* Port in use: a second listener without REUSEPORT fails. */
    CHECK_ERR(weft_tcp_listen("127.0.0.1", port, 0, 0), -EADDRINUSE);
    CHECK_OK(weft_fd_close(lfd));
    CHECK_ERR(weft_tcp_connect("127.0.0.1", port, weft_after(T5)), -ECONNREFUSED);
}

WEFT_TEST(connect_refused_addr_in_use) {
    run_in_thread(body_refused);
}

static void body_reuseport(void) {
    int a = weft_tcp_listen("127.0.0.1", 0, 0, WEFT_TCP_REUSEPORT);
    CHECK_GE(a, 0);
    int b = weft_tcp_listen("127.0.0.1", local_port(a), 0, WEFT_TCP_REUSEPORT);
    CHECK_GE(b, 0);
    CHECK_EQ(local_port(a), local_port(b));
    CHECK_EQ(weft_sock_get(b, WEFT_SO_REUSEPORT), 1);
    CHECK_OK(weft_fd_close(a));
    CHECK_OK(weft_fd_close(b));
}

WEFT_TEST(listen_reuseport) {
    run_in_thread(body_reuseport);
}

/* ------------------------------------------------------------ resolution */

static void body_resolve_numeric(void) {
    weft_addr a[4];
    CHECK_EQ(weft_resolve("127.0.0.1", 80, AF_UNSPEC, a, 4, WEFT_NOWAIT), 1);
    CHECK_EQ(a[0].ss.ss_family, AF_INET);
    CHECK_EQ(a[0].len, sizeof(struct sockaddr_in));
    CHECK_EQ(weft_addr_port(&a[0]), 80);
    char s[64];
    CHECK_EQ(weft_addr_format(&a[0], s, sizeof s), 12);
    CHECK_STR_EQ(s, "127.0.0.1:80");
    CHECK_EQ(weft_resolve("::1", 8080, AF_UNSPEC, a, 4, WEFT_NOWAIT), 1);
    CHECK_EQ(a[0].ss.ss_family, AF_INET6);
    CHECK_EQ(weft_addr_format(&a[0], s, sizeof s), 10);
    CHECK_STR_EQ(s, "[::1]:8080");
    CHECK_ERR(weft_addr_format(&a[0], s, 5), -ENOSPC);
    CHECK_STR_EQ(s, "");
    /* Wildcards for listening. */
    CHECK_EQ(weft_resolve(NULL, 0, AF_UNSPEC, a, 4, WEFT_NOWAIT), 1);
    CHECK_EQ(weft_addr_format(&a[0], s, sizeof s), 9);
    CHECK_STR_EQ(s, "0.0.0.0:0");
    CHECK_EQ(weft_resolve("", 7, AF_INET6, a, 1, WEFT_NOWAIT), 1);
    CHECK_STR_EQ((weft_addr_format(&a[0], s, sizeof s), s), "[::]:7");
}

WEFT_TEST(resolve_numeric) {
    run_in_thread(body_resolve_numeric);
}

WEFT_TEST(resolve_localhost) {
    weft_addr a[8];
    int n = weft_resolve("localhost", 1234, AF_UNSPEC, a, 8, weft_after(T5));
    CHECK_GE(n, 1);
    for (int i = 0; i < n; i++) {
        CHECK_EQ(weft_addr_port(&a[i]), 1234);
        if (a[i].ss.ss_family == AF_INET)
            CHECK_EQ(ntohl(((struct sockaddr_in *)&a[i].ss)->sin_addr.s_addr) >> 24, 127);
        else
            CHECK(IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)&a[i].ss)->sin6_addr));
    }
    CHECK_EQ(weft_resolve("localhost", 1, AF_INET, a, 8, weft_after(T5)) >= 1, 1);
    CHECK_EQ(a[0].ss.ss_family, AF_INET);
    /* max bounds what is stored. */
    CHECK_EQ(weft_resolve("localhost", 1, AF_UNSPEC, a, 1, weft_after(T5)), 1);
    /* A numeric address of the other family. */
    CHECK_ERR(weft_resolve("127.0.0.1", 1, AF_INET6, a, 8, WEFT_NOWAIT), -ENOENT);
    CHECK_ERR(weft_resolve("::1", 1, AF_INET, a, 8, WEFT_NOWAIT), -ENOENT);
}

/* Occupies every worker of the default pool until `release` is set, so
 * that a lookup submitted meanwhile stays queued. */
static weft_event release;

static int blocker(void *arg, void **result) {
    (void)arg;
    (void)result;
    return weft_event_wait(&release, WEFT_FOREVER);
}

static weft_future **block_pool(int *n) {
    weft_pool *p;
    CHECK_OK(weft_pool_default(&p));
    CHECK_OK(weft_event_init(&release));
    *n = weft_pool_size(p);
    weft_future **fs = calloc((size_t)*n, sizeof *fs);
    CHECK(fs != NULL);
    for (int i = 0; i < *n; i++)
        CHECK_OK(weft_pool_submit(p, blocker, NULL, &fs[i]));
    return fs;
}

static void unblock_pool(weft_future **fs, int n) {
    CHECK_OK(weft_event_set(&release));
    for (int i = 0; i < n; i++) {
        CHECK_EQ(weft_future_result(fs[i], weft_after(T5), NULL), 0);
        weft_future_release(fs[i]);
    }
    free(fs);
}

/* The lookup runs on the pool: the other coroutines of the thread run
 * meanwhile. The pool is kept busy until the other coroutine has run, so
 * the lookup cannot finish before the caller parks. */
static void *ticker(void *p) {
    (void)p;
    logf_("tick");
    CHECK_OK(weft_event_set(&release));
    return NULL;
}

WEFT_TEST(resolve_does_not_block_scheduler) {
    log_reset();
    int n;
    weft_future **fs = block_pool(&n);
    weft_coro c;
    CHECK_OK(weft_spawn(&c, ticker, NULL, NULL));
    weft_addr a[4];
    CHECK_GE(weft_resolve("localhost", 80, AF_UNSPEC, a, 4, weft_after(T5)), 1);
    logf_("resolved");
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "tick resolved");
    unblock_pool(fs, n);
    /* Connecting by name works the same way. */
    int lfd = weft_tcp_listen("localhost", 0, 0, 0);
    CHECK_GE(lfd, 0);
    int fd = weft_tcp_connect("localhost", local_port(lfd), weft_after(T5));
    CHECK_GE(fd, 0);
    CHECK_OK(weft_fd_close(fd));
    CHECK_OK(weft_fd_close(lfd));
}

/* The deadline passes while the lookup waits for a worker: -ETIMEDOUT, and
 * the abandoned lookup never runs. */
WEFT_TEST(resolve_deadline) {
    int n;
    weft_future **fs = block_pool(&n);
    weft_addr a[4];
    int64_t t0 = weft_now();
    CHECK_ERR(weft_resolve("localhost", 80, AF_UNSPEC, a, 4, weft_after(20 * WEFT_MSEC)),
              -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
    CHECK_ERR(weft_resolve("localhost", 80, AF_UNSPEC, a, 4, WEFT_NOWAIT), -ETIMEDOUT);
    /* Numeric addresses need no worker. */
    CHECK_EQ(weft_resolve("127.0.0.1", 80, AF_UNSPEC, a, 4, WEFT_NOWAIT), 1);
    unblock_pool(fs, n);
    CHECK_GE(weft_resolve("localhost", 80, AF_UNSPEC, a, 4, weft_after(T5)), 1);
    /* Abandoned while running: the lookup finishes in the background and
     * frees its own state (checked by the sanitizer builds). */
    for (int i = 0; i < 20; i++) {
        int r = weft_resolve("localhost", 80, AF_UNSPEC, a, 4, WEFT_NOWAIT);
        CHECK(r == -ETIMEDOUT || r >= 1);
    }
}

static void *cancelled_resolver(void *p) {
    weft_addr a[4];
    *(int *)p = weft_resolve("localhost", 80, AF_UNSPEC, a, 4, weft_after(T5));
    return NULL;
}

WEFT_TEST(resolve_cancelled) {
    int n;
    weft_future **fs = block_pool(&n);
    int r = 1;
    weft_coro c;
    CHECK_OK(weft_spawn(&c, cancelled_resolver, &r, NULL));
    CHECK_OK(weft_yield()); /* it starts, submits and parks */
    CHECK_EQ(r, 1);
    CHECK_OK(weft_cancel(c));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_ERR(r, -ECANCELED);
    unblock_pool(fs, n);
}

/* ----------------------------------------------------------- socket options */

static void body_sockopts(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK_GE(fd, 0);
    static const int bools[] = {WEFT_SO_REUSEADDR, WEFT_SO_REUSEPORT, WEFT_SO_NODELAY,
                                WEFT_SO_KEEPALIVE};
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++) {
        CHECK_OK(weft_sock_set(fd, bools[i], 1));
        CHECK_EQ(weft_sock_get(fd, bools[i]), 1);
        CHECK_OK(weft_sock_set(fd, bools[i], 0));
        CHECK_EQ(weft_sock_get(fd, bools[i]), 0);
        CHECK_ERR(weft_sock_set(fd, bools[i], 2), -EINVAL);
        CHECK_ERR(weft_sock_set(fd, bools[i], -1), -EINVAL);
    }
    CHECK_OK(weft_sock_set(fd, WEFT_SO_KEEPIDLE, 30));
    CHECK_EQ(weft_sock_get(fd, WEFT_SO_KEEPIDLE), 30);
    CHECK_ERR(weft_sock_set(fd, WEFT_SO_KEEPIDLE, 0), -EINVAL);
    CHECK_OK(weft_sock_set(fd, WEFT_SO_RCVBUF, 65536));
    CHECK_GE(weft_sock_get(fd, WEFT_SO_RCVBUF), 65536);
    CHECK_OK(weft_sock_set(fd, WEFT_SO_SNDBUF, 65536));
    CHECK_GE(weft_sock_get(fd, WEFT_SO_SNDBUF), 65536);
    CHECK_EQ(weft_sock_get(fd, WEFT_SO_LINGER), INT32_MAX);
    CHECK_OK(weft_sock_set(fd, WEFT_SO_LINGER, 5));
    CHECK_EQ(weft_sock_get(fd, WEFT_SO_LINGER), 5);
    CHECK_OK(weft_sock_set(fd, WEFT_SO_LINGER, -1));
    CHECK_EQ(weft_sock_get(fd, WEFT_SO_LINGER), INT32_MAX);
    CHECK_ERR(weft_sock_set(fd, WEFT_SO_LINGER, -2), -EINVAL);
    CHECK_ERR(weft_sock_set(fd, 0, 1), -EINVAL);
    CHECK_ERR(weft_sock_set(fd, 99, 1), -EINVAL);
    CHECK_ERR(weft_sock_get(fd, 0), -EINVAL);
    CHECK_ERR(weft_sock_get(fd, 99), -EINVAL);
    /* IPV6_V6ONLY exists only on IPv6 sockets. */
    CHECK_LT(weft_sock_get(fd, WEFT_SO_V6ONLY), 0);
    close(fd);
    int fd6 = socket(AF_INET6, SOCK_STREAM, 0);
    if (fd6 >= 0) {
        CHECK_OK(weft_sock_set(fd6, WEFT_SO_V6ONLY, 1));
        CHECK_EQ(weft_sock_get(fd6, WEFT_SO_V6ONLY), 1);
        CHECK_OK(weft_sock_set(fd6, WEFT_SO_V6ONLY, 0));
        CHECK_EQ(weft_sock_get(fd6, WEFT_SO_V6ONLY), 0);
        close(fd6);
    }
    CHECK_ERR(weft_sock_set(-1, WEFT_SO_NODELAY, 1), -EBADF);
    CHECK_ERR(weft_sock_get(-1, WEFT_SO_NODELAY), -EBADF);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    CHECK_ERR(weft_sock_get(p[0], WEFT_SO_NODELAY), -ENOTSOCK);
    CHECK_ERR(weft_sock_local_addr(p[0], &(weft_addr){0}), -ENOTSOCK);
    close(p[0]);
    close(p[1]);
}

WEFT_TEST(sockopts) {
    run_in_thread(body_sockopts);
}

/* ------------------------------------------------------------- bad input */

static void body_bad_input(void) {
    weft_addr a[2];
    CHECK_ERR(weft_resolve("127.0.0.1", 80, AF_UNSPEC, NULL, 2, 0), -EINVAL);
    CHECK_ERR(weft_resolve("127.0.0.1", 80, AF_UNSPEC, a, 0, 0), -EINVAL);
    CHECK_ERR(weft_resolve("127.0.0.1", -1, AF_UNSPEC, a, 2, 0), -EINVAL);
    CHECK_ERR(weft_resolve("127.0.0.1", 65536, AF_UNSPEC, a, 2, 0), -EINVAL);
    CHECK_ERR(weft_resolve("127.0.0.1", 80, AF_UNIX, a, 2, 0), -EINVAL);
    CHECK_ERR(weft_addr_port(NULL), -EINVAL);
    weft_addr z;
    memset(&z, 0, sizeof z);
    CHECK_ERR(weft_addr_port(&z), -EINVAL);
    char s[8];
    CHECK_ERR(weft_addr_format(&z, s, sizeof s), -EINVAL);
    CHECK_ERR(weft_addr_format(NULL, s, sizeof s), -EINVAL);
    CHECK_ERR(weft_addr_format(&a[0], NULL, 8), -EINVAL);
    CHECK_ERR(weft_tcp_listen("127.0.0.1", -1, 0, 0), -EINVAL);
    CHECK_ERR(weft_tcp_listen("127.0.0.1", 65536, 0, 0), -EINVAL);
    CHECK_ERR(weft_tcp_listen("127.0.0.1", 0, -1, 0), -EINVAL);
    CHECK_ERR(weft_tcp_listen("127.0.0.1", 0, 70000, 0), -EINVAL);
    CHECK_ERR(weft_tcp_listen("127.0.0.1", 0, 0, 64), -EINVAL);
    CHECK_ERR(weft_tcp_listen_addr(NULL, 0, 0), -EINVAL);
    CHECK_ERR(weft_tcp_listen_addr(&z, 0, 0), -EINVAL);
    CHECK_ERR(weft_tcp_connect_addr(NULL, 0), -EINVAL);
    CHECK_ERR(weft_tcp_connect_addr(&z, 0), -EINVAL);
    CHECK_ERR(weft_tcp_connect("127.0.0.1", 70000, 0), -EINVAL);
    CHECK_ERR(weft_tcp_accept(-1, NULL, 0), -EBADF);
    CHECK_ERR(weft_sock_local_addr(0, NULL), -EINVAL);
    CHECK_ERR(weft_sock_peer_addr(-1, &z), -EBADF);
    /* Accepting on a socket that does not listen. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    CHECK_GE(fd, 0);
    CHECK_ERR(weft_tcp_accept(fd, NULL, WEFT_NOWAIT), -EINVAL);
    close(fd);
    /* Binding an address this machine does not have. */
    CHECK_ERR(weft_tcp_listen("192.0.2.1", 0, 0, 0), -EADDRNOTAVAIL);
}

WEFT_TEST(bad_input) {
    run_in_thread(body_bad_input);
}

/* 20 WEFT_STACK_SHARED coroutines resolve a name through the pool at once
 * (the output array on their stacks), with canaries of their own. */
#define RES_SHARED_N 20
static atomic_int res_shared_ok;
static void *res_shared_coro(void *arg) {
    int id = (int)(intptr_t)arg;
    volatile unsigned char canary[512];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 17 + i);
    weft_addr a[4];
    memset(a, 0, sizeof a);
    int n = weft_resolve("localhost", 2000 + id, AF_INET, a, 4, weft_after(20 * WEFT_SEC));
    CHECK_GE(n, 1);
    for (int k = 0; k < n; k++) {
        CHECK_EQ(a[k].ss.ss_family, AF_INET);
        CHECK_EQ(weft_addr_port(&a[k]), 2000 + id);
    }
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 17 + i));
    atomic_fetch_add(&res_shared_ok, 1);
    return NULL;
}
static void res_shared_body(void) {
    weft_coro c[RES_SHARED_N];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < RES_SHARED_N; i++)
        CHECK_OK(weft_spawn(&c[i], res_shared_coro, (void *)(intptr_t)i, &o));
    CHECK_OK(weft_joinall(c, RES_SHARED_N, weft_after(30 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&res_shared_ok), RES_SHARED_N);
}
WEFT_TEST(resolve_from_shared_stack_coroutines) { run_plain_in_thread(res_shared_body); }

WEFT_MAIN()
