/*
 * seed13_sessions: the seed's closing question (section 13), answered without a terminal.
 *
 * The seed's author wanted a script that keeps many SSH sessions alive in the background,
 * runs a command on each, lists them, and lets a person step into one (Metasploit's
 * `sessions -i 1`) and out again. This tour stop does the scripted half with the library
 * (include/weft_session.h); `weft-session attach` is the interactive half (docs/guide.md,
 * "The session keeper").
 *
 *   1. starts N sessions (default 5) of `sh`, detached (on a real network: `ssh host`),
 *      in a private temporary directory;
 *   2. from one coroutine per session, at once: sends a command and reads its output back
 *      (expect-style: each read parks only its coroutine);
 *   3. lists the sessions (what `weft-session ls` prints), and shows one's recent output
 *      without attaching (`weft-session log`);
 *   4. kills them all and checks that none is left.
 *
 * Usage: seed13_sessions [N]   (1 .. 200). Exit status: 0 if every step did what it says.
 */
#include <weft_session.h>

#include "example.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];      /* the temporary directory */
static char sessions[96]; /* the session directory in it */

typedef struct host {
    int id;
    int n;
    char answer[128];
    int ok;
} host;

/* One coroutine per session: the seed's "run a command on each host, collect the output". */
static void *run_on(void *arg) {
    host *h = arg;
    weft_session *s;
    int r = weft_session_open(&s, sessions, h->id, WEFT_SESSION_OUTPUT | WEFT_SESSION_INPUT,
                              weft_after_sec(10));
    if (r < 0) {
        fprintf(stderr, "seed13_sessions: open %d: %s\n", h->id, weft_strerror(r));
        return NULL;
    }
    char line[128], want[64], got[4096];
    /* The shell computes the answer, so the echo of the typed line cannot match it. */
    snprintf(line, sizeof line, "echo host-%d says $((%d * %d))", h->n, h->n, h->n);
    snprintf(want, sizeof want, "host-%d says %d", h->n, h->n * h->n);
    r = weft_session_sendline(s, line, weft_after_sec(10));
    ssize_t n = r < 0 ? r : weft_session_expect(s, want, got, sizeof got, weft_after_sec(10));
    if (n < 0)
        fprintf(stderr, "seed13_sessions: session %d: %s\n", h->id, weft_strerror((int)n));
    else {
        snprintf(h->answer, sizeof h->answer, "%s", want);
        h->ok = 1;
    }
    weft_session_close(s);
    return NULL;
}

int main(int argc, char **argv) {
    if (example_line_buffered("seed13_sessions") < 0)
        return 1;
    int n = argc > 1 ? atoi(argv[1]) : 5;
    if (argc > 2 || n < 1 || n > 200) {
        fprintf(stderr, "usage: %s [N]   (1 <= N <= 200, default 5)\n", argv[0]);
        return 2;
    }
    snprintf(dir, sizeof dir, "/tmp/weft-seed13-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(sessions, sizeof sessions, "%s/sessions", dir);
    int status = 0;
    weft_session_info *v = NULL;
    host *hosts = calloc((size_t)n, sizeof *hosts);
    weft_coro *cs = calloc((size_t)n, sizeof *cs);
    if (!hosts || !cs)
        return 1;

    int64_t t0 = weft_now();
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "host%d", i + 1);
        char *const sh[] = {"sh", NULL};
        weft_session_opts o = {.dir = sessions, .name = name};
        int r = weft_session_start(&hosts[i].id, "sh", sh, &o);
        if (r < 0) {
            fprintf(stderr, "seed13_sessions: start: %s %s\n", weft_strerror(r),
                    weft_session_dir_error());
            n = i; /* kill the ones started */
            status = 1;
            goto end;
        }
        hosts[i].n = i + 1;
    }
    printf("started %d sessions of sh, detached, in %.3f s (directory %s)\n", n, example_since(t0),
           sessions);

    t0 = weft_now();
    for (int i = 0; i < n; i++)
        if (weft_spawn(&cs[i], run_on, &hosts[i], NULL) < 0) {
            weft_joinall(cs, (size_t)i, WEFT_FOREVER, NULL);
            status = 1;
            goto end;
        }
    weft_joinall(cs, (size_t)n, WEFT_FOREVER, NULL);
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += hosts[i].ok;
    printf("sent a command to all %d and read every answer back in %.3f s (%d of %d), e.g. "
           "\"%s\"\n",
           n, example_since(t0), ok, n, hosts[n - 1].answer);
    if (ok != n)
        status = 1;

    v = calloc((size_t)n, sizeof *v);
    int listed = v ? weft_session_list(sessions, v, n, 0) : -1;
    printf("weft-session ls:\n  %-3s %-8s %-8s %-9s %s\n", "ID", "NAME", "PID", "STATE", "COMMAND");
    for (int i = 0; i < listed && i < n; i++)
        printf("  %-3d %-8s %-8d %-9s %s\n", v[i].id, v[i].name, (int)v[i].pid,
               v[i].state == WEFT_SESSION_DETACHED ? "detached" : "attached", v[i].command);
    if (listed != n)
        status = 1;

    char log[4096];
    weft_session *s;
    if (weft_session_open(&s, sessions, hosts[0].id, 0, weft_after_sec(10)) == 0) {
        ssize_t k = weft_session_log(s, 2, log, sizeof log, weft_after_sec(10));
        weft_session_close(s);
        if (k > 0) {
            for (char *c = log; *c; c++)
                if (*c == '\r')
                    *c = ' ';
            printf("weft-session log %d -n 2:\n%s\n", hosts[0].id, log);
        } else
            status = 1;
    }

end:
    t0 = weft_now();
    for (int i = 0; i < n; i++) {
        weft_session *s;
        if (weft_session_open(&s, sessions, hosts[i].id, 0, weft_after_sec(10)) < 0)
            continue;
        if (weft_session_kill(s, weft_after_sec(10)) < 0)
            status = 1;
        weft_session_close(s);
    }
    int left = weft_session_list(sessions, NULL, 0, 0);
    printf("killed them all in %.3f s; sessions left: %d\n", example_since(t0), left);
    if (left != 0)
        status = 1;
    rmdir(sessions);
    rmdir(dir);
    free(v);
    free(cs);
    free(hosts);
    return status;
}
