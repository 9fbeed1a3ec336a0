/* http_client, libcurl multi peer: the same 3000 GETs, 100 at a time, against the same
 * loopback server (bench/curl_server.h), made the event-driven native-C way: one thread,
 * one multi handle, 100 easy handles, each re-added for its next request when its last
 * one finishes (keep-alive connections from the multi's cache), curl_multi_poll between.
 * No coroutines, no hook: the figure a weft user would otherwise write by hand. req/s.
 * Usage: http_client_curl-multi [REQUESTS].
 * bench-needs: curl/curl.h
 * bench-libs: -lcurl
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>

#include "../../curl_server.h"

#define CONCURRENCY 100

static size_t sink(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

int main(int argc, char **argv) {
    long total = argc > 1 ? atol(argv[1]) : 3000;
    if (total < CONCURRENCY)
        total = CONCURRENCY;
    long per = total / CONCURRENCY;
    total = per * CONCURRENCY;
    signal(SIGPIPE, SIG_IGN);
    pid_t pid;
    int ctl;
    int port = curl_server_start(&pid, &ctl);
    if (port <= 0) {
        fprintf(stderr, "note: the server program bench_http_client is missing\n");
        printf("http_client\tcurl-multi\tskipped\treq/s\n");
        return 0;
    }
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/13", port);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURLM *m = curl_multi_init();
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)CONCURRENCY);
    CURL *h[CONCURRENCY];
    size_t got[CONCURRENCY];
    long left[CONCURRENCY], failures = 0, done = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < CONCURRENCY; i++) {
        h[i] = curl_easy_init();
        if (!h[i])
            return 1;
        got[i] = 0;
        left[i] = per - 1;
        curl_easy_setopt(h[i], CURLOPT_URL, url);
        curl_easy_setopt(h[i], CURLOPT_WRITEFUNCTION, sink);
        curl_easy_setopt(h[i], CURLOPT_WRITEDATA, &got[i]);
        curl_easy_setopt(h[i], CURLOPT_PRIVATE, (void *)(intptr_t)i);
        curl_easy_setopt(h[i], CURLOPT_NOSIGNAL, 1L);
        curl_multi_add_handle(m, h[i]);
    }
    int running = 1;
    while (done < total) {
        if (curl_multi_perform(m, &running) != CURLM_OK)
            return 1;
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            CURL *e = msg->easy_handle;
            void *pv;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &pv);
            int i = (int)(intptr_t)pv;
            long code = 0;
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
            if (msg->data.result != CURLE_OK || code != 200 || got[i] != 13)
                failures++;
            done++;
            curl_multi_remove_handle(m, e);
            if (left[i]-- > 0) {
                got[i] = 0;
                curl_multi_add_handle(m, e);
            }
        }
        if (done < total && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
            return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (int i = 0; i < CONCURRENCY; i++)
        curl_easy_cleanup(h[i]);
    curl_multi_cleanup(m);
    curl_global_cleanup();
    curl_server_stop(pid, ctl);
    if (failures) {
        fprintf(stderr, "http_client_curl-multi: %ld requests failed\n", failures);
        return 1;
    }
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr,
            "note: libcurl %s multi interface, %d easy handles on one thread, "
            "curl_multi_poll; the same server as every system\n",
            curl_version_info(CURLVERSION_NOW)->version, CONCURRENCY);
    printf("http_client\tcurl-multi\t%.1f\treq/s\n", (double)total / secs);
    return 0;
}
