/* skynet: 1M coroutines in a 10-ary tree, each leaf sends its id to its
 * parent over a channel, each inner node sums its children's; seconds. */
#include "bench.h"

typedef struct {
    long num, size;
    weft_chan *out;
} node_arg;

static const weft_coro_opts shared = {.stack_mode = WEFT_STACK_SHARED, .detached = 1};

/* A parent hands its ten children their arguments in one allocation, freed
 * once all ten have reported (each child copies its own first). */
static void *skynet(void *p) {
    node_arg a = *(node_arg *)p;
    long sum = 0;
    if (a.size == 1) {
        sum = a.num;
    } else {
        weft_chan *ch;
        BENCH_CHECK(weft_chan_create(&ch, sizeof(long), 10)); /* as the Go peer: make(chan int, 10) */
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

int main(int argc, char **argv) {
    long size = bench_size(argc, argv, 1000000, 100000);
    weft_chan *root;
    BENCH_CHECK(weft_chan_create(&root, sizeof(long), 1));
    node_arg a = {0, size, root};
    int64_t t0 = weft_now();
    BENCH_CHECK(weft_spawn(NULL, skynet, &a, &shared));
    long result;
    BENCH_CHECK(weft_chan_recv(root, &result, WEFT_FOREVER));
    int64_t t1 = weft_now();
    if (result != size * (size - 1) / 2) {
        fprintf(stderr, "skynet: wrong sum %ld\n", result);
        return 1;
    }
    bench_line("skynet", "weft", (double)(t1 - t0) / 1e9, "s");
    weft_chan_destroy(root);
    return 0;
}
