/* http_client: 3000 GETs, 100 at a time, against one loopback HTTP server, made with the
 * unmodified libcurl easy API (curl_easy_perform) from 100 coroutines on one thread; the
 * hook library turns libcurl's blocking poll/recv/send into coroutine waits. Each
 * coroutine keeps one easy handle (so one keep-alive connection) and makes its share of
 * the requests one after another. req/s.
 *
 * The server, the same for every system (the Go and gevent peers start it too): weft's
 * HTTP server (weft_http_server_start, one server thread), run as a separate process by
 * `bench_http_client serve`, which prints its port and serves until its stdin closes.
 * Every request is GET /13 and answers 13 bytes of body.
 *
 * Usage: bench_http_client [REQUESTS] | bench_http_client serve */
#include "bench.h"

#include <weft_hook.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../examples/seed10_server.h"

#define CONCURRENCY 100

static int serve(void) {
    signal(SIGPIPE, SIG_IGN);
    seed10_server srv;
    BENCH_CHECK(seed10_server_start(&srv, 0, 0));
    printf("%d\n", srv.port);
    fflush(stdout);
    char b[64];
    while (read(0, b, sizeof b) > 0) { /* until the client closes our stdin */
    }
    seed10_server_stop(&srv);
    return 0;
}

/* Starts `self serve` with a pipe on its stdin and stdout; returns the port. */
static int start_server(pid_t *pid, int *ctl) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    *pid = fork();
    if (*pid < 0)
        return -1;
    if (*pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl("/proc/self/exe", "bench_http_client", "serve", (char *)NULL);
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

static char url[64];
static long per_coro;
static atomic_long failures;

static size_t sink(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

static void *client(void *arg) {
    long n = (long)(intptr_t)arg;
    CURL *h = curl_easy_init();
    if (!h) {
        atomic_fetch_add(&failures, n);
        return NULL;
    }
    size_t got = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    for (long i = 0; i < n; i++) {
        got = 0;
        long code = 0;
        if (curl_easy_perform(h) != CURLE_OK ||
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200 ||
            got != 13)
            atomic_fetch_add(&failures, 1);
    }
    curl_easy_cleanup(h);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "serve") == 0)
        return serve();
    char report[8192];
    if (weft_hook_check(report, sizeof report) != WEFT_HOOK_COUNT) {
        fputs(report, stderr);
        return 1;
    }
    long total = bench_size(argc, argv, 3000, 3000);
    if (total < CONCURRENCY)
        total = CONCURRENCY;
    per_coro = total / CONCURRENCY;
    total = per_coro * CONCURRENCY;
    signal(SIGPIPE, SIG_IGN);
    pid_t pid;
    int ctl;
    int port = start_server(&pid, &ctl);
    if (port <= 0) {
        fprintf(stderr, "http_client: could not start the server\n");
        return 1;
    }
    snprintf(url, sizeof url, "http://127.0.0.1:%d/13", port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    weft_coro c[CONCURRENCY];
    int64_t start = weft_now();
    for (int i = 0; i < CONCURRENCY; i++)
        BENCH_CHECK(weft_spawn(&c[i], client, (void *)(intptr_t)per_coro, NULL));
    BENCH_CHECK(weft_joinall(c, CONCURRENCY, WEFT_FOREVER, NULL));
    double secs = (double)(weft_now() - start) / 1e9;
    curl_global_cleanup();
    close(ctl);
    waitpid(pid, NULL, 0);
    if (atomic_load(&failures)) {
        fprintf(stderr, "http_client: %ld requests failed\n", (long)atomic_load(&failures));
        return 1;
    }
    fprintf(stderr,
            "note: weft http_client: libcurl %s easy API in %d coroutines on one thread "
            "(keep-alive, one handle each), through libweft-hook; server: weft's HTTP "
            "server, one thread, separate process (the same for every system)\n",
            curl_version_info(CURLVERSION_NOW)->version, CONCURRENCY);
    bench_line("http_client", "weft", (double)total / secs, "req/s");
    return 0;
}
