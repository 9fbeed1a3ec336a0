/* The session keeper (include/weft_session.h, cmd/weft-session.c): sessions of bash (or sh)
 * in a temporary directory, driven through the library and through the command as a user
 * would, in a terminal the test opens (forkpty); and sessions of ssh to an sshd the test
 * starts on 127.0.0.1 (skipped when sshd is missing or cannot start). Every session a case
 * starts is killed at its end, also when a check fails (atexit). */
#include "harness.h"
#include "session/session.h"

#include <weft_session.h>

#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pty.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef WEFT_SESSION_BIN
#error "WEFT_SESSION_BIN: the path of the weft-session command (set by CMakeLists.txt)"
#endif

static const int64_t SEC = 1000000000;

static char tmpdir[128];
static char sdir[192];
static pid_t sshd_pid;

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f) {
    (void)st, (void)flag, (void)f;
    return remove(p);
}

/* Kills whatever the case left: every session's program (its process group) and server. */
static void cleanup(void) {
    if (!sdir[0])
        return;
    chmod(sdir, 0700); /* a case may have opened it on purpose: listing checks the mode */
    weft_session_info v[128];
    int n = weft_session_list(sdir, v, 128, 0);
    for (int i = 0; i < n && i < 128; i++) {
        if (v[i].pid > 0)
            kill(-v[i].pid, SIGKILL);
        if (v[i].server_pid > 0)
            kill(v[i].server_pid, SIGKILL);
    }
    if (sshd_pid > 0) {
        kill(sshd_pid, SIGTERM);
        waitpid(sshd_pid, NULL, 0);
        sshd_pid = 0;
    }
    nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    sdir[0] = '\0';
}

/* A janitor process cleans up after the case whatever way it ends (a failed check leaves with
 * _exit, a timeout with a signal): it waits for the end of a pipe only the case holds. */
static void janitor(int rd) {
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(nul, 2);
    char b;
    while (read(rd, &b, 1) != 0 && errno == EINTR)
        ;
    char pidf[256];
    snprintf(pidf, sizeof pidf, "%s/sshd.pid", tmpdir);
    FILE *f = fopen(pidf, "r");
    int sp = 0;
    if (f) {
        if (fscanf(f, "%d", &sp) == 1 && sp > 0)
            kill(sp, SIGTERM);
        fclose(f);
    }
    cleanup();
    _exit(0);
}

static void setup(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-session-test-XXXXXX");
    CHECK(mkdtemp(tmpdir) != NULL);
    snprintf(sdir, sizeof sdir, "%s/s", tmpdir);
    setenv("WEFT_SESSION_DIR", sdir, 1);
    setenv("TERM", "dumb", 1);
    int p[2];
    CHECK_OK(pipe2(p, O_CLOEXEC));
    pid_t j = fork();
    CHECK_GE(j, 0);
    if (j == 0) {
        close(p[1]);
        janitor(p[0]);
    }
    close(p[0]); /* p[1] stays open until this process ends */
    atexit(cleanup);
}

static char *const BASH[] = {"bash", "--norc", "--noprofile", NULL};

static int start(const char *name, char *const argv[]) {
    int id = 0;
    weft_session_opts o = {.dir = sdir, .name = name};
    CHECK_OK(weft_session_start(&id, argv[0], argv, &o));
    CHECK_GT(id, 0);
    return id;
}

static weft_session *open_io(int id) {
    weft_session *s = NULL;
    CHECK_OK(weft_session_open(&s, sdir, id, WEFT_SESSION_OUTPUT | WEFT_SESSION_INPUT,
                               weft_after(10 * SEC)));
    return s;
}

/* Sends a command line and waits for `want` in the output. */
static void run_expect(weft_session *s, const char *line, const char *want) {
    CHECK_OK(weft_session_sendline(s, line, weft_after(10 * SEC)));
    char buf[4096];
    ssize_t n = weft_session_expect(s, want, buf, sizeof buf, weft_after(20 * SEC));
    if (n < 0)
        fprintf(stderr, "expecting '%s' after '%s': %zd\n", want, line, n);
    CHECK_GT(n, 0);
    CHECK(strstr(buf, want) != NULL);
}

static weft_session_info info_of(int id) {
    weft_session *s = NULL;
    weft_session_info in;
    CHECK_OK(weft_session_open(&s, sdir, id, 0, weft_after(10 * SEC)));
    CHECK_OK(weft_session_info_get(s, &in, weft_after(10 * SEC)));
    weft_session_close(s);
    return in;
}

/* ---- a terminal the test drives: the command under forkpty ----------------------------- */

typedef struct term {
    pid_t pid;
    int master;
    char buf[1 << 18];
    size_t len;
} term;

static term *term_run(int rows, int cols, const char *const args[]) {
    term *t = calloc(1, sizeof *t);
    CHECK(t != NULL);
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    t->pid = forkpty(&t->master, NULL, NULL, &ws);
    CHECK_GE(t->pid, 0);
    if (t->pid == 0) {
        execv(WEFT_SESSION_BIN, (char *const *)args);
        _exit(127);
    }
    return t;
}

/* Reads the terminal until `want` appears after position *from (then *from moves past it). */
static int term_expect(term *t, size_t *from, const char *want, int64_t deadline) {
    for (;;) {
        t->buf[t->len] = '\0';
        char *hit = strstr(t->buf + *from, want);
        if (hit) {
            *from = (size_t)(hit - t->buf) + strlen(want);
            return 0;
        }
        int64_t left = deadline - weft_now();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = t->master, .events = POLLIN};
        int r = poll(&p, 1, (int)(left / 1000000) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        if (t->len + 1 >= sizeof t->buf)
            return -ENOSPC;
        ssize_t n = read(t->master, t->buf + t->len, sizeof t->buf - 1 - t->len);
        if (n <= 0)
            return -EPIPE;
        t->len += (size_t)n;
    }
}

static void term_type(term *t, const char *s) {
    size_t n = strlen(s);
    CHECK_EQ(write(t->master, s, n), (ssize_t)n);
}

/* Waits for the command to exit (bounded), returns its exit status. */
static int term_wait(term *t) {
    int st = 0;
    int64_t deadline = weft_after(20 * SEC);
    for (;;) {
        pid_t r = waitpid(t->pid, &st, WNOHANG);
        CHECK_GE(r, 0);
        if (r == t->pid)
            break;
        /* Drain the terminal so the command never blocks writing to it. */
        struct pollfd p = {.fd = t->master, .events = POLLIN};
        if (poll(&p, 1, 20) > 0 && t->len + 1 < sizeof t->buf) {
            ssize_t n = read(t->master, t->buf + t->len, sizeof t->buf - 1 - t->len);
            if (n > 0)
                t->len += (size_t)n;
        }
        CHECK_LT(weft_now(), deadline);
    }
    close(t->master);
    free(t);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static char *run_capture(const char *const args[]) {
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        execv(WEFT_SESSION_BIN, (char *const *)args);
        _exit(127);
    }
    close(p[1]);
    static char out[65536];
    size_t len = 0;
    ssize_t n;
    while ((n = read(p[0], out + len, sizeof out - 1 - len)) > 0)
        len += (size_t)n;
    out[len] = '\0';
    close(p[0]);
    CHECK_EQ(test_reap(pid), 0);
    return out;
}

/* ---- the pseudo-terminal stdio mode of weft_proc_exec ----------------------------------- */

WEFT_TEST(exec_pty) {
    weft_proc *p;
    char *const argv[] = {"sh", "-c", "stty size; tty; echo x >&2", NULL};
    weft_exec_opts o = {{WEFT_STDIO_PTY, WEFT_STDIO_PTY, WEFT_STDIO_PTY}, NULL};
    CHECK_OK(weft_proc_exec(&p, "sh", argv, &o));
    int m = weft_proc_stdio(p, 1);
    CHECK_GE(m, 0);
    CHECK_NE(m, weft_proc_stdio(p, 0)); /* each stream its own duplicate of the master */
    char buf[512];
    size_t len = 0;
    for (;;) {
        ssize_t n = weft_read(m, buf + len, sizeof buf - 1 - len, weft_after(10 * SEC));
        if (n == -EIO || n == 0)
            break; /* the terminal's last holder closed it */
        CHECK_GT(n, 0);
        len += (size_t)n;
    }
    buf[len] = '\0';
    CHECK(strstr(buf, "24 80\r\n") != NULL);
    CHECK(strstr(buf, "/dev/pts/") != NULL);
    CHECK(strstr(buf, "x\r\n") != NULL);
    CHECK_OK(weft_proc_join(p, weft_after(10 * SEC)));
    int code = -1;
    CHECK_OK(weft_proc_exitcode(p, &code));
    CHECK_EQ(code, 0);
    weft_proc_release(p);
    CHECK_NO_ZOMBIES();
}

/* ---- the library ------------------------------------------------------------------------ */

typedef struct job {
    int id;
    int n;
    int ok;
} job;

static void *drive(void *arg) {
    job *j = arg;
    weft_session *s = open_io(j->id);
    char line[64], want[32];
    snprintf(line, sizeof line, "echo out-$((%d*1000+7))", j->n);
    snprintf(want, sizeof want, "out-%d", j->n * 1000 + 7);
    run_expect(s, line, want);
    weft_session_close(s);
    j->ok = 1;
    return NULL;
}

WEFT_TEST(two_detached) {
    setup();
    int a = start("alpha", BASH), b = start("beta", BASH);
    CHECK_EQ(a, 1);
    CHECK_EQ(b, 2);
    /* Both driven at once, one coroutine each. */
    job ja = {a, 1, 0}, jb = {b, 2, 0};
    weft_coro ca, cb;
    CHECK_OK(weft_spawn(&ca, drive, &ja, NULL));
    CHECK_OK(weft_spawn(&cb, drive, &jb, NULL));
    CHECK_OK(weft_join(ca, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(cb, WEFT_FOREVER, NULL));
    CHECK(ja.ok && jb.ok);
    weft_session_info v[4];
    CHECK_EQ(weft_session_list(sdir, v, 4, 0), 2);
    CHECK_EQ(v[0].id, a);
    CHECK_STR_EQ(v[0].name, "alpha");
    CHECK_EQ(v[0].state, WEFT_SESSION_DETACHED);
    CHECK_STR_EQ(v[1].command, "bash --norc --noprofile");
    CHECK_GT(v[1].last_output, 0);
    CHECK_GE(v[1].last_output, v[1].created);
    CHECK_EQ(weft_session_find(sdir, "beta"), b);
    CHECK_EQ(weft_session_find(sdir, "1"), a);
    CHECK_ERR(weft_session_find(sdir, "gamma"), -ENOENT);
    /* log: the last lines of output without attaching */
    weft_session *s;
    CHECK_OK(weft_session_open(&s, sdir, b, 0, weft_after(10 * SEC)));
    char buf[4096];
    CHECK_GT(weft_session_log(s, 5, buf, sizeof buf, weft_after(10 * SEC)), 0);
    CHECK(strstr(buf, "out-2007") != NULL);
    CHECK_OK(weft_session_rename(s, "beta2", weft_after(10 * SEC)));
    CHECK_ERR(weft_session_send(s, "x", 1, WEFT_NOWAIT), -EPERM);
    CHECK_OK(weft_session_kill(s, weft_after(10 * SEC)));
    weft_session_close(s);
    CHECK_EQ(weft_session_list(sdir, v, 4, 0), 1);
    CHECK_EQ(weft_session_find(sdir, "beta2"), -ENOENT);
    CHECK_OK(weft_session_open(&s, sdir, a, 0, weft_after(10 * SEC)));
    CHECK_OK(weft_session_kill(s, weft_after(10 * SEC)));
    weft_session_close(s);
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), 0);
    CHECK_ERR(weft_session_open(&s, sdir, a, 0, WEFT_FOREVER), -ENOENT);
    CHECK_NO_ZOMBIES();
}

/* The seed's script: 50 sessions, one command on each, the outputs collected. */
WEFT_TEST(fifty) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    enum { N = 50 };
    static job jobs[N];
    weft_coro c[N];
    for (int i = 0; i < N; i++) {
        char *const sh[] = {"sh", NULL};
        jobs[i] = (job){start(NULL, sh), i + 1, 0};
    }
    for (int i = 0; i < N; i++)
        CHECK_OK(weft_spawn(&c[i], drive, &jobs[i], NULL));
    CHECK_OK(weft_joinall(c, N, WEFT_FOREVER, NULL));
    for (int i = 0; i < N; i++)
        CHECK(jobs[i].ok);
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), N);
    const char *const kill_all[] = {"weft-session", "kill", "all", NULL};
    run_capture(kill_all);
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), 0);
}

/* Sessions started from coroutines (both stack kinds), several at once: the fork into the
   server happens on a coroutine's stack. */
typedef struct starter {
    int id;
    int n;
} starter;

static void *start_in_coro(void *arg) {
    starter *st = arg;
    char *const sh[] = {"sh", NULL};
    weft_session_opts o = {.dir = sdir};
    CHECK_OK(weft_session_start(&st->id, "sh", sh, &o));
    job j = {st->id, st->n, 0};
    drive(&j);
    CHECK(j.ok);
    return NULL;
}

WEFT_TEST(start_from_coroutines) {
    setup();
    enum { N = 8 };
    static starter st[N];
    weft_coro c[N];
    for (int i = 0; i < N; i++) {
        st[i].n = 100 + i;
        weft_coro_opts o = {.stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_OK(weft_spawn(&c[i], start_in_coro, &st[i], &o));
    }
    CHECK_OK(weft_joinall(c, N, WEFT_FOREVER, NULL));
    weft_session_info v[N];
    CHECK_EQ(weft_session_list(sdir, v, N, 0), N);
    for (int i = 0; i < N; i++)
        CHECK_EQ(v[i].id, i + 1); /* distinct ids, 1 .. N */
    CHECK_NO_ZOMBIES();
}

/* A program that exits while nobody watches: its status and output stay until listed with
   WEFT_SESSION_REAP (what `weft-session ls` does). */
WEFT_TEST(exit_kept) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    char *const prog[] = {"sh", "-c", "echo bye-bye; exit 7", NULL};
    int id = start("short", prog);
    weft_session *s;
    CHECK_OK(weft_session_open(&s, sdir, id, 0, weft_after(10 * SEC)));
    int code = -1;
    CHECK_OK(weft_session_wait(s, weft_after(20 * SEC), &code));
    CHECK_EQ(code, 7);
    weft_session_close(s);
    weft_session_info in = info_of(id);
    CHECK_EQ(in.state, WEFT_SESSION_EXITED);
    CHECK_EQ(in.exit_code, 7);
    /* The ring is still there: replayed to a late reader, and the end reported. */
    CHECK_OK(weft_session_open(&s, sdir, id, WEFT_SESSION_OUTPUT | WEFT_SESSION_REPLAY,
                               weft_after(10 * SEC)));
    CHECK_GT(weft_session_expect(s, "bye-bye", NULL, 0, weft_after(10 * SEC)), 0);
    CHECK_ERR(weft_session_expect(s, "never", NULL, 0, weft_after(10 * SEC)), -EPIPE);
    weft_session_close(s);
    const char *const ls[] = {"weft-session", "ls", NULL};
    char *out = run_capture(ls);
    CHECK(strstr(out, "exited 7") != NULL);
    CHECK(strstr(out, "short") != NULL);
    out = run_capture(ls);
    CHECK(strstr(out, "short") == NULL); /* shown once, then gone */
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), 0);
    /* A program that cannot run: the exec error, and nothing left behind. */
    char *const bad[] = {"/nonexistent/prog", NULL};
    weft_session_opts o = {.dir = sdir};
    CHECK_ERR(weft_session_start(NULL, bad[0], bad, &o), -ENOENT);
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), 0);
}

/* ---- attaching through a real terminal ---------------------------------------------------- */

WEFT_TEST(attach_detach_reattach) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    int id = start("web", BASH);
    char ids[16];
    snprintf(ids, sizeof ids, "%d", id);
    weft_session *s = open_io(id);
    run_expect(s, "echo before-$((1+1))", "before-2");
    weft_session_close(s);

    const char *const att[] = {"weft-session", "attach", "web", NULL};
    term *t = term_run(24, 80, att);
    size_t at = 0;
    CHECK_OK(term_expect(t, &at, "before-2", weft_after(20 * SEC))); /* replayed */
    term_type(t, "echo typed-$((3*3))\r");
    CHECK_OK(term_expect(t, &at, "typed-9", weft_after(20 * SEC)));
    CHECK_EQ(info_of(id).state, WEFT_SESSION_ATTACHED);
    term_type(t, "\x1c"); /* Ctrl-\ */
    CHECK_EQ(term_wait(t), 0);

    /* Detached, and the shell is alive. */
    weft_session_info in = info_of(id);
    CHECK_EQ(in.state, WEFT_SESSION_DETACHED);
    CHECK_EQ(kill(in.pid, 0), 0);
    s = open_io(id);
    run_expect(s, "echo alive-$((2*2))", "alive-4");
    weft_session_close(s);

    /* Reattach (msf's spelling), see what happened meanwhile, exit. */
    const char *const att2[] = {"weft-session", "-i", ids, NULL};
    t = term_run(24, 80, att2);
    at = 0;
    CHECK_OK(term_expect(t, &at, "alive-4", weft_after(20 * SEC)));
    term_type(t, "exit 3\r");
    CHECK_EQ(term_wait(t), 3);
    const char *const ls[] = {"weft-session", "-l", NULL};
    char *out = run_capture(ls);
    CHECK(strstr(out, "exited 3") != NULL);
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), 0);
    CHECK_NO_ZOMBIES();
}

/* `new` without -d: prints the id, then attaches at once. */
WEFT_TEST(new_attaches) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    const char *const nw[] = {"weft-session", "new",    "-n",          "fresh", "--",
                              "bash",         "--norc", "--noprofile", NULL};
    term *t = term_run(24, 80, nw);
    size_t at = 0;
    CHECK_OK(term_expect(t, &at, "1\r\n", weft_after(20 * SEC))); /* the id */
    term_type(t, "echo fresh-$((9*9))\r");
    CHECK_OK(term_expect(t, &at, "fresh-81", weft_after(20 * SEC)));
    term_type(t, "\x1c");
    CHECK_EQ(term_wait(t), 0);
    weft_session_info in = info_of(1);
    CHECK_STR_EQ(in.name, "fresh");
    CHECK_EQ(in.state, WEFT_SESSION_DETACHED);
}

/* The command's other verbs, and msf's spellings. */
WEFT_TEST(command_line) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    const char *const n1[] = {"weft-session", "new", "-d", "-n", "a", "--", "sh", NULL};
    const char *const n2[] = {"weft-session", "new", "-d", "--", "sh", NULL};
    CHECK_STR_EQ(run_capture(n1), "1\n");
    CHECK_STR_EQ(run_capture(n2), "2\n");
    const char *const send_a[] = {"weft-session", "send", "a", "--", "echo", "A-$((2+3))", NULL};
    CHECK_STR_EQ(run_capture(send_a), "");
    const char *const send_all[] = {"weft-session", "-c", "echo", "B-$((3+4))", NULL};
    CHECK_STR_EQ(run_capture(send_all), "");
    /* Both answers land in session 1, the second in session 2 too. */
    weft_session *s;
    CHECK_OK(weft_session_open(&s, sdir, 2, WEFT_SESSION_OUTPUT | WEFT_SESSION_REPLAY,
                               weft_after(10 * SEC)));
    CHECK_GT(weft_session_expect(s, "B-7", NULL, 0, weft_after(20 * SEC)), 0);
    weft_session_close(s);
    CHECK_OK(weft_session_open(&s, sdir, 1, WEFT_SESSION_OUTPUT | WEFT_SESSION_REPLAY,
                               weft_after(10 * SEC)));
    CHECK_GT(weft_session_expect(s, "B-7", NULL, 0, weft_after(20 * SEC)), 0);
    weft_session_close(s);
    const char *const log1[] = {"weft-session", "log", "a", "-n", "50", NULL};
    char *out = run_capture(log1);
    CHECK(strstr(out, "A-5") != NULL);
    CHECK(strstr(out, "B-7") != NULL);
    const char *const ren[] = {"weft-session", "rename", "2", "bee", NULL};
    CHECK_STR_EQ(run_capture(ren), "");
    CHECK_EQ(weft_session_find(sdir, "bee"), 2);
    const char *const k[] = {"weft-session", "-k", "bee", NULL};
    CHECK_STR_EQ(run_capture(k), "");
    const char *const ls[] = {"weft-session", "ls", NULL};
    out = run_capture(ls);
    CHECK(strstr(out, "bee") == NULL);
    CHECK(strstr(out, "\n1    a ") != NULL);
    const char *const k1[] = {"weft-session", "kill", "1", NULL};
    CHECK_STR_EQ(run_capture(k1), "");
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), 0);
}

WEFT_TEST(resize) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    int id = start("sz", BASH);
    char ids[16];
    snprintf(ids, sizeof ids, "%d", id);
    const char *const att[] = {"weft-session", "attach", ids, NULL};
    term *t = term_run(30, 100, att);
    size_t at = 0;
    term_type(t, "stty size\r");
    CHECK_OK(term_expect(t, &at, "30 100", weft_after(20 * SEC)));
    struct winsize ws = {.ws_row = 40, .ws_col = 120};
    CHECK_OK(ioctl(t->master, TIOCSWINSZ, &ws)); /* the client gets SIGWINCH */
    /* The resize travels to the server on its own; ask until the shell sees it (bounded). */
    int64_t deadline = weft_after(20 * SEC);
    int seen = 0;
    while (!seen && weft_now() < deadline) {
        term_type(t, "stty size\r");
        seen = term_expect(t, &at, "40 120", weft_after(SEC / 2)) == 0;
    }
    CHECK(seen);
    term_type(t, "\x1c");
    CHECK_EQ(term_wait(t), 0);
}

/* A client killed with SIGKILL, or whose terminal hangs up, leaves the session running. */
WEFT_TEST(client_killed) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    int id = start(NULL, BASH);
    char ids[16];
    snprintf(ids, sizeof ids, "%d", id);
    const char *const att[] = {"weft-session", "attach", ids, NULL};
    term *t = term_run(24, 80, att);
    size_t at = 0;
    term_type(t, "echo one-$((10+1))\r");
    CHECK_OK(term_expect(t, &at, "one-11", weft_after(20 * SEC)));
    CHECK_OK(kill(t->pid, SIGKILL));
    CHECK_EQ(term_wait(t), 128 + SIGKILL);
    weft_session *s = open_io(id);
    run_expect(s, "echo two-$((20+2))", "two-22");
    weft_session_close(s);
    /* Hang-up: the client's terminal goes away under it. */
    t = term_run(24, 80, att);
    at = 0;
    CHECK_OK(term_expect(t, &at, "two-22", weft_after(20 * SEC)));
    pid_t pid = t->pid;
    close(t->master);
    free(t);
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    s = open_io(id);
    run_expect(s, "echo three-$((30+3))", "three-33");
    /* the session is detached again once the server saw the client go */
    int64_t deadline = weft_after(20 * SEC);
    while (info_of(id).state != WEFT_SESSION_DETACHED && weft_now() < deadline)
        weft_sleep(SEC / 100);
    CHECK_EQ(info_of(id).state, WEFT_SESSION_DETACHED);
    weft_session_close(s);
    CHECK_NO_ZOMBIES();
}

/* ---- security ------------------------------------------------------------------------------ */

WEFT_TEST(dir_checks) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    char d[256], buf[256];
    char *const prog[] = {"true", NULL};
    weft_session_opts o = {.dir = d};
    /* group/other bits */
    snprintf(d, sizeof d, "%s/open", tmpdir);
    CHECK_OK(mkdir(d, 0755));
    CHECK_OK(chmod(d, 0755));
    CHECK_ERR(weft_session_start(NULL, "true", prog, &o), -EPERM);
    CHECK(strstr(weft_session_dir_error(), d) != NULL);
    CHECK(strstr(weft_session_dir_error(), "mode 755") != NULL);
    CHECK_ERR(weft_session_list(d, NULL, 0, 0), -EPERM);
    /* a symbolic link to a good directory */
    char good[256];
    snprintf(good, sizeof good, "%s/good", tmpdir);
    CHECK_OK(mkdir(good, 0700));
    snprintf(d, sizeof d, "%s/link", tmpdir);
    CHECK_OK(symlink(good, d));
    CHECK_ERR(weft_session_dir(d, buf, sizeof buf), -EPERM);
    CHECK(strstr(weft_session_dir_error(), "symbolic link") != NULL);
    /* not a directory */
    snprintf(d, sizeof d, "%s/file", tmpdir);
    int fd = open(d, O_CREAT | O_WRONLY, 0600);
    CHECK_GE(fd, 0);
    close(fd);
    CHECK_ERR(weft_session_dir(d, buf, sizeof buf), -ENOTDIR);
    /* created 0700 when missing */
    snprintf(d, sizeof d, "%s/new", tmpdir);
    CHECK_OK(weft_session_dir(d, buf, sizeof buf));
    CHECK_STR_EQ(buf, d);
    struct stat st;
    CHECK_OK(lstat(d, &st));
    CHECK_EQ(st.st_mode & 0777, 0700);
    CHECK_STR_EQ(weft_session_dir_error(), "");
    /* another owner (needs root to make one) */
    if (geteuid() == 0) {
        snprintf(d, sizeof d, "%s/other", tmpdir);
        CHECK_OK(mkdir(d, 0700));
        CHECK_OK(chown(d, 65534, 65534));
        CHECK_ERR(weft_session_dir(d, buf, sizeof buf), -EPERM);
        CHECK(strstr(weft_session_dir_error(), "owned by uid 65534") != NULL);
    }
    /* the command says what is wrong */
    snprintf(d, sizeof d, "%s/open", tmpdir);
    setenv("WEFT_SESSION_DIR", d, 1);
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = fork();
    if (pid == 0) {
        dup2(p[1], 2);
        execl(WEFT_SESSION_BIN, "weft-session", "ls", (char *)NULL);
        _exit(127);
    }
    close(p[1]);
    char err[512] = {0};
    ssize_t n = 0, k;
    while ((k = read(p[0], err + n, sizeof err - 1 - (size_t)n)) > 0)
        n += k;
    close(p[0]);
    CHECK_EQ(test_reap(pid), 1);
    CHECK(strstr(err, d) != NULL);
    CHECK(strstr(err, "mode 755") != NULL);
}

/* The server refuses a client of another uid, even one that could reach the socket. */
WEFT_TEST(other_uid_refused) {
    if (geteuid() != 0)
        SKIP("needs root to run a client as another uid");
    setup();
    int id = start(NULL, BASH);
    char path[108];
    CHECK_OK(weft__sess_sock_path(path, sizeof path, sdir, id));
    /* Open the way on purpose (a misconfigured directory), so only the server's check is
       left to refuse the other user. */
    CHECK_OK(chmod(tmpdir, 0711));
    CHECK_OK(chmod(sdir, 0711));
    CHECK_OK(chmod(path, 0777));
    int p[2];
    CHECK_OK(pipe(p));
    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        int32_t res = 1;
        if (setgid(65534) != 0 || setuid(65534) != 0)
            res = 2;
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
        if (res == 1 && connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
            res = -errno;
        if (res == 1) {
            uint32_t hdr[4] = {WSP_HELLO, sizeof(struct wsp_hello), WEFT_SESSION_INPUT, 0};
            /* The server may have refused and closed already: no SIGPIPE, and the refusal
               is still there to read. */
            ssize_t w = send(fd, hdr, 8 + sizeof(struct wsp_hello), MSG_NOSIGNAL);
            (void)w;
            uint32_t rep[3] = {0, 0, 0};
            ssize_t r = read(fd, rep, sizeof rep);
            res = r == 12 && rep[0] == WSP_ERR ? (int32_t)rep[2] : r == 0 ? 3 : 4;
        }
        ssize_t w = write(p[1], &res, sizeof res);
        (void)w;
        _exit(0);
    }
    close(p[1]);
    int32_t res = 0;
    CHECK_EQ(read(p[0], &res, sizeof res), (ssize_t)sizeof res);
    close(p[0]);
    CHECK_EQ(test_reap(pid), 0);
    CHECK_EQ(res, -EACCES);
    /* The session's owner still gets in. */
    CHECK_OK(chmod(sdir, 0700));
    weft_session *s = open_io(id);
    run_expect(s, "echo mine-$((4+4))", "mine-8");
    weft_session_close(s);
}

/* Read-only: the server drops input from a client that did not ask for INPUT, whatever the
   client sends. */
WEFT_TEST(read_only) {
    SKIP_UNLESS_EXEC_SELF();
    setup();
    int id = start(NULL, BASH);
    weft_session *ro;
    CHECK_OK(weft_session_open(&ro, sdir, id, WEFT_SESSION_OUTPUT, weft_after(10 * SEC)));
    CHECK_ERR(weft_session_send(ro, "x", 1, WEFT_NOWAIT), -EPERM);
    /* Past the library's check, straight on the socket. */
    const char *evil = "echo ro-$((5*5))\r";
    CHECK_OK(
        weft__wsp_send(weft_session_fd(ro), WSP_DATA, evil, strlen(evil), weft_after(10 * SEC)));
    weft_session *rw = open_io(id);
    run_expect(rw, "echo rw-$((6*6))", "rw-36");
    /* The read-only client saw the output, and none of its own input's. */
    char buf[8192];
    CHECK_GT(weft_session_expect(ro, "rw-36", buf, sizeof buf, weft_after(10 * SEC)), 0);
    CHECK(strstr(buf, "ro-25") == NULL);
    CHECK(strstr(buf, "ro-$((") == NULL);
    weft_session_close(ro);
    weft_session_close(rw);
    /* The command's -r: typed keys go nowhere. */
    char ids[16];
    snprintf(ids, sizeof ids, "%d", id);
    const char *const att[] = {"weft-session", "attach", ids, "-r", NULL};
    term *t = term_run(24, 80, att);
    size_t at = 0;
    CHECK_OK(term_expect(t, &at, "rw-36", weft_after(20 * SEC)));
    term_type(t, "echo typed-$((7*7))\r");
    rw = open_io(id);
    run_expect(rw, "echo after-$((8*8))", "after-64");
    CHECK_OK(term_expect(t, &at, "after-64", weft_after(20 * SEC)));
    t->buf[t->len] = '\0';
    CHECK(strstr(t->buf, "typed-49") == NULL);
    weft_session_close(rw);
    term_type(t, "\x1c");
    CHECK_EQ(term_wait(t), 0);
}

WEFT_TEST(bad_args) {
    setup();
    char *const prog[] = {"sh", NULL};
    weft_session_opts o = {.dir = sdir, .name = "a\nb"};
    CHECK_ERR(weft_session_start(NULL, NULL, prog, NULL), -EINVAL);
    CHECK_ERR(weft_session_start(NULL, "sh", NULL, NULL), -EINVAL);
    CHECK_ERR(weft_session_start(NULL, "sh", prog, &o), -EINVAL);
    o.name = NULL;
    o.rows = -1;
    CHECK_ERR(weft_session_start(NULL, "sh", prog, &o), -EINVAL);
    CHECK_ERR(weft_session_list(sdir, NULL, 1, 0), -EINVAL);
    CHECK_ERR(weft_session_list(sdir, NULL, 0, 8), -EINVAL);
    CHECK_ERR(weft_session_find(sdir, ""), -EINVAL);
    weft_session *s;
    CHECK_ERR(weft_session_open(&s, sdir, 0, 0, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_session_open(&s, sdir, 1, WEFT_SESSION_REPLAY, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_session_open(&s, sdir, 1, 64, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_session_open(&s, sdir, 9, 0, WEFT_NOWAIT), -ENOENT);
    int id = start("x", prog);
    CHECK_OK(weft_session_open(&s, sdir, id, 0, weft_after(10 * SEC)));
    char buf[16];
    CHECK_ERR(weft_session_read(s, buf, sizeof buf, WEFT_NOWAIT), -EPERM);
    CHECK_ERR(weft_session_expect(s, "x", NULL, 0, WEFT_NOWAIT), -EPERM);
    CHECK_ERR(weft_session_resize(s, 10, 10, WEFT_NOWAIT), -EPERM);
    CHECK_ERR(weft_session_resize(s, 0, 10, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_session_log(s, 0, buf, sizeof buf, WEFT_NOWAIT), -EINVAL);
    CHECK_ERR(weft_session_rename(
                  s, "0123456789012345678901234567890123456789012345678901234567890123456789",
                  WEFT_NOWAIT),
              -EINVAL);
    CHECK_ERR(weft_session_wait(s, weft_after(SEC / 20), NULL), -ETIMEDOUT);
    CHECK_OK(weft_session_kill(s, weft_after(10 * SEC)));
    weft_session_close(s);
    /* A stale socket (its server gone) is removed and not listed. */
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    CHECK_OK(weft__sess_sock_path(a.sun_path, sizeof a.sun_path, sdir, 5));
    CHECK_OK(bind(fd, (struct sockaddr *)&a, sizeof a));
    close(fd);
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), 0);
    CHECK_ERR(access(a.sun_path, F_OK), -1);
}

/* ---- ssh to a real sshd ------------------------------------------------------------------- */

static int free_port(void) {
    int fd = weft_tcp_listen("127.0.0.1", 0, 1, 0);
    CHECK_GE(fd, 0);
    weft_addr a;
    CHECK_OK(weft_sock_local_addr(fd, &a));
    int port = weft_addr_port(&a);
    close(fd);
    return port;
}

static int sh_run(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* WEFT_TEST_TIMEOUT(ssh, 120) */
WEFT_TEST(ssh) {
    SKIP_UNLESS_EXEC_SELF();
    if (access("/usr/sbin/sshd", X_OK) != 0)
        SKIP("no /usr/sbin/sshd (Debian: apt-get install openssh-server openssh-client)");
    if (sh_run("command -v ssh >/dev/null && command -v ssh-keygen >/dev/null") != 0)
        SKIP("no ssh or ssh-keygen (Debian: apt-get install openssh-client)");
    setup();
    struct passwd *pw = getpwuid(geteuid());
    CHECK(pw != NULL);
    int port = free_port();
    char cmd[2048], cfg[256], key[256], pidf[256], log[256];
    snprintf(key, sizeof key, "%s/id_ed25519", tmpdir);
    snprintf(cfg, sizeof cfg, "%s/sshd_config", tmpdir);
    snprintf(pidf, sizeof pidf, "%s/sshd.pid", tmpdir);
    snprintf(log, sizeof log, "%s/sshd.log", tmpdir);
    snprintf(cmd, sizeof cmd,
             "ssh-keygen -q -t ed25519 -N '' -f %s/host_key && ssh-keygen -q -t ed25519 -N '' "
             "-f %s && cp %s.pub %s/authorized_keys && chmod 600 %s/authorized_keys",
             tmpdir, key, key, tmpdir, tmpdir);
    CHECK_EQ(sh_run(cmd), 0);
    FILE *f = fopen(cfg, "w");
    CHECK(f != NULL);
    fprintf(f,
            "Port %d\nListenAddress 127.0.0.1\nHostKey %s/host_key\n"
            "AuthorizedKeysFile %s/authorized_keys\nPidFile %s\nUsePAM no\nStrictModes no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\n"
            "PubkeyAuthentication yes\nPermitRootLogin yes\nPrintMotd no\nPrintLastLog no\n"
            "Subsystem sftp internal-sftp\n",
            port, tmpdir, tmpdir, pidf);
    fclose(f);
    /* sshd wants its privilege-separation directory. */
    mkdir("/run/sshd", 0755);
    sshd_pid = fork();
    CHECK_GE(sshd_pid, 0);
    if (sshd_pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fd, 2);
        execl("/usr/sbin/sshd", "/usr/sbin/sshd", "-D", "-e", "-f", cfg, (char *)NULL);
        _exit(127);
    }
    /* Ready once it accepts a connection (bounded). */
    int64_t deadline = weft_after(20 * SEC);
    int up = 0;
    while (!up && weft_now() < deadline) {
        int fd = weft_tcp_connect("127.0.0.1", port, weft_after(SEC));
        if (fd >= 0) {
            up = 1;
            close(fd);
        } else if (waitpid(sshd_pid, NULL, WNOHANG) == sshd_pid) {
            sshd_pid = 0;
            snprintf(cmd, sizeof cmd, "cat %s >&2", log);
            sh_run(cmd);
            SKIP("sshd could not start (its log is above)");
        } else {
            weft_sleep(SEC / 20);
        }
    }
    if (!up)
        SKIP("sshd did not accept connections on 127.0.0.1:%d", port);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port);
    char *const ssh[] = {"ssh",       "-tt",
                         "-i",        key,
                         "-p",        ports,
                         "-o",        "StrictHostKeyChecking=no",
                         "-o",        "UserKnownHostsFile=/dev/null",
                         "-o",        "BatchMode=yes",
                         "-o",        "LogLevel=ERROR",
                         "127.0.0.1", NULL};
    int a = start("host-a", ssh), b = start("host-b", ssh);
    /* A command to both, each output read back. */
    weft_session *sa = open_io(a), *sb = open_io(b);
    run_expect(sa, "echo ssh-a-$((40+2))", "ssh-a-42");
    run_expect(sb, "echo ssh-b-$((50+5))", "ssh-b-55");
    weft_session_close(sb);
    /* The remote shell's pid, to check it survives a detach. */
    run_expect(sa, "echo \"p\"\"id=$$=\"", "pid=");
    char buf[256];
    CHECK_GT(weft_session_expect(sa, "=", buf, sizeof buf, weft_after(10 * SEC)), 0);
    int rpid = atoi(buf);
    CHECK_GT(rpid, 0);
    weft_session_close(sa);

    const char *const att[] = {"weft-session", "attach", "host-a", NULL};
    term *t = term_run(24, 80, att);
    size_t at = 0;
    CHECK_OK(term_expect(t, &at, "ssh-a-42", weft_after(20 * SEC))); /* replayed */
    term_type(t, "echo typed-$((6*6))\r");
    CHECK_OK(term_expect(t, &at, "typed-36", weft_after(20 * SEC)));
    term_type(t, "\x1c");
    CHECK_EQ(term_wait(t), 0);
    CHECK_EQ(kill(rpid, 0), 0); /* the remote shell (on this machine) lives on */
    sa = open_io(a);
    run_expect(sa, "echo still-$((7+7))", "still-14");
    weft_session_close(sa);
    t = term_run(24, 80, att);
    at = 0;
    CHECK_OK(term_expect(t, &at, "still-14", weft_after(20 * SEC)));
    term_type(t, "exit 5\r");
    CHECK_EQ(term_wait(t), 5);
    const char *const ls[] = {"weft-session", "ls", NULL};
    char *out = run_capture(ls);
    CHECK(strstr(out, "exited 5") != NULL);
    CHECK(strstr(out, "host-b") != NULL);
    const char *const k[] = {"weft-session", "kill", "all", NULL};
    run_capture(k);
    CHECK_EQ(weft_session_list(sdir, NULL, 0, 0), 0);
    kill(sshd_pid, SIGTERM);
    CHECK_EQ(waitpid(sshd_pid, NULL, 0), sshd_pid);
    sshd_pid = 0;
    CHECK_NO_ZOMBIES();
}

WEFT_MAIN()
