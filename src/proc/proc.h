/* Processes: the handle and the process-wide registry. Private to
 * src/proc/. */
#ifndef WEFT_PROC_H
#define WEFT_PROC_H

#include "internal.h"

#include <pthread.h>
#include <signal.h>
#include <sys/types.h>

enum {
    WEFT__P_RUNNING = 0,
    WEFT__P_EXITED = 1, /* reaped; code holds the exit code */
    WEFT__P_LOST = 2,   /* reaped by someone else (waitpid(-1), SIGCHLD
                           ignored): the exit code is unknown */
};

struct weft_proc {
    uint32_t tag;       /* WEFT__PROC_MAGIC; WEFT__TAG_DEAD once freed */
    pid_t pid;
    pid_t owner;        /* getpid() of the process that created it */
    int pidfd;          /* its exit descriptor (exitfd.c): the pidfd, or an eventfd */
    bool by_pid;        /* pidfd is an eventfd: wait for and signal the child by pid */
    int daemon;
    int exec;           /* 1: started by weft_proc_exec */
    int stdio[3];       /* parent's pipe ends, -1 for none */
    atomic_int state;   /* WEFT__P_*: written under mu and the registry lock */
    int code;
    pthread_mutex_t mu; /* serializes the reaping waitid */
    weft_lock joiner;   /* the one joiner that waits on the pidfd */
    int released;       /* registry lock: the handle was released */
    struct weft_proc *prev, *next; /* registry: every handle not freed */
    char name[];
};

#define WEFT__PROC_MAGIC 0x70726f63u /* "proc" */
/* Every entry point checks its handle. */
static inline void weft__proc_check(const weft_proc *p, const char *fn) {
    weft__tag_check_handle(p->tag, WEFT__PROC_MAGIC, fn, "weft_proc", p);
}

/* exitfd.c */
/* A descriptor that becomes readable (and stays so) once child pid has exited:
 * its pidfd, or, where pidfd_open(2) is refused (ENOSYS: Linux < 5.3; EPERM: a
 * seccomp policy), an eventfd that a SIGCHLD-driven watcher writes; *is_pidfd
 * says which. The caller reaps the child (by pid where it is not a pidfd) and
 * calls weft__exitfd_forget before closing the descriptor. -errno on failure. */
int weft__exitfd_open(pid_t pid, bool *is_pidfd);
void weft__exitfd_forget(int fd);
/* Whether the child behind exit descriptor fd has exited, now (not waiting for
 * the watcher to write a fallback eventfd). */
bool weft__exitfd_ended(int fd, pid_t pid);
void weft__exitfd_atfork_prepare(void);
void weft__exitfd_atfork_parent(void);
void weft__exitfd_atfork_child(void);

/* registry.c */
/* The calling process's pid (cached; reset in a forked child). */
pid_t weft__proc_self(void);
void weft__proc_register(weft_proc *p);
/* weft_dump: calls fn on every handle of the registry, under its lock
 * (try_only: -EAGAIN at once if it is taken). */
int weft__proc_each(bool try_only, void (*fn)(void *ud, const weft_proc *p), void *ud);
/* Reaps p if it has exited, without waiting: 1 if p is reaped (now or
 * before), 0 if it still runs, -ECHILD if its exit code was lost. */
int weft__proc_reap(weft_proc *p);
/* Sends sig to p's process through its pidfd; where pidfd_send_signal is refused
 * (a kernel before 5.1, seccomp), with kill(2) while p is known unreaped (under
 * p->mu, or under the registry's lock when registry_held). 0, or -errno. */
int weft__proc_send(weft_proc *p, int sig, bool registry_held);
/* Frees p (closing its descriptors) now if it was reaped, else hands it to
 * the reaper. */
void weft__proc_dispose(weft_proc *p);
/* Closes p's descriptors and frees it; p must be out of the registry. */
void weft__proc_free(weft_proc *p);
/* The at-exit work (weft.h, "At exit"): terminate daemon children, wait
 * for the others. */
void weft__proc_exit_children(void);
/* fork handlers */
void weft__proc_atfork_prepare(void);
void weft__proc_atfork_parent(void);
void weft__proc_atfork_child(void);
/* process.c: a new handle (not registered, no pid yet); NULL on out of
 * memory. name NULL: "Process-N". */
weft_proc *weft__proc_new(const char *name, int daemon, int exec);
/* process.c: gives the started child pid to p (its pidfd, the registry)
 * and sets *out: 0; or kills and reaps the child, frees p and returns the
 * negative errno. */
int weft__proc_adopt(weft_proc *p, pid_t pid, weft_proc **out);
/* process.c: the name of the calling process, set in a forked child. */
void weft__proc_set_current_name(const char *name);
void weft__proc_reset_counter(void);
/* process.c: weft_parent_process() gives 0 again (a plain fork()). */
void weft__proc_clear_parent(void);

#endif
