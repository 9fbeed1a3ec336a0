// Shared helpers of the Boost peers (bench/peers/boost/): size, clock.
#ifndef BOOST_COMMON_H
#define BOOST_COMMON_H
#include <boost/version.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

static inline long peer_size(int argc, char **argv, long full, long quick) {
    if (argc > 1)
        return std::atol(argv[1]);
    const char *q = std::getenv("BENCH_QUICK");
    return q && std::strcmp(q, "1") == 0 ? quick : full;
}

static inline double peer_now_ns() {
    return (double)std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
#endif
