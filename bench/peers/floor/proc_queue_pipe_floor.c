/*
 * Second floor for the `proc_queue` workload: N 8-byte messages from one
 * process to a forked child through a pipe, one write(2) and one read(2)
 * per message (blocking descriptors). The child checks the sum. Time: fork
 * to the child's exit. BENCHMARKS.md keeps one floor figure per workload
 * (the shared-memory ring), so this one is reported as a note:
 * "note: pipe floor <msgs/s> msgs/s" on stderr.
 * Usage: proc_queue_pipe_floor [N]; BENCH_QUICK=1 for the reduced size.
 * bench/proc_queue.c includes this file (with PROC_QUEUE_NO_MAIN).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double pf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* msgs/s, or a negative value on failure. */
static double pipe_floor_run(long n) {
    int fd[2];
    if (pipe(fd) < 0)
        return -1;
    double t0 = pf_now();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(fd[1]);
        uint64_t sum = 0, v;
        for (long i = 0; i < n; i++) {
            size_t got = 0;
            while (got < 8) {
                ssize_t r = read(fd[0], (char *)&v + got, 8 - got);
                if (r <= 0)
                    _exit(2);
                got += (size_t)r;
            }
            sum += v;
        }
        _exit(sum == (uint64_t)n * ((uint64_t)n - 1) / 2 ? 0 : 1);
    }
    close(fd[0]);
    for (uint64_t i = 0; i < (uint64_t)n; i++)
        if (write(fd[1], &i, 8) != 8)
            return -1;
    close(fd[1]);
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return (double)n / (pf_now() - t0);
}

#ifndef PROC_QUEUE_NO_MAIN
int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    long n = argc > 1 ? atol(argv[1]) : (q && *q && strcmp(q, "0") ? 200000 : 1000000);
    double v = pipe_floor_run(n);
    if (v < 0) {
        fprintf(stderr, "proc_queue_pipe_floor: failed\n");
        return 1;
    }
    fprintf(stderr, "note: pipe floor %.6g msgs/s (one write and one read per message)\n", v);
    return 0;
}
#endif
