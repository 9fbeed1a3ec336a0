/*
 * weft_hook.h: the hook library (libweft-hook), an opt-in companion of
 * libweft that makes unmodified blocking code (libcurl, a database client,
 * plain socket code) cooperate with weft's coroutines.
 *
 * What it does. libweft-hook defines its own read, write, readv, writev,
 * recv, recvfrom, recvmsg, send, sendto, sendmsg, connect, accept, accept4,
 * poll, select, sleep, usleep, nanosleep, clock_nanosleep and getaddrinfo
 * (plus close, fcntl, ioctl(FIONBIO), socket, socketpair, pipe, pipe2, dup,
 * dup2 and dup3 for bookkeeping). Each one calls the C library's function
 * (found with dlsym(RTLD_NEXT)).
 *
 *   - Inside a coroutine, i.e. on a thread with a weft scheduler (its main
 *     coroutine included, as gevent's hub treats the main greenlet): a call
 *     that would block parks only that coroutine (weft_fd_wait, weft_sleep)
 *     while the thread's other coroutines run. A thread has a scheduler
 *     once it has spawned a coroutine, called weft_self(), started a
 *     threads == 0 HTTP server, or is a weft_thread_start thread. Sockets and pipes the coroutine uses
 *     are switched to O_NONBLOCK internally (never descriptors 0-2: they
 *     are often shared with other processes). getaddrinfo runs on the
 *     default pool (weft_offload). SO_RCVTIMEO / SO_SNDTIMEO set with
 *     setsockopt are honoured (the call fails with EAGAIN as libc's would).
 *     A coroutine cancelled while parked gets -1 with errno ECANCELED.
 *   - Inside a timeout scope (weft_timeout_enter), on any thread, a wait is
 *     cut at the scope's deadline as weft.h describes there (EAGAIN for
 *     I/O, ETIMEDOUT for connect/poll/select, EAI_AGAIN for getaddrinfo,
 *     sleeps end early).
 *   - Threads without a scheduler, outside timeout scopes, get exactly
 *     libc's behaviour and errno.
 *   - A descriptor the program itself made non-blocking (fcntl O_NONBLOCK,
 *     ioctl FIONBIO, SOCK_NONBLOCK, pipe2 O_NONBLOCK, accept4) stays
 *     non-blocking: calls on it return EAGAIN inside coroutines too. One
 *     the hook made non-blocking still behaves as blocking everywhere,
 *     fcntl(F_GETFL) does not show the hook's O_NONBLOCK.
 *   - Regular files, terminals and other descriptors are passed through
 *     (a read of a disk file blocks the thread, as it would anyway: use
 *     weft_offload for those).
 *   - Bookkeeping is per descriptor number, updated by the calls above. A
 *     descriptor closed behind the hook's back (fclose, close_range, a raw
 *     system call) and reused may be treated by its old state until the
 *     next socket/pipe/accept/dup returns that number.
 *
 * How to link it (silent failure is the classic trap of this technique:
 * call weft_hook_check() at start-up and refuse to run without it):
 *   - Dynamically: `cc prog.c -lweft-hook -lweft` (libweft-hook.so needs
 *     libweft.so, never the static libweft.a: that would put two schedulers
 *     in the process). -lweft-hook must appear before any library that
 *     also defines these functions, and if the program itself calls none of
 *     weft_hook's functions, the linker may drop it: use
 *     -Wl,--no-as-needed -lweft-hook -Wl,--as-needed.
 *   - Preloaded into an unmodified program linked with libweft.so:
 *     LD_PRELOAD=libweft-hook.so ./prog. (Not with sanitizers: ASan and
 *     TSan must come first in the lookup order; link the hook instead.)
 *   - Statically: `-Wl,--whole-archive libweft-hook.a -Wl,--no-whole-archive
 *     libweft.a` and -rdynamic (or -Wl,--export-dynamic), so that shared
 *     libraries such as libcurl.so resolve read/write/poll to the
 *     program's definitions. A fully static executable (-static) binds
 *     only the program's own calls; the C library's internal calls are
 *     never hooked.
 *   - Loading it with dlopen() does not work (its symbols are not in the
 *     global lookup scope); weft_hook_check says so.
 *
 * Watchdog: with the environment variable WEFT_WATCHDOG_MS=<ms> set when
 * the hook library loads, a monitor thread samples every scheduler's switch
 * counter every ms/4 and reports on stderr each coroutine (by id and name)
 * that kept its scheduler busy for longer than ms without switching,
 * naming the hooked call it was blocked in when it is in one:
 *     weft watchdog: coroutine 7 "fetch" kept its thread busy for more than 200 ms (in read)
 *         #0 0x7f3c2a1b2c40 (libc.so.6+0x114c40)
 *         #1 0x55d0c01a2f1e (server+0x1f1e)
 * followed by the return addresses found on its stack, innermost first, as
 * module+offset (addr2line -e MODULE OFFSET names them; a stale one may
 * appear), and counted (weft_hook_watchdog_hits).
 * (the number is the WEFT_WATCHDOG_MS threshold; " (in <call>)" is left out
 * when the coroutine is not inside a hooked call)
 * The report is written by the stuck thread itself from a SIGURG handler
 * (SA_RESTART), so the watchdog takes over SIGURG; a non-restartable call
 * the stuck coroutine is blocked in (poll, nanosleep) returns EINTR.
 * Reported once per stall. Off when the variable is unset or 0.
 */
#ifndef WEFT_HOOK_H
#define WEFT_HOOK_H

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of hooked calls weft_hook_check() examines (the 20 named above). */
#define WEFT_HOOK_COUNT 20

/* Provided by libweft-hook; weak so that this header also works in a
 * program that does not link it. Call weft_hook_check() instead. */
extern int weft_hook__report(char *buf, size_t n, int64_t (*program_weft_now)(void))
    __attribute__((weak));

/* Finds out at run time which hooks are live and returns how many (0 ..
 * WEFT_HOOK_COUNT); all are live only when the result is WEFT_HOOK_COUNT.
 * A hook is live when calls from shared libraries (dlsym(RTLD_DEFAULT),
 * i.e. what libcurl's PLT binds to) and from the program itself reach
 * the hook library, which is proved by calling each one with a harmless
 * probe. buf (if n > 0) receives a NUL-terminated report in words: one
 * line per call, "read: live" or "read: dead (resolves to
 * /lib/.../libc.so.6: ...)" with the likely reason (link order, static
 * executable, dlopen, a second copy of libweft), or, when the hook library
 * is not in the process at all, one line saying so and how to link or
 * preload it. All hooks count as dead when the hook library uses another
 * copy of libweft than the caller (a program linked with libweft.a, the
 * hook preloaded with libweft.so): its coroutines would be invisible to the
 * hooks. Works in a
 * program that links only libweft (it then returns 0). Thread-safe; does
 * not need a scheduler. Errors: -EINVAL (buf NULL with n > 0). */
static inline int weft_hook_check(char *buf, size_t n) {
    int (*fn)(char *, size_t, int64_t (*)(void)) = weft_hook__report;
    if (!buf && n)
        return -EINVAL;
    if (!fn) /* (void *)0 is RTLD_DEFAULT: the global lookup scope */
        *(void **)&fn = dlsym((void *)0, "weft_hook__report");
    if (fn) /* weft_now as this program binds it: the hook must use the same libweft */
        return fn(buf, n, weft_now);
    if (n)
        snprintf(buf, n,
                 "weft-hook: not loaded: all %d hooks are dead (the program links only libweft). "
                 "Link -lweft-hook (before -lweft; with -Wl,--no-as-needed), or run with "
                 "LD_PRELOAD=libweft-hook.so, or link libweft-hook.a with -Wl,--whole-archive "
                 "and -rdynamic.\n",
                 WEFT_HOOK_COUNT);
    return 0;
}

/* 1 if the watchdog is running (WEFT_WATCHDOG_MS was set), else 0; 0 also
 * when the hook library is not loaded. */
extern int weft_hook__watchdog_on(void) __attribute__((weak));
static inline int weft_hook_watchdog_running(void) {
    int (*fn)(void) = weft_hook__watchdog_on;
    if (!fn)
        *(void **)&fn = dlsym((void *)0, "weft_hook__watchdog_on");
    return fn ? fn() : 0;
}

/* How many watchdog reports were written so far in this process (one per
 * stall); 0 when the watchdog is off or the hook library is not loaded. */
extern uint64_t weft_hook__watchdog_count(void) __attribute__((weak));
static inline uint64_t weft_hook_watchdog_hits(void) {
    uint64_t (*fn)(void) = weft_hook__watchdog_count;
    if (!fn)
        *(void **)&fn = dlsym((void *)0, "weft_hook__watchdog_count");
    return fn ? fn() : 0;
}

#ifdef __cplusplus
}
#endif
#endif /* WEFT_HOOK_H */
