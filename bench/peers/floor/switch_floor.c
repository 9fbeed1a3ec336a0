/*
 * Floor for the `switch` workload: the cheapest possible symmetric context
 * switch on this machine. Two contexts hand control to each other through a
 * hand-written x86_64 switch that saves only the six callee-saved registers
 * (rbx, rbp, r12-r15) and the stack pointer; FPU/SSE control words are
 * shared, not saved. Prints "switch\tfloor\t<ns per switch>\tns/op" for one
 * run. Usage: switch_floor [SWITCHES]; BENCH_QUICK=1 for the reduced size.
 * On other architectures it prints "switch\tfloor\tskipped\tns/op".
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__)

/* void floor_switch(void **save_sp, void *load_sp) */
void floor_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl floor_switch\n"
        ".type floor_switch,@function\n"
        "floor_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size floor_switch, .-floor_switch\n");

static void *main_sp, *coro_sp;

static void coro_entry(void) {
    for (;;)
        floor_switch(&coro_sp, main_sp);
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv) {
    long switches =
        getenv("BENCH_QUICK") && strcmp(getenv("BENCH_QUICK"), "1") == 0 ? 10000000L : 100000000L;
    if (argc > 1)
        switches = strtol(argv[1], NULL, 10);
    if (switches < 2) {
        fprintf(stderr, "switch_floor: bad size\n");
        return 2;
    }
    long rounds = switches / 2;

    size_t stack_size = 64 * 1024;
    char *stack = aligned_alloc(64, stack_size);
    if (!stack)
        return 1;
    /* Top of stack, 16-byte aligned. `ret` pops coro_entry from a 16-aligned
     * slot, so coro_entry starts with rsp % 16 == 8, as after a call; the slot
     * above it is a null return address (coro_entry never returns). */
    uintptr_t top = ((uintptr_t)(stack + stack_size)) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = NULL;               /* fake return address of coro_entry */
    *--sp = (void *)coro_entry; /* popped by ret */
    for (int i = 0; i < 6; i++) /* rbp, rbx, r12-r15 */
        *--sp = NULL;
    coro_sp = sp;

    floor_switch(&main_sp, coro_sp); /* warm up */
    int64_t t0 = now_ns();
    for (long i = 0; i < rounds; i++)
        floor_switch(&main_sp, coro_sp);
    int64_t el = now_ns() - t0;
    printf("switch\tfloor\t%.3f\tns/op\n", (double)el / (double)(2 * rounds));
    return 0;
}

#else

int main(void) {
    printf("switch\tfloor\tskipped\tns/op\n");
    fprintf(stderr, "note: switch floor is written for x86_64 only\n");
    return 0;
}

#endif
