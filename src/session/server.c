/* A session's server: one process per session, holding the pseudo-terminal's master and the
 * scrollback ring. Its main thread's coroutines: one reads the terminal into the ring and
 * forwards it to the clients that take output, one waits for the program's exit, one accepts
 * clients on the session's socket, and one serves each client. Single-threaded: no locks but
 * weft's coroutine locks around the writes that can park. */
#include "session/session.h"

#include <signal.h>
#include <sys/prctl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

typedef struct client {
    int fd;
    uint32_t mode;
    int refs;            /* the client's coroutine, and each forwarding in progress */
    int output;          /* takes output (in the server's list) */
    weft_lock wlock;     /* one frame at a time on fd */
    struct client *next; /* the server's list */
} client;

typedef struct server {
    int id;
    char name[WEFT_SESSION_NAME_MAX];
    char command[WEFT_SESSION_CMD_MAX];
    char sock[108];
    int lfd;
    weft_proc *proc;
    pid_t pid;
    int in_fd, out_fd; /* the terminal's master: written (input), read (output) */
    weft_lock in_lock; /* one writer of input at a time */
    int64_t created, last_output;
    int exited, code;
    int terminals; /* attached terminal clients */
    client *clients;
    char *ring;     /* the last WSP_RING bytes of output */
    uint64_t total; /* bytes of output ever */
    weft_event reader_done, exited_ev, quit;
    int killing;
} server;

static const int64_t CLIENT_WRITE_NS = 5000000000; /* a client that takes longer is dropped */

int64_t weft__sess_wallclock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void weft__sess_join_argv(char *buf, size_t cap, char *const argv[]) {
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; argv[i] && n + 1 < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? " " : "", argv[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    if (n >= cap)
        buf[cap - 1] = '\0';
}

int weft__sess_name_ok(const char *name) {
    if (strlen(name) >= WEFT_SESSION_NAME_MAX || strchr(name, '\n'))
        return -EINVAL;
    return 0;
}

static void client_unref(client *c) {
    if (--c->refs == 0) {
        weft_lock_destroy(&c->wlock);
        weft__free(c);
    }
}

static int client_send(client *c, uint32_t type, const void *p, size_t len) {
    int r = weft_lock_acquire(&c->wlock, weft_after(CLIENT_WRITE_NS));
    if (r < 0)
        return r;
    r = weft__wsp_send(c->fd, type, p, len, weft_after(CLIENT_WRITE_NS));
    weft_lock_release(&c->wlock);
    if (r < 0) /* a slow or gone client: its coroutine sees the end of its stream */
        shutdown(c->fd, SHUT_RDWR);
    return r;
}

static int reply_err(client *c, int err) {
    int32_t e = err;
    return client_send(c, WSP_ERR, &e, sizeof e);
}

/* Sends a frame to every client taking output (all of them for anything but output). The
 * list may change while a send parks, so the clients are taken (with a reference) first. */
static void broadcast(server *s, uint32_t type, const void *p, size_t len) {
    int all = type != WSP_DATA;
    size_t n = 0;
    for (client *c = s->clients; c; c = c->next)
        n += all || c->output;
    if (!n)
        return;
    client *one, **snap = n == 1 ? &one : weft__malloc(n * sizeof *snap);
    if (!snap)
        return;
    size_t k = 0;
    for (client *c = s->clients; c && k < n; c = c->next)
        if (all || c->output) {
            c->refs++;
            snap[k++] = c;
        }
    for (size_t i = 0; i < k; i++) {
        if (all || snap[i]->output)
            client_send(snap[i], type, p, len);
        client_unref(snap[i]);
    }
    if (snap != &one)
        weft__free(snap);
}

static void ring_append(server *s, const char *p, size_t n) {
    if (n >= WSP_RING) {
        p += n - WSP_RING;
        n = WSP_RING;
    }
    size_t at = (size_t)(s->total % WSP_RING);
    size_t first = n < WSP_RING - at ? n : WSP_RING - at;
    memcpy(s->ring + at, p, first);
    memcpy(s->ring, p + first, n - first);
    s->total += n;
}

/* The ring's content in order into out (WSP_RING bytes); returns its length. */
static size_t ring_copy(const server *s, char *out) {
    size_t len = s->total < WSP_RING ? (size_t)s->total : WSP_RING;
    size_t start = (size_t)((s->total - len) % WSP_RING);
    size_t first = len < WSP_RING - start ? len : WSP_RING - start;
    memcpy(out, s->ring + start, first);
    memcpy(out + first, s->ring, len - first);
    return len;
}

static void *pty_reader(void *arg) {
    server *s = arg;
    char buf[16384];
    for (;;) {
        ssize_t n = weft_read(s->out_fd, buf, sizeof buf, WEFT_FOREVER);
        if (n == -EINTR || n == -EAGAIN)
            continue;
        if (n <= 0) /* -EIO: every holder of the terminal closed it */
            break;
        ring_append(s, buf, (size_t)n);
        s->last_output = weft__sess_wallclock();
        broadcast(s, WSP_DATA, buf, (size_t)n);
    }
    weft_event_set(&s->reader_done);
    return NULL;
}

static void *waiter(void *arg) {
    server *s = arg;
    weft_proc_join(s->proc, WEFT_FOREVER);
    int code = 0;
    weft_proc_exitcode(s->proc, &code);
    /* The output the program wrote last: the reader ends once nobody holds the terminal, or
       after a short while if a process it left behind still does. */
    weft_event_wait(&s->reader_done, weft_after(500000000));
    s->code = code;
    s->exited = 1;
    int32_t c32 = code;
    weft_event_set(&s->exited_ev);
    broadcast(s, WSP_EXIT, &c32, sizeof c32);
    return NULL;
}

static void set_size(server *s, int rows, int cols) {
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    if (rows > 0 && cols > 0)
        ioctl(s->out_fd, TIOCSWINSZ, &ws);
}

static void fill_info(const server *s, weft_session_info *in) {
    memset(in, 0, sizeof *in);
    in->id = s->id;
    in->pid = s->pid;
    in->server_pid = getpid();
    in->state = s->exited      ? WEFT_SESSION_EXITED
                : s->terminals ? WEFT_SESSION_ATTACHED
                               : WEFT_SESSION_DETACHED;
    in->exit_code = s->exited ? s->code : 0;
    in->attached = s->terminals;
    in->created = s->created;
    in->last_output = s->last_output;
    memcpy(in->name, s->name, sizeof in->name);
    memcpy(in->command, s->command, sizeof in->command);
}

/* The last `lines` lines of the ring into a new buffer. */
static char *ring_tail(const server *s, int lines, size_t *len) {
    char *all = weft__malloc(WSP_RING);
    if (!all)
        return NULL;
    size_t n = ring_copy(s, all);
    size_t start = n;
    int seen = 0;
    /* A final newline ends the last line rather than starting an empty one. */
    size_t end = n && all[n - 1] == '\n' ? n - 1 : n;
    for (start = end; start > 0; start--)
        if (all[start - 1] == '\n' && ++seen == lines)
            break;
    memmove(all, all + start, n - start);
    *len = n - start;
    return all;
}

/* Ends the program: SIGHUP to its process group (as a terminal hang-up does), SIGKILL a second
 * later if it is still there. */
static void kill_program(server *s) {
    if (s->exited || weft_proc_is_alive(s->proc) != 1)
        return;
    kill(-s->pid, SIGHUP);
    weft_proc_signal(s->proc, SIGHUP);
    if (weft_proc_join(s->proc, weft_after(1000000000)) == -ETIMEDOUT) {
        kill(-s->pid, SIGKILL);
        weft_proc_kill(s->proc);
        weft_proc_join(s->proc, WEFT_FOREVER);
    }
}

static void handle_kill(server *s, client *c) {
    if (!s->killing) {
        s->killing = 1;
        unlink(s->sock); /* no new clients from now on */
        kill_program(s);
        /* Let the waiter record the status and tell the clients. */
    }
    weft_event_wait(&s->exited_ev, WEFT_FOREVER);
    client_send(c, WSP_OK, NULL, 0);
    weft_event_set(&s->quit);
}

static void serve(server *s, client *c) {
    wsp_reader rd = {0};
    wsp_frame f;
    int r = weft__wsp_recv(&rd, c->fd, &f, weft_after(CLIENT_WRITE_NS));
    if (r <= 0 || f.type != WSP_HELLO || f.len != sizeof(struct wsp_hello))
        goto out;
    struct wsp_hello h;
    memcpy(&h, f.payload, sizeof h);
    if (h.mode & ~(uint32_t)(WEFT_SESSION_OUTPUT | WEFT_SESSION_REPLAY | WEFT_SESSION_INPUT |
                             WEFT_SESSION_TERMINAL)) {
        reply_err(c, -EINVAL);
        goto out;
    }
    c->mode = h.mode;
    if (c->mode & WEFT_SESSION_TERMINAL) {
        s->terminals++;
        if (!s->exited)
            set_size(s, h.rows, h.cols);
    }
    /* The reply and the replay go out under the client's lock, before any live output: the
       client is listed for output first, and the reader's sends wait for the lock. */
    if (weft_lock_acquire(&c->wlock, weft_after(CLIENT_WRITE_NS)) < 0)
        goto out;
    if (c->mode & WEFT_SESSION_OUTPUT)
        c->output = 1;
    int64_t dl = weft_after(CLIENT_WRITE_NS);
    r = weft__wsp_send(c->fd, WSP_OK, NULL, 0, dl);
    if (r == 0 && (c->mode & WEFT_SESSION_REPLAY) && (c->mode & WEFT_SESSION_OUTPUT)) {
        char *all = weft__malloc(WSP_RING);
        if (all) {
            size_t n = ring_copy(s, all);
            if (n)
                r = weft__wsp_send(c->fd, WSP_DATA, all, n, dl);
            weft__free(all);
        }
    }
    if (r == 0 && s->exited) {
        int32_t c32 = s->code;
        r = weft__wsp_send(c->fd, WSP_EXIT, &c32, sizeof c32, dl);
    }
    weft_lock_release(&c->wlock);
    if (r < 0)
        goto out;
    for (;;) {
        r = weft__wsp_recv(&rd, c->fd, &f, WEFT_FOREVER);
        if (r <= 0)
            break;
        switch (f.type) {
        case WSP_DATA:
            /* Input from a client that did not ask for it (read-only) is dropped here, by the
               server: a client cannot get around it. */
            if ((c->mode & WEFT_SESSION_INPUT) && !s->exited && f.len) {
                if (weft_lock_acquire(&s->in_lock, WEFT_FOREVER) == 0) {
                    weft_write_all(s->in_fd, f.payload, f.len, WEFT_FOREVER, NULL);
                    weft_lock_release(&s->in_lock);
                }
            }
            break;
        case WSP_RESIZE: {
            struct wsp_size z;
            if (f.len != sizeof z) {
                r = reply_err(c, -EINVAL);
                break;
            }
            memcpy(&z, f.payload, sizeof z);
            if (!(c->mode & WEFT_SESSION_TERMINAL))
                r = reply_err(c, -EPERM);
            else {
                set_size(s, z.rows, z.cols);
                r = client_send(c, WSP_OK, NULL, 0);
            }
            break;
        }
        case WSP_INFO: {
            weft_session_info in;
            fill_info(s, &in);
            r = client_send(c, WSP_INFO, &in, sizeof in);
            break;
        }
        case WSP_LOG: {
            int32_t lines;
            size_t n = 0;
            char *t = NULL;
            if (f.len != sizeof lines) {
                r = reply_err(c, -EINVAL);
                break;
            }
            memcpy(&lines, f.payload, sizeof lines);
            t = ring_tail(s, lines, &n);
            r = t ? client_send(c, WSP_LOG, t, n) : reply_err(c, -ENOMEM);
            weft__free(t);
            break;
        }
        case WSP_RENAME: {
            char name[WEFT_SESSION_NAME_MAX];
            if (f.len >= sizeof name || memchr(f.payload, '\n', f.len) ||
                memchr(f.payload, '\0', f.len)) {
                r = reply_err(c, -EINVAL);
                break;
            }
            memcpy(name, f.payload, f.len);
            name[f.len] = '\0';
            memcpy(s->name, name, sizeof name);
            r = client_send(c, WSP_OK, NULL, 0);
            break;
        }
        case WSP_REAP:
            r = client_send(c, WSP_OK, NULL, 0);
            if (s->exited) {
                unlink(s->sock);
                weft_event_set(&s->quit);
            }
            break;
        case WSP_KILL:
            handle_kill(s, c);
            goto out;
        default:
            r = reply_err(c, -EPROTO);
            break;
        }
        if (r < 0)
            break;
    }
out:
    if (c->mode & WEFT_SESSION_TERMINAL)
        s->terminals--;
    c->output = 0;
    for (client **pp = &s->clients; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    weft__wsp_reader_free(&rd);
    close(c->fd);
    client_unref(c);
}

typedef struct serve_arg {
    server *s;
    client *c;
} serve_arg;

static void *serve_coro(void *arg) {
    serve_arg a = *(serve_arg *)arg;
    weft__free(arg);
    serve(a.s, a.c);
    return NULL;
}

static void *listener(void *arg) {
    server *s = arg;
    for (;;) {
        int fd = weft_accept(s->lfd, NULL, NULL, WEFT_FOREVER);
        if (fd < 0) {
            if (fd == -ECANCELED || fd == -EBADF)
                return NULL;
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM)
                weft_sleep(10000000);
            continue;
        }
        struct ucred cr;
        socklen_t cl = sizeof cr;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cr.uid != geteuid()) {
            /* Another user: refused, with a word on why. */
            int32_t e = -EACCES;
            weft__wsp_send(fd, WSP_ERR, &e, sizeof e, weft_after(100000000));
            close(fd);
            continue;
        }
        client *c = weft__calloc(1, sizeof *c);
        serve_arg *a = weft__malloc(sizeof *a);
        weft_coro_opts o = {.name = "session-client", .detached = 1};
        if (!c || !a) {
            weft__free(c);
            weft__free(a);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->refs = 1;
        weft_lock_init(&c->wlock);
        c->next = s->clients;
        s->clients = c;
        a->s = s;
        a->c = c;
        if (weft_spawn(NULL, serve_coro, a, &o) < 0) {
            s->clients = c->next;
            weft__free(a);
            close(fd);
            client_unref(c);
        }
    }
}

static void report(int fd, int32_t result, int32_t pid) {
    int32_t m[2] = {result, pid};
    ssize_t w = write(fd, m, sizeof m);
    (void)w;
    close(fd);
}

void weft__sess_server(const wss_start *st) {
    static server srv;
    server *s = &srv;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    char comm[16];
    snprintf(comm, sizeof comm, "weft-sess-%d", st->id);
    prctl(PR_SET_NAME, comm); /* what ps and top show for the server */
    s->id = st->id;
    s->lfd = st->lfd;
    snprintf(s->name, sizeof s->name, "%s", st->name ? st->name : "");
    weft__sess_join_argv(s->command, sizeof s->command, st->argv);
    snprintf(s->sock, sizeof s->sock, "%s", st->sock);
    s->created = weft__sess_wallclock();
    weft_lock_init(&s->in_lock);
    weft_event_init(&s->reader_done);
    weft_event_init(&s->exited_ev);
    weft_event_init(&s->quit);
    s->ring = weft__malloc(WSP_RING);
    weft_exec_opts eo = {{WEFT_STDIO_PTY, WEFT_STDIO_PTY, WEFT_STDIO_PTY}, st->envp};
    int r = s->ring ? weft_proc_exec(&s->proc, st->path, st->argv, &eo) : -ENOMEM;
    if (r < 0) {
        unlink(s->sock);
        report(st->status_fd, r, 0);
        _exit(1);
    }
    s->pid = weft_proc_pid(s->proc);
    s->in_fd = weft_proc_stdio(s->proc, 0);
    s->out_fd = weft_proc_stdio(s->proc, 1);
    weft_proc_close_stdio(s->proc, 2);
    set_size(s, st->rows ? st->rows : 24, st->cols ? st->cols : 80);
    report(st->status_fd, 0, s->pid);
    weft_coro_opts o = {.detached = 1};
    weft_coro lc;
    weft_spawn(NULL, pty_reader, s, &o);
    weft_spawn(NULL, waiter, s, &o);
    weft_spawn(&lc, listener, s, NULL);
    weft_event_wait(&s->quit, WEFT_FOREVER);
    unlink(s->sock);
    kill_program(s);
    _exit(0);
}
