#!/usr/bin/python3
"""Python multiprocessing peer for weft's benchmarks (see bench/README.md).

Usage: mp_bench.py --list | mp_bench.py WORKLOAD [SIZE]

Prints exactly the contract lines "<workload>\tpython-mp\t<value>\t<unit>"
for ONE run; bench/run takes medians. BENCH_QUICK=1 selects the reduced size.
Python runs fewer operations than the C programs where the table's count
would take too long (the figures are per-operation costs or rates, so still
comparable); each run says so in a "note: ..." line on stderr. Standard
library only; run it with Debian's /usr/bin/python3. Every workload uses
the "fork" start method (weft's processes are forked too).

Each workload is one function registered in WORKLOADS below.
"""
import multiprocessing as mp
import os
import sys
import time

import benchcommon

SYSTEM = "python-mp"


emit = benchcommon.emitter(SYSTEM)
note = benchcommon.note


def ctx():
    return mp.get_context("fork")


def _empty():
    pass


def bench_proc_spawn(n):
    """Process(target=empty).start() then .join(), one at a time; us each."""
    c = ctx()
    for _ in range(5):  # warm up
        p = c.Process(target=_empty)
        p.start()
        p.join()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        p = c.Process(target=_empty)
        p.start()
        p.join()
        if p.exitcode != 0:
            sys.exit(f"proc_spawn: child exit code {p.exitcode}")
    el = time.perf_counter_ns() - t0
    note(f"python-mp proc_spawn: {n} processes, start method fork")
    emit("proc_spawn", el / 1e3 / n, "us/op")


def _square(x):
    return x * x


def _ident(x):
    return x


def bench_pool_map(n):
    """Pool(os.cpu_count()).map(square, range(n)), default chunking; ns per item."""
    c = ctx()
    with c.Pool(os.cpu_count()) as pool:
        pool.map(_square, range(n))  # warm up: workers started
        best = None
        for _ in range(3):
            t0 = time.perf_counter_ns()
            out = pool.map(_square, range(n))
            el = time.perf_counter_ns() - t0
            if out[-1] != (n - 1) * (n - 1):
                sys.exit("pool_map: wrong result")
            best = el if best is None or el < best else best
    note(f"python-mp pool_map: {n} items, Pool({os.cpu_count()}), default chunking, best of 3")
    emit("pool_map", best / n, "ns/op")


def _mul(a, b):
    return a * b


def bench_pool_starmap(n):
    """Pool(os.cpu_count()).starmap(mul, zip(range(n), range(3, n + 3))), default
    chunking; ns per item."""
    c = ctx()
    items = list(zip(range(n), range(3, n + 3)))
    with c.Pool(os.cpu_count()) as pool:
        pool.starmap(_mul, items)  # warm up: workers started
        best = None
        for _ in range(3):
            t0 = time.perf_counter_ns()
            out = pool.starmap(_mul, items)
            el = time.perf_counter_ns() - t0
            if out[-1] != (n - 1) * (n + 2):
                sys.exit("pool_starmap: wrong result")
            best = el if best is None or el < best else best
    note(f"python-mp pool_starmap: {n} items of 2 ints, Pool({os.cpu_count()}), default "
         f"chunking, best of 3")
    emit("pool_starmap", best / n, "ns/op")


def bench_pool_apply(n):
    """pool.apply_async(ident, (i,)).get(), one at a time; us each."""
    c = ctx()
    with c.Pool(os.cpu_count()) as pool:
        for i in range(200):  # warm up
            pool.apply_async(_ident, (i,)).get()
        t0 = time.perf_counter_ns()
        for i in range(n):
            if pool.apply_async(_ident, (i,)).get() != i:
                sys.exit("pool_apply: wrong result")
        el = time.perf_counter_ns() - t0
    note(f"python-mp pool_apply: {n} round trips, Pool({os.cpu_count()})")
    emit("pool_apply", el / 1e3 / n, "us/op")


def _pq_reader(q, n, out):
    total = 0
    for _ in range(n):
        total += q.get()
    out.put(total)


def bench_proc_queue(n):
    """n small ints (8-byte payloads) through mp.Queue from this process to a
    forked reader; msgs/s from the fork to the reader's exit."""
    c = ctx()
    q, out = c.Queue(), c.Queue()
    t0 = time.perf_counter_ns()
    p = c.Process(target=_pq_reader, args=(q, n, out))
    p.start()
    for i in range(n):
        q.put(i)
    total = out.get()
    p.join()
    el = time.perf_counter_ns() - t0
    if total != n * (n - 1) // 2 or p.exitcode != 0:
        sys.exit("proc_queue: wrong result")
    note(f"python-mp proc_queue: {n} messages, mp.Queue, start method fork")
    emit("proc_queue", n / (el / 1e9), "msgs/s")


def _pd_ops(d, n, who):
    keys = ["%c%07u" % (chr(ord("a") + who), k) for k in range(1024)]
    for i in range(0, n, 2):
        k = keys[(i // 2) % 1024]
        d[k] = i
        if d[k] != i:
            sys.exit("pdict: wrong value read back")


def bench_pdict(n):
    """d[k] = v then d[k] on a Manager().dict(), n operations in all; ops/s."""
    with ctx().Manager() as m:
        d = m.dict()
        _pd_ops(d, 2000, 0)
        t0 = time.perf_counter_ns()
        _pd_ops(d, n, 0)
        el = time.perf_counter_ns() - t0
    note(f"python-mp pdict: {n} operations on a Manager().dict(), start method fork")
    emit("pdict", n / (el / 1e9), "ops/s")


def bench_pdict_2proc(n):
    """The same from 2 forked processes at once on one Manager().dict(), n
    operations each; ops/s of both, from the start to the last join."""
    c = ctx()
    with c.Manager() as m:
        d = m.dict()
        _pd_ops(d, 2000, 0)
        _pd_ops(d, 2000, 1)
        t0 = time.perf_counter_ns()
        ps = [c.Process(target=_pd_ops, args=(d, n, i)) for i in range(2)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        el = time.perf_counter_ns() - t0
        if any(p.exitcode != 0 for p in ps):
            sys.exit("pdict_2proc: a child failed")
    note(f"python-mp pdict_2proc: 2 processes x {n} operations on one Manager().dict()")
    emit("pdict_2proc", 2 * n / (el / 1e9), "ops/s")


WORKLOADS = {
    # name: (function, full size, quick size)
    "pool_map": (bench_pool_map, 200_000, 200_000),
    "pool_starmap": (bench_pool_starmap, 200_000, 50_000),
    "pool_apply": (bench_pool_apply, 5_000, 1_000),
    "proc_spawn": (bench_proc_spawn, 1_000, 200),
    "proc_queue": (bench_proc_queue, 1_000_000, 100_000),
    "pdict": (bench_pdict, 40_000, 10_000),
    "pdict_2proc": (bench_pdict_2proc, 20_000, 5_000),
}


if __name__ == "__main__":
    benchcommon.main(SYSTEM, WORKLOADS, sys.argv)
