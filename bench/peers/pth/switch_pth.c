/* switch, GNU Pth peer: two Pth threads yield to each other (pth_yield(other));
 * ns per switch. Usage: switch_pth [SWITCHES]; BENCH_QUICK=1 for the reduced size.
 * bench-needs: pth.h
 * bench-libs: -lpth
 */
#include <pth.h>

#include "pth_common.h"

static long iters;
static pth_t a, b;

static void *side(void *arg) {
    pth_t *other = arg;
    for (long i = 0; i < iters / 2; i++)
        pth_yield(*other);
    return NULL;
}

int main(int argc, char **argv) {
    iters = peer_size(argc, argv, 500000, 50000);
    if (!pth_init())
        return 1;
    pth_attr_t at = pth_attr_new();
    pth_attr_set(at, PTH_ATTR_JOINABLE, TRUE);
    int64_t t0 = peer_now_ns();
    a = pth_spawn(at, side, &b);
    b = pth_spawn(at, side, &a);
    if (!a || !b || !pth_join(a, NULL) || !pth_join(b, NULL))
        return 1;
    int64_t t1 = peer_now_ns();
    fprintf(stderr, "note: pth 0x%x: pth_yield(other) between two Pth threads, %ld switches\n",
            (unsigned)PTH_VERSION, iters);
    printf("switch\tpth\t%.3f\tns/op\n", (double)(t1 - t0) / (double)iters);
    pth_kill();
    return 0;
}
