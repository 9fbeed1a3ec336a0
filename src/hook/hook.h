/* Private declarations of libweft-hook (src/hook/). */
#ifndef WEFT_HOOK_PRIVATE_H
#define WEFT_HOOK_PRIVATE_H

#include "internal.h"
#include "weft_hook.h"

#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#define HOOK_API __attribute__((visibility("default")))
#define HOOK_TLS __thread __attribute__((tls_model("initial-exec")))

/* The C library's functions, resolved with dlsym(RTLD_NEXT) on first use. */
struct weft_hook_real {
    ssize_t (*read)(int, void *, size_t);
    ssize_t (*write)(int, const void *, size_t);
    ssize_t (*readv)(int, const struct iovec *, int);
    ssize_t (*writev)(int, const struct iovec *, int);
    ssize_t (*recv)(int, void *, size_t, int);
    ssize_t (*recvfrom)(int, void *, size_t, int, struct sockaddr *, socklen_t *);
    ssize_t (*recvmsg)(int, struct msghdr *, int);
    ssize_t (*send)(int, const void *, size_t, int);
    ssize_t (*sendto)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
    ssize_t (*sendmsg)(int, const struct msghdr *, int);
    int (*connect)(int, const struct sockaddr *, socklen_t);
    int (*accept)(int, struct sockaddr *, socklen_t *);
    int (*accept4)(int, struct sockaddr *, socklen_t *, int);
    int (*poll)(struct pollfd *, nfds_t, int);
    int (*select)(int, fd_set *, fd_set *, fd_set *, struct timeval *);
    unsigned (*sleep)(unsigned);
    int (*usleep)(useconds_t);
    int (*nanosleep)(const struct timespec *, struct timespec *);
    int (*clock_nanosleep)(clockid_t, int, const struct timespec *, struct timespec *);
    int (*getaddrinfo)(const char *, const char *, const struct addrinfo *, struct addrinfo **);
    int (*close)(int);
    int (*fcntl)(int, int, ...);
    int (*ioctl)(int, unsigned long, ...);
    int (*socket)(int, int, int);
    int (*socketpair)(int, int, int, int[2]);
    int (*pipe)(int[2]);
    int (*pipe2)(int[2], int);
    int (*dup)(int);
    int (*dup2)(int, int);
    int (*dup3)(int, int, int);
    int (*setsockopt)(int, int, int, const void *, socklen_t);
};
extern struct weft_hook_real weft_hook__real;
/* Resolves every entry of weft_hook__real (idempotent, thread-safe). */
void weft_hook__resolve(void);

/* The names of the WEFT_HOOK_COUNT checked calls, in a fixed order. */
extern const char *const weft_hook__names[WEFT_HOOK_COUNT];

/* Probe support for the check: while weft_hook__probing is set, each
 * hooked call records its index in weft_hook__probe_hit and returns at
 * once (with a harmless result). */
extern HOOK_TLS int weft_hook__probing;
extern HOOK_TLS int weft_hook__probe_hit;

/* The hooked call the calling thread is inside of (for the watchdog), or
 * NULL. */
extern HOOK_TLS const char *weft_hook__current_call;

/* The address of the hook's own definition of call i. */
void *weft_hook__self(int i);

#endif
