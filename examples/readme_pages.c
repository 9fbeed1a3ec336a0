/* README: coroutines fetch three slow pages at once from a loopback HTTP server. */
#include <stdint.h>
#include <stdio.h>
#include <weft.h>

static int page(const weft_http_request *req, weft_http_response *resp, void *arg) {
    (void)req, (void)arg;
    weft_sleep(300 * WEFT_MSEC); /* a slow page: parks only this connection's coroutine */
    return weft_http_response_write(resp, "hello\n", 6);
}

static void *fetch(void *port) {
    char buf[4096];
    ssize_t n, total = 0;
    int64_t deadline = weft_after_sec(5); /* one deadline for the whole fetch */
    int fd = weft_tcp_connect("127.0.0.1", (int)(intptr_t)port, deadline);
    if (fd < 0)
        return (void *)-1;
    if (weft_write_all(fd, "GET / HTTP/1.0\r\n\r\n", 18, deadline, NULL) == 18)
        while ((n = weft_read(fd, buf, sizeof buf, deadline)) > 0)
            total += n; /* every read parks this coroutine only */
    weft_fd_close(fd);
    return (void *)total;
}

int main(void) {
    weft_http_server *srv;
    weft_coro c[3];
    void *got[3];
    if (weft_http_server_start(&srv, "127.0.0.1", 0, page, NULL, NULL) < 0)
        return 1; /* the server's coroutines run on this thread */
    int64_t t0 = weft_now();
    for (int i = 0; i < 3; i++)
        weft_spawn(&c[i], fetch, (void *)(intptr_t)weft_http_server_port(srv), NULL);
    int rc = weft_joinall(c, 3, WEFT_FOREVER, got);
    printf("3 pages (%zd, %zd, %zd bytes) in %.2f s, not 0.9 s\n", (ssize_t)got[0],
           (ssize_t)got[1], (ssize_t)got[2], (double)(weft_now() - t0) / WEFT_SEC);
    weft_http_server_stop(srv, WEFT_FOREVER);
    return rc < 0 || (ssize_t)got[0] < 0 || (ssize_t)got[1] < 0 || (ssize_t)got[2] < 0;
}
