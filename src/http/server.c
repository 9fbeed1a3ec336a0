/* The HTTP/1.1 server: one acceptor coroutine per serving thread, one
 * coroutine per connection, keep-alive and pipelining.
 *
 * Connections are served strictly in order: parse a complete request from
 * the read buffer, run the handler, append the response to the write
 * buffer, and go on while complete requests remain buffered; the write
 * buffer is flushed only before the coroutine waits to read, so a
 * pipelined batch is answered with one write.
 *
 * Stopping: `stopping` goes to 1 and a stopper coroutine on every serving
 * thread cancels the acceptor and every connection idle between requests
 * or lingering before its close (the others close after their current
 * response). If the deadline passes
 * first, `stopping` goes to 2 and the stoppers cancel everything. A wait
 * group counts the acceptors and connections; the last to leave lets stop
 * free the server. Each thread's list of connections is touched only by
 * that thread's coroutines. */
#include "http/http.h"
#include "http/parse.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct http_worker http_worker;

typedef struct http_conn {
    struct http_conn *prev, *next;
    http_worker *w;
    weft_coro co;
    int fd;
    atomic_int idle;      /* waiting for the first byte of a request */
    atomic_int lingering; /* draining before the close (linger) */
    weft_addr peer;
} http_conn;

struct http_worker {
    weft_http_server *srv;
    weft_thread *thr;   /* NULL when serving on the starting thread */
    weft__sched *sched; /* the serving thread's scheduler */
    weft_coro acceptor;
    atomic_int acceptor_live;
    weft__spin lock;    /* conns: a group's connections come and go on any worker */
    http_conn *conns;
};

struct weft_http_server {
    uint32_t tag; /* HTTP_MAGIC; WEFT__TAG_DEAD once stopped */
    int lfd;
    int port;
    int threads;
    int nworkers;
    weft_http_handler handler;
    void *arg;
    weft__http_limits lim;
    size_t rbuf_max;
    int64_t idle;
    size_t stack_size;
    uintptr_t owner; /* threads == 0: the starting thread */
    weft_group *group; /* threads == 0 started in a worker group: served by the group */
    atomic_int stopping;
    weft_waitgroup wg;
    http_worker workers[];
};
#define HTTP_MAGIC 0x68747470u /* "http" */
static inline void check(const weft_http_server *s, const char *fn) {
    weft__tag_check_handle(s->tag, HTTP_MAGIC, fn, "weft_http_server", s);
}

static const char continue_msg[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Lingering close: how long and how much a connection closing with the
 * client possibly still sending drains before it closes (documented in
 * weft.h). */
#define LINGER_TIME (5 * WEFT_SEC)
#define LINGER_BYTES ((size_t)16 << 20)
#define LINGER_CHUNK ((size_t)64 << 10)

static int64_t io_deadline(const weft_http_server *s) {
    return s->idle > 0 ? weft_after(s->idle) : WEFT_FOREVER;
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline) {
    while (n) {
        ssize_t r = weft_send(fd, p, n, 0, deadline);
        if (r < 0)
            return (int)r;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

typedef struct conn_state {
    weft__buf in; /* in.len bytes read; requests start at `pos` */
    size_t pos;
    weft__buf out;
    weft_http_response resp;
    weft__http_hdr *spans;
    weft_http_header *hdrs;
} conn_state;

/* Runs the handler on the complete request at in.p + pos (total bytes)
 * and appends its response. Returns 1 to keep the connection, 0 to close
 * it after flushing, -ENOMEM. */
static int serve_one(http_conn *c, conn_state *st, const weft__http_req *rq, size_t total) {
    weft_http_server *s = c->w->srv;
    char *base = st->in.p + st->pos;
    base[rq->method.off + rq->method.len] = 0;
    base[rq->target.off + rq->target.len] = 0;
    for (uint32_t i = 0; i < rq->nheaders; i++) {
        const weft__http_hdr *h = &st->spans[i];
        base[h->name.off + h->name.len] = 0;
        base[h->value.off + h->value.len] = 0;
        st->hdrs[i].name = base + h->name.off;
        st->hdrs[i].value = base + h->value.off;
    }
    /* The byte after the body may start the next request: NUL it only
     * for the handler's call (the buffer always has one spare byte). */
    char saved = base[total];
    base[total] = 0;
    weft_http_request req = {
        .method = base + rq->method.off,
        .target = base + rq->target.off,
        .version_minor = rq->minor,
        .headers = st->hdrs,
        .nheaders = rq->nheaders,
        .body = base + rq->head_len,
        .body_len = rq->content_length,
        .peer = &c->peer,
    };
    weft__http_response_reset(&st->resp);
    int hr = s->handler(&req, &st->resp, s->arg);
    base[total] = saved;
    bool head = strcmp(req.method, "HEAD") == 0;
    bool close = !rq->keep_alive || atomic_load_explicit(&s->stopping, memory_order_relaxed);
    if (hr < 0) {
        weft__http_response_reset(&st->resp);
        st->resp.status = 500;
        close = true;
    }
    int r = weft__http_response_emit(&st->out, &st->resp, head, close, rq->minor == 0 && !close);
    if (r < 0)
        return r;
    return close ? 0 : 1;
}

static int error_response(conn_state *st, int status) {
    weft__http_response_reset(&st->resp);
    st->resp.status = status;
    return weft__http_response_emit(&st->out, &st->resp, false, true, false);
}

/* True if the client sent bytes that were not read (buffered past `used`,
 * or waiting in the socket). */
static bool unread_input(const http_conn *c, const conn_state *st, size_t used) {
    char b;
    return st->in.len > used || recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
}

/* Sends the final answer in st->out and closes the sending side, then
 * reads and discards what the client still sends, until it closes its side,
 * LINGER_TIME (or the idle timeout if shorter) passes, LINGER_BYTES are
 * read, or the server stops; the caller then closes the socket. Closing at
 * once with unread input would make the kernel reset the connection, and
 * the client would lose the answer. */
static void linger_close(http_conn *c, conn_state *st) {
    weft_http_server *s = c->w->srv;
    int64_t t = s->idle > 0 && s->idle < LINGER_TIME ? s->idle : LINGER_TIME;
    int64_t dl = weft_after(t);
    if (send_all(c->fd, st->out.p, st->out.len, io_deadline(s)) < 0)
        return;
    st->out.len = 0;
    if (shutdown(c->fd, SHUT_WR) < 0)
        return;
    if (st->in.cap < LINGER_CHUNK) {
        char *p = weft__realloc(st->in.p, LINGER_CHUNK + 1);
        if (p) {
            st->in.p = p;
            st->in.cap = LINGER_CHUNK;
        }
    }
    /* stop_local cancels a lingering connection; one that starts to linger
     * after the stopper ran sees `stopping` here (same thread, no switch in
     * between). */
    c->lingering = 1;
    if (atomic_load_explicit(&s->stopping, memory_order_relaxed))
        return;
    for (size_t total = 0; total < LINGER_BYTES;) {
        ssize_t n = weft_recv(c->fd, st->in.p, st->in.cap, 0, dl);
        if (n <= 0)
            return;
        total += (size_t)n;
    }
}

static void conn_serve(http_conn *c, conn_state *st) {
    weft_http_server *s = c->w->srv;
    size_t nh = s->lim.max_headers ? s->lim.max_headers : 1;
    st->spans = weft__malloc(nh * sizeof *st->spans);
    st->hdrs = weft__malloc(nh * sizeof *st->hdrs);
    size_t first = s->rbuf_max < 4096 ? s->rbuf_max : 4096;
    st->in.p = weft__malloc(first + 1);
    if (!st->spans || !st->hdrs || !st->in.p)
        return;
    st->in.cap = first;
    int64_t dl = io_deadline(s);
    bool sent_continue = false;
    for (;;) {
        /* Defined on every path: the parser fills it only when called. */
        weft__http_req rq = {0};
        long r = 0;
        if (st->pos < st->in.len)
            r = weft__http_parse(st->in.p + st->pos, st->in.len - st->pos, &s->lim, &rq, st->spans);
        else
            st->pos = st->in.len = 0;
        if (r > 0) {
            int k = serve_one(c, st, &rq, (size_t)r);
            st->pos += (size_t)r;
            sent_continue = false;
            if (k <= 0) {
                if (k == 0) {
                    /* Pipelined requests after this one get no answer:
                     * linger so that the ones given arrive. */
                    if (unread_input(c, st, st->pos))
                        linger_close(c, st);
                    else
                        (void)send_all(c->fd, st->out.p, st->out.len, io_deadline(s));
                }
                return;
            }
            dl = io_deadline(s);
            continue;
        }
        if (r < 0) {
            /* Answered before the request was read to its end: the
             * client may still be sending it. */
            if (error_response(st, (int)-r) == 0)
                linger_close(c, st);
            return;
        }
        /* More bytes needed: answer what is done first. */
        if (st->out.len) {
            if (send_all(c->fd, st->out.p, st->out.len, io_deadline(s)) < 0)
                return;
            st->out.len = 0;
        }
        if (rq.head_len && rq.expect_continue && rq.minor == 1 && !sent_continue) {
            /* The head is complete (this iteration's parse said so) and
             * only the body is missing. */
            if (send_all(c->fd, continue_msg, sizeof continue_msg - 1, io_deadline(s)) < 0)
                return;
            sent_continue = true;
        }
        bool idle = st->pos == st->in.len;
        if (idle && atomic_load_explicit(&s->stopping, memory_order_relaxed))
            return;
        if (st->pos > 0) {
            memmove(st->in.p, st->in.p + st->pos, st->in.len - st->pos);
            st->in.len -= st->pos;
            st->pos = 0;
        }
        if (st->in.len == st->in.cap) {
            if (st->in.cap >= s->rbuf_max)
                return; /* cannot happen: the parser rejects before */
            size_t cap = st->in.cap * 2 < s->rbuf_max ? st->in.cap * 2 : s->rbuf_max;
            char *p = weft__realloc(st->in.p, cap + 1);
            if (!p)
                return;
            st->in.p = p;
            st->in.cap = cap;
        }
        c->idle = idle;
        ssize_t n = weft_recv(c->fd, st->in.p + st->in.len, st->in.cap - st->in.len, 0, dl);
        c->idle = 0;
        if (n <= 0)
            return;
        st->in.len += (size_t)n;
    }
}

static void conn_unlink(http_worker *w, http_conn *c) {
    weft__spin_lock(&w->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    weft__spin_unlock(&w->lock);
}

static void *conn_main(void *arg) {
    http_conn *c = arg;
    http_worker *w = c->w;
    weft_http_server *s = w->srv;
    conn_state st;
    memset(&st, 0, sizeof st);
    if (!atomic_load_explicit(&s->stopping, memory_order_relaxed))
        conn_serve(c, &st);
    weft__buf_free(&st.in);
    weft__buf_free(&st.out);
    weft__http_response_free(&st.resp);
    weft__free(st.spans);
    weft__free(st.hdrs);
    weft_fd_close(c->fd);
    conn_unlink(w, c);
    weft__free(c);
    weft_waitgroup_done(&s->wg); /* last touch of the server */
    return NULL;
}

static int conn_start(http_worker *w, int fd, const weft_addr *peer) {
    weft_http_server *s = w->srv;
    http_conn *c = weft__calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->w = w;
    c->fd = fd;
    c->peer = *peer;
    weft_waitgroup_add(&s->wg, 1);
    /* Listed before it may run (in a group it may run, and end, at once elsewhere). */
    weft__spin_lock(&w->lock);
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    weft__spin_unlock(&w->lock);
    weft_coro_opts o = {.detached = 1, .stack_size = s->stack_size};
    int r = weft_spawn(&c->co, conn_main, c, &o);
    if (r < 0) {
        conn_unlink(w, c);
        weft_waitgroup_done(&s->wg);
        weft__free(c);
        return r;
    }
    return 0;
}

static void *acceptor_main(void *arg) {
    http_worker *w = arg;
    weft_http_server *s = w->srv;
    if (s->threads) { /* on a server thread (threads == 0: the start sets them) */
        w->acceptor = weft_self();
        w->sched = weft__sched_get();
    }
    /* A stop cancels the acceptor once it is live (cancelled before it started, it
     * would never run, nor be counted done); one that comes earlier is seen here:
     * both sides store, then load (seq_cst). */
    atomic_store(&w->acceptor_live, 1);
    while (!atomic_load(&s->stopping)) {
        weft_addr peer;
        int fd = weft_tcp_accept(s->lfd, &peer, WEFT_FOREVER);
        if (fd < 0) {
            if (fd == -ECANCELED || fd == -EBADF || fd == -EINVAL || fd == -ENOTSOCK)
                break;
            if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
                if (weft_sleep(10 * WEFT_MSEC) < 0)
                    break;
            }
            continue; /* -ECONNABORTED and the like: the next one */
        }
        if (atomic_load_explicit(&s->stopping, memory_order_relaxed) ||
            conn_start(w, fd, &peer) < 0)
            weft_fd_close(fd);
    }
    atomic_store(&w->acceptor_live, 0);
    weft_waitgroup_done(&s->wg);
    return NULL;
}

/* On a worker's thread: cancels the acceptor and the connections that the
 * current stop phase ends. */
static void stop_local(http_worker *w) {
    int phase = atomic_load(&w->srv->stopping);
    if (atomic_load(&w->acceptor_live))
        (void)weft_cancel(w->acceptor);
    weft__spin_lock(&w->lock);
    for (http_conn *c = w->conns; c; c = c->next)
        if (phase >= 2 || atomic_load(&c->idle) || atomic_load(&c->lingering))
            (void)weft_cancel(c->co);
    weft__spin_unlock(&w->lock);
}

static void *stopper_main(void *arg) {
    stop_local(arg);
    return NULL;
}

static void stop_workers(weft_http_server *s) {
    for (int i = 0; i < s->nworkers; i++) {
        http_worker *w = &s->workers[i];
        if (!w->thr)
            stop_local(w);
        else
            (void)weft_thread_spawn(w->thr, stopper_main, w, NULL);
    }
}

/* After every acceptor and connection has left: joins the threads and
 * frees the server. */
static void finish(weft_http_server *s) {
    for (int i = 0; i < s->nworkers; i++) {
        http_worker *w = &s->workers[i];
        if (w->thr) {
            (void)weft_thread_stop(w->thr);
            while (weft_thread_join(w->thr, WEFT_FOREVER, NULL) == -ECANCELED)
                ; /* unreachable from the reaper, which is never cancelled */
        }
    }
    if (s->threads == 0 && !s->group)
        weft_fd_close(s->lfd);
    else
        close(s->lfd); /* the threads (or the group's workers) forget it as it closes */
    (void)weft_waitgroup_destroy(&s->wg);
    s->tag = WEFT__TAG_DEAD;
    weft__free(s);
}

/* Completes a stop on behalf of a cancelled caller. */
static void *reaper_main(void *arg) {
    weft_http_server *s = arg;
    atomic_store(&s->stopping, 2);
    stop_workers(s);
    (void)weft_waitgroup_wait(&s->wg, WEFT_FOREVER);
    finish(s);
    return NULL;
}

static int hand_to_reaper(weft_http_server *s) {
    weft_coro_opts o = {.detached = 1};
    int r = weft_spawn(NULL, reaper_main, s, &o);
    return r < 0 ? r : -ECANCELED;
}

WEFT_API int weft_http_server_stop(weft_http_server *s, int64_t deadline) {
    if (!s)
        return -EINVAL;
    check(s, "weft_http_server_stop");
    weft__sched *cur = weft__sched_get();
    if (s->threads == 0) {
        if (!s->group && weft__thread_anchor() != s->owner)
            return -EXDEV;
        weft_coro me = weft_self();
        http_worker *w = &s->workers[0];
        if (atomic_load(&w->acceptor_live) && weft_coro_equal(me, w->acceptor))
            return -EDEADLK;
        int mine = 0;
        weft__spin_lock(&w->lock);
        for (http_conn *c = w->conns; c; c = c->next)
            if (weft_coro_equal(me, c->co))
                mine = 1;
        weft__spin_unlock(&w->lock);
        if (mine)
            return -EDEADLK;
    } else if (cur) {
        for (int i = 0; i < s->nworkers; i++)
            if (s->workers[i].sched == cur)
                return -EDEADLK;
    }
    if (weft_cancelled())
        return hand_to_reaper(s);
    atomic_store(&s->stopping, 1);
    stop_workers(s);
    int r = weft_waitgroup_wait(&s->wg, deadline);
    if (r == -ETIMEDOUT) {
        atomic_store(&s->stopping, 2);
        stop_workers(s);
        r = weft_waitgroup_wait(&s->wg, WEFT_FOREVER);
    }
    if (r == -ECANCELED)
        return hand_to_reaper(s);
    finish(s);
    return 0;
}

WEFT_API int weft_http_server_port(const weft_http_server *s) {
    if (!s)
        return -EINVAL;
    check(s, "weft_http_server_port");
    return s->port;
}

WEFT_API const char *weft_http_request_header(const weft_http_request *req, const char *name) {
    if (!req || !name)
        return NULL;
    for (size_t i = 0; i < req->nheaders; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

#define KIB ((size_t)1024)
#define MIB (KIB * 1024)

WEFT_API int weft_http_server_start(weft_http_server **out, const char *host, int port,
                                    weft_http_handler handler, void *arg,
                                    const weft_http_opts *opts) {
    weft_http_opts o;
    if (opts)
        o = *opts;
    else
        memset(&o, 0, sizeof o);
    if (!out || !host || !handler || port < 0 || port > 65535 || o.threads < 0 || o.threads > 256 ||
        o.backlog < 0 || o.backlog > 65535 || o.max_request_line > MIB ||
        o.max_header_bytes > 64 * MIB || o.max_headers < 0 || o.max_headers > 65536 ||
        o.max_body > 1024 * MIB || (o.reuseport != 0 && o.reuseport != 1))
        return -EINVAL;
    int nworkers = o.threads ? o.threads : 1;
    weft_http_server *s = weft__calloc(1, sizeof *s + (size_t)nworkers * sizeof(http_worker));
    if (!s)
        return -ENOMEM;
    s->tag = HTTP_MAGIC;
    s->threads = o.threads;
    s->nworkers = nworkers;
    s->handler = handler;
    s->arg = arg;
    s->lim.max_line = o.max_request_line ? o.max_request_line : 8 * KIB;
    s->lim.max_header_bytes = o.max_header_bytes ? o.max_header_bytes : 16 * KIB;
    s->lim.max_headers = o.max_headers ? (uint32_t)o.max_headers : 100;
    s->lim.max_body = o.max_body ? o.max_body : MIB;
    /* Leading blank lines, request line, headers, blank line, body. */
    s->rbuf_max = 2 * (s->lim.max_line + 2) + s->lim.max_header_bytes + 2 + s->lim.max_body;
    s->idle = o.idle_timeout ? o.idle_timeout : 60 * WEFT_SEC;
    s->stack_size = o.stack_size;
    s->owner = weft__thread_anchor();
    atomic_init(&s->stopping, 0);
    weft_waitgroup_init(&s->wg);
    for (int i = 0; i < nworkers; i++)
        s->workers[i].srv = s;

    if (o.threads == 0 && !weft__sched_ensure()) {
        weft__free(s);
        return -ENOMEM;
    }
    int fd = weft_tcp_listen(host, port, o.backlog, o.reuseport ? WEFT_TCP_REUSEPORT : 0);
    if (fd < 0) {
        weft__free(s);
        return fd;
    }
    s->lfd = fd;
    weft_addr la;
    int r = weft_sock_local_addr(fd, &la);
    if (r == 0)
        r = s->port = weft_addr_port(&la);
    if (r < 0) {
        close(fd);
        weft__free(s);
        return r;
    }

    weft_coro_opts co = {.detached = 1};
    if (o.threads == 0) {
        s->group = weft_group_self();
        weft_waitgroup_add(&s->wg, 1);
        s->workers[0].sched = weft__sched_get();
        r = weft_spawn(&s->workers[0].acceptor, acceptor_main, &s->workers[0], &co);
        if (r < 0) {
            if (s->group)
                close(fd);
            else
                weft_fd_close(fd);
            weft__free(s);
            return r;
        }
        *out = s;
        return 0;
    }
    for (int i = 0; i < nworkers; i++) {
        http_worker *w = &s->workers[i];
        weft_thread_opts to = {.name = "weft-http", .daemon = 1, .serve = 1};
        r = weft_thread_start(&w->thr, NULL, NULL, &to);
        if (r == 0) {
            weft_waitgroup_add(&s->wg, 1);
            r = weft_thread_spawn(w->thr, acceptor_main, w, &co);
            if (r < 0)
                weft_waitgroup_done(&s->wg);
        }
        if (r < 0) {
            /* Undo: what started stops at once. */
            s->nworkers = w->thr ? i + 1 : i;
            atomic_store(&s->stopping, 2);
            stop_workers(s);
            (void)weft_waitgroup_wait(&s->wg, WEFT_FOREVER);
            finish(s);
            return r;
        }
    }
    *out = s;
    return 0;
}
