/*
 * group_tree: coroutines on every CPU with a worker group (Go's M:N scheduling).
 *
 * A tree of coroutines, as the "skynet" benchmark builds it: the root has LEAVES
 * leaves below it, every inner coroutine spawns ten children and adds up what they
 * send back on a channel, every leaf sends its own number. The tree runs first on
 * this thread's scheduler, then on a worker group with one worker per CPU, where the
 * same code (weft_spawn inside a group spawns into the group) spreads over every
 * core: idle workers steal the oldest, biggest subtrees. Both runs print the sum,
 * which must be LEAVES * (LEAVES - 1) / 2, and their wall times (after one untimed
 * tree, so that neither pays for mapping the memory).
 *
 * Usage: group_tree [LEAVES]   (a power of 10 from 10 to 10000000; default 100000)
 * Exit status: 0 on success, 1 if a weft call fails or a sum is wrong, 2 on a usage
 * error.
 */
#include <weft.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct {
    long long num, size;
    weft_chan *out;
} node;

static int failed;

static void fail(const char *what, int err) {
    fprintf(stderr, "group_tree: %s: %s\n", what, weft_strerror(err));
    failed = 1;
}

/* SHARED stacks: a hundred thousand coroutines need no mapping each. */
static const weft_coro_opts child_opts = {.stack_mode = WEFT_STACK_SHARED, .detached = 1};

static void *subtree(void *arg) {
    node n = *(node *)arg; /* copied: the parent frees the array once all have sent */
    long long sum = 0;
    if (n.size == 1) {
        sum = n.num;
    } else {
        weft_chan *ch;
        int r = weft_chan_create(&ch, sizeof(long long), 10);
        node *kids = malloc(10 * sizeof *kids);
        if (r < 0 || !kids) {
            fail("making a node", r < 0 ? r : -ENOMEM);
            exit(1);
        }
        long long child = n.size / 10;
        for (long long i = 0; i < 10; i++) {
            kids[i] = (node){n.num + i * child, child, ch};
            if ((r = weft_spawn(NULL, subtree, &kids[i], &child_opts)) < 0) {
                fail("weft_spawn", r);
                exit(1);
            }
        }
        for (long long i = 0; i < 10; i++) {
            long long v = 0;
            if ((r = weft_chan_recv(ch, &v, WEFT_FOREVER)) < 0) {
                fail("weft_chan_recv", r);
                exit(1);
            }
            sum += v;
        }
        free(kids);
        weft_chan_destroy(ch);
    }
    int r = weft_chan_send(n.out, &sum, WEFT_FOREVER);
    if (r < 0)
        fail("weft_chan_send", r);
    return NULL;
}

/* One tree, on group g (or this thread when g is NULL): its sum and wall time. */
static int tree(weft_group *g, long long leaves, long long *sum, double *secs) {
    weft_chan *root;
    int r = weft_chan_create(&root, sizeof(long long), 1);
    if (r < 0)
        return r;
    node top = {0, leaves, root};
    int64_t t0 = weft_now();
    r = g ? weft_group_spawn(g, NULL, subtree, &top, &child_opts)
          : weft_spawn(NULL, subtree, &top, &child_opts);
    if (r == 0)
        r = weft_chan_recv(root, sum, WEFT_FOREVER);
    *secs = (double)(weft_now() - t0) / 1e9;
    if (r == 0 && g)
        r = weft_group_wait(g, WEFT_FOREVER); /* every coroutine of the tree has ended */
    weft_chan_destroy(root);
    return r;
}

int main(int argc, char **argv) {
    long long leaves = 100000;
    if (argc > 2) {
        fprintf(stderr, "usage: group_tree [LEAVES]\n");
        return 2;
    }
    if (argc == 2) {
        char *end;
        leaves = strtoll(argv[1], &end, 10);
        long long p = 10;
        while (p < leaves && p <= 1000000)
            p *= 10;
        if (*end || p != leaves) {
            fprintf(stderr, "group_tree: LEAVES must be a power of 10 from 10 to 10000000\n");
            return 2;
        }
    }
    const long long want = leaves * (leaves - 1) / 2;

    long long sum = 0;
    double one = 0, many = 0;
    /* One untimed tree first: both timed runs then find the memory mapped already
     * (blocks a thread frees past a few thousand are anyone's). */
    int r = tree(NULL, leaves, &sum, &one);
    if (r == 0)
        r = tree(NULL, leaves, &sum, &one);
    if (r < 0 || sum != want) {
        fprintf(stderr, "group_tree: one thread: %s, sum %lld (want %lld)\n",
                r < 0 ? weft_strerror(r) : "wrong sum", sum, want);
        return 1;
    }
    printf("one thread:       %lld coroutines, sum %lld, %.3f s\n", leaves + leaves / 9, sum,
           one);

    weft_group *g;
    if ((r = weft_group_create(&g, NULL)) < 0) {
        fail("weft_group_create", r);
        return 1;
    }
    int workers = weft_group_threads(g);
    r = tree(g, leaves, &sum, &many);
    int d = weft_group_destroy(g);
    if (r < 0 || d < 0 || sum != want || failed) {
        fprintf(stderr, "group_tree: group: %s, sum %lld (want %lld)\n",
                r < 0 ? weft_strerror(r) : d < 0 ? weft_strerror(d) : "wrong sum", sum, want);
        return 1;
    }
    printf("group of %d workers: %lld coroutines, sum %lld, %.3f s\n", workers,
           leaves + leaves / 9, sum, many);
    return 0;
}
