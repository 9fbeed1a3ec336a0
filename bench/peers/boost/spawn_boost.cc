// spawn, Boost.Fiber peer: boost::fibers::fiber running an empty function, created
// and joined one at a time on one thread (default round-robin scheduler); ns each.
// Usage: spawn_boost [N]; BENCH_QUICK=1 reduced.
// bench-needs: boost/fiber/all.hpp
// bench-libs: -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>

#include "boost_common.h"

int main(int argc, char **argv) {
    long n = peer_size(argc, argv, 2000000, 200000);
    long ran = 0;
    double t0 = peer_now_ns();
    for (long i = 0; i < n; i++) {
        boost::fibers::fiber f([&ran] { ran++; });
        f.join();
    }
    double t1 = peer_now_ns();
    if (ran != n)
        return 1;
    std::fprintf(stderr, "note: boost %d: fiber + join of an empty function, %ld\n", BOOST_VERSION,
                 n);
    std::printf("spawn\tboost\t%.3f\tns/op\n", (t1 - t0) / (double)n);
    return 0;
}
