/* Shared by the MPI benchmarks (mpi_pool_map, mpi_pool_apply): bench/run starts them with
 * no arguments; they start themselves again under mpirun (4 ranks, oversubscribed, as root
 * allowed), pass the size on, and print what rank 0 prints. */
#ifndef WEFT_MPI_BENCH_H
#define WEFT_MPI_BENCH_H

#include "bench.h"

#include <sys/wait.h>
#include <unistd.h>

/* The path of this program. */
static inline void mpi_bench_self(char *buf, size_t len) {
    ssize_t n = readlink("/proc/self/exe", buf, len - 1);
    if (n <= 0) {
        fprintf(stderr, "cannot read /proc/self/exe\n");
        exit(1);
    }
    buf[n] = 0;
}

/* Runs `mpirun --oversubscribe -n np prog arg` and returns its exit status. */
static inline int mpi_bench_mpirun(int np, const char *prog, const char *arg) {
    char n[16];
    snprintf(n, sizeof n, "%d", np);
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 1);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 1);
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execlp("mpirun", "mpirun", "--oversubscribe", "--bind-to", "none", "-n", n, prog, arg,
               (char *)NULL);
        fprintf(stderr, "cannot run mpirun\n");
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Outside mpirun: runs this program on 4 ranks with the size as its argument, and exits
 * with its status. Inside: returns. */
static inline void mpi_bench_launch(long n) {
    if (getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE"))
        return;
    char self[4096], size[32];
    mpi_bench_self(self, sizeof self);
    snprintf(size, sizeof size, "%ld", n);
    exit(mpi_bench_mpirun(4, self, size));
}

#endif
