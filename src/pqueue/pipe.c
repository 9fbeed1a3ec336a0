/* weft_pipe: message pipes between related processes (Python's
 * multiprocessing.Pipe), over a non-blocking AF_UNIX stream socket pair.
 *
 * Framing: an 8-byte length (host order: both ends run on this machine),
 * then the bytes. A send writes header and body with one sendmsg() where
 * it can (MSG_NOSIGNAL: a dead reader gives -EPIPE, never SIGPIPE) and
 * waits with weft_fd_wait, so a coroutine parks only itself. A message is
 * all-or-nothing for the deadline: once its first byte is out, the send
 * finishes it (a half-sent message would desynchronise the stream).
 * A receive that times out in the middle of a message keeps what it read
 * (header, and body bytes stashed in the end's own buffer) and the next
 * receive continues from there. One-way pipes shut down the unused
 * direction of each socket. */
#include "internal.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_MSG WEFT__MAX_BYTES

struct weft_pipe {
    uint32_t tag; /* PIPE_MAGIC; WEFT__TAG_DEAD once closed */
    int fd;
    uint8_t can_read, can_write;
    uint8_t wbroken, rbroken;
    weft_lock rl, wl; /* one receiver and one sender at a time */
    unsigned hgot;    /* header bytes read so far */
    unsigned char hdr[8];
    unsigned char *part; /* body bytes of the current message read so far */
    size_t pgot;
};

#define PIPE_MAGIC 0x70697065u /* "pipe" */
/* Every entry point checks its end (garbage would reach the locks and the descriptor). */
static inline void check(const weft_pipe *p, const char *fn) {
    weft__tag_check_handle(p->tag, PIPE_MAGIC, fn, "weft_pipe", p);
}

static int end_new(weft_pipe **out, int fd, int rd, int wr) {
    weft_pipe *p = weft__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->tag = PIPE_MAGIC;
    p->fd = fd;
    p->can_read = (uint8_t)rd;
    p->can_write = (uint8_t)wr;
    weft_lock_init(&p->rl);
    weft_lock_init(&p->wl);
    *out = p;
    return 0;
}

int weft_pipe_create(weft_pipe **end0, weft_pipe **end1, int duplex) {
    if (!end0 || !end1 || (duplex != 0 && duplex != 1))
        return -EINVAL;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    if (!duplex) {
        shutdown(sv[0], SHUT_WR);
        shutdown(sv[1], SHUT_RD);
    }
    weft_pipe *a, *b;
    int r = end_new(&a, sv[0], 1, duplex);
    if (r == 0 && (r = end_new(&b, sv[1], duplex, 1)) != 0)
        weft__free(a);
    if (r) {
        close(sv[0]);
        close(sv[1]);
        return r;
    }
    *end0 = a;
    *end1 = b;
    return 0;
}

int weft_pipe_close(weft_pipe *p) {
    if (!p)
        return 0;
    check(p, "weft_pipe_close");
    p->tag = WEFT__TAG_DEAD;
    int r = weft_fd_close(p->fd);
    weft__free(p->part);
    weft__free(p);
    return r;
}

int weft_pipe_fd(const weft_pipe *p) {
    if (!p)
        return -EINVAL;
    check(p, "weft_pipe_fd");
    return p->fd;
}

static int send_locked(weft_pipe *p, const void *msg, size_t len, int64_t deadline) {
    uint64_t hdr = len;
    size_t total = 8 + len, off = 0;
    while (off < total) {
        struct iovec iov[2];
        int n = 0;
        if (off < 8) {
            iov[n].iov_base = (char *)&hdr + off;
            iov[n++].iov_len = 8 - off;
            if (len) {
                iov[n].iov_base = (void *)msg;
                iov[n++].iov_len = len;
            }
        } else {
            iov[n].iov_base = (char *)msg + (off - 8);
            iov[n++].iov_len = total - off;
        }
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t w = sendmsg(p->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) {
            off += (size_t)w;
            continue;
        }
        int e = errno;
        if (e == EINTR)
            continue;
        if (e == EAGAIN || e == EWOULDBLOCK) {
            int r = weft_fd_wait(p->fd, WEFT_WRITABLE, off ? WEFT_FOREVER : deadline);
            if (r < 0) {
                if (off)
                    p->wbroken = 1;
                return r;
            }
            continue;
        }
        if (off)
            p->wbroken = 1;
        return e == ECONNRESET || e == EPIPE || e == ENOTCONN ? -EPIPE : -e;
    }
    return 0;
}

int weft_pipe_send(weft_pipe *p, const void *msg, size_t len, int64_t deadline) {
    if (!p || (!msg && len))
        return -EINVAL;
    check(p, "weft_pipe_send");
    if (!p->can_write)
        return -EBADF;
    if (len > MAX_MSG)
        return -EMSGSIZE;
    int r = weft_lock_acquire(&p->wl, deadline);
    if (r)
        return r == -EDEADLK ? -EBUSY : r;
    r = p->wbroken ? -EPIPE : send_locked(p, msg, len, deadline);
    weft_lock_release(&p->wl);
    return r;
}

/* Reads the header of the next message; its length or a negative errno. */
static ssize_t read_header(weft_pipe *p, int64_t deadline) {
    while (p->hgot < 8) {
        ssize_t n = weft_read(p->fd, p->hdr + p->hgot, 8 - p->hgot, deadline);
        if (n == 0) {
            if (p->hgot)
                p->rbroken = 1;
            return -EPIPE;
        }
        if (n < 0)
            return n == -ECONNRESET ? -EPIPE : n;
        p->hgot += (unsigned)n;
    }
    uint64_t len;
    memcpy(&len, p->hdr, 8);
    if (len > MAX_MSG) {
        p->rbroken = 1;
        return -EPROTO;
    }
    return (ssize_t)len;
}

static ssize_t lock_r(weft_pipe *p, int64_t deadline, const char *fn) {
    if (!p)
        return -EINVAL;
    check(p, fn);
    if (!p->can_read)
        return -EBADF;
    int r = weft_lock_acquire(&p->rl, deadline);
    if (r)
        return r == -EDEADLK ? -EBUSY : r;
    if (p->rbroken) {
        weft_lock_release(&p->rl);
        return -EPIPE;
    }
    return 0;
}

ssize_t weft_pipe_next_size(weft_pipe *p, int64_t deadline) {
    ssize_t r = lock_r(p, deadline, "weft_pipe_next_size");
    if (r)
        return r;
    r = read_header(p, deadline);
    weft_lock_release(&p->rl);
    return r;
}

ssize_t weft_pipe_recv(weft_pipe *p, void *buf, size_t cap, int64_t deadline) {
    if (p && !buf && cap)
        return -EINVAL;
    ssize_t r = lock_r(p, deadline, "weft_pipe_recv");
    if (r)
        return r;
    ssize_t len = read_header(p, deadline);
    if (len < 0) {
        weft_lock_release(&p->rl);
        return len;
    }
    if ((size_t)len > cap) {
        weft_lock_release(&p->rl);
        return -EMSGSIZE;
    }
    size_t got = 0;
    if (p->part) {
        memcpy(buf, p->part, p->pgot);
        got = p->pgot;
        weft__free(p->part);
        p->part = NULL;
        p->pgot = 0;
    }
    while (got < (size_t)len) {
        ssize_t n = weft_read(p->fd, (char *)buf + got, (size_t)len - got, deadline);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0 || n == -ECONNRESET) {
            p->rbroken = 1; /* the writer died in the middle of a message */
            weft_lock_release(&p->rl);
            return -EPIPE;
        }
        /* Deadline or cancellation: keep what was read for the next call. */
        if (got) {
            p->part = weft__malloc(got);
            if (!p->part) {
                p->rbroken = 1;
                weft_lock_release(&p->rl);
                return -ENOMEM;
            }
            memcpy(p->part, buf, got);
            p->pgot = got;
        }
        weft_lock_release(&p->rl);
        return n;
    }
    p->hgot = 0;
    weft_lock_release(&p->rl);
    return len;
}
