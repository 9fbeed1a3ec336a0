/*
 * seed05_process_pool: the seed's fifth example (section 5), in C.
 *
 * The Python original:
 *
 *     def write(queue, colors):
 *         for color in colors:
 *             print("[-] write successful:{}".format(color))
 *             queue.put(color)
 *             sleep(2)
 *     def read(queue):
 *         while True:
 *             if not queue.empty():
 *                 value = queue.get()
 *                 print("[+] read successful:{}".format(value))
 *                 sleep(1)
 *             else:
 *                 sleep(3)
 *                 if queue.empty():
 *                     break
 *     def main():
 *         colors = ['red', 'blue', 'black', 'green', 'yellow', 'orange']
 *         queue = Manager().Queue()
 *         pool = Pool(5)
 *         pool.apply_async(write, (queue, colors))
 *         pool.apply_async(read, (queue,))
 *         pool.close()
 *         pool.join()
 *         print("End of mission")
 *
 * It printed (Windows 10, CPython 3.8), in 15.1 s:
 *
 *     [-] write successful:red
 *     [+] read successful:red
 *     [-] write successful:blue
 *     [-] write successful:black
 *     [+] read successful:blue
 *     [+] read successful:black
 *     ...
 *     [+] read successful:orange
 *     End of mission
 *
 * Here the queue is a weft_pqueue in shared memory, created before the pool
 * forks its five workers (which inherit it); the two tasks are registered by
 * name and receive the queue through their input bytes. Then the rest of
 * Pool's interface: apply (blocking), and terminate with a task still running.
 *
 * Usage: seed05_process_pool [--fast]   (--fast: every sleep 10 times shorter)
 * Exit status: 0 on success, 1 if a weft call fails or a task reports an error.
 */
#include <weft.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *colors[] = {"red", "blue", "black", "green", "yellow", "orange"};
static int64_t unit = WEFT_SEC; /* one second of the seed's sleeps */

#define CHECK(expr)                                                                  \
    do {                                                                             \
        int r_ = (int)(expr);                                                        \
        if (r_ < 0) {                                                                \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,            \
                    weft_strerror(r_));                                              \
            return 1;                                                                \
        }                                                                            \
    } while (0)

static int queue_of(const void *in, size_t len, weft_pqueue **q) {
    if (len != sizeof *q)
        return -EINVAL;
    memcpy(q, in, sizeof *q);
    return 0;
}

static int write_task(const void *in, size_t len, weft_bytes *out) {
    weft_pqueue *q;
    int r = queue_of(in, len, &q);
    (void)out;
    for (size_t i = 0; r == 0 && i < sizeof colors / sizeof *colors; i++) {
        printf("[-] write successful:%s\n", colors[i]);
        fflush(stdout);
        r = weft_pqueue_put(q, colors[i], strlen(colors[i]), WEFT_FOREVER);
        if (r == 0)
            r = weft_sleep(2 * unit);
    }
    return r;
}

static int read_task(const void *in, size_t len, weft_bytes *out) {
    weft_pqueue *q;
    int r = queue_of(in, len, &q);
    (void)out;
    while (r == 0) {
        if (!weft_pqueue_empty(q)) {
            char buf[64];
            ssize_t n = weft_pqueue_get(q, buf, sizeof buf - 1, WEFT_FOREVER);
            if (n < 0)
                return (int)n;
            buf[n] = 0;
            printf("[+] read successful:%s\n", buf);
            fflush(stdout);
            r = weft_sleep(unit);
        } else {
            r = weft_sleep(3 * unit);
            if (r == 0 && weft_pqueue_empty(q))
                break;
        }
    }
    return r;
}

static int pid_task(const void *in, size_t len, weft_bytes *out) {
    (void)in;
    (void)len;
    pid_t pid = getpid();
    return weft_bytes_set(out, &pid, sizeof pid);
}

static int sleep_task(const void *in, size_t len, weft_bytes *out) {
    (void)in, (void)len, (void)out;
    return weft_sleep(60 * WEFT_SEC);
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--fast") == 0)
        unit = WEFT_SEC / 10;
    int t_write, t_read, t_pid, t_sleep;
    CHECK(t_write = weft_ptask_register("write", write_task));
    CHECK(t_read = weft_ptask_register("read", read_task));
    CHECK(t_pid = weft_ptask_register("pid", pid_task));
    CHECK(t_sleep = weft_ptask_register("sleep", sleep_task));

    int64_t start = weft_now();
    weft_pqueue *q;
    CHECK(weft_pqueue_create(&q, WEFT_QUEUE_FIFO, 4096, 0)); /* before the pool forks */
    weft_ppool_opts o;
    weft_ppool_opts_init(&o);
    o.nworkers = 5;
    weft_ppool *pool;
    CHECK(weft_ppool_create(&pool, &o));
    weft_future *fw, *fr;
    CHECK(weft_ppool_apply_async(pool, t_write, &q, sizeof q, NULL, NULL, NULL, &fw));
    CHECK(weft_ppool_apply_async(pool, t_read, &q, sizeof q, NULL, NULL, NULL, &fr));
    CHECK(weft_ppool_close(pool));
    CHECK(weft_ppool_join(pool, WEFT_FOREVER));
    CHECK(weft_future_result(fw, WEFT_NOWAIT, NULL)); /* the tasks' own statuses */
    CHECK(weft_future_result(fr, WEFT_NOWAIT, NULL));
    weft_future_release(fw);
    weft_future_release(fr);
    CHECK(weft_ppool_destroy(pool));
    printf("End of mission\n");
    printf("%.6f\n", (double)(weft_now() - start) / 1e9);

    /* apply blocks until its result is back; terminate kills a pool at once. */
    CHECK(weft_ppool_create(&pool, &o));
    weft_bytes b = WEFT_BYTES_INIT;
    pid_t worker;
    CHECK(weft_ppool_apply(pool, t_pid, NULL, 0, &b));
    memcpy(&worker, b.data, sizeof worker);
    weft_bytes_free(&b);
    printf("apply: ran in worker %d (main is %d)\n", (int)worker, (int)getpid());
    weft_future *fs;
    CHECK(weft_ppool_apply_async(pool, t_sleep, NULL, 0, NULL, NULL, NULL, &fs));
    CHECK(weft_ppool_terminate(pool));
    CHECK(weft_ppool_join(pool, WEFT_FOREVER));
    int st = weft_future_result(fs, WEFT_NOWAIT, NULL);
    printf("terminate: the running task ended with: %s\n", weft_strerror(st));
    weft_future_release(fs);
    CHECK(weft_ppool_destroy(pool));
    CHECK(weft_pqueue_close(q));
    return st == -ECANCELED ? 0 : 1;
}
