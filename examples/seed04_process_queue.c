/*
 * seed04_process_queue: the seed's process queue example (section 4), in C.
 *
 * The Python original: a writer process puts six colours into a
 * multiprocessing.Queue, printing "[-] write successful:<colour>" and
 * sleeping 2 s after each; a reader process loops: if the queue is not
 * empty it gets a colour, prints "[+] read successful:<colour>" and sleeps
 * 1 s, otherwise it sleeps 3 s and stops if the queue is still empty. The
 * main process joins both and prints "End of mission" and the time (15.1 s
 * in the notes: 12 s of writing plus the reader's last 3 s poll).
 *
 * Here the queue is a FIFO weft_pqueue created before the children are
 * forked. The reader does not poll empty(): it blocks in get, calls
 * task_done once it has handled a colour, and stops when get reports that
 * the queue was closed (-EPIPE). The writer, after its last colour, waits
 * in join until the reader has handled every colour and then shuts the
 * queue down; so the run ends about 12 s in, with nothing lost and no
 * guessing how long to wait. Along the way the writer shows qsize, empty
 * and full after each put (the queue is bounded at 4 messages; the reader
 * keeps up, so it is never full here).
 *
 * Usage: seed04_process_queue [SECONDS]
 *   SECONDS   the unit of every sleep (default 1: the writer sleeps 2
 *             units, the reader 1; fractions allowed, 0 .. 10).
 * Exit status: 0 on success, 1 if any weft call or child fails, 2 on a
 * usage error.
 */
#include "example.h"

#include <string.h>

static const char *const COLORS[] = {"red", "blue", "black", "green", "yellow", "orange"};
enum { NCOLORS = sizeof COLORS / sizeof COLORS[0] };

static weft_pqueue *g_queue; /* shared memory, inherited by both children */
static int64_t g_unit;       /* ns per sleep unit */
static int64_t g_t0;

static double since(void) { return example_since(g_t0); }

static int fail(const char *who, const char *what, int r) {
    fprintf(stderr, "%s: %s: %s\n", who, what, weft_strerror(r));
    return 1;
}

static int writer(void *arg) {
    (void)arg;
    for (int i = 0; i < NCOLORS; i++) {
        int r = weft_pqueue_put(g_queue, COLORS[i], strlen(COLORS[i]), WEFT_FOREVER);
        if (r < 0)
            return fail("writer", "weft_pqueue_put", r);
        printf("[-] write successful:%s   (+%.2f s; qsize %zu, empty %d, full %d)\n", COLORS[i],
               since(), weft_pqueue_size(g_queue), weft_pqueue_empty(g_queue),
               weft_pqueue_full(g_queue));
        if ((r = weft_sleep(2 * g_unit)) < 0)
            return fail("writer", "weft_sleep", r);
    }
    /* Every colour handed over: wait until the reader has handled them all,
     * then close the queue so that the reader's next get tells it to stop. */
    int r = weft_pqueue_join(g_queue, WEFT_FOREVER);
    if (r < 0)
        return fail("writer", "weft_pqueue_join", r);
    printf("    writer: every colour was read and handled (+%.2f s); closing the queue\n", since());
    if ((r = weft_pqueue_shutdown(g_queue, 0)) < 0)
        return fail("writer", "weft_pqueue_shutdown", r);
    return 0;
}

static int reader(void *arg) {
    (void)arg;
    char buf[64];
    int n = 0;
    for (;;) {
        ssize_t len = weft_pqueue_get(g_queue, buf, sizeof buf - 1, WEFT_FOREVER);
        if (len == -EPIPE)
            break; /* closed and drained: no more colours will come */
        if (len < 0)
            return fail("reader", "weft_pqueue_get", (int)len);
        buf[len] = '\0';
        printf("[+] read successful:%s   (+%.2f s)\n", buf, since());
        int r = weft_sleep(g_unit);
        if (r < 0)
            return fail("reader", "weft_sleep", r);
        if ((r = weft_pqueue_task_done(g_queue)) < 0)
            return fail("reader", "weft_pqueue_task_done", r);
        n++;
    }
    printf("    reader: the queue is closed; %d colours read\n", n);
    return n == NCOLORS ? 0 : 1;
}

int main(int argc, char **argv) {
    if (example_line_buffered("seed04") != 0)
        return 1;
    int usage = example_seconds_arg(argc, argv, 10, &g_unit);
    if (usage)
        return usage;
    /* At most 4 colours (and 1 KiB) in the queue at a time. */
    int r = weft_pqueue_create(&g_queue, WEFT_QUEUE_FIFO, 1024, 4);
    if (r < 0)
        return fail("seed04", "weft_pqueue_create", r);
    printf("empty queue: qsize %zu, empty %d, full %d\n", weft_pqueue_size(g_queue),
           weft_pqueue_empty(g_queue), weft_pqueue_full(g_queue));

    g_t0 = weft_now();
    weft_proc *w, *rd;
    weft_proc_opts wo = {.name = "writer"}, ro = {.name = "reader"};
    if ((r = weft_proc_start(&w, writer, NULL, &wo)) < 0)
        return fail("seed04", "weft_proc_start(writer)", r);
    if ((r = weft_proc_start(&rd, reader, NULL, &ro)) < 0) {
        weft_pqueue_shutdown(g_queue, 1);
        example_join_proc("seed04", w);
        return fail("seed04", "weft_proc_start(reader)", r);
    }
    int failed = example_join_proc("seed04", w);
    failed |= example_join_proc("seed04", rd);
    printf("End of mission\n%.2f s (the seed's notes: 15.1 s, of which 3 s were the reader's "
           "last poll of empty())\n",
           since());
    if ((r = weft_pqueue_close(g_queue)) < 0)
        return fail("seed04", "weft_pqueue_close", r);
    return failed;
}
