/* pdict_2proc: set + get on one shared dict (weft_pdict) from 2 forked
 * processes at once, each on its own 1024 keys; ops/s of both together,
 * from the fork to the last child's exit. The peer is Python's
 * Manager().dict() used by 2 processes (mp_bench.py). */
#include "pdict_ops.h"

#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 2000000, 200000); /* per process */
    weft_pdict *d;
    BENCH_CHECK(weft_pdict_create(&d, 1 << 20));
    BENCH_CHECK(pdict_ops(d, 20000, 0));
    BENCH_CHECK(pdict_ops(d, 20000, 1));
    int64_t t0 = weft_now();
    pid_t pid[2];
    for (uint32_t i = 0; i < 2; i++) {
        pid[i] = fork();
        if (pid[i] < 0)
            return 1;
        if (pid[i] == 0)
            _exit(pdict_ops(d, n, i) < 0 ? 1 : 0);
    }
    for (int i = 0; i < 2; i++) {
        int st;
        if (waitpid(pid[i], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "pdict_2proc: a child failed\n");
            return 1;
        }
    }
    double el = (double)(weft_now() - t0) / 1e9;
    bench_line("pdict_2proc", "weft", 2.0 * (double)n / el, "ops/s");
    weft_pdict_close(d);
    return 0;
}
