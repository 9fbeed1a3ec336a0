/* http_server, nginx peer: Debian's nginx with a `return 200 "Hello, World!"` location on
 * a loopback port, its config, pid file and logs in a temporary directory, started by
 * this program (master in the foreground: its pid is the child's), measured under
 * `wrk -t1 -c64 -dNs` like weft's server, then stopped by that pid (SIGQUIT, then
 * waitpid). Two figures: `nginx` with one worker per online CPU (as weft's server has
 * one thread per CPU) and `nginx-1w` with one worker (against weft with 1 thread,
 * `weft-1t`). req/s. Prints skipped without nginx or wrk.
 * Usage: http_server_nginx [SECONDS]; BENCH_QUICK=1 reduced.
 * bench-needs: nginx
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../libuv/uv_common.h"

static const char *nginx_path(void) {
    static const char *c[] = {"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"};
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        if (access(c[i], X_OK) == 0)
            return c[i];
    return NULL;
}

static int free_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) ||
        getsockname(s, (struct sockaddr *)&a, &l))
        return -1;
    close(s);
    return ntohs(a.sin_port);
}

static int can_connect(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0;
    if (s >= 0)
        close(s);
    return ok;
}

/* One measurement with `workers` nginx workers: req/s, or -1. */
static double measure(const char *nginx, const char *dir, int workers, long secs) {
    int port = free_port();
    if (port < 0)
        return -1;
    char conf[4096], path[512];
    snprintf(path, sizeof path, "%s/nginx.conf", dir);
    snprintf(conf, sizeof conf,
             "worker_processes %d;\ndaemon off;\npid %s/nginx.pid;\nerror_log %s/error.log;\n"
             "events { worker_connections 1024; }\n"
             "http {\n access_log off;\n client_body_temp_path %s/body;\n"
             " proxy_temp_path %s/proxy;\n fastcgi_temp_path %s/fastcgi;\n"
             " uwsgi_temp_path %s/uwsgi;\n scgi_temp_path %s/scgi;\n"
             " server {\n  listen 127.0.0.1:%d;\n  default_type text/plain;\n"
             "  location / { return 200 \"Hello, World!\"; }\n }\n}\n",
             workers, dir, dir, dir, dir, dir, dir, dir, port);
    FILE *f = fopen(path, "w");
    if (!f || fputs(conf, f) < 0 || fclose(f))
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(nginx, "nginx", "-p", dir, "-c", path, "-e", "stderr", (char *)NULL);
        _exit(127);
    }
    int up = 0;
    for (int i = 0; i < 500 && !up; i++) {
        up = can_connect(port);
        if (!up) {
            int st;
            if (waitpid(pid, &st, WNOHANG) == pid) {
                fprintf(stderr, "http_server_nginx: nginx exited (status %d)\n", st);
                return -1;
            }
            usleep(10000);
        }
    }
    double rps = -1;
    if (up) {
        char cmd[256], line[512];
        snprintf(cmd, sizeof cmd, "wrk -t1 -c64 -d%lds http://127.0.0.1:%d/ 2>&1", secs, port);
        FILE *p = popen(cmd, "r");
        while (p && fgets(line, sizeof line, p)) {
            if (strncmp(line, "Requests/sec:", 13) == 0)
                rps = atof(line + 13);
            else if (strstr(line, "Non-2xx") || strstr(line, "Socket errors"))
                fprintf(stderr, "note: nginx (%d workers): wrk: %s", workers, line);
        }
        if (!p || pclose(p) != 0)
            rps = -1;
    }
    kill(pid, SIGQUIT); /* graceful stop of the master and its workers */
    for (int i = 0; i < 500; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return rps;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return rps;
}

int main(int argc, char **argv) {
    long secs = peer_size(argc, argv, 5, 2);
    const char *nginx = nginx_path();
    if (!nginx || system("command -v wrk >/dev/null 2>&1") != 0) {
        fprintf(stderr, "note: %s is not installed\n", nginx ? "wrk" : "nginx");
        printf("http_server\tnginx\tskipped\treq/s\nhttp_server\tnginx-1w\tskipped\treq/s\n");
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/weft-bench-nginx-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    int n = ncpu > 0 && ncpu < 256 ? (int)ncpu : 1;
    double all = measure(nginx, dir, n, secs);
    double one = measure(nginx, dir, 1, secs);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "http_server_nginx: could not remove %s\n", dir);
    if (all <= 0 || one <= 0) {
        fprintf(stderr, "http_server_nginx: no figure from wrk\n");
        return 1;
    }
    char ver[256] = "";
    snprintf(cmd, sizeof cmd, "%s -v 2>&1", nginx);
    FILE *p = popen(cmd, "r");
    if (p) {
        if (fgets(ver, sizeof ver, p))
            ver[strcspn(ver, "\n")] = 0;
        pclose(p);
    }
    fprintf(stderr,
            "note: %s: `return 200`, access_log off; nginx = %d workers, nginx-1w = 1; "
            "wrk -t1 -c64 -d%lds on the same cores\n",
            ver, n, secs);
    printf("http_server\tnginx\t%.1f\treq/s\nhttp_server\tnginx-1w\t%.1f\treq/s\n", all, one);
    return 0;
}
