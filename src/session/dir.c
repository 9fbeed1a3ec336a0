/* The session directory: resolved from the caller's choice or the environment, created 0700,
 * and checked with lstat before every use (a directory, not a link, the caller's own, no group
 * or other bits), so that nobody else can place or reach a session's socket. */
#include "session/session.h"

#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static WEFT_TLS char dir_error[512];

WEFT_API const char *weft_session_dir_error(void) {
    return dir_error;
}

__attribute__((format(printf, 1, 2))) static void set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(dir_error, sizeof dir_error, fmt, ap);
    va_end(ap);
}

static int check(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        int e = errno;
        set_error("%s: %s", path, strerror(e));
        return -e;
    }
    if (S_ISLNK(st.st_mode)) {
        set_error("%s: a symbolic link, not a directory", path);
        return -EPERM;
    }
    if (!S_ISDIR(st.st_mode)) {
        set_error("%s: not a directory", path);
        return -ENOTDIR;
    }
    if (st.st_uid != geteuid()) {
        set_error("%s: owned by uid %u, not %u", path, (unsigned)st.st_uid, (unsigned)geteuid());
        return -EPERM;
    }
    if (st.st_mode & 077) {
        set_error("%s: mode %03o gives group or others access (want 0700)", path,
                  (unsigned)(st.st_mode & 0777));
        return -EPERM;
    }
    return 0;
}

int weft__sess_dir(const char *dir, char *buf, size_t cap) {
    dir_error[0] = '\0';
    int n;
    const char *env;
    if (dir)
        n = snprintf(buf, cap, "%s", dir);
    else if ((env = getenv("WEFT_SESSION_DIR")) && *env)
        n = snprintf(buf, cap, "%s", env);
    else if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
        n = snprintf(buf, cap, "%s/weft-sessions", env);
    else
        n = snprintf(buf, cap, "/tmp/weft-sessions-%u", (unsigned)geteuid());
    if (n < 0 || (size_t)n >= cap) {
        set_error("session directory path too long");
        return -ENAMETOOLONG;
    }
    if (!*buf) {
        set_error("empty session directory path");
        return -ENOENT;
    }
    /* Room for "/<id>.sock" in a socket address. */
    if ((size_t)n + 16 > sizeof(((struct sockaddr_un *)0)->sun_path)) {
        set_error("%s: too long for a unix socket path", buf);
        return -ENAMETOOLONG;
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
        int e = errno;
        set_error("%s: cannot create: %s", buf, strerror(e));
        return -e;
    }
    return check(buf);
}

WEFT_API int weft_session_dir(const char *dir, char *buf, size_t cap) {
    if (!buf || !cap)
        return -EINVAL;
    char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];
    int r = weft__sess_dir(dir, tmp, sizeof tmp);
    if (r < 0)
        return r;
    if (strlen(tmp) >= cap)
        return -ENAMETOOLONG;
    strcpy(buf, tmp);
    return 0;
}

int weft__sess_sock_path(char *buf, size_t cap, const char *dir, int id) {
    int n = snprintf(buf, cap, "%s/%d.sock", dir, id);
    return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int weft__sess_connect(const char *dir, int id, int64_t deadline) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int r = weft__sess_sock_path(a.sun_path, sizeof a.sun_path, dir, id);
    if (r < 0)
        return r;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    r = weft_connect(fd, (struct sockaddr *)&a, sizeof a, deadline);
    if (r < 0) {
        close(fd);
        /* A socket nobody listens on: its server is gone (crashed, killed). */
        if (r == -ECONNREFUSED)
            unlink(a.sun_path);
        return r;
    }
    return fd;
}
