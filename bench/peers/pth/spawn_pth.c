/* spawn, GNU Pth peer: pth_spawn + run + pth_join of an empty Pth thread, one at a time;
 * ns each. Usage: spawn_pth [N]; BENCH_QUICK=1 for the reduced size.
 * bench-needs: pth.h
 * bench-libs: -lpth
 */
#include <pth.h>

#include "pth_common.h"

static void *empty(void *arg) {
    return arg;
}

int main(int argc, char **argv) {
    long n = peer_size(argc, argv, 200000, 20000);
    if (!pth_init())
        return 1;
    pth_attr_t at = pth_attr_new();
    pth_attr_set(at, PTH_ATTR_JOINABLE, TRUE);
    int64_t t0 = peer_now_ns();
    for (long i = 0; i < n; i++) {
        pth_t t = pth_spawn(at, empty, NULL);
        if (!t || !pth_join(t, NULL)) {
            fprintf(stderr, "spawn_pth: spawn/join failed at %ld\n", i);
            return 1;
        }
    }
    int64_t t1 = peer_now_ns();
    fprintf(stderr,
            "note: pth: pth_spawn + pth_join of an empty thread (default 64 KiB stack), %ld\n", n);
    printf("spawn\tpth\t%.3f\tns/op\n", (double)(t1 - t0) / (double)n);
    pth_kill();
    return 0;
}
