/* The loopback HTTP server the libcurl client benchmarks share: weft's HTTP server run
 * as a separate process by `bench_http_client serve`, which prints its port and serves
 * until its stdin closes. Plain POSIX (no weft): included by weft's programs and by the
 * C peers in bench/peers/curl/. */
#ifndef WEFT_BENCH_CURL_SERVER_H
#define WEFT_BENCH_CURL_SERVER_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* bench_http_client: $WEFT_BENCH_DIR, next to this program (build/bench/), or
 * build/bench/ seen from build/peers/<dir>/. */
static int curl_server_path(char *out, size_t len) {
    const char *d = getenv("WEFT_BENCH_DIR");
    if (d && *d) {
        snprintf(out, len, "%s/bench_http_client", d);
        return access(out, X_OK) == 0 ? 0 : -1;
    }
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return -1;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return -1;
    *slash = 0;
    snprintf(out, len, "%s/bench_http_client", self);
    if (access(out, X_OK) == 0)
        return 0;
    snprintf(out, len, "%s/../../bench/bench_http_client", self);
    return access(out, X_OK) == 0 ? 0 : -1;
}

/* Starts the server; its port, or -1. *ctl closes it (close, then waitpid *pid). */
static int curl_server_start(pid_t *pid, int *ctl) {
    char path[PATH_MAX + 64];
    if (curl_server_path(path, sizeof path) < 0)
        return -1;
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    *pid = fork();
    if (*pid < 0)
        return -1;
    if (*pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(path, path, "serve", (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    char b[32] = {0};
    ssize_t n = read(out[0], b, sizeof b - 1);
    close(out[0]);
    *ctl = in[1];
    return n > 0 ? atoi(b) : -1;
}

static void curl_server_stop(pid_t pid, int ctl) {
    close(ctl);
    waitpid(pid, NULL, 0);
}

#endif
