/*
 * seed08_subclass: the seed's "subclassing Thread" example (section 8), in C.
 *
 * The Python original:
 *
 *     class Mythread(threading.Thread):
 *         def __init__(self, args):
 *             threading.Thread.__init__(self)
 *             self.args = args
 *         def run(self):
 *             print("hello {}".format(self.args))
 *
 *     t1 = Mythread('forever404'); t2 = Mythread('Azrael')
 *     print("{}启动".format(t1.getName())); t1.start()
 *     print("{}启动".format(t2.getName())); t2.start()
 *
 * In C the "subclass" is a struct that embeds a weft_thread_obj next to its own
 * state; run() gets the embedded object and recovers the whole struct with
 * WEFT_CONTAINER_OF. weft_thread_obj_start/_join start and join it. As in
 * seed06, two events (part of each thread's own state) keep the seed's output
 * order: run() waits until main() has announced it, and main() waits for the
 * greeting before starting the next thread.
 *
 * Usage: seed08_subclass
 * Exit status: 0 on success, 1 if any weft call fails.
 */
#include <weft.h>

#include <stdint.h>
#include <stdio.h>

typedef struct my_thread {
    weft_thread_obj base; /* the "Thread" part; need not be first */
    const char *args;     /* the subclass's own state */
    weft_event go;        /* set by main() once it has announced the thread */
    weft_event greeted;   /* set by run() once it has greeted */
} my_thread;

static void *my_run(weft_thread_obj *self) {
    my_thread *me = WEFT_CONTAINER_OF(self, my_thread, base);
    int r = weft_event_wait(&me->go, WEFT_FOREVER);
    if (r < 0) {
        fprintf(stderr, "run: weft_event_wait: %s\n", weft_strerror(r));
        return (void *)(intptr_t)r;
    }
    printf("hello %s  (run() in %s)\n", me->args, weft_thread_current_name());
    r = weft_event_set(&me->greeted);
    if (r < 0)
        fprintf(stderr, "run: weft_event_set: %s\n", weft_strerror(r));
    return (void *)(intptr_t)r;
}

static int my_thread_init(my_thread *t, const char *args) {
    t->base.run = my_run;
    t->base.handle = NULL;
    t->args = args;
    int r = weft_event_init(&t->go);
    return r < 0 ? r : weft_event_init(&t->greeted);
}

static int start_and_announce(my_thread *t) {
    int r = weft_thread_obj_start(&t->base, NULL);
    if (r < 0) {
        fprintf(stderr, "seed08: weft_thread_obj_start: %s\n", weft_strerror(r));
        return r;
    }
    printf("%s started (启动)\n", weft_thread_name(t->base.handle));
    r = weft_event_set(&t->go);
    if (r < 0) {
        fprintf(stderr, "seed08: weft_event_set: %s\n", weft_strerror(r));
        return r;
    }
    r = weft_event_wait(&t->greeted, weft_after(WEFT_SEC));
    if (r < 0)
        fprintf(stderr, "seed08: waiting for the greeting: %s\n", weft_strerror(r));
    return r;
}

int main(void) {
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        fprintf(stderr, "seed08: setvbuf failed\n");
        return 1;
    }
    int64_t t0 = weft_now();
    static my_thread t1, t2;
    int r = my_thread_init(&t1, "forever404");
    if (r == 0)
        r = my_thread_init(&t2, "Azrael");
    if (r < 0) {
        fprintf(stderr, "seed08: weft_event_init: %s\n", weft_strerror(r));
        return 1;
    }
    if (start_and_announce(&t1) < 0 || start_and_announce(&t2) < 0)
        return 1;

    my_thread *all[2] = {&t1, &t2};
    for (int i = 0; i < 2; i++) {
        void *res = NULL;
        r = weft_thread_obj_join(&all[i]->base, WEFT_FOREVER, &res);
        if (r < 0) {
            fprintf(stderr, "seed08: weft_thread_obj_join: %s\n", weft_strerror(r));
            return 1;
        }
        if ((intptr_t)res < 0)
            return 1; /* run() already said what failed */
        r = weft_event_destroy(&all[i]->go);
        if (r == 0)
            r = weft_event_destroy(&all[i]->greeted);
        if (r < 0) {
            fprintf(stderr, "seed08: weft_event_destroy: %s\n", weft_strerror(r));
            return 1;
        }
    }
    printf("%.6f s\n", (double)(weft_now() - t0) / WEFT_SEC);
    return 0;
}
