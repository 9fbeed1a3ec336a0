// switch, Boost.Context peer: a boost::context::fiber (fcontext, callcc) resumed and
// resuming back; ns per switch (each resume is one switch). Usage: switch_boost [N].
// bench-needs: boost/context/fiber.hpp
// bench-libs: -lboost_context
#include <boost/context/fiber.hpp>

#include "boost_common.h"

namespace ctx = boost::context;

int main(int argc, char **argv) {
    long iters = peer_size(argc, argv, 20000000, 2000000);
    long count = 0;
    ctx::fiber f{[&count](ctx::fiber &&main) {
        for (;;) {
            count++;
            main = std::move(main).resume();
        }
        return std::move(main);
    }};
    double t0 = peer_now_ns();
    for (long i = 0; i < iters / 2; i++)
        f = std::move(f).resume();
    double t1 = peer_now_ns();
    if (count != iters / 2)
        return 1;
    std::fprintf(stderr, "note: boost %d: boost::context::fiber resume both ways, %ld switches\n",
                 BOOST_VERSION, iters / 2 * 2);
    std::printf("switch\tboost\t%.3f\tns/op\n", (t1 - t0) / (double)(iters / 2 * 2));
    return 0;
}
