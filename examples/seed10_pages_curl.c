/*
 * seed10_pages_curl: the seed's gevent page fetch (section 10), in C, with the
 * unmodified libcurl easy API made cooperative by the hook library.
 *
 * The Python original (gevent.monkey.patch_all(), then requests.get):
 *
 *     def get_content(url):
 *         response = requests.get(url)
 *         return url, len(response.content)
 *     ... spawn(get_content, u) for each url; joinall(...)   -> 0.57 s
 *     ... for u in urls: requests.get(u)                     -> 1.05 s
 *
 * Here the three "web pages" come from a server this program starts on
 * 127.0.0.1 (weft's HTTP server) that answers after a delay standing in for
 * the internet, with the page sizes the seed printed. The server runs as
 * coroutines of main()'s own thread, the one that fetches too, as a gevent
 * program would serve and fetch in one process. The program first fetches
 * the three pages in three coroutines (weft_spawn + weft_joinall): each
 * curl_easy_perform blocks only its coroutine, because libweft-hook turns
 * libcurl's blocking poll/recv/send into coroutine waits, so the run takes
 * about one delay. Then main() itself fetches them one after another, as
 * the seed's plain requests.get loop did from gevent's main greenlet: the
 * hook parks main's libcurl calls too and the server's coroutines answer
 * meanwhile (a main() that blocked its thread would never get an answer),
 * about one delay per page.
 *
 * The hook library must be live: the program calls weft_hook_check() first
 * and refuses to run without it (link: see weft_hook.h).
 *
 * Usage: seed10_pages_curl [DELAY_MS]   (default 300; WEFT_DEMO_FAST=1: 100)
 * Exit status: 0 on success, 1 if the hook is not live, a fetch fails, or the
 * concurrent run did not overlap (took two delays or more).
 */
#include <weft.h>
#include <weft_hook.h>

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "example.h"
#include "seed10_server.h"

#define NPAGES 3
static const int sizes[NPAGES] = {2381, 35789, 148003};
static char urls[NPAGES][64];

static size_t count_bytes(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    *(size_t *)ud += size * n;
    return size * n;
}

/* requests.get(url) and len(response.content): plain blocking libcurl. */
static long get_content(const char *url) {
    CURL *h = curl_easy_init();
    if (!h)
        return -1;
    size_t len = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, count_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &len);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(h);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "%s: %s\n", url, curl_easy_strerror(rc));
        return -1;
    }
    return (long)len;
}

static void *get_content_coro(void *url) {
    return (void *)(intptr_t)get_content(url);
}

int main(int argc, char **argv) {
    char report[8192];
    if (weft_hook_check(report, sizeof report) != WEFT_HOOK_COUNT) {
        fputs(report, stderr);
        fputs("seed10_pages_curl: the hook library is not live; see weft_hook.h\n", stderr);
        return 1;
    }
    long delay_ms;
    if (example_delay_ms_arg(argc, argv, &delay_ms) != 0)
        return 1;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    seed10_server srv;
    int r = seed10_server_start_n(&srv, delay_ms * WEFT_MSEC, 0, 0); /* on this thread */
    if (r < 0) {
        fprintf(stderr, "server: %s\n", weft_strerror(r));
        return 1;
    }
    for (int i = 0; i < NPAGES; i++)
        snprintf(urls[i], sizeof urls[i], "http://127.0.0.1:%d/%d", srv.port, sizes[i]);
    printf("pages served from 127.0.0.1:%d, each after %ld ms\n", srv.port, delay_ms);

    int ok = 1;
    /* coroutime(url): spawn, joinall, print */
    int64_t start = weft_now();
    weft_coro c[NPAGES];
    void *got[NPAGES];
    for (int i = 0; i < NPAGES; i++)
        if ((r = weft_spawn(&c[i], get_content_coro, urls[i], NULL)) < 0) {
            fprintf(stderr, "spawn: %s\n", weft_strerror(r));
            return 1;
        }
    if ((r = weft_joinall(c, NPAGES, WEFT_FOREVER, got)) < 0) {
        fprintf(stderr, "joinall: %s\n", weft_strerror(r));
        return 1;
    }
    for (int i = 0; i < NPAGES; i++) {
        printf("%s %ld\n", urls[i], (long)(intptr_t)got[i]);
        ok &= (long)(intptr_t)got[i] == sizes[i];
    }
    double concurrent = (double)(weft_now() - start) / 1e9;
    printf("%f\n", concurrent);
    printf("******************************\n");

    /* common(url): one after another, from main() itself: its hooked libcurl
     * calls park it while the server's coroutines on this thread answer. */
    start = weft_now();
    for (int i = 0; i < NPAGES; i++) {
        long n = get_content(urls[i]);
        printf("%s ---------- %ld\n", urls[i], n);
        ok &= n == sizes[i];
    }
    double sequential = (double)(weft_now() - start) / 1e9;
    printf("%f\n", sequential);

    seed10_server_stop(&srv);
    curl_global_cleanup();
    return example_pages_verdict("seed10_pages_curl", ok, concurrent, sequential, delay_ms, NPAGES);
}
