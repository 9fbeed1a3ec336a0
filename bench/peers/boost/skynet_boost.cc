// skynet, Boost.Fiber peer: 100k (not 1M) fibers in a 10-ary tree, each leaf sends its id, each
// inner node sums its 10 children's through a buffered_channel (capacity 16: Boost's
// must be a power of two) and sends the sum up; one thread; seconds. 100k, not 1M: Boost's
// fibers keep a fixed stack each (16 KiB pooled here, none returned until the end), and
// the whole tree is alive at once, so 1M took 17 GiB and 47 s on the 2-CPU machine.
// Usage: skynet_boost [SIZE]; BENCH_QUICK=1 reduced.
// bench-needs: boost/fiber/all.hpp
// bench-libs: -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include "boost_common.h"

using chan = boost::fibers::buffered_channel<long>;
static boost::fibers::pooled_fixedsize_stack *stacks;

static void skynet(chan &up, long num, long size) {
    if (size == 1) {
        up.push(num);
        return;
    }
    chan c(16);
    long child = size / 10;
    for (long i = 0; i < 10; i++)
        boost::fibers::fiber(std::allocator_arg, *stacks, [&c, num, i, child] {
            skynet(c, num + i * child, child);
        }).detach();
    long sum = 0, v;
    for (long i = 0; i < 10; i++) {
        c.pop(v);
        sum += v;
    }
    up.push(sum);
}

int main(int argc, char **argv) {
    long size = peer_size(argc, argv, 100000, 10000);
    boost::fibers::pooled_fixedsize_stack pool(16384);
    stacks = &pool;
    chan root(2);
    double t0 = peer_now_ns();
    boost::fibers::fiber([&root, size] { skynet(root, 0, size); }).detach();
    long r;
    root.pop(r);
    double t1 = peer_now_ns();
    if (r != size * (size - 1) / 2)
        return 1;
    std::fprintf(stderr,
                 "note: boost %d: detached fibers on 16 KiB pooled stacks, buffered_channel, one "
                 "thread, %ld leaves\n",
                 BOOST_VERSION, size);
    std::printf("skynet\tboost\t%.4f\ts\n", (t1 - t0) / 1e9);
    return 0;
}
