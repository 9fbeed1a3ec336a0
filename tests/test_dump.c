/* Debugging aids: weft_dump (the live dump) read back and parsed, with
 * coroutines parked in every wait kind on two threads, a child process and
 * a pool worker; the WEFT_DUMP_SIGNAL handler; bad arguments. */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

/* WEFT_TEST_TIMEOUT(dump_every_wait_kind, 120) */

/* The whole dump written to a memfd, as a NUL-terminated string (freed by
 * the caller). */
static char *dump_text(void) {
    int fd = memfd_create("dump", 0);
    CHECK(fd >= 0);
    CHECK_EQ(weft_dump(fd), 0);
    off_t len = lseek(fd, 0, SEEK_END);
    CHECK(len > 0);
    char *t = malloc((size_t)len + 1);
    CHECK(t != NULL);
    CHECK_EQ(pread(fd, t, (size_t)len, 0), (ssize_t)len);
    t[len] = 0;
    close(fd);
    return t;
}

/* The whole line of t around p, copied into line (empty if p is NULL). */
static void line_of(const char *t, const char *p, char *line, size_t cap) {
    line[0] = 0;
    if (!p)
        return;
    const char *b = p;
    while (b > t && b[-1] != '\n')
        b--;
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - b) : strlen(b);
    if (n >= cap)
        n = cap - 1;
    memcpy(line, b, n);
    line[n] = 0;
}

/* The line of coroutine `name` in dump t, copied into line (empty if absent). */
static void coro_line(const char *t, const char *name, char *line, size_t cap) {
    char key[80];
    snprintf(key, sizeof key, "\"%s\"", name);
    line_of(t, strstr(t, key), line, cap);
}

/* The line of the "threads without coroutines" section that contains needle, copied
 * into line (empty if absent). */
static void plain_line(const char *t, const char *needle, char *line, size_t cap) {
    const char *plain = strstr(t, "\nthreads without coroutines:\n");
    line_of(t, plain ? strstr(plain, needle) : NULL, line, cap);
}

/* Dumps every 2 ms until seen(dump, ud), at most 5000 times; *t is the last dump (the
 * caller frees it), printed to stderr if seen never held. Returns whether it held. */
static bool dump_until(bool (*seen)(const char *t, void *ud), void *ud, char **t) {
    *t = NULL;
    for (int round = 0; round < 5000; round++) {
        free(*t);
        CHECK_OK(weft_sleep(2 * WEFT_MSEC));
        *t = dump_text();
        if (seen(*t, ud))
            return true;
    }
    fputs(*t, stderr);
    return false;
}

/* ---- the parked crowd ---------------------------------------------------- */
static weft_lock g_lock;
static weft_rlock g_rlock;
static weft_lock g_cond_lock;
static weft_cond g_cond;
static weft_sem g_sem;
static weft_event g_event, g_gate, g_done2;
static weft_barrier g_barrier;
static weft_waitgroup g_wg;
static weft_chan *g_chan, *g_chan2, *g_sel_a, *g_sel_b;
static weft_queue *g_qempty, *g_qfull;
static int g_pipe[2], g_child_pipe[2];
static weft_psem *g_psem;
static weft_future *g_future;
static weft_proc *g_proc;

static void *w_lock(void *a) {
    return (void *)(intptr_t)weft_lock_acquire(a, WEFT_FOREVER);
}
static void *w_rlock(void *a) {
    return (void *)(intptr_t)weft_rlock_acquire(a, WEFT_FOREVER);
}
static void *w_cond(void *a) {
    (void)a;
    CHECK_OK(weft_lock_acquire(&g_cond_lock, WEFT_FOREVER));
    int r = weft_cond_wait(&g_cond, &g_cond_lock, WEFT_FOREVER);
    weft_lock_release(&g_cond_lock);
    return (void *)(intptr_t)r;
}
static void *w_sem(void *a) {
    return (void *)(intptr_t)weft_sem_acquire(a, WEFT_FOREVER);
}
/* Exported (the test links with ENABLE_EXPORTS) so that dladdr names it in
 * the dump; the work after the call keeps it from being a tail call, which
 * would leave no return address of it on the stack (aarch64 makes one of
 * weft_event_wait's own call). */
void *dump_test_w_event(void *a);
__attribute__((noinline)) void *dump_test_w_event(void *a) {
    int rc = weft_event_wait(a, WEFT_FOREVER);
    __asm__ volatile("" : "+r"(rc));
    return (void *)(intptr_t)rc;
}
#define w_event dump_test_w_event
static void *w_barrier(void *a) {
    return (void *)(intptr_t)weft_barrier_wait(a, WEFT_FOREVER);
}
static void *w_wg(void *a) {
    return (void *)(intptr_t)weft_waitgroup_wait(a, WEFT_FOREVER);
}
static void *w_send(void *a) {
    int v = 1;
    return (void *)(intptr_t)weft_chan_send(a, &v, WEFT_FOREVER);
}
static void *w_recv(void *a) {
    int v;
    return (void *)(intptr_t)weft_chan_recv(a, &v, WEFT_FOREVER);
}
static void *w_select(void *a) {
    (void)a;
    int x, y;
    weft_select_op ops[2] = {{g_sel_a, WEFT_RECV, &x, 0}, {g_sel_b, WEFT_RECV, &y, 0}};
    return (void *)(intptr_t)weft_select(ops, 2, WEFT_FOREVER);
}
static void *w_qget(void *a) {
    int v;
    return (void *)(intptr_t)weft_queue_get(a, &v, WEFT_FOREVER);
}
static void *w_qput(void *a) {
    int v = 2;
    return (void *)(intptr_t)weft_queue_put(a, &v, WEFT_FOREVER);
}
static void *w_fd(void *a) {
    return (void *)(intptr_t)weft_fd_wait(*(int *)a, WEFT_READABLE, WEFT_FOREVER);
}
static void *w_sleep(void *a) {
    (void)a;
    return (void *)(intptr_t)weft_sleep(3600 * WEFT_SEC);
}
static void *w_join(void *a) {
    return (void *)(intptr_t)weft_join(*(weft_coro *)a, WEFT_FOREVER, NULL);
}
static void *w_future(void *a) {
    (void)a;
    return (void *)(intptr_t)weft_future_result(g_future, WEFT_FOREVER, NULL);
}
static void *w_proc(void *a) {
    return (void *)(intptr_t)weft_proc_join(a, WEFT_FOREVER);
}
static void *w_psem(void *a) {
    return (void *)(intptr_t)weft_psem_acquire(a, WEFT_FOREVER);
}
static void *w_switched(void *v) {
    (void)v;
    return (void *)(intptr_t)weft_event_wait(&g_gate, WEFT_FOREVER);
}
static void *w_switch(void *a) {
    (void)a;
    weft_coro b;
    weft_coro_opts o = {.name = "switched", .suspended = 1};
    CHECK_OK(weft_spawn(&b, w_switched, NULL, &o));
    int r = weft_switch(b, NULL, NULL);
    if (r != 1) /* cancelled: the child still waits on the gate */
        weft_cancel(b);
    weft_join(b, WEFT_FOREVER, NULL); /* finished either way: release it */
    return (void *)(intptr_t)r;
}
static int child_main(void *a) {
    (void)a;
    char c;
    close(g_child_pipe[1]); /* EOF if the parent dies */
    return read(g_child_pipe[0], &c, 1) == 1 ? 0 : 1;
}
static int pool_task(void *a, void **result) {
    (void)a;
    *result = NULL;
    return weft_event_wait(&g_gate, WEFT_FOREVER);
}

/* Thread 2: its own coroutines parked on objects of thread 1. */
static void *thread2(void *a) {
    (void)a;
    weft_coro c[3];
    weft_coro_opts o1 = {.name = "t2-lock"}, o2 = {.name = "t2-recv"},
                   o3 = {.name = "t2-shared-sem", .stack_mode = WEFT_STACK_SHARED};
    CHECK_OK(weft_spawn(&c[0], w_lock, &g_lock, &o1));
    CHECK_OK(weft_spawn(&c[1], w_recv, g_chan2, &o2));
    CHECK_OK(weft_spawn(&c[2], w_sem, &g_sem, &o3));
    CHECK_OK(weft_event_wait(&g_done2, WEFT_FOREVER));
    for (int i = 0; i < 3; i++) {
        weft_cancel(c[i]);
        CHECK_OK(weft_join(c[i], WEFT_FOREVER, NULL));
    }
    return NULL;
}

/* dump_every_wait_kind's wait: every coroutine of the crowd and of thread 2
 * parked where expected, and the pool's worker (a thread without coroutines)
 * waiting on the gate; else the first one missing. */
typedef struct crowd_wait {
    const char *const *names, *const *wants;
    int n;
    const char *missing;
} crowd_wait;
static bool crowd_parked(const char *t, void *ud) {
    crowd_wait *cw = ud;
    char line[512];
    cw->missing = NULL;
    for (int i = 0; i < cw->n && !cw->missing; i++) {
        coro_line(t, cw->names[i], line, sizeof line);
        if (!strstr(line, cw->wants[i]))
            cw->missing = cw->names[i];
    }
    static const char *const t2want[][2] = {{"t2-lock", "parked on lock 0x"},
                                            {"t2-recv", "parked on chan-recv 0x"},
                                            {"t2-shared-sem", "parked on sem 0x"},
                                            {"switched", "parked on event 0x"}};
    for (int i = 0; i < 4 && !cw->missing; i++) {
        coro_line(t, t2want[i][0], line, sizeof line);
        if (!strstr(line, t2want[i][1]))
            cw->missing = t2want[i][0];
    }
    char gate[64];
    snprintf(gate, sizeof gate, ": parked on event %p for ", (void *)&g_gate);
    plain_line(t, gate, line, sizeof line);
    if (!cw->missing && !line[0])
        cw->missing = "pool worker";
    return !cw->missing;
}

WEFT_TEST(dump_every_wait_kind) {
    CHECK_OK(weft_lock_init(&g_lock));
    CHECK_OK(weft_rlock_init(&g_rlock));
    CHECK_OK(weft_lock_init(&g_cond_lock));
    CHECK_OK(weft_cond_init(&g_cond));
    CHECK_OK(weft_sem_init(&g_sem, 0, 0));
    CHECK_OK(weft_event_init(&g_event));
    CHECK_OK(weft_event_init(&g_gate));
    CHECK_OK(weft_event_init(&g_done2));
    CHECK_OK(weft_barrier_init(&g_barrier, 3));
    CHECK_OK(weft_waitgroup_init(&g_wg));
    CHECK_OK(weft_waitgroup_add(&g_wg, 1));
    CHECK_OK(weft_chan_create(&g_chan, sizeof(int), 0));
    CHECK_OK(weft_chan_create(&g_chan2, sizeof(int), 0));
    CHECK_OK(weft_chan_create(&g_sel_a, sizeof(int), 0));
    CHECK_OK(weft_chan_create(&g_sel_b, sizeof(int), 0));
    CHECK_OK(weft_queue_create(&g_qempty, WEFT_QUEUE_FIFO, sizeof(int), 0));
    CHECK_OK(weft_queue_create(&g_qfull, WEFT_QUEUE_FIFO, sizeof(int), 1));
    int one = 1;
    CHECK_OK(weft_queue_put(g_qfull, &one, WEFT_NOWAIT));
    CHECK_EQ(pipe(g_pipe), 0);
    CHECK_EQ(pipe(g_child_pipe), 0);
    g_psem = test_shared_mem(sizeof *g_psem);
    CHECK_OK(weft_psem_init(g_psem, 0, 0));
    weft_pool *pool;
    CHECK_OK(weft_pool_create(&pool, 1));
    CHECK_OK(weft_pool_submit(pool, pool_task, NULL, &g_future));
    CHECK_OK(weft_proc_start(&g_proc, child_main, NULL, NULL));

    /* The main coroutine holds the lock and the rlock. */
    CHECK_OK(weft_lock_acquire(&g_lock, WEFT_FOREVER));
    CHECK_OK(weft_rlock_acquire(&g_rlock, WEFT_FOREVER));

    weft_coro sleeper;
    weft_coro_opts so = {.name = "sleeper"};
    CHECK_OK(weft_spawn(&sleeper, w_sleep, NULL, &so));
    static const struct {
        const char *name;
        weft_coro_fn fn;
        int shared;
        const char *want;
    } crowd[] = {
        {"lock", w_lock, 0, "parked on lock 0x"},
        {"rlock", w_rlock, 0, "parked on rlock 0x"},
        {"cond", w_cond, 0, "parked on cond 0x"},
        {"sem", w_sem, 1, "parked on sem 0x"},
        {"event", w_event, 0, "parked on event 0x"},
        {"barrier", w_barrier, 0, "parked on barrier 0x"},
        {"waitgroup", w_wg, 0, "parked on waitgroup 0x"},
        {"send", w_send, 1, "parked on chan-send 0x"},
        {"recv", w_recv, 0, "parked on chan-recv 0x"},
        {"select", w_select, 0, "parked on chan-select 0x"},
        {"qget", w_qget, 0, "parked on queue-get 0x"},
        {"qput", w_qput, 0, "parked on queue-put 0x"},
        {"fd", w_fd, 0, "parked on fd "},
        {"sleep", w_sleep, 0, "parked on sleep until +"},
        {"join", w_join, 0, "parked on join coroutine "},
        {"future", w_future, 0, "parked on future 0x"},
        {"proc", w_proc, 0, "parked on process pid "},
        {"psem", w_psem, 0, "parked on psem 0x"},
        {"switch", w_switch, 0, "parked on switch to coroutine "},
    };
    enum { N = sizeof crowd / sizeof crowd[0] };
    const char *crowd_names[N], *crowd_wants[N];
    for (int i = 0; i < N; i++) {
        crowd_names[i] = crowd[i].name;
        crowd_wants[i] = crowd[i].want;
    }
    void *args[N] = {&g_lock,  &g_rlock, NULL,   &g_sem,   &g_event, &g_barrier, &g_wg,
                     g_chan,   g_chan,   NULL,   g_qempty, g_qfull,  &g_pipe[0], NULL,
                     &sleeper, NULL,     g_proc, g_psem,   NULL};
    weft_coro cs[N];
    for (int i = 0; i < N; i++) {
        weft_coro_opts o = {.name = crowd[i].name,
                            .stack_mode = crowd[i].shared ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        /* "send" and "recv" on one unbuffered channel would meet: recv
         * waits on the other one */
        void *arg = i == 8 ? (void *)g_chan2 : args[i];
        CHECK_OK(weft_spawn(&cs[i], crowd[i].fn, arg, &o));
    }
    weft_thread *t2;
    CHECK_OK(weft_thread_start(&t2, thread2, NULL, NULL));

    /* Bounded wait until every one is parked where expected. */
    char *t, line[512];
    crowd_wait cw = {crowd_names, crowd_wants, N, NULL};
    dump_until(crowd_parked, &cw, &t); /* (printed if not) */
    CHECK_STR_EQ(cw.missing ? cw.missing : "", "");

    /* Header, threads: this one and thread 2 (the pool's worker is a plain
     * thread: its task is not a coroutine). */
    CHECK(!strncmp(t, "weft dump: pid ", 15));
    CHECK_EQ(atol(t + 15), (long)getpid());
    CHECK(strstr(t, "(the caller): running coroutine ") != NULL);
    CHECK(strstr(t, " main: running (the caller)\n") != NULL);
    int threads = 0;
    for (const char *p = t; (p = strstr(p, "\nthread ")); p++)
        threads++;
    if (getenv("DUMP_SHOW"))
        fputs(t, stderr);
    CHECK_GE(threads, 2);
    /* the SHARED ones are marked so, and a parked one shows frames */
    coro_line(t, "sem", line, sizeof line);
    CHECK(strstr(line, " shared: parked on sem") != NULL);
    coro_line(t, "t2-shared-sem", line, sizeof line);
    CHECK(strstr(line, " shared: parked on sem") != NULL);
    /* the fd and its direction, the join's target, the process's pid */
    char want[128];
    coro_line(t, "fd", line, sizeof line);
    snprintf(want, sizeof want, "parked on fd %d r for ", g_pipe[0]);
    CHECK(strstr(line, want) != NULL);
    coro_line(t, "join", line, sizeof line);
    snprintf(want, sizeof want, "join coroutine %llu for",
             (unsigned long long)weft_coro_id(sleeper));
    CHECK(strstr(line, want) != NULL);
    coro_line(t, "switch", line, sizeof line);
    CHECK(strstr(line, "parked on switch to coroutine ") != NULL);
    coro_line(t, "proc", line, sizeof line);
    snprintf(want, sizeof want, "parked on process pid %d for", (int)weft_proc_pid(g_proc));
    CHECK(strstr(line, want) != NULL);
    coro_line(t, "psem", line, sizeof line);
    CHECK(strstr(line, "(process-shared word, waits while it is 0, now 0)") != NULL);
    coro_line(t, "select", line, sizeof line);
    CHECK(strstr(line, "(2 ops)") != NULL);
    /* the lock line names the lock's address, on both threads */
    snprintf(want, sizeof want, "parked on lock %p for", (void *)&g_lock);
    coro_line(t, "lock", line, sizeof line);
    CHECK(strstr(line, want) != NULL);
    coro_line(t, "t2-lock", line, sizeof line);
    CHECK(strstr(line, want) != NULL);
    /* the lock and the rlock are held by this thread's main coroutine */
    snprintf(want, sizeof want, " ms, held by thread %d (its main coroutine)",
             (int)syscall(SYS_gettid));
    coro_line(t, "lock", line, sizeof line);
    CHECK(strstr(line, want) != NULL);
    coro_line(t, "rlock", line, sizeof line);
    CHECK(strstr(line, want) != NULL);
    coro_line(t, "t2-lock", line, sizeof line);
    CHECK(strstr(line, want) != NULL);
    /* every spawned one says where it was spawned, right under its line */
    const char *lk = strstr(t, "\"lock\": parked");
    CHECK(lk != NULL);
    CHECK(!strncmp(strchr(lk, '\n'), "\n    spawned at 0x", 18));
    /* frames: the "event" coroutine's stack reaches the test's waiting function */
    const char *ev = strstr(t, "\"event\"");
    CHECK(ev != NULL);
    const char *next = strstr(ev, "\n  coroutine ");
    CHECK(next != NULL);
    const char *fr = strstr(ev, "    #0 0x");
    CHECK(fr != NULL && fr < next);
    const char *sym = strstr(ev, "dump_test_w_event+0x");
    CHECK(sym != NULL && sym < next);
    /* the child process */
    snprintf(want, sizeof want, "  process %d \"Process-1\" fork: running\n",
             (int)weft_proc_pid(g_proc));
    CHECK(strstr(t, want) != NULL);
    CHECK(strstr(t, "\nend of weft dump\n") != NULL);
    free(t);

    /* Let everything go. */
    CHECK_OK(weft_event_set(&g_done2));
    CHECK_OK(weft_lock_release(&g_lock)); /* thread 2's waiter may take it: cancel it too */
    CHECK_OK(weft_event_set(&g_gate));
    CHECK_EQ(write(g_child_pipe[1], "x", 1), 1);
    CHECK_OK(weft_thread_join(t2, WEFT_FOREVER, NULL));
    for (int i = 0; i < N; i++)
        weft_cancel(cs[i]);
    weft_cancel(sleeper);
    for (int i = 0; i < N; i++)
        CHECK_OK(weft_join(cs[i], WEFT_FOREVER, NULL));
    CHECK_OK(weft_join(sleeper, WEFT_FOREVER, NULL));
    CHECK_OK(weft_rlock_release(&g_rlock));
    weft_future_release(g_future);
    CHECK_OK(weft_pool_destroy(pool));
    weft_proc_release(g_proc);
    weft_psem_destroy(g_psem);
    weft_chan_destroy(g_chan);
    weft_chan_destroy(g_chan2);
    weft_chan_destroy(g_sel_a);
    weft_chan_destroy(g_sel_b);
    weft_queue_destroy(g_qempty);
    weft_queue_destroy(g_qfull);
    close(g_pipe[0]);
    close(g_pipe[1]);
    close(g_child_pipe[0]);
    close(g_child_pipe[1]);
}

/* Without any scheduler: the header, no thread, the end line. */
static void no_sched_body(void) {
    char *t = dump_text();
    CHECK(!strncmp(t, "weft dump: pid ", 15));
    CHECK(strstr(t, "(the caller)") == NULL);
    CHECK(strstr(t, "processes:\n") != NULL);
    CHECK(strstr(t, "end of weft dump\n") != NULL);
    free(t);
}
/* Lock owners and spawn sites: a coroutine holds a lock and parks; another
 * coroutine and a plain pthread wait for it. Both waits name the holder;
 * the holder was spawned by an exported function, which the dump names. */
static weft_lock g_olock;
static weft_event g_orelease;
static void *w_hold(void *a) {
    (void)a;
    if (weft_lock_acquire(&g_olock, WEFT_FOREVER) != 0)
        return (void *)1;
    weft_event_wait(&g_orelease, WEFT_FOREVER);
    weft_lock_release(&g_olock);
    return NULL;
}
static void *w_lock_release(void *a) {
    int rc = weft_lock_acquire(a, WEFT_FOREVER);
    if (rc == 0)
        rc = weft_lock_release(a);
    return (void *)(intptr_t)rc;
}
static void *pthread_waiter(void *a) {
    (void)a;
    if (weft_lock_acquire(&g_olock, weft_after(30 * WEFT_SEC)) != 0)
        return (void *)1;
    weft_lock_release(&g_olock);
    return NULL;
}
int dump_test_spawner(weft_coro *c);
__attribute__((noinline)) int dump_test_spawner(weft_coro *c) {
    weft_coro_opts o = {.name = "holder"};
    int rc = weft_spawn(c, w_hold, NULL, &o);
    __asm__ volatile("" : "+r"(rc));
    return rc;
}
/* The coroutine waiter's line and the plain thread's line both name the holder. */
typedef struct owner_wait {
    char want[160], tw[96];
} owner_wait;
static bool owner_named(const char *t, void *ud) {
    owner_wait *ow = ud;
    char line[512], pl[512];
    coro_line(t, "lock-waiter", line, sizeof line);
    plain_line(t, ow->tw, pl, sizeof pl);
    return strstr(line, ow->want) && strstr(pl, ow->want);
}
WEFT_TEST(dump_lock_owner_and_spawn_site) {
    CHECK_OK(weft_lock_init(&g_olock));
    CHECK_OK(weft_event_init(&g_orelease));
    weft_coro holder, waiter;
    CHECK_OK(dump_test_spawner(&holder));
    weft_yield(); /* the holder takes the lock and parks */
    weft_coro_opts o = {.name = "lock-waiter"};
    CHECK_OK(weft_spawn(&waiter, w_lock_release, &g_olock, &o));
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, pthread_waiter, NULL), 0);
    owner_wait ow;
    snprintf(ow.want, sizeof ow.want, " ms, held by coroutine %llu on thread %d",
             (unsigned long long)weft_coro_id(holder), (int)syscall(SYS_gettid));
    snprintf(ow.tw, sizeof ow.tw, ": parked on lock %p for ", (void *)&g_olock);
    char *t;
    CHECK(dump_until(owner_named, &ow, &t));
    const char *h = strstr(t, "\"holder\": parked on event ");
    CHECK(h != NULL);
    CHECK(!strncmp(strchr(h, '\n'), "\n    spawned at 0x", 18));
    const char *site = strstr(h, "dump_test_spawner+0x");
    const char *end = strstr(h, "\n  coroutine ");
    if (!end)
        end = strstr(h, "\nthreads without coroutines:");
    CHECK(site != NULL && end != NULL && site < end);
    free(t);
    CHECK_OK(weft_event_set(&g_orelease));
    CHECK_OK(weft_join(holder, WEFT_FOREVER, NULL));
    void *r;
    CHECK_OK(weft_join(waiter, WEFT_FOREVER, &r));
    CHECK(r == NULL);
    CHECK_EQ(pthread_join(pt, &r), 0);
    CHECK(r == NULL);
}

/* Process pools: a pool of two workers, one running a task that waits for
 * a byte on a pipe, the other idle; both listed with their pids. */
static int g_ppipe[2];
static int pp_block(const void *in, size_t len, weft_bytes *out) {
    (void)in;
    (void)len;
    (void)out;
    char c;
    return read(g_ppipe[0], &c, 1) == 1 ? 0 : -EIO; /* the test's byte */
}
/* The pool is listed under "process pools" with one worker busy, one idle. */
typedef struct pool_wait {
    char head[96];
    const pid_t *pids;
} pool_wait;
static bool pool_listed(const char *t, void *ud) {
    pool_wait *pw = ud;
    char busy[96], idle[96];
    const char *h = strstr(t, pw->head);
    int nbusy = 0, nidle = 0;
    for (int i = 0; i < 2 && h; i++) {
        snprintf(busy, sizeof busy, " pid %d: busy (1 task)\n", (int)pw->pids[i]);
        snprintf(idle, sizeof idle, " pid %d: idle\n", (int)pw->pids[i]);
        nbusy += strstr(h, busy) != NULL;
        nidle += strstr(h, idle) != NULL;
    }
    return h && nbusy == 1 && nidle == 1 && strstr(t, "\nprocess pools:\n") < h;
}
WEFT_TEST(dump_process_pool) {
    SKIP_UNLESS_ROBUST_PSHARED_MUTEX();
    CHECK_EQ(pipe(g_ppipe), 0);
    int task = weft_ptask_register("dump-block", pp_block);
    CHECK_GE(task, 0);
    weft_ppool_opts o = {.nworkers = 2, .initializer = -1};
    weft_ppool *p;
    CHECK_OK(weft_ppool_create(&p, &o));
    weft_future *f;
    CHECK_OK(weft_ppool_apply_async(p, task, NULL, 0, NULL, NULL, NULL, &f));
    pid_t pids[2];
    CHECK_EQ(weft_ppool_pids(p, pids, 2), 2);
    pool_wait pw = {.pids = pids};
    snprintf(pw.head, sizeof pw.head, "  process pool %p: running, 2 workers\n", (void *)p);
    char *t;
    CHECK(dump_until(pool_listed, &pw, &t));
    free(t);
    CHECK_EQ(write(g_ppipe[1], "x", 1), 1);
    close(g_ppipe[1]);
    CHECK_OK(weft_future_result(f, weft_after(30 * WEFT_SEC), NULL));
    weft_future_release(f);
    close(g_ppipe[0]);
    CHECK_OK(weft_ppool_destroy(p));
    /* gone from the dump once destroyed */
    t = dump_text();
    CHECK(strstr(t, pw.head) == NULL);
    free(t);
}

/* A plain pthread blocked on a process-shared semaphore is listed under the
 * threads without coroutines, parked on that object's word. */
static weft_psem *g_psem2;
static void *psem_waiter(void *a) {
    (void)a;
    return (void *)(intptr_t)weft_psem_acquire(g_psem2, weft_after(30 * WEFT_SEC));
}
static bool psem_waiter_listed(const char *t, void *ud) {
    (void)ud;
    char line[512];
    plain_line(t, ": parked on psem 0x", line, sizeof line);
    return strstr(line, " (process-shared word, waits while it is 0, now 0) for ") != NULL;
}
WEFT_TEST(dump_plain_thread_on_process_shared) {
    g_psem2 = test_shared_mem(sizeof *g_psem2);
    CHECK_OK(weft_psem_init(g_psem2, 0, 0));
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, psem_waiter, NULL), 0);
    char *t;
    CHECK(dump_until(psem_waiter_listed, NULL, &t));
    free(t);
    CHECK_OK(weft_psem_release(g_psem2, 1));
    void *r;
    CHECK_EQ(pthread_join(pt, &r), 0);
    CHECK(r == NULL);
    weft_psem_destroy(g_psem2);
}

WEFT_TEST(dump_without_scheduler) {
    run_in_thread(no_sched_body);
}

WEFT_TEST(dump_bad_fd) {
    CHECK_ERR(weft_dump(-1), -EBADF);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    close(p[1]);
    int fd = dup(p[0]);
    close(fd);
    CHECK_ERR(weft_dump(fd), -EBADF);
    close(p[0]);
    /* a pipe without reader: EPIPE (SIGPIPE ignored for the test) */
    CHECK_EQ(pipe(p), 0);
    close(p[0]);
    signal(SIGPIPE, SIG_IGN);
    CHECK_ERR(weft_dump(p[1]), -EPIPE);
    close(p[1]);
}

/* WEFT_DUMP_SIGNAL: a child with the variable set gets SIGUSR2 and writes
 * the dump to its stderr (a pipe), then goes on. */
WEFT_TEST(dump_signal) {
    int p[2];
    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 2);
        setenv("WEFT_DUMP_SIGNAL", "SIGUSR2", 1);
        weft_coro c;
        weft_coro_opts o = {.name = "sig-sleeper"};
        if (weft_spawn(&c, w_event, &g_event, &o) != 0)
            _exit(2);
        weft_event_init(&g_event);
        weft_yield();
        raise(SIGUSR2);
        _exit(weft_coro_count() == 1 ? 0 : 3);
    }
    close(p[1]);
    char buf[8192];
    size_t n = 0;
    ssize_t k;
    while (n < sizeof buf - 1 && (k = read(p[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)k;
    buf[n] = 0;
    close(p[0]);
    CHECK_EQ(test_reap(pid), 0);
    CHECK(!strncmp(buf, "weft dump: pid ", 15));
    CHECK(strstr(buf, "\"sig-sleeper\": parked on event 0x") != NULL);
    CHECK(strstr(buf, " main: running (the caller)\n") != NULL);
    CHECK(strstr(buf, "end of weft dump\n") != NULL);
}

/* Where process_vm_readv(2) is refused (a seccomp policy; an emulator that
 * cannot read its guest's memory with it), the dump still reads names and
 * stacks: a child denies the call with a filter, then dumps a named parked
 * coroutine and a stack's frames. */
WEFT_TEST(dump_without_process_vm_readv) {
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        if (harness_seccomp_deny(SYS_process_vm_readv, -1, EPERM) != 0)
            _exit(HARNESS_SECCOMP_REFUSED);
        struct iovec l = {&(int){0}, sizeof(int)}, r = {&g_done2, sizeof(int)};
        if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) != -1 || errno != EPERM)
            _exit(4);
        weft_coro c;
        weft_coro_opts o = {.name = "no-vm-read"};
        weft_event_init(&g_event);
        if (weft_spawn(&c, w_event, &g_event, &o) != 0)
            _exit(5);
        weft_yield();
        char *t = dump_text();
        char line[512];
        coro_line(t, "no-vm-read", line, sizeof line);
        int ok = strstr(line, "parked on event 0x") != NULL && strstr(t, "    #0 ") != NULL;
        if (!ok)
            fputs(t, stderr);
        free(t);
        weft_event_set(&g_event);
        weft_join(c, WEFT_FOREVER, NULL);
        _exit(ok ? 0 : 6);
    }
    int rc = test_reap(pid);
    SKIP_IF_SECCOMP_REFUSED(rc);
    CHECK_EQ(rc, 0);
}

/* gdb: tools/weft-gdb.py against a live child with coroutines parked on a
 * lock, a channel and an event, one of them on the SHARED stack, and one of a worker
 * group parked on an event. */
/* WEFT_TEST_TIMEOUT(gdb_extension, 120) */
static void *g_child_recv(void *a) {
    int v;
    return (void *)(intptr_t)weft_chan_recv(a, &v, WEFT_FOREVER);
}
static bool group_coro_parked(const char *t, void *ud) {
    (void)ud;
    return strstr(t, "\"gdb-group\": parked on event") != NULL;
}
static char *run_cmd(const char *cmd) {
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    CHECK(b != NULL);
    size_t k;
    while ((k = fread(b + n, 1, cap - 1 - n, f)) > 0)
        n += k;
    b[n] = 0;
    pclose(f);
    return b;
}
/* What the extension shows of the child's group: the group in info weft-threads, its
 * coroutine under it in info weft-coroutines (on the worker's thread), and weft-bt
 * of that coroutine reaching its function. */
static void check_gdb_group(const char *out, uint64_t gid) {
    CHECK(strstr(out, "\nworker group 0x") != NULL);
    CHECK(strstr(out, ": 1 workers (threads ") != NULL);
    CHECK(strstr(out, "), 1 live coroutines\n") != NULL);
    const char *under = strstr(out, " (1 workers):\n");
    CHECK(under != NULL);
    char want[64];
    snprintf(want, sizeof want, "\n%-8llu ", (unsigned long long)gid);
    const char *line = strstr(under, want);
    CHECK(line != NULL);
    const char *eol = strchr(line + 1, '\n');
    CHECK(eol != NULL);
    char l[512];
    snprintf(l, sizeof l, "%.*s", (int)(eol - line - 1), line + 1);
    CHECK(strstr(l, "guarded parked on event 0x") != NULL);
    CHECK(strstr(l, "\"gdb-group\"") != NULL);
    /* the worker's thread, not 0 (not started) and not the child's main thread */
    unsigned long long id = 0, tid = 0;
    CHECK_EQ(sscanf(l, "%llu %llu", &id, &tid), 2);
    CHECK(tid != 0);
    const char *bt = strstr(out, "--group--\n");
    CHECK(bt != NULL);
    CHECK(strstr(bt, "/src/sync/waiter.c:") != NULL); /* its park, however inlined */
    CHECK(strstr(bt, " in dump_test_w_event at ") != NULL);
}

WEFT_TEST(gdb_extension) {
    char *probe = run_cmd("gdb -batch -nx -ex 'python print(\"py-\" + \"ok\")' 2>&1");
    bool usable = strstr(probe, "py-ok") != NULL;
    free(probe);
    if (!usable)
        SKIP("gdb or its Python is missing");
    SKIP_UNLESS_GDB_READS_SELF();
    int p[2];
    CHECK_EQ(pipe(p), 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        weft_lock lk;
        weft_chan *ch;
        weft_lock_init(&lk);
        weft_event_init(&g_event);
        weft_chan_create(&ch, sizeof(int), 0);
        weft_lock_acquire(&lk, WEFT_FOREVER);
        weft_coro c;
        weft_coro_opts o1 = {.name = "gdb-lock", .detached = 1};
        weft_coro_opts o2 = {.name = "gdb-recv", .detached = 1, .stack_mode = WEFT_STACK_SHARED};
        weft_coro_opts o3 = {.name = "gdb-event", .detached = 1};
        weft_spawn(&c, w_lock, &lk, &o1);
        weft_spawn(&c, g_child_recv, ch, &o2);
        weft_spawn(&c, w_event, &g_event, &o3);
        weft_yield();
        /* a group of one worker; its coroutine parked before gdb looks */
        weft_group *g;
        weft_coro_opts o4 = {.name = "gdb-group", .detached = 1};
        CHECK_OK(weft_group_create(&g, &(weft_group_opts){.threads = 1}));
        CHECK_OK(weft_group_spawn(g, &c, w_event, &g_event, &o4));
        char *t;
        if (!dump_until(group_coro_parked, NULL, &t))
            _exit(1);
        free(t);
        uint64_t gid = weft_coro_id(c);
        (void)!write(p[1], &gid, sizeof gid);
        weft_sleep(60 * WEFT_SEC);
        _exit(0);
    }
    close(p[1]);
    uint64_t gid = 0;
    CHECK_EQ(read(p[0], &gid, sizeof gid), (ssize_t)sizeof gid);
    close(p[0]);
    char cmd[2048];
    const char *src = __FILE__;
    const char *slash = strrchr(src, '/');
    /* A core file of a sanitizer's process holds its terabytes of shadow
     * mappings: too slow to write, so the core part runs in plain builds. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    const bool with_core = false;
#else
    const bool with_core = true;
#endif
    char core[] = "/tmp/weft-dump-core-XXXXXX";
    int cfd = mkstemp(core);
    CHECK(cfd >= 0);
    close(cfd);
    char gen[128] = "";
    if (with_core)
        snprintf(gen, sizeof gen, "-ex 'generate-core-file %s'", core);
    snprintf(cmd, sizeof cmd,
             "gdb -batch -nx -p %d -x %.*s/../tools/weft-gdb.py -ex 'info weft-threads' "
             "-ex 'info weft-coroutines' -ex 'weft-bt 2' -ex 'weft-bt 3' -ex 'echo --group--\\n' "
             "-ex 'weft-bt %llu' %s 2>&1",
             (int)pid, (int)(slash - src), src, (unsigned long long)gid, gen);
    char *out = run_cmd(cmd);
    kill(pid, SIGKILL);
    test_reap(pid);
    if (strstr(out, "ptrace: Operation not permitted")) {
        free(out);
        SKIP("gdb may not attach (ptrace not permitted)");
    }
    fputs(out, stderr);
    char want[128];
    snprintf(want, sizeof want, "thread %d: current coroutine ", (int)pid);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "main    parked on sleep until ") != NULL);
    CHECK(strstr(out, "guarded parked on lock 0x") != NULL);
    CHECK(strstr(out, "shared  parked on chan-recv 0x") != NULL);
    CHECK(strstr(out, "guarded parked on event 0x") != NULL);
    CHECK(strstr(out, "\"gdb-lock\"") && strstr(out, "\"gdb-recv\"") &&
          strstr(out, "\"gdb-event\""));
    /* weft-bt 2 (gdb-lock, GUARDED): through the lock to the coroutine's function */
    /* its park (a frame of src/sync/waiter.c, whatever the compiler inlined) */
    const char *bt = strstr(out, "/src/sync/waiter.c:");
    CHECK(bt != NULL);
    CHECK(strstr(out, " in w_lock at ") != NULL);
    /* weft-bt 3 (gdb-recv, SHARED: the shared stack's owner, its frames in place; a
     * receive that waits is in chan_park) */
    CHECK(strstr(out, " in chan_park at ") != NULL);
    /* where each was spawned */
    CHECK(strstr(out, "\"gdb-lock\"  spawned at weft_test_gdb_extension (test_dump.c:") != NULL);
    check_gdb_group(out, gid);
    free(out);

    if (!with_core) {
        unlink(core);
        fprintf(stderr, "core-file part skipped: a sanitizer build\n");
        return;
    }
    /* The same commands on the core file gdb wrote: the program is gone. */
    char self[512];
    ssize_t sn = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(sn > 0);
    self[sn] = 0;
    snprintf(cmd, sizeof cmd,
             "gdb -batch -nx -x %.*s/../tools/weft-gdb.py -ex 'info weft-threads' "
             "-ex 'info weft-coroutines' -ex 'weft-bt 2' -ex 'weft-bt 3' -ex 'echo --group--\\n' "
             "-ex 'weft-bt %llu' '%s' '%s' 2>&1",
             (int)(slash - src), src, (unsigned long long)gid, self, core);
    out = run_cmd(cmd);
    unlink(core);
    fputs(out, stderr);
    snprintf(want, sizeof want, "thread %d: current coroutine ", (int)pid);
    CHECK(strstr(out, want) != NULL);
    CHECK(strstr(out, "guarded parked on lock 0x") != NULL);
    CHECK(strstr(out, "shared  parked on chan-recv 0x") != NULL);
    CHECK(strstr(out, "guarded parked on event 0x") != NULL);
    CHECK(strstr(out, "\"gdb-lock\"  spawned at weft_test_gdb_extension (test_dump.c:") != NULL);
    CHECK(strstr(out, " in w_lock at ") != NULL);
    CHECK(strstr(out, " in chan_park at ") != NULL);
    check_gdb_group(out, gid);
    free(out);
}

WEFT_MAIN()
