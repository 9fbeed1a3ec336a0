/* weft_strerror and the panic path. */
#include "internal.h"

#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

WEFT_API const char *weft_strerror(int err) {
    if (err == INT_MIN)
        return "unknown error";
    if (err < 0)
        err = -err;
    switch (err) {
    case 0: return "success";
    case ETIMEDOUT: return "deadline passed";
    case ECANCELED: return "cancelled";
    case EPIPE: return "closed";
    case EAGAIN: return "would block";
    case ESRCH: return "no such coroutine (stale or invalid handle)";
    case EDEADLK: return "would deadlock (waiting on itself)";
    case EXDEV: return "object belongs to another thread";
    case EBUSY: return "busy";
    case EINVAL: return "invalid argument";
    case ENOMEM: return "out of memory";
    case EBADF: return "bad file descriptor";
    case EMSGSIZE: return "message too long";
    case EOWNERDEAD: return "previous owner died";
    case ENOTRECOVERABLE: return "state not recoverable";
    case EPERM: return "operation not permitted";
    case ECONNREFUSED: return "connection refused";
    case ECONNRESET: return "connection reset by peer";
    case EINPROGRESS: return "operation in progress";
    default: break;
    }
    const char *s = weft__errno_desc(err); /* core/errtab.c */
    if (s)
        return s;
    return "unknown error";
}

void weft__panic(const char *file, int line, const char *fmt, ...) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "weft: fatal: %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof buf)
        n += vsnprintf(buf + n, sizeof buf - (size_t)n, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof buf - 1)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
    abort();
}

void weft__corrupted(const char *fn, const char *type, const void *obj) {
    char buf[256];
    int n = snprintf(buf, sizeof buf, "weft: %s: corrupted or destroyed %s at %p\n", fn, type, obj);
    if (n < 0 || (size_t)n >= sizeof buf)
        n = (int)sizeof buf - 1;
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
    abort();
}
