/* The session keeper's internals (include/weft_session.h): the private directory, the
 * framed protocol between clients and a session's server, and the server itself. */
#ifndef WEFT_SESSION_INTERNAL_H
#define WEFT_SESSION_INTERNAL_H

#include "internal.h"
#include "weft_session.h"

#include <stddef.h>
#include <stdint.h>

/* ---- directory (dir.c) ---------------------------------------------------------------- */

/* Resolves, creates and checks the directory (weft_session_dir) into buf. */
int weft__sess_dir(const char *dir, char *buf, size_t cap);
/* <dir>/<id>.sock into buf (cap >= sizeof sockaddr_un.sun_path). -ENAMETOOLONG. */
int weft__sess_sock_path(char *buf, size_t cap, const char *dir, int id);
/* A connected, non-blocking, close-on-exec socket to session id, or -errno. */
int weft__sess_connect(const char *dir, int id, int64_t deadline);

/* ---- protocol (proto.c) ---------------------------------------------------------------
 * Every message is a frame: an 8-byte header (type, payload length, both uint32 in host
 * order: both ends run on one machine) then the payload. */
enum {
    WSP_HELLO = 1, /* c->s: struct wsp_hello; s->c: WSP_OK or WSP_ERR */
    WSP_DATA,      /* both ways: terminal bytes */
    WSP_RESIZE,    /* c->s: struct wsp_size; s->c: WSP_OK / WSP_ERR */
    WSP_INFO,      /* c->s: empty; s->c: weft_session_info */
    WSP_LOG,       /* c->s: int32 lines; s->c: the text */
    WSP_RENAME,    /* c->s: the name; s->c: WSP_OK / WSP_ERR */
    WSP_KILL,      /* c->s: empty; s->c: WSP_OK once the program is gone */
    WSP_EXIT,      /* s->c: int32 exit code, when the program exits (at hello if it has) */
    WSP_OK,        /* s->c: the request succeeded */
    WSP_ERR,       /* s->c: int32 negative errno */
    WSP_REAP,      /* c->s: remove the session if its program has exited; s->c: WSP_OK */
    WSP_TYPE_MAX
};
enum { WSP_MAX_PAYLOAD = 1 << 20, WSP_RING = 256 << 10 };

struct wsp_hello {
    uint32_t mode; /* WEFT_SESSION_OUTPUT | ... */
    uint16_t rows, cols;
};
struct wsp_size {
    uint16_t rows, cols;
};

/* A frame reader: bytes received but not yet returned. */
typedef struct wsp_reader {
    char *buf;
    size_t len, cap;
    size_t consumed; /* the last frame returned, dropped at the next call */
} wsp_reader;

typedef struct wsp_frame {
    uint32_t type;
    uint32_t len;
    const char *payload; /* valid until the next wsp_recv on the reader */
} wsp_frame;

/* Sends one frame (MSG_NOSIGNAL). 0 or -errno (-EPIPE when the peer is gone). */
int weft__wsp_send(int fd, uint32_t type, const void *payload, size_t len, int64_t deadline);
/* Receives the next frame into *f. 1 on a frame, 0 on end of stream (between frames),
 * or -errno (-EPROTO for a malformed frame, -ETIMEDOUT, ...). */
int weft__wsp_recv(wsp_reader *r, int fd, wsp_frame *f, int64_t deadline);
void weft__wsp_reader_free(wsp_reader *r);

/* ---- a client's connection (client.c) ------------------------------------------------- */

enum { OUT_MAX = 4 << 20 };
#define SESSION_TAG 0x73657373u /* "sess" */

struct weft_session {
    uint32_t tag;
    int fd;
    int mode;
    int busy;
    int exited, code; /* the server said the program exited */
    int eof;          /* the server's stream ended */
    wsp_reader rd;
    char *out; /* output not yet read */
    size_t out_len, out_cap;
};

/* weft_session_open with the terminal's size for the hello. */
int weft__sess_open(weft_session **out, const char *dir, int id, int mode, int rows, int cols,
                    int64_t deadline);
/* Receives one frame; output and exit notices are absorbed. Returns 1 with a reply in *f, 2
 * when output or an exit notice arrived, 0 at the end of the stream, or -errno. */
int weft__sess_pump(weft_session *s, wsp_frame *f, int64_t deadline);

/* ---- server (server.c) ------------------------------------------------------------------ */

typedef struct wss_start {
    int id;
    int lfd;       /* the listening socket, bound to sock */
    int status_fd; /* write end: int32 result (0 or -errno), then int32 pid */
    char sock[108];
    const char *path; /* the program */
    char *const *argv;
    char *const *envp;
    const char *name;
    int rows, cols;
} wss_start;

/* Runs a session's server in the calling (freshly double-forked) process; never returns. */
__attribute__((noreturn)) void weft__sess_server(const wss_start *st);

/* The command line text of argv, joined by spaces, cut to cap - 1 bytes. */
void weft__sess_join_argv(char *buf, size_t cap, char *const argv[]);
/* Wall-clock nanoseconds. */
int64_t weft__sess_wallclock(void);
/* Copies a valid name (0 or -EINVAL: too long, or with a newline). */
int weft__sess_name_ok(const char *name);

#endif
