// lock, Boost.Fiber peer: two threads, each running one fiber that does N increments of a
// shared counter under a boost::fibers::mutex (which parks the fiber, and its thread's
// scheduler, on contention); ns per increment. Usage: lock_boost [N per thread].
// bench-needs: boost/fiber/all.hpp
// bench-libs: -lboost_fiber -lboost_context
#include <boost/fiber/all.hpp>
#include <thread>

#include "boost_common.h"

static boost::fibers::mutex mu;
static long counter;

int main(int argc, char **argv) {
    long iters = peer_size(argc, argv, 10000000, 1000000);
    auto work = [iters] {
        boost::fibers::fiber f([iters] {
            for (long i = 0; i < iters; i++) {
                std::lock_guard<boost::fibers::mutex> g(mu);
                counter++;
            }
        });
        f.join();
    };
    double t0 = peer_now_ns();
    std::thread a(work), b(work);
    a.join();
    b.join();
    double t1 = peer_now_ns();
    if (counter != 2 * iters)
        return 1;
    std::fprintf(stderr, "note: boost %d: boost::fibers::mutex, one fiber on each of 2 threads\n",
                 BOOST_VERSION);
    std::printf("lock\tboost\t%.3f\tns/op\n", (t1 - t0) / (double)(2 * iters));
    return 0;
}
