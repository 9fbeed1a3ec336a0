/* Exit descriptors: for each forked child, a descriptor that becomes readable
 * when the child has exited and stays readable, which the process handles
 * (join, weft_wait, the reaper) and the process pool's watcher poll.
 *
 * Normally it is the child's pidfd. Where pidfd_open(2) is refused (ENOSYS: a
 * kernel before 5.3; EPERM: a seccomp policy), it is an eventfd instead, and
 * SIGCHLD drives it: weft installs a SIGCHLD handler (chaining to the one it
 * replaces) that wakes a watcher thread; the watcher looks at each watched
 * child without reaping it (waitid with WNOWAIT) and writes the eventfd of
 * each one that has exited. The reaping stays with the owner, by pid, which is
 * exact as long as the child is unreaped. Nothing polls in a loop: the watcher
 * sleeps until a SIGCHLD, with a 1 s look as a safety net for a program that
 * replaces weft's handler later or ignores SIGCHLD (then the kernel reaps its
 * children itself, and the owner learns that its child's exit code is lost).
 *
 * Lock order: x_mu is a leaf. */
#include "core/syscalls.h"
#include "proc/proc.h"

#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>

typedef struct xf {
    struct xf *next;
    pid_t pid;
    int efd;
    bool fired; /* efd written */
} xf;

static pthread_mutex_t x_mu = PTHREAD_MUTEX_INITIALIZER;
static xf *x_head;              /* watched children (x_mu) */
static atomic_int x_refused;    /* pidfd_open said ENOSYS or EPERM once */
static atomic_int x_wake = -1;  /* the eventfd the handler writes; -1: none */
static bool x_started;          /* the watcher thread runs (x_mu) */
static bool x_installed;        /* the SIGCHLD handler was set up (x_mu) */
static struct sigaction x_prev; /* the disposition weft's handler replaced */

static void on_sigchld(int sig, siginfo_t *si, void *uc) {
    int saved = errno;
    int fd = atomic_load_explicit(&x_wake, memory_order_relaxed);
    if (fd >= 0) {
        uint64_t one = 1;
        /* raw: async-signal-safe, and past any interposed write() */
        long r = syscall(SYS_write, fd, &one, sizeof one);
        (void)r;
    }
    errno = saved;
    if (x_prev.sa_flags & SA_SIGINFO) {
        if (x_prev.sa_sigaction)
            x_prev.sa_sigaction(sig, si, uc);
    } else if (x_prev.sa_handler != SIG_DFL && x_prev.sa_handler != SIG_IGN) {
        x_prev.sa_handler(sig);
    }
}

/* Whether child pid has exited (or is no longer this process's child to wait
 * for: someone else reaped it), without reaping it. */
static bool child_gone(pid_t pid) {
    siginfo_t si;
    memset(&si, 0, sizeof si);
    int r;
    do
        r = waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT);
    while (r < 0 && errno == EINTR);
    return (r == 0 && si.si_pid != 0) || (r < 0 && errno == ECHILD);
}

/* x_mu held: writes the eventfd of every watched child that is gone. */
static void scan(void) {
    for (xf *x = x_head; x; x = x->next) {
        if (x->fired)
            continue;
        if (child_gone(x->pid)) {
            uint64_t one = 1;
            long k = syscall(SYS_write, x->efd, &one, sizeof one);
            (void)k;
            x->fired = true;
        }
    }
}

static void *watcher_main(void *arg) {
    int wake = (int)(intptr_t)arg;
    for (;;) {
        pthread_mutex_lock(&x_mu);
        if (atomic_load_explicit(&x_wake, memory_order_relaxed) != wake) {
            pthread_mutex_unlock(&x_mu); /* not ours: never, but do no harm */
            return NULL;
        }
        scan();
        bool idle = true;
        for (xf *x = x_head; x && idle; x = x->next)
            idle = x->fired;
        pthread_mutex_unlock(&x_mu);
        struct pollfd pf = {.fd = wake, .events = POLLIN};
        weft__sys_poll(&pf, 1, idle ? -1 : 1000);
        uint64_t v;
        long k = syscall(SYS_read, wake, &v, sizeof v);
        (void)k;
    }
    return NULL;
}

/* x_mu held: the handler and the watcher, once. 0 or -errno. */
static int start(void) {
    if (atomic_load_explicit(&x_wake, memory_order_relaxed) < 0) {
        int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (fd < 0)
            return -errno;
        atomic_store_explicit(&x_wake, fd, memory_order_relaxed);
    }
    if (!x_installed) {
        struct sigaction prev, sa;
        if (sigaction(SIGCHLD, NULL, &prev) != 0)
            return -errno;
        /* SIGCHLD ignored (or SA_NOCLDWAIT): the kernel reaps every child at
         * once, so there is no exit to be told of: the watcher's look each
         * second finds the children gone. The program's choice stays. */
        if (!(prev.sa_flags & SA_SIGINFO) && prev.sa_handler == SIG_IGN) {
            x_installed = true;
        } else {
            x_prev = prev;
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_sigchld;
            sa.sa_mask = prev.sa_mask;
            sa.sa_flags = SA_SIGINFO | SA_RESTART |
                          (prev.sa_flags & (SA_NOCLDSTOP | SA_NOCLDWAIT | SA_ONSTACK));
            if (sigaction(SIGCHLD, &sa, NULL) != 0)
                return -errno;
            x_installed = true;
        }
    }
    if (!x_started) {
        int e = weft__service_thread(
            watcher_main, (void *)(intptr_t)atomic_load_explicit(&x_wake, memory_order_relaxed),
            64 * 1024);
        if (e)
            return e;
        x_started = true;
    }
    return 0;
}

int weft__exitfd_open(pid_t pid, bool *is_pidfd) {
    if (!atomic_load_explicit(&x_refused, memory_order_relaxed)) {
        int fd = weft__pidfd_open(pid, 0);
        if (fd >= 0) {
            *is_pidfd = true;
            return fd;
        }
        if (errno != ENOSYS && errno != EPERM)
            return -errno;
        atomic_store_explicit(&x_refused, 1, memory_order_relaxed);
    }
    *is_pidfd = false;
    xf *x = weft__malloc(sizeof *x);
    if (!x)
        return -ENOMEM;
    x->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (x->efd < 0) {
        int e = -errno;
        weft__free(x);
        return e;
    }
    x->pid = pid;
    x->fired = false;
    pthread_mutex_lock(&x_mu);
    int r = start();
    if (r < 0) {
        pthread_mutex_unlock(&x_mu);
        close(x->efd);
        weft__free(x);
        return r;
    }
    x->next = x_head;
    x_head = x;
    /* The child may have exited (and its SIGCHLD come) before it was listed:
     * the watcher looks at it at once. */
    uint64_t one = 1;
    long k = syscall(SYS_write, atomic_load_explicit(&x_wake, memory_order_relaxed), &one, sizeof one);
    (void)k;
    pthread_mutex_unlock(&x_mu);
    return x->efd;
}

void weft__exitfd_forget(int fd) {
    /* entries exist only once pidfd_open was refused */
    if (fd < 0 || !atomic_load_explicit(&x_refused, memory_order_relaxed))
        return;
    pthread_mutex_lock(&x_mu);
    for (xf **pp = &x_head; *pp; pp = &(*pp)->next)
        if ((*pp)->efd == fd) {
            xf *x = *pp;
            *pp = x->next;
            weft__free(x);
            break;
        }
    pthread_mutex_unlock(&x_mu);
}

bool weft__exitfd_ended(int fd, pid_t pid) {
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int r;
    while ((r = weft__sys_poll(&pf, 1, 0)) < 0 && errno == EINTR) {
    }
    if (r != 0 || !atomic_load_explicit(&x_refused, memory_order_relaxed))
        return r != 0;
    return child_gone(pid); /* an eventfd the watcher may not have written yet */
}

void weft__exitfd_atfork_prepare(void) { pthread_mutex_lock(&x_mu); }
void weft__exitfd_atfork_parent(void) { pthread_mutex_unlock(&x_mu); }

/* The child has no children yet, and no watcher: the list (the parent's
 * children; their descriptors are their owners' to close) is emptied, and
 * the wake descriptor, shared with the parent, is replaced when needed. The
 * handler stays installed (dispositions are inherited). */
void weft__exitfd_atfork_child(void) {
    xf *x = x_head;
    x_head = NULL;
    while (x) {
        xf *n = x->next;
        weft__free(x);
        x = n;
    }
    int fd = atomic_exchange_explicit(&x_wake, -1, memory_order_relaxed);
    if (fd >= 0)
        close(fd);
    x_started = false;
    pthread_mutex_unlock(&x_mu);
}
