#!/usr/bin/python3
"""greenlet peer for weft's benchmarks (see bench/README.md).

Usage: greenlet_bench.py --list | greenlet_bench.py WORKLOAD [SIZE]

Prints exactly the contract lines "<workload>\tgreenlet\t<value>\t<unit>" for
ONE run; bench/run takes medians. BENCH_QUICK=1 selects the reduced size.
Run it with Debian's /usr/bin/python3 (python3-greenlet).
"""
import sys
import time

import benchcommon

SYSTEM = "greenlet"


emit = benchcommon.emitter(SYSTEM)


def bench_switch(n):
    """Two greenlets switch to each other; ns per switch."""
    from greenlet import greenlet

    def a():
        for _ in range(n):
            gb.switch()

    def b():
        while True:
            ga.switch()

    ga = greenlet(a)
    gb = greenlet(b)
    t0 = time.perf_counter_ns()
    ga.switch()  # returns when a finishes: 2n switches between a and b
    el = time.perf_counter_ns() - t0
    emit("switch", el / (2 * n), "ns/op")


def bench_spawn(n):
    """Create a greenlet and switch into it until it finishes; ns each."""
    from greenlet import greenlet

    def empty():
        pass

    t0 = time.perf_counter_ns()
    for _ in range(n):
        greenlet(empty).switch()
    el = time.perf_counter_ns() - t0
    emit("spawn", el / n, "ns/op")


WORKLOADS = {
    # name: (function, full size, quick size)
    "switch": (bench_switch, 2_000_000, 200_000),
    "spawn": (bench_spawn, 200_000, 20_000),
}


if __name__ == "__main__":
    benchcommon.main(SYSTEM, WORKLOADS, sys.argv)
