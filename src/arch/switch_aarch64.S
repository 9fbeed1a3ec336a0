/* AArch64 AAPCS64 context switch: saves x19-x29, lr, sp and d8-d15.
 * void *weft__ctx_swap(void **from_sp, void *to_sp, void *arg)
 * FPCR is shared by all contexts of a thread. */
#if defined(__aarch64__) && !defined(WEFT_USE_UCONTEXT)
    .text
    .globl weft__ctx_swap
    .hidden weft__ctx_swap
    .type weft__ctx_swap, %function
    .p2align 4
weft__ctx_swap:
    sub sp, sp, #160
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #160
    mov x0, x2
    ret
    .size weft__ctx_swap, .-weft__ctx_swap

/* First entry of a new context: x19 holds the entry function, x0 the arg. */
    .globl weft__ctx_start
    .hidden weft__ctx_start
    .type weft__ctx_start, %function
    .p2align 4
weft__ctx_start:
    mov x29, #0
    blr x19
    brk #0
    .size weft__ctx_start, .-weft__ctx_start
#endif
    .section .note.GNU-stack,"",%progbits
