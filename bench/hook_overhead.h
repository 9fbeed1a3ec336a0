/* The client of the hook_overhead workload, plain libcurl and POSIX (no weft): one
 * thread, one easy handle, N GETs one after another over one keep-alive connection
 * against the shared loopback server (curl_server.h), outside any coroutine. us per
 * request. bench/hook_overhead.c (weft's, linked with libweft-hook) and
 * peers/curl/hook_overhead_nohook.c (the same code, no hook) both include it. */
#ifndef WEFT_BENCH_HOOK_OVERHEAD_H
#define WEFT_BENCH_HOOK_OVERHEAD_H

#include <curl/curl.h>
#include <signal.h>
#include <time.h>

#include "curl_server.h"

static size_t hook_overhead_sink(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

/* Runs the client and prints `hook_overhead\t<system>\t<us/op>\tus/op`; exit status. */
static int hook_overhead_run(int argc, char **argv, const char *system) {
    long n = argc > 1 ? atol(argv[1]) : 0;
    if (n <= 0) {
        const char *q = getenv("BENCH_QUICK");
        n = q && strcmp(q, "1") == 0 ? 2000 : 20000;
    }
    signal(SIGPIPE, SIG_IGN);
    pid_t pid;
    int ctl;
    int port = curl_server_start(&pid, &ctl);
    if (port <= 0) {
        fprintf(stderr, "note: the server program bench_http_client is missing\n");
        printf("hook_overhead\t%s\tskipped\tus/op\n", system);
        return 0;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/13", port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *h = curl_easy_init();
    if (!h)
        return 1;
    size_t got = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, hook_overhead_sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &got);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    long failures = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        got = 0;
        long code = 0;
        if (curl_easy_perform(h) != CURLE_OK ||
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200 ||
            got != 13)
            failures++;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    curl_easy_cleanup(h);
    curl_global_cleanup();
    curl_server_stop(pid, ctl);
    if (failures) {
        fprintf(stderr, "hook_overhead: %ld of %ld requests failed\n", failures, n);
        return 1;
    }
    double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 /
                (double)n;
    fprintf(stderr,
            "note: %s: libcurl %s easy API, %ld sequential GETs on one keep-alive "
            "connection, one thread, no coroutine\n",
            system, curl_version_info(CURLVERSION_NOW)->version, n);
    printf("hook_overhead\t%s\t%.3f\tus/op\n", system, us);
    return 0;
}

#endif
