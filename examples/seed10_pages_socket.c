/*
 * seed10_pages_socket: seed10_pages_curl with a plain blocking socket client
 * instead of libcurl: getaddrinfo, socket, connect, send, recv, close, written
 * without a single weft call, exactly as one would without coroutines. The
 * hook library makes each of those calls park only the calling coroutine, so
 * the three fetches in three coroutines overlap (about one delay), while the
 * same function called three times in a row takes one delay per page.
 *
 * Usage: seed10_pages_socket [DELAY_MS]   (default 300; WEFT_DEMO_FAST=1: 100)
 * Exit status: 0 on success, 1 if the hook is not live, a fetch fails, or the
 * concurrent run did not overlap.
 */
#include <weft.h>
#include <weft_hook.h>

#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "example.h"
#include "seed10_server.h"

#define NPAGES 3
static const int sizes[NPAGES] = {2381, 35789, 148003};
static char port_str[16];

/* GET /<size> over HTTP/1.0 and return the body's length: ordinary blocking code. */
static long get_content(int size) {
    struct addrinfo hints, *ai;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo("127.0.0.1", port_str, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        perror("connect");
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    char req[128];
    int len = snprintf(req, sizeof req, "GET /%d HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", size);
    if (send(fd, req, (size_t)len, 0) != len) {
        close(fd);
        return -1;
    }
    static __thread char buf[65536];
    long total = 0, body = -1;
    char head[512];
    size_t hl = 0;
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) {
        if (body < 0) { /* still in the header: find its end */
            size_t take = (size_t)n < sizeof head - 1 - hl ? (size_t)n : sizeof head - 1 - hl;
            memcpy(head + hl, buf, take);
            hl += take;
            head[hl] = 0;
            char *end = strstr(head, "\r\n\r\n");
            total += n;
            if (end)
                body = total - (long)(end + 4 - head);
            continue;
        }
        body += n;
    }
    close(fd);
    return n < 0 ? -1 : body;
}

static void *get_content_coro(void *arg) {
    return (void *)(intptr_t)get_content((int)(intptr_t)arg);
}

int main(int argc, char **argv) {
    char report[8192];
    if (weft_hook_check(report, sizeof report) != WEFT_HOOK_COUNT) {
        fputs(report, stderr);
        fputs("seed10_pages_socket: the hook library is not live; see weft_hook.h\n", stderr);
        return 1;
    }
    long delay_ms;
    if (example_delay_ms_arg(argc, argv, &delay_ms) != 0)
        return 1;
    seed10_server srv;
    int r = seed10_server_start(&srv, delay_ms * WEFT_MSEC, 0);
    if (r < 0) {
        fprintf(stderr, "server: %s\n", weft_strerror(r));
        return 1;
    }
    snprintf(port_str, sizeof port_str, "%d", srv.port);
    printf("pages served from 127.0.0.1:%d, each after %ld ms\n", srv.port, delay_ms);

    int ok = 1;
    int64_t start = weft_now();
    weft_coro c[NPAGES];
    void *got[NPAGES];
    for (int i = 0; i < NPAGES; i++)
        if ((r = weft_spawn(&c[i], get_content_coro, (void *)(intptr_t)sizes[i], NULL)) < 0) {
            fprintf(stderr, "spawn: %s\n", weft_strerror(r));
            return 1;
        }
    if ((r = weft_joinall(c, NPAGES, WEFT_FOREVER, got)) < 0) {
        fprintf(stderr, "joinall: %s\n", weft_strerror(r));
        return 1;
    }
    for (int i = 0; i < NPAGES; i++) {
        printf("http://127.0.0.1:%d/%d %ld\n", srv.port, sizes[i], (long)(intptr_t)got[i]);
        ok &= (long)(intptr_t)got[i] == sizes[i];
    }
    double concurrent = (double)(weft_now() - start) / 1e9;
    printf("%f\n", concurrent);
    printf("******************************\n");

    start = weft_now();
    for (int i = 0; i < NPAGES; i++) {
        long n = get_content(sizes[i]);
        printf("http://127.0.0.1:%d/%d ---------- %ld\n", srv.port, sizes[i], n);
        ok &= n == sizes[i];
    }
    double sequential = (double)(weft_now() - start) / 1e9;
    printf("%f\n", sequential);

    seed10_server_stop(&srv);
    return example_pages_verdict("seed10_pages_socket", ok, concurrent, sequential, delay_ms, NPAGES);
}
