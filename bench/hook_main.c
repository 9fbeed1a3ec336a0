/* hook_main: the main coroutine and one other coroutine of the same thread
 * each call plain sleep(1) (libc's, made to yield by the hook library);
 * wall time in s. Under gevent's monkey patching the main greenlet's sleep
 * yields too, so both sleeps overlap: 1 s. A main coroutine whose hooked
 * call blocked the thread would take 2 s. The floor is the sleep itself.
 *
 * Usage: bench_hook_main [MILLISECONDS]  (default 1000; 200 quick): the
 * sleeps are usleep(ms * 1000) when not a whole number of seconds. */
#include "bench.h"

#include <weft_hook.h>

#include <unistd.h>

static long ms;

static void nap(void) {
    if (ms % 1000 == 0)
        BENCH_CHECK(sleep((unsigned)(ms / 1000)) == 0 ? 0 : -EINTR);
    else
        BENCH_CHECK(usleep((useconds_t)(ms * 1000)));
}

static void *other(void *arg) {
    (void)arg;
    nap();
    return NULL;
}

int main(int argc, char **argv) {
    ms = bench_size(argc, argv, 1000, 200);
    BENCH_CHECK(weft_hook_check(NULL, 0) >= 0 ? 0 : -ENOSYS);
    weft_coro c;
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_spawn(&c, other, NULL, NULL));
    nap();
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    double s = (double)(weft_now() - t0) / (double)WEFT_SEC;
    bench_line("hook_main", "weft", s, "s");
    bench_line("hook_main", "floor", (double)ms / 1000.0, "s");
    return 0;
}
