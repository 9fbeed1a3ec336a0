/* C side of the assembly switches: building a fresh context's first frame. */
#ifndef WEFT_USE_UCONTEXT
#include "arch/ctx.h"

#include <stdint.h>
#include <string.h>

void *weft__ctx_swap(void **from_sp, void *to_sp, void *arg);
void weft__ctx_start(void);

void weft__ctx_init(weft__ctx *c, void *lo, size_t size, void (*entry)(void *)) {
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
#if defined(__x86_64__)
    /* Popped in order: r15 r14 r13 r12 rbx rbp, then ret into ctx_start with
     * rsp 16-byte aligned (top - 16), so the entry's call leaves the ABI's
     * rsp+8 alignment. */
    uint64_t *sp = (uint64_t *)(top - 72);
    sp[3] = (uint64_t)(uintptr_t)entry;        /* r12; other registers start undefined */
    sp[5] = 0;                                 /* rbp: ends frame-pointer walks */
    sp[6] = (uint64_t)(uintptr_t)weft__ctx_start + 1; /* return address: past its nop */
#elif defined(__aarch64__)
    uint64_t *sp = (uint64_t *)(top - 160);
    memset(sp, 0, 160);
    sp[0] = (uint64_t)(uintptr_t)entry;           /* x19 */
    sp[11] = (uint64_t)(uintptr_t)weft__ctx_start + 4; /* x30: past its nop */
#elif defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_float_abi_double)
    uint64_t *sp = (uint64_t *)(top - 208);
    memset(sp, 0, 208);                           /* s0 (frame pointer) = 0 */
    sp[0] = (uint64_t)(uintptr_t)weft__ctx_start; /* ra */
    sp[2] = (uint64_t)(uintptr_t)entry;           /* s1 */
#else
#error "no assembly context switch for this architecture: configure with -DWEFT_UCONTEXT=ON"
#endif
    c->sp = sp;
}

void *weft__ctx_switch(weft__ctx *from, weft__ctx *to, void *arg) {
    return weft__ctx_swap(&from->sp, to->sp, arg);
}
#endif
