/*
 * Floor for the `proc_queue` workload: N 8-byte messages from one process
 * to a forked child through a lock-free single-producer single-consumer
 * ring of 4096 slots in anonymous shared memory, both sides busy-waiting
 * (pause, and sched_yield() after SPINS failed polls so that two processes
 * sharing a CPU still progress). Each side caches the other's index. The
 * child checks the sum. Time: fork to the child's exit (waitpid).
 * Prints "proc_queue\tfloor\t<msgs/s>\tmsgs/s".
 * Usage: proc_queue_ring_floor [N]; BENCH_QUICK=1 for the reduced size.
 * bench/proc_queue.c includes this file (with PROC_QUEUE_NO_MAIN) to print
 * the floor beside weft's figure.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RF_SLOTS 4096u
#define RF_SPINS 1000

#if defined(__x86_64__) || defined(__i386__)
#define rf_relax() __builtin_ia32_pause()
#else
#define rf_relax() ((void)0)
#endif

struct rf_ring {
    alignas(64) _Atomic uint64_t head; /* next slot to write: producer's */
    alignas(64) _Atomic uint64_t tail; /* next slot to read: consumer's */
    alignas(64) uint64_t slot[RF_SLOTS];
};

static double rf_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void rf_wait(int *spins) {
    if (++*spins < RF_SPINS) {
        rf_relax();
    } else {
        sched_yield();
        *spins = 0;
    }
}

/* msgs/s, or a negative value on failure. */
static double ring_floor_run(long n) {
    struct rf_ring *r =
        mmap(NULL, sizeof *r, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r == MAP_FAILED)
        return -1;
    double t0 = rf_now();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        uint64_t sum = 0, tail = 0, head = 0;
        int spins = 0;
        while (tail < (uint64_t)n) {
            if (tail == head) {
                head = atomic_load_explicit(&r->head, memory_order_acquire);
                if (tail == head) {
                    rf_wait(&spins);
                    continue;
                }
            }
            sum += r->slot[tail % RF_SLOTS];
            tail++;
            atomic_store_explicit(&r->tail, tail, memory_order_release);
        }
        uint64_t want = (uint64_t)n * ((uint64_t)n - 1) / 2;
        _exit(sum == want ? 0 : 1);
    }
    uint64_t head = 0, tail = 0;
    int spins = 0;
    while (head < (uint64_t)n) {
        if (head - tail == RF_SLOTS) {
            tail = atomic_load_explicit(&r->tail, memory_order_acquire);
            if (head - tail == RF_SLOTS) {
                rf_wait(&spins);
                continue;
            }
        }
        r->slot[head % RF_SLOTS] = head;
        head++;
        atomic_store_explicit(&r->head, head, memory_order_release);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    double el = rf_now() - t0;
    munmap(r, sizeof *r);
    return (double)n / el;
}

#ifndef PROC_QUEUE_NO_MAIN
int main(int argc, char **argv) {
    const char *q = getenv("BENCH_QUICK");
    long n = argc > 1 ? atol(argv[1]) : (q && *q && strcmp(q, "0") ? 200000 : 1000000);
    double v = ring_floor_run(n);
    if (v < 0) {
        fprintf(stderr, "proc_queue_ring_floor: failed\n");
        return 1;
    }
    printf("proc_queue\tfloor\t%.6g\tmsgs/s\n", v);
    return 0;
}
#endif
