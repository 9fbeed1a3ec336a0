/*
 * Floor for the `proc_spawn` workload: fork() of a child that calls
 * _exit(0) at once, then waitpid() for it, one process at a time.
 * Prints "proc_spawn\tfloor\t<us per process>\tus/op".
 * Usage: proc_spawn_floor [PROCESSES]; BENCH_QUICK=1 for the reduced size.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int one(void) {
    pid_t pid = fork();
    if (pid < 0) {
        perror("proc_spawn_floor: fork");
        return -1;
    }
    if (pid == 0)
        _exit(0);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            perror("proc_spawn_floor: waitpid");
            return -1;
        }
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "proc_spawn_floor: bad child status %d\n", st);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    long n = q && strcmp(q, "1") == 0 ? 500L : 5000L;
    if (argc > 1)
        n = strtol(argv[1], NULL, 10);
    if (n < 1) {
        fprintf(stderr, "proc_spawn_floor: bad size\n");
        return 2;
    }
    for (int i = 0; i < 10; i++)
        if (one() < 0)
            return 1;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (one() < 0)
            return 1;
    int64_t t1 = now_ns();
    printf("proc_spawn\tfloor\t%.6g\tus/op\n", (double)(t1 - t0) / 1e3 / (double)n);
    return 0;
}
