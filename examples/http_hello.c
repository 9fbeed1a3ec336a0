/*
 * http_hello: weft's HTTP/1.1 server and client socket helpers in one program.
 *
 *   http_hello            start a server on 127.0.0.1 (a free port), make a few
 *                         requests to it over one keep-alive connection with
 *                         weft_tcp_connect / weft_send / weft_recv, print what
 *                         came back, stop the server. Exit status 0 only if
 *                         every answer was the expected one.
 *   http_hello --serve PORT   only serve, until killed (try curl 127.0.0.1:PORT/)
 *
 * The server runs on the main thread's scheduler: its acceptor and connection
 * coroutines run whenever main blocks in a weft call (here: in the client's
 * own reads), so one thread is both server and client. The handler may block:
 * /slow sleeps with weft_sleep, parking only its own connection.
 */
#include <weft.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int hello(const weft_http_request *req, weft_http_response *resp, void *arg) {
    int *count = arg;
    (*count)++;
    int r = weft_http_response_header(resp, "Content-Type", "text/plain");
    if (r < 0)
        return r;
    if (strcmp(req->target, "/") == 0)
        return weft_http_response_write(resp, "Hello, World!\n", 14);
    if (strcmp(req->target, "/slow") == 0) {
        r = weft_sleep(50 * WEFT_MSEC);
        return r < 0 ? r : weft_http_response_write(resp, "Slept 50 ms\n", 12);
    }
    if (strcmp(req->target, "/echo") == 0 && strcmp(req->method, "POST") == 0)
        return weft_http_response_write(resp, req->body, req->body_len);
    r = weft_http_response_status(resp, 404);
    return r < 0 ? r : weft_http_response_write(resp, "Not Found\n", 10);
}

/* Reads one response (status line, headers, Content-Length body) from fd
 * into buf; returns the status, the body in *body / *body_len. */
static int read_response(int fd, char *buf, size_t cap, size_t *have, char **body,
                         size_t *body_len) {
    int64_t deadline = weft_after(5 * WEFT_SEC);
    char *end;
    while (!(end = memmem(buf, *have, "\r\n\r\n", 4))) {
        if (*have == cap)
            return -EMSGSIZE;
        ssize_t n = weft_recv(fd, buf + *have, cap - *have, 0, deadline);
        if (n <= 0)
            return n == 0 ? -ECONNRESET : (int)n;
        *have += (size_t)n;
    }
    end[2] = 0; /* terminates the header block for strcasestr */
    int status = atoi(buf + 9);
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    size_t len = cl ? strtoul(cl + 17, NULL, 10) : 0;
    size_t head = (size_t)(end - buf) + 4;
    if (head + len > cap)
        return -EMSGSIZE;
    while (*have < head + len) {
        ssize_t n = weft_recv(fd, buf + *have, cap - *have, 0, deadline);
        if (n <= 0)
            return n == 0 ? -ECONNRESET : (int)n;
        *have += (size_t)n;
    }
    *body = buf + head;
    *body_len = len;
    return status;
}

static int serve_forever(int port) {
    int count = 0;
    weft_http_server *srv;
    int r = weft_http_server_start(&srv, "127.0.0.1", port, hello, &count, NULL);
    if (r < 0) {
        fprintf(stderr, "http_hello: start: %s\n", weft_strerror(r));
        return 1;
    }
    printf("serving on http://127.0.0.1:%d/\n", weft_http_server_port(srv));
    fflush(stdout);
    for (;;)
        weft_sleep(WEFT_SEC); /* the server's coroutines run meanwhile */
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--serve") == 0)
        return serve_forever(atoi(argv[2]));

    int count = 0;
    weft_http_server *srv;
    int r = weft_http_server_start(&srv, "127.0.0.1", 0, hello, &count, NULL);
    if (r < 0) {
        fprintf(stderr, "http_hello: start: %s\n", weft_strerror(r));
        return 1;
    }
    int port = weft_http_server_port(srv);
    printf("server on 127.0.0.1:%d\n", port);

    int fd = weft_tcp_connect("localhost", port, weft_after(5 * WEFT_SEC));
    if (fd < 0) {
        fprintf(stderr, "http_hello: connect: %s\n", weft_strerror(fd));
        return 1;
    }
    static const struct {
        const char *request;
        int status;
        const char *body;
    } cases[] = {
        {"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 200, "Hello, World!\n"},
        {"GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n", 200, "Slept 50 ms\n"},
        {"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n\r\nweft!", 200, "weft!"},
        {"GET /nowhere HTTP/1.1\r\nHost: localhost\r\n\r\n", 404, "Not Found\n"},
    };
    int failures = 0;
    static char buf[16384];
    size_t have = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *req = cases[i].request;
        ssize_t w = weft_write_all(fd, req, strlen(req), weft_after(5 * WEFT_SEC), NULL);
        char *body = NULL;
        size_t body_len = 0;
        int status = w < 0 ? (int)w : read_response(fd, buf, sizeof buf, &have, &body, &body_len);
        if (status < 0) {
            fprintf(stderr, "http_hello: request %zu: %s\n", i + 1, weft_strerror(status));
            return 1;
        }
        const char *line_end = strchr(req, '\r');
        bool ok = status == cases[i].status && body_len == strlen(cases[i].body) &&
                  memcmp(body, cases[i].body, body_len) == 0;
        printf("%-24.*s -> %d, %zu bytes: %.*s%s", (int)(line_end - req), req, status, body_len,
               (int)body_len, body, body_len && body[body_len - 1] == '\n' ? "" : "\n");
        if (!ok) {
            printf("   expected %d \"%s\"\n", cases[i].status, cases[i].body);
            failures++;
        }
        /* The next response starts after this one's body. */
        size_t used = (size_t)(body - buf) + body_len;
        memmove(buf, buf + used, have - used);
        have -= used;
    }
    weft_fd_close(fd);
    r = weft_http_server_stop(srv, weft_after(5 * WEFT_SEC));
    if (r < 0) {
        fprintf(stderr, "http_hello: stop: %s\n", weft_strerror(r));
        return 1;
    }
    printf("%d requests served on one connection, %d wrong\n", count, failures);
    return failures ? 1 : 0;
}
