/* The socket options people need, by one small enum. */
#include "internal.h"

#include <netinet/in.h>
#include <netinet/tcp.h>

typedef struct {
    int level, name;
    int lo, hi; /* accepted values for set */
} opt_desc;

static const opt_desc *describe(int opt) {
    static const opt_desc t[] = {
        [WEFT_SO_REUSEADDR] = {SOL_SOCKET, SO_REUSEADDR, 0, 1},
        [WEFT_SO_REUSEPORT] = {SOL_SOCKET, SO_REUSEPORT, 0, 1},
        [WEFT_SO_NODELAY] = {IPPROTO_TCP, TCP_NODELAY, 0, 1},
        [WEFT_SO_KEEPALIVE] = {SOL_SOCKET, SO_KEEPALIVE, 0, 1},
        [WEFT_SO_KEEPIDLE] = {IPPROTO_TCP, TCP_KEEPIDLE, 1, 32767},
        [WEFT_SO_RCVBUF] = {SOL_SOCKET, SO_RCVBUF, 1, INT32_MAX / 2},
        [WEFT_SO_SNDBUF] = {SOL_SOCKET, SO_SNDBUF, 1, INT32_MAX / 2},
        [WEFT_SO_V6ONLY] = {IPPROTO_IPV6, IPV6_V6ONLY, 0, 1},
        [WEFT_SO_LINGER] = {SOL_SOCKET, SO_LINGER, -1, 65535},
    };
    if (opt < WEFT_SO_REUSEADDR || opt > WEFT_SO_LINGER)
        return NULL;
    return &t[opt];
}

WEFT_API int weft_sock_set(int fd, int opt, int value) {
    const opt_desc *d = describe(opt);
    if (!d || value < d->lo || value > d->hi)
        return -EINVAL;
    int r;
    if (opt == WEFT_SO_LINGER) {
        struct linger l = {value >= 0, value >= 0 ? value : 0};
        r = setsockopt(fd, d->level, d->name, &l, sizeof l);
    } else {
        r = setsockopt(fd, d->level, d->name, &value, sizeof value);
    }
    return r == 0 ? 0 : -errno;
}

WEFT_API int weft_sock_get(int fd, int opt) {
    const opt_desc *d = describe(opt);
    if (!d)
        return -EINVAL;
    if (opt == WEFT_SO_LINGER) {
        struct linger l = {0, 0};
        socklen_t len = sizeof l;
        if (getsockopt(fd, d->level, d->name, &l, &len) != 0)
            return -errno;
        return l.l_onoff ? l.l_linger : INT32_MAX;
    }
    int v = 0;
    socklen_t len = sizeof v;
    if (getsockopt(fd, d->level, d->name, &v, &len) != 0)
        return -errno;
    if (d->hi == 1)
        v = v != 0;
    return v < 0 ? -EINVAL : v;
}
