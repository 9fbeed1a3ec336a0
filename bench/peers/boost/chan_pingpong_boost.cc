// chan_pingpong, Boost.Fiber peer: two fibers on one thread bounce a long through two
// boost::fibers::unbuffered_channel; ns per round trip. Usage: chan_pingpong_boost [N].
// bench-needs: boost/fiber/all.hpp
// bench-libs: -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include "boost_common.h"

int main(int argc, char **argv) {
    long iters = peer_size(argc, argv, 2000000, 200000);
    boost::fibers::unbuffered_channel<long> ping, pong;
    boost::fibers::fiber f([&] {
        long v;
        for (long i = 0; i < iters; i++) {
            ping.pop(v);
            pong.push(v + 1);
        }
    });
    long v = 0;
    double t0 = peer_now_ns();
    for (long i = 0; i < iters; i++) {
        ping.push(v);
        pong.pop(v);
    }
    double t1 = peer_now_ns();
    f.join();
    if (v != iters)
        return 1;
    std::fprintf(stderr,
                 "note: boost %d: unbuffered_channel, two fibers, one thread, %ld round trips\n",
                 BOOST_VERSION, iters);
    std::printf("chan_pingpong\tboost\t%.3f\tns/op\n", (t1 - t0) / (double)iters);
    return 0;
}
