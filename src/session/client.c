/* The library's side of the session keeper: starting a session (the double fork into its
 * server), listing, finding, and a connection's requests, input and output (expect). */
#include "session/session.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

typedef char sock_path_t[sizeof(((struct sockaddr_un *)0)->sun_path)];

/* ---- starting ---------------------------------------------------------------------------- */

/* The highest id in use in dir (0 if none). */
static int max_id(const char *dir) {
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int max = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char *end;
        long v = strtol(e->d_name, &end, 10);
        if (end != e->d_name && strcmp(end, ".sock") == 0 && v > max && v < INT32_MAX)
            max = (int)v;
    }
    closedir(d);
    return max;
}

/* A listening socket bound to the next free id. */
static int bind_next(const char *dir, int *id, sock_path_t path) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int next = max_id(dir) + 1;
    for (int tries = 0; tries < 10000; tries++, next++) {
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        if (weft__sess_sock_path(a.sun_path, sizeof a.sun_path, dir, next) < 0) {
            close(fd);
            return -ENAMETOOLONG;
        }
        if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            if (listen(fd, 128) != 0) {
                int e = errno;
                unlink(a.sun_path);
                close(fd);
                return -e;
            }
            *id = next;
            memcpy(path, a.sun_path, sizeof a.sun_path);
            return fd;
        }
        if (errno != EADDRINUSE) {
            int e = errno;
            close(fd);
            return -e;
        }
    }
    close(fd);
    return -EAGAIN;
}

/* The server's process: detached from the caller's terminal and session, its standard
 * streams on /dev/null and no descriptor of the caller's but the two it needs. */
__attribute__((noreturn)) static void become_server(wss_start *st) {
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) {
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(nul, 2);
    }
    /* The socket at 3, the status pipe at 4, nothing else. */
    int lfd = fcntl(st->lfd, F_DUPFD_CLOEXEC, 10), sfd = fcntl(st->status_fd, F_DUPFD_CLOEXEC, 10);
    if (lfd < 0 || sfd < 0 || dup3(lfd, 3, O_CLOEXEC) < 0 || dup3(sfd, 4, O_CLOEXEC) < 0)
        _exit(127);
    st->lfd = 3;
    st->status_fd = 4;
    for (int fd = 5; fd < 1024; fd++) /* close_range: glibc 2.34; a loop works everywhere */
        close(fd);
    /* The caller's signal handlers are not the server's. */
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    weft__sess_server(st);
}

WEFT_API int weft_session_start(int *id, const char *path, char *const argv[],
                                const weft_session_opts *opts) {
    if (!path || !argv || !argv[0])
        return -EINVAL;
    weft_session_opts o = {0};
    if (opts)
        o = *opts;
    if ((o.name && weft__sess_name_ok(o.name) < 0) || o.rows < 0 || o.rows > 65535 || o.cols < 0 ||
        o.cols > 65535)
        return -EINVAL;
    sock_path_t dir;
    int r = weft__sess_dir(o.dir, dir, sizeof dir);
    if (r < 0)
        return r;
    wss_start st = {
        .path = path, .argv = argv, .envp = o.envp, .name = o.name, .rows = o.rows, .cols = o.cols};
    st.lfd = bind_next(dir, &st.id, st.sock);
    if (st.lfd < 0)
        return st.lfd;
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        r = -errno;
        goto fail;
    }
    st.status_fd = pfd[1];
    pid_t mid = fork();
    if (mid < 0) {
        r = -errno;
        close(pfd[0]);
        close(pfd[1]);
        goto fail;
    }
    if (mid == 0) {
        /* A new session, and a second fork: the server is no child of the caller's, and
           never gets a controlling terminal. */
        close(pfd[0]);
        setsid();
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        pid_t srv = fork();
        if (srv == 0)
            become_server(&st);
        _exit(srv < 0 ? 1 : 0);
    }
    close(pfd[1]);
    int st_mid = 0;
    while (waitpid(mid, &st_mid, 0) < 0 && errno == EINTR)
        ;
    int32_t m[2] = {-EAGAIN, 0};
    size_t got = 0;
    weft_fd_set_nonblock(pfd[0]);
    while (got < sizeof m) {
        ssize_t n = weft_read(pfd[0], (char *)m + got, sizeof m - got, WEFT_FOREVER);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(pfd[0]);
    if (got < sizeof m) { /* the server died before it could tell */
        r = -EAGAIN;
        goto fail;
    }
    close(st.lfd);
    if (m[0] < 0)
        return m[0]; /* the server removed the socket */
    if (id)
        *id = st.id;
    return 0;
fail:
    unlink(st.sock);
    close(st.lfd);
    return r;
}

/* ---- connections ------------------------------------------------------------------------ */

static int take(weft_session *s) {
    if (!s)
        return -EINVAL;
    if (s->tag != SESSION_TAG)
        WEFT_PANIC("weft_session: corrupted or closed session at %p", (void *)s);
    if (s->busy)
        return -EBUSY;
    s->busy = 1;
    return 0;
}
static int give(weft_session *s, int r) {
    s->busy = 0;
    return r;
}

static int out_append(weft_session *s, const char *p, size_t n) {
    if (n >= OUT_MAX) {
        p += n - OUT_MAX;
        n = OUT_MAX;
    }
    if (s->out_len + n > OUT_MAX) { /* drop the oldest unread output */
        size_t drop = s->out_len + n - OUT_MAX;
        memmove(s->out, s->out + drop, s->out_len - drop);
        s->out_len -= drop;
    }
    if (s->out_len + n > s->out_cap) {
        size_t cap = s->out_cap ? s->out_cap : 16384;
        while (cap < s->out_len + n)
            cap *= 2;
        char *nb = weft__realloc(s->out, cap);
        if (!nb)
            return -ENOMEM;
        s->out = nb;
        s->out_cap = cap;
    }
    memcpy(s->out + s->out_len, p, n);
    s->out_len += n;
    return 0;
}

/* Receives one frame; output and exit notices are absorbed. Returns 1 with a reply in *f, 2
 * when output or an exit notice arrived, 0 at the end of the stream, or -errno. */
int weft__sess_pump(weft_session *s, wsp_frame *f, int64_t deadline) {
    if (s->eof)
        return 0;
    int r = weft__wsp_recv(&s->rd, s->fd, f, deadline);
    if (r <= 0) {
        if (r == 0 || r == -EPROTO || r == -ECONNRESET)
            s->eof = 1;
        return r == -EPROTO ? 0 : r;
    }
    if (f->type == WSP_DATA) {
        int e = out_append(s, f->payload, f->len);
        return e < 0 ? e : 2;
    }
    if (f->type == WSP_EXIT && f->len == sizeof(int32_t)) {
        int32_t c;
        memcpy(&c, f->payload, sizeof c);
        s->exited = 1;
        s->code = c;
        return 2;
    }
    return 1;
}

/* Sends a request and waits for its reply (of type `want`, WSP_OK, or WSP_ERR). */
static int request(weft_session *s, uint32_t type, const void *p, size_t len, uint32_t want,
                   wsp_frame *f, int64_t deadline) {
    int r = weft__wsp_send(s->fd, type, p, len, deadline);
    if (r < 0)
        return r == -ECONNRESET ? -EPIPE : r;
    for (;;) {
        r = weft__sess_pump(s, f, deadline);
        if (r == 0)
            return -EPIPE;
        if (r < 0)
            return r;
        if (r == 2)
            continue;
        if (f->type == WSP_ERR && f->len == sizeof(int32_t)) {
            int32_t e;
            memcpy(&e, f->payload, sizeof e);
            return e < 0 ? e : -EPROTO;
        }
        if (f->type == want || f->type == WSP_OK)
            return 0;
        return -EPROTO;
    }
}

int weft__sess_open(weft_session **out, const char *dir, int id, int mode, int rows, int cols,
                    int64_t deadline) {
    if (!out || id < 1 ||
        (mode & ~(WEFT_SESSION_OUTPUT | WEFT_SESSION_REPLAY | WEFT_SESSION_INPUT |
                  WEFT_SESSION_TERMINAL)) ||
        ((mode & WEFT_SESSION_REPLAY) && !(mode & WEFT_SESSION_OUTPUT)))
        return -EINVAL;
    sock_path_t d;
    int r = weft__sess_dir(dir, d, sizeof d);
    if (r < 0)
        return r;
    weft_session *s = weft__calloc(1, sizeof *s);
    if (!s)
        return -ENOMEM;
    s->tag = SESSION_TAG;
    s->mode = mode;
    s->fd = weft__sess_connect(d, id, deadline);
    if (s->fd < 0) {
        r = s->fd;
        weft__free(s);
        return r;
    }
    struct wsp_hello h = {.mode = (uint32_t)mode, .rows = (uint16_t)rows, .cols = (uint16_t)cols};
    wsp_frame f;
    r = request(s, WSP_HELLO, &h, sizeof h, WSP_OK, &f, deadline);
    if (r < 0) {
        /* A server that closes on us at once refused us (SO_PEERCRED) */
        if (r == -EPIPE)
            r = -EACCES;
        s->busy = 0;
        weft_session_close(s);
        return r;
    }
    *out = s;
    return 0;
}

WEFT_API int weft_session_open(weft_session **out, const char *dir, int id, int mode,
                               int64_t deadline) {
    return weft__sess_open(out, dir, id, mode, 0, 0, deadline);
}

WEFT_API void weft_session_close(weft_session *s) {
    if (!s)
        return;
    if (s->tag != SESSION_TAG)
        WEFT_PANIC("weft_session_close: corrupted or closed session at %p", (void *)s);
    s->tag = WEFT__TAG_DEAD;
    weft_fd_close(s->fd);
    weft__wsp_reader_free(&s->rd);
    weft__free(s->out);
    weft__free(s);
}

WEFT_API int weft_session_fd(const weft_session *s) {
    if (!s)
        return -EINVAL;
    if (s->tag != SESSION_TAG)
        WEFT_PANIC("weft_session_fd: corrupted or closed session at %p", (const void *)s);
    return s->fd;
}

WEFT_API int weft_session_send(weft_session *s, const void *data, size_t len, int64_t deadline) {
    if ((!data && len) || len > WSP_MAX_PAYLOAD)
        return s ? -EINVAL : -EINVAL;
    int r = take(s);
    if (r < 0)
        return r;
    if (!(s->mode & WEFT_SESSION_INPUT))
        return give(s, -EPERM);
    r = weft__wsp_send(s->fd, WSP_DATA, data, len, deadline);
    if (r == -ECONNRESET)
        r = -EPIPE;
    return give(s, r);
}

WEFT_API int weft_session_sendline(weft_session *s, const char *text, int64_t deadline) {
    if (!text)
        return -EINVAL;
    size_t n = strlen(text);
    if (n + 1 > WSP_MAX_PAYLOAD)
        return -EINVAL;
    char *b = weft__malloc(n + 1);
    if (!b)
        return -ENOMEM;
    memcpy(b, text, n);
    b[n] = '\r';
    int r = weft_session_send(s, b, n + 1, deadline);
    weft__free(b);
    return r;
}

static void consume(weft_session *s, size_t n) {
    memmove(s->out, s->out + n, s->out_len - n);
    s->out_len -= n;
}

WEFT_API ssize_t weft_session_read(weft_session *s, void *buf, size_t cap, int64_t deadline) {
    if (!buf || !cap)
        return -EINVAL;
    int r = take(s);
    if (r < 0)
        return r;
    if (!(s->mode & WEFT_SESSION_OUTPUT))
        return give(s, -EPERM);
    wsp_frame f;
    while (!s->out_len) {
        if (s->exited) /* output comes before the exit notice */
            return give(s, 0);
        r = weft__sess_pump(s, &f, deadline);
        if (r == 0)
            return give(s, 0);
        if (r < 0)
            return give(s, r);
    }
    size_t n = s->out_len < cap ? s->out_len : cap;
    memcpy(buf, s->out, n);
    consume(s, n);
    s->busy = 0;
    return (ssize_t)n;
}

WEFT_API ssize_t weft_session_expect(weft_session *s, const char *pattern, char *buf, size_t cap,
                                     int64_t deadline) {
    if (!pattern || !*pattern || (buf && !cap))
        return -EINVAL;
    int r = take(s);
    if (r < 0)
        return r;
    if (!(s->mode & WEFT_SESSION_OUTPUT))
        return give(s, -EPERM);
    size_t plen = strlen(pattern), from = 0;
    wsp_frame f;
    for (;;) {
        char *hit =
            s->out_len >= plen ? memmem(s->out + from, s->out_len - from, pattern, plen) : NULL;
        if (hit) {
            size_t n = (size_t)(hit - s->out) + plen;
            if (buf) {
                size_t k = n < cap - 1 ? n : cap - 1;
                memcpy(buf, s->out + n - k, k);
                buf[k] = '\0';
            }
            consume(s, n);
            s->busy = 0;
            return (ssize_t)n;
        }
        /* Only the new bytes (and a pattern's length before them) need looking at again. */
        from = s->out_len >= plen ? s->out_len - plen + 1 : 0;
        if (s->exited) /* output comes before the exit notice */
            return give(s, -EPIPE);
        size_t before = s->out_len;
        r = weft__sess_pump(s, &f, deadline);
        if (r == 0)
            return give(s, -EPIPE);
        if (r < 0)
            return give(s, r);
        if (s->out_len < before) /* the oldest output was dropped: look again from the start */
            from = 0;
    }
}

WEFT_API int weft_session_resize(weft_session *s, int rows, int cols, int64_t deadline) {
    if (rows < 1 || rows > 65535 || cols < 1 || cols > 65535)
        return -EINVAL;
    int r = take(s);
    if (r < 0)
        return r;
    if (!(s->mode & WEFT_SESSION_TERMINAL))
        return give(s, -EPERM);
    struct wsp_size z = {(uint16_t)rows, (uint16_t)cols};
    wsp_frame f;
    return give(s, request(s, WSP_RESIZE, &z, sizeof z, WSP_OK, &f, deadline));
}

WEFT_API int weft_session_info_get(weft_session *s, weft_session_info *out, int64_t deadline) {
    if (!out)
        return -EINVAL;
    int r = take(s);
    if (r < 0)
        return r;
    wsp_frame f;
    r = request(s, WSP_INFO, NULL, 0, WSP_INFO, &f, deadline);
    if (r == 0) {
        if (f.type != WSP_INFO || f.len != sizeof *out)
            r = -EPROTO;
        else
            memcpy(out, f.payload, sizeof *out);
    }
    return give(s, r);
}

WEFT_API int weft_session_rename(weft_session *s, const char *name, int64_t deadline) {
    if (!name || weft__sess_name_ok(name) < 0)
        return -EINVAL;
    int r = take(s);
    if (r < 0)
        return r;
    wsp_frame f;
    return give(s, request(s, WSP_RENAME, name, strlen(name), WSP_OK, &f, deadline));
}

WEFT_API ssize_t weft_session_log(weft_session *s, int lines, char *buf, size_t cap,
                                  int64_t deadline) {
    if (!buf || !cap || lines < 1 || lines > 100000)
        return -EINVAL;
    int r = take(s);
    if (r < 0)
        return r;
    wsp_frame f;
    int32_t l = lines;
    r = request(s, WSP_LOG, &l, sizeof l, WSP_LOG, &f, deadline);
    if (r < 0)
        return give(s, r);
    if (f.type != WSP_LOG)
        return give(s, -EPROTO);
    size_t k = f.len < cap - 1 ? f.len : cap - 1;
    memcpy(buf, f.payload + f.len - k, k);
    buf[k] = '\0';
    s->busy = 0;
    return (ssize_t)f.len;
}

WEFT_API int weft_session_wait(weft_session *s, int64_t deadline, int *code) {
    int r = take(s);
    if (r < 0)
        return r;
    wsp_frame f;
    while (!s->exited) {
        r = weft__sess_pump(s, &f, deadline);
        if (r == 0)
            return give(s, -EPIPE);
        if (r < 0)
            return give(s, r);
    }
    if (code)
        *code = s->code;
    return give(s, 0);
}

WEFT_API int weft_session_kill(weft_session *s, int64_t deadline) {
    int r = take(s);
    if (r < 0)
        return r;
    wsp_frame f;
    r = request(s, WSP_KILL, NULL, 0, WSP_OK, &f, deadline);
    if (r == -EPIPE) /* it went away while we asked: removed either way */
        r = 0;
    return give(s, r);
}

/* ---- listing -------------------------------------------------------------------------------- */

static int cmp_info(const void *a, const void *b) {
    const weft_session_info *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

/* Every live session's info, sorted by id, in a new array. */
static int collect(const char *dir, int flags, weft_session_info **all) {
    sock_path_t d;
    int r = weft__sess_dir(dir, d, sizeof d);
    if (r < 0)
        return r;
    DIR *dp = opendir(d);
    if (!dp)
        return -errno;
    int n = 0, cap = 0;
    weft_session_info *v = NULL;
    struct dirent *e;
    r = 0;
    while ((e = readdir(dp))) {
        char *end;
        long id = strtol(e->d_name, &end, 10);
        if (end == e->d_name || strcmp(end, ".sock") != 0 || id < 1 || id > INT32_MAX)
            continue;
        weft_session *s;
        if (weft_session_open(&s, d, (int)id, 0, weft_after(5000000000)) < 0)
            continue; /* gone, stale (removed), or not answering */
        weft_session_info in;
        int ok = weft_session_info_get(s, &in, weft_after(5000000000)) == 0;
        if (ok && (flags & WEFT_SESSION_REAP) && in.state == WEFT_SESSION_EXITED) {
            wsp_frame f;
            request(s, WSP_REAP, NULL, 0, WSP_OK, &f, weft_after(5000000000));
        }
        weft_session_close(s);
        if (!ok)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            weft_session_info *nv = weft__realloc(v, (size_t)cap * sizeof *v);
            if (!nv) {
                r = -ENOMEM;
                break;
            }
            v = nv;
        }
        v[n++] = in;
    }
    closedir(dp);
    if (r < 0) {
        weft__free(v);
        return r;
    }
    if (n)
        qsort(v, (size_t)n, sizeof *v, cmp_info);
    *all = v;
    return n;
}

WEFT_API int weft_session_list(const char *dir, weft_session_info *out, int max, int flags) {
    if (max < 0 || (!out && max > 0) || (flags & ~WEFT_SESSION_REAP))
        return -EINVAL;
    weft_session_info *v = NULL;
    int n = collect(dir, flags, &v);
    if (n < 0)
        return n;
    for (int i = 0; i < n && i < max; i++)
        out[i] = v[i];
    weft__free(v);
    return n;
}

WEFT_API int weft_session_find(const char *dir, const char *which) {
    if (!which || !*which)
        return -EINVAL;
    char *end;
    long v = strtol(which, &end, 10);
    weft_session_info *all = NULL;
    int n = collect(dir, 0, &all);
    if (n < 0)
        return n;
    int found = -ENOENT;
    for (int i = 0; i < n; i++) {
        if (*end == '\0' && v == all[i].id) {
            found = all[i].id;
            break;
        }
        if (strcmp(all[i].name, which) == 0)
            found = found == -ENOENT ? all[i].id : -ENOTUNIQ;
    }
    weft__free(all);
    return found;
}
