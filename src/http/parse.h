/* The HTTP/1.1 request parser: a pure function over a byte buffer, so the
 * server and the fuzz target (fuzz/http_parse_fuzz.c) call the same code.
 * It allocates nothing and never writes to the buffer. */
#ifndef WEFT_HTTP_PARSE_H
#define WEFT_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct weft__http_limits {
    size_t max_line;         /* request line, without its line end */
    size_t max_header_bytes; /* header lines after the request line, line ends included */
    uint32_t max_headers;    /* header lines */
    size_t max_body;         /* Content-Length */
} weft__http_limits;

typedef struct weft__http_span {
    uint32_t off, len; /* bytes [off, off + len) of the buffer */
} weft__http_span;

typedef struct weft__http_hdr {
    weft__http_span name, value; /* value without surrounding white space */
} weft__http_hdr;

typedef struct weft__http_req {
    weft__http_span method, target;
    int minor;             /* HTTP/1.<minor>: 0 or 1 */
    uint32_t nheaders;     /* header lines stored in hdrs[] */
    size_t head_len;       /* bytes up to and including the blank line;
                              0 while the head is incomplete */
    size_t content_length; /* valid once head_len != 0 */
    int keep_alive;        /* the connection may carry another request */
    int expect_continue;   /* "Expect: 100-continue" was sent */
} weft__http_req;

/* Parses the request at the start of buf[0..len). hdrs must have room for
 * lim->max_headers entries. Returns:
 *   > 0  the request is complete and takes that many bytes (head_len +
 *        content_length); *req describes it;
 *   0    more bytes are needed (if req->head_len != 0, the head is
 *        complete and only the body is missing);
 *   < 0  the request is rejected: minus the HTTP status to answer with
 *        (-400, -413, -414, -431, -501 or -505).
 * Leading empty lines (left by clients after a body) are skipped and
 * counted in the offsets and lengths. */
long weft__http_parse(const char *buf, size_t len, const weft__http_limits *lim,
                      weft__http_req *req, weft__http_hdr *hdrs);

#endif
