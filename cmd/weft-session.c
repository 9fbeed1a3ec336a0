/* weft-session: the session keeper's command (include/weft_session.h is its library).
 *
 *   weft-session new [-n NAME] [-d] -- CMD [ARGS...]   start (and attach unless -d); prints the id
 *   weft-session ls                                    list (an exited session is shown once)
 *   weft-session attach ID|NAME [-r] [-e KEY]          attach this terminal; Ctrl-\ detaches
 *   weft-session send ID|NAME|all -- TEXT...           type TEXT and Enter
 *   weft-session log ID|NAME [-n LINES]                recent output, without attaching
 *   weft-session kill ID|NAME|all                      end sessions
 *   weft-session rename ID|NAME NAME
 *   msf's spellings: -l (ls), -i ID (attach), -k ID (kill), -c CMD (send to all)
 *
 * The session directory is $WEFT_SESSION_DIR, else $XDG_RUNTIME_DIR/weft-sessions, else
 * /tmp/weft-sessions-<uid>. Exit status: 0, 1 on an error, 2 on a usage error; `attach`
 * and `new` without -d exit with the program's status when it exits while attached. */
#include <weft_session.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const int64_t REQ_NS = 10000000000; /* a server that does not answer in 10 s */

static int usage(void) {
    fprintf(stderr, "usage: weft-session new [-n NAME] [-d] -- CMD [ARGS...]\n"
                    "       weft-session ls | -l\n"
                    "       weft-session attach ID|NAME [-r] [-e KEY] | -i ID\n"
                    "       weft-session send ID|NAME|all -- TEXT... | -c TEXT\n"
                    "       weft-session log ID|NAME [-n LINES]\n"
                    "       weft-session kill ID|NAME|all | -k ID\n"
                    "       weft-session rename ID|NAME NAME\n");
    return 2;
}

static int fail(const char *what, int err) {
    const char *why = weft_session_dir_error();
    if ((err == -EPERM || err == -ENOTDIR) && *why)
        fprintf(stderr, "weft-session: %s: %s\n", what, why);
    else
        fprintf(stderr, "weft-session: %s: %s\n", what, weft_strerror(err));
    return 1;
}

static int find(const char *which) {
    int id = weft_session_find(NULL, which);
    if (id == -ENOENT)
        fprintf(stderr, "weft-session: no session %s\n", which);
    else if (id == -ENOTUNIQ)
        fprintf(stderr, "weft-session: several sessions are named %s: use an id\n", which);
    else if (id < 0)
        fail(which, id);
    return id;
}

/* A key: one character, ^X, or a number. */
static int parse_key(const char *s) {
    if (s[0] == '^' && s[1] && !s[2])
        return s[1] == '?' ? 0x7f : (s[1] & 0x1f);
    if (s[0] && !s[1])
        return (unsigned char)s[0];
    char *end;
    long v = strtol(s, &end, 0);
    return *end || v < 0 || v > 255 ? -2 : (int)v;
}

static int attach(int id, int read_only, int key) {
    weft_session_attach_opts o = {
        .in_fd = 0, .out_fd = 1, .detach_key = key, .read_only = read_only};
    int code = 0;
    int r = weft_session_attach(NULL, id, &o, &code);
    if (r < 0)
        return fail("attach", r);
    if (r == 1) {
        fprintf(stderr, "\r\n[weft-session: session %d exited with status %d]\r\n", id, code);
        return code < 0 ? 128 - code : code;
    }
    fprintf(stderr, "\r\n[weft-session: detached from session %d]\r\n", id);
    return 0;
}

static int cmd_new(int argc, char **argv) {
    const char *name = NULL;
    int detached = 0, i = 0;
    for (; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            name = argv[++i];
        else if (!strcmp(argv[i], "-d"))
            detached = 1;
        else if (!strcmp(argv[i], "--")) {
            i++;
            break;
        } else if (argv[i][0] == '-')
            return usage();
        else
            break;
    }
    if (i >= argc)
        return usage();
    weft_session_opts o = {.name = name};
    int id;
    int r = weft_session_start(&id, argv[i], argv + i, &o);
    if (r < 0)
        return fail(argv[i], r);
    printf("%d\n", id);
    fflush(stdout);
    return detached ? 0 : attach(id, 0, 0);
}

static void fmt_time(char *b, size_t cap, int64_t ns) {
    if (!ns) {
        snprintf(b, cap, "-");
        return;
    }
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(b, cap, "%Y-%m-%d %H:%M:%S", &tm);
}

static int cmd_ls(void) {
    weft_session_info v[1024];
    int n = weft_session_list(NULL, v, 1024, WEFT_SESSION_REAP);
    if (n < 0)
        return fail("ls", n);
    printf("%-4s %-12s %-8s %-10s %-19s  %-19s  %s\n", "ID", "NAME", "PID", "STATE", "CREATED",
           "LAST OUTPUT", "COMMAND");
    for (int i = 0; i < n && i < 1024; i++) {
        char st[32], c[32], l[32];
        if (v[i].state == WEFT_SESSION_EXITED)
            snprintf(st, sizeof st, "exited %d", v[i].exit_code);
        else
            snprintf(st, sizeof st, "%s",
                     v[i].state == WEFT_SESSION_ATTACHED ? "attached" : "detached");
        fmt_time(c, sizeof c, v[i].created);
        fmt_time(l, sizeof l, v[i].last_output);
        printf("%-4d %-12s %-8d %-10s %-19s  %-19s  %s\n", v[i].id, v[i].name[0] ? v[i].name : "-",
               (int)v[i].pid, st, c, l, v[i].command);
    }
    return 0;
}

/* The ids `which` names: every session for "all". Returns how many, or -1 after a message. */
static int targets(const char *which, int *ids, int max) {
    if (strcmp(which, "all") == 0) {
        weft_session_info v[1024];
        int n = weft_session_list(NULL, v, 1024, 0);
        if (n < 0)
            return fail("ls", n), -1;
        int k = 0;
        for (int i = 0; i < n && i < 1024 && k < max; i++)
            if (v[i].state != WEFT_SESSION_EXITED)
                ids[k++] = v[i].id;
        return k;
    }
    int id = find(which);
    if (id < 0)
        return -1;
    ids[0] = id;
    return 1;
}

static int cmd_send(const char *which, int argc, char **argv) {
    char text[65536];
    size_t n = 0;
    text[0] = '\0';
    for (int i = 0; i < argc; i++) {
        int w = snprintf(text + n, sizeof text - n, "%s%s", i ? " " : "", argv[i]);
        if (w < 0 || (size_t)w >= sizeof text - n)
            return fail("send", -E2BIG);
        n += (size_t)w;
    }
    static int ids[4096];
    int k = targets(which, ids, 4096), status = 0;
    if (k < 0)
        return 1;
    for (int i = 0; i < k; i++) {
        weft_session *s;
        int r = weft_session_open(&s, NULL, ids[i], WEFT_SESSION_INPUT, weft_after(REQ_NS));
        if (r == 0) {
            r = weft_session_sendline(s, text, weft_after(REQ_NS));
            weft_session_close(s);
        }
        if (r < 0) {
            char what[32];
            snprintf(what, sizeof what, "session %d", ids[i]);
            status = fail(what, r);
        }
    }
    return status;
}

static int cmd_kill(const char *which) {
    static int ids[4096];
    int k = targets(which, ids, 4096), status = 0;
    if (k < 0)
        return 1;
    if (strcmp(which, "all") == 0) { /* exited ones too */
        weft_session_info v[1024];
        int n = weft_session_list(NULL, v, 1024, 0);
        k = 0;
        for (int i = 0; i < n && i < 1024; i++)
            ids[k++] = v[i].id;
    }
    for (int i = 0; i < k; i++) {
        weft_session *s;
        int r = weft_session_open(&s, NULL, ids[i], 0, weft_after(REQ_NS));
        if (r == 0) {
            r = weft_session_kill(s, weft_after(REQ_NS));
            weft_session_close(s);
        }
        if (r < 0) {
            char what[32];
            snprintf(what, sizeof what, "session %d", ids[i]);
            status = fail(what, r);
        }
    }
    return status;
}

static int cmd_log(const char *which, int lines) {
    int id = find(which);
    if (id < 0)
        return 1;
    weft_session *s;
    int r = weft_session_open(&s, NULL, id, 0, weft_after(REQ_NS));
    if (r < 0)
        return fail("log", r);
    static char buf[(256 << 10) + 1];
    ssize_t n = weft_session_log(s, lines, buf, sizeof buf, weft_after(REQ_NS));
    weft_session_close(s);
    if (n < 0)
        return fail("log", (int)n);
    fwrite(buf, 1, strlen(buf), stdout);
    if (n && buf[strlen(buf) - 1] != '\n')
        putchar('\n');
    return 0;
}

static int cmd_rename(const char *which, const char *name) {
    int id = find(which);
    if (id < 0)
        return 1;
    weft_session *s;
    int r = weft_session_open(&s, NULL, id, 0, weft_after(REQ_NS));
    if (r == 0) {
        r = weft_session_rename(s, name, weft_after(REQ_NS));
        weft_session_close(s);
    }
    return r < 0 ? fail("rename", r) : 0;
}

int main(int argc, char **argv) {
    if (argc < 2)
        return usage();
    const char *c = argv[1];
    if (!strcmp(c, "new"))
        return cmd_new(argc - 2, argv + 2);
    if (!strcmp(c, "ls") || !strcmp(c, "-l"))
        return argc == 2 ? cmd_ls() : usage();
    if (!strcmp(c, "attach") || !strcmp(c, "-i")) {
        if (argc < 3)
            return usage();
        int ro = 0, key = 0;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "-r"))
                ro = 1;
            else if (!strcmp(argv[i], "-e") && i + 1 < argc) {
                key = parse_key(argv[++i]);
                if (key < 0)
                    return usage();
                if (key == 0)
                    key = -1; /* ^@: no detach key */
            } else
                return usage();
        }
        int id = find(argv[2]);
        return id < 0 ? 1 : attach(id, ro, key);
    }
    if (!strcmp(c, "send")) {
        if (argc < 4)
            return usage();
        int i = 3;
        if (!strcmp(argv[i], "--"))
            i++;
        return cmd_send(argv[2], argc - i, argv + i);
    }
    if (!strcmp(c, "-c"))
        return argc < 3 ? usage() : cmd_send("all", argc - 2, argv + 2);
    if (!strcmp(c, "log")) {
        int lines = 50;
        if (argc == 5 && !strcmp(argv[3], "-n"))
            lines = atoi(argv[4]);
        else if (argc != 3)
            return usage();
        if (lines < 1 || lines > 100000)
            return usage();
        return cmd_log(argv[2], lines);
    }
    if (!strcmp(c, "kill") || !strcmp(c, "-k"))
        return argc == 3 ? cmd_kill(argv[2]) : usage();
    if (!strcmp(c, "rename"))
        return argc == 4 ? cmd_rename(argv[2], argv[3]) : usage();
    return usage();
}
