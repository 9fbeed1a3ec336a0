#!/usr/bin/python3
"""greenlet peer for weft's benchmarks (see bench/README.md).

Usage: greenlet_bench.py --list | greenlet_bench.py WORKLOAD [SIZE]

Prints exactly the contract lines "<workload>\tgreenlet\t<value>\t<unit>" for
ONE run; bench/run takes medians. BENCH_QUICK=1 selects the reduced size.
Run it with Debian's /usr/bin/python3 (python3-greenlet).
"""
import os
import sys
import time

SYSTEM = "greenlet"


def emit(workload, value, unit):
    prec = 1 if value >= 100 else 3
    print(f"{workload}\t{SYSTEM}\t{value:.{prec}f}\t{unit}", flush=True)


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


def main(argv):
    if len(argv) < 2:
        sys.exit(f"usage: {argv[0]} --list | {argv[0]} WORKLOAD [SIZE]")
    if argv[1] in ("-list", "--list"):
        for name in WORKLOADS:
            print(f"{name}\t{SYSTEM}")
        return
    if argv[1] not in WORKLOADS:
        sys.exit(f"{argv[0]}: unknown workload {argv[1]!r}")
    fn, full, quick = WORKLOADS[argv[1]]
    n = quick if os.environ.get("BENCH_QUICK") == "1" else full
    if len(argv) > 2:
        n = int(argv[2])
    fn(n)


if __name__ == "__main__":
    main(sys.argv)
