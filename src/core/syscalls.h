/* Raw system calls whose libc wrappers are newer than the oldest libc weft
 * builds against (glibc 2.31, musl): pidfd_open and pidfd_send_signal
 * (wrappers in glibc 2.36), epoll_pwait2 (2.35). Their numbers are the same
 * on every architecture (the unified table from Linux 5.1 on), so a libc
 * whose headers predate them still gets them here. Each returns what the
 * wrapper would: -1 with errno set on failure. */
#ifndef WEFT_CORE_SYSCALLS_H
#define WEFT_CORE_SYSCALLS_H

#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_epoll_pwait2
#define SYS_epoll_pwait2 441
#endif
/* waitid's P_PIDFD (Linux 5.4; in glibc's headers from 2.36) */
#define WEFT__P_PIDFD 3

static inline int weft__pidfd_open(pid_t pid, unsigned flags) {
    return (int)syscall(SYS_pidfd_open, pid, flags);
}

static inline int weft__pidfd_send_signal(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, (void *)0, 0u);
}

/* The kernel's timespec has 64-bit fields on every ABI (__kernel_timespec),
 * also where the libc's time_t is 32 bits. */
struct weft__ktimespec {
    int64_t tv_sec;
    int64_t tv_nsec;
};

struct epoll_event;
static inline int weft__epoll_pwait2(int ep, struct epoll_event *evs, int max,
                                     const struct weft__ktimespec *ts) {
    return (int)syscall(SYS_epoll_pwait2, ep, evs, max, ts, (void *)0, (size_t)_NSIG / 8);
}

#endif
