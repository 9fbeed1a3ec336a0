/* skynet_mt: skynet (1M coroutines in a 10-ary tree, each leaf sends its id to its
 * parent, parents sum) on a worker group with one worker per usable CPU, in s. The
 * same tree on one thread (bench/skynet.c's program, run here the same way) is
 * printed as `weft-1t`, so the speed-up is measured in one run. */
#include "bench.h"

typedef struct {
    long num, size;
    weft_chan *out;
} node_arg;

static const weft_coro_opts shared = {.stack_mode = WEFT_STACK_SHARED, .detached = 1};

static void *skynet(void *p) {
    node_arg a = *(node_arg *)p;
    long sum = 0;
    if (a.size == 1) {
        sum = a.num;
    } else {
        weft_chan *ch;
        BENCH_CHECK(weft_chan_create(&ch, sizeof(long), 10));
        long child = a.size / 10;
        node_arg *kids = malloc(10 * sizeof *kids);
        if (!kids)
            exit(1);
        for (long i = 0; i < 10; i++) {
            kids[i] = (node_arg){a.num + i * child, child, ch};
            BENCH_CHECK(weft_spawn(NULL, skynet, &kids[i], &shared));
        }
        for (long i = 0; i < 10; i++) {
            long v;
            BENCH_CHECK(weft_chan_recv(ch, &v, WEFT_FOREVER));
            sum += v;
        }
        free(kids);
        weft_chan_destroy(ch);
    }
    BENCH_CHECK(weft_chan_send(a.out, &sum, WEFT_FOREVER));
    return NULL;
}

/* One tree: in group g, or on this thread when g is NULL; seconds. */
static double tree(weft_group *g, long size) {
    weft_chan *root;
    BENCH_CHECK(weft_chan_create(&root, sizeof(long), 1));
    node_arg a = {0, size, root};
    int64_t t0 = weft_now();
    if (g)
        BENCH_CHECK(weft_group_spawn(g, NULL, skynet, &a, &shared));
    else
        BENCH_CHECK(weft_spawn(NULL, skynet, &a, &shared));
    long result;
    BENCH_CHECK(weft_chan_recv(root, &result, WEFT_FOREVER));
    int64_t t1 = weft_now();
    if (result != size * (size - 1) / 2) {
        fprintf(stderr, "skynet_mt: wrong sum %ld\n", result);
        exit(1);
    }
    if (g)
        BENCH_CHECK(weft_group_wait(g, WEFT_FOREVER));
    weft_chan_destroy(root);
    return (double)(t1 - t0) / 1e9;
}

int main(int argc, char **argv) {
    long size = bench_size(argc, argv, 1000000, 100000);
    weft_group *g;
    const char *nt = getenv("SKYNET_MT_THREADS"); /* profiling: another group size */
    BENCH_CHECK(weft_group_create(&g, &(weft_group_opts){.threads = nt ? (unsigned)atoi(nt) : 0}));
    /* One warm-up tree each (the first maps the stacks and control blocks), then the
     * better of three, alternating. */
    (void)tree(g, size);
    if (getenv("SKYNET_MT_GROUP_ONLY")) { /* profiling: the group's trees alone */
        for (int i = 0; i < 10; i++)
            fprintf(stderr, "group %.3f s\n", tree(g, size));
        return 0;
    }
    (void)tree(NULL, size);
    double best_g = 1e9, best_1 = 1e9;
    for (int i = 0; i < 3; i++) {
        double x = tree(g, size), y = tree(NULL, size);
        if (getenv("SKYNET_MT_VERBOSE"))
            fprintf(stderr, "group %.3f s, one thread %.3f s\n", x, y);
        if (x < best_g)
            best_g = x;
        if (y < best_1)
            best_1 = y;
    }
    fprintf(stderr, "note: weft skynet_mt: a group of %d workers\n", weft_group_threads(g));
    BENCH_CHECK(weft_group_destroy(g));
    bench_line("skynet_mt", "weft", best_g, "s");
    bench_line("skynet_mt", "weft-1t", best_1, "s");
    return 0;
}
