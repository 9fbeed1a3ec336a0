/*
 * seed12_greenlet_switch: greenlet-style explicit switching (seed section 12).
 *
 * Part 1 is greenlet's classic example, with values passed at each switch:
 *
 *     def test1(x):
 *         print(12)
 *         y = gr2.switch(x + 1)
 *         print(34)
 *         return y
 *
 *     def test2(y):
 *         print(56)
 *         gr1.switch(y * 2)
 *         print(78)          # never printed
 *
 *     gr1 = greenlet(test1); gr2 = greenlet(test2)
 *     gr1.switch(10)
 *
 * test1's parent (gr1.parent) is main, which spawned it: weft_coro_parent()
 * reads it. When test1 returns, control goes back to that parent, whose
 * weft_switch() returns 1 with test1's return value. test2 is left
 * suspended inside weft_switch(). Greenlet throws GreenletExit into such an
 * abandoned greenlet; main does the same with weft_throw(gr2, -ECANCELED):
 * test2's weft_switch() returns -ECANCELED, so it returns without printing
 * 78, back to main, its parent, whose weft_throw() returns 1 with test2's
 * return value. Then main joins both.
 *
 * Part 2 is a generator: a consumer and a producer ping-pong values by hand,
 * five rounds, then the consumer asks the producer to stop and gets the
 * producer's return value through the same "return to parent" path.
 *
 * Values travel as void *; these small integers are packed with intptr_t.
 *
 * Exit status: 0 if everything happened as described, 1 otherwise.
 */
#include <weft.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>

static void *int_to_ptr(intptr_t v) {
    return (void *)v;
}

static intptr_t ptr_to_int(void *p) {
    return (intptr_t)p;
}

/* Prints "<who>: <call>: <error>" and returns -1, for one-line error exits. */
static int fail(const char *who, const char *call, int err) {
    fprintf(stderr, "%s: %s: %s\n", who, call, weft_strerror(err));
    return -1;
}

/* ---------------------------------------------------------------------------
 * Part 1: test1 / test2
 * ------------------------------------------------------------------------- */

/* Handles the two coroutines use to switch to each other, as greenlet's
 * example uses the globals gr1 and gr2. Written by main before any switch. */
static weft_coro g_gr1, g_gr2;

/* What test2's weft_switch() returned when main threw into it: must be -ECANCELED. */
static int g_test2_status;

static void *test1(void *arg) {
    intptr_t x = ptr_to_int(arg); /* the value main switched in with */
    weft_coro parent;
    int r = weft_coro_parent(weft_self(), &parent);
    if (r < 0) {
        fail("test1", "weft_coro_parent", r);
        return int_to_ptr(-1);
    }
    printf("test1: started with x = %ld; my parent is %s\n", (long)x,
           weft_coro_name(parent) ? weft_coro_name(parent) : "(none)");
    puts("12");
    printf("test1: switch to test2 with x + 1 = %ld\n", (long)(x + 1));
    void *got = NULL;
    r = weft_switch(g_gr2, int_to_ptr(x + 1), &got);
    if (r != 0) { /* 0: someone switched back to us with a value */
        fail("test1", "weft_switch", r < 0 ? r : -EPROTO);
        return int_to_ptr(-1);
    }
    intptr_t y = ptr_to_int(got);
    printf("test1: resumed with y = %ld\n", (long)y);
    puts("34");
    printf("test1: returning y = %ld (goes back to main, its parent)\n", (long)y);
    return int_to_ptr(y);
}

static void *test2(void *arg) {
    intptr_t y = ptr_to_int(arg);
    printf("test2: started with y = %ld\n", (long)y);
    puts("56");
    printf("test2: switch to test1 with y * 2 = %ld\n", (long)(y * 2));
    int r = weft_switch(g_gr1, int_to_ptr(y * 2), NULL);
    g_test2_status = r;
    if (r == -ECANCELED) {
        /* Nobody will ever switch back; main threw GreenletExit's counterpart into us. */
        printf("test2: weft_switch returned %s (thrown by main): returning without printing 78\n",
               weft_strerror(r));
        return int_to_ptr(0);
    }
    if (r < 0) {
        fail("test2", "weft_switch", r);
        return int_to_ptr(-1);
    }
    puts("78"); /* only reached if someone switched back to test2 */
    return int_to_ptr(0);
}

static int part1(void) {
    puts("== part 1: greenlet's test1 / test2 ==");
    /* Suspended coroutines do not run until someone switches to them; the
     * value of that first switch becomes fn's argument (spawn arg is NULL). */
    weft_coro_opts opts = {0};
    opts.suspended = 1;
    opts.name = "test1";
    int r = weft_spawn(&g_gr1, test1, NULL, &opts);
    if (r < 0)
        return fail("main", "weft_spawn(test1)", r);
    opts.name = "test2";
    r = weft_spawn(&g_gr2, test2, NULL, &opts);
    if (r < 0) {
        fail("main", "weft_spawn(test2)", r);
        /* Nobody ever switched to test1: cancel it before it starts and reap it. */
        if ((r = weft_cancel(g_gr1)) < 0 || (r = weft_join(g_gr1, WEFT_FOREVER, NULL)) < 0)
            fail("main", "cleaning up test1", r);
        return -1;
    }

    int ok = 1;
    weft_coro parent;
    r = weft_coro_parent(g_gr1, &parent);
    if (r < 0)
        return fail("main", "weft_coro_parent(test1)", r);
    printf("main: test1's parent is main: %s\n",
           weft_coro_equal(parent, weft_self()) ? "yes" : "no");
    if (!weft_coro_equal(parent, weft_self()))
        ok = 0;
    puts("main: switch to test1 with 10");
    void *got = NULL;
    r = weft_switch(g_gr1, int_to_ptr(10), &got);
    if (r < 0) {
        fail("main", "weft_switch(test1)", r);
        ok = 0;
    } else if (r == 1) {
        printf("main: back from test1 (return to parent), its return value = %ld\n",
               (long)ptr_to_int(got));
        if (ptr_to_int(got) != 22)
            ok = 0;
    } else {
        printf("main: unexpectedly switched back to with %ld\n", (long)ptr_to_int(got));
        ok = 0;
    }

    /* test2 is still suspended in weft_switch(). Throwing -ECANCELED into it
     * (greenlet's GreenletExit) makes that call return it; test2 then returns
     * to main, its parent, and both coroutines are joined. */
    printf("main: test2 done yet? %d (it is suspended in weft_switch)\n", weft_coro_done(g_gr2));
    puts("main: throw -ECANCELED into test2 (greenlet's GreenletExit)");
    r = weft_throw(g_gr2, -ECANCELED, &got);
    if (r < 0)
        return fail("main", "weft_throw(test2)", r);
    if (r != 1) {
        fprintf(stderr, "main: test2 switched back instead of returning\n");
        ok = 0;
    }
    printf("main: test2 returned to main, its parent, with %ld\n", (long)ptr_to_int(got));
    puts("main: join both");
    void *res[2];
    weft_coro both[2] = {g_gr1, g_gr2};
    r = weft_joinall(both, 2, WEFT_FOREVER, res);
    if (r < 0)
        return fail("main", "weft_joinall", r);
    if (ptr_to_int(res[0]) < 0 || ptr_to_int(res[1]) < 0 || g_test2_status != -ECANCELED)
        ok = 0;
    printf("main: joined; test1 returned %ld, test2 returned %ld\n", (long)ptr_to_int(res[0]),
           (long)ptr_to_int(res[1]));
    return ok ? 0 : -1;
}

/* ---------------------------------------------------------------------------
 * Part 2: a generator, by hand. The consumer switches a request n into the
 * producer; the producer answers with n * n by switching back. After five
 * rounds the consumer sends STOP; the producer returns how many values it
 * made, and since the consumer spawned it, the consumer's weft_switch()
 * returns 1 with that count.
 * ------------------------------------------------------------------------- */

enum { ROUNDS = 5, STOP = -1 };

static weft_coro g_consumer, g_producer;

static void *producer(void *arg) {
    intptr_t request = ptr_to_int(arg);
    intptr_t made = 0;
    while (request != STOP) {
        intptr_t value = request * request;
        printf("  producer: got %ld, yields %ld\n", (long)request, (long)value);
        made++;
        void *next = NULL;
        int r = weft_switch(g_consumer, int_to_ptr(value), &next);
        if (r != 0) {
            fail("producer", "weft_switch", r < 0 ? r : -EPROTO);
            return int_to_ptr(-1);
        }
        request = ptr_to_int(next);
    }
    printf("  producer: got STOP after %ld values, returning %ld\n", (long)made, (long)made);
    return int_to_ptr(made);
}

static void *consumer(void *arg) {
    (void)arg;
    weft_coro_opts opts = {0};
    opts.suspended = 1;
    opts.name = "producer";
    int r = weft_spawn(&g_producer, producer, NULL, &opts);
    if (r < 0) {
        fail("consumer", "weft_spawn(producer)", r);
        return int_to_ptr(-1);
    }

    int ok = 1;
    for (intptr_t n = 1; n <= ROUNDS && ok; n++) {
        printf("consumer: sends %ld\n", (long)n);
        void *got = NULL;
        r = weft_switch(g_producer, int_to_ptr(n), &got);
        if (r != 0) { /* 1 would mean the producer returned early */
            fail("consumer", "weft_switch", r < 0 ? r : -EPROTO);
            ok = 0;
            break;
        }
        printf("consumer: received %ld\n", (long)ptr_to_int(got));
        if (ptr_to_int(got) != n * n)
            ok = 0;
    }

    if (ok) {
        puts("consumer: sends STOP");
        void *got = NULL;
        r = weft_switch(g_producer, int_to_ptr(STOP), &got);
        if (r == 1) {
            printf("consumer: producer finished (return to parent) with %ld\n",
                   (long)ptr_to_int(got));
            if (ptr_to_int(got) != ROUNDS)
                ok = 0;
        } else {
            fail("consumer", "weft_switch(STOP)", r < 0 ? r : -EPROTO);
            ok = 0;
        }
    }
    if (!ok) {
        /* On any failure make sure the producer ends before joining it. */
        r = weft_cancel(g_producer);
        if (r < 0)
            fail("consumer", "weft_cancel", r);
    }
    /* The producer has finished; joining releases it. */
    r = weft_join(g_producer, WEFT_FOREVER, NULL);
    if (r < 0) {
        fail("consumer", "weft_join(producer)", r);
        ok = 0;
    }
    return int_to_ptr(ok ? 0 : -1);
}

static int part2(void) {
    puts("\n== part 2: generator ping-pong ==");
    int r = weft_spawn(&g_consumer, consumer, NULL, NULL);
    if (r < 0)
        return fail("main", "weft_spawn(consumer)", r);
    void *res = NULL;
    r = weft_join(g_consumer, WEFT_FOREVER, &res);
    if (r < 0)
        return fail("main", "weft_join(consumer)", r);
    return ptr_to_int(res) == 0 ? 0 : -1;
}

int main(void) {
    if (setvbuf(stdout, NULL, _IOLBF, 0) != 0) {
        fprintf(stderr, "seed12: setvbuf failed\n");
        return 1;
    }
    if (part1() < 0) {
        fprintf(stderr, "seed12: part 1 failed\n");
        return 1;
    }
    if (part2() < 0) {
        fprintf(stderr, "seed12: part 2 failed\n");
        return 1;
    }
    if (weft_coro_count() != 0) {
        fprintf(stderr, "seed12: %zu coroutines left over\n", weft_coro_count());
        return 1;
    }
    puts("\nseed12: ok");
    return 0;
}
