/* http_server, libuv peer: a uv TCP "Hello, World!" server on one loop thread (libuv has
 * one loop per thread; one thread, as Node) under `wrk -t1 -c64 -dNs` on loopback, req/s.
 * The parser is the minimum: every "\r\n\r\n" in what a connection sent is one request
 * (wrk sends GETs without bodies), answered with a fixed keep-alive response.
 * Usage: http_server_libuv [SECONDS]; BENCH_QUICK=1 reduced. Prints skipped without wrk.
 * bench-needs: uv.h
 * bench-libs: -luv
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "uv_common.h"

static const char RESP[] = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n"
                           "\r\nHello, World!";

typedef struct {
    uv_tcp_t tcp;
    int state; /* how many bytes of "\r\n\r\n" were last seen */
} conn;

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    static char buf[65536];
    (void)sz;
    *b = uv_buf_init(buf, sizeof buf);
}

static void on_close(uv_handle_t *h) {
    free(h);
}

static void on_write(uv_write_t *w, int status) {
    (void)status;
    free(w);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    conn *c = (conn *)s;
    if (n < 0) {
        uv_close((uv_handle_t *)s, on_close);
        return;
    }
    int reqs = 0;
    static const char end[] = "\r\n\r\n";
    for (ssize_t i = 0; i < n; i++) {
        char ch = b->base[i];
        if (ch == end[c->state])
            c->state++;
        else
            c->state = ch == '\r' ? 1 : 0;
        if (c->state == 4) {
            reqs++;
            c->state = 0;
        }
    }
    if (reqs == 0)
        return;
    uv_write_t *w = malloc(sizeof *w + (size_t)reqs * (sizeof RESP - 1));
    if (!w)
        abort();
    char *out = (char *)(w + 1);
    for (int i = 0; i < reqs; i++)
        memcpy(out + (size_t)i * (sizeof RESP - 1), RESP, sizeof RESP - 1);
    uv_buf_t ob = uv_buf_init(out, (unsigned)((size_t)reqs * (sizeof RESP - 1)));
    if (uv_write(w, s, &ob, 1, on_write) != 0)
        free(w);
}

static void on_conn(uv_stream_t *srv, int status) {
    if (status < 0)
        return;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        abort();
    uv_tcp_init(srv->loop, &c->tcp);
    if (uv_accept(srv, (uv_stream_t *)&c->tcp) == 0) {
        uv_tcp_nodelay(&c->tcp, 1);
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    } else {
        uv_close((uv_handle_t *)&c->tcp, on_close);
    }
}

static uv_tcp_t server;
static uv_pipe_t wrk_out;
static uv_process_t wrk;
static char text[8192];
static size_t text_len;

static void on_wrk_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b) {
    (void)h;
    (void)sz;
    *b = uv_buf_init(text + text_len, (unsigned)(sizeof text - 1 - text_len));
}

static void on_wrk_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b) {
    (void)b;
    if (n > 0)
        text_len += (size_t)n;
    else if (n < 0)
        uv_close((uv_handle_t *)s, NULL);
}

static void on_wrk_exit(uv_process_t *p, int64_t status, int sig) {
    (void)sig;
    if (status != 0)
        fprintf(stderr, "http_server_libuv: wrk exited with %lld\n", (long long)status);
    uv_close((uv_handle_t *)p, NULL);
    uv_close((uv_handle_t *)&server, NULL);
    uv_stop(p->loop);
}

int main(int argc, char **argv) {
    long secs = peer_size(argc, argv, 5, 2);
    if (system("command -v wrk >/dev/null 2>&1") != 0) {
        fprintf(stderr, "note: wrk is not installed\n");
        printf("http_server\tlibuv\tskipped\treq/s\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t *loop = uv_default_loop();
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &server);
    if (uv_tcp_bind(&server, (const struct sockaddr *)&a, 0) != 0 ||
        uv_listen((uv_stream_t *)&server, 1024, on_conn) != 0)
        return 1;
    struct sockaddr_in me;
    int len = sizeof me;
    uv_tcp_getsockname(&server, (struct sockaddr *)&me, &len);
    char url[64], dur[32];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", ntohs(me.sin_port));
    snprintf(dur, sizeof dur, "-d%lds", secs);
    char *args[] = {"wrk", "-t1", "-c64", dur, url, NULL};
    uv_pipe_init(loop, &wrk_out, 0);
    uv_stdio_container_t io[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&wrk_out},
        {.flags = UV_INHERIT_FD, .data.fd = 2}};
    uv_process_options_t o = {
        .exit_cb = on_wrk_exit, .file = "wrk", .args = args, .stdio_count = 3, .stdio = io};
    if (uv_spawn(loop, &wrk, &o) != 0)
        return 1;
    uv_read_start((uv_stream_t *)&wrk_out, on_wrk_alloc, on_wrk_read);
    uv_run(loop, UV_RUN_DEFAULT);
    text[text_len] = 0;
    const char *r = strstr(text, "Requests/sec:");
    double rps = r ? atof(r + 13) : -1;
    if (strstr(text, "Non-2xx") || strstr(text, "Socket errors"))
        fprintf(stderr, "note: libuv http_server: wrk reported errors:\n%s", text);
    if (rps <= 0) {
        fprintf(stderr, "http_server_libuv: no figure from wrk:\n%s", text);
        return 1;
    }
    fprintf(stderr, "note: libuv %s: one loop thread, wrk -t1 -c64 -d%lds on the same cores\n",
            uv_version_string(), secs);
    printf("http_server\tlibuv\t%.1f\treq/s\n", rps);
    return 0;
}
