/*
 * debug_deadlock: a program that hangs, for docs/debugging.md.
 *
 * Two coroutines take two locks in opposite orders (each holds one and waits
 * for the other), a third waits on a channel nobody sends to, a fourth sleeps,
 * and a worker thread's coroutine waits for the first lock too. main joins the
 * first coroutine with a deadline; when it passes, the program prints
 * weft_dump's report of every coroutine on stderr, cancels everything and exits.
 *
 * Usage: debug_deadlock [hang|spin]
 *   hang   join forever instead: the program stays deadlocked, for gdb and for
 *          WEFT_DUMP_SIGNAL=SIGQUIT (kill -QUIT <pid>).
 *   spin   first run a coroutine that computes for 300 ms without yielding,
 *          for the watchdog (WEFT_WATCHDOG_MS=100), and print its hit count.
 * Exit status: 0 after the report, 1 if a weft call fails.
 */
#include <weft.h>
#include <weft_hook.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

static weft_lock accounts, audit;
static weft_chan *orders;
static weft_event ready;

static int fail(const char *what, int e) {
    fprintf(stderr, "debug_deadlock: %s: %s\n", what, strerror(-e));
    return 1;
}

static void *transfer(void *arg) { /* accounts, then audit */
    (void)arg;
    if (weft_lock_acquire(&accounts, WEFT_FOREVER) != 0)
        return NULL;
    weft_sleep(10 * WEFT_MSEC);
    weft_lock_acquire(&audit, WEFT_FOREVER); /* held by report(): waits forever */
    weft_lock_release(&audit);
    weft_lock_release(&accounts);
    return NULL;
}

static void *report(void *arg) { /* audit, then accounts: the opposite order */
    (void)arg;
    if (weft_lock_acquire(&audit, WEFT_FOREVER) != 0)
        return NULL;
    weft_sleep(10 * WEFT_MSEC);
    weft_lock_acquire(&accounts, WEFT_FOREVER); /* held by transfer() */
    weft_lock_release(&accounts);
    weft_lock_release(&audit);
    return NULL;
}

static void *consumer(void *arg) {
    (void)arg;
    int order;
    weft_chan_recv(orders, &order, WEFT_FOREVER); /* nobody ever sends */
    return NULL;
}

static void *ticker(void *arg) {
    (void)arg;
    while (weft_sleep(WEFT_SEC) == 0) {
    }
    return NULL;
}

static void *worker(void *arg) { /* on another thread: waits for accounts too */
    (void)arg;
    weft_event_set(&ready);
    if (weft_lock_acquire(&accounts, WEFT_FOREVER) == 0)
        weft_lock_release(&accounts);
    return NULL;
}

static volatile unsigned long sink;
static unsigned long __attribute__((noinline)) checksum(unsigned long n) {
    unsigned long h = 0;
    for (unsigned long i = 0; i < n; i++)
        h = h * 31 + i;
    return h;
}
static void *busy(void *arg) { /* never yields: its thread is stuck meanwhile */
    (void)arg;
    int64_t end = weft_now() + 300 * WEFT_MSEC;
    while (weft_now() < end)
        sink = checksum(100000);
    return NULL;
}

int main(int argc, char **argv) {
    int hang = argc > 1 && !strcmp(argv[1], "hang");
    int e;
    if (argc > 1 && !strcmp(argv[1], "spin")) {
        weft_coro c;
        weft_coro_opts o = {.name = "busy"};
        if ((e = weft_spawn(&c, busy, NULL, &o)) || (e = weft_join(c, WEFT_FOREVER, NULL)))
            return fail("busy", e);
        fprintf(stderr, "debug_deadlock: watchdog hits: %llu\n",
                (unsigned long long)weft_hook_watchdog_hits());
    }
    if ((e = weft_lock_init(&accounts)) || (e = weft_lock_init(&audit)) ||
        (e = weft_event_init(&ready)) || (e = weft_chan_create(&orders, sizeof(int), 0)))
        return fail("init", e);
    weft_coro cs[4];
    weft_coro_fn fns[4] = {transfer, report, consumer, ticker};
    const char *names[4] = {"transfer", "report", "consumer", "ticker"};
    for (int i = 0; i < 4; i++) {
        weft_coro_opts o = {.name = names[i]};
        if ((e = weft_spawn(&cs[i], fns[i], NULL, &o)))
            return fail("spawn", e);
    }
    weft_thread *t;
    if ((e = weft_thread_start(&t, worker, NULL, NULL)))
        return fail("thread", e);
    weft_event_wait(&ready, WEFT_FOREVER);
    e = weft_join(cs[0], hang ? WEFT_FOREVER : weft_now() + 300 * WEFT_MSEC, NULL);
    if (e != -ETIMEDOUT)
        return fail("join", e);
    fprintf(stderr, "debug_deadlock: transfer is stuck after 300 ms; the dump:\n");
    if ((e = weft_dump(2)))
        return fail("dump", e);
    /* Undo it: cancel the coroutines (the worker gets the lock once they are gone). */
    for (int i = 0; i < 4; i++)
        weft_cancel(cs[i]);
    for (int i = 0; i < 4; i++)
        if ((e = weft_join(cs[i], WEFT_FOREVER, NULL)))
            return fail("join", e);
    if ((e = weft_thread_join(t, WEFT_FOREVER, NULL)))
        return fail("thread join", e);
    weft_chan_destroy(orders);
    return 0;
}
