/* TCP listen, accept and connect on non-blocking sockets. */
#include "internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

static bool is_ip(const weft_addr *a) {
    return a &&
           ((a->ss.ss_family == AF_INET && a->len >= sizeof(struct sockaddr_in)) ||
            (a->ss.ss_family == AF_INET6 && a->len >= sizeof(struct sockaddr_in6))) &&
           a->len <= sizeof a->ss;
}

static int set_int(int fd, int level, int name, int v) {
    return setsockopt(fd, level, name, &v, sizeof v) == 0 ? 0 : -errno;
}

WEFT_API int weft_tcp_listen_addr(const weft_addr *a, int backlog, int flags) {
    if (!is_ip(a) || backlog < 0 || backlog > 65535 ||
        (flags & ~(WEFT_TCP_REUSEPORT | WEFT_TCP_V6ONLY)))
        return -EINVAL;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int r = set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
    if (r == 0 && (flags & WEFT_TCP_REUSEPORT))
        r = set_int(fd, SOL_SOCKET, SO_REUSEPORT, 1);
    if (r == 0 && a->ss.ss_family == AF_INET6)
        r = set_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, (flags & WEFT_TCP_V6ONLY) ? 1 : 0);
    if (r == 0 && bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0)
        r = -errno;
    if (r == 0 && listen(fd, backlog ? backlog : SOMAXCONN) != 0)
        r = -errno;
    if (r < 0) {
        close(fd);
        return r;
    }
    return fd;
}

#define TRY_MAX 8

WEFT_API int weft_tcp_listen(const char *host, int port, int backlog, int flags) {
    if (port < 0 || port > 65535 || backlog < 0 || backlog > 65535 ||
        (flags & ~(WEFT_TCP_REUSEPORT | WEFT_TCP_V6ONLY)))
        return -EINVAL;
    weft_addr addrs[TRY_MAX];
    int n = weft_resolve(host, port, AF_UNSPEC, addrs, TRY_MAX, WEFT_FOREVER);
    if (n < 0)
        return n;
    int r = -EADDRNOTAVAIL;
    for (int i = 0; i < n; i++) {
        r = weft_tcp_listen_addr(&addrs[i], backlog, flags);
        if (r >= 0)
            return r;
    }
    return r;
}

WEFT_API int weft_tcp_accept(int lfd, weft_addr *peer, int64_t deadline) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd = weft_accept(lfd, (struct sockaddr *)&ss, &len, deadline);
    if (fd < 0)
        return fd;
    if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)
        (void)set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    if (peer) {
        memset(peer, 0, sizeof *peer);
        memcpy(&peer->ss, &ss, len < sizeof ss ? len : sizeof ss);
        peer->len = len < sizeof ss ? len : sizeof ss;
    }
    return fd;
}

WEFT_API int weft_tcp_connect_addr(const weft_addr *a, int64_t deadline) {
    if (!is_ip(a))
        return -EINVAL;
    int fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    (void)set_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
    int r = weft_connect(fd, (const struct sockaddr *)&a->ss, a->len, deadline);
    if (r < 0) {
        weft_fd_close(fd);
        return r;
    }
    return fd;
}

WEFT_API int weft_tcp_connect(const char *host, int port, int64_t deadline) {
    if (port < 0 || port > 65535)
        return -EINVAL;
    weft_addr addrs[TRY_MAX];
    int n = weft_resolve(host, port, AF_UNSPEC, addrs, TRY_MAX, deadline);
    if (n < 0)
        return n;
    int r = -ECONNREFUSED;
    for (int i = 0; i < n; i++) {
        r = weft_tcp_connect_addr(&addrs[i], deadline);
        if (r >= 0 || r == -ETIMEDOUT || r == -ECANCELED)
            return r;
    }
    return r;
}

static int get_name(int fd, weft_addr *out, bool peer) {
    if (!out)
        return -EINVAL;
    memset(out, 0, sizeof *out);
    socklen_t len = sizeof out->ss;
    int r = peer ? getpeername(fd, (struct sockaddr *)&out->ss, &len)
                 : getsockname(fd, (struct sockaddr *)&out->ss, &len);
    if (r != 0)
        return -errno;
    out->len = len;
    return 0;
}

WEFT_API int weft_sock_local_addr(int fd, weft_addr *out) {
    return get_name(fd, out, false);
}

WEFT_API int weft_sock_peer_addr(int fd, weft_addr *out) {
    return get_name(fd, out, true);
}
