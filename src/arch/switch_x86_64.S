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
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    movq %rsp, (%rdi)
    /* From here on the frame is the resumed context's: the same layout (six
     * registers, then the return address into its own caller), so the CFI
     * above describes it too and an unwinder sampling here stays correct. */
    movq %rsi, %rsp
    popq %r15
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r15
    popq %r14
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r14
    popq %r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r13
    popq %r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore %r12
    popq %rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbx
    popq %rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore %rbp
    movq %rdx, %rax
    ret
    .cfi_endproc
    .size weft__ctx_swap, .-weft__ctx_swap

/* First entry of a new context: r12 holds the entry function, rax the arg.
 * The outermost frame of every coroutine stack: its return address is
 * undefined in the CFI, so gdb, perf and the libgcc/libunwind unwinders stop
 * here instead of reading what lies above the stack's top; rbp is zeroed for
 * frame-pointer walks. */
    .globl weft__ctx_start
    .hidden weft__ctx_start
    .type weft__ctx_start, @function
    .p2align 4
weft__ctx_start:
    .cfi_startproc
    .cfi_undefined rip
    nop /* the first frame's return address is the next byte: an unwinder looks up
           the address before it, which must fall inside this function's CFI */
    movq %rax, %rdi
    xorl %ebp, %ebp
    callq *%r12
    ud2
    .cfi_endproc
    .size weft__ctx_start, .-weft__ctx_start
#endif
    .section .note.GNU-stack,"",@progbits
