/* RISC-V RV64 LP64D context switch: saves ra, s0-s11 and fs0-fs11.
 * void *weft__ctx_swap(void **from_sp, void *to_sp, void *arg)
 * Frame (208 bytes, 16-aligned): ra at 0, s0-s11 at 8-96, fs0-fs11 at 104-192.
 * fcsr (rounding mode, flags) is shared by all contexts of a thread. */
#if defined(__riscv) && __riscv_xlen == 64 && defined(__riscv_float_abi_double) && \
    !defined(WEFT_USE_UCONTEXT)
    .text
    .globl weft__ctx_swap
    .hidden weft__ctx_swap
    .type weft__ctx_swap, @function
    .p2align 2
weft__ctx_swap:
    .cfi_startproc
    addi sp, sp, -208
    .cfi_adjust_cfa_offset 208
    sd ra, 0(sp)
    .cfi_rel_offset ra, 0
    sd s0, 8(sp)
    sd s1, 16(sp)
    sd s2, 24(sp)
    sd s3, 32(sp)
    sd s4, 40(sp)
    sd s5, 48(sp)
    sd s6, 56(sp)
    sd s7, 64(sp)
    sd s8, 72(sp)
    sd s9, 80(sp)
    sd s10, 88(sp)
    sd s11, 96(sp)
    fsd fs0, 104(sp)
    fsd fs1, 112(sp)
    fsd fs2, 120(sp)
    fsd fs3, 128(sp)
    fsd fs4, 136(sp)
    fsd fs5, 144(sp)
    fsd fs6, 152(sp)
    fsd fs7, 160(sp)
    fsd fs8, 168(sp)
    fsd fs9, 176(sp)
    fsd fs10, 184(sp)
    fsd fs11, 192(sp)
    sd sp, 0(a0)
    mv sp, a1
    ld ra, 0(sp)
    ld s0, 8(sp)
    ld s1, 16(sp)
    ld s2, 24(sp)
    ld s3, 32(sp)
    ld s4, 40(sp)
    ld s5, 48(sp)
    ld s6, 56(sp)
    ld s7, 64(sp)
    ld s8, 72(sp)
    ld s9, 80(sp)
    ld s10, 88(sp)
    ld s11, 96(sp)
    fld fs0, 104(sp)
    fld fs1, 112(sp)
    fld fs2, 120(sp)
    fld fs3, 128(sp)
    fld fs4, 136(sp)
    fld fs5, 144(sp)
    fld fs6, 152(sp)
    fld fs7, 160(sp)
    fld fs8, 168(sp)
    fld fs9, 176(sp)
    fld fs10, 184(sp)
    fld fs11, 192(sp)
    addi sp, sp, 208
    .cfi_adjust_cfa_offset -208
    .cfi_restore ra
    mv a0, a2
    ret
    .cfi_endproc
    .size weft__ctx_swap, .-weft__ctx_swap

/* First entry of a new context: s1 holds the entry function, a0 the arg
 * (the swap's return value). s0, the frame pointer, starts at 0. */
    .globl weft__ctx_start
    .hidden weft__ctx_start
    .type weft__ctx_start, @function
    .p2align 2
weft__ctx_start:
    .cfi_startproc
    .cfi_undefined ra
    mv s0, zero
    jalr s1
    ebreak
    .cfi_endproc
    .size weft__ctx_start, .-weft__ctx_start
#endif
    .section .note.GNU-stack,"",@progbits
