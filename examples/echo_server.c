/*
 * echo_server: a TCP echo server with one coroutine per connection, and, in
 * the same program and thread, N client coroutines that check it.
 *
 *   echo_server [CLIENTS]        serve on 127.0.0.1:<ephemeral port>, run
 *                                CLIENTS clients (default 50) that each send
 *                                a few messages (1 byte .. 64 KiB) and check
 *                                every echoed byte, then shut the server down
 *                                and print a summary. Exit status 0 only if
 *                                every echo matched and nothing was left over.
 *   echo_server --serve PORT     only serve, forever, on 127.0.0.1:PORT (0 picks
 *                                a free port); try it with `nc 127.0.0.1 PORT`.
 *
 * Shape of the program (all on the main thread, all cooperative):
 *
 *   main ── spawns ── accept_loop ── spawns one ── handle_conn per connection
 *        └─ spawns ── client x N ── each spawns ── client_sender
 *
 * Shutting down: once every client has been joined, main cancels accept_loop
 * (its weft_accept() fails with -ECANCELED and it returns), joins it, then
 * joins the connection handlers, which end by themselves when their client
 * closes. Only loopback addresses are used.
 */
#include <weft.h>

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

enum {
    DEFAULT_CLIENTS = 50,
    MAX_CLIENTS = 1000,
    MSGS_PER_CLIENT = 5,
    MAX_MSG = 64 * 1024,
    ECHO_BUF = 16 * 1024,
};

/* Every client coroutine has this long, from the start, to finish its work. */
#define CLIENT_TIMEOUT_SEC 30.0

static void *status_to_ptr(int status) {
    return (void *)(intptr_t)status;
}

static int ptr_to_status(void *p) {
    return (int)(intptr_t)p;
}

/* Prints "echo_server: <what>: <error>" and returns err, for one-line exits. */
static int report(const char *what, int err) {
    fprintf(stderr, "echo_server: %s: %s\n", what, weft_strerror(err));
    return err;
}

/* ---------------------------------------------------------------------------
 * Server
 * ------------------------------------------------------------------------- */

/* The server's state. Only coroutines of the main thread touch it, and they
 * switch only inside weft calls, so no lock is needed. */
typedef struct server {
    int listen_fd;
    weft_coro *conns; /* handlers not yet joined */
    size_t nconns, capconns;
    uint64_t accepted;       /* connections accepted */
    uint64_t bytes_echoed;   /* bytes written back by the handlers */
    uint64_t handler_errors; /* handlers that ended with an error */
} server;

/* What accept_loop() hands each handle_conn(): the server and the connection. */
typedef struct conn_arg {
    server *srv;
    int fd;
} conn_arg;

/* Echoes everything read from the connection back to it until the peer
 * closes its side, then closes the connection. Returns a status. */
static void *handle_conn(void *arg) {
    conn_arg *ca = arg; /* allocated by accept_loop(), ours to free */
    server *srv = ca->srv;
    int fd = ca->fd;
    free(ca);

    char *buf = malloc(ECHO_BUF);
    int status = 0;
    if (buf == NULL) {
        status = report("handler: malloc", -ENOMEM);
    } else {
        for (;;) {
            ssize_t n = weft_read(fd, buf, ECHO_BUF, WEFT_FOREVER);
            if (n == 0)
                break; /* the client closed its side: done */
            if (n < 0) {
                status = report("handler: weft_read", (int)n);
                break;
            }
            size_t written = 0;
            ssize_t w = weft_write_all(fd, buf, (size_t)n, WEFT_FOREVER, &written);
            srv->bytes_echoed += written;
            if (w < 0) {
                status = report("handler: weft_write_all", (int)w);
                break;
            }
        }
    }
    free(buf);
    int r = weft_fd_close(fd);
    if (r < 0 && status == 0)
        status = report("handler: weft_fd_close", r);
    return status_to_ptr(status);
}

/* Joins the handlers that have already finished, without waiting (a
 * deadline of WEFT_NOWAIT), so a long-running server does not pile them up. */
static void reap_finished(server *srv) {
    size_t keep = 0;
    for (size_t i = 0; i < srv->nconns; i++) {
        void *res = NULL;
        if (weft_coro_done(srv->conns[i]) == 1 &&
            weft_join(srv->conns[i], WEFT_NOWAIT, &res) == 0) {
            if (ptr_to_status(res) < 0)
                srv->handler_errors++;
        } else {
            srv->conns[keep++] = srv->conns[i];
        }
    }
    srv->nconns = keep;
}

/* Accepts connections and spawns one handle_conn coroutine for each, until
 * it is cancelled. Returns 0 when cancelled, or the error that stopped it. */
static void *accept_loop(void *arg) {
    server *srv = arg;
    for (;;) {
        int fd = weft_accept(srv->listen_fd, NULL, NULL, WEFT_FOREVER);
        if (fd == -ECANCELED)
            return status_to_ptr(0); /* the shutdown request */
        if (fd == -ECONNABORTED || fd == -EINTR)
            continue; /* the client gave up before we accepted: harmless */
        if (fd == -EMFILE || fd == -ENFILE || fd == -ENOBUFS || fd == -ENOMEM) {
            /* Out of descriptors or memory: wait for connections to close
             * instead of giving up (or spinning). */
            report("weft_accept (retrying in 100 ms)", fd);
            int r = weft_sleep(100 * WEFT_MSEC);
            if (r == -ECANCELED)
                return status_to_ptr(0);
            if (r < 0)
                return status_to_ptr(report("weft_sleep", r));
            continue;
        }
        if (fd < 0)
            return status_to_ptr(report("weft_accept", fd));
        srv->accepted++;
        reap_finished(srv);

        /* Make room for one more handle. */
        if (srv->nconns == srv->capconns) {
            size_t cap = srv->capconns ? srv->capconns * 2 : 64;
            weft_coro *grown = realloc(srv->conns, cap * sizeof *grown);
            if (grown == NULL) {
                report("realloc", -ENOMEM);
                (void)weft_fd_close(fd); /* drop this connection, keep serving */
                continue;
            }
            srv->conns = grown;
            srv->capconns = cap;
        }
        conn_arg *ca = malloc(sizeof *ca);
        if (ca == NULL) {
            report("malloc", -ENOMEM);
            (void)weft_fd_close(fd);
            continue;
        }
        ca->srv = srv;
        ca->fd = fd;
        weft_coro_opts opts = {0};
        opts.name = "handle_conn";
        int r = weft_spawn(&srv->conns[srv->nconns], handle_conn, ca, &opts);
        if (r < 0) {
            report("weft_spawn(handle_conn)", r);
            free(ca);
            (void)weft_fd_close(fd);
            continue;
        }
        srv->nconns++;
    }
}

/* Creates a non-blocking listening socket on 127.0.0.1:port and stores the
 * port actually bound (useful with port 0) in *bound. Returns the fd or a
 * negative errno. */
static int listen_loopback(int port, int *bound) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return report("socket", -errno);
    int one = 1;
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    int err = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        err = report("setsockopt(SO_REUSEADDR)", -errno);
    else if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        err = report("bind(127.0.0.1)", -errno);
    else if (listen(fd, SOMAXCONN) < 0)
        err = report("listen", -errno);
    else if (getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
        err = report("getsockname", -errno);
    if (err < 0) {
        (void)weft_fd_close(fd);
        return err;
    }
    *bound = ntohs(sa.sin_port);
    return fd;
}

/* ---------------------------------------------------------------------------
 * Clients
 *
 * Each client runs as two coroutines on one socket: client_sender writes all
 * the messages, then shuts down its side of the socket; client (the reader)
 * reads each echo back and compares it byte for byte. Reading and writing at
 * the same time is what keeps a client from deadlocking against the server:
 * a client that wrote 64 KiB before reading anything could fill both socket
 * buffers while the server waits to write its echo back.
 * ------------------------------------------------------------------------- */

typedef struct client {
    int id;
    int fd;
    int64_t deadline;
    struct sockaddr_in addr;
    size_t sizes[MSGS_PER_CLIENT];
    uint64_t bytes_verified; /* out */
} client;

/* Message m of client id: a deterministic pattern both sides can rebuild. */
static void fill_message(unsigned char *buf, size_t len, int id, int m) {
    uint32_t x = (uint32_t)id * 2654435761u + (uint32_t)m * 40503u + 1u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13; /* xorshift32 */
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)x;
    }
}

static void *client_sender(void *arg) {
    client *c = arg;
    unsigned char *buf = malloc(MAX_MSG);
    if (buf == NULL)
        return status_to_ptr(report("sender: malloc", -ENOMEM));
    int status = 0;
    for (int m = 0; m < MSGS_PER_CLIENT && status == 0; m++) {
        fill_message(buf, c->sizes[m], c->id, m);
        ssize_t w = weft_write_all(c->fd, buf, c->sizes[m], c->deadline, NULL);
        if (w < 0)
            status = report("client: weft_write_all", (int)w);
    }
    free(buf);
    /* Tell the server we are done sending: its read will return 0. */
    if (status == 0 && shutdown(c->fd, SHUT_WR) < 0)
        status = report("client: shutdown(SHUT_WR)", -errno);
    return status_to_ptr(status);
}

/* Reads exactly len bytes. Returns 0, -EPIPE for a premature end of file,
 * or a weft_read error. */
static int read_exact(int fd, unsigned char *buf, size_t len, int64_t deadline) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = weft_read(fd, buf + got, len - got, deadline);
        if (n == 0)
            return -EPIPE;
        if (n < 0)
            return (int)n;
        got += (size_t)n;
    }
    return 0;
}

static void *client_main(void *arg) {
    client *c = arg;
    unsigned char *want = malloc(MAX_MSG), *got = malloc(MAX_MSG);
    int status = 0, r;
    weft_coro sender;
    int have_sender = 0;

    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (want == NULL || got == NULL) {
        status = report("client: malloc", -ENOMEM);
        goto out;
    }
    if (c->fd < 0) {
        status = report("client: socket", -errno);
        goto out;
    }
    r = weft_connect(c->fd, (struct sockaddr *)&c->addr, sizeof c->addr, c->deadline);
    if (r < 0) {
        status = report("client: weft_connect", r);
        goto out;
    }
    r = weft_spawn(&sender, client_sender, c, NULL);
    if (r < 0) {
        status = report("client: weft_spawn(sender)", r);
        goto out;
    }
    have_sender = 1;

    for (int m = 0; m < MSGS_PER_CLIENT; m++) {
        fill_message(want, c->sizes[m], c->id, m);
        r = read_exact(c->fd, got, c->sizes[m], c->deadline);
        if (r < 0) {
            status = report("client: reading the echo", r);
            goto out;
        }
        if (memcmp(want, got, c->sizes[m]) != 0) {
            size_t i = 0;
            while (want[i] == got[i])
                i++;
            fprintf(stderr,
                    "echo_server: client %d message %d (%zu bytes): byte %zu is %u, "
                    "expected %u\n",
                    c->id, m, c->sizes[m], i, got[i], want[i]);
            status = -EPROTO;
            goto out;
        }
        c->bytes_verified += c->sizes[m];
    }
    /* After the last echo the server must close: expect end of file. */
    ssize_t n = weft_read(c->fd, got, 1, c->deadline);
    if (n != 0) {
        status = n < 0 ? report("client: waiting for EOF", (int)n) : -EPROTO;
        if (n > 0)
            fprintf(stderr, "echo_server: client %d: extra bytes after the last echo\n", c->id);
    }

out:
    if (have_sender) {
        /* On failure the sender may still be blocked writing: stop it. */
        if (status < 0 && (r = weft_cancel(sender)) < 0)
            report("client: weft_cancel(sender)", r);
        void *res = NULL;
        r = weft_join(sender, WEFT_FOREVER, &res);
        if (r < 0)
            status = report("client: weft_join(sender)", r);
        else if (status == 0)
            status = ptr_to_status(res);
    }
    if (c->fd >= 0 && (r = weft_fd_close(c->fd)) < 0 && status == 0)
        status = report("client: weft_fd_close", r);
    free(want);
    free(got);
    return status_to_ptr(status);
}

/* ---------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------- */

/* Parses a decimal integer in [lo, hi]; returns 0 and sets *out, or -1. */
static int parse_int(const char *s, long lo, long hi, int *out) {
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int usage(const char *argv0) {
    fprintf(stderr,
            "usage: %s [CLIENTS]       self-test with CLIENTS clients (1..%d, default %d)\n"
            "       %s --serve PORT    serve forever on 127.0.0.1:PORT (0..65535)\n",
            argv0, MAX_CLIENTS, DEFAULT_CLIENTS, argv0);
    return 2;
}

/* --serve: accept forever (until the process is killed). */
static int serve_forever(server *srv) {
    weft_coro acceptor;
    int r = weft_spawn(&acceptor, accept_loop, srv, NULL);
    if (r < 0)
        return report("weft_spawn(accept_loop)", r);
    void *res = NULL;
    r = weft_join(acceptor, WEFT_FOREVER, &res);
    if (r < 0)
        return report("weft_join(accept_loop)", r);
    return ptr_to_status(res); /* only an accept error ends it */
}

/* Joins the connection handlers still listed, giving them `deadline` to
 * end by themselves, after which they are cancelled. Returns 0 or an error. */
static int join_handlers(server *srv, int64_t deadline) {
    int status = 0;
    for (size_t i = 0; i < srv->nconns; i++) {
        void *res = NULL;
        int r = weft_join(srv->conns[i], deadline, &res);
        if (r == -ETIMEDOUT) {
            fprintf(stderr, "echo_server: a handler did not finish in time; cancelling it\n");
            status = -ETIMEDOUT;
            if ((r = weft_cancel(srv->conns[i])) < 0)
                return report("weft_cancel(handler)", r);
            r = weft_join(srv->conns[i], WEFT_FOREVER, &res);
        }
        if (r < 0)
            return report("weft_join(handler)", r);
        if (ptr_to_status(res) < 0)
            srv->handler_errors++;
    }
    srv->nconns = 0;
    return status;
}

int main(int argc, char **argv) {
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        fprintf(stderr, "echo_server: setvbuf failed\n");
        return 1;
    }
    int nclients = DEFAULT_CLIENTS, port = 0, serve = 0;
    if (argc == 3 && strcmp(argv[1], "--serve") == 0) {
        if (parse_int(argv[2], 0, 65535, &port) != 0)
            return usage(argv[0]);
        serve = 1;
    } else if (argc == 2) {
        if (parse_int(argv[1], 1, MAX_CLIENTS, &nclients) != 0)
            return usage(argv[0]);
    } else if (argc != 1) {
        return usage(argv[0]);
    }

    server srv = {0};
    int bound = 0;
    srv.listen_fd = listen_loopback(port, &bound);
    if (srv.listen_fd < 0)
        return 1;
    printf("echo server listening on 127.0.0.1:%d\n", bound);

    if (serve) {
        printf("serving until killed (try: nc 127.0.0.1 %d)\n", bound);
        int r = serve_forever(&srv);
        (void)weft_fd_close(srv.listen_fd);
        free(srv.conns);
        return r < 0 ? 1 : 0;
    }

    int64_t t0 = weft_now();
    int failed = 0, r;

    /* The server. */
    weft_coro acceptor;
    weft_coro_opts opts = {0};
    opts.name = "accept_loop";
    r = weft_spawn(&acceptor, accept_loop, &srv, &opts);
    if (r < 0) {
        report("weft_spawn(accept_loop)", r);
        (void)weft_fd_close(srv.listen_fd);
        return 1;
    }

    /* The clients: message sizes vary per client, from 1 byte to 64 KiB. */
    static const size_t sizes[] = {1, 13, 512, 1500, 4096, 9000, 32768, 65536, 100, 65535};
    const size_t nsizes = sizeof sizes / sizeof sizes[0];
    client *clients = calloc((size_t)nclients, sizeof *clients);
    weft_coro *cs = calloc((size_t)nclients, sizeof *cs);
    void **results = calloc((size_t)nclients, sizeof *results);
    int spawned = 0;
    if (clients == NULL || cs == NULL || results == NULL) {
        report("calloc", -ENOMEM);
        failed = 1;
    }
    int64_t deadline = weft_after_sec(CLIENT_TIMEOUT_SEC);
    for (int i = 0; !failed && i < nclients; i++) {
        client *c = &clients[i];
        c->id = i;
        c->fd = -1;
        c->deadline = deadline;
        c->addr.sin_family = AF_INET;
        c->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        c->addr.sin_port = htons((uint16_t)bound);
        for (int m = 0; m < MSGS_PER_CLIENT; m++)
            c->sizes[m] = sizes[((size_t)i * 3 + (size_t)m) % nsizes];
        r = weft_spawn(&cs[i], client_main, c, NULL);
        if (r < 0) {
            report("weft_spawn(client)", r);
            failed = 1;
            break;
        }
        spawned++;
    }

    /* Wait for every client (they have their own deadline, so this ends). */
    int client_failures = 0;
    uint64_t verified = 0;
    if (spawned > 0) {
        r = weft_joinall(cs, (size_t)spawned, WEFT_FOREVER, results);
        if (r < 0) {
            /* Cannot happen with valid handles and no deadline; bail out. */
            report("weft_joinall(clients)", r);
            return 1;
        }
    }
    for (int i = 0; i < spawned; i++) {
        if (ptr_to_status(results[i]) < 0)
            client_failures++;
        verified += clients[i].bytes_verified;
    }

    /* Shut the server down: cancel the accept loop, join it, then join the
     * handlers (each ends when its client has closed). */
    r = weft_cancel(acceptor);
    if (r < 0) {
        report("weft_cancel(accept_loop)", r);
        return 1;
    }
    void *res = NULL;
    r = weft_join(acceptor, WEFT_FOREVER, &res);
    if (r < 0) {
        report("weft_join(accept_loop)", r);
        return 1;
    }
    if (ptr_to_status(res) < 0)
        failed = 1;
    if (join_handlers(&srv, weft_after_sec(5.0)) < 0)
        failed = 1;
    r = weft_fd_close(srv.listen_fd);
    if (r < 0) {
        report("weft_fd_close(listener)", r);
        failed = 1;
    }
    double secs = (double)(weft_now() - t0) / WEFT_SEC;

    size_t left = weft_coro_count();
    printf("clients: %d, ok: %d, failed: %d\n", nclients, spawned - client_failures,
           client_failures + (nclients - spawned));
    printf("connections accepted: %llu, handler errors: %llu\n", (unsigned long long)srv.accepted,
           (unsigned long long)srv.handler_errors);
    printf("bytes echoed by the server: %llu, verified by the clients: %llu\n",
           (unsigned long long)srv.bytes_echoed, (unsigned long long)verified);
    printf("time: %.3f s (%.1f MiB/s echoed)\n", secs,
           secs > 0 ? (double)srv.bytes_echoed / (1024.0 * 1024.0) / secs : 0.0);
    if (left != 0) {
        fprintf(stderr, "echo_server: %zu coroutines left over\n", left);
        failed = 1;
    }

    int ok = !failed && client_failures == 0 && spawned == nclients &&
             srv.accepted == (uint64_t)nclients && srv.handler_errors == 0 &&
             srv.bytes_echoed == verified;
    free(srv.conns);
    free(clients);
    free(cs);
    free(results);
    puts(ok ? "echo_server: every echo matched" : "echo_server: FAILED");
    return ok ? 0 : 1;
}
