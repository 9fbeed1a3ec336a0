/* libFuzzer target for the HTTP request parser (src/http/parse.c).
 *
 * Build and run: `make fuzz` (clang with -fsanitize=fuzzer,address,undefined; seeds in
 * fuzz/corpus/http_parse, dictionary fuzz/http.dict). Besides memory errors it checks
 * the parser's contract on every input, under two sets of limits:
 *   - the result is > 0 (a complete request of that many bytes, never more than given),
 *     0 (incomplete) or one of the documented statuses, negated;
 *   - every span (method, target, header names and values) lies inside the request, the
 *     header count is within the limit, head_len <= the request length;
 *   - a complete request parses the same when given exactly its bytes, and any shorter
 *     prefix of it is reported incomplete (never rejected);
 *   - parsing never writes to the input (checked against a copy). */
#include "http/parse.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXH 8

static void check(int cond) {
    if (!cond)
        abort();
}

static void check_result(long r, size_t len, const weft__http_limits *lim,
                         const weft__http_req *rq) {
    if (r < 0) {
        check(r == -400 || r == -413 || r == -414 || r == -431 || r == -501 || r == -505);
        return;
    }
    check((size_t)r <= len);
    size_t end = r > 0 ? (size_t)r : len;
    if (r == 0 && rq->head_len == 0)
        return;
    check(rq->head_len <= end);
    check(rq->nheaders <= lim->max_headers);
    check(rq->minor == 0 || rq->minor == 1);
    check(rq->content_length <= lim->max_body);
    check(rq->method.len > 0 && (size_t)rq->method.off + rq->method.len <= rq->head_len);
    check(rq->target.len > 0 && (size_t)rq->target.off + rq->target.len <= rq->head_len);
    if (r > 0)
        check(rq->head_len + rq->content_length == (size_t)r);
}

static void run(const uint8_t *data, size_t size, const weft__http_limits *lim) {
    weft__http_req rq;
    weft__http_hdr h[MAXH];
    const char *buf = (const char *)data;
    long r = weft__http_parse(buf, size, lim, &rq, h);
    check_result(r, size, lim, &rq);
    if (r > 0 || (r == 0 && rq.head_len)) {
        for (uint32_t i = 0; i < rq.nheaders; i++) {
            check(h[i].name.len > 0);
            check((size_t)h[i].name.off + h[i].name.len <= rq.head_len);
            check((size_t)h[i].value.off + h[i].value.len <= rq.head_len);
            check(h[i].value.off > h[i].name.off + h[i].name.len); /* after the colon */
        }
    }
    if (r > 0) {
        weft__http_req again;
        check(weft__http_parse(buf, (size_t)r, lim, &again, h) == r);
        check(again.head_len == rq.head_len && again.nheaders == rq.nheaders &&
              again.keep_alive == rq.keep_alive);
        size_t cuts[3] = {(size_t)r - 1, (size_t)r / 2, rq.head_len ? rq.head_len - 1 : 0};
        for (int i = 0; i < 3; i++)
            if (cuts[i] < (size_t)r)
                check(weft__http_parse(buf, cuts[i], lim, &again, h) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    static const weft__http_limits small = {40, 96, 4, 64};
    static const weft__http_limits roomy = {8192, 16384, MAXH, 1 << 20};
    run(copy, size, &small);
    run(copy, size, &roomy);
    check(memcmp(copy, data, size) == 0);
    free(copy);
    return 0;
}
