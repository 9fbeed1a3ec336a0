/* timeout_scope: enter and leave a timeout scope (weft_timeout_enter /
 * weft_timeout_leave, gevent's `with Timeout(2):`) whose deadline does not
 * fire, ns per enter+leave pair. Measured in a coroutine, where scopes are
 * used; a second note gives the main coroutine's figure. */
#include "bench.h"

static long iters;
static double coro_ns;

static double run(void) {
    weft_timeout t;
    int64_t dl = weft_after(3600 * WEFT_SEC);
    int64_t t0 = weft_now();
    for (long i = 0; i < iters; i++) {
        BENCH_CHECK(weft_timeout_enter(&t, dl));
        __asm__ __volatile__("" ::: "memory"); /* the body of the scope */
        BENCH_CHECK(weft_timeout_leave(&t));
    }
    return (double)(weft_now() - t0) / (double)iters;
}

static void *in_coro(void *arg) {
    (void)arg;
    coro_ns = run();
    return NULL;
}

int main(int argc, char **argv) {
    iters = bench_size(argc, argv, 50000000, 5000000);
    weft_coro c;
    BENCH_CHECK(weft_spawn(&c, in_coro, NULL, NULL));
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    double main_ns = run();
    fprintf(stderr, "note: weft timeout_scope: %.2f ns in a coroutine, %.2f ns in main\n",
            coro_ns, main_ns);
    bench_line("timeout_scope", "weft", coro_ns, "ns/op");
    return 0;
}
