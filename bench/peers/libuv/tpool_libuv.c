/* tpool, libuv peer: N no-op tasks queued with uv_queue_work from the loop thread onto
 * libuv's thread pool (UV_THREADPOOL_SIZE = online CPUs, as weft's pool), each with its
 * after-work callback on the loop; ns per task, submit to the last completion.
 * Usage: tpool_libuv [N]; BENCH_QUICK=1 reduced.
 * bench-needs: uv.h
 * bench-libs: -luv
 */
#include <stdio.h>
#include <unistd.h>
#include <uv.h>

#include "uv_common.h"

static long done;

static void noop(uv_work_t *w) {
    (void)w;
}

static void after(uv_work_t *w, int status) {
    (void)w;
    if (status == 0)
        done++;
}

int main(int argc, char **argv) {
    long n = peer_size(argc, argv, 1000000, 100000);
    char cpus[24];
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    snprintf(cpus, sizeof cpus, "%ld", ncpu > 0 ? ncpu : 1);
    setenv("UV_THREADPOOL_SIZE", cpus, 1);
    uv_work_t *reqs = calloc((size_t)n, sizeof *reqs);
    if (!reqs)
        return 1;
    uv_loop_t *loop = uv_default_loop();
    int64_t t0 = peer_now_ns();
    for (long i = 0; i < n; i++)
        if (uv_queue_work(loop, &reqs[i], noop, after) != 0)
            return 1;
    uv_run(loop, UV_RUN_DEFAULT);
    int64_t t1 = peer_now_ns();
    if (done != n) {
        fprintf(stderr, "tpool_libuv: %ld of %ld done\n", done, n);
        return 1;
    }
    fprintf(stderr,
            "note: libuv %s: uv_queue_work, UV_THREADPOOL_SIZE=%s, all %ld queued then "
            "uv_run\n",
            uv_version_string(), cpus, n);
    printf("tpool\tlibuv\t%.3f\tns/op\n", (double)(t1 - t0) / (double)n);
    free(reqs);
    return 0;
}
