/* sessions: the session keeper at scale. N kept sessions (default 1,000; 100 quick) each run
 * `cat` under its own pseudo-terminal and server process. Timed: `send all` and every echo
 * read back: one coroutine per session connects (output and input), types a line, and reads
 * it back twice (the terminal's echo of the typed line, then cat's copy); the time until
 * the last coroutine has both. Memory: the sum of the servers' PSS (smaps_rollup) / N, MiB
 * per session (the `cat` processes are reported in a note). No peer: nothing else keeps
 * sessions this way (dtach/abduco keep one terminal per process and have no library).
 *
 * Usage: bench_sessions [N] */
#include "bench.h"

#include <weft_session.h>

#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

static char dir[64], sdir[96];

typedef struct one {
    int id;
    int ok;
} one;

static void *echo_back(void *arg) {
    one *o = arg;
    weft_session *s;
    BENCH_CHECK(weft_session_open(&s, sdir, o->id, WEFT_SESSION_OUTPUT | WEFT_SESSION_INPUT,
                                  weft_after_sec(60)));
    char line[32];
    snprintf(line, sizeof line, "ping-%d-", o->id);
    BENCH_CHECK(weft_session_sendline(s, line, weft_after_sec(60)));
    BENCH_CHECK(weft_session_expect(s, line, NULL, 0, weft_after_sec(60))); /* the echo */
    BENCH_CHECK(weft_session_expect(s, line, NULL, 0, weft_after_sec(60))); /* cat's copy */
    weft_session_close(s);
    o->ok = 1;
    return NULL;
}

static void *killer(void *arg) {
    one *o = arg;
    weft_session *s;
    if (weft_session_open(&s, sdir, o->id, 0, weft_after_sec(60)) == 0) {
        weft_session_kill(s, weft_after_sec(60));
        weft_session_close(s);
    }
    return NULL;
}

static double pss_kib(pid_t pid) {
    char p[64], line[256];
    snprintf(p, sizeof p, "/proc/%d/smaps_rollup", (int)pid);
    FILE *f = fopen(p, "r");
    if (!f)
        return -1;
    double kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Pss:", 4) == 0) {
            kb = atof(line + 4);
            break;
        }
    fclose(f);
    return kb;
}

int main(int argc, char **argv) {
    long n = bench_size(argc, argv, 1000, 100);
    if (n < 1 || n > 4000) {
        fprintf(stderr, "usage: bench_sessions [N]   (1 .. 4000)\n");
        return 2;
    }
    /* One connection per session at once, plus a few. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)n + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)n * 2 + 64 ? rl.rlim_max : (rlim_t)n * 2 + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    snprintf(dir, sizeof dir, "/tmp/weft-bench-sessions-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(sdir, sizeof sdir, "%s/s", dir);
    one *all = calloc((size_t)n, sizeof *all);
    weft_coro *cs = calloc((size_t)n, sizeof *cs);
    if (!all || !cs)
        return 1;
    char *const cat[] = {"cat", NULL};
    weft_session_opts so = {.dir = sdir};
    int64_t t0 = weft_now();
    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_session_start(&all[i].id, "cat", cat, &so));
    fprintf(stderr, "note: started %ld sessions of cat in %.2f s\n", n,
            (double)(weft_now() - t0) / (double)WEFT_SEC);

    weft_coro_opts co = {.stack_mode = WEFT_STACK_SHARED};
    t0 = weft_now();
    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_spawn(&cs[i], echo_back, &all[i], &co));
    BENCH_CHECK(weft_joinall(cs, (size_t)n, WEFT_FOREVER, NULL));
    double s = (double)(weft_now() - t0) / (double)WEFT_SEC;
    for (long i = 0; i < n; i++)
        if (!all[i].ok)
            return 1;

    weft_session_info *v = calloc((size_t)n, sizeof *v);
    if (!v)
        return 1;
    int listed = weft_session_list(sdir, v, (int)n, 0);
    BENCH_CHECK(listed);
    double srv = 0, prog = 0;
    for (int i = 0; i < listed && i < n; i++) {
        double a = pss_kib(v[i].server_pid), b = pss_kib(v[i].pid);
        if (a < 0 || b < 0) {
            fprintf(stderr, "cannot read the PSS of session %d\n", v[i].id);
            return 1;
        }
        srv += a;
        prog += b;
    }
    fprintf(stderr, "note: %d sessions listed; their cat processes: %.3f MiB PSS each\n", listed,
            prog / 1024.0 / listed);
    bench_line("sessions", "weft", s, "s");
    bench_line("sessions", "weft", srv / 1024.0 / (double)listed, "MiB");

    for (long i = 0; i < n; i++)
        BENCH_CHECK(weft_spawn(&cs[i], killer, &all[i], &co));
    BENCH_CHECK(weft_joinall(cs, (size_t)n, WEFT_FOREVER, NULL));
    int left = weft_session_list(sdir, NULL, 0, 0);
    rmdir(sdir);
    rmdir(dir);
    free(v);
    free(cs);
    free(all);
    return left == 0 ? 0 : 1;
}
