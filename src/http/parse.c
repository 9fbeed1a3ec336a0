/* A strict HTTP/1.1 request parser (RFC 9112 request line, header fields
 * and Content-Length framing; no chunked request bodies). */
#include "http/parse.h"

#include <stdbool.h>
#include <string.h>

/* tchar of RFC 9110: the characters of methods and header names. */
static bool is_tchar(unsigned char c) {
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Field value bytes: visible characters, obs-text, space and tab. */
static bool is_vchar_ws(unsigned char c) {
    return c == ' ' || c == '\t' || (c >= 0x21 && c != 0x7f);
}

static unsigned char lower(unsigned char c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool ieq(const char *a, size_t alen, const char *lit) {
    size_t n = strlen(lit);
    if (alen != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != (unsigned char)lit[i])
            return false;
    return true;
}

/* Finds the end of the line starting at p (at most `limit` bytes looked at).
 * Returns the index of '\n', or -1 if not found within [p, p + limit). */
static long find_lf(const char *p, size_t avail, size_t limit) {
    size_t n = avail < limit ? avail : limit;
    const char *q = memchr(p, '\n', n);
    return q ? (long)(q - p) : -1;
}

/* Length of the line content (without "\r\n" or "\n"); -1 if a CR is not
 * right before the LF. */
static long content_len(const char *p, long lf) {
    if (lf > 0 && p[lf - 1] == '\r')
        return lf - 1;
    return lf;
}

/* Connection header tokens. */
static void connection_tokens(const char *v, size_t n, bool *close, bool *keep) {
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t')
            i++;
        if (ieq(v + s, i - s, "close"))
            *close = true;
        else if (ieq(v + s, i - s, "keep-alive"))
            *keep = true;
        while (i < n && v[i] != ',')
            i++;
    }
}

static int parse_request_line(const char *buf, size_t start, size_t n, weft__http_req *req) {
    const char *p = buf + start;
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)p[i]))
        i++;
    if (i == 0 || i >= n || p[i] != ' ')
        return -400;
    req->method.off = (uint32_t)start;
    req->method.len = (uint32_t)i;
    size_t t = ++i;
    while (i < n && (unsigned char)p[i] > 0x20 && (unsigned char)p[i] < 0x7f)
        i++;
    if (i == t || i >= n || p[i] != ' ')
        return -400;
    req->target.off = (uint32_t)(start + t);
    req->target.len = (uint32_t)(i - t);
    i++;
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT */
    if (n - i != 8 || memcmp(p + i, "HTTP/", 5) != 0 || p[i + 6] != '.' || p[i + 5] < '0' ||
        p[i + 5] > '9' || p[i + 7] < '0' || p[i + 7] > '9')
        return -400;
    if (p[i + 5] != '1' || (p[i + 7] != '0' && p[i + 7] != '1'))
        return -505;
    req->minor = p[i + 7] - '0';
    return 0;
}

long weft__http_parse(const char *buf, size_t len, const weft__http_limits *lim,
                      weft__http_req *req, weft__http_hdr *hdrs) {
    memset(req, 0, sizeof *req);
    size_t pos = 0;
    /* Skip empty lines before the request line (bounded like a line). */
    while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n')) {
        if (buf[pos] == '\r' && (pos + 1 >= len || buf[pos + 1] != '\n')) {
            if (pos + 1 >= len)
                return 0;
            return -400;
        }
        pos += buf[pos] == '\r' ? 2 : 1;
        if (pos > lim->max_line)
            return -400;
    }
    if (pos == len)
        return 0;

    /* Request line. */
    long lf = find_lf(buf + pos, len - pos, lim->max_line + 2);
    if (lf < 0) {
        if (len - pos > lim->max_line + 1)
            return -414;
        return 0;
    }
    long n = content_len(buf + pos, lf);
    if ((size_t)n > lim->max_line)
        return -414;
    int r = parse_request_line(buf, pos, (size_t)n, req);
    if (r < 0)
        return r;
    pos += (size_t)lf + 1;

    /* Header lines up to the blank line. */
    size_t hstart = pos;
    bool have_cl = false, have_te = false, conn_close = false, conn_keep = false;
    unsigned hosts = 0;
    size_t cl = 0;
    for (;;) {
        size_t used = pos - hstart;
        /* A header line must fit in what is left; the blank line may
         * follow even when nothing is. */
        size_t room = lim->max_header_bytes - used + 2;
        lf = find_lf(buf + pos, len - pos, room);
        if (lf < 0) {
            if (len - pos >= room)
                return -431;
            /* An incomplete line can already be wrong: reject early. */
            if (pos < len && (buf[pos] == ' ' || buf[pos] == '\t'))
                return -400;
            return 0;
        }
        n = content_len(buf + pos, lf);
        const char *p = buf + pos;
        if (n == 0) {
            pos += (size_t)lf + 1;
            break;
        }
        if (used + (size_t)lf + 1 > lim->max_header_bytes)
            return -431;
        if (req->nheaders == lim->max_headers)
            return -431;
        size_t i = 0;
        while (i < (size_t)n && is_tchar((unsigned char)p[i]))
            i++;
        if (i == 0 || i == (size_t)n || p[i] != ':')
            return -400; /* also obs-fold lines, which start with white space */
        size_t nl = i++;
        while (i < (size_t)n && (p[i] == ' ' || p[i] == '\t'))
            i++;
        size_t vs = i, ve = (size_t)n;
        for (size_t k = vs; k < ve; k++)
            if (!is_vchar_ws((unsigned char)p[k]))
                return -400;
        while (ve > vs && (p[ve - 1] == ' ' || p[ve - 1] == '\t'))
            ve--;
        weft__http_hdr *h = &hdrs[req->nheaders++];
        h->name.off = (uint32_t)pos;
        h->name.len = (uint32_t)nl;
        h->value.off = (uint32_t)(pos + vs);
        h->value.len = (uint32_t)(ve - vs);
        const char *v = p + vs;
        size_t vl = ve - vs;

        if (ieq(p, nl, "content-length")) {
            if (vl == 0)
                return -400;
            size_t x = 0;
            for (size_t k = 0; k < vl; k++) {
                if (v[k] < '0' || v[k] > '9')
                    return -400;
                if (x > (SIZE_MAX - 9) / 10)
                    return -400;
                x = x * 10 + (size_t)(v[k] - '0');
            }
            if (have_cl && x != cl)
                return -400;
            have_cl = true;
            cl = x;
        } else if (ieq(p, nl, "transfer-encoding")) {
            have_te = true;
        } else if (ieq(p, nl, "connection")) {
            connection_tokens(v, vl, &conn_close, &conn_keep);
        } else if (ieq(p, nl, "host")) {
            hosts++;
        } else if (ieq(p, nl, "expect")) {
            if (ieq(v, vl, "100-continue"))
                req->expect_continue = 1;
        }
        pos += (size_t)lf + 1;
    }
    if (have_te)
        return have_cl ? -400 : -501;
    if (hosts > 1 || (req->minor == 1 && hosts == 0))
        return -400;
    if (cl > lim->max_body)
        return -413;
    req->head_len = pos;
    req->content_length = cl;
    req->keep_alive = req->minor == 1 ? !conn_close : (conn_keep && !conn_close);
    if (len - pos < cl)
        return 0;
    return (long)(pos + cl);
}
