/* Processes: weft_proc_start/exec, join, exit codes, signals, daemons,
 * fork from coroutines, pipes, reaping. */
#include "harness.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

/* WEFT_TEST_TIMEOUT(daemon_dies_with_parent, 20) */

#if defined(__SANITIZE_THREAD__)
/* ThreadSanitizer counts every coroutine (a fiber to it) as a thread, so a
 * fork from a process with coroutines looks multi-threaded to it, and it
 * then refuses to let the child start threads unless told otherwise. */
const char *__tsan_default_options(void);
const char *__tsan_default_options(void) { return "die_after_fork=0"; }
#endif

static int ret_arg(void *arg) { return (int)(intptr_t)arg; }

/* Blocks until a byte arrives on fd (or EOF), then returns `code`. */
typedef struct {
    int fd;
    int code;
} waitbyte_arg;

static int wait_byte(void *arg) {
    waitbyte_arg *a = arg;
    char c;
    while (read(a->fd, &c, 1) < 0 && errno == EINTR)
        ;
    return a->code;
}

static void mkpipe(int p[2]) { CHECK_EQ(pipe2(p, O_CLOEXEC), 0); }

static void wr1(int fd) {
    char c = 'x';
    CHECK_EQ(write(fd, &c, 1), 1);
}

WEFT_TEST(bad_input) {
    weft_proc *p = NULL;
    int code;
    char *argv[] = {"true", NULL};
    CHECK_ERR(weft_proc_start(NULL, ret_arg, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_proc_start(&p, NULL, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_proc_join(NULL, WEFT_FOREVER), -EINVAL);
    CHECK_ERR(weft_proc_exitcode(NULL, &code), -EINVAL);
    CHECK_ERR(weft_proc_is_alive(NULL), -EINVAL);
    CHECK_ERR(weft_proc_pid(NULL), -EINVAL);
    CHECK(weft_proc_name(NULL) == NULL);
    CHECK_ERR(weft_proc_daemon(NULL), -EINVAL);
    CHECK_ERR(weft_proc_fd(NULL), -EINVAL);
    CHECK_ERR(weft_proc_terminate(NULL), -EINVAL);
    CHECK_ERR(weft_proc_kill(NULL), -EINVAL);
    CHECK_ERR(weft_proc_signal(NULL, SIGTERM), -EINVAL);
    weft_proc_release(NULL);
    CHECK_ERR(weft_proc_obj_start(NULL, NULL), -EINVAL);
    weft_proc_obj o = {NULL, NULL};
    CHECK_ERR(weft_proc_obj_start(&o, NULL), -EINVAL);
    CHECK_ERR(weft_proc_obj_join(&o, WEFT_FOREVER), -EINVAL);
    CHECK_ERR(weft_proc_obj_join(NULL, WEFT_FOREVER), -EINVAL);
    weft_proc_obj_release(NULL);
    CHECK_ERR(weft_proc_exec(NULL, "/bin/true", argv, NULL), -EINVAL);
    CHECK_ERR(weft_proc_exec(&p, NULL, argv, NULL), -EINVAL);
    CHECK_ERR(weft_proc_exec(&p, "/bin/true", NULL, NULL), -EINVAL);
    weft_exec_opts eo = {{0, 4, 0}, NULL};
    CHECK_ERR(weft_proc_exec(&p, "/bin/true", argv, &eo), -EINVAL);
    eo.stdio[1] = -1;
    CHECK_ERR(weft_proc_exec(&p, "/bin/true", argv, &eo), -EINVAL);
    CHECK_ERR(weft_proc_stdio(NULL, 0), -EINVAL);
    CHECK_ERR(weft_proc_close_stdio(NULL, 0), -EINVAL);
    /* A live handle: bad signal, bad stream, streams that are not pipes. */
    CHECK_OK(weft_proc_start(&p, ret_arg, (void *)0, NULL));
    CHECK_ERR(weft_proc_signal(p, 0), -EINVAL);
    CHECK_ERR(weft_proc_signal(p, 65), -EINVAL);
    CHECK_ERR(weft_proc_exitcode(p, NULL), -EINVAL);
    CHECK_ERR(weft_proc_stdio(p, 3), -EINVAL);
    CHECK_ERR(weft_proc_stdio(p, -1), -EINVAL);
    CHECK_ERR(weft_proc_stdio(p, 1), -EBADF);
    CHECK_ERR(weft_proc_close_stdio(p, 0), -EBADF);
    CHECK_OK(weft_proc_join(p, WEFT_FOREVER));
    weft_proc_release(p);
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(exit_codes) {
    static const int want[] = {0, 7, 255, 44}; /* 300 exits as 300 & 255 = 44 */
    static const int ret[] = {0, 7, -1, 300};
    for (int i = 0; i < 4; i++) {
        weft_proc *p;
        int code = 12345;
        CHECK_OK(weft_proc_start(&p, ret_arg, (void *)(intptr_t)ret[i], NULL));
        CHECK_GT(weft_proc_pid(p), 0);
        CHECK_OK(weft_proc_join(p, WEFT_FOREVER));
        CHECK_OK(weft_proc_exitcode(p, &code));
        CHECK_EQ(code, want[i]);
        CHECK_EQ(weft_proc_is_alive(p), 0);
        CHECK_OK(weft_proc_join(p, WEFT_NOWAIT)); /* joined again: at once */
        CHECK_OK(weft_proc_terminate(p));          /* exited: nothing sent */
        CHECK_OK(weft_proc_kill(p));
        weft_proc_release(p);
    }
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(killed_by_signal) {
    int pp[2];
    mkpipe(pp);
    waitbyte_arg a = {pp[0], 0};
    weft_proc *p9, *p15;
    CHECK_OK(weft_proc_start(&p9, wait_byte, &a, NULL));
    CHECK_OK(weft_proc_start(&p15, wait_byte, &a, NULL));
    int code;
    CHECK_ERR(weft_proc_exitcode(p9, &code), -EAGAIN);
    CHECK_EQ(weft_proc_is_alive(p9), 1);
    CHECK_OK(weft_proc_kill(p9));
    CHECK_OK(weft_proc_terminate(p15));
    CHECK_OK(weft_proc_join(p9, WEFT_FOREVER));
    CHECK_OK(weft_proc_join(p15, WEFT_FOREVER));
    CHECK_OK(weft_proc_exitcode(p9, &code));
    CHECK_EQ(code, -9);
    CHECK_OK(weft_proc_exitcode(p15, &code));
    CHECK_EQ(code, -15);
    weft_proc_release(p9);
    weft_proc_release(p15);
    close(pp[0]);
    close(pp[1]);
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(join_deadline) {
    int pp[2];
    mkpipe(pp);
    waitbyte_arg a = {pp[0], 5};
    weft_proc *p;
    CHECK_OK(weft_proc_start(&p, wait_byte, &a, NULL));
    CHECK_ERR(weft_proc_join(p, WEFT_NOWAIT), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_proc_join(p, weft_after(20 * WEFT_MSEC)), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 20 * WEFT_MSEC);
    CHECK_EQ(weft_proc_is_alive(p), 1);
    wr1(pp[1]);
    CHECK_OK(weft_proc_join(p, WEFT_FOREVER));
    int code;
    CHECK_OK(weft_proc_exitcode(p, &code));
    CHECK_EQ(code, 5);
    weft_proc_release(p);
    close(pp[0]);
    close(pp[1]);
    CHECK_NO_ZOMBIES();
}

/* A coroutine joins a child that waits for a byte; a second coroutine on
 * the same thread runs meanwhile and writes that byte. */
static int jc_fd[2];
static weft_proc *jc_p;
static int jc_counter;

static void *jc_joiner(void *arg) {
    (void)arg;
    logf_("join-start");
    CHECK_OK(weft_proc_join(jc_p, weft_after(10 * WEFT_SEC)));
    logf_("join-done:%d", jc_counter);
    return NULL;
}

static void *jc_other(void *arg) {
    (void)arg;
    jc_counter++;
    logf_("other");
    wr1(jc_fd[1]);
    return NULL;
}

WEFT_TEST(join_parks_only_the_coroutine) {
    log_reset();
    mkpipe(jc_fd);
    waitbyte_arg a = {jc_fd[0], 3};
    CHECK_OK(weft_proc_start(&jc_p, wait_byte, &a, NULL));
    weft_coro c1, c2;
    CHECK_OK(weft_spawn(&c1, jc_joiner, NULL, NULL));
    CHECK_OK(weft_spawn(&c2, jc_other, NULL, NULL));
    CHECK_OK(weft_join(c1, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(c2, WEFT_FOREVER, NULL));
    CHECK_STR_EQ(logbuf, "join-start other join-done:1");
    int code;
    CHECK_OK(weft_proc_exitcode(jc_p, &code));
    CHECK_EQ(code, 3);
    weft_proc_release(jc_p);
    close(jc_fd[0]);
    close(jc_fd[1]);
    CHECK_NO_ZOMBIES();
}

/* Several joiners at once: two plain threads and two coroutines. */
static weft_proc *mj_p;
static void *mj_thread(void *arg) {
    (void)arg;
    CHECK_OK(weft_proc_join(mj_p, weft_after(10 * WEFT_SEC)));
    return NULL;
}
static void *mj_coro(void *arg) {
    (void)arg;
    CHECK_OK(weft_proc_join(mj_p, weft_after(10 * WEFT_SEC)));
    return NULL;
}

WEFT_TEST(many_joiners) {
    int pp[2];
    mkpipe(pp);
    waitbyte_arg a = {pp[0], 9};
    CHECK_OK(weft_proc_start(&mj_p, wait_byte, &a, NULL));
    pthread_t t1, t2;
    CHECK_EQ(pthread_create(&t1, NULL, mj_thread, NULL), 0);
    CHECK_EQ(pthread_create(&t2, NULL, mj_thread, NULL), 0);
    weft_coro c1, c2;
    CHECK_OK(weft_spawn(&c1, mj_coro, NULL, NULL));
    CHECK_OK(weft_spawn(&c2, mj_coro, NULL, NULL));
    CHECK_OK(weft_yield());
    wr1(pp[1]);
    CHECK_OK(weft_join(c1, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(c2, WEFT_FOREVER, NULL));
    CHECK_EQ(pthread_join(t1, NULL), 0);
    CHECK_EQ(pthread_join(t2, NULL), 0);
    int code;
    CHECK_OK(weft_proc_exitcode(mj_p, &code));
    CHECK_EQ(code, 9);
    weft_proc_release(mj_p);
    close(pp[0]);
    close(pp[1]);
    CHECK_NO_ZOMBIES();
}

/* The child reports its parent pid, its own pid and its name. */
typedef struct {
    int fd;
} report_arg;

static int report_ids(void *arg) {
    report_arg *a = arg;
    char buf[256];
    int n = snprintf(buf, sizeof buf, "%d %d %s", (int)weft_getppid(), (int)weft_getpid(),
                     weft_proc_current_name());
    return write(a->fd, buf, (size_t)n) == n ? 0 : 1;
}

static void read_report(int fd, char *buf, size_t n) {
    ssize_t k = read(fd, buf, n - 1);
    CHECK_GT(k, 0);
    buf[k] = 0;
}

WEFT_TEST(ids_and_names) {
    int pp[2];
    mkpipe(pp);
    report_arg a = {pp[1]};
    CHECK_STR_EQ(weft_proc_current_name(), "MainProcess");
    CHECK_EQ(weft_getpid(), getpid());
    CHECK_EQ(weft_getppid(), getppid());
    weft_proc *p1, *p2;
    weft_proc_opts o = {"worker", 0};
    CHECK_OK(weft_proc_start(&p1, report_ids, &a, &o));
    CHECK_STR_EQ(weft_proc_name(p1), "worker");
    CHECK_EQ(weft_proc_daemon(p1), 0);
    CHECK_OK(weft_proc_join(p1, WEFT_FOREVER));
    char buf[300], want[300];
    read_report(pp[0], buf, sizeof buf);
    snprintf(want, sizeof want, "%d %d worker", (int)getpid(), (int)weft_proc_pid(p1));
    CHECK_STR_EQ(buf, want);
    CHECK_OK(weft_proc_start(&p2, report_ids, &a, NULL));
    CHECK(strncmp(weft_proc_name(p2), "Process-", 8) == 0);
    CHECK_OK(weft_proc_join(p2, WEFT_FOREVER));
    read_report(pp[0], buf, sizeof buf);
    snprintf(want, sizeof want, "%d %d %s", (int)getpid(), (int)weft_proc_pid(p2),
             weft_proc_name(p2));
    CHECK_STR_EQ(buf, want);
    int fd = weft_proc_fd(p2);
    CHECK_GE(fd, 0);
    CHECK_EQ(weft_fd_wait(fd, WEFT_READABLE, WEFT_NOWAIT) & WEFT_READABLE, WEFT_READABLE);
    weft_proc_release(p1);
    weft_proc_release(p2);
    close(pp[0]);
    close(pp[1]);
    CHECK_NO_ZOMBIES();
}

/* A handle used in another process (a forked child) answers -ECHILD. */
static weft_proc *fh_p;
static int foreign_handle(void *arg) {
    (void)arg;
    int code;
    if (weft_proc_join(fh_p, WEFT_NOWAIT) != -ECHILD)
        return 1;
    if (weft_proc_exitcode(fh_p, &code) != -ECHILD || weft_proc_is_alive(fh_p) != -ECHILD)
        return 2;
    if (weft_proc_kill(fh_p) != -ECHILD || weft_proc_fd(fh_p) != -ECHILD)
        return 3;
    if (weft_proc_stdio(fh_p, 0) != -ECHILD)
        return 4;
    weft_proc_release(fh_p); /* frees this process's copy only */
    return 0;
}

WEFT_TEST(foreign_handle) {
    int pp[2];
    mkpipe(pp);
    waitbyte_arg a = {pp[0], 0};
    CHECK_OK(weft_proc_start(&fh_p, wait_byte, &a, NULL));
    weft_proc *q;
    CHECK_OK(weft_proc_start(&q, foreign_handle, NULL, NULL));
    CHECK_OK(weft_proc_join(q, WEFT_FOREVER));
    int code;
    CHECK_OK(weft_proc_exitcode(q, &code));
    CHECK_EQ(code, 0);
    CHECK_EQ(weft_proc_is_alive(fh_p), 1); /* the child's release did nothing here */
    wr1(pp[1]);
    CHECK_OK(weft_proc_join(fh_p, WEFT_FOREVER));
    weft_proc_release(fh_p);
    weft_proc_release(q);
    close(pp[0]);
    close(pp[1]);
    CHECK_NO_ZOMBIES();
}

/* Daemon children: terminated when their parent exits normally, killed
 * (PR_SET_PDEATHSIG) when it dies. The test is a subreaper, so the
 * orphaned grandchild becomes its child and its end can be observed. */
typedef struct {
    int fd;      /* write the grandchild's pid here */
    int hold;    /* the middle process waits for a byte here, then returns */
} middle_arg;

/* The grandchild: reports its pid (from fn, so after weft has armed its
 * death signal), then sleeps until killed. */
static int sleep_forever(void *arg) {
    middle_arg *a = arg;
    pid_t gp = getpid();
    if (write(a->fd, &gp, sizeof gp) != sizeof gp)
        return 2;
    while (pause() < 0)
        ;
    return 0;
}

static int middle(void *arg) {
    middle_arg *a = arg;
    weft_proc *g;
    weft_proc_opts o = {"grandchild", 1};
    if (weft_proc_start(&g, sleep_forever, a, &o) < 0)
        return 1;
    char c;
    while (read(a->hold, &c, 1) < 0 && errno == EINTR)
        ;
    return 0; /* normal exit: the daemon grandchild gets SIGTERM */
}

static void daemon_case(int parent_killed) {
    SKIP_UNLESS_SUBREAPER();
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int pp[2], hold[2];
    mkpipe(pp);
    mkpipe(hold);
    middle_arg a = {pp[1], hold[0]};
    weft_proc *m;
    CHECK_OK(weft_proc_start(&m, middle, &a, NULL));
    pid_t gp = 0;
    CHECK_EQ(read(pp[0], &gp, sizeof gp), (ssize_t)sizeof gp);
    CHECK_GT(gp, 0);
    if (parent_killed)
        CHECK_OK(weft_proc_kill(m));
    else
        wr1(hold[1]);
    CHECK_OK(weft_proc_join(m, WEFT_FOREVER));
    int code;
    CHECK_OK(weft_proc_exitcode(m, &code));
    CHECK_EQ(code, parent_killed ? -9 : 0);
    if (parent_killed) {
        /* The grandchild was re-parented to us and dies of SIGKILL. */
        int st = 0;
        CHECK_EQ(waitpid(gp, &st, 0), gp);
        CHECK(WIFSIGNALED(st));
        CHECK_EQ(WTERMSIG(st), SIGKILL);
    } else {
        /* The middle process reaped it at its exit. */
        CHECK_EQ(kill(gp, 0), -1);
        CHECK_EQ(errno, ESRCH);
    }
    weft_proc_release(m);
    close(pp[0]);
    close(pp[1]);
    close(hold[0]);
    close(hold[1]);
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(daemon_dies_with_parent) { daemon_case(1); }
WEFT_TEST(daemon_terminated_at_parent_exit) { daemon_case(0); }

/* A non-daemon child is waited for when its parent returns. */
static int nd_middle(void *arg) {
    middle_arg *a = arg;
    weft_proc *g;
    waitbyte_arg wa = {a->hold, 0};
    if (weft_proc_start(&g, wait_byte, &wa, NULL) < 0)
        return 1;
    weft_proc_release(g); /* released, still waited for at exit */
    return 0;
}

WEFT_TEST(nondaemon_waited_at_exit) {
    int hold[2];
    mkpipe(hold);
    middle_arg a = {-1, hold[0]};
    weft_proc *m;
    CHECK_OK(weft_proc_start(&m, nd_middle, &a, NULL));
    CHECK_ERR(weft_proc_join(m, weft_after(50 * WEFT_MSEC)), -ETIMEDOUT);
    wr1(hold[1]);
    CHECK_OK(weft_proc_join(m, WEFT_FOREVER));
    int code;
    CHECK_OK(weft_proc_exitcode(m, &code));
    CHECK_EQ(code, 0);
    weft_proc_release(m);
    close(hold[0]);
    close(hold[1]);
    CHECK_NO_ZOMBIES();
}

/* Fork from inside a coroutine; the child uses coroutines, a channel, a
 * lock contended by two threads, and exits with what they computed. */
static weft_lock fc_lock;
static long fc_sum;

static void *fc_sender(void *arg) {
    weft_chan *ch = arg;
    for (int i = 1; i <= 10; i++)
        if (weft_chan_send(ch, &i, WEFT_FOREVER) < 0)
            return (void *)1;
    return NULL;
}

static void *fc_adder(void *arg) {
    (void)arg;
    for (int i = 0; i < 10000; i++) {
        weft_lock_acquire(&fc_lock, WEFT_FOREVER);
        fc_sum++;
        weft_lock_release(&fc_lock);
    }
    return NULL;
}

static int fc_child(void *arg) {
    (void)arg;
    weft_chan *ch;
    if (weft_chan_create(&ch, sizeof(int), 0) < 0)
        return 101;
    weft_coro c;
    if (weft_spawn(&c, fc_sender, ch, NULL) < 0)
        return 102;
    int sum = 0;
    for (int i = 0; i < 10; i++) {
        int v;
        if (weft_chan_recv(ch, &v, weft_after(5 * WEFT_SEC)) < 0)
            return 103;
        sum += v;
    }
    if (weft_join(c, WEFT_FOREVER, NULL) < 0 || weft_chan_destroy(ch) < 0)
        return 104;
    weft_thread *t;
    if (weft_thread_start(&t, fc_adder, NULL, NULL) < 0)
        return 105;
    fc_adder(NULL);
    if (weft_thread_join(t, WEFT_FOREVER, NULL) < 0)
        return 106;
    if (fc_sum != 20000)
        return 107;
    return sum; /* 55 */
}

static void *fc_forker(void *arg) {
    weft_proc **out = arg;
    CHECK_OK(weft_proc_start(out, fc_child, NULL, NULL));
    CHECK_OK(weft_proc_join(*out, weft_after(10 * WEFT_SEC)));
    return NULL;
}

static void *fc_ticker(void *arg) {
    int *n = arg;
    for (int i = 0; i < 3; i++) {
        (*n)++;
        weft_yield();
    }
    return NULL;
}

WEFT_TEST(fork_inside_coroutine) {
    weft_proc *p = NULL;
    int ticks = 0;
    weft_coro c, t;
    CHECK_OK(weft_lock_init(&fc_lock));
    CHECK_OK(weft_spawn(&t, fc_ticker, &ticks, NULL));
    CHECK_OK(weft_spawn(&c, fc_forker, &p, NULL));
    CHECK_OK(weft_join(c, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(t, WEFT_FOREVER, NULL));
    CHECK_EQ(ticks, 3);
    int code;
    CHECK_OK(weft_proc_exitcode(p, &code));
    CHECK_EQ(code, 55);
    CHECK_EQ(fc_sum, 0); /* the child's work happened in its own memory */
    weft_proc_release(p);
    CHECK_NO_ZOMBIES();
}

/* Subclass style. */
typedef struct {
    int base;
    weft_proc_obj obj;
    int extra;
} my_proc;

static int my_run(weft_proc_obj *self) {
    my_proc *m = WEFT_CONTAINER_OF(self, my_proc, obj);
    return m->base + m->extra;
}

WEFT_TEST(proc_obj) {
    my_proc m = {.base = 40, .obj = {my_run, NULL}, .extra = 2};
    weft_proc_opts o = {"sub", 0};
    CHECK_OK(weft_proc_obj_start(&m.obj, &o));
    CHECK(m.obj.handle != NULL);
    CHECK_STR_EQ(weft_proc_name(m.obj.handle), "sub");
    CHECK_OK(weft_proc_obj_join(&m.obj, WEFT_FOREVER));
    int code;
    CHECK_OK(weft_proc_exitcode(m.obj.handle, &code));
    CHECK_EQ(code, 42);
    weft_proc_obj_release(&m.obj);
    CHECK(m.obj.handle == NULL);
    CHECK_NO_ZOMBIES();
}

/* Released before the child exits: the reaper reaps it. */
WEFT_TEST(released_child_is_reaped) {
    int pp[2];
    mkpipe(pp);
    waitbyte_arg a = {pp[0], 0};
    weft_proc *p;
    CHECK_OK(weft_proc_start(&p, wait_byte, &a, NULL));
    pid_t pid = weft_proc_pid(p);
    weft_proc_release(p);
    wr1(pp[1]);
    /* Bounded wait until the reaper has reaped it (then its pid is gone). */
    int64_t end = weft_after(10 * WEFT_SEC);
    while (kill(pid, 0) == 0 && weft_now() < end)
        CHECK_OK(weft_sleep(WEFT_MSEC));
    CHECK_EQ(kill(pid, 0), -1);
    CHECK_EQ(errno, ESRCH);
    close(pp[0]);
    close(pp[1]);
    CHECK_NO_ZOMBIES();
}

/* ---- programs ---------------------------------------------------------- */

static const char cat_msg[] = "hello, weft\n";
static weft_proc *cat_p;
static char cat_out[64];
static size_t cat_len;

static void *cat_writer(void *arg) {
    (void)arg;
    int fd = weft_proc_stdio(cat_p, 0);
    CHECK_GE(fd, 0);
    CHECK_EQ(weft_write_all(fd, cat_msg, sizeof cat_msg - 1, weft_after(10 * WEFT_SEC), NULL),
             (ssize_t)(sizeof cat_msg - 1));
    CHECK_OK(weft_proc_close_stdio(cat_p, 0));
    CHECK_ERR(weft_proc_stdio(cat_p, 0), -EBADF);
    return NULL;
}

static void *cat_reader(void *arg) {
    (void)arg;
    int fd = weft_proc_stdio(cat_p, 1);
    CHECK_GE(fd, 0);
    for (;;) {
        ssize_t n = weft_read(fd, cat_out + cat_len, sizeof cat_out - 1 - cat_len,
                              weft_after(10 * WEFT_SEC));
        CHECK_GE(n, 0);
        if (n == 0)
            break;
        cat_len += (size_t)n;
    }
    return NULL;
}

WEFT_TEST(exec_cat_pipes) {
    char *argv[] = {"cat", NULL};
    weft_exec_opts o = {{WEFT_STDIO_PIPE, WEFT_STDIO_PIPE, WEFT_STDIO_NULL}, NULL};
    CHECK_OK(weft_proc_exec(&cat_p, "/bin/cat", argv, &o));
    CHECK_STR_EQ(weft_proc_name(cat_p), "/bin/cat");
    CHECK_ERR(weft_proc_stdio(cat_p, 2), -EBADF);
    int fl = fcntl(weft_proc_stdio(cat_p, 1), F_GETFL);
    CHECK(fl & O_NONBLOCK);
    CHECK(fcntl(weft_proc_stdio(cat_p, 1), F_GETFD) & FD_CLOEXEC);
    weft_coro r, w;
    CHECK_OK(weft_spawn(&r, cat_reader, NULL, NULL));
    CHECK_OK(weft_spawn(&w, cat_writer, NULL, NULL));
    CHECK_OK(weft_join(w, WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(r, WEFT_FOREVER, NULL));
    cat_out[cat_len] = 0;
    CHECK_STR_EQ(cat_out, cat_msg);
    CHECK_OK(weft_proc_join(cat_p, WEFT_FOREVER));
    int code;
    CHECK_OK(weft_proc_exitcode(cat_p, &code));
    CHECK_EQ(code, 0);
    weft_proc_release(cat_p);
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(exec_exit_status_and_env) {
    char *argv[] = {"sh", "-c", "exit 3", NULL};
    weft_proc *p;
    CHECK_OK(weft_proc_exec(&p, "/bin/sh", argv, NULL));
    CHECK_OK(weft_proc_join(p, WEFT_FOREVER));
    int code;
    CHECK_OK(weft_proc_exitcode(p, &code));
    CHECK_EQ(code, 3);
    CHECK_EQ(weft_proc_daemon(p), 0);
    weft_proc_release(p);
    /* PATH search, an environment of our own, stdout to a pipe. */
    char *argv2[] = {"sh", "-c", "printf %s \"$WEFT_X\"", NULL};
    char *envp[] = {"WEFT_X=forty-two", "PATH=/bin:/usr/bin", NULL};
    weft_exec_opts o = {{WEFT_STDIO_NULL, WEFT_STDIO_PIPE, WEFT_STDIO_INHERIT}, envp};
    CHECK_OK(weft_proc_exec(&p, "sh", argv2, &o));
    char buf[64];
    size_t len = 0;
    for (;;) {
        ssize_t n = weft_read(weft_proc_stdio(p, 1), buf + len, sizeof buf - 1 - len,
                              weft_after(10 * WEFT_SEC));
        CHECK_GE(n, 0);
        if (n == 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    CHECK_STR_EQ(buf, "forty-two");
    CHECK_OK(weft_proc_join(p, WEFT_FOREVER));
    weft_proc_release(p);
    /* Killed program. */
    char *argv3[] = {"sleep", "100", NULL};
    CHECK_OK(weft_proc_exec(&p, "sleep", argv3, NULL));
    CHECK_OK(weft_proc_terminate(p));
    CHECK_OK(weft_proc_join(p, WEFT_FOREVER));
    CHECK_OK(weft_proc_exitcode(p, &code));
    CHECK_EQ(code, -15);
    weft_proc_release(p);
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(exec_failures) {
    SKIP_UNLESS_SPAWN_REPORTS_EXEC_ERRORS();
    weft_proc *p = (weft_proc *)0x1;
    char *argv[] = {"x", NULL};
    CHECK_ERR(weft_proc_exec(&p, "/nonexistent/weft-no-such-program", argv, NULL), -ENOENT);
    CHECK_ERR(weft_proc_exec(&p, "weft-no-such-program-in-path", argv, NULL), -ENOENT);
    /* Not executable, and executable but not a program. */
    char path[64];
    snprintf(path, sizeof path, "/tmp/weft_test_proc_%d", (int)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    CHECK_GE(fd, 0);
    CHECK_EQ(write(fd, "\x01\x02garbage\n", 10), 10);
    CHECK_EQ(close(fd), 0);
    CHECK_ERR(weft_proc_exec(&p, path, argv, NULL), -EACCES);
    CHECK_EQ(chmod(path, 0755), 0);
    CHECK_ERR(weft_proc_exec(&p, path, argv, NULL), -ENOEXEC);
    CHECK_EQ(unlink(path), 0);
    CHECK(p == (weft_proc *)0x1);
    CHECK_NO_ZOMBIES();
}

/* A plain fork() (not weft's) also gets a clean runtime in the child:
 * coroutines and the poller work there, the parent's are untouched. */
static void *pf_coro(void *arg) {
    int *fds = arg;
    char c;
    ssize_t n = weft_read(fds[0], &c, 1, weft_after(5 * WEFT_SEC));
    return (void *)(intptr_t)(n == 1 ? c : -1);
}

WEFT_TEST(plain_fork_clean_runtime) {
    int pp[2];
    CHECK_EQ(pipe2(pp, O_CLOEXEC | O_NONBLOCK), 0);
    weft_coro c;
    CHECK_OK(weft_spawn(&c, pf_coro, pp, NULL)); /* parked in the parent's poller */
    CHECK_OK(weft_yield());
    fflush(NULL);
    pid_t pid = fork();
    CHECK_GE(pid, 0);
    if (pid == 0) {
        /* The parent's coroutine c never runs here; a new one does. */
        int q[2];
        if (pipe2(q, O_CLOEXEC | O_NONBLOCK) != 0)
            _exit(10);
        weft_coro d;
        if (weft_spawn(&d, pf_coro, q, NULL) < 0)
            _exit(11);
        if (weft_yield() < 0 || weft_coro_count() != 1)
            _exit(12);
        if (write(q[1], "k", 1) != 1)
            _exit(13);
        void *res;
        if (weft_join(d, weft_after(5 * WEFT_SEC), &res) < 0)
            _exit(14);
        _exit(res == (void *)(intptr_t)'k' ? 0 : 15);
    }
    int st;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    /* The parent's poller still works (the child closed only its copy). */
    CHECK_EQ(write(pp[1], "p", 1), 1);
    void *res;
    CHECK_OK(weft_join(c, weft_after(5 * WEFT_SEC), &res));
    CHECK_PTR_EQ(res, (void *)(intptr_t)'p');
    close(pp[0]);
    close(pp[1]);
    CHECK_NO_ZOMBIES();
}

/* A pipe end of a program must not leak into a later forked child (it
 * would keep the program from seeing end-of-file). */
static int cat_p2_check(void *arg) {
    (void)arg;
    return 0;
}

WEFT_TEST(exec_pipe_not_inherited_by_fork) {
    char *argv[] = {"cat", NULL};
    weft_exec_opts o = {{WEFT_STDIO_PIPE, WEFT_STDIO_NULL, WEFT_STDIO_NULL}, NULL};
    weft_proc *c, *f;
    CHECK_OK(weft_proc_exec(&c, "/bin/cat", argv, &o));
    int pp[2];
    mkpipe(pp);
    waitbyte_arg a = {pp[0], 0};
    CHECK_OK(weft_proc_start(&f, wait_byte, &a, NULL)); /* holds no copy of cat's stdin */
    CHECK_OK(weft_proc_close_stdio(c, 0));
    CHECK_OK(weft_proc_join(c, weft_after(10 * WEFT_SEC))); /* cat saw EOF */
    wr1(pp[1]);
    CHECK_OK(weft_proc_join(f, WEFT_FOREVER));
    (void)cat_p2_check;
    weft_proc_release(c);
    weft_proc_release(f);
    close(pp[0]);
    close(pp[1]);
    CHECK_NO_ZOMBIES();
}

WEFT_TEST(start_out_of_memory) {
    weft_proc *p = NULL;
    CHECK_OK(test_alloc_install());
    test_alloc_fail_after(0);
    CHECK_ERR(weft_proc_start(&p, ret_arg, NULL, NULL), -ENOMEM);
    char *argv[] = {"true", NULL};
    CHECK_ERR(weft_proc_exec(&p, "/bin/true", argv, NULL), -ENOMEM);
    test_alloc_fail_after(-1);
    CHECK(p == NULL);
    CHECK_NO_LEAKS();
    CHECK_OK(weft_proc_start(&p, ret_arg, NULL, NULL));
    CHECK_OK(weft_proc_join(p, WEFT_FOREVER));
    weft_proc_release(p);
    CHECK_NO_LEAKS();
    CHECK_OK(test_alloc_uninstall());
    CHECK_NO_ZOMBIES();
}

/* ---- active children, parent process ------------------------------------ */

/* Waits until p has exited (its pidfd is readable), without reaping it. */
static void wait_exited(weft_proc *p) {
    CHECK_EQ(weft_fd_wait(weft_proc_fd(p), WEFT_READABLE, weft_after(30 * WEFT_SEC)) &
                 WEFT_READABLE,
             WEFT_READABLE);
}

WEFT_TEST(active_children) {
    pid_t pids[8];
    CHECK_ERR(weft_active_children(pids, -1), -EINVAL);
    CHECK_ERR(weft_active_children(NULL, 1), -EINVAL);
    CHECK_EQ(weft_active_children(NULL, 0), 0);
    CHECK_EQ(weft_active_children(pids, 8), 0);
    int hold[3][2];
    waitbyte_arg a[3];
    weft_proc *p[3];
    for (int i = 0; i < 3; i++) {
        mkpipe(hold[i]);
        a[i] = (waitbyte_arg){hold[i][0], 10 + i};
        CHECK_OK(weft_proc_start(&p[i], wait_byte, &a[i], NULL));
    }
    char *argv[] = {"cat", NULL};
    weft_exec_opts o = {{WEFT_STDIO_PIPE, WEFT_STDIO_NULL, WEFT_STDIO_INHERIT}, NULL};
    weft_proc *e;
    CHECK_OK(weft_proc_exec(&e, "/bin/cat", argv, &o));
    /* All four, in start order; a short array gets the first ones and the
     * count of all. */
    CHECK_EQ(weft_active_children(pids, 8), 4);
    CHECK_EQ(pids[0], weft_proc_pid(p[0]));
    CHECK_EQ(pids[1], weft_proc_pid(p[1]));
    CHECK_EQ(pids[2], weft_proc_pid(p[2]));
    CHECK_EQ(pids[3], weft_proc_pid(e));
    pids[2] = -7;
    CHECK_EQ(weft_active_children(pids, 2), 4);
    CHECK_EQ(pids[1], weft_proc_pid(p[1]));
    CHECK_EQ(pids[2], -7);
    CHECK_EQ(weft_active_children(NULL, 0), 4);
    /* A released handle is no longer listed, though its child runs. */
    pid_t released = weft_proc_pid(p[1]);
    weft_proc_release(p[1]);
    CHECK_EQ(kill(released, 0), 0);
    CHECK_EQ(weft_active_children(pids, 8), 3);
    CHECK_EQ(pids[0], weft_proc_pid(p[0]));
    CHECK_EQ(pids[1], weft_proc_pid(p[2]));
    CHECK_EQ(pids[2], weft_proc_pid(e));
    /* A child that has exited is reaped by the call, not listed, and its
     * exit code stays readable. */
    wr1(hold[0][1]);
    wait_exited(p[0]);
    siginfo_t si;
    memset(&si, 0, sizeof si);
    CHECK_EQ(waitid(P_PID, (id_t)weft_proc_pid(p[0]), &si, WEXITED | WNOHANG | WNOWAIT), 0);
    CHECK_EQ(si.si_pid, weft_proc_pid(p[0])); /* a zombie until the call */
    CHECK_EQ(weft_active_children(pids, 8), 2);
    CHECK_EQ(pids[0], weft_proc_pid(p[2]));
    CHECK_EQ(pids[1], weft_proc_pid(e));
    CHECK_EQ(waitid(P_PID, (id_t)weft_proc_pid(p[0]), &si, WEXITED | WNOHANG | WNOWAIT), -1);
    CHECK_EQ(errno, ECHILD);
    int code;
    CHECK_OK(weft_proc_exitcode(p[0], &code));
    CHECK_EQ(code, 10);
    /* Joined children are gone: the forked one, then the program. */
    wr1(hold[2][1]);
    CHECK_OK(weft_proc_join(p[2], WEFT_FOREVER));
    CHECK_EQ(weft_active_children(pids, 8), 1);
    CHECK_EQ(pids[0], weft_proc_pid(e));
    CHECK_OK(weft_proc_close_stdio(e, 0));
    CHECK_OK(weft_proc_join(e, WEFT_FOREVER));
    CHECK_EQ(weft_active_children(pids, 8), 0);
    weft_proc_release(p[0]);
    weft_proc_release(p[2]);
    weft_proc_release(e);
    /* The released child: the reaper reaps it once it exits. */
    wr1(hold[1][1]);
    int64_t end = weft_after(10 * WEFT_SEC);
    while (kill(released, 0) == 0 && weft_now() < end)
        CHECK_OK(weft_sleep(WEFT_MSEC));
    CHECK_EQ(kill(released, 0), -1);
    for (int i = 0; i < 3; i++) {
        close(hold[i][0]);
        close(hold[i][1]);
    }
    CHECK_NO_ZOMBIES();
}

/* A child's own children are its own: it starts with none listed. */
static int ac_in_child(void *arg) {
    (void)arg;
    return weft_active_children(NULL, 0);
}

WEFT_TEST(active_children_not_inherited) {
    int hold[2];
    mkpipe(hold);
    waitbyte_arg a = {hold[0], 0};
    weft_proc *w, *c;
    CHECK_OK(weft_proc_start(&w, wait_byte, &a, NULL));
    CHECK_OK(weft_proc_start(&c, ac_in_child, NULL, NULL));
    CHECK_OK(weft_proc_join(c, WEFT_FOREVER));
    int code;
    CHECK_OK(weft_proc_exitcode(c, &code));
    CHECK_EQ(code, 0);
    CHECK_EQ(weft_active_children(NULL, 0), 1);
    wr1(hold[1]);
    CHECK_OK(weft_proc_join(w, WEFT_FOREVER));
    weft_proc_release(w);
    weft_proc_release(c);
    close(hold[0]);
    close(hold[1]);
    CHECK_NO_ZOMBIES();
}

/* parent_process: the grandchild reports its recorded parent and its
 * getppid() after its parent was killed (the test is a subreaper, so it
 * is re-parented to the test), and what a plain fork() of it sees. */
typedef struct {
    int fd;   /* reports go here */
    int hold; /* the grandchild waits for a byte here */
} pp_arg;

static int pp_grandchild(void *arg) {
    pp_arg *a = arg;
    char c;
    while (read(a->hold, &c, 1) < 0 && errno == EINTR)
        ;
    pid_t r[3] = {weft_parent_process(), getppid(), -1};
    pid_t f = fork();
    if (f == 0) {
        pid_t z = weft_parent_process();
        _exit(write(a->fd, &z, sizeof z) == sizeof z ? 0 : 1);
    }
    if (f < 0 || waitpid(f, NULL, 0) != f)
        return 1;
    return write(a->fd, r, 2 * sizeof r[0]) == 2 * sizeof r[0] ? 0 : 2;
}

static int pp_middle(void *arg) {
    pp_arg *a = arg;
    pid_t r[2] = {weft_parent_process(), 0};
    weft_proc *g;
    if (weft_proc_start(&g, pp_grandchild, a, NULL) < 0)
        return 1;
    r[1] = weft_proc_pid(g);
    if (write(a->fd, r, sizeof r) != sizeof r)
        return 2;
    while (pause() < 0)
        ;
    return 0;
}

WEFT_TEST(parent_process) {
    CHECK_EQ(weft_parent_process(), 0);
    SKIP_UNLESS_SUBREAPER();
    CHECK_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int rp[2], hold[2];
    mkpipe(rp);
    mkpipe(hold);
    pp_arg a = {rp[1], hold[0]};
    weft_proc *m;
    CHECK_OK(weft_proc_start(&m, pp_middle, &a, NULL));
    pid_t r[2];
    CHECK_EQ(read(rp[0], r, sizeof r), (ssize_t)sizeof r);
    CHECK_EQ(r[0], getpid()); /* the middle's parent: this process */
    pid_t gp = r[1];
    CHECK_GT(gp, 0);
    CHECK_OK(weft_proc_kill(m));
    CHECK_OK(weft_proc_join(m, WEFT_FOREVER));
    wr1(hold[1]);
    pid_t z;
    CHECK_EQ(read(rp[0], &z, sizeof z), (ssize_t)sizeof z);
    CHECK_EQ(z, 0); /* a plain fork() of a weft child */
    CHECK_EQ(read(rp[0], r, sizeof r), (ssize_t)sizeof r);
    CHECK_EQ(r[0], weft_proc_pid(m)); /* still the dead middle process */
    CHECK_EQ(r[1], getpid());         /* while getppid() moved on */
    CHECK_EQ(test_reap(gp), 0);
    CHECK_EQ(weft_parent_process(), 0);
    weft_proc_release(m);
    close(rp[0]);
    close(rp[1]);
    close(hold[0]);
    close(hold[1]);
    CHECK_NO_ZOMBIES();
}

/* Older kernels and seccomp policies: waitid(P_PIDFD) (Linux 5.4) and
 * pidfd_send_signal (5.1) refused with ENOSYS, then with EPERM. Processes
 * still start, are signalled, joined with a deadline and reaped with their
 * exit codes; the join sleeps (it spun forever before: waitid kept failing
 * while the pidfd stayed readable). */
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#define NR_PIDFD_OPEN 434
#define WAITID_P_PIDFD 3
/* In a forked child: waitid(P_PIDFD) and pidfd_send_signal fail with err. */
static int deny_pidfd_waits(int err) {
    int r = harness_seccomp_deny(SYS_pidfd_send_signal, -1, err);
    return r ? r : harness_seccomp_deny(SYS_waitid, WAITID_P_PIDFD, err);
}
static int exit_with(void *arg) { return (int)(intptr_t)arg; }
static int sleep_long(void *arg) {
    (void)arg;
    for (;;)
        pause();
    return 0;
}
static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
static int pidfd_refused_body(void) {
    if (waitid((idtype_t)WAITID_P_PIDFD, 0, NULL, WEXITED | WNOHANG) == 0 || (errno != ENOSYS && errno != EPERM))
        return 10;
    weft_proc *p;
    if (weft_proc_start(&p, exit_with, (void *)(intptr_t)7, NULL) != 0)
        return 11;
    if (weft_proc_join(p, weft_after(30 * WEFT_SEC)) != 0)
        return 12;
    int code = -1;
    if (weft_proc_exitcode(p, &code) != 0 || code != 7)
        return 13;
    weft_proc_release(p);
    /* A sleeper: a join with a deadline times out while sleeping, then a kill ends it. */
    if (weft_proc_start(&p, sleep_long, NULL, NULL) != 0)
        return 14;
    double c0 = cpu_seconds();
    if (weft_proc_join(p, weft_after(300 * WEFT_MSEC)) != -ETIMEDOUT)
        return 15;
    if (cpu_seconds() - c0 > 0.15) /* spinning for 300 ms would use about 0.3 s */
        return 16;
    if (weft_proc_kill(p) != 0)
        return 17;
    if (weft_proc_join(p, weft_after(30 * WEFT_SEC)) != 0)
        return 18;
    if (weft_proc_exitcode(p, &code) != 0 || code != -SIGKILL)
        return 19;
    weft_proc_release(p);
    return 0;
}
WEFT_TEST(pidfd_waits_refused_fall_back) {
    int errs[] = {ENOSYS, EPERM};
    for (int i = 0; i < 2; i++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
            if (deny_pidfd_waits(errs[i]) != 0)
                _exit(HARNESS_SECCOMP_REFUSED);
            _exit(pidfd_refused_body());
        }
        int rc = test_reap(pid);
        SKIP_IF_SECCOMP_REFUSED(rc);
        CHECK_EQ(rc, 0);
    }
    CHECK_NO_ZOMBIES();
}

/* pidfd_open itself refused (ENOSYS: Linux < 5.3; EPERM: seccomp), with the
 * pidfd waits and signals: process handles fall back to SIGCHLD-driven exit
 * descriptors. Everything works as with pidfds: join (sleeping, with a
 * deadline), exit codes, signals, weft_wait_any, the reaper of released handles,
 * and a process pool (results, a killed worker replaced); the program's own
 * SIGCHLD handler is still called (weft's chains to it). */
static atomic_int app_sigchld;
static void app_on_sigchld(int sig) {
    (void)sig;
    atomic_fetch_add(&app_sigchld, 1);
}
static int rte_wfd = -1; /* the write end, which the child closes */
static int read_then_exit(void *arg) {
    char c;
    close(rte_wfd);
    ssize_t n = read((int)(intptr_t)arg, &c, 1);
    return n == 0 ? 5 : 6;
}
static int square_task(const void *in, size_t len, weft_bytes *out) {
    int64_t x;
    if (len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    x *= x;
    return weft_bytes_set(out, &x, sizeof x);
}
static int pidfd_open_refused_body(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = app_on_sigchld;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGCHLD, &sa, NULL) != 0)
        return 9;
    if (syscall(NR_PIDFD_OPEN, getpid(), 0) >= 0 || (errno != ENOSYS && errno != EPERM))
        return 10;
    int r = pidfd_refused_body(); /* join, deadline, kill, exit codes */
    if (r != 0)
        return r;
    if (atomic_load(&app_sigchld) < 2)
        return 20;
    /* weft_wait_any on a process: ready once it exits, not before */
    weft_proc *p;
    int pfd[2];
    if (pipe(pfd) != 0 || (rte_wfd = pfd[1],
                           weft_proc_start(&p, read_then_exit, (void *)(intptr_t)pfd[0], NULL)) != 0)
        return 21;
    close(pfd[0]);
    weft_waitable w = WEFT_WAIT_PROC(p);
    if (weft_wait_any(&w, 1, weft_after(100 * WEFT_MSEC)) != -ETIMEDOUT)
        return 22;
    close(pfd[1]);
    if ((r = weft_wait_any(&w, 1, weft_after(30 * WEFT_SEC))) != 0) {
        fprintf(stderr, "weft_wait_any: %d\n", r);
        return 23;
    }
    int code = -1;
    if (weft_proc_join(p, weft_after(30 * WEFT_SEC)) != 0 || weft_proc_exitcode(p, &code) != 0 ||
        code != 5)
        return 24;
    weft_proc_release(p);
    /* a handle released while its child runs: the reaper reaps it when it exits */
    if (pipe(pfd) != 0 || (rte_wfd = pfd[1],
                           weft_proc_start(&p, read_then_exit, (void *)(intptr_t)pfd[0], NULL)) != 0)
        return 25;
    close(pfd[0]);
    weft_proc_release(p);
    close(pfd[1]);
    int64_t until = weft_after(30 * WEFT_SEC);
    while (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD) {
        if (weft_now() > until)
            return 26; /* never reaped */
        weft_sleep(WEFT_MSEC);
    }
    /* a process pool */
    weft_ppool *pp;
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 2;
    if (weft_ppool_create(&pp, &o) != 0)
        return 30;
    int task = weft_ptask_find("square");
    int64_t in[64], out[64];
    for (int i = 0; i < 64; i++)
        in[i] = i - 20;
    if (weft_ppool_map(pp, task, in, 64, sizeof in[0], out, sizeof out[0], 4, NULL) != 0)
        return 31;
    for (int i = 0; i < 64; i++)
        if (out[i] != in[i] * in[i])
            return 32;
    pid_t pids[2];
    if (weft_ppool_pids(pp, pids, 2) != 2 || kill(pids[0], SIGKILL) != 0)
        return 33;
    until = weft_after(30 * WEFT_SEC);
    while (weft_ppool_started(pp) < 3) { /* the dead worker is replaced */
        if (weft_now() > until)
            return 34;
        weft_sleep(WEFT_MSEC);
    }
    int64_t x = 12;
    weft_bytes b = WEFT_BYTES_INIT;
    if (weft_ppool_apply(pp, task, &x, sizeof x, &b) != 0 || b.len != sizeof x ||
        memcmp(b.data, &(int64_t){144}, sizeof x) != 0)
        return 35;
    weft_bytes_free(&b);
    if (weft_ppool_close(pp) != 0 || weft_ppool_join(pp, weft_after(30 * WEFT_SEC)) != 0 ||
        weft_ppool_destroy(pp) != 0)
        return 36;
    if (waitpid(-1, NULL, WNOHANG) != -1 || errno != ECHILD)
        return 37; /* a child left behind */
    return 0;
}
WEFT_TEST(pidfd_open_refused_falls_back) {
    int errs[] = {ENOSYS, EPERM};
    for (int i = 0; i < 2; i++) {
        fflush(NULL);
        pid_t pid = fork();
        CHECK_GE(pid, 0);
        if (pid == 0) {
            alarm(120);
            if (weft_ptask_register("square", square_task) < 0)
                _exit(8);
            if (harness_seccomp_deny(NR_PIDFD_OPEN, -1, errs[i]) != 0 ||
                deny_pidfd_waits(errs[i]) != 0)
                _exit(HARNESS_SECCOMP_REFUSED);
            _exit(pidfd_open_refused_body());
        }
        int rc = test_reap(pid);
        SKIP_IF_SECCOMP_REFUSED(rc);
        CHECK_EQ(rc, 0);
    }
    CHECK_NO_ZOMBIES();
}

WEFT_MAIN()
