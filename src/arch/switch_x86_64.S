/* x86_64 SysV context switch: saves only the callee-saved registers.
 * void *weft__ctx_swap(void **from_sp, void *to_sp, void *arg)
 * The x87 control word and MXCSR are shared by all contexts of a thread. */
#if defined(__x86_64__) && !defined(WEFT_USE_UCONTEXT)
    .text
    .globl weft__ctx_swap
    .hidden weft__ctx_swap
    .type weft__ctx_swap, @function
    .p2align 4
weft__ctx_swap:
    .cfi_startproc
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    movq %rdx, %rax
    ret
    .cfi_endproc
    .size weft__ctx_swap, .-weft__ctx_swap

/* First entry of a new context: r12 holds the entry function, rax the arg. */
    .globl weft__ctx_start
    .hidden weft__ctx_start
    .type weft__ctx_start, @function
    .p2align 4
weft__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    movq %rax, %rdi
    xorl %ebp, %ebp
    callq *%r12
    ud2
    .cfi_endproc
    .size weft__ctx_start, .-weft__ctx_start
#endif
    .section .note.GNU-stack,"",@progbits
