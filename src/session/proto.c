/* The framed protocol between session clients and servers: a header (type, length) and a
 * payload, over a non-blocking unix stream socket, with weft's parking sends and receives. */
#include "session/session.h"

#include <string.h>
#include <sys/socket.h>

int weft__wsp_send(int fd, uint32_t type, const void *payload, size_t len, int64_t deadline) {
    if (len > WSP_MAX_PAYLOAD)
        return -EMSGSIZE;
    uint32_t hdr[2] = {type, (uint32_t)len};
    char small[8 + 256];
    /* Small frames go out in one send (one wake-up for the peer). */
    if (len <= 256) {
        memcpy(small, hdr, 8);
        if (len)
            memcpy(small + 8, payload, len);
        payload = small;
        len += 8;
    } else {
        for (size_t off = 0; off < 8;) {
            ssize_t n = weft_send(fd, (char *)hdr + off, 8 - off, MSG_NOSIGNAL, deadline);
            if (n < 0)
                return (int)n;
            off += (size_t)n;
        }
    }
    for (size_t off = 0; off < len;) {
        ssize_t n = weft_send(fd, (const char *)payload + off, len - off, MSG_NOSIGNAL, deadline);
        if (n < 0)
            return (int)n;
        off += (size_t)n;
    }
    return 0;
}

int weft__wsp_recv(wsp_reader *r, int fd, wsp_frame *f, int64_t deadline) {
    if (r->consumed) {
        memmove(r->buf, r->buf + r->consumed, r->len - r->consumed);
        r->len -= r->consumed;
        r->consumed = 0;
    }
    for (;;) {
        if (r->len >= 8) {
            uint32_t hdr[2];
            memcpy(hdr, r->buf, 8);
            if (hdr[0] == 0 || hdr[0] >= WSP_TYPE_MAX || hdr[1] > WSP_MAX_PAYLOAD)
                return -EPROTO;
            if (r->len >= 8 + (size_t)hdr[1]) {
                f->type = hdr[0];
                f->len = hdr[1];
                f->payload = r->buf + 8;
                r->consumed = 8 + (size_t)hdr[1];
                return 1;
            }
        }
        if (r->cap - r->len < 4096) {
            size_t cap = r->cap ? r->cap * 2 : 16384;
            char *nb = weft__realloc(r->buf, cap);
            if (!nb)
                return -ENOMEM;
            r->buf = nb;
            r->cap = cap;
        }
        ssize_t n = weft_recv(fd, r->buf + r->len, r->cap - r->len, 0, deadline);
        if (n < 0)
            return n == -ECONNRESET ? 0 : (int)n;
        if (n == 0)
            return r->len ? -EPROTO : 0;
        r->len += (size_t)n;
    }
}

void weft__wsp_reader_free(wsp_reader *r) {
    weft__free(r->buf);
    memset(r, 0, sizeof *r);
}
