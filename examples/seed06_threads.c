/*
 * seed06_threads: the seed's threading example (section 6), in C.
 *
 * The Python original:
 *
 *     def say(name):
 *         print("hello {}".format(name))
 *
 *     t1 = threading.Thread(target=say, args=('forever404',))
 *     t2 = threading.Thread(target=say, args=('Azrael',))
 *     print("{}启动".format(t1.getName())); t1.start()
 *     print("{}启动".format(t2.getName())); t2.start()
 *
 * prints "Thread-1启动", "hello forever404", "Thread-2启动", "hello Azrael".
 *
 * Here each thread is a weft_thread with a default name ("Thread-1", "Thread-2"),
 * the second one a daemon (Python's setDaemon(True): not waited for at process
 * exit). Each thread prints its own name (weft_thread_current_name, as Python's
 * current_thread().name) and kernel thread id. So that the output keeps the
 * seed's order, each thread first waits for a weft_event that main() sets after
 * printing "... started", and main() waits for the greeting (an event the other
 * way) before starting the next thread. main() joins the first thread with a 1 s deadline (a
 * join with a timeout, like t.join(1.0)) and the second without one.
 *
 * Usage: seed06_threads
 * Exit status: 0 on success, 1 if any weft call fails.
 */
#include <weft.h>

#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *who; /* whom to greet */
    weft_event go;   /* set by main() once it has announced the thread */
    weft_event done; /* set by the thread once it has greeted */
} greeting;

static void *say(void *arg) {
    greeting *g = arg;
    int r = weft_event_wait(&g->go, WEFT_FOREVER);
    if (r < 0) {
        fprintf(stderr, "say: weft_event_wait: %s\n", weft_strerror(r));
        return (void *)(intptr_t)r;
    }
    printf("hello %s  (from %s, tid %lld)\n", g->who, weft_thread_current_name(),
           (long long)weft_thread_current_id());
    r = weft_event_set(&g->done);
    if (r < 0)
        fprintf(stderr, "say: weft_event_set: %s\n", weft_strerror(r));
    return (void *)(intptr_t)r;
}

/* Starts a thread greeting g->who, announces it, lets it greet and waits (at most
 * 1 s) until it has, so the output keeps the seed's order. */
static int start_and_announce(weft_thread **t, greeting *g, int daemon) {
    weft_thread_opts opts = {.name = NULL, .daemon = daemon, .stack_size = 0};
    int r = weft_event_init(&g->go);
    if (r == 0)
        r = weft_event_init(&g->done);
    if (r < 0) {
        fprintf(stderr, "seed06: weft_event_init: %s\n", weft_strerror(r));
        return r;
    }
    r = weft_thread_start(t, say, g, &opts);
    if (r < 0) {
        fprintf(stderr, "seed06: weft_thread_start: %s\n", weft_strerror(r));
        return r;
    }
    printf("%s started (启动), daemon: %s\n", weft_thread_name(*t),
           weft_thread_daemon(*t) ? "yes" : "no");
    r = weft_event_set(&g->go);
    if (r < 0) {
        fprintf(stderr, "seed06: weft_event_set: %s\n", weft_strerror(r));
        return r;
    }
    r = weft_event_wait(&g->done, weft_after(WEFT_SEC));
    if (r < 0)
        fprintf(stderr, "seed06: waiting for the greeting: %s\n", weft_strerror(r));
    return r;
}

static int join_one(weft_thread *t, int64_t deadline) {
    char name[64];
    snprintf(name, sizeof name, "%s", weft_thread_name(t)); /* the handle dies on join */
    void *res = NULL;
    int r = weft_thread_join(t, deadline, &res);
    if (r < 0) {
        fprintf(stderr, "seed06: weft_thread_join(%s): %s\n", name, weft_strerror(r));
        return r;
    }
    if ((intptr_t)res < 0)
        return (int)(intptr_t)res; /* the thread already said what failed */
    printf("%s joined\n", name);
    return 0;
}

int main(void) {
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        fprintf(stderr, "seed06: setvbuf failed\n");
        return 1;
    }
    int64_t t0 = weft_now();
    printf("main runs in %s (tid %lld)\n", weft_thread_current_name(),
           (long long)weft_thread_current_id());

    static greeting g1 = {.who = "forever404"}, g2 = {.who = "Azrael"};
    weft_thread *t1, *t2;
    if (start_and_announce(&t1, &g1, 0) < 0)
        return 1;
    if (start_and_announce(&t2, &g2, 1) < 0)
        return 1;

    /* t1 with a deadline (Python's t1.join(1.0)), t2 without one. */
    if (join_one(t1, weft_after(WEFT_SEC)) < 0)
        return 1;
    if (join_one(t2, WEFT_FOREVER) < 0)
        return 1;
    greeting *gs[2] = {&g1, &g2};
    for (int i = 0; i < 2; i++) {
        int r1 = weft_event_destroy(&gs[i]->go), r2 = weft_event_destroy(&gs[i]->done);
        if (r1 < 0 || r2 < 0) {
            fprintf(stderr, "seed06: weft_event_destroy: %s\n", weft_strerror(r1 < 0 ? r1 : r2));
            return 1;
        }
    }
    printf("%.6f s\n", (double)(weft_now() - t0) / WEFT_SEC);
    return 0;
}
