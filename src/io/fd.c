/* System call wrappers that wait for readiness instead of blocking. */
#include "internal.h"

#include <fcntl.h>
#include <unistd.h>

WEFT_API int weft_fd_set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -errno;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

/* Retries `call` (an expression yielding ssize_t and setting errno) until
 * it does not report EAGAIN, waiting for `dir` in between. */
#define RETRY_IO(call, fd, dir, deadline)                                                          \
    for (;;) {                                                                                     \
        ssize_t n_ = (call);                                                                       \
        if (n_ >= 0)                                                                               \
            return n_;                                                                             \
        int e_ = errno;                                                                            \
        if (e_ == EINTR)                                                                           \
            continue;                                                                              \
        if (e_ != EAGAIN && e_ != EWOULDBLOCK)                                                     \
            return -e_;                                                                            \
        int w_ = weft__fd_wait_edge((fd), (dir), (deadline));                                      \
        if (w_ < 0)                                                                                \
            return w_;                                                                             \
    }

WEFT_API ssize_t weft_read(int fd, void *buf, size_t len, int64_t deadline) {
    RETRY_IO(read(fd, buf, len), fd, WEFT_READABLE, deadline);
}

WEFT_API ssize_t weft_write(int fd, const void *buf, size_t len, int64_t deadline) {
    RETRY_IO(write(fd, buf, len), fd, WEFT_WRITABLE, deadline);
}

WEFT_API ssize_t weft_recv(int fd, void *buf, size_t len, int flags, int64_t deadline) {
    RETRY_IO(recv(fd, buf, len, flags), fd, WEFT_READABLE, deadline);
}

WEFT_API ssize_t weft_send(int fd, const void *buf, size_t len, int flags, int64_t deadline) {
    RETRY_IO(send(fd, buf, len, flags | MSG_NOSIGNAL), fd, WEFT_WRITABLE, deadline);
}

WEFT_API ssize_t weft_write_all(int fd, const void *buf, size_t len, int64_t deadline,
                                size_t *written) {
    size_t done = 0;
    ssize_t r = 0;
    while (done < len) {
        r = weft_write(fd, (const char *)buf + done, len - done, deadline);
        if (r < 0)
            break;
        done += (size_t)r;
    }
    if (written)
        *written = done;
    return r < 0 ? r : (ssize_t)len;
}

WEFT_API int weft_accept(int fd, struct sockaddr *addr, socklen_t *addrlen, int64_t deadline) {
    RETRY_IO(accept4(fd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC), fd, WEFT_READABLE,
             deadline);
}

WEFT_API int weft_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
                          int64_t deadline) {
    if (connect(fd, addr, addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return -errno;
    int r = weft__fd_wait_edge(fd, WEFT_WRITABLE, deadline);
    if (r < 0)
        return r;
    int err = 0;
    socklen_t l = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
        return -errno;
    return err ? -err : 0;
}
