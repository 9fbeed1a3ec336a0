/* Running programs: weft_proc_exec, with posix_spawn (glibc reports a
 * failed exec as its return value and leaves no child behind) and one
 * file action per redirected stream. A pseudo-terminal stream: the master
 * is opened here, the child starts a new session (POSIX_SPAWN_SETSID runs
 * before the file actions) and opens the slave by name as its first
 * terminal, which makes it the controlling one. */
#include "proc/proc.h"

#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* A new pseudo-terminal's master (O_CLOEXEC | O_NONBLOCK), its slave unlocked and sized. Returns
 * 0 or a positive errno, as posix_spawn's helpers do. */
static int open_pty(int *master) {
    int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (m < 0)
        return errno;
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    if (grantpt(m) != 0 || unlockpt(m) != 0 || ioctl(m, TIOCSWINSZ, &ws) != 0 ||
        weft_fd_set_nonblock(m) < 0) {
        int e = errno ? errno : EIO;
        close(m);
        return e;
    }
    *master = m;
    return 0;
}

WEFT_API int weft_proc_exec(weft_proc **out, const char *path, char *const argv[],
                            const weft_exec_opts *opts) {
    if (!out || !path || !argv)
        return -EINVAL;
    int modes[3] = {WEFT_STDIO_INHERIT, WEFT_STDIO_INHERIT, WEFT_STDIO_INHERIT};
    for (int i = 0; i < 3 && opts; i++) {
        if (opts->stdio[i] < WEFT_STDIO_INHERIT || opts->stdio[i] > WEFT_STDIO_PTY)
            return -EINVAL;
        modes[i] = opts->stdio[i];
    }
    weft_proc *p = weft__proc_new(path, 0, 1);
    if (!p)
        return -ENOMEM;
    int child_end[3] = {-1, -1, -1};
    int r = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    if ((r = posix_spawn_file_actions_init(&fa)) != 0) {
        weft__proc_free(p);
        return -r;
    }
    if ((r = posix_spawnattr_init(&at)) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        weft__proc_free(p);
        return -r;
    }
    int master = -1, pty_fd = -1; /* pty_fd: the child's first descriptor on the slave */
    for (int i = 0; i < 3 && !r; i++) {
        if (modes[i] == WEFT_STDIO_PTY && master < 0) {
            char name[64];
            r = open_pty(&master);
            if (!r)
                r = ptsname_r(master, name, sizeof name);
            if (!r)
                r = posix_spawn_file_actions_addopen(&fa, i, name, O_RDWR, 0);
            pty_fd = i;
        } else if (modes[i] == WEFT_STDIO_PTY) {
            r = posix_spawn_file_actions_adddup2(&fa, pty_fd, i);
        }
        if (modes[i] == WEFT_STDIO_PTY && !r) {
            p->stdio[i] = fcntl(master, F_DUPFD_CLOEXEC, 3);
            if (p->stdio[i] < 0)
                r = errno;
        } else if (modes[i] == WEFT_STDIO_PIPE) {
            int fds[2];
            if (pipe2(fds, O_CLOEXEC) != 0) {
                r = errno;
                break;
            }
            /* stdin: the child reads fds[0]; stdout/stderr: it writes fds[1]. */
            p->stdio[i] = i == 0 ? fds[1] : fds[0];
            child_end[i] = i == 0 ? fds[0] : fds[1];
            int e = weft_fd_set_nonblock(p->stdio[i]);
            if (e < 0) {
                r = -e;
                break;
            }
            r = posix_spawn_file_actions_adddup2(&fa, child_end[i], i);
        } else if (modes[i] == WEFT_STDIO_NULL) {
            r = posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i == 0 ? O_RDONLY : O_WRONLY,
                                                 0);
        }
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    if (!r)
        r = posix_spawnattr_setsigmask(&at, &none);
    if (!r)
        r = posix_spawnattr_setsigdefault(&at, &all);
    if (!r)
        r = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                              (master >= 0 ? POSIX_SPAWN_SETSID : 0));
    pid_t pid = 0;
    if (!r) {
        char *const *envp = opts && opts->envp ? opts->envp : environ;
        if (strchr(path, '/'))
            r = posix_spawn(&pid, path, &fa, &at, argv, envp);
        else
            r = posix_spawnp(&pid, path, &fa, &at, argv, envp);
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    for (int i = 0; i < 3; i++)
        if (child_end[i] >= 0)
            close(child_end[i]);
    if (master >= 0)
        close(master);
    if (r) {
        weft__proc_free(p);
        return -r;
    }
    return weft__proc_adopt(p, pid, out);
}

static int check_stream(const weft_proc *p, int i) {
    if (!p)
        return -EINVAL;
    weft__proc_check(p, "weft_proc_stdio");
    if (i < 0 || i > 2)
        return -EINVAL;
    if (p->owner != weft__proc_self())
        return -ECHILD;
    if (p->stdio[i] < 0)
        return -EBADF;
    return 0;
}

WEFT_API int weft_proc_stdio(const weft_proc *p, int i) {
    int r = check_stream(p, i);
    return r < 0 ? r : p->stdio[i];
}

WEFT_API int weft_proc_close_stdio(weft_proc *p, int i) {
    int r = check_stream(p, i);
    if (r < 0)
        return r;
    int fd = p->stdio[i];
    p->stdio[i] = -1;
    return weft_fd_close(fd);
}
