/* wait_any: one weft_wait_any over 8 entries of which one becomes ready, ns per call.
 *
 * The figure (weft): 8 pipes; each round writes a byte to one of them (round-robin),
 * weft_wait_any over the 8 read ends reports it, and the byte is read back. The floor
 * (printed by this program too) is the same round with poll(2) over the 8 descriptors
 * (a look with timeout 0 first, as weft does, then a blocking poll if none is ready) and
 * a scan of revents: what any "which of these is ready" call costs at least.
 *
 * Notes (stderr) give the park-and-wake path, in a coroutine: 8 entries (7 pending
 * hand-made futures and an event), another coroutine sets the event each round, the
 * waiter clears it; against the same rounds with weft_event_wait on that event alone
 * (the specific call), and weft_futures_wait(WEFT_WAIT_ANY) over 8 futures of which the
 * other coroutine completes one (fresh futures each round, as a future completes once;
 * the mixed call is timed on the same fresh futures for comparison). */
#include "bench.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#define N 8

static long iters;
static int rd[N], wr[N];

static void put_byte(int fd) {
    char c = 'x';
    if (write(fd, &c, 1) != 1) {
        perror("write");
        exit(1);
    }
}

static void get_byte(int fd) {
    char c;
    if (read(fd, &c, 1) != 1) {
        perror("read");
        exit(1);
    }
}

static double fd_weft(void) {
    weft_waitable ws[N];
    for (int k = 0; k < N; k++)
        ws[k] = WEFT_WAIT_FD(rd[k], WEFT_READABLE);
    int64_t t0 = weft_now();
    for (long i = 0; i < iters; i++) {
        int k = (int)(i % N);
        put_byte(wr[k]);
        int r = weft_wait_any(ws, N, WEFT_FOREVER);
        if (r != k) {
            fprintf(stderr, "wait_any: got %d, want %d\n", r, k);
            exit(1);
        }
        get_byte(rd[k]);
    }
    return (double)(weft_now() - t0) / (double)iters;
}

static double fd_floor(void) {
    struct pollfd p[N];
    for (int k = 0; k < N; k++)
        p[k] = (struct pollfd){.fd = rd[k], .events = POLLIN};
    int64_t t0 = weft_now();
    for (long i = 0; i < iters; i++) {
        int k = (int)(i % N);
        put_byte(wr[k]);
        /* As a careful hand-written loop would: look first (a poll that may
         * block registers on every descriptor's wait queue), block only if
         * nothing is ready. */
        if (poll(p, N, 0) < 1 && poll(p, N, -1) < 1) {
            perror("poll");
            exit(1);
        }
        int r = -1;
        for (int j = 0; j < N && r < 0; j++)
            if (p[j].revents)
                r = j;
        if (r != k) {
            fprintf(stderr, "poll: got %d, want %d\n", r, k);
            exit(1);
        }
        get_byte(rd[k]);
    }
    return (double)(weft_now() - t0) / (double)iters;
}

/* ---- park and wake between two coroutines ------------------------------ */

static weft_event ev;
static weft_future *fs[N];
static long rounds;
static int mode; /* 0: set the event; 1: complete fs[N - 1] */

static void *setter(void *arg) {
    (void)arg;
    for (long i = 0; i < rounds; i++) {
        if (mode == 0)
            BENCH_CHECK(weft_event_set(&ev));
        else
            BENCH_CHECK(weft_future_set_result(fs[N - 1], NULL));
        BENCH_CHECK(weft_yield());
    }
    return NULL;
}

/* kind 0: wait_any on 7 futures + the event; 1: weft_event_wait alone;
 * 2: weft_futures_wait ANY over fresh futures; 3: wait_any over the same. */
static double park_round(int kind) {
    weft_future *pending[N - 1];
    for (int k = 0; k < N - 1; k++)
        BENCH_CHECK(weft_future_create(&pending[k]));
    BENCH_CHECK(weft_event_init(&ev));
    weft_waitable ws[N];
    for (int k = 0; k < N - 1; k++)
        ws[k] = WEFT_WAIT_FUTURE(pending[k]);
    ws[N - 1] = WEFT_WAIT_EVENT(&ev);
    mode = kind >= 2;
    rounds = iters / 4;
    weft_coro c;
    int64_t t0 = 0, spent = 0;
    if (kind >= 2)
        BENCH_CHECK(weft_future_create(&fs[N - 1]));
    BENCH_CHECK(weft_spawn(&c, setter, NULL, NULL));
    for (long i = 0; i < rounds; i++) {
        if (kind >= 2) {
            for (int k = 0; k < N - 1; k++)
                fs[k] = pending[k];
            for (int k = 0; k < N; k++)
                ws[k] = WEFT_WAIT_FUTURE(fs[k]);
        }
        t0 = weft_now();
        int r;
        if (kind == 0 || kind == 3)
            r = weft_wait_any(ws, N, WEFT_FOREVER) == N - 1 ? 0 : -EPROTO;
        else if (kind == 1)
            r = weft_event_wait(&ev, WEFT_FOREVER);
        else
            r = weft_futures_wait(fs, N, WEFT_WAIT_ANY, WEFT_FOREVER) == 1 ? 0 : -EPROTO;
        spent += weft_now() - t0;
        BENCH_CHECK(r);
        if (kind < 2) {
            BENCH_CHECK(weft_event_clear(&ev));
        } else {
            weft_future_release(fs[N - 1]);
            BENCH_CHECK(weft_future_create(&fs[N - 1]));
        }
    }
    BENCH_CHECK(weft_join(c, WEFT_FOREVER, NULL));
    if (kind >= 2)
        weft_future_release(fs[N - 1]);
    for (int k = 0; k < N - 1; k++) {
        BENCH_CHECK(weft_future_set_result(pending[k], NULL));
        weft_future_release(pending[k]);
    }
    BENCH_CHECK(weft_event_destroy(&ev));
    return (double)spent / (double)rounds;
}

int main(int argc, char **argv) {
    iters = bench_size(argc, argv, 2000000, 200000);
    for (int k = 0; k < N; k++) {
        int p[2];
        if (pipe2(p, O_CLOEXEC | O_NONBLOCK) != 0) {
            perror("pipe2");
            return 1;
        }
        rd[k] = p[0];
        wr[k] = p[1];
    }
    double f = fd_floor(); /* warm up the descriptors' wait queues */
    f = fd_floor();
    double w = fd_weft();
    bench_line("wait_any", "weft", w, "ns/op");
    bench_line("wait_any", "floor", f, "ns/op");
    double any = park_round(0), one = park_round(1);
    double fw = park_round(2), fany = park_round(3);
    fprintf(stderr,
            "note: park and wake in a coroutine (another coroutine makes one ready): "
            "wait_any over 7 futures + 1 event %.0f ns, weft_event_wait on the event alone "
            "%.0f ns; over 8 futures: wait_any %.0f ns, weft_futures_wait(ANY) %.0f ns\n",
            any, one, fany, fw);
    fprintf(stderr, "note: descriptors: %ld rounds, a plain thread, no scheduler\n", iters);
    for (int k = 0; k < N; k++) {
        close(rd[k]);
        close(wr[k]);
    }
    return 0;
}
