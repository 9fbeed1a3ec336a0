/*
 * Floor for the `pool_apply` workload: the essential work of one task round trip to
 * another process, an 8-byte request down a pipe to a forked child that writes it back
 * up a second pipe, one at a time (blocking reads: each side sleeps in the kernel).
 * Prints "pool_apply\tfloor\t<us per round trip>\tus/op".
 * Usage: pool_apply_floor [ROUND_TRIPS]; BENCH_QUICK=1 for the reduced size.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int full(ssize_t (*op)(int, void *, size_t), int fd, void *p, size_t n) {
    size_t done = 0;
    while (done < n) {
        ssize_t r = op(fd, (char *)p + done, n - done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

static ssize_t wr(int fd, void *p, size_t n) { return write(fd, p, n); }

int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    long n = argc > 1 ? atol(argv[1]) : (q && strcmp(q, "1") == 0 ? 2000 : 20000);
    int down[2], up[2];
    if (pipe(down) < 0 || pipe(up) < 0) {
        perror("pool_apply_floor: pipe");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("pool_apply_floor: fork");
        return 1;
    }
    if (pid == 0) {
        int64_t v;
        close(down[1]);
        close(up[0]);
        while (full(read, down[0], &v, sizeof v) == 0)
            if (full(wr, up[1], &v, sizeof v) < 0)
                break;
        _exit(0);
    }
    close(down[0]);
    close(up[1]);
    int64_t t0 = 0;
    for (long i = -200; i < n; i++) { /* 200 warm-up round trips */
        if (i == 0)
            t0 = now_ns();
        int64_t v = i, back;
        if (full(wr, down[1], &v, sizeof v) < 0 || full(read, up[0], &back, sizeof back) < 0 ||
            back != v) {
            fprintf(stderr, "pool_apply_floor: round trip failed\n");
            return 1;
        }
    }
    double us = (double)(now_ns() - t0) / 1e3 / (double)n;
    close(down[1]);
    waitpid(pid, NULL, 0);
    printf("pool_apply\tfloor\t%.3f\tus/op\n", us);
    return 0;
}
