/* weft_session_attach: the calling terminal joined to a session. Three coroutines: the caller
 * writes the session's output to the terminal; one reads keys (and watches for the detach
 * key); one follows SIGWINCH (a self-pipe written by the handler) with resize requests. The
 * socket is written by the last two under one lock. */
#include "session/session.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

struct attach_state {
    int sock;
    int in_fd, out_fd;
    int key;
    int read_only;
    int winch_rd;
    weft_lock wlock;
    int detached; /* the key was typed, or the terminal ended */
};

static atomic_int winch_wr = -1;
static atomic_flag attached_flag = ATOMIC_FLAG_INIT;

static void on_winch(int sig) {
    (void)sig;
    int saved = errno;
    int fd = atomic_load(&winch_wr);
    if (fd >= 0) {
        ssize_t w = write(fd, "w", 1);
        (void)w;
    }
    errno = saved;
}

static int get_size(int fd, struct winsize *ws) {
    return ioctl(fd, TIOCGWINSZ, ws) == 0 && ws->ws_row && ws->ws_col;
}

static int send_locked(struct attach_state *a, uint32_t type, const void *p, size_t len) {
    if (weft_lock_acquire(&a->wlock, WEFT_FOREVER) < 0)
        return -ECANCELED;
    int r = weft__wsp_send(a->sock, type, p, len, WEFT_FOREVER);
    weft_lock_release(&a->wlock);
    return r;
}

static void *keys(void *arg) {
    struct attach_state *a = arg;
    char buf[4096];
    for (;;) {
        ssize_t n = weft_read(a->in_fd, buf, sizeof buf, WEFT_FOREVER);
        if (n == -EINTR || n == -EAGAIN)
            continue;
        if (n == -ECANCELED)
            return NULL;
        if (n <= 0) /* the terminal hung up or ended: detach, the session goes on */
            break;
        char *k = a->key >= 0 ? memchr(buf, a->key, (size_t)n) : NULL;
        size_t len = k ? (size_t)(k - buf) : (size_t)n;
        if (len && !a->read_only && send_locked(a, WSP_DATA, buf, len) < 0)
            return NULL;
        if (k)
            break;
    }
    a->detached = 1;
    shutdown(a->sock, SHUT_RDWR); /* ends the output loop */
    return NULL;
}

static void *winch(void *arg) {
    struct attach_state *a = arg;
    char b[64];
    for (;;) {
        ssize_t n = weft_read(a->winch_rd, b, sizeof b, WEFT_FOREVER);
        if (n == -ECANCELED || n == 0 || (n < 0 && n != -EINTR && n != -EAGAIN))
            return NULL;
        struct winsize ws;
        if (get_size(a->in_fd, &ws) || get_size(a->out_fd, &ws)) {
            struct wsp_size z = {ws.ws_row, ws.ws_col};
            if (send_locked(a, WSP_RESIZE, &z, sizeof z) < 0)
                return NULL;
        }
    }
}

WEFT_API int weft_session_attach(const char *dir, int id, const weft_session_attach_opts *opts,
                                 int *code) {
    weft_session_attach_opts o = {.in_fd = 0, .out_fd = 1};
    if (opts) {
        o = *opts;
        if (o.out_fd == 0 && o.in_fd == 0)
            o.out_fd = 1;
    }
    if (o.in_fd < 0)
        o.in_fd = 0;
    if (o.out_fd < 0)
        o.out_fd = 1;
    if (id < 1 || o.detach_key < -1 || o.detach_key > 255)
        return -EINVAL;
    if (fcntl(o.in_fd, F_GETFL) < 0 || fcntl(o.out_fd, F_GETFL) < 0)
        return -EBADF;
    if (atomic_flag_test_and_set(&attached_flag))
        return -EBUSY; /* SIGWINCH has one handler: one attach per process at a time */
    struct winsize ws = {0};
    if (!get_size(o.in_fd, &ws) && !get_size(o.out_fd, &ws))
        ws.ws_row = ws.ws_col = 0;
    int mode = WEFT_SESSION_OUTPUT | WEFT_SESSION_TERMINAL |
               (o.no_replay ? 0 : WEFT_SESSION_REPLAY) | (o.read_only ? 0 : WEFT_SESSION_INPUT);
    weft_session *s;
    int r = weft__sess_open(&s, dir, id, mode, ws.ws_row, ws.ws_col, weft_after(10000000000));
    if (r < 0) {
        atomic_flag_clear(&attached_flag);
        return r;
    }
    struct attach_state a = {.sock = weft_session_fd(s),
                             .in_fd = o.in_fd,
                             .out_fd = o.out_fd,
                             .key = o.detach_key == 0 ? 0x1c : o.detach_key,
                             .read_only = o.read_only};
    weft_lock_init(&a.wlock);
    /* The terminal: raw, non-blocking (both restored at the end). */
    struct termios saved_tio;
    int tty = tcgetattr(o.in_fd, &saved_tio) == 0;
    if (tty) {
        struct termios raw = saved_tio;
        cfmakeraw(&raw);
        tcsetattr(o.in_fd, TCSANOW, &raw);
    }
    int in_flags = fcntl(o.in_fd, F_GETFL), out_flags = fcntl(o.out_fd, F_GETFL);
    fcntl(o.in_fd, F_SETFL, in_flags | O_NONBLOCK);
    int wp[2] = {-1, -1};
    struct sigaction sa = {0}, old_sa;
    int have_winch = pipe2(wp, O_CLOEXEC | O_NONBLOCK) == 0;
    if (have_winch) {
        a.winch_rd = wp[0];
        atomic_store(&winch_wr, wp[1]);
        sa.sa_handler = on_winch;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        sigaction(SIGWINCH, &sa, &old_sa);
    }
    weft_coro kc, wc = {0};
    int have_keys = weft_spawn(&kc, keys, &a, NULL) == 0;
    if (have_winch && weft_spawn(&wc, winch, &a, NULL) != 0)
        wc = (weft_coro){0};
    /* The output loop: the session's output (the replay first) to the terminal. */
    int result = 0;
    for (;;) {
        if (s->out_len) { /* output received: to the terminal */
            size_t n = s->out_len;
            if (weft_write_all(o.out_fd, s->out, n, WEFT_FOREVER, NULL) < 0) {
                result = -EIO;
                break;
            }
            s->out_len = 0;
            continue;
        }
        if (s->exited) {
            result = 1;
            if (code)
                *code = s->code;
            break;
        }
        wsp_frame f;
        r = weft__sess_pump(s, &f, WEFT_FOREVER);
        if (r == 1 || r == 2)
            continue;
        /* The stream ended: a detach of ours, or the server went away. */
        result = a.detached ? 0 : r == -ECANCELED ? -ECANCELED : -EPIPE;
        break;
    }
    if (have_keys) {
        weft_cancel(kc);
        weft_join(kc, WEFT_FOREVER, NULL);
    }
    if (wc.p) {
        weft_cancel(wc);
        weft_join(wc, WEFT_FOREVER, NULL);
    }
    if (have_winch) {
        sigaction(SIGWINCH, &old_sa, NULL);
        atomic_store(&winch_wr, -1);
        close(wp[0]);
        close(wp[1]);
    }
    fcntl(o.in_fd, F_SETFL, in_flags);
    if (o.out_fd != o.in_fd)
        fcntl(o.out_fd, F_SETFL, out_flags);
    if (tty)
        tcsetattr(o.in_fd, TCSANOW, &saved_tio);
    weft_lock_destroy(&a.wlock);
    weft_session_close(s);
    atomic_flag_clear(&attached_flag);
    return result;
}
