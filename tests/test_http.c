/* The HTTP/1.1 server: GET with keep-alive, pipelining, HEAD, POST bodies, 404 and 500
 * from handlers, HTTP/1.0, Expect: 100-continue, malformed and oversized requests (each
 * answered with its status and the connection closed), idle timeout, many concurrent
 * clients, handlers that block concurrently, stopping with clients connected (graceful and past the
 * deadline), server threads, bad arguments, 100 Continue only for the request that asks,
 * early answers (413/414/431/500) readable by a client still sending (lingering close,
 * bounded in time and bytes, ended by stop); and the request parser on its own. */
#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http/parse.h"
#include "internal.h"

/* WEFT_TEST_TIMEOUT(many_clients, 120) */

static const int64_t T5 = 5 * WEFT_SEC;

/* ------------------------------------------------------------ the handler */

static atomic_int served;
static weft_barrier rendezvous;

static int handler(const weft_http_request *req, weft_http_response *resp, void *arg) {
    (void)arg;
    atomic_fetch_add(&served, 1);
    const char *t = req->target;
    if (strcmp(t, "/hello") == 0) {
        int r = weft_http_response_header(resp, "Content-Type", "text/plain");
        return r < 0 ? r : weft_http_response_write(resp, "Hello, World!", 13);
    }
    if (strcmp(t, "/echo") == 0) {
        CHECK_EQ(req->body[req->body_len], 0);
        CHECK_OK(weft_http_response_header(resp, "X-Method", req->method));
        return weft_http_response_write(resp, req->body, req->body_len);
    }
    if (strncmp(t, "/sleep/", 7) == 0) {
        int r = weft_sleep(atol(t + 7) * WEFT_MSEC);
        if (r < 0)
            return r;
        return weft_http_response_write(resp, "slept", 5);
    }
    if (strcmp(t, "/header") == 0) {
        const char *v = weft_http_request_header(req, "x-test");
        return weft_http_response_write(resp, v ? v : "(none)", v ? strlen(v) : 6);
    }
    if (strcmp(t, "/rendezvous") == 0) {
        /* Completes only when every party's handler is running at once. */
        int r = weft_barrier_wait(&rendezvous, weft_after(10 * WEFT_SEC));
        return r < 0 ? r : weft_http_response_write(resp, "met", 3);
    }
    if (strcmp(t, "/fail") == 0)
        return -EIO;
    if (strcmp(t, "/nocontent") == 0)
        return weft_http_response_status(resp, 204);
    if (strcmp(t, "/peer") == 0) {
        char s[64];
        int n = weft_addr_format(req->peer, s, sizeof s);
        CHECK_GT(n, 0);
        return weft_http_response_write(resp, s, (size_t)n);
    }
    if (strcmp(t, "/badargs") == 0) {
        CHECK_ERR(weft_http_response_status(resp, 99), -EINVAL);
        CHECK_ERR(weft_http_response_status(resp, 600), -EINVAL);
        CHECK_ERR(weft_http_response_status(NULL, 200), -EINVAL);
        CHECK_ERR(weft_http_response_header(resp, "Content-Length", "3"), -EINVAL);
        CHECK_ERR(weft_http_response_header(resp, "connection", "close"), -EINVAL);
        CHECK_ERR(weft_http_response_header(resp, "Transfer-Encoding", "chunked"), -EINVAL);
        CHECK_ERR(weft_http_response_header(resp, "Bad Name", "x"), -EINVAL);
        CHECK_ERR(weft_http_response_header(resp, "", "x"), -EINVAL);
        CHECK_ERR(weft_http_response_header(resp, "X", "a\r\nInjected: 1"), -EINVAL);
        CHECK_ERR(weft_http_response_header(resp, NULL, "x"), -EINVAL);
        CHECK_ERR(weft_http_response_header(resp, "X", NULL), -EINVAL);
        CHECK_ERR(weft_http_response_write(resp, NULL, 1), -EINVAL);
        CHECK_ERR(weft_http_response_write(NULL, "x", 1), -EINVAL);
        CHECK_OK(weft_http_response_write(resp, NULL, 0));
        CHECK(weft_http_request_header(NULL, "x") == NULL);
        CHECK(weft_http_request_header(req, NULL) == NULL);
        return weft_http_response_status(resp, 202);
    }
    return weft_http_response_status(resp, 404);
}

/* ------------------------------------------------------------- the client */

typedef struct {
    int fd;
    char buf[1 << 17];
    size_t len;
} client;

typedef struct {
    int status;
    char body[1 << 17];
    size_t body_len;
    int has_close;       /* "Connection: close" */
    int has_keepalive;   /* "Connection: keep-alive" */
    long content_length; /* -1 if absent */
    char ctype[64];
} response;

static void client_open(client *c, int port) {
    c->fd = weft_tcp_connect("127.0.0.1", port, weft_after(T5));
    CHECK_GE(c->fd, 0);
    c->len = 0;
}

static void client_close(client *c) {
    CHECK_OK(weft_fd_close(c->fd));
}

static void client_send(client *c, const char *s, size_t n) {
    CHECK_EQ(weft_send(c->fd, s, n, 0, weft_after(T5)), (ssize_t)n);
}

#define SEND(c, lit) client_send((c), (lit), strlen(lit))

static int client_fill(client *c) {
    CHECK_LT(c->len, sizeof c->buf);
    ssize_t n = weft_recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0, weft_after(T5));
    CHECK(n >= 0 || n == -ECONNRESET);
    if (n > 0)
        c->len += (size_t)n;
    return n > 0;
}

static void consume(client *c, size_t n) {
    memmove(c->buf, c->buf + n, c->len - n);
    c->len -= n;
}

/* Reads one response; `head` for the answer to a HEAD request (no body). */
static void read_response(client *c, response *r, int head) {
    memset(r, 0, sizeof *r);
    r->content_length = -1;
    char *end;
    for (;;) {
        end = c->len ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (end)
            break;
        CHECK(client_fill(c));
    }
    size_t hl = (size_t)(end - c->buf) + 4;
    char head_s[8192];
    CHECK_LT(hl, sizeof head_s);
    memcpy(head_s, c->buf, hl);
    head_s[hl] = 0;
    CHECK(strncmp(head_s, "HTTP/1.1 ", 9) == 0);
    r->status = atoi(head_s + 9);
    for (char *line = strstr(head_s, "\r\n") + 2; *line && strncmp(line, "\r\n", 2);
         line = strstr(line, "\r\n") + 2) {
        if (strncasecmp(line, "Content-Length: ", 16) == 0)
            r->content_length = atol(line + 16);
        else if (strncasecmp(line, "Connection: close\r\n", 19) == 0)
            r->has_close = 1;
        else if (strncasecmp(line, "Connection: keep-alive\r\n", 24) == 0)
            r->has_keepalive = 1;
        else if (strncasecmp(line, "Content-Type: ", 14) == 0)
            sscanf(line + 14, "%63[^\r]", r->ctype);
    }
    consume(c, hl);
    size_t bl = head || r->content_length < 0 ? 0 : (size_t)r->content_length;
    CHECK_LT(bl, sizeof r->body);
    while (c->len < bl)
        CHECK(client_fill(c));
    memcpy(r->body, c->buf, bl);
    r->body[bl] = 0;
    r->body_len = bl;
    consume(c, bl);
}

/* The server closed the connection: nothing more to read. */
static void expect_eof(client *c) {
    CHECK_EQ(c->len, 0);
    CHECK(!client_fill(c));
}

static weft_http_server *start(const weft_http_opts *o) {
    weft_http_server *s = NULL;
    CHECK_OK(weft_http_server_start(&s, "127.0.0.1", 0, handler, NULL, o));
    CHECK(s != NULL);
    CHECK_GT(weft_http_server_port(s), 0);
    return s;
}

/* One request on a fresh connection that the server must answer with
 * `status` and then close. */
static void expect_rejected(int port, const char *req, size_t n, int status) {
    client *c = malloc(sizeof *c);
    response *r = malloc(sizeof *r);
    client_open(c, port);
    client_send(c, req, n);
    read_response(c, r, 0);
    CHECK_EQ(r->status, status);
    CHECK_EQ(r->has_close, 1);
    CHECK_EQ(r->content_length, 0);
    expect_eof(c);
    client_close(c);
    free(c);
    free(r);
}

/* ------------------------------------------------------------------ cases */

static client cl;
static response rs;

static void body_keepalive(void) {
    weft_http_server *s = start(NULL);
    int port = weft_http_server_port(s);
    client_open(&cl, port);
    char first_peer[64] = "";
    for (int i = 0; i < 3; i++) {
        SEND(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        read_response(&cl, &rs, 0);
        CHECK_EQ(rs.status, 200);
        CHECK_STR_EQ(rs.body, "Hello, World!");
        CHECK_EQ(rs.content_length, 13);
        CHECK_STR_EQ(rs.ctype, "text/plain");
        CHECK_EQ(rs.has_close, 0);
        /* The same connection every time. */
        SEND(&cl, "GET /peer HTTP/1.1\r\nHost: x\r\n\r\n");
        read_response(&cl, &rs, 0);
        CHECK_EQ(rs.status, 200);
        if (i == 0)
            strcpy(first_peer, rs.body);
        CHECK_STR_EQ(rs.body, first_peer);
    }
    /* 404 from the handler; the connection stays open. */
    SEND(&cl, "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 404);
    CHECK_EQ(rs.content_length, 0);
    CHECK_EQ(rs.has_close, 0);
    /* 204 has no body and no Content-Length. */
    SEND(&cl, "GET /nocontent HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 204);
    CHECK_EQ(rs.content_length, -1);
    /* Request headers reach the handler, case-insensitively, trimmed. */
    SEND(&cl, "GET /header HTTP/1.1\r\nHost: x\r\nX-Test: \t value 1 \t\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_STR_EQ(rs.body, "value 1");
    /* Response-building errors inside a handler. */
    SEND(&cl, "GET /badargs HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 202);
    /* "Connection: close" from the client: answered, then closed. */
    SEND(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 200);
    CHECK_EQ(rs.has_close, 1);
    expect_eof(&cl);
    client_close(&cl);
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

WEFT_TEST(get_keepalive) {
    run_in_thread(body_keepalive);
}

static void body_pipelining(void) {
    weft_http_server *s = start(NULL);
    client_open(&cl, weft_http_server_port(s));
    /* Five requests in one write; the first one sleeps, yet the answers
     * come in order. */
    SEND(&cl, "GET /sleep/30 HTTP/1.1\r\nHost: x\r\n\r\n"
              "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
              "GET /missing HTTP/1.1\r\nHost: x\r\n\r\n"
              "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
              "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nsecond");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 200);
    CHECK_STR_EQ(rs.body, "slept");
    read_response(&cl, &rs, 0);
    CHECK_STR_EQ(rs.body, "first");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 404);
    read_response(&cl, &rs, 1);
    CHECK_EQ(rs.status, 200);
    CHECK_EQ(rs.content_length, 13);
    read_response(&cl, &rs, 0);
    CHECK_STR_EQ(rs.body, "second");
    CHECK_EQ(cl.len, 0); /* HEAD sent no body bytes */
    /* A request split into single bytes. */
    const char *req = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
    for (size_t i = 0; req[i]; i++)
        client_send(&cl, req + i, 1);
    read_response(&cl, &rs, 0);
    CHECK_STR_EQ(rs.body, "abc");
    client_close(&cl);
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

WEFT_TEST(pipelining_and_head) {
    run_in_thread(body_pipelining);
}

static void body_post(void) {
    weft_http_server *s = start(NULL);
    client_open(&cl, weft_http_server_port(s));
    size_t n = 100000;
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    char head[128];
    int hl = snprintf(head, sizeof head,
                      "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
    client_send(&cl, head, (size_t)hl);
    for (size_t off = 0; off < n; off += 7000)
        client_send(&cl, body + off, n - off < 7000 ? n - off : 7000);
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 200);
    CHECK_EQ(rs.body_len, n);
    CHECK(memcmp(rs.body, body, n) == 0);
    /* Expect: 100-continue is answered before the body is sent. */
    SEND(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
              "Expect: 100-continue\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 100);
    SEND(&cl, "data");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 200);
    CHECK_STR_EQ(rs.body, "data");
    client_close(&cl);
    free(body);
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

WEFT_TEST(post_body) {
    run_in_thread(body_post);
}

static void body_http10(void) {
    weft_http_server *s = start(NULL);
    int port = weft_http_server_port(s);
    client_open(&cl, port);
    SEND(&cl, "GET /hello HTTP/1.0\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 200);
    CHECK_EQ(rs.has_close, 1);
    expect_eof(&cl);
    client_close(&cl);
    client_open(&cl, port);
    for (int i = 0; i < 2; i++) {
        SEND(&cl, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        read_response(&cl, &rs, 0);
        CHECK_EQ(rs.status, 200);
        CHECK_EQ(rs.has_keepalive, 1);
    }
    client_close(&cl);
    /* A handler error: 500, then the connection is closed. */
    client_open(&cl, port);
    SEND(&cl, "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 500);
    CHECK_EQ(rs.has_close, 1);
    expect_eof(&cl);
    client_close(&cl);
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

WEFT_TEST(http10_and_500) {
    run_in_thread(body_http10);
}

static void body_malformed(void) {
    weft_http_opts o = {.max_body = 1000};
    weft_http_server *s = start(&o);
    int port = weft_http_server_port(s);
#define REJ(lit, st) expect_rejected(port, lit, sizeof(lit) - 1, st)
    REJ("GARBAGE\r\n\r\n", 400);
    REJ("GET /\r\n\r\n", 400);
    REJ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400);
    REJ("GET / HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400);
    REJ("GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400);
    REJ("GET / HTTP/1.1\r\n\r\n", 400);                       /* no Host */
    REJ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400); /* two */
    REJ("GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n", 400);
    REJ("GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400);
    REJ("GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400);
    REJ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400);
    REJ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400);
    REJ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400);
    REJ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400);
    REJ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400);
    REJ("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n", 413);
    REJ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
    REJ("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Content-Length: 3\r\n\r\n",
        400);
    REJ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    REJ("GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505);
#undef REJ
    /* Too long: the request line (414), one header (431), too many headers (431). */
    static char big[40000];
    int n = snprintf(big, sizeof big, "GET /%0*d HTTP/1.1\r\nHost: x\r\n\r\n", 9000, 0);
    expect_rejected(port, big, (size_t)n, 414);
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %0*d\r\n\r\n", 20000, 0);
    expect_rejected(port, big, (size_t)n, 431);
    n = snprintf(big, sizeof big, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 101; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "X-%d: v\r\n", i);
    n += snprintf(big + n, sizeof big - (size_t)n, "\r\n");
    expect_rejected(port, big, (size_t)n, 431);
    /* 100 headers are fine. */
    n = snprintf(big, sizeof big, "GET /hello HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 99; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "X-%d: v\r\n", i);
    n += snprintf(big + n, sizeof big - (size_t)n, "\r\n");
    client_open(&cl, port);
    client_send(&cl, big, (size_t)n);
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 200);
    /* A bad request after a good one on the same connection: the good one
     * is answered, then the 400, then the connection closes. */
    SEND(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nNONSENSE\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 200);
    read_response(&cl, &rs, 0);
    CHECK_EQ(rs.status, 400);
    expect_eof(&cl);
    client_close(&cl);
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

WEFT_TEST(malformed_requests) {
    run_in_thread(body_malformed);
}

static void body_idle(void) {
    weft_http_opts o = {.idle_timeout = 50 * WEFT_MSEC};
    weft_http_server *s = start(&o);
    client_open(&cl, weft_http_server_port(s));
    int64_t t0 = weft_now();
    expect_eof(&cl); /* sent nothing: closed after the idle timeout */
    CHECK_GE(weft_now() - t0, 40 * WEFT_MSEC);
    client_close(&cl);
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

WEFT_TEST(idle_timeout) {
    run_in_thread(body_idle);
}

/* ---------------------------------------------------- many clients, sleeping */

typedef struct {
    int port;
    int requests;
    const char *path;
    int ok;
} load_arg;

static void *load_client(void *p) {
    load_arg *a = p;
    client *c = malloc(sizeof *c);
    response *r = malloc(sizeof *r);
    client_open(c, a->port);
    char req[128];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", a->path);
    for (int i = 0; i < a->requests; i++) {
        client_send(c, req, (size_t)n);
        read_response(c, r, 0);
        CHECK_EQ(r->status, 200);
        a->ok++;
    }
    client_close(c);
    free(c);
    free(r);
    return NULL;
}

static void body_many(void) {
    weft_http_server *s = start(NULL);
    enum { N = 100, R = 5 };
    static load_arg args[N];
    static weft_coro cs[N];
    atomic_store(&served, 0);
    for (int i = 0; i < N; i++) {
        args[i] = (load_arg){weft_http_server_port(s), R, "/hello", 0};
        CHECK_OK(weft_spawn(&cs[i], load_client, &args[i], NULL));
    }
    CHECK_OK(weft_joinall(cs, N, weft_after(60 * WEFT_SEC), NULL));
    for (int i = 0; i < N; i++)
        CHECK_EQ(args[i].ok, R);
    CHECK_EQ(atomic_load(&served), N * R);
    /* Handlers that block run concurrently: 20 of them wait on one barrier
     * of 20 parties, which opens only if all are in progress at once. */
    static load_arg sl[20];
    CHECK_OK(weft_barrier_init(&rendezvous, 20));
    for (int i = 0; i < 20; i++) {
        sl[i] = (load_arg){weft_http_server_port(s), 1, "/rendezvous", 0};
        CHECK_OK(weft_spawn(&cs[i], load_client, &sl[i], NULL));
    }
    CHECK_OK(weft_joinall(cs, 20, weft_after(60 * WEFT_SEC), NULL));
    for (int i = 0; i < 20; i++)
        CHECK_EQ(sl[i].ok, 1);
    CHECK_OK(weft_barrier_destroy(&rendezvous));
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

WEFT_TEST(many_clients) {
    run_in_thread(body_many);
}

/* ------------------------------------------------------------------ stop */

typedef struct {
    int port;
    const char *path;
    int status;
    int closed;
    weft_event *sent;
} slow_arg;

static void *slow_client(void *p) {
    slow_arg *a = p;
    client *c = malloc(sizeof *c);
    response *r = malloc(sizeof *r);
    client_open(c, a->port);
    char req[128];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", a->path);
    client_send(c, req, (size_t)n);
    CHECK_OK(weft_event_set(a->sent));
    read_response(c, r, 0);
    a->status = r->status;
    a->closed = r->has_close;
    expect_eof(c);
    client_close(c);
    free(c);
    free(r);
    return NULL;
}

static void body_stop(void) {
    weft_http_server *s = start(NULL);
    int port = weft_http_server_port(s);
    /* Two idle keep-alive connections. */
    static client idle[2];
    for (int i = 0; i < 2; i++) {
        client_open(&idle[i], port);
        SEND(&idle[i], "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        read_response(&idle[i], &rs, 0);
        CHECK_EQ(rs.status, 200);
    }
    /* One request in progress (its handler sleeps 100 ms). */
    weft_event sent;
    CHECK_OK(weft_event_init(&sent));
    slow_arg a = {port, "/sleep/100", 0, 0, &sent};
    weft_coro c;
    CHECK_OK(weft_spawn(&c, slow_client, &a, NULL));
    CHECK_OK(weft_event_wait(&sent, weft_after(T5)));
    while (atomic_load(&served) == 0)
        CHECK_OK(weft_yield());
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
    /* The request in progress was answered, with Connection: close. */
    CHECK_OK(weft_join(c, weft_after(T5), NULL));
    CHECK_EQ(a.status, 200);
    CHECK_EQ(a.closed, 1);
    /* The idle ones were closed; new connections are refused. */
    for (int i = 0; i < 2; i++) {
        expect_eof(&idle[i]);
        client_close(&idle[i]);
    }
    CHECK_ERR(weft_tcp_connect("127.0.0.1", port, weft_after(T5)), -ECONNREFUSED);
    CHECK_OK(weft_event_destroy(&sent));
}

WEFT_TEST(stop_with_clients) {
    atomic_store(&served, 0);
    run_in_thread(body_stop);
}

/* A handler still sleeping at the deadline is cancelled: it returns
 * -ECANCELED, its client gets a 500 and the stop returns promptly. */
static void body_stop_deadline(void) {
    weft_http_server *s = start(NULL);
    weft_event sent;
    CHECK_OK(weft_event_init(&sent));
    slow_arg a = {weft_http_server_port(s), "/sleep/20000", 0, 0, &sent};
    weft_coro c;
    CHECK_OK(weft_spawn(&c, slow_client, &a, NULL));
    CHECK_OK(weft_event_wait(&sent, weft_after(T5)));
    while (atomic_load(&served) == 0)
        CHECK_OK(weft_yield());
    int64_t t0 = weft_now();
    CHECK_OK(weft_http_server_stop(s, weft_after(50 * WEFT_MSEC)));
    CHECK_LT(weft_now() - t0, 5 * WEFT_SEC);
    CHECK_OK(weft_join(c, weft_after(T5), NULL));
    CHECK_EQ(a.status, 500);
    CHECK_EQ(a.closed, 1);
    CHECK_OK(weft_event_destroy(&sent));
}

WEFT_TEST(stop_past_deadline) {
    atomic_store(&served, 0);
    run_in_thread(body_stop_deadline);
}

/* A cancelled coroutine stopping the server: the stop finishes in the
 * background and frees everything. */
static weft_http_server *cancel_srv;
static int cancel_r;

static void *cancelled_stopper(void *p) {
    (void)p;
    CHECK_OK(weft_cancel(weft_self()));
    cancel_r = weft_http_server_stop(cancel_srv, WEFT_FOREVER);
    return NULL;
}

static void body_stop_cancelled(void) {
    cancel_srv = start(NULL);
    client_open(&cl, weft_http_server_port(cancel_srv));
    SEND(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&cl, &rs, 0);
    weft_coro c;
    CHECK_OK(weft_spawn(&c, cancelled_stopper, NULL, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_ERR(cancel_r, -ECANCELED);
    expect_eof(&cl);
    client_close(&cl);
    while (weft_coro_count() > 0)
        CHECK_OK(weft_sleep(WEFT_MSEC));
}

WEFT_TEST(stop_cancelled_caller) {
    run_in_thread(body_stop_cancelled);
}

static weft_http_server *deadlk_srv;

static int stopping_handler(const weft_http_request *req, weft_http_response *resp, void *arg) {
    (void)req;
    (void)arg;
    CHECK_ERR(weft_http_server_stop(deadlk_srv, WEFT_FOREVER), -EDEADLK);
    return weft_http_response_write(resp, "ok", 2);
}

static weft_http_server *xdev_srv;
static void xdev_thread(void) {
    CHECK_ERR(weft_http_server_stop(xdev_srv, 0), -EXDEV);
}

static void body_stop_misuse(void) {
    CHECK_OK(weft_http_server_start(&deadlk_srv, "127.0.0.1", 0, stopping_handler, NULL, NULL));
    client_open(&cl, weft_http_server_port(deadlk_srv));
    SEND(&cl, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&cl, &rs, 0);
    CHECK_STR_EQ(rs.body, "ok");
    client_close(&cl);
    xdev_srv = deadlk_srv;
    run_plain_in_thread(xdev_thread);
    CHECK_OK(weft_http_server_stop(deadlk_srv, weft_after(T5)));
}

WEFT_TEST(stop_misuse) {
    run_in_thread(body_stop_misuse);
}

/* ------------------------------------------------------------- threads */

WEFT_TEST(server_threads) {
    /* Served by two threads of its own; the test thread is a plain thread. */
    weft_http_opts o = {.threads = 2};
    weft_http_server *s = start(&o);
    int port = weft_http_server_port(s);
    for (int k = 0; k < 4; k++) {
        client_open(&cl, port);
        for (int i = 0; i < 3; i++) {
            SEND(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            read_response(&cl, &rs, 0);
            CHECK_EQ(rs.status, 200);
            CHECK_STR_EQ(rs.body, "Hello, World!");
        }
        if (k == 3)
            break; /* left open across the stop */
        client_close(&cl);
    }
    CHECK(weft__sched_get() == NULL);
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
    expect_eof(&cl);
    client_close(&cl);
}

/* --------------------------------------------------------- bad arguments */

static void body_bad_args(void) {
    weft_http_server *s = NULL;
    CHECK_ERR(weft_http_server_start(NULL, "127.0.0.1", 0, handler, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_http_server_start(&s, NULL, 0, handler, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_http_server_start(&s, "127.0.0.1", 0, NULL, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_http_server_start(&s, "127.0.0.1", -1, handler, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_http_server_start(&s, "127.0.0.1", 65536, handler, NULL, NULL), -EINVAL);
    weft_http_opts bad[] = {{.threads = -1},
                            {.threads = 257},
                            {.backlog = -1},
                            {.max_headers = -1},
                            {.max_request_line = 2 << 20},
                            {.max_body = ((size_t)1 << 30) + 1},
                            {.reuseport = 2}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_ERR(weft_http_server_start(&s, "127.0.0.1", 0, handler, NULL, &bad[i]), -EINVAL);
    CHECK(s == NULL);
    CHECK_ERR(weft_http_server_port(NULL), -EINVAL);
    CHECK_ERR(weft_http_server_stop(NULL, 0), -EINVAL);
    /* The port is taken. */
    s = start(NULL);
    weft_http_server *s2 = NULL;
    CHECK_ERR(
        weft_http_server_start(&s2, "127.0.0.1", weft_http_server_port(s), handler, NULL, NULL),
        -EADDRINUSE);
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
    /* Out of memory at every step of start, a request and stop: clean
     * failures, nothing left. */
    for (int k = 0; k < 200; k++) {
        test_alloc_fail_after(k);
        int r = weft_http_server_start(&s, "127.0.0.1", 0, handler, NULL, NULL);
        test_alloc_fail_after(-1);
        if (r == 0) {
            CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
            break;
        }
        CHECK_ERR(r, -ENOMEM);
    }
}

WEFT_TEST(bad_args) {
    run_in_thread(body_bad_args);
}

static void body_oom_connection(void) {
    weft_http_server *s = start(NULL);
    int port = weft_http_server_port(s);
    /* A connection whose buffers cannot be allocated is closed. */
    for (int k = 0; k < 12; k++) {
        client_open(&cl, port);
        test_alloc_fail_after(k);
        SEND(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
        int closed = 0;
        while (!closed) {
            char *end = cl.len ? memmem(cl.buf, cl.len, "\r\n\r\n", 4) : NULL;
            if (end && cl.len >= (size_t)(end - cl.buf) + 4 + 13)
                break;
            closed = !client_fill(&cl);
        }
        test_alloc_fail_after(-1);
        client_close(&cl);
    }
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

WEFT_TEST(out_of_memory_connection) {
    run_in_thread(body_oom_connection);
}

/* ------------------------------------------ 100 Continue only when asked */

/* Reads until a whole status line is buffered and checks it is exactly
 * `line` (the first status line the server sent, before read_response). */
static void expect_status_line(client *c, const char *line) {
    while (!(c->len && memmem(c->buf, c->len, "\r\n", 2)))
        CHECK(client_fill(c));
    size_t n = (size_t)((char *)memmem(c->buf, c->len, "\r\n", 2) - c->buf);
    CHECK_EQ(n, strlen(line));
    CHECK(memcmp(c->buf, line, n) == 0);
}

/* One GET /hello on c, answered by exactly "200 OK" (no 100 first). */
static void get_hello(client *c, int minor) {
    if (minor)
        SEND(c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
    else
        SEND(c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    expect_status_line(c, "HTTP/1.1 200 OK");
    read_response(c, &rs, 0);
    CHECK_EQ(rs.status, 200);
    CHECK_STR_EQ(rs.body, "Hello, World!");
}

/* One server thread (its connection coroutines reuse each other's stacks):
 * a request with "Expect: 100-continue" gets exactly one 100 and then its
 * response; nothing after it (keep-alive requests on that connection,
 * fresh connections in HTTP/1.1 and 1.0) sees a 100. */
WEFT_TEST(continue_only_when_asked) {
    weft_http_opts o = {.threads = 1};
    weft_http_server *s = start(&o);
    int port = weft_http_server_port(s);
    for (int round = 0; round < 20; round++) {
        client_open(&cl, port);
        SEND(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                  "Expect: 100-continue\r\n\r\n");
        expect_status_line(&cl, "HTTP/1.1 100 Continue");
        read_response(&cl, &rs, 0);
        CHECK_EQ(rs.status, 100);
        CHECK_EQ(cl.len, 0);
        SEND(&cl, "da");
        SEND(&cl, "ta");
        expect_status_line(&cl, "HTTP/1.1 200 OK");
        read_response(&cl, &rs, 0);
        CHECK_STR_EQ(rs.body, "data");
        CHECK_EQ(cl.len, 0);
        /* Keep-alive requests on the same connection, without Expect: a
         * GET, and a POST whose head and body come in separate writes. */
        get_hello(&cl, 1);
        SEND(&cl, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n");
        SEND(&cl, "abc");
        expect_status_line(&cl, "HTTP/1.1 200 OK");
        read_response(&cl, &rs, 0);
        CHECK_STR_EQ(rs.body, "abc");
        get_hello(&cl, 0);
        /* Expect in HTTP/1.0 is not answered with 100. */
        SEND(&cl, "POST /echo HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 2\r\n"
                  "Expect: 100-continue\r\n\r\n");
        SEND(&cl, "ok");
        expect_status_line(&cl, "HTTP/1.1 200 OK");
        read_response(&cl, &rs, 0);
        CHECK_STR_EQ(rs.body, "ok");
        CHECK_EQ(cl.len, 0);
        client_close(&cl);
        /* Fresh connections, HTTP/1.1 and HTTP/1.0. */
        for (int i = 0; i < 4; i++) {
            client_open(&cl, port);
            get_hello(&cl, i & 1);
            CHECK_EQ(cl.len, 0);
            client_close(&cl);
        }
    }
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

/* ------------------------------------- early answers are readable (linger) */

/* A plain blocking socket to 127.0.0.1:port (5 s send and receive timeouts). */
static int raw_open(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK_GE(fd, 0);
    struct timeval tv = {5, 0};
    CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv));
    CHECK_OK(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK_OK(connect(fd, (struct sockaddr *)&a, sizeof a));
    return fd;
}

/* Sends n bytes; 0, or minus the errno of the send that failed. */
static int raw_send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
        if (r < 0)
            return -errno;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Reads to the end of the stream (at most cap - 1 bytes, NUL-terminated);
 * returns the byte count, *err 0 at a clean end, else minus the errno. */
static size_t raw_read_all(int fd, char *buf, size_t cap, int *err) {
    size_t len = 0;
    *err = 0;
    while (len < cap - 1) {
        ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
        if (r < 0) {
            *err = -errno;
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    buf[len] = 0;
    return len;
}

#define HUGE_BODY ((size_t)8 << 20)

/* The whole oversized request, sent before reading anything: the answer
 * (status line exact, then the end of the stream) is still readable. */
static void huge_request(int port, const char *head, size_t body, const char *tail,
                         const char *line) {
    static char filler[HUGE_BODY];
    memset(filler, 'a', sizeof filler);
    CHECK_LE(body, sizeof filler);
    int fd = raw_open(port);
    CHECK_OK(raw_send_all(fd, head, strlen(head)));
    CHECK_OK(raw_send_all(fd, filler, body));
    CHECK_OK(raw_send_all(fd, tail, strlen(tail)));
    char buf[1024];
    int err;
    size_t n = raw_read_all(fd, buf, sizeof buf, &err);
    CHECK_ERR(err, 0);
    CHECK_GT(n, strlen(line) + 2);
    CHECK(strncmp(buf, line, strlen(line)) == 0);
    CHECK(strncmp(buf + strlen(line), "\r\n", 2) == 0);
    CHECK(strstr(buf, "\r\nConnection: close\r\n") != NULL);
    CHECK_OK(close(fd));
}

/* WEFT_TEST_TIMEOUT(early_answer_readable, 300) */
WEFT_TEST(early_answer_readable) {
    weft_http_opts o = {.threads = 1, .max_body = 1000};
    weft_http_server *s = start(&o);
    int port = weft_http_server_port(s);
    char head[128];
    snprintf(head, sizeof head, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             HUGE_BODY);
    for (int i = 0; i < 50; i++) {
        huge_request(port, head, HUGE_BODY, "", "HTTP/1.1 413 Content Too Large");
        huge_request(port, "GET /", (size_t)1 << 20, " HTTP/1.1\r\nHost: x\r\n\r\n",
                     "HTTP/1.1 414 URI Too Long");
        huge_request(port, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: ", (size_t)1 << 20, "\r\n\r\n",
                     "HTTP/1.1 431 Request Header Fields Too Large");
        /* A handler error closes the connection with a pipelined request
         * unread. */
        huge_request(port,
                     "GET /fail HTTP/1.1\r\nHost: x\r\n\r\n"
                     "PUT /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\n",
                     (size_t)1 << 20, "", "HTTP/1.1 500 Internal Server Error");
    }
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

/* Starts a request the server refuses at once (413) and reads the answer's
 * status line; the connection is left lingering. */
static int refused_upload(int port) {
    int fd = raw_open(port);
    const char *head = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n";
    CHECK_OK(raw_send_all(fd, head, strlen(head)));
    char buf[32];
    size_t n = 0;
    while (n < 30) {
        ssize_t r = recv(fd, buf + n, 30 - n, 0);
        CHECK_GT(r, 0);
        n += (size_t)r;
    }
    CHECK(memcmp(buf, "HTTP/1.1 413 Content Too Large", 30) == 0);
    return fd;
}

/* A client that never stops sending is cut off: after WEFT_HTTP_LINGER_BYTES
 * drained bytes (fast sender), and after the linger time (slow sender; the
 * time is the idle timeout when shorter than 5 s). */
WEFT_TEST(linger_bounded) {
    static char chunk[65536];
    memset(chunk, 'b', sizeof chunk);
    /* Fast: sends until the server closes, which it does once it has
     * drained 16 MiB (well within the 5 s). */
    weft_http_opts o = {.threads = 1, .max_body = 1000};
    weft_http_server *s = start(&o);
    int fd = refused_upload(weft_http_server_port(s));
    size_t sent = 0;
    int r = 0;
    while (r == 0 && sent < ((size_t)1 << 30)) {
        r = raw_send_all(fd, chunk, sizeof chunk);
        if (r == 0)
            sent += sizeof chunk;
    }
    CHECK(r == -EPIPE || r == -ECONNRESET);
    CHECK_GE(sent, (size_t)16 << 20);
    CHECK_OK(close(fd));
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
    /* Slow: 100 bytes every 20 ms; cut off by time (the 300 ms idle
     * timeout), long before the byte bound. */
    o.idle_timeout = 300 * WEFT_MSEC;
    s = start(&o);
    fd = refused_upload(weft_http_server_port(s));
    r = 0;
    for (int i = 0; i < 500 && r == 0; i++) {
        r = raw_send_all(fd, chunk, 100);
        if (r == 0)
            CHECK_OK(weft_sleep(20 * WEFT_MSEC));
    }
    CHECK(r == -EPIPE || r == -ECONNRESET);
    CHECK_OK(close(fd));
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
}

/* A stopping server does not wait for lingering connections. */
WEFT_TEST(stop_cancels_linger) {
    weft_http_opts o = {.threads = 1, .max_body = 1000};
    weft_http_server *s = start(&o);
    int fd = refused_upload(weft_http_server_port(s));
    int64_t t0 = weft_now();
    CHECK_OK(weft_http_server_stop(s, WEFT_FOREVER));
    CHECK_LT(weft_now() - t0, 4 * WEFT_SEC); /* the linger lasts 5 s */
    char buf[256];
    int err;
    raw_read_all(fd, buf, sizeof buf, &err);
    CHECK(err == 0 || err == -ECONNRESET);
    CHECK_OK(close(fd));
}

/* ------------------------------------------------------------ the parser */

static const weft__http_limits lim = {64, 128, 4, 100};

static long parse(const char *s, weft__http_req *rq, weft__http_hdr *h) {
    return weft__http_parse(s, strlen(s), &lim, rq, h);
}

WEFT_TEST(parser) {
    weft__http_req rq;
    weft__http_hdr h[4];
    const char *s = "\r\nGET /a?b HTTP/1.1\r\nHost: h\r\nX:  v v \r\n\r\nrest";
    CHECK_EQ(parse(s, &rq, h), (long)strlen(s) - 4);
    CHECK_EQ(rq.method.off, 2);
    CHECK_EQ(rq.method.len, 3);
    CHECK(strncmp(s + rq.target.off, "/a?b", rq.target.len) == 0);
    CHECK_EQ(rq.minor, 1);
    CHECK_EQ(rq.nheaders, 2);
    CHECK(strncmp(s + h[1].value.off, "v v", h[1].value.len) == 0 && h[1].value.len == 3);
    CHECK_EQ(rq.keep_alive, 1);
    CHECK_EQ(rq.content_length, 0);
    /* Bare LF line ends are accepted. */
    CHECK_GT(parse("GET / HTTP/1.0\n\n", &rq, h), 0);
    CHECK_EQ(rq.keep_alive, 0);
    CHECK_GT(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &rq, h), 0);
    CHECK_EQ(rq.keep_alive, 1);
    CHECK_GT(parse("GET / HTTP/1.1\r\nHost: h\r\nConnection: foo, close\r\n\r\n", &rq, h), 0);
    CHECK_EQ(rq.keep_alive, 0);
    /* Incomplete at every length. */
    const char *full = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    for (size_t i = 0; i < strlen(full); i++)
        CHECK_EQ(weft__http_parse(full, i, &lim, &rq, h), 0);
    CHECK_EQ(weft__http_parse(full, strlen(full), &lim, &rq, h), (long)strlen(full));
    CHECK_EQ(weft__http_parse(full, strlen(full) - 1, &lim, &rq, h), 0);
    CHECK_EQ(rq.head_len, strlen(full) - 3); /* head complete, body missing */
    /* Limits: line 64, headers 128 bytes and 4 lines, body 100. */
    char b[512];
    snprintf(b, sizeof b, "GET /%0*d HTTP/1.1\r\n", 50, 0); /* 64: fits */
    CHECK_EQ(parse(b, &rq, h), 0);
    snprintf(b, sizeof b, "GET /%0*d HTTP/1.1\r\n", 51, 0);
    CHECK_EQ(parse(b, &rq, h), -414);
    snprintf(b, sizeof b, "GET /%0*d", 70, 0); /* no line end yet, already too long */
    CHECK_EQ(parse(b, &rq, h), -414);
    snprintf(b, sizeof b, "GET / HTTP/1.1\r\nHost: h\r\nX: %0*d\r\n\r\n", 120, 0);
    CHECK_EQ(parse(b, &rq, h), -431);
    snprintf(b, sizeof b, "GET / HTTP/1.1\r\nX: %0*d", 200, 0);
    CHECK_EQ(parse(b, &rq, h), -431);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\n\r\n", &rq, h),
             -431);
    CHECK_GT(parse("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 1\r\nC: 1\r\n\r\n", &rq, h), 0);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n\r\n", &rq, h), -413);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: h\r\nX: \x01\r\n\r\n", &rq, h), -400);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: h\r\nX : v\r\n\r\n", &rq, h), -400);
    CHECK_EQ(parse("GET /\x7f HTTP/1.1\r\n", &rq, h), -400);
    CHECK_EQ(parse("\r\r\n", &rq, h), -400);
    CHECK_EQ(parse("GET / HTTP/1.1\r\n folded", &rq, h), -400);
    CHECK_EQ(parse("GET / HTTP/3.0\r\n\r\n", &rq, h), -505);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-Continue\r\n"
                   "Content-Length: 2\r\n\r\n",
                   &rq, h),
             0);
    CHECK_EQ(rq.expect_continue, 1);
}

/* A server started in a worker group's coroutine is served by the group: its
 * acceptor and connections are the group's coroutines, on either worker. */
static weft_event grp_up, grp_done;
static atomic_int grp_port;
static void *group_server(void *arg) {
    (void)arg;
    weft_http_server *s = start(NULL);
    atomic_store(&grp_port, weft_http_server_port(s));
    CHECK_OK(weft_event_set(&grp_up));
    CHECK_OK(weft_event_wait(&grp_done, weft_after(30 * WEFT_SEC)));
    CHECK_OK(weft_http_server_stop(s, weft_after(T5)));
    return NULL;
}

WEFT_TEST(group_served) {
    weft_group *g;
    CHECK_OK(weft_group_create(&g, &(weft_group_opts){.threads = 2, .migrate = 1}));
    CHECK_OK(weft_event_init(&grp_up));
    CHECK_OK(weft_event_init(&grp_done));
    weft_coro c;
    CHECK_OK(weft_group_spawn(g, &c, group_server, NULL, NULL));
    CHECK_OK(weft_event_wait(&grp_up, weft_after(T5)));
    int port = atomic_load(&grp_port);
    int before = atomic_load(&served);
    for (int k = 0; k < 5; k++) {
        client_open(&cl, port);
        for (int i = 0; i < 20; i++) {
            SEND(&cl, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
            read_response(&cl, &rs, 0);
            CHECK_EQ(rs.status, 200);
            CHECK_STR_EQ(rs.body, "Hello, World!");
        }
        client_close(&cl);
    }
    CHECK_EQ(atomic_load(&served) - before, 100);
    client_open(&cl, port); /* left open: the stop closes it */
    CHECK_OK(weft_event_set(&grp_done));
    CHECK_OK(weft_join(c, weft_after(30 * WEFT_SEC), NULL));
    client_close(&cl);
    CHECK_OK(weft_group_destroy(g));
    CHECK_OK(weft_event_destroy(&grp_up));
    CHECK_OK(weft_event_destroy(&grp_done));
}

WEFT_MAIN()
