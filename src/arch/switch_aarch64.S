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
    .cfi_startproc
    sub sp, sp, #160
    .cfi_adjust_cfa_offset 160
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
    .cfi_rel_offset x19, 0
    .cfi_rel_offset x20, 8
    .cfi_rel_offset x21, 16
    .cfi_rel_offset x22, 24
    .cfi_rel_offset x23, 32
    .cfi_rel_offset x24, 40
    .cfi_rel_offset x25, 48
    .cfi_rel_offset x26, 56
    .cfi_rel_offset x27, 64
    .cfi_rel_offset x28, 72
    .cfi_rel_offset x29, 80
    .cfi_rel_offset x30, 88
    mov x9, sp
    str x9, [x0]
    /* From here on the frame is the resumed context's: the same layout, so
     * the CFI above describes it too. */
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
    .cfi_adjust_cfa_offset -160
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore x29
    .cfi_restore x30
    mov x0, x2
    ret
    .cfi_endproc
    .size weft__ctx_swap, .-weft__ctx_swap

/* First entry of a new context: x19 holds the entry function, x0 the arg.
 * The outermost frame of every coroutine stack: its return address is
 * undefined in the CFI, so gdb, perf and the libgcc/libunwind unwinders stop
 * here; x29 is zeroed for frame-pointer walks. */
    .globl weft__ctx_start
    .hidden weft__ctx_start
    .type weft__ctx_start, %function
    .p2align 4
weft__ctx_start:
    .cfi_startproc
    .cfi_undefined x30
    nop /* the first frame's return address is the next instruction: an unwinder
           looks up the address before it, which must fall inside this function */
    mov x29, #0
    blr x19
    brk #0
    .cfi_endproc
    .size weft__ctx_start, .-weft__ctx_start
#endif
    .section .note.GNU-stack,"",%progbits
