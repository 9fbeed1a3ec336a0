/* The process-wide registry of process handles, the reaper thread, and the
 * at-exit handling of children (weft.h, "Processes").
 *
 * Every handle that is not freed yet is on one list (g_mu). A handle
 * released while its child still runs stays there, marked released, and
 * the reaper thread (started on the first such release) owns it: it polls
 * the pidfds of released children, reaps each one as it exits and frees
 * its handle. At exit, g_exiting stops every free (handles are leaked, not
 * freed under a walker's feet), daemon children are sent SIGTERM and every
 * forked child is waited for.
 *
 * Lock order: a handle's mu, then g_mu. */
#include "core/syscalls.h"
#include "coro/sched.h"
#include "proc/proc.h"

#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>


static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static weft_proc *g_head, *g_tail;
static int g_exiting;
static atomic_int g_count;  /* handles on the list (read without g_mu) */
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int r_efd = -1;   /* wakes the reaper: a handle was released */
static int r_started;    /* the reaper thread runs */
static atomic_int g_pid; /* getpid(), cached (glibc does not); 0: not yet */

pid_t weft__proc_self(void) {
    pid_t pid = atomic_load_explicit(&g_pid, memory_order_relaxed);
    if (unlikely(!pid)) {
        weft__fork_setup(); /* so that a fork() resets the cache */
        pid = getpid();
        atomic_store_explicit(&g_pid, pid, memory_order_relaxed);
    }
    return pid;
}

int weft__proc_each(bool try_only, void (*fn)(void *ud, const weft_proc *p), void *ud) {
    if (try_only ? pthread_mutex_trylock(&g_mu) != 0 : pthread_mutex_lock(&g_mu) != 0)
        return -EAGAIN;
    for (weft_proc *p = g_head; p; p = p->next)
        fn(ud, p);
    pthread_mutex_unlock(&g_mu);
    return 0;
}

static void at_exit(void) { weft__proc_exit_children(); }

static void setup(void) {
    if (atexit(at_exit) != 0)
        WEFT_PANIC("atexit failed");
}

static void link_tail(weft_proc *p) {
    p->next = NULL;
    p->prev = g_tail;
    if (g_tail)
        g_tail->next = p;
    else
        g_head = p;
    g_tail = p;
}

static void unlink_(weft_proc *p) {
    atomic_fetch_sub_explicit(&g_count, 1, memory_order_relaxed);
    if (p->prev)
        p->prev->next = p->next;
    else
        g_head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        g_tail = p->prev;
    p->prev = p->next = NULL;
}

void weft__proc_register(weft_proc *p) {
    pthread_once(&g_once, setup);
    pthread_mutex_lock(&g_mu);
    link_tail(p);
    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
    pthread_mutex_unlock(&g_mu);
}

/* p->mu held, p running: reaps p if it has exited, without waiting; its
 * new state, and in *code its exit code. */
/* waitid(P_PIDFD) works here (1), or was refused (0: a kernel before 5.4, or a
 * seccomp policy): then the child is waited for by pid, which is as exact, since
 * an unreaped child keeps its pid. */
static atomic_int g_waitid_pidfd = 1;

static int try_wait(weft_proc *p, int *code) {
    siginfo_t si;
    int r = -1;
    memset(&si, 0, sizeof si);
    if (!p->by_pid && atomic_load_explicit(&g_waitid_pidfd, memory_order_relaxed)) {
        do
            r = waitid((idtype_t)WEFT__P_PIDFD, (id_t)p->pidfd, &si, WEXITED | WNOHANG);
        while (r < 0 && errno == EINTR);
        if (r < 0 && errno != ECHILD) /* EINVAL, ENOSYS, EPERM: not this way */
            atomic_store_explicit(&g_waitid_pidfd, 0, memory_order_relaxed);
    }
    if (p->by_pid || !atomic_load_explicit(&g_waitid_pidfd, memory_order_relaxed)) {
        memset(&si, 0, sizeof si);
        do
            r = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG);
        while (r < 0 && errno == EINTR);
    }
    *code = 0;
    if (r == 0 && si.si_pid != 0) {
        *code = si.si_code == CLD_EXITED ? si.si_status : -si.si_status;
        return WEFT__P_EXITED;
    }
    if (r < 0 && errno == ECHILD)
        return WEFT__P_LOST;
    return WEFT__P_RUNNING;
}

int weft__proc_reap(weft_proc *p) {
    int st = atomic_load_explicit(&p->state, memory_order_acquire);
    if (st == WEFT__P_RUNNING) {
        pthread_mutex_lock(&p->mu);
        st = atomic_load_explicit(&p->state, memory_order_relaxed);
        if (st == WEFT__P_RUNNING) {
            int code;
            st = try_wait(p, &code);
            if (st != WEFT__P_RUNNING) {
                pthread_mutex_lock(&g_mu);
                p->code = code;
                atomic_store_explicit(&p->state, st, memory_order_release);
                pthread_mutex_unlock(&g_mu);
            }
        }
        pthread_mutex_unlock(&p->mu);
    }
    return st == WEFT__P_RUNNING ? 0 : st == WEFT__P_EXITED ? 1 : -ECHILD;
}

void weft__proc_free(weft_proc *p) {
    for (int i = 0; i < 3; i++)
        if (p->stdio[i] >= 0)
            weft_fd_close(p->stdio[i]);
    if (p->pidfd >= 0) {
        weft__exitfd_forget(p->pidfd);
        weft_fd_close(p->pidfd);
    }
    pthread_mutex_destroy(&p->mu);
    p->tag = WEFT__TAG_DEAD;
    weft__free(p);
}

/* ---- active children ------------------------------------------------------ */

WEFT_API int weft_active_children(pid_t *pids, int max) {
    if (max < 0 || (!pids && max > 0))
        return -EINVAL;
    if (atomic_load_explicit(&g_count, memory_order_acquire) == 0)
        return 0;
    pid_t self = weft__proc_self();
    int n = 0;
    pthread_mutex_lock(&g_mu);
    for (weft_proc *p = g_head; p; p = p->next) {
        if (p->released || p->owner != self)
            continue;
        int st = atomic_load_explicit(&p->state, memory_order_acquire);
        /* Reap it if it has exited. p->mu comes before g_mu: only a try
         * here; a failed try means another thread is reaping p right now,
         * and p counts as it was. */
        if (st == WEFT__P_RUNNING && pthread_mutex_trylock(&p->mu) == 0) {
            st = atomic_load_explicit(&p->state, memory_order_relaxed);
            if (st == WEFT__P_RUNNING) {
                int code;
                st = try_wait(p, &code);
                if (st != WEFT__P_RUNNING) {
                    p->code = code;
                    atomic_store_explicit(&p->state, st, memory_order_release);
                }
            }
            pthread_mutex_unlock(&p->mu);
        }
        if (st != WEFT__P_RUNNING)
            continue;
        if (n < max)
            pids[n] = p->pid;
        n++;
    }
    pthread_mutex_unlock(&g_mu);
    return n;
}

/* ---- the reaper ----------------------------------------------------------- */

#define REAPER_MAX 512

/* Frees reaped p and takes it out of the registry, unless the process is
 * exiting (the exit handler owns the registry then). */
static void drop_reaped(weft_proc *p) {
    pthread_mutex_lock(&g_mu);
    int keep = g_exiting;
    if (!keep)
        unlink_(p);
    pthread_mutex_unlock(&g_mu);
    if (!keep)
        weft__proc_free(p);
}

static void *reaper_main(void *unused) {
    (void)unused;
    struct pollfd pf[REAPER_MAX];
    weft_proc *ps[REAPER_MAX];
    for (;;) {
        int n = 1, more = 0;
        pthread_mutex_lock(&g_mu);
        pf[0] = (struct pollfd){.fd = r_efd, .events = POLLIN};
        for (weft_proc *p = g_head; p; p = p->next) {
            if (!p->released || atomic_load(&p->state) != WEFT__P_RUNNING)
                continue;
            if (n == REAPER_MAX) {
                more = 1;
                break;
            }
            ps[n] = p;
            pf[n++] = (struct pollfd){.fd = p->pidfd, .events = POLLIN};
        }
        pthread_mutex_unlock(&g_mu);
        int r = weft__sys_poll(pf, (unsigned long)n, more ? 20 : -1);
        if (r < 0)
            continue; /* EINTR; poll cannot fail otherwise with valid fds */
        if (pf[0].revents) {
            uint64_t v;
            ssize_t k = read(r_efd, &v, sizeof v);
            (void)k;
        }
        for (int i = 1; i < n; i++) {
            weft_proc *p = ps[i];
            if (!pf[i].revents) {
                if (more) { /* let the ones past REAPER_MAX have a turn */
                    pthread_mutex_lock(&g_mu);
                    unlink_(p);
                    link_tail(p);
                    atomic_fetch_add_explicit(&g_count, 1, memory_order_relaxed);
                    pthread_mutex_unlock(&g_mu);
                }
                continue;
            }
            if (weft__proc_reap(p) == 0)
                continue;
            drop_reaped(p);
        }
    }
    return NULL;
}

/* g_mu held. Starts the reaper if needed; 0 or a negative errno. */
static int reaper_start(void) {
    if (r_started)
        return 0;
    if (r_efd < 0) {
        r_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (r_efd < 0)
            return -errno;
    }
    int e = weft__service_thread(
        reaper_main, NULL, 64 * 1024 + REAPER_MAX * (sizeof(struct pollfd) + sizeof(void *)));
    if (e)
        return e;
    r_started = 1;
    return 0;
}

void weft__proc_dispose(weft_proc *p) {
    for (int i = 0; i < 3; i++)
        if (p->stdio[i] >= 0) {
            weft_fd_close(p->stdio[i]);
            p->stdio[i] = -1;
        }
    weft__proc_reap(p);
    pthread_mutex_lock(&g_mu);
    if (g_exiting) {
        p->released = 1;
        pthread_mutex_unlock(&g_mu);
        return;
    }
    if (atomic_load(&p->state) != WEFT__P_RUNNING) {
        unlink_(p);
        pthread_mutex_unlock(&g_mu);
        weft__proc_free(p);
        return;
    }
    p->released = 1;
    if (reaper_start() == 0) {
        uint64_t one = 1;
        ssize_t k = write(r_efd, &one, sizeof one);
        (void)k;
        pthread_mutex_unlock(&g_mu);
        return;
    }
    pthread_mutex_unlock(&g_mu);
    /* No reaper (no thread or descriptor to be had): reap by waiting. Not
     * what the caller asked for, but never a zombie. */
    for (;;) {
        struct pollfd pf = {.fd = p->pidfd, .events = POLLIN};
        weft__sys_poll(&pf, 1, -1);
        if (weft__proc_reap(p) != 0)
            break;
    }
    drop_reaped(p);
}

/* ---- exit ----------------------------------------------------------------- */

void weft__proc_exit_children(void) {
    /* A child that started no process writes nothing here (each page it
     * writes costs it a copy-on-write fault). */
    if (atomic_load_explicit(&g_count, memory_order_acquire) == 0)
        return;
    pthread_mutex_lock(&g_mu);
    g_exiting = 1;
    for (weft_proc *p = g_head; p; p = p->next)
        if (!p->exec && p->daemon && atomic_load(&p->state) == WEFT__P_RUNNING)
            weft__proc_send(p, SIGTERM, true);
    for (;;) {
        weft_proc *w = NULL;
        for (weft_proc *p = g_head; p && !w; p = p->next)
            if (!p->exec && atomic_load(&p->state) == WEFT__P_RUNNING)
                w = p;
        if (!w)
            break;
        pthread_mutex_unlock(&g_mu); /* nothing is freed while g_exiting */
        while (weft__proc_reap(w) == 0) {
            struct pollfd pf = {.fd = w->pidfd, .events = POLLIN};
            weft__sys_poll(&pf, 1, -1);
        }
        pthread_mutex_lock(&g_mu);
    }
    pthread_mutex_unlock(&g_mu);
}

/* ---- fork ----------------------------------------------------------------- */

void weft__proc_atfork_prepare(void) { pthread_mutex_lock(&g_mu); }
void weft__proc_atfork_parent(void) { pthread_mutex_unlock(&g_mu); }

/* The child has no children yet: the handles on the list are the
 * parent's. Their descriptors are closed here (a pipe end kept open in the
 * child would keep a program from seeing end-of-file); the handles' memory
 * stays, as the application may still hold them (calls on them fail with
 * -ECHILD). */
void weft__proc_atfork_child(void) {
    pthread_mutex_unlock(&g_mu); /* the forking thread took it in prepare */
    atomic_store_explicit(&g_pid, 0, memory_order_relaxed);
    for (weft_proc *p = g_head; p; p = p->next) {
        for (int i = 0; i < 3; i++)
            if (p->stdio[i] >= 0)
                close(p->stdio[i]);
        if (p->pidfd >= 0)
            close(p->pidfd);
    }
    g_head = g_tail = NULL;
    atomic_store(&g_count, 0);
    g_exiting = 0;
    if (r_efd >= 0)
        close(r_efd);
    r_efd = -1;
    r_started = 0;
    weft__proc_reset_counter();
    weft__proc_clear_parent();
}
