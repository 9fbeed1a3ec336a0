/* Responses: what a handler fills, and their serialization. */
#include "http/http.h"

#include <string.h>
#include <strings.h>

int weft__buf_reserve(weft__buf *b, size_t extra) {
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < extra)
        cap *= 2;
    char *p = weft__realloc(b->p, cap);
    if (!p)
        return -ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int weft__buf_append(weft__buf *b, const void *data, size_t n) {
    if (n == 0)
        return 0;
    int r = weft__buf_reserve(b, n);
    if (r < 0)
        return r;
    memcpy(b->p + b->len, data, n);
    b->len += n;
    return 0;
}

void weft__buf_free(weft__buf *b) {
    weft__free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

void weft__http_response_reset(weft_http_response *r) {
    r->tag = WEFT__HTTP_RESP_MAGIC;
    r->status = 200;
    r->hdrs.len = 0;
    r->body.len = 0;
}

void weft__http_response_free(weft_http_response *r) {
    weft__buf_free(&r->hdrs);
    weft__buf_free(&r->body);
    r->tag = WEFT__TAG_DEAD;
}

/* Responses are weft's own (handed to handlers): anything else aborts. */
static inline void check(const weft_http_response *r, const char *fn) {
    weft__tag_check_handle(r->tag, WEFT__HTTP_RESP_MAGIC, fn, "weft_http_response", r);
}

static const struct {
    int status;
    const char *reason;
} reasons[] = {
    {100, "Continue"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {422, "Unprocessable Content"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *weft__http_reason(int status) {
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].reason;
    return "Unknown";
}

static bool is_token(const char *s) {
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              strchr("!#$%&'*+-.^_`|~", c)))
            return false;
    }
    return true;
}

WEFT_API int weft_http_response_status(weft_http_response *resp, int status) {
    if (!resp)
        return -EINVAL;
    check(resp, "weft_http_response_status");
    if (status < 200 || status > 599)
        return -EINVAL;
    resp->status = status;
    return 0;
}

WEFT_API int weft_http_response_header(weft_http_response *resp, const char *name,
                                       const char *value) {
    if (!resp)
        return -EINVAL;
    check(resp, "weft_http_response_header");
    if (!name || !value || !is_token(name) || !strcasecmp(name, "content-length") ||
        !strcasecmp(name, "transfer-encoding") || !strcasecmp(name, "connection"))
        return -EINVAL;
    for (const char *v = value; *v; v++)
        if (*v == '\r' || *v == '\n')
            return -EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    if (nl > SIZE_MAX / 4 || vl > SIZE_MAX / 4)
        return -ENOMEM;
    int r = weft__buf_reserve(&resp->hdrs, nl + vl + 4);
    if (r < 0)
        return r;
    weft__buf *b = &resp->hdrs;
    memcpy(b->p + b->len, name, nl);
    b->len += nl;
    b->p[b->len++] = ':';
    b->p[b->len++] = ' ';
    memcpy(b->p + b->len, value, vl);
    b->len += vl;
    b->p[b->len++] = '\r';
    b->p[b->len++] = '\n';
    return 0;
}

WEFT_API int weft_http_response_write(weft_http_response *resp, const void *data, size_t len) {
    if (!resp)
        return -EINVAL;
    check(resp, "weft_http_response_write");
    if (!data && len > 0)
        return -EINVAL;
    return weft__buf_append(&resp->body, data, len);
}

/* Decimal digits of v into the end of buf[24]; returns the first digit. */
static char *utoa(size_t v, char *end) {
    char *p = end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return p;
}

int weft__http_response_emit(weft__buf *out, const weft_http_response *r, bool head, bool close,
                             bool keep_alive_header) {
    const char *reason = weft__http_reason(r->status);
    size_t rl = strlen(reason);
    bool no_body = r->status == 204 || r->status == 304;
    size_t body = no_body || head ? 0 : r->body.len;
    size_t need = 13 + rl + 2 + r->hdrs.len + 40 + 26 + 2 + body;
    int e = weft__buf_reserve(out, need);
    if (e < 0)
        return e;
    char *p = out->p + out->len;
    memcpy(p, "HTTP/1.1 ", 9);
    p += 9;
    *p++ = (char)('0' + r->status / 100);
    *p++ = (char)('0' + r->status / 10 % 10);
    *p++ = (char)('0' + r->status % 10);
    *p++ = ' ';
    memcpy(p, reason, rl);
    p += rl;
    *p++ = '\r';
    *p++ = '\n';
    if (r->hdrs.len) {
        memcpy(p, r->hdrs.p, r->hdrs.len);
        p += r->hdrs.len;
    }
    if (!no_body) {
        char num[24];
        char *d = utoa(r->body.len, num + sizeof num);
        memcpy(p, "Content-Length: ", 16);
        p += 16;
        memcpy(p, d, (size_t)(num + sizeof num - d));
        p += num + sizeof num - d;
        *p++ = '\r';
        *p++ = '\n';
    }
    if (close) {
        memcpy(p, "Connection: close\r\n", 19);
        p += 19;
    } else if (keep_alive_header) {
        memcpy(p, "Connection: keep-alive\r\n", 24);
        p += 24;
    }
    *p++ = '\r';
    *p++ = '\n';
    if (body) {
        memcpy(p, r->body.p, body);
        p += body;
    }
    out->len = (size_t)(p - out->p);
    return 0;
}
