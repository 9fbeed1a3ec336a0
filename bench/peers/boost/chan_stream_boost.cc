// chan_stream, Boost.Fiber peer: N longs from a producer fiber to a consumer fiber on one
// thread through a boost::fibers::buffered_channel of capacity 1024; msgs/s.
// Usage: chan_stream_boost [N]; BENCH_QUICK=1 reduced.
// bench-needs: boost/fiber/all.hpp
// bench-libs: -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include "boost_common.h"

int main(int argc, char **argv) {
    long n = peer_size(argc, argv, 10000000, 1000000);
    boost::fibers::buffered_channel<long> ch(1024);
    long sum = 0;
    double t0 = peer_now_ns();
    boost::fibers::fiber prod([&] {
        for (long i = 0; i < n; i++)
            ch.push(i);
        ch.close();
    });
    boost::fibers::fiber cons([&] {
        long v;
        while (ch.pop(v) == boost::fibers::channel_op_status::success)
            sum += v;
    });
    prod.join();
    cons.join();
    double t1 = peer_now_ns();
    if (sum != n * (n - 1) / 2)
        return 1;
    std::fprintf(stderr, "note: boost %d: buffered_channel(1024), one thread, %ld items\n",
                 BOOST_VERSION, n);
    std::printf("chan_stream\tboost\t%.1f\tmsgs/s\n", (double)n * 1e9 / (t1 - t0));
    return 0;
}
