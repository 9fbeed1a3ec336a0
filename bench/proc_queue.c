/* proc_queue: N 8-byte messages from one process to a forked child through
 * a FIFO weft_pqueue (256 KiB of ring); the child checks the sum. Time:
 * fork to the child's exit. Prints weft's msgs/s, then the floor (a
 * busy-waiting shared-memory SPSC ring, bench/peers/floor/
 * proc_queue_ring_floor.c) measured in the same run, and the pipe floor
 * (proc_queue_pipe_floor.c) as a note. */
#include "bench.h"

#define PROC_QUEUE_NO_MAIN
#include "peers/floor/proc_queue_pipe_floor.c"
#include "peers/floor/proc_queue_ring_floor.c"

static double weft_run(long n) {
    weft_pqueue *q;
    BENCH_CHECK(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, 256 * 1024, 0));
    int64_t t0 = weft_now();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        uint64_t sum = 0, v;
        for (long i = 0; i < n; i++) {
            ssize_t r = weft_pqueue_get(q, &v, sizeof v, WEFT_FOREVER);
            if (r != 8)
                _exit(2);
            sum += v;
        }
        _exit(sum == (uint64_t)n * ((uint64_t)n - 1) / 2 ? 0 : 1);
    }
    for (uint64_t i = 0; i < (uint64_t)n; i++)
        BENCH_CHECK(weft_pqueue_put(q, &i, sizeof i, WEFT_FOREVER));
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    double el = (double)(weft_now() - t0) / 1e9;
    weft_pqueue_close(q);
    return (double)n / el;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 1000000, 200000);
    double w = weft_run(n);
    if (w < 0) {
        fprintf(stderr, "proc_queue: weft run failed\n");
        return 1;
    }
    bench_line("proc_queue", "weft", w, "msgs/s");
    double f = ring_floor_run(n);
    if (f < 0) {
        fprintf(stderr, "proc_queue: floor run failed\n");
        return 1;
    }
    bench_line("proc_queue", "floor", f, "msgs/s");
    double p = pipe_floor_run(n);
    if (p > 0)
        fprintf(stderr, "note: pipe floor %.6g msgs/s (one write and one read per message)\n", p);
    return 0;
}
