/* skynet: 1M coroutines in a 10-ary tree, each leaf sends its id to its
 * parent over a channel, each inner node sums its children's; seconds. */
#include "skynet_tree.h"

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
