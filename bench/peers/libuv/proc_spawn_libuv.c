/* proc_spawn, libuv peer: uv_spawn of /bin/true and its exit callback, one at a time; us
 * each. libuv has no fork-only spawn: this includes an exec of /bin/true, which weft's
 * and the floor's child (a function that returns) do not pay.
 * Usage: proc_spawn_libuv [N]; BENCH_QUICK=1 reduced.
 * bench-needs: uv.h
 * bench-libs: -luv
 */
#include <stdio.h>
#include <uv.h>

#include "uv_common.h"

static long exited;

static void on_exit_cb(uv_process_t *p, int64_t status, int sig) {
    if (status == 0 && sig == 0)
        exited++;
    uv_close((uv_handle_t *)p, NULL);
}

int main(int argc, char **argv) {
    long n = peer_size(argc, argv, 2000, 300);
    uv_loop_t *loop = uv_default_loop();
    char *args[] = {"/bin/true", NULL};
    uv_process_options_t o = {.exit_cb = on_exit_cb, .file = args[0], .args = args};
    int64_t t0 = peer_now_ns();
    for (long i = 0; i < n; i++) {
        uv_process_t p;
        int r = uv_spawn(loop, &p, &o);
        if (r != 0) {
            fprintf(stderr, "proc_spawn_libuv: uv_spawn: %s\n", uv_strerror(r));
            return 1;
        }
        uv_run(loop, UV_RUN_DEFAULT);
    }
    int64_t t1 = peer_now_ns();
    if (exited != n)
        return 1;
    fprintf(stderr,
            "note: libuv %s: uv_spawn(/bin/true) + exit callback, includes an exec "
            "(weft's child runs a function, no exec)\n",
            uv_version_string());
    printf("proc_spawn\tlibuv\t%.3f\tus/op\n", (double)(t1 - t0) / 1e3 / (double)n);
    return 0;
}
