/* weft_session.h: the session keeper. Programs (a shell, `ssh host`) run
 * under a pseudo-terminal kept by a small server process of their own, in
 * the background; a script or a person lists them, sends them text, reads
 * their output, attaches a terminal to one, detaches again and comes back
 * later, with the program still running. The command `weft-session` is
 * built on these calls.
 *
 * Sessions. weft_session_start runs a program under a new pseudo-terminal
 * and returns its id (1, 2, 3, ... in its directory; never reused while
 * any session with a higher id exists). The program is kept by a server
 * process of its own (double-forked, in a new session, its standard
 * streams on /dev/null), so one crash loses one session and the caller
 * may exit. The server keeps the last 256 KiB of output (the scrollback
 * ring, replayed to a client that attaches) and answers clients on a unix
 * socket <dir>/<id>.sock. When the program exits, the server tells every
 * connected client, and keeps the exit status and the ring until the
 * session is removed: weft_session_kill (or `weft-session kill`), or a
 * weft_session_list with WEFT_SESSION_REAP (which `weft-session ls`
 * uses: an exited session is shown once, then gone).
 *
 * The directory. NULL for a dir argument means: $WEFT_SESSION_DIR if set,
 * else $XDG_RUNTIME_DIR/weft-sessions if XDG_RUNTIME_DIR is set, else
 * /tmp/weft-sessions-<uid>. It is created mode 0700 if missing, and
 * checked with lstat before every use: it must be a directory (not a
 * symbolic link), owned by the caller's uid, with no group or other
 * permission bits; otherwise the call fails with -EPERM (-ENOTDIR if it is
 * not a directory) and weft_session_dir_error() describes what is wrong.
 * The server checks every client with SO_PEERCRED and refuses any uid but
 * its own.
 *
 * Coroutines. Every call that waits parks only the calling coroutine
 * (weft's fd waits; outside coroutines the thread blocks in poll), so a
 * program may drive many sessions at once, one coroutine each. A
 * weft_session handle is used by one coroutine at a time.
 *
 * Deadlines are absolute (weft_now() clock; WEFT_FOREVER, WEFT_NOWAIT), as
 * in weft.h. Errors are negative errno values; weft_strerror names them.
 */
#ifndef WEFT_SESSION_H
#define WEFT_SESSION_H

#include "weft.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The longest name and command text kept per session (bytes, with the
 * terminating NUL); longer ones are cut. */
enum { WEFT_SESSION_NAME_MAX = 64, WEFT_SESSION_CMD_MAX = 256 };

/* A session's state (weft_session_info.state). */
enum {
    WEFT_SESSION_DETACHED = 0, /* running, no terminal attached */
    WEFT_SESSION_ATTACHED = 1, /* running, one or more terminals attached */
    WEFT_SESSION_EXITED = 2,   /* the program has exited (exit_code) */
};

typedef struct weft_session_info {
    int id;
    pid_t pid;                          /* the program's process id */
    pid_t server_pid;                   /* the server process's id */
    int state;                          /* WEFT_SESSION_DETACHED, _ATTACHED, _EXITED */
    int exit_code;                      /* EXITED: 0 .. 255, or -N if killed by signal
                                           N; else 0 */
    int attached;                       /* terminals attached now */
    int64_t created;                    /* wall-clock time (CLOCK_REALTIME, ns since
                                           the epoch) the session started */
    int64_t last_output;                /* wall-clock time of its last output; 0: none */
    char name[WEFT_SESSION_NAME_MAX];   /* "" if none */
    char command[WEFT_SESSION_CMD_MAX]; /* the argv, joined by spaces */
} weft_session_info;

typedef struct weft_session_opts {
    const char *dir;   /* the session directory; NULL: the default (see
                          above) */
    const char *name;  /* the session's name; NULL: none. At most
                          WEFT_SESSION_NAME_MAX - 1 bytes, no newline */
    int rows, cols;    /* the terminal's initial size; 0: 24 x 80 */
    char *const *envp; /* the program's environment; NULL: the
                          caller's */
} weft_session_opts;

/* Resolves the session directory (dir, or the default for NULL), creates
 * it (mode 0700) if it is missing and checks it as described above; copies
 * its path to buf (cap bytes, NUL-terminated).
 * Errors: -EINVAL (buf NULL or cap 0), -ENAMETOOLONG (the path does not
 * fit in cap, or is too long for a unix socket path), -EPERM (a symbolic
 * link, another owner, group or other permission bits), -ENOTDIR (not a
 * directory), and mkdir's or lstat's errors (-EACCES, -ENOENT for a
 * missing parent, ...). */
WEFT_API int weft_session_dir(const char *dir, char *buf, size_t cap);

/* The description of the last directory check that failed in the calling
 * thread ("/tmp/x: owned by uid 1000, not 0"), or "" if none failed. */
WEFT_API const char *weft_session_dir_error(void);

/* Starts the program `path` (searched in PATH when it has no '/') with
 * arguments argv (NULL-terminated) in a new detached session, and stores
 * its id in *id (id may be NULL). Returns once the program runs, or fails
 * with its exec error and leaves nothing behind. opts may be NULL.
 * Errors: -EINVAL (path or argv NULL, argv empty, a name too long or with
 * a newline, rows or cols out of 0 .. 65535), the directory's errors (as
 * weft_session_dir), -ENOENT, -EACCES, -ENOEXEC ... (the program could not
 * be executed), -ENOMEM, -EAGAIN (fork failed, or the server died before
 * it could start the program), -EMFILE / -ENFILE, -ENOSPC (no
 * pseudo-terminal left). The window size (rows, cols) is set right after
 * the program starts: a program that reads it at once may see 24 x 80
 * first, then gets SIGWINCH. */
WEFT_API int weft_session_start(int *id, const char *path, char *const argv[],
                                const weft_session_opts *opts);

/* Flags of weft_session_list. */
enum { WEFT_SESSION_REAP = 1 /* remove every exited session listed */ };

/* Lists the sessions of dir (NULL: the default): fills out[0 .. max) in
 * increasing id order and returns how many sessions there are (which may
 * be more than max; out may be NULL when max is 0). A socket whose server
 * is gone (crashed, killed) is removed on the way and not listed.
 * Errors: -EINVAL (max < 0, out NULL with max > 0, unknown flags), the
 * directory's errors, -ENOMEM. */
WEFT_API int weft_session_list(const char *dir, weft_session_info *out, int max, int flags);

/* The id of the session that `which` names: a decimal id, or a name.
 * Errors: -EINVAL (which NULL or empty), -ENOENT (no such session),
 * -ENOTUNIQ (several sessions have that name), the directory's errors. */
WEFT_API int weft_session_find(const char *dir, const char *which);

/* A connection to one session. */
typedef struct weft_session weft_session;

/* Modes of weft_session_open (a mask). */
enum {
    WEFT_SESSION_OUTPUT = 1,   /* receive the program's output from now on
                                  (weft_session_read / _expect) */
    WEFT_SESSION_REPLAY = 2,   /* with OUTPUT: first the scrollback ring */
    WEFT_SESSION_INPUT = 4,    /* may send input (weft_session_send); without
                                  it the server ignores input */
    WEFT_SESSION_TERMINAL = 8, /* counts as an attached terminal (state
                                  ATTACHED); its resizes apply */
};

/* Connects to session id of dir (NULL: the default) in `mode` (a mask of
 * the flags above; 0 for requests only: info, log, rename, kill, wait).
 * Errors: -EINVAL (out NULL, id < 1, unknown mode bits, REPLAY without
 * OUTPUT), the directory's errors, -ENOENT (no such session),
 * -ECONNREFUSED (its server is gone; the stale socket is removed),
 * -EACCES (the server refused the caller), -ETIMEDOUT, -ECANCELED,
 * -ENOMEM, -EMFILE. */
WEFT_API int weft_session_open(weft_session **out, const char *dir, int id, int mode,
                               int64_t deadline);

/* Closes the connection (the session goes on) and frees s. NULL is a
 * no-op. */
WEFT_API void weft_session_close(weft_session *s);

/* The connection's socket (for a caller that wants to weft_fd_wait on it
 * with others), or -EINVAL for NULL. */
WEFT_API int weft_session_fd(const weft_session *s);

/* Types len bytes into the session, as keys (for a line, end it with
 * "\r", the Enter key). Errors: -EINVAL (s NULL, data NULL with len > 0,
 * len over 1 MiB), -EPERM (s was not opened with WEFT_SESSION_INPUT),
 * -EPIPE (the session is gone), -ETIMEDOUT, -ECANCELED, -EBUSY (another
 * coroutine is using s). */
WEFT_API int weft_session_send(weft_session *s, const void *data, size_t len, int64_t deadline);

/* weft_session_send of text followed by "\r". Errors: as weft_session_send;
 * -EINVAL for text NULL. */
WEFT_API int weft_session_sendline(weft_session *s, const char *text, int64_t deadline);

/* Reads the program's output that arrived since the last read (at least
 * one byte, waiting for it until deadline): returns the number of bytes
 * copied to buf, 0 once the program has exited (or the server went away)
 * and everything before was read. At most 4 MiB are kept unread; beyond,
 * the oldest unread output is dropped.
 * Errors: -EINVAL (s or buf NULL, cap 0), -EPERM (not opened with
 * WEFT_SESSION_OUTPUT), -ETIMEDOUT, -ECANCELED, -EBUSY, -ENOMEM. */
WEFT_API ssize_t weft_session_read(weft_session *s, void *buf, size_t cap, int64_t deadline);

/* Expect: waits until the unread output contains `pattern` (a plain byte
 * string), then consumes the output up to and including it and returns
 * how many bytes that was. If buf is non-NULL, it receives that text
 * NUL-terminated (its last cap - 1 bytes if it is longer).
 * Errors: -EINVAL (s or pattern NULL, pattern empty, buf non-NULL with cap
 * 0), -EPERM (not opened with WEFT_SESSION_OUTPUT), -ETIMEDOUT (nothing is
 * consumed), -EPIPE (the program exited, or the server went away, first;
 * nothing is consumed: weft_session_read returns what is left),
 * -ECANCELED, -EBUSY, -ENOMEM. */
WEFT_API ssize_t weft_session_expect(weft_session *s, const char *pattern, char *buf, size_t cap,
                                     int64_t deadline);

/* Resizes the session's terminal (TIOCSWINSZ; the program gets SIGWINCH).
 * Errors: -EINVAL (s NULL, rows or cols out of 1 .. 65535), -EPERM (not
 * opened with WEFT_SESSION_TERMINAL), -EPIPE, -ETIMEDOUT, -ECANCELED,
 * -EBUSY. */
WEFT_API int weft_session_resize(weft_session *s, int rows, int cols, int64_t deadline);

/* The session's information. Errors: -EINVAL (s or out NULL), -EPIPE (the
 * server went away), -ETIMEDOUT, -ECANCELED, -EBUSY. */
WEFT_API int weft_session_info_get(weft_session *s, weft_session_info *out, int64_t deadline);

/* Renames the session. Errors: -EINVAL (s or name NULL, name too long or
 * with a newline), -EPIPE, -ETIMEDOUT, -ECANCELED, -EBUSY. */
WEFT_API int weft_session_rename(weft_session *s, const char *name, int64_t deadline);

/* The last `lines` lines (1 .. 100000) of the scrollback ring, without
 * attaching: copied to buf (NUL-terminated; its last cap - 1 bytes if
 * longer), returns the full length. Errors: -EINVAL (s or buf NULL, cap 0,
 * lines out of range), -EPIPE, -ETIMEDOUT, -ECANCELED, -EBUSY, -ENOMEM. */
WEFT_API ssize_t weft_session_log(weft_session *s, int lines, char *buf, size_t cap,
                                  int64_t deadline);

/* Waits until the program exits, or the deadline: stores its exit code
 * (0 .. 255, or -N if killed by signal N) in *code (code may be NULL).
 * The session stays until removed. Errors: -EINVAL (s NULL), -EPIPE (the
 * server went away without telling), -ETIMEDOUT, -ECANCELED, -EBUSY. */
WEFT_API int weft_session_wait(weft_session *s, int64_t deadline, int *code);

/* Ends the session: the program gets SIGHUP (as when a terminal hangs
 * up), SIGKILL if it is still there a second later; then the server
 * removes the session and exits. Returns once it is gone; s stays to be
 * closed. A session whose program already exited is removed.
 * Errors: -EINVAL (s NULL), -ETIMEDOUT, -ECANCELED, -EBUSY. */
WEFT_API int weft_session_kill(weft_session *s, int64_t deadline);

typedef struct weft_session_attach_opts {
    int in_fd, out_fd; /* the terminal: keys from in_fd, output to out_fd;
                          -1: 0 (in), 1 (out); both 0 (a zeroed struct):
                          0 and 1 */
    int detach_key;    /* the byte that detaches; 0: Ctrl-\ (0x1c); -1:
                          none */
    int read_only;     /* 1: input is not sent (and the server ignores
                          it: WEFT_SESSION_INPUT is not asked for) */
    int no_replay;     /* 1: do not replay the scrollback ring */
} weft_session_attach_opts;

/* Attaches the calling terminal to session id: the terminal (in_fd, if it
 * is one) is put in raw mode, the ring is replayed, then keys go to the
 * program and its output to out_fd; the session's window size follows
 * in_fd's (SIGWINCH is caught while attached). Returns 0 when the detach
 * key is typed or in_fd ends (a hung-up terminal), 1 when the program
 * exits (its exit code in *code, if code is non-NULL); the terminal's
 * mode, flags and SIGWINCH disposition are restored. The session goes on
 * after a detach. opts may be NULL.
 * Errors: -EINVAL (id < 1, detach_key out of -1 .. 255), -EBADF (in_fd
 * or out_fd not open), -EBUSY (another attach runs in this process), as
 * weft_session_open, -EPIPE (the server went away), -EIO (out_fd
 * failed), -ECANCELED. */
WEFT_API int weft_session_attach(const char *dir, int id, const weft_session_attach_opts *opts,
                                 int *code);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SESSION_H */
