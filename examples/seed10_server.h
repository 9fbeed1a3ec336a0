/* The loopback "internet" of the seed-10 examples, the hook tests and the http_client
 * benchmark: weft's HTTP server (weft_http_server_start) on 127.0.0.1, on a server thread
 * of its own (or on the caller's thread, seed10_server_start_n), answering every GET /<bytes> with <bytes> bytes of body after a fixed
 * delay. Header-only; include it in one file.
 *
 *     seed10_server srv;
 *     seed10_server_start(&srv, 50 * WEFT_MSEC, 0);   // delay, hold (0: none)
 *     ... GET http://127.0.0.1:<srv.port>/2381 answers 2381 bytes ...
 *     seed10_server_stop(&srv);
 *
 * With hold > 0 a request waits (before its delay) until `hold` requests are in flight at
 * once, or 10 s pass: a test then proves that its clients really overlap. in_flight,
 * max_in_flight and requests count what the server saw. */
#ifndef SEED10_SERVER_H
#define SEED10_SERVER_H

#include "weft.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct seed10_server {
    int port;
    int64_t delay; /* per-request delay, ns */
    int hold;      /* see above */
    atomic_int in_flight, max_in_flight, requests;
    weft_event held; /* set once `hold` requests were in flight */
    weft_http_server *http;
} seed10_server;

static inline int seed10_handler(const weft_http_request *req, weft_http_response *resp,
                                 void *arg) {
    seed10_server *s = arg;
    long size = strtol(req->target + (req->target[0] == '/'), NULL, 10);
    if (size < 0 || size > (64L << 20))
        size = 0;
    int now = atomic_fetch_add(&s->in_flight, 1) + 1;
    atomic_fetch_add(&s->requests, 1);
    int m = atomic_load(&s->max_in_flight);
    while (now > m && !atomic_compare_exchange_weak(&s->max_in_flight, &m, now)) {
    }
    int r = 0;
    if (s->hold > 0) {
        if (now >= s->hold)
            weft_event_set(&s->held);
        r = weft_event_wait(&s->held, weft_after(10 * WEFT_SEC));
        if (r == -ETIMEDOUT)
            r = 0;
    }
    if (r == 0 && s->delay > 0)
        r = weft_sleep(s->delay);
    atomic_fetch_sub(&s->in_flight, 1);
    if (r < 0)
        return r;
    static const char chunk[4096] = {'w'};
    weft_http_response_header(resp, "Content-Type", "text/plain");
    for (long left = size; r == 0 && left > 0; left -= (long)sizeof chunk)
        r = weft_http_response_write(resp, chunk,
                                     left < (long)sizeof chunk ? (size_t)left : sizeof chunk);
    return r;
}

/* Starts the server on 127.0.0.1 (a free port, stored in s->port) with `threads` server
 * threads, or with threads == 0 as coroutines of the calling thread (which must then
 * keep waiting in weft or hooked calls for them to run, and stop the server itself).
 * Returns 0 or a negative errno. */
static inline int seed10_server_start_n(seed10_server *s, int64_t delay, int hold, int threads) {
    memset(s, 0, sizeof *s);
    s->delay = delay;
    s->hold = hold;
    weft_event_init(&s->held);
    weft_http_opts o;
    memset(&o, 0, sizeof o);
    o.threads = threads > 0 ? threads : 0;
    o.backlog = 1024;
    int r = weft_http_server_start(&s->http, "127.0.0.1", 0, seed10_handler, s, &o);
    if (r < 0)
        return r;
    s->port = weft_http_server_port(s->http);
    return 0;
}

static inline int seed10_server_start(seed10_server *s, int64_t delay, int hold) {
    return seed10_server_start_n(s, delay, hold, 1);
}

static inline int seed10_server_stop(seed10_server *s) {
    return weft_http_server_stop(s->http, weft_after(5 * WEFT_SEC));
}

#endif
