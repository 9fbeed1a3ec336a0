/* lock, GNU Pth peer: Pth is M:1 (all its threads share one kernel thread), so "two
 * threads" are two Pth threads taking a pth_mutex around each increment and yielding
 * every 1000 increments; there is no parallel contention to pay for. ns per increment.
 * Usage: lock_pth [N per thread]; BENCH_QUICK=1 reduced.
 * bench-needs: pth.h
 * bench-libs: -lpth
 */
#include <pth.h>

#include "pth_common.h"

static pth_mutex_t mu = PTH_MUTEX_INIT;
static long counter, iters;

static void *worker(void *arg) {
    (void)arg;
    for (long i = 0; i < iters; i++) {
        pth_mutex_acquire(&mu, FALSE, NULL);
        counter++;
        pth_mutex_release(&mu);
        if (i % 1000 == 999)
            pth_yield(NULL);
    }
    return NULL;
}

int main(int argc, char **argv) {
    iters = peer_size(argc, argv, 10000000, 1000000);
    if (!pth_init())
        return 1;
    pth_attr_t at = pth_attr_new();
    pth_attr_set(at, PTH_ATTR_JOINABLE, TRUE);
    int64_t t0 = peer_now_ns();
    pth_t a = pth_spawn(at, worker, NULL), b = pth_spawn(at, worker, NULL);
    if (!a || !b || !pth_join(a, NULL) || !pth_join(b, NULL))
        return 1;
    int64_t t1 = peer_now_ns();
    if (counter != 2 * iters) {
        fprintf(stderr, "lock_pth: lost increments\n");
        return 1;
    }
    fprintf(stderr, "note: pth: M:1, the two Pth threads run on one kernel thread (no parallel "
                    "contention), yielding every 1000 increments\n");
    printf("lock\tpth\t%.3f\tns/op\n", (double)(t1 - t0) / (double)(2 * iters));
    pth_kill();
    return 0;
}
