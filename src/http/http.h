/* Internals shared by the HTTP server's files. */
#ifndef WEFT_HTTP_INTERNAL_H
#define WEFT_HTTP_INTERNAL_H

#include "internal.h"

/* A growable byte buffer (weft__malloc'd). */
typedef struct weft__buf {
    char *p;
    size_t len, cap;
} weft__buf;

/* Makes room for `extra` more bytes. 0 or -ENOMEM. */
int weft__buf_reserve(weft__buf *b, size_t extra);
int weft__buf_append(weft__buf *b, const void *data, size_t n);
void weft__buf_free(weft__buf *b);

struct weft_http_response {
    uint32_t tag; /* WEFT__HTTP_RESP_MAGIC from the first reset; WEFT__TAG_DEAD once freed */
    int status;
    weft__buf hdrs; /* "Name: value\r\n" lines */
    weft__buf body;
};

#define WEFT__HTTP_RESP_MAGIC 0x72657370u /* "resp" */

/* Back to status 200, no headers, empty body (memory kept). */
void weft__http_response_reset(weft_http_response *r);
void weft__http_response_free(weft_http_response *r);

/* Appends r, serialized, to out: the status line, r's headers,
 * Content-Length (unless 204/304), "Connection: close" if close, else
 * "Connection: keep-alive" if keep_alive_header, then the body unless
 * head (or 204/304). 0 or -ENOMEM. */
int weft__http_response_emit(weft__buf *out, const weft_http_response *r, bool head, bool close,
                             bool keep_alive_header);

/* The reason phrase of a status code ("Unknown" for unlisted ones). */
const char *weft__http_reason(int status);

#endif
