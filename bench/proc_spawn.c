/* proc_spawn: weft_proc_start of a child that returns at once, then
 * weft_proc_join (from the main thread) and weft_proc_release; us each. */
#include "bench.h"

static int empty(void *arg) {
    (void)arg;
    return 0;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 5000, 500);
    weft_proc *p;
    /* Warm up: the first start registers the fork and exit handlers. */
    for (int i = 0; i < 10; i++) {
        BENCH_CHECK(weft_proc_start(&p, empty, NULL, NULL));
        BENCH_CHECK(weft_proc_join(p, WEFT_FOREVER));
        weft_proc_release(p);
    }
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++) {
        BENCH_CHECK(weft_proc_start(&p, empty, NULL, NULL));
        BENCH_CHECK(weft_proc_join(p, WEFT_FOREVER));
        int code = -1;
        BENCH_CHECK(weft_proc_exitcode(p, &code));
        if (code != 0) {
            fprintf(stderr, "proc_spawn: child exit code %d\n", code);
            return 1;
        }
        weft_proc_release(p);
    }
    int64_t t1 = weft_now();
    bench_line("proc_spawn", "weft", (double)(t1 - t0) / 1e3 / (double)n, "us/op");
    return 0;
}
