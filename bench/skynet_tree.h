/* What bench/skynet.c and bench/skynet_mt.c share: one node of the skynet tree (a
 * 10-ary tree of coroutines, each leaf sends its id to its parent over a channel,
 * each inner node sums its children's). Not a benchmark program itself (no main). */
#ifndef WEFT_BENCH_SKYNET_TREE_H
#define WEFT_BENCH_SKYNET_TREE_H
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

#endif
