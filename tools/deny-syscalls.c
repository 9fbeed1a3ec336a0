/* deny-syscalls: runs a command as if on an older kernel or under a seccomp
 * policy: the system calls newer than Linux 5.0 that weft uses or that glibc
 * tries first fail with one errno, for the command and everything it starts.
 *
 *     deny-syscalls ENOSYS|EPERM [--clone3 ENOSYS|EPERM] command [args...]
 *
 * Denied: pidfd_open (5.3), pidfd_send_signal (5.1), waitid(P_PIDFD) (5.4),
 * epoll_pwait2 (5.11), membarrier (4.3, refused by many container policies)
 * and clone3 (5.3). clone3 fails with ENOSYS unless --clone3 says otherwise:
 * glibc (2.34 and later) falls back to clone only on ENOSYS, so with EPERM no
 * program can start a thread (container runtimes answer ENOSYS for it for
 * that reason). `make oldkernel` runs the whole suite under it, once per errno. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/syscalls.h" /* SYS_pidfd_open, SYS_pidfd_send_signal, SYS_epoll_pwait2 */

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

/* The filter applies to this build's ABI only (numbers differ per ABI). */
#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_I386
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_RISCV64
#else
#error "deny-syscalls: unknown architecture"
#endif

static int parse_errno(const char *s) {
    if (strcmp(s, "ENOSYS") == 0)
        return ENOSYS;
    if (strcmp(s, "EPERM") == 0)
        return EPERM;
    return -1;
}

int main(int argc, char **argv) {
    int a = 1, err = argc > a ? parse_errno(argv[a++]) : -1, clone3_err = ENOSYS;
    if (err > 0 && argc > a + 1 && strcmp(argv[a], "--clone3") == 0) {
        clone3_err = parse_errno(argv[a + 1]);
        a += 2;
    }
    if (err < 0 || clone3_err < 0 || a >= argc) {
        fprintf(stderr, "usage: %s ENOSYS|EPERM [--clone3 ENOSYS|EPERM] command [args...]\n", argv[0]);
        return 2;
    }
    const unsigned deny = SECCOMP_RET_ERRNO | (unsigned)err;
    const unsigned deny_clone3 = SECCOMP_RET_ERRNO | (unsigned)clone3_err;
    struct sock_filter f[] = {
        /* [0] */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        /* [1] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0),
        /* [2] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW), /* another ABI: left alone */
        /* [3] */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* [4] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 7, 0),
        /* [5] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_send_signal, 6, 0),
        /* [6] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_epoll_pwait2, 5, 0),
        /* [7] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_membarrier, 4, 0),
        /* [8] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 5, 0),
        /* [9] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_waitid, 0, 3),
        /* [10] */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        /* [11] */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, WEFT__P_PIDFD, 0, 1),
        /* [12] */ BPF_STMT(BPF_RET | BPF_K, deny),
        /* [13] */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* [14] */ BPF_STMT(BPF_RET | BPF_K, deny_clone3),
    };
    struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
        fprintf(stderr, "deny-syscalls: cannot install a seccomp filter: %s\n", strerror(errno));
        return 3;
    }
    execvp(argv[a], argv + a);
    fprintf(stderr, "deny-syscalls: %s: %s\n", argv[a], strerror(errno));
    return 127;
}
