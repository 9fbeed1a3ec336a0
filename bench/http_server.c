/* http_server: a coroutine-per-connection HTTP/1.1 "Hello, World!" server under
 * `wrk -t1 -c64 -dNs` on loopback (N = 5 s, 2 s under BENCH_QUICK; the argument sets N),
 * in req/s. The server runs on server threads of its own, one per online CPU
 * (weft_http_opts.threads; Go's net/http peer likewise uses GOMAXPROCS = CPUs;
 * WEFT_HTTP_THREADS=N in the environment overrides it), sharing the listening socket;
 * this thread only runs wrk, whose one thread competes with them for the CPUs. Prints
 * `skipped` if wrk is not installed. With more than one CPU (and no WEFT_HTTP_THREADS),
 * it measures one server thread too and prints it as `weft-1t` (against nginx-1w). */
#include "bench.h"

#include <stdbool.h>
#include <unistd.h>

static int hello(const weft_http_request *req, weft_http_response *resp, void *arg) {
    (void)req;
    (void)arg;
    int r = weft_http_response_header(resp, "Content-Type", "text/plain");
    return r < 0 ? r : weft_http_response_write(resp, "Hello, World!", 13);
}

static bool have_wrk(void) {
    return system("command -v wrk >/dev/null 2>&1") == 0;
}

/* One run of wrk against the server on `port`: req/s (exits on failure). */
static double wrk(int port, long secs, int threads) {
    char cmd[256];
    snprintf(cmd, sizeof cmd, "wrk -t1 -c64 -d%lds http://127.0.0.1:%d/ 2>&1", secs, port);
    FILE *p = popen(cmd, "r");
    if (!p) {
        perror("popen");
        exit(1);
    }
    char line[512];
    double rps = -1;
    while (fgets(line, sizeof line, p)) {
        if (strncmp(line, "Requests/sec:", 13) == 0)
            rps = atof(line + 13);
        else if (strstr(line, "Non-2xx") || strstr(line, "Socket errors"))
            fprintf(stderr, "note: weft http_server (%d threads): wrk: %s", threads, line);
    }
    int st = pclose(p);
    if (st != 0 || rps <= 0) {
        fprintf(stderr, "http_server: wrk failed (status %d)\n", st);
        exit(1);
    }
    return rps;
}

/* A server with `threads` threads of its own. */
static double measure(int threads, long secs) {
    weft_http_opts o = {.threads = threads};
    weft_http_server *srv;
    BENCH_CHECK(weft_http_server_start(&srv, "127.0.0.1", 0, hello, NULL, &o));
    double rps = wrk(weft_http_server_port(srv), secs, threads);
    BENCH_CHECK(weft_http_server_stop(srv, weft_after(5 * WEFT_SEC)));
    return rps;
}

/* A server started in a coroutine of a worker group of `threads` workers: the group
 * serves it (weft_http_opts.threads 0 inside a group). */
static weft_event g_up, g_done;
static int g_port;
static void *group_server(void *arg) {
    (void)arg;
    weft_http_server *srv;
    BENCH_CHECK(weft_http_server_start(&srv, "127.0.0.1", 0, hello, NULL, NULL));
    g_port = weft_http_server_port(srv);
    BENCH_CHECK(weft_event_set(&g_up));
    BENCH_CHECK(weft_event_wait(&g_done, WEFT_FOREVER));
    BENCH_CHECK(weft_http_server_stop(srv, weft_after(5 * WEFT_SEC)));
    return NULL;
}

static double measure_group(int threads, long secs) {
    weft_group *g;
    BENCH_CHECK(weft_group_create(&g, &(weft_group_opts){.threads = (unsigned)threads}));
    BENCH_CHECK(weft_event_init(&g_up));
    BENCH_CHECK(weft_event_init(&g_done));
    weft_coro c;
    BENCH_CHECK(weft_group_spawn(g, &c, group_server, NULL, NULL));
    BENCH_CHECK(weft_event_wait(&g_up, WEFT_FOREVER));
    double rps = wrk(g_port, secs, threads);
    BENCH_CHECK(weft_event_set(&g_done));
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    BENCH_CHECK(weft_group_destroy(g));
    return rps;
}

int main(int argc, char **argv) {
    long secs = bench_size(argc, argv, 5, 2);
    if (!have_wrk()) {
        fprintf(stderr, "note: wrk is not installed\n");
        printf("http_server\tweft\tskipped\treq/s\n");
        return 0;
    }
    /* As many server threads as CPUs, like Go's default GOMAXPROCS and nginx's peer. */
    const char *env = getenv("WEFT_HTTP_THREADS");
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = env && *env ? atoi(env) : ncpu > 0 && ncpu < 256 ? (int)ncpu : 1;
    double rps = measure(threads, secs);
    fprintf(stderr,
            "note: weft http_server: %d server thread(s) (weft_http_opts.threads), "
            "wrk -t1 -c64 -d%lds on the same CPUs, unpinned\n",
            threads, secs);
    bench_line("http_server", "weft", rps, "req/s");
    fprintf(stderr, "note: weft-group: the same server on a worker group of %d workers\n",
            threads);
    bench_line("http_server", "weft-group", measure_group(threads, secs), "req/s");
    /* With one server thread too, the figure nginx's one-worker run (nginx-1w) is
     * compared with. */
    if (threads != 1 && !(env && *env)) {
        fprintf(stderr, "note: weft-1t: the same with 1 server thread\n");
        bench_line("http_server", "weft-1t", measure(1, secs), "req/s");
    }
    return 0;
}
