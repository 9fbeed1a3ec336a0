/* chan_pingpong: unbuffered channel round trip between two coroutines on
 * one thread; ns per round trip. */
#include "pingpong.h"

int main(int argc, char **argv) {
    iters = bench_size(argc, argv, 5000000, 500000);
    BENCH_CHECK(weft_chan_create(&ping, sizeof(long), 0));
    BENCH_CHECK(weft_chan_create(&pong, sizeof(long), 0));
    int64_t ns = pingpong_rounds();
    bench_line("chan_pingpong", "weft", (double)ns / (double)iters, "ns/op");
    weft_chan_destroy(ping);
    weft_chan_destroy(pong);
    return 0;
}
