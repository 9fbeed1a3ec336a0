/* Threads: start/join/result, names, is_alive, join deadlines (from threads and from
 * coroutines), detach, the subclass style, daemon semantics at exit, coroutines inside
 * threads, many threads at once, bad input, allocation failure.
 *
 * Every case runs in its own process (ctest), so the "Thread-N" counter starts at 0 in
 * each, and the process's initial thread is the test body's thread. Bodies that use
 * coroutines run on a weft thread, so that its scheduler is freed when it exits and the
 * counting allocator can then show no live allocation at all. */
#include "harness.h"

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* WEFT_TEST_TIMEOUT(daemon_at_exit, 30) */
/* WEFT_TEST_TIMEOUT(exit_from_thread, 30) */
/* WEFT_TEST_TIMEOUT(thread_runs_coroutines, 180) */

/* ------------------------------------------------------------------ helpers */

static void *add_one(void *arg) {
    return (void *)((intptr_t)arg + 1);
}

/* Waits on the event in arg, then returns arg. */
static void *wait_event(void *arg) {
    int r = weft_event_wait(arg, WEFT_FOREVER);
    CHECK_ERR(r, 0);
    return arg;
}

/* Polls (yielding the CPU) until weft_thread_is_alive(t) is 0; at most 10 s. */
static void wait_not_alive(weft_thread *t) {
    int64_t end = weft_after(10 * WEFT_SEC);
    while (weft_thread_is_alive(t)) {
        CHECK_LT(weft_now(), end);
        sched_yield();
    }
}

/* Runs body on a weft thread with the counting allocator installed, joins it, and checks
 * that nothing weft allocated (record, scheduler, coroutines) is left. */
static void *body_tramp(void *arg) {
    ((void (*)(void))arg)();
    CHECK_EQ(weft_coro_count(), 0);
    return NULL;
}
static void run_in_weft_thread(void (*body)(void)) {
    CHECK_OK(test_alloc_install());
    weft_thread *t;
    CHECK_ERR(weft_thread_start(&t, body_tramp, (void *)body, NULL), 0);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, NULL), 0);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------ start, join */

WEFT_TEST(start_join_result) {
    CHECK_OK(test_alloc_install());
    weft_thread *t = NULL;
    CHECK_ERR(weft_thread_start(&t, add_one, (void *)41, NULL), 0);
    CHECK(t != NULL);
    void *res = NULL;
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 42);

    /* A NULL result pointer is fine; a thread that has long finished joins at once. */
    CHECK_ERR(weft_thread_start(&t, add_one, (void *)1, NULL), 0);
    wait_not_alive(t);
    CHECK_ERR(weft_thread_join(t, WEFT_NOWAIT, NULL), 0);

    /* Many in a row. */
    for (int i = 0; i < 200; i++) {
        CHECK_ERR(weft_thread_start(&t, add_one, (void *)(intptr_t)i, NULL), 0);
        CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, i + 1);
    }
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ names */

typedef struct {
    char name[64];
    int64_t tid;
    char kname[16];
} seen;

static void *record_self(void *arg) {
    seen *s = arg;
    snprintf(s->name, sizeof s->name, "%s", weft_thread_current_name());
    s->tid = weft_thread_current_id();
    CHECK_EQ(pthread_getname_np(pthread_self(), s->kname, sizeof s->kname), 0);
    return NULL;
}

static void *foreign_name(void *arg) {
    const char **out = arg;
    const char *a = weft_thread_current_name();
    const char *b = weft_thread_current_name();
    CHECK_PTR_EQ(a, b); /* named once */
    *out = strdup(a);
    return NULL;
}

WEFT_TEST(names) {
    /* This case runs on the process's initial thread. */
    CHECK_STR_EQ(weft_thread_current_name(), "MainThread");
    CHECK_EQ(weft_thread_current_id(), getpid());

    weft_thread *t1, *t2, *t3, *t4;
    seen s1, s2, s3, s4;
    memset(&s1, 0, sizeof s1);
    s4 = s3 = s2 = s1;
    CHECK_ERR(weft_thread_start(&t1, record_self, &s1, NULL), 0);
    CHECK_ERR(weft_thread_start(&t2, record_self, &s2, NULL), 0);
    CHECK_STR_EQ(weft_thread_name(t1), "Thread-1");
    CHECK_STR_EQ(weft_thread_name(t2), "Thread-2");
    CHECK_EQ(weft_thread_daemon(t1), 0);

    /* A custom name is copied; it does not use up a number. */
    char buf[64] = "worker-with-abé-long";
    weft_thread_opts o = {.name = buf, .daemon = 1};
    CHECK_ERR(weft_thread_start(&t3, record_self, &s3, &o), 0);
    memset(buf, 'x', sizeof buf - 1);
    CHECK_STR_EQ(weft_thread_name(t3), "worker-with-abé-long");
    CHECK_EQ(weft_thread_daemon(t3), 1);
    CHECK_ERR(weft_thread_start(&t4, record_self, &s4, NULL), 0);
    CHECK_STR_EQ(weft_thread_name(t4), "Thread-3");

    /* A thread weft did not start is a "Dummy-N" (sharing the counter, as in Python). */
    pthread_t pt;
    const char *dummy = NULL;
    CHECK_EQ(pthread_create(&pt, NULL, foreign_name, &dummy), 0);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    CHECK_STR_EQ(dummy, "Dummy-4");
    free((void *)dummy);

    CHECK_ERR(weft_thread_join(t1, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_thread_join(t2, WEFT_FOREVER, NULL), 0);
    /* native_id is the tid the thread itself saw; readable until the join. */
    wait_not_alive(t3);
    wait_not_alive(t4);
    int64_t id3 = weft_thread_native_id(t3), id4 = weft_thread_native_id(t4);
    CHECK_ERR(weft_thread_join(t3, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_thread_join(t4, WEFT_FOREVER, NULL), 0);
    CHECK_EQ(id3, s3.tid);
    CHECK_EQ(id4, s4.tid);
    CHECK_NE(s3.tid, getpid());

    CHECK_STR_EQ(s1.name, "Thread-1");
    CHECK_STR_EQ(s2.name, "Thread-2");
    CHECK_STR_EQ(s3.name, "worker-with-abé-long");
    CHECK_STR_EQ(s4.name, "Thread-3");
    /* The kernel's name: at most 15 bytes, never a cut UTF-8 character. */
    CHECK_STR_EQ(s1.kname, "Thread-1");
    CHECK_STR_EQ(s3.kname, "worker-with-ab");
    CHECK_NE(s1.tid, s2.tid);
    CHECK_STR_EQ(weft_thread_current_name(), "MainThread");
}

/* ------------------------------------------------------ is_alive, deadline */

WEFT_TEST(is_alive_and_join_deadline) {
    CHECK_OK(test_alloc_install());
    weft_event go;
    CHECK_ERR(weft_event_init(&go), 0);
    weft_thread *t;
    CHECK_ERR(weft_thread_start(&t, wait_event, &go, NULL), 0);
    CHECK_EQ(weft_thread_is_alive(t), 1);

    CHECK_ERR(weft_thread_join(t, WEFT_NOWAIT, NULL), -ETIMEDOUT);
    int64_t t0 = weft_now();
    CHECK_ERR(weft_thread_join(t, weft_after(50 * WEFT_MSEC), NULL), -ETIMEDOUT);
    CHECK_GE(weft_now() - t0, 50 * WEFT_MSEC);
    CHECK_EQ(weft_thread_is_alive(t), 1);
    CHECK(weft_thread_native_id(t) >= 0);

    CHECK_ERR(weft_event_set(&go), 0);
    wait_not_alive(t);
    CHECK_GT(weft_thread_native_id(t), 0);
    void *res = NULL;
    CHECK_ERR(weft_thread_join(t, weft_after(10 * WEFT_SEC), &res), 0);
    CHECK_PTR_EQ(res, &go);
    CHECK_ERR(weft_event_destroy(&go), 0);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------- join from a coroutine */

static weft_thread *cj_thread;
static weft_event cj_go;
static atomic_int cj_timed_out;
static int cj_ticks;

static void *cj_joiner(void *arg) {
    (void)arg;
    logf_("%s", "a-start");
    CHECK_ERR(weft_thread_join(cj_thread, weft_after(30 * WEFT_MSEC), NULL), -ETIMEDOUT);
    logf_("%s", "a-timeout");
    atomic_store(&cj_timed_out, 1);
    void *res = NULL;
    CHECK_ERR(weft_thread_join(cj_thread, WEFT_FOREVER, &res), 0);
    CHECK_PTR_EQ(res, &cj_go);
    logf_("%s", "a-done");
    return NULL;
}

static void *cj_ticker(void *arg) {
    (void)arg;
    /* Runs while the joiner is parked: its thread is not blocked. */
    while (!atomic_load(&cj_timed_out)) {
        if (cj_ticks++ == 0)
            logf_("%s", "b-first-tick"); /* the joiner is parked in its timed join now */
        CHECK_ERR(weft_sleep(WEFT_MSEC), 0);
    }
    logf_("%s", "b-ticks");
    CHECK_ERR(weft_event_set(&cj_go), 0);
    logf_("%s", "go");
    return NULL;
}

static void body_join_from_coroutine(void) {
    log_reset();
    CHECK_ERR(weft_event_init(&cj_go), 0);
    CHECK_ERR(weft_thread_start(&cj_thread, wait_event, &cj_go, NULL), 0);
    weft_coro cs[2];
    CHECK_ERR(weft_spawn(&cs[0], cj_joiner, NULL, NULL), 0);
    CHECK_ERR(weft_spawn(&cs[1], cj_ticker, NULL, NULL), 0);
    CHECK_ERR(weft_joinall(cs, 2, WEFT_FOREVER, NULL), 0);
    CHECK_STR_EQ(logbuf, "a-start b-first-tick a-timeout b-ticks go a-done");
    CHECK_GE(cj_ticks, 1);
    CHECK_ERR(weft_event_destroy(&cj_go), 0);
}
WEFT_TEST(join_from_coroutine) {
    run_in_weft_thread(body_join_from_coroutine);
}

/* A coroutine cancelled while joining gets -ECANCELED; the thread can still be joined. */
static void *cancel_joiner(void *arg) {
    return (void *)(intptr_t)weft_thread_join(arg, WEFT_FOREVER, NULL);
}

static void body_join_cancelled(void) {
    weft_event go;
    CHECK_ERR(weft_event_init(&go), 0);
    weft_thread *t;
    CHECK_ERR(weft_thread_start(&t, wait_event, &go, NULL), 0);
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, cancel_joiner, t, NULL), 0);
    CHECK_ERR(weft_yield(), 0); /* c parks in the join */
    /* Meanwhile, a second join or a detach is refused. */
    CHECK_ERR(weft_thread_join(t, WEFT_NOWAIT, NULL), -EINVAL);
    CHECK_ERR(weft_thread_detach(t), -EINVAL);
    CHECK_ERR(weft_cancel(c), 0);
    void *res = NULL;
    CHECK_ERR(weft_join(c, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, -ECANCELED);
    CHECK_EQ(weft_thread_is_alive(t), 1);
    CHECK_ERR(weft_event_set(&go), 0);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_event_destroy(&go), 0);
}
WEFT_TEST(join_cancelled) {
    run_in_weft_thread(body_join_cancelled);
}

/* ------------------------------------------------------------- join self */

static weft_thread *js_handle;
static weft_event js_ready;

static void *join_self_plain(void *arg) {
    (void)arg;
    CHECK_ERR(weft_event_wait(&js_ready, WEFT_FOREVER), 0);
    CHECK_ERR(weft_thread_join(js_handle, WEFT_FOREVER, NULL), -EDEADLK);
    CHECK_ERR(weft_thread_join(js_handle, WEFT_NOWAIT, NULL), -EDEADLK);
    return (void *)1;
}

static void *join_self_obj(weft_thread_obj *self) {
    /* self->handle is set before run() starts. */
    CHECK(self->handle != NULL);
    CHECK_ERR(weft_thread_obj_join(self, WEFT_FOREVER, NULL), -EDEADLK);
    return (void *)2;
}

WEFT_TEST(join_self) {
    CHECK_OK(test_alloc_install());
    CHECK_ERR(weft_event_init(&js_ready), 0);
    CHECK_ERR(weft_thread_start(&js_handle, join_self_plain, NULL, NULL), 0);
    CHECK_ERR(weft_event_set(&js_ready), 0);
    void *res = NULL;
    CHECK_ERR(weft_thread_join(js_handle, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 1);

    weft_thread_obj o = {.run = join_self_obj};
    CHECK_ERR(weft_thread_obj_start(&o, NULL), 0);
    CHECK_ERR(weft_thread_obj_join(&o, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 2);
    CHECK_PTR_EQ(o.handle, NULL);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------------------------ detach */

static weft_event det_done;
static atomic_int det_ran;

static void *det_fn(void *arg) {
    CHECK_ERR(weft_event_wait(arg, WEFT_FOREVER), 0);
    atomic_fetch_add(&det_ran, 1);
    CHECK_ERR(weft_event_set(&det_done), 0);
    return NULL;
}

static void *self_detach(weft_thread_obj *self) {
    CHECK_ERR(weft_thread_detach(self->handle), 0);
    atomic_fetch_add(&det_ran, 1);
    return NULL;
}

static void wait_no_leaks(void) {
    int64_t end = weft_after(10 * WEFT_SEC);
    while (test_alloc_live() != 0) {
        CHECK_LT(weft_now(), end);
        sched_yield();
    }
}

WEFT_TEST(detach) {
    CHECK_OK(test_alloc_install());
    CHECK_ERR(weft_thread_detach(NULL), -EINVAL);

    /* Detached while running: it frees itself when it finishes. */
    weft_event go;
    CHECK_ERR(weft_event_init(&go), 0);
    CHECK_ERR(weft_event_init(&det_done), 0);
    weft_thread *t;
    CHECK_ERR(weft_thread_start(&t, det_fn, &go, NULL), 0);
    CHECK_ERR(weft_thread_detach(t), 0);
    CHECK_ERR(weft_event_set(&go), 0);
    CHECK_ERR(weft_event_wait(&det_done, weft_after(10 * WEFT_SEC)), 0);
    CHECK_EQ(atomic_load(&det_ran), 1);
    wait_no_leaks();

    /* Detached after it finished: freed at once, or (if the detach came between its
     * result being published and the thread marking itself finished) by the thread a
     * moment later; either way, bounded. */
    CHECK_ERR(weft_thread_start(&t, add_one, NULL, NULL), 0);
    wait_not_alive(t);
    CHECK_ERR(weft_thread_detach(t), 0);
    wait_no_leaks();

    /* A thread may detach itself. */
    weft_thread_obj o = {.run = self_detach};
    CHECK_ERR(weft_thread_obj_start(&o, NULL), 0);
    wait_no_leaks();
    CHECK_EQ(atomic_load(&det_ran), 2);
    /* Let a started-and-detached thread exit without anyone waiting: fine too. */
    CHECK_ERR(weft_event_destroy(&go), 0);
}

/* --------------------------------------------------------- subclass style */

typedef struct {
    int n;
    weft_thread_obj base; /* deliberately not first */
    char out[96];
} my_thread;

static void *my_run(weft_thread_obj *self) {
    my_thread *m = WEFT_CONTAINER_OF(self, my_thread, base);
    snprintf(m->out, sizeof m->out, "%s:%d", weft_thread_current_name(), m->n);
    return m;
}

WEFT_TEST(subclass) {
    CHECK_OK(test_alloc_install());
    my_thread a = {.n = 7, .base = {.run = my_run}};
    my_thread b = {.n = 8, .base = {.run = my_run}};
    weft_thread_opts o = {.name = "custom"};
    CHECK_ERR(weft_thread_obj_start(&a.base, NULL), 0);
    CHECK_ERR(weft_thread_obj_start(&b.base, &o), 0);
    CHECK_STR_EQ(weft_thread_name(a.base.handle), "Thread-1");
    CHECK_STR_EQ(weft_thread_name(b.base.handle), "custom");
    void *ra = NULL, *rb = NULL;
    CHECK_ERR(weft_thread_obj_join(&a.base, WEFT_FOREVER, &ra), 0);
    CHECK_ERR(weft_thread_obj_join(&b.base, WEFT_FOREVER, &rb), 0);
    CHECK_PTR_EQ(ra, &a);
    CHECK_PTR_EQ(rb, &b);
    CHECK_STR_EQ(a.out, "Thread-1:7");
    CHECK_STR_EQ(b.out, "custom:8");
    CHECK_PTR_EQ(a.base.handle, NULL);
    /* Joined: joining again is refused without touching anything. */
    CHECK_ERR(weft_thread_obj_join(&a.base, WEFT_FOREVER, NULL), -EINVAL);

    weft_thread_obj bad = {0};
    CHECK_ERR(weft_thread_obj_start(&bad, NULL), -EINVAL);
    CHECK_PTR_EQ(bad.handle, NULL);
    CHECK_ERR(weft_thread_obj_start(NULL, NULL), -EINVAL);
    CHECK_ERR(weft_thread_obj_join(NULL, WEFT_FOREVER, NULL), -EINVAL);
    CHECK_NO_LEAKS();
}

/* ------------------------------------------------- daemon semantics at exit */

static int exit_pipe_w = -1;

static void *marker_after(void *arg) {
    const char *m = arg;
    CHECK_ERR(weft_sleep(m[0] == 'N' ? 200 * WEFT_MSEC : 2 * WEFT_SEC), 0);
    ssize_t w = write(exit_pipe_w, m, 1);
    (void)w;
    return NULL;
}

/* Reads fd until end of file into buf (NUL-terminated); returns the length. */
static size_t read_all(int fd, char *buf, size_t cap) {
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        CHECK(r >= 0);
        if (r == 0)
            break;
        n += (size_t)r;
        CHECK_LT(n, cap - 1);
    }
    buf[n] = 0;
    return n;
}

static int wait_child(pid_t pid) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        CHECK_EQ(errno, EINTR);
    CHECK(WIFEXITED(st));
    return WEXITSTATUS(st);
}

WEFT_TEST(daemon_at_exit) {
    int p[2];
    CHECK_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        exit_pipe_w = p[1];
        weft_thread *n, *d;
        weft_thread_opts dopt = {.name = "daemon", .daemon = 1};
        if (weft_thread_start(&n, marker_after, "N", NULL) != 0 ||
            weft_thread_start(&d, marker_after, "D", &dopt) != 0)
            _exit(10);
        if (weft_thread_daemon(n) != 0 || weft_thread_daemon(d) != 1)
            _exit(11);
        /* Neither is joined (detached, so ThreadSanitizer does not call them leaked;
         * detaching changes nothing here): exit waits for the non-daemon one only. */
        if (weft_thread_detach(n) != 0 || weft_thread_detach(d) != 0)
            _exit(12);
        exit(0);
    }
    close(p[1]);
    int64_t t0 = weft_now();
    char buf[16];
    read_all(p[0], buf, sizeof buf); /* end of file when the child has exited */
    int64_t took = weft_now() - t0;
    close(p[0]);
    CHECK_EQ(wait_child(pid), 0);
    CHECK_STR_EQ(buf, "N");
    CHECK_GE(took, 150 * WEFT_MSEC);
    CHECK_LT(took, 1900 * WEFT_MSEC);
}

/* A non-daemon thread that calls exit() is not waited for by that exit (no deadlock),
 * but the other non-daemon threads are. */
static void *exiter(void *arg) {
    (void)arg;
    exit(3);
}

WEFT_TEST(exit_from_thread) {
    int p[2];
    CHECK_EQ(pipe(p), 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        exit_pipe_w = p[1];
        weft_thread *n, *x;
        if (weft_thread_start(&n, marker_after, "N", NULL) != 0 ||
            weft_thread_start(&x, exiter, NULL, NULL) != 0)
            _exit(10);
        if (weft_thread_detach(n) != 0 || weft_thread_detach(x) != 0)
            _exit(11);
        /* The main thread waits for a thread that never finishes: the exit() in the
         * other thread ends the process. */
        weft_event never;
        weft_event_init(&never);
        weft_event_wait(&never, WEFT_FOREVER);
        _exit(12);
    }
    close(p[1]);
    char buf[16];
    read_all(p[0], buf, sizeof buf);
    close(p[0]);
    CHECK_EQ(wait_child(pid), 3);
    CHECK_STR_EQ(buf, "N");
}

/* Threads started in a forked child of a process with weft threads: the parent's threads
 * do not exist there and must not be waited for at the child's exit. */
typedef struct {
    weft_event started, go;
} two_events;

static void *signal_then_wait(void *arg) {
    two_events *e = arg;
    CHECK_ERR(weft_event_set(&e->started), 0);
    CHECK_ERR(weft_event_wait(&e->go, WEFT_FOREVER), 0);
    return NULL;
}

WEFT_TEST(fork_resets_live_count) {
    two_events e;
    CHECK_ERR(weft_event_init(&e.started), 0);
    CHECK_ERR(weft_event_init(&e.go), 0);
    weft_thread *t;
    CHECK_ERR(weft_thread_start(&t, signal_then_wait, &e, NULL), 0);
    /* Fork only once the thread is parked: a thread caught inside the
     * allocator at fork time would leave the (sanitizer) allocator locked in
     * the child, whatever weft does. */
    CHECK_ERR(weft_event_wait(&e.started, weft_after_sec(10)), 0);
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0)
        exit(0); /* would hang if it waited for the parent's thread */
    CHECK_EQ(wait_child(pid), 0);
    CHECK_ERR(weft_event_set(&e.go), 0);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, NULL), 0);
}

/* -------------------------------------------- coroutines inside a thread */

enum { NCORO = 1000 };

static void *coro_send(void *arg) {
    weft_chan *ch = arg;
    int v = (int)weft_coro_id(weft_self());
    CHECK_ERR(weft_yield(), 0);
    CHECK_ERR(weft_chan_send(ch, &v, WEFT_FOREVER), 0);
    return NULL;
}

static void *thousand(void *arg) {
    (void)arg;
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(int), 0), 0);
    weft_coro *cs = calloc(NCORO, sizeof *cs);
    CHECK(cs != NULL);
    long long expect = 0;
    for (int i = 0; i < NCORO; i++) {
        CHECK_ERR(weft_spawn(&cs[i], coro_send, ch, NULL), 0);
        expect += (long long)weft_coro_id(cs[i]);
    }
    long long sum = 0;
    for (int i = 0; i < NCORO; i++) {
        int v;
        CHECK_ERR(weft_chan_recv(ch, &v, WEFT_FOREVER), 0);
        sum += v;
    }
    CHECK_EQ(sum, expect);
    CHECK_ERR(weft_joinall(cs, NCORO, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_chan_destroy(ch), 0);
    free(cs);
    return (void *)(intptr_t)NCORO;
}

WEFT_TEST(thread_runs_coroutines) {
    CHECK_OK(test_alloc_install());
    weft_thread *t;
    CHECK_ERR(weft_thread_start(&t, thousand, NULL, NULL), 0);
    void *res = NULL;
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, NCORO);
    /* Its scheduler, all its coroutines and the channel are gone. */
    CHECK_NO_LEAKS();
}

/* -------------------------------------------------- 64 threads at once */

enum { NTHREADS = 64, NSTARTERS = 8 };

static weft_barrier many_barrier;
static atomic_int many_seen[NTHREADS + 1];

static void *many_fn(void *arg) {
    int r = weft_barrier_wait(&many_barrier, weft_after(30 * WEFT_SEC));
    CHECK(r >= 0);
    unsigned long n = 0;
    CHECK_EQ(sscanf(weft_thread_current_name(), "Thread-%lu", &n), 1);
    CHECK(n >= 1 && n <= NTHREADS);
    atomic_fetch_add(&many_seen[n], 1);
    return (void *)((intptr_t)arg * 2);
}

static void *many_starter(void *arg) {
    intptr_t base = (intptr_t)arg;
    weft_thread *ts[NTHREADS / NSTARTERS];
    for (int i = 0; i < NTHREADS / NSTARTERS; i++)
        CHECK_ERR(weft_thread_start(&ts[i], many_fn, (void *)(base + i), NULL), 0);
    for (int i = 0; i < NTHREADS / NSTARTERS; i++) {
        void *res = NULL;
        CHECK_ERR(weft_thread_join(ts[i], WEFT_FOREVER, &res), 0);
        CHECK_EQ((intptr_t)res, (base + i) * 2);
    }
    return NULL;
}

WEFT_TEST(many_threads) {
    CHECK_OK(test_alloc_install());
    /* All 64 are alive at once (the barrier), started and joined from 8 threads. */
    CHECK_ERR(weft_barrier_init(&many_barrier, NTHREADS), 0);
    weft_thread_opts so = {.name = "starter"};
    weft_thread *starters[NSTARTERS];
    for (int i = 0; i < NSTARTERS; i++)
        CHECK_ERR(weft_thread_start(&starters[i], many_starter,
                                    (void *)(intptr_t)(i * (NTHREADS / NSTARTERS)), &so),
                  0);
    for (int i = 0; i < NSTARTERS; i++)
        CHECK_ERR(weft_thread_join(starters[i], WEFT_FOREVER, NULL), 0);
    for (int i = 1; i <= NTHREADS; i++)
        CHECK_EQ(atomic_load(&many_seen[i]), 1); /* every number exactly once */
    CHECK_ERR(weft_barrier_destroy(&many_barrier), 0);
    CHECK_NO_LEAKS();
}

/* ---------------------------------------------------------------- bad input */

WEFT_TEST(bad_input) {
    CHECK_OK(test_alloc_install());
    weft_thread *t = NULL;
    weft_thread_opts small = {.stack_size = 64 * 1024 - 1};
    CHECK_ERR(weft_thread_start(NULL, add_one, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_thread_start(&t, NULL, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_thread_start(&t, add_one, NULL, &small), -EINVAL);
    CHECK_PTR_EQ(t, NULL);
    CHECK_ERR(weft_thread_join(NULL, WEFT_FOREVER, NULL), -EINVAL);
    CHECK_ERR(weft_thread_detach(NULL), -EINVAL);
    CHECK_EQ(weft_thread_is_alive(NULL), 0);
    CHECK_PTR_EQ(weft_thread_name(NULL), NULL);
    CHECK_EQ(weft_thread_native_id(NULL), 0);
    CHECK_EQ(weft_thread_daemon(NULL), 0);
    CHECK_NO_LEAKS();

    /* The smallest allowed stack, and an odd size that gets rounded up, work. */
    weft_thread_opts ok64 = {.stack_size = 64 * 1024};
    weft_thread_opts odd = {.stack_size = 100 * 1000 + 1};
    void *res = NULL;
    CHECK_ERR(weft_thread_start(&t, add_one, (void *)1, &ok64), 0);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 2);
    CHECK_ERR(weft_thread_start(&t, add_one, (void *)2, &odd), 0);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 3);
    CHECK_NO_LEAKS();

    /* Out of memory: -ENOMEM and nothing left behind. */
    test_alloc_fail_after(0);
    t = NULL;
    CHECK_ERR(weft_thread_start(&t, add_one, NULL, NULL), -ENOMEM);
    CHECK_PTR_EQ(t, NULL);
    test_alloc_fail_after(-1);
    CHECK_NO_LEAKS();
}

/* The stack a thread actually got: at least what was asked (rounded to pages) and at least
 * the platform's minimum, which on aarch64 glibc (128 KiB) is above weft's 64 KiB. */
static void *stack_size_of_self(void *arg) {
    (void)arg;
    pthread_attr_t a;
    size_t sz = 0;
    if (pthread_getattr_np(pthread_self(), &a) != 0)
        return NULL;
    pthread_attr_getstacksize(&a, &sz);
    pthread_attr_destroy(&a);
    return (void *)(uintptr_t)sz;
}

WEFT_TEST(stack_size_platform_minimum) {
    size_t pmin = (size_t)sysconf(_SC_THREAD_STACK_MIN);
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t asks[] = {64 * 1024, 64 * 1024 + 1, 100 * 1000 + 1, pmin, pmin + 1, 1024 * 1024};
    for (size_t i = 0; i < sizeof asks / sizeof asks[0]; i++) {
        if (asks[i] < 64 * 1024)
            continue;
        weft_thread_opts o = {.stack_size = asks[i]};
        weft_thread *t = NULL;
        void *res = NULL;
        CHECK_ERR(weft_thread_start(&t, stack_size_of_self, NULL, &o), 0);
        CHECK_ERR(weft_thread_join(t, weft_after(10 * WEFT_SEC), &res), 0);
        size_t got = (size_t)(uintptr_t)res;
        size_t want = (asks[i] + page - 1) / page * page;
        if (want < pmin)
            want = pmin;
        CHECK(got >= want);
    }
    weft_thread_opts huge = {.stack_size = SIZE_MAX};
    weft_thread *t = NULL;
    CHECK_ERR(weft_thread_start(&t, stack_size_of_self, NULL, &huge), -EINVAL);
    CHECK_PTR_EQ(t, NULL);
}

/* ---- coroutine servers: weft_thread_spawn / weft_thread_stop ---------- */

typedef struct {
    weft_chan *out;
    long v;
} serve_job;

static void *serve_send(void *arg) {
    serve_job *j = arg;
    long v = j->v;
    /* Runs on the server thread: report which thread and the value. */
    CHECK_EQ(weft_thread_current_id() != 0, 1);
    CHECK_ERR(weft_chan_send(j->out, &v, WEFT_FOREVER), 0);
    return NULL;
}

WEFT_TEST(serve_spawn_from_plain_thread) {
    weft_thread *t;
    weft_thread_opts o = {.name = "server", .serve = 1};
    CHECK_ERR(weft_thread_start(&t, NULL, NULL, &o), 0);
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(long), 0), 0);
    static serve_job jobs[100];
    for (long i = 0; i < 100; i++) {
        jobs[i] = (serve_job){ch, i};
        weft_coro_opts co = {.stack_mode = i % 2 ? WEFT_STACK_SHARED : WEFT_STACK_GUARDED};
        CHECK_ERR(weft_thread_spawn(t, serve_send, &jobs[i], &co), 0);
    }
    long sum = 0, v;
    for (int i = 0; i < 100; i++) {
        CHECK_ERR(weft_chan_recv(ch, &v, weft_after_sec(10)), 0);
        sum += v;
    }
    CHECK_EQ(sum, 4950);
    CHECK_ERR(weft_thread_stop(t), 0);
    CHECK_ERR(weft_thread_join(t, weft_after_sec(10), NULL), 0);
    CHECK_ERR(weft_chan_destroy(ch), 0);
}

static void *spawner_coro(void *arg) {
    weft_thread *t = arg;
    weft_chan *ch;
    CHECK_ERR(weft_chan_create(&ch, sizeof(long), 4), 0);
    serve_job j = {ch, 7};
    /* The job lives on this (GUARDED) coroutine's stack until the value
     * comes back: the spawn itself returns once the server created it. */
    CHECK_ERR(weft_thread_spawn(t, serve_send, &j, NULL), 0);
    long v = 0;
    CHECK_ERR(weft_chan_recv(ch, &v, weft_after_sec(10)), 0);
    CHECK_EQ(v, 7);
    CHECK_ERR(weft_chan_destroy(ch), 0);
    return NULL;
}

static void *spawner_thread(void *arg) {
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, spawner_coro, arg, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    return NULL;
}

WEFT_TEST(serve_spawn_from_coroutines_and_stop) {
    weft_thread *t, *u;
    weft_thread_opts o = {.serve = 1};
    CHECK_ERR(weft_thread_start(&t, NULL, NULL, &o), 0);
    CHECK_ERR(weft_thread_start(&u, spawner_thread, t, NULL), 0);
    CHECK_ERR(weft_thread_join(u, weft_after_sec(10), NULL), 0);
    CHECK_ERR(weft_thread_stop(t), 0);
    /* Alive until it has stopped serving and its coroutines ended. */
    int64_t d = weft_after_sec(10);
    while (weft_thread_is_alive(t) && weft_now() < d)
        weft_sleep(WEFT_MSEC);
    CHECK_EQ(weft_thread_is_alive(t), 0);
    CHECK_ERR(weft_thread_spawn(t, serve_send, NULL, NULL), -ESRCH);
    CHECK_ERR(weft_thread_join(t, weft_after_sec(10), NULL), 0);
}

static void *plain_fn(void *arg) {
    return arg;
}

WEFT_TEST(serve_bad_input) {
    weft_thread *t;
    CHECK_ERR(weft_thread_start(&t, NULL, NULL, NULL), -EINVAL); /* fn NULL, not serving */
    CHECK_ERR(weft_thread_start(&t, plain_fn, NULL, NULL), 0);
    CHECK_ERR(weft_thread_spawn(t, serve_send, NULL, NULL), -EINVAL); /* not a server */
    CHECK_ERR(weft_thread_stop(t), -EINVAL);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, NULL), 0);
    weft_thread_opts o = {.serve = 1};
    CHECK_ERR(weft_thread_start(&t, NULL, NULL, &o), 0);
    weft_coro_opts sus = {.suspended = 1};
    CHECK_ERR(weft_thread_spawn(t, serve_send, NULL, &sus), -EINVAL);
    CHECK_ERR(weft_thread_spawn(t, NULL, NULL, NULL), -EINVAL);
    weft_coro_opts bad = {.stack_size = 1};
    CHECK_ERR(weft_thread_spawn(t, serve_send, NULL, &bad), -EINVAL); /* reported by the server */
    CHECK_ERR(weft_thread_spawn(NULL, serve_send, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_thread_stop(t), 0);
    CHECK_ERR(weft_thread_join(t, weft_after_sec(10), NULL), 0);
}

/* 20 WEFT_STACK_SHARED coroutines each start a thread with a pointer to a
 * local and join it; the thread writes its result there. Canaries check
 * that no other coroutine's stack was touched. */
#define TH_SHARED_N 20
struct th_job {
    int in, out;
};
static void *th_job_fn(void *arg) {
    struct th_job *j = arg;
    j->out = j->in * 2 + 1;
    return &j->out;
}
static atomic_int th_shared_ok;
static void *th_shared_coro(void *arg) {
    int id = (int)(intptr_t)arg;
    volatile unsigned char canary[512];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 13 + i);
    struct th_job j = {.in = id, .out = -1};
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, th_job_fn, &j, NULL));
    void *res = NULL;
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, &res));
    CHECK_PTR_EQ(res, &j.out);
    CHECK_EQ(j.out, id * 2 + 1);
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 13 + i));
    atomic_fetch_add(&th_shared_ok, 1);
    return NULL;
}
static void th_shared_body(void) {
    weft_coro c[TH_SHARED_N];
    weft_coro_opts o = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < TH_SHARED_N; i++)
        CHECK_OK(weft_spawn(&c[i], th_shared_coro, (void *)(intptr_t)i, &o));
    CHECK_OK(weft_joinall(c, TH_SHARED_N, weft_after(30 * WEFT_SEC), NULL));
    CHECK_EQ(atomic_load(&th_shared_ok), TH_SHARED_N);
}
WEFT_TEST(join_from_shared_stack_coroutines) {
    run_in_thread(th_shared_body);
}

/* 20 WEFT_STACK_SHARED coroutines spawn onto a server thread with the
 * coroutine's name in a buffer on their stacks; the server reads it while
 * they wait. Canaries check their stacks. */
#define SP_SHARED_N 20
static weft_chan *sp_names;
static void *sp_named(void *arg) {
    int id = (int)(intptr_t)arg;
    char want[32];
    snprintf(want, sizeof want, "job-%d-%s", id, "abcdefghijklmnop");
    const char *name = weft_coro_name(weft_self());
    int ok = name && strcmp(name, want) == 0;
    CHECK_OK(weft_chan_send(sp_names, &ok, WEFT_FOREVER));
    return NULL;
}
static void *sp_spawner(void *arg) {
    weft_thread *t = arg;
    static atomic_int next;
    int id = atomic_fetch_add(&next, 1);
    volatile unsigned char canary[512];
    for (size_t i = 0; i < sizeof canary; i++)
        canary[i] = (unsigned char)(id * 19 + i);
    char name[32];
    snprintf(name, sizeof name, "job-%d-%s", id, "abcdefghijklmnop");
    weft_coro_opts co = {.name = name, .detached = 1};
    CHECK_OK(weft_thread_spawn(t, sp_named, (void *)(intptr_t)id, &co));
    for (size_t i = 0; i < sizeof canary; i++)
        CHECK_EQ(canary[i], (unsigned char)(id * 19 + i));
    return NULL;
}
WEFT_TEST(serve_spawn_from_shared_stack_coroutines) {
    weft_thread *t;
    weft_thread_opts o = {.serve = 1};
    CHECK_OK(weft_thread_start(&t, NULL, NULL, &o));
    CHECK_OK(weft_chan_create(&sp_names, sizeof(int), SP_SHARED_N));
    weft_coro c[SP_SHARED_N];
    weft_coro_opts sh = {.stack_mode = WEFT_STACK_SHARED};
    for (int i = 0; i < SP_SHARED_N; i++)
        CHECK_OK(weft_spawn(&c[i], sp_spawner, t, &sh));
    CHECK_OK(weft_joinall(c, SP_SHARED_N, weft_after_sec(10), NULL));
    for (int i = 0; i < SP_SHARED_N; i++) {
        int ok = 0;
        CHECK_OK(weft_chan_recv(sp_names, &ok, weft_after_sec(10)));
        CHECK_EQ(ok, 1);
    }
    CHECK_OK(weft_thread_stop(t));
    CHECK_OK(weft_thread_join(t, weft_after_sec(10), NULL));
    CHECK_OK(weft_chan_destroy(sp_names));
}

WEFT_MAIN()

/* ------------------------------------------------- ident, enumerate, active_count */

typedef struct enum_arg {
    weft_event started, go;
    uint64_t ident;
} enum_arg;

static void *report_ident_and_wait(void *p) {
    enum_arg *a = p;
    a->ident = weft_thread_ident();
    CHECK_ERR(weft_event_set(&a->started), 0);
    CHECK_ERR(weft_event_wait(&a->go, WEFT_FOREVER), 0);
    return (void *)(uintptr_t)weft_thread_ident();
}

/* Sorted-insensitive membership. */
static int has_ident(const uint64_t *ids, int n, uint64_t id) {
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

WEFT_TEST(ident_enumerate_active_count) {
    CHECK_OK(test_alloc_install());
    /* The test body runs on the process's initial thread. */
    CHECK_EQ(weft_thread_ident(), 1);
    CHECK_EQ(weft_thread_ident(), 1);
    CHECK_EQ(weft_thread_active_count(), 1);
    uint64_t ids[8] = {0};
    CHECK_EQ(weft_thread_enumerate(ids, 8), 1);
    CHECK_EQ(ids[0], 1);
    CHECK_EQ(weft_thread_enumerate(NULL, 0), 1);
    CHECK_ERR(weft_thread_enumerate(NULL, 1), -EINVAL);
    CHECK_ERR(weft_thread_enumerate(ids, -1), -EINVAL);

    enum_arg a[3];
    weft_thread *t[3];
    for (int i = 0; i < 3; i++) {
        CHECK_ERR(weft_event_init(&a[i].started), 0);
        CHECK_ERR(weft_event_init(&a[i].go), 0);
        CHECK_ERR(weft_thread_start(&t[i], report_ident_and_wait, &a[i], NULL), 0);
        /* Listed as soon as start returns, before it has run. */
        CHECK_EQ(weft_thread_active_count(), 2 + i);
    }
    for (int i = 0; i < 3; i++)
        CHECK_ERR(weft_event_wait(&a[i].started, weft_after(10 * WEFT_SEC)), 0);
    /* Exactly the initial thread and the three, in start order; idents distinct. */
    memset(ids, 0, sizeof ids);
    CHECK_EQ(weft_thread_enumerate(ids, 8), 4);
    CHECK_EQ(ids[0], 1);
    for (int i = 0; i < 3; i++) {
        CHECK_GT(a[i].ident, 1);
        CHECK_EQ(ids[1 + i], a[i].ident);
    }
    CHECK(a[0].ident != a[1].ident && a[1].ident != a[2].ident && a[0].ident != a[2].ident);
    /* Too little room: the count is still the total, only max are written. */
    uint64_t two[3] = {0, 0, 77};
    CHECK_EQ(weft_thread_enumerate(two, 2), 4);
    CHECK_EQ(two[0], 1);
    CHECK_EQ(two[1], a[0].ident);
    CHECK_EQ(two[2], 77);

    /* The middle one finishes: it leaves the list once joined (its fn returned). */
    CHECK_ERR(weft_event_set(&a[1].go), 0);
    void *res = NULL;
    CHECK_ERR(weft_thread_join(t[1], WEFT_FOREVER, &res), 0);
    CHECK_EQ((uint64_t)(uintptr_t)res, a[1].ident); /* stable for the thread's lifetime */
    memset(ids, 0, sizeof ids);
    CHECK_EQ(weft_thread_enumerate(ids, 8), 3);
    CHECK_EQ(ids[0], 1);
    CHECK_EQ(ids[1], a[0].ident);
    CHECK_EQ(ids[2], a[2].ident);
    CHECK(!has_ident(ids, 3, a[1].ident));

    for (int i = 0; i < 3; i += 2) {
        CHECK_ERR(weft_event_set(&a[i].go), 0);
        CHECK_ERR(weft_thread_join(t[i], WEFT_FOREVER, NULL), 0);
    }
    CHECK_EQ(weft_thread_active_count(), 1);
    for (int i = 0; i < 3; i++) {
        CHECK_ERR(weft_event_destroy(&a[i].started), 0);
        CHECK_ERR(weft_event_destroy(&a[i].go), 0);
    }
    CHECK_NO_LEAKS();
}

/* A thread weft did not start lists the initial thread, then itself. */
static void *foreign_enumerate(void *p) {
    uint64_t *out = p;
    out[0] = weft_thread_ident();
    out[1] = (uint64_t)weft_thread_enumerate(out + 2, 4);
    out[6] = weft_thread_ident();
    return NULL;
}

WEFT_TEST(ident_foreign_thread) {
    CHECK_EQ(weft_thread_ident(), 1);
    uint64_t out[7] = {0}, out2[7] = {0};
    pthread_t pt;
    CHECK_EQ(pthread_create(&pt, NULL, foreign_enumerate, out), 0);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    CHECK_EQ(pthread_create(&pt, NULL, foreign_enumerate, out2), 0);
    CHECK_EQ(pthread_join(pt, NULL), 0);
    CHECK_GT(out[0], 1);
    CHECK_EQ(out[6], out[0]);
    CHECK_EQ(out[1], 2);
    CHECK_EQ(out[2], 1);
    CHECK_EQ(out[3], out[0]);
    /* Never reused, even though the kernel may reuse the thread id. */
    CHECK_GT(out2[0], 1);
    CHECK(out2[0] != out[0]);
    CHECK_EQ(weft_thread_active_count(), 1);
}

/* In a forked child, the forking weft thread is the main thread (listed once). */
static void *fork_and_enumerate(void *p) {
    (void)p;
    uint64_t me = weft_thread_ident();
    CHECK_GT(me, 1);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        uint64_t ids[4] = {0};
        int n = weft_thread_enumerate(ids, 4);
        _exit(n == 1 && ids[0] == me && weft_thread_ident() == me ? 0 : 1);
    }
    int st = 0;
    CHECK_EQ(waitpid(pid, &st, 0), pid);
    CHECK(WIFEXITED(st));
    CHECK_EQ(WEXITSTATUS(st), 0);
    return NULL;
}

WEFT_TEST(enumerate_after_fork) {
    weft_thread *t;
    CHECK_ERR(weft_thread_start(&t, fork_and_enumerate, NULL, NULL), 0);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, NULL), 0);
}

/* ------------------------------------------------------------------ timer */

static atomic_int timer_calls;
static void *timer_fn(void *arg) {
    atomic_fetch_add(&timer_calls, 1);
    return (void *)((intptr_t)arg * 2);
}

WEFT_TEST(timer_fires_once) {
    CHECK_OK(test_alloc_install());
    atomic_store(&timer_calls, 0);
    weft_thread *t;
    int64_t start = weft_now();
    CHECK_ERR(weft_timer_start(&t, 20 * WEFT_MSEC, timer_fn, (void *)21), 0);
    CHECK_EQ(weft_thread_active_count(), 2);
    void *res = NULL;
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 42);
    CHECK_EQ(atomic_load(&timer_calls), 1);
    CHECK_GE(weft_now() - start, 20 * WEFT_MSEC); /* not before its delay */
    CHECK_EQ(weft_thread_active_count(), 1);

    /* Cancel after it fired: too late, nothing changes. */
    CHECK_ERR(weft_timer_start(&t, 0, timer_fn, (void *)1), 0);
    wait_not_alive(t);
    CHECK_EQ(weft_timer_cancel(t), 1);
    CHECK_EQ(weft_timer_cancel(t), 1);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, &res), 0);
    CHECK_EQ((intptr_t)res, 2);
    CHECK_EQ(atomic_load(&timer_calls), 2);
    CHECK_NO_LEAKS();
}

WEFT_TEST(timer_cancelled_never_runs) {
    CHECK_OK(test_alloc_install());
    atomic_store(&timer_calls, 0);
    weft_thread *t;
    CHECK_ERR(weft_timer_start(&t, 3600 * WEFT_SEC, timer_fn, (void *)5), 0);
    CHECK_EQ(weft_thread_is_alive(t), 1);
    CHECK_ERR(weft_thread_join(t, WEFT_NOWAIT, NULL), -ETIMEDOUT);
    CHECK_EQ(weft_timer_cancel(t), 0);
    CHECK_EQ(weft_timer_cancel(t), 0); /* again: still cancelled */
    void *res = (void *)1;
    /* The cancel wakes it: the join returns long before the hour. */
    CHECK_ERR(weft_thread_join(t, weft_after(30 * WEFT_SEC), &res), 0);
    CHECK_EQ(res, NULL);
    CHECK_EQ(atomic_load(&timer_calls), 0);

    /* Detached after cancel: frees itself. */
    CHECK_ERR(weft_timer_start(&t, 3600 * WEFT_SEC, timer_fn, NULL), 0);
    CHECK_EQ(weft_timer_cancel(t), 0);
    CHECK_ERR(weft_thread_detach(t), 0);
    int64_t end = weft_after(10 * WEFT_SEC);
    while (weft_thread_active_count() > 1) {
        CHECK_LT(weft_now(), end);
        sched_yield();
    }
    CHECK_EQ(atomic_load(&timer_calls), 0);
    end = weft_after(10 * WEFT_SEC);
    while (test_alloc_live() != 0) { /* the record is freed right after it leaves the list */
        CHECK_LT(weft_now(), end);
        sched_yield();
    }
    CHECK_NO_LEAKS();
}

/* Cancel from a coroutine on another thread, racing a short timer: either fn ran
 * exactly once and cancel said 1, or it never ran and cancel said 0. */
static weft_thread *race_timer;
static int race_cancel_result;
static void *cancel_from_coro(void *arg) {
    (void)arg;
    race_cancel_result = weft_timer_cancel(race_timer);
    return NULL;
}
static void *race_body(void *arg) {
    (void)arg;
    weft_coro c;
    CHECK_ERR(weft_spawn(&c, cancel_from_coro, NULL, NULL), 0);
    CHECK_ERR(weft_join(c, WEFT_FOREVER, NULL), 0);
    return NULL;
}

WEFT_TEST(timer_cancel_race) {
    for (int i = 0; i < 200; i++) {
        atomic_store(&timer_calls, 0);
        CHECK_ERR(weft_timer_start(&race_timer, (i % 5) * WEFT_USEC, timer_fn, (void *)1), 0);
        pthread_t pt;
        CHECK_EQ(pthread_create(&pt, NULL, race_body, NULL), 0);
        CHECK_EQ(pthread_join(pt, NULL), 0);
        void *res = NULL;
        CHECK_ERR(weft_thread_join(race_timer, WEFT_FOREVER, &res), 0);
        if (race_cancel_result == 0) {
            CHECK_EQ(atomic_load(&timer_calls), 0);
            CHECK_EQ(res, NULL);
        } else {
            CHECK_EQ(race_cancel_result, 1);
            CHECK_EQ(atomic_load(&timer_calls), 1);
            CHECK_EQ((intptr_t)res, 2);
        }
    }
}

WEFT_TEST(timer_bad_input) {
    weft_thread *t;
    CHECK_ERR(weft_timer_start(NULL, 0, timer_fn, NULL), -EINVAL);
    CHECK_ERR(weft_timer_start(&t, 0, NULL, NULL), -EINVAL);
    CHECK_ERR(weft_timer_start(&t, -1, timer_fn, NULL), -EINVAL);
    CHECK_ERR(weft_timer_cancel(NULL), -EINVAL);
    /* A plain thread is not a timer. */
    weft_event ev;
    CHECK_ERR(weft_event_init(&ev), 0);
    CHECK_ERR(weft_thread_start(&t, wait_event, &ev, NULL), 0);
    CHECK_ERR(weft_timer_cancel(t), -EINVAL);
    CHECK_ERR(weft_event_set(&ev), 0);
    CHECK_ERR(weft_thread_join(t, WEFT_FOREVER, NULL), 0);
    CHECK_ERR(weft_event_destroy(&ev), 0);
    /* Allocation failure: nothing leaks, nothing started. */
    CHECK_OK(test_alloc_install());
    for (int n = 0; n < 2; n++) {
        test_alloc_fail_after(n);
        int r = weft_timer_start(&t, 0, timer_fn, NULL);
        test_alloc_fail_after(-1);
        CHECK_ERR(r, -ENOMEM);
        CHECK_NO_LEAKS();
    }
    CHECK_EQ(weft_thread_active_count(), 1);
}

/* ---------------------------------------------------------------- excepthook */

/* What the recording hook saw (one failure at a time in these cases). */
typedef struct {
    atomic_int calls;
    char name[64];
    uint64_t ident;    /* args->ident */
    uint64_t on_ident; /* weft_thread_ident() inside the hook: the failing thread */
    int err;
    weft_thread *thread;
    weft_task_fn task;
    void *arg;
    int listed; /* the failing thread was still in weft_thread_enumerate */
    void *ud;
} hook_rec;

static void recording_hook(const weft_excepthook_args *a, void *ud) {
    hook_rec *h = ud;
    snprintf(h->name, sizeof h->name, "%s", a->thread_name);
    h->ident = a->ident;
    h->on_ident = weft_thread_ident();
    h->err = a->err;
    h->thread = a->thread;
    h->task = a->task;
    h->arg = a->arg;
    h->ud = ud;
    uint64_t ids[64];
    int n = weft_thread_enumerate(ids, 64);
    h->listed = 0;
    for (int i = 0; i < n && i < 64; i++)
        h->listed |= ids[i] == a->ident;
    atomic_fetch_add(&h->calls, 1);
}

static uint64_t failing_ident;
static void *fail_eio(void *arg) {
    failing_ident = weft_thread_ident();
    CHECK_OK(weft_thread_fail(-EPERM));
    CHECK_OK(weft_thread_fail(-EIO)); /* the last one counts */
    return arg;
}
static void *no_fail(void *arg) {
    return arg;
}

WEFT_TEST(excepthook_thread_fail) {
    static hook_rec h;
    weft_excepthook_fn fn = NULL;
    void *ud = &h;
    CHECK_OK(weft_thread_get_excepthook(&fn, &ud));
    CHECK(fn == weft_thread_excepthook_default);
    CHECK_PTR_EQ(ud, NULL);
    weft_thread_set_excepthook(recording_hook, &h);
    CHECK_OK(weft_thread_get_excepthook(&fn, &ud));
    CHECK(fn == recording_hook);
    CHECK_PTR_EQ(ud, &h);
    weft_thread *t;
    weft_thread_opts o = {.name = "failer"};
    CHECK_OK(weft_thread_start(&t, fail_eio, (void *)7, &o));
    weft_thread *handle = t;
    void *res = NULL;
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, &res)); /* the join is unaffected */
    CHECK_PTR_EQ(res, (void *)7);
    /* the hook ran before the join returned, on the failing thread, while listed */
    CHECK_EQ(atomic_load(&h.calls), 1);
    CHECK_STR_EQ(h.name, "failer");
    CHECK_EQ(h.ident, failing_ident);
    CHECK_EQ(h.on_ident, failing_ident);
    CHECK_ERR(h.err, -EIO);
    CHECK_PTR_EQ(h.thread, handle);
    CHECK(h.task == NULL);
    CHECK_EQ(h.listed, 1);
    /* a thread that does not fail is not reported */
    CHECK_OK(weft_thread_start(&t, no_fail, NULL, NULL));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    CHECK_EQ(atomic_load(&h.calls), 1);
    /* back to the default */
    weft_thread_set_excepthook(NULL, &h);
    CHECK_OK(weft_thread_get_excepthook(&fn, &ud));
    CHECK(fn == weft_thread_excepthook_default);
    CHECK_PTR_EQ(ud, NULL);
}

/* Timers and thread objects fail the same way. */
static void *timer_fails(void *arg) {
    (void)arg;
    CHECK_OK(weft_thread_fail(-ETIMEDOUT));
    return NULL;
}
typedef struct {
    weft_thread_obj base;
    int err;
} failing_obj;
static void *obj_fails(weft_thread_obj *self) {
    failing_obj *o = WEFT_CONTAINER_OF(self, failing_obj, base);
    CHECK_OK(weft_thread_fail(o->err));
    return NULL;
}

WEFT_TEST(excepthook_timer_and_obj) {
    static hook_rec h;
    weft_thread_set_excepthook(recording_hook, &h);
    weft_thread *t;
    CHECK_OK(weft_timer_start(&t, 0, timer_fails, NULL));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    CHECK_EQ(atomic_load(&h.calls), 1);
    CHECK_ERR(h.err, -ETIMEDOUT);
    CHECK_EQ(strncmp(h.name, "Thread-", 7), 0);
    failing_obj o = {{obj_fails, NULL}, -ENOSPC};
    weft_thread_opts opts = {.name = "obj"};
    CHECK_OK(weft_thread_obj_start(&o.base, &opts));
    CHECK_OK(weft_thread_obj_join(&o.base, WEFT_FOREVER, NULL));
    CHECK_EQ(atomic_load(&h.calls), 2);
    CHECK_ERR(h.err, -ENOSPC);
    CHECK_STR_EQ(h.name, "obj");
}

static int pool_task_fail(void *arg, void **result) {
    (void)result;
    return (int)(intptr_t)arg;
}
static int pool_task_thread_fail(void *arg, void **result) {
    (void)arg;
    (void)result;
    return weft_thread_fail(-EIO); /* a pool worker is not a weft thread */
}

WEFT_TEST(excepthook_pool_fire_and_forget) {
    static hook_rec h;
    weft_thread_set_excepthook(recording_hook, &h);
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, 1));
    /* held futures are not reported, whatever they return */
    weft_future *f;
    CHECK_OK(weft_pool_submit(p, pool_task_fail, (void *)(intptr_t)-EDOM, &f));
    CHECK_ERR(weft_future_result(f, WEFT_FOREVER, NULL), -EDOM);
    weft_future_release(f);
    CHECK_OK(weft_pool_submit(p, pool_task_thread_fail, NULL, &f));
    CHECK_ERR(weft_future_result(f, WEFT_FOREVER, NULL), -ESRCH);
    weft_future_release(f);
    /* fire-and-forget: success is silent, failure is reported on the worker */
    CHECK_OK(weft_pool_submit(p, pool_task_fail, (void *)(intptr_t)3, NULL));
    CHECK_OK(weft_pool_submit(p, pool_task_fail, (void *)(intptr_t)-EXDEV, NULL));
    CHECK_OK(weft_pool_shutdown(p, 1, 0)); /* the hook runs before the task completes */
    CHECK_EQ(atomic_load(&h.calls), 1);
    CHECK_ERR(h.err, -EXDEV);
    CHECK(h.task == pool_task_fail);
    CHECK_PTR_EQ(h.arg, (void *)(intptr_t)-EXDEV);
    CHECK(h.thread == NULL);
    CHECK_EQ(h.on_ident, h.ident);
    CHECK_NE(h.ident, weft_thread_ident()); /* not the submitter */
    CHECK_EQ(strncmp(h.name, "Dummy-", 6), 0);
    CHECK_OK(weft_pool_destroy(p));
}

WEFT_TEST(excepthook_bad_input) {
    CHECK_ERR(weft_thread_fail(0), -EINVAL);
    CHECK_ERR(weft_thread_fail(5), -EINVAL);
    CHECK_ERR(weft_thread_fail(-EIO), -ESRCH);  /* the initial thread */
    weft_thread_excepthook_default(NULL, NULL); /* no-op */
    CHECK_ERR(weft_thread_get_excepthook(NULL, NULL), -EINVAL);
}

/* The default hook: one line on descriptor 2. */
static char *capture_stderr(void (*fn)(void)) {
    char path[] = "/tmp/weft-hookXXXXXX";
    int fd = mkstemp(path);
    CHECK_GE(fd, 0);
    unlink(path);
    int saved = dup(2);
    CHECK_GE(saved, 0);
    CHECK_GE(dup2(fd, 2), 0);
    fn();
    CHECK_GE(dup2(saved, 2), 0);
    close(saved);
    static char buf[1024];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    CHECK_GE(n, 0);
    buf[n] = 0;
    close(fd);
    return buf;
}

static void *fail_quietly(void *arg) {
    failing_ident = weft_thread_ident();
    CHECK_OK(weft_thread_fail((int)(intptr_t)arg));
    return NULL;
}
static void default_thread(void) {
    weft_thread *t;
    weft_thread_opts o = {.name = "worker-7"};
    CHECK_OK(weft_thread_start(&t, fail_quietly, (void *)(intptr_t)-EIO, &o));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
}
static void default_pool(void) {
    weft_pool *p;
    CHECK_OK(weft_pool_create(&p, 1));
    CHECK_OK(weft_pool_submit(p, pool_task_fail, (void *)(intptr_t)-ECANCELED, NULL));
    CHECK_OK(weft_pool_destroy(p));
}

WEFT_TEST(excepthook_default_line) {
    char want[256];
    char *got = capture_stderr(default_thread);
    snprintf(want, sizeof want, "Exception in thread worker-7 (ident %llu): %s (%d)\n",
             (unsigned long long)failing_ident, weft_strerror(-EIO), -EIO);
    CHECK_STR_EQ(got, want);
    got = capture_stderr(default_pool);
    CHECK_EQ(strncmp(got, "Exception in a fire-and-forget pool task on thread Dummy-", 57), 0);
    snprintf(want, sizeof want, "): %s (%d)\n", weft_strerror(-ECANCELED), -ECANCELED);
    CHECK(strstr(got, want) != NULL);
    CHECK_EQ(strchr(got, '\n') - got + 1, (long)strlen(got)); /* one line */
}

/* A hook may replace itself while it runs (it is called outside the lock). */
static atomic_int swaps;
static void swapping_hook(const weft_excepthook_args *a, void *ud) {
    (void)a;
    (void)ud;
    atomic_fetch_add(&swaps, 1);
    weft_thread_set_excepthook(NULL, NULL);
}

WEFT_TEST(excepthook_replaced_inside) {
    weft_thread_set_excepthook(swapping_hook, NULL);
    weft_thread *t;
    CHECK_OK(weft_thread_start(&t, fail_quietly, (void *)(intptr_t)-EAGAIN, NULL));
    CHECK_OK(weft_thread_join(t, WEFT_FOREVER, NULL));
    CHECK_EQ(atomic_load(&swaps), 1);
    weft_excepthook_fn fn;
    CHECK_OK(weft_thread_get_excepthook(&fn, NULL));
    CHECK(fn == weft_thread_excepthook_default);
}
