/* Forked processes: weft_proc_start and everything a handle offers (join,
 * exit code, is_alive, signals, names), and the subclass style. See
 * weft.h, "Processes"; the registry and the reaper are in registry.c. */
#include "core/syscalls.h"
#include "coro/sched.h"
#include "proc/proc.h"

#include <stdio.h>
#include <stdio_ext.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static atomic_uint g_counter; /* "Process-N" */
/* In a forked child: the name in its copy of its own handle, which nothing
 * frees there. A pointer, not a copy: every page a child writes costs it a
 * copy-on-write fault. */
static const char *g_cur_name = "MainProcess";
/* In a child weft_proc_start forked: the pid of the process that started
 * it, recorded at the fork (getppid() changes when that process dies). 0
 * elsewhere, and again in a child forked by a plain fork(). */
static pid_t g_parent;

void weft__proc_set_current_name(const char *name) { g_cur_name = name; }
void weft__proc_clear_parent(void) { g_parent = 0; }

/* _exit through a pointer: a call through the PLT would make every child
 * resolve the symbol afresh (lazy binding: a symbol lookup and a written
 * GOT page each time), as the parent never calls it. */
static void (*volatile exit_fn)(int) = _exit;
/* Likewise fflush: the parent calls it only when output is pending. */
static int (*volatile flush_fn)(FILE *) = fflush;

void weft__proc_reset_counter(void) { atomic_store(&g_counter, 0); }

/* Flushes stdout and stderr before a fork, so that the child does not write
 * their buffered output again. Only when something is buffered: fflush
 * takes the stream's lock, and each libc page the parent writes between two
 * forks costs it a copy-on-write fault (30-50 us here). */
static void flush_std(void) {
    if (__fpending(stdout))
        fflush(stdout);
    if (__fpending(stderr))
        fflush(stderr);
}

WEFT_API const char *weft_proc_current_name(void) { return g_cur_name; }
WEFT_API pid_t weft_getpid(void) { return weft__proc_self(); }
WEFT_API pid_t weft_getppid(void) { return getppid(); }
WEFT_API pid_t weft_parent_process(void) { return g_parent; }

weft_proc *weft__proc_new(const char *name, int daemon, int exec) {
    char buf[32];
    if (!name) {
        snprintf(buf, sizeof buf, "Process-%u", atomic_fetch_add(&g_counter, 1) + 1);
        name = buf;
    }
    size_t len = strlen(name);
    weft_proc *p = weft__malloc(sizeof *p + len + 1);
    if (!p)
        return NULL;
    memset(p, 0, sizeof *p);
    p->tag = WEFT__PROC_MAGIC;
    memcpy(p->name, name, len + 1);
    p->pid = 0;
    p->owner = weft__proc_self();
    p->pidfd = -1;
    p->daemon = daemon ? 1 : 0;
    p->exec = exec;
    p->stdio[0] = p->stdio[1] = p->stdio[2] = -1;
    atomic_init(&p->state, WEFT__P_RUNNING);
    pthread_mutex_init(&p->mu, NULL);
    weft_lock_init(&p->joiner);
    return p;
}

__attribute__((noreturn)) static void child_main(weft_proc *p, weft_proc_fn fn, void *arg,
                                                 pid_t parent) {
    if (p->daemon) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) /* the parent died before the line above */
            _exit(1);
    }
    weft__proc_set_current_name(p->name);
    g_parent = parent;
    int rc = fn(arg);
    weft__proc_exit_children();
    flush_fn(NULL);
    exit_fn(rc & 0xff);
    __builtin_unreachable();
}

static void kill_and_wait(pid_t pid) {
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

int weft__proc_adopt(weft_proc *p, pid_t pid, weft_proc **out) {
    bool is_pidfd;
    int fd = weft__exitfd_open(pid, &is_pidfd);
    if (fd < 0) {
        kill_and_wait(pid);
        weft__proc_free(p);
        return fd;
    }
    p->pid = pid;
    p->pidfd = fd;
    p->by_pid = !is_pidfd;
    weft__proc_register(p);
    *out = p;
    return 0;
}

WEFT_API int weft_proc_start(weft_proc **out, weft_proc_fn fn, void *arg,
                             const weft_proc_opts *opts) {
    if (!out || !fn)
        return -EINVAL;
    weft_proc *p = weft__proc_new(opts ? opts->name : NULL, opts ? opts->daemon : 0, 0);
    if (!p)
        return -ENOMEM;
    weft__fork_setup();
    flush_std();
    pid_t parent = weft__proc_self();
    pid_t pid = fork();
    if (pid < 0) {
        int e = -errno;
        weft__proc_free(p);
        return e;
    }
    if (pid == 0)
        child_main(p, fn, arg, parent);
    return weft__proc_adopt(p, pid, out);
}

static int check(const weft_proc *p, const char *fn) {
    if (!p)
        return -EINVAL;
    weft__proc_check(p, fn);
    if (p->owner != weft__proc_self())
        return -ECHILD;
    return 0;
}

static int reaped(weft_proc *p) {
    int st = atomic_load_explicit(&p->state, memory_order_acquire);
    return st == WEFT__P_RUNNING ? 0 : st == WEFT__P_EXITED ? 1 : -ECHILD;
}

WEFT_API int weft_proc_join(weft_proc *p, int64_t deadline) {
    int r = check(p, "weft_proc_join");
    if (r < 0)
        return r;
    for (;;) {
        if ((r = reaped(p)) != 0)
            return r < 0 ? r : 0;
        /* One joiner at a time waits on the pidfd (a descriptor has one
         * reading waiter per thread); the others wait for the lock, and
         * look again once they have it. Then: wait until the pidfd is
         * readable (the child has exited), and reap. */
        if (weft_lock_try_acquire(&p->joiner) != 0) {
            if ((r = weft_lock_acquire(&p->joiner, deadline)) < 0)
                return r;
            if (reaped(p)) {
                weft_lock_release(&p->joiner);
                continue;
            }
        }
        weft__why(WEFT__WHY_PROC, p, p->pidfd);
        r = weft_fd_wait(p->pidfd, WEFT_READABLE, deadline);
        if (r >= 0)
            r = weft__proc_reap(p);
        weft_lock_release(&p->joiner);
        if (r < 0)
            return r;
    }
}

WEFT_API int weft_proc_exitcode(weft_proc *p, int *code) {
    int r = check(p, "weft_proc_exitcode");
    if (r < 0)
        return r;
    if (!code)
        return -EINVAL;
    r = weft__proc_reap(p);
    if (r < 0)
        return r;
    if (r == 0)
        return -EAGAIN;
    *code = p->code;
    return 0;
}

WEFT_API int weft_proc_is_alive(weft_proc *p) {
    int r = check(p, "weft_proc_is_alive");
    if (r < 0)
        return r;
    return weft__proc_reap(p) == 0 ? 1 : 0;
}

WEFT_API pid_t weft_proc_pid(const weft_proc *p) {
    if (!p)
        return -EINVAL;
    weft__proc_check(p, "weft_proc_pid");
    return p->pid;
}
WEFT_API const char *weft_proc_name(const weft_proc *p) {
    if (!p)
        return NULL;
    weft__proc_check(p, "weft_proc_name");
    return p->name;
}
WEFT_API int weft_proc_daemon(const weft_proc *p) {
    if (!p)
        return -EINVAL;
    weft__proc_check(p, "weft_proc_daemon");
    return p->daemon;
}

WEFT_API int weft_proc_fd(const weft_proc *p) {
    int r = check(p, "weft_proc_fd");
    return r < 0 ? r : p->pidfd;
}

WEFT_API int weft_proc_signal(weft_proc *p, int sig) {
    int r = check(p, "weft_proc_signal");
    if (r < 0)
        return r;
    if (sig < 1 || sig > 64)
        return -EINVAL;
    if (atomic_load_explicit(&p->state, memory_order_acquire) != WEFT__P_RUNNING)
        return 0;
    /* The pidfd stays open until release, so this never reaches a process
     * that reused the pid. A child that has exited (not yet reaped) gives
     * ESRCH: nothing to do, as in Python. */
    return weft__proc_send(p, sig, false);
}

int weft__proc_send(weft_proc *p, int sig, bool registry_held) {
    static atomic_int refused; /* pidfd_send_signal gave ENOSYS or EPERM once */
    if (!p->by_pid && !atomic_load_explicit(&refused, memory_order_relaxed)) {
        if (weft__pidfd_send_signal(p->pidfd, sig) == 0 || errno == ESRCH)
            return 0;
        if (errno != ENOSYS && errno != EPERM)
            return -errno;
        atomic_store_explicit(&refused, 1, memory_order_relaxed);
    }
    /* The state turns from RUNNING only under both locks, with the reap: while
     * it is RUNNING the pid is still this child's (a zombie keeps it). */
    if (!registry_held)
        pthread_mutex_lock(&p->mu);
    int r = 0;
    if (atomic_load_explicit(&p->state, memory_order_acquire) == WEFT__P_RUNNING &&
        kill(p->pid, sig) != 0 && errno != ESRCH)
        r = -errno;
    if (!registry_held)
        pthread_mutex_unlock(&p->mu);
    return r;
}

WEFT_API int weft_proc_terminate(weft_proc *p) { return weft_proc_signal(p, SIGTERM); }
WEFT_API int weft_proc_kill(weft_proc *p) { return weft_proc_signal(p, SIGKILL); }

WEFT_API void weft_proc_release(weft_proc *p) {
    if (!p)
        return;
    weft__proc_check(p, "weft_proc_release");
    if (p->owner != weft__proc_self()) {
        /* A forked child's copy of its parent's handle: its descriptors
         * were closed at fork, it is on no list here. */
        p->tag = WEFT__TAG_DEAD;
        weft__free(p);
        return;
    }
    weft__proc_dispose(p);
}

/* ---- the subclass style ---------------------------------------------------- */

static int obj_tramp(void *arg) {
    weft_proc_obj *self = arg;
    return self->run(self);
}

WEFT_API int weft_proc_obj_start(weft_proc_obj *self, const weft_proc_opts *opts) {
    if (!self || !self->run)
        return -EINVAL;
    return weft_proc_start(&self->handle, obj_tramp, self, opts);
}

WEFT_API int weft_proc_obj_join(weft_proc_obj *self, int64_t deadline) {
    if (!self || !self->handle)
        return -EINVAL;
    return weft_proc_join(self->handle, deadline);
}

WEFT_API void weft_proc_obj_release(weft_proc_obj *self) {
    if (!self)
        return;
    weft_proc_release(self->handle);
    self->handle = NULL;
}
