#!/usr/bin/python3
"""Python threading peer for weft's benchmarks (see bench/README.md).

Usage: threading_bench.py --list | threading_bench.py WORKLOAD [SIZE]

Prints exactly the contract lines "<workload>\tpython-threading\t<value>\t<unit>"
for ONE run; bench/run takes medians. BENCH_QUICK=1 selects the reduced size.
Python is two to three orders of magnitude slower than the C/Go figures, so
every workload here runs fewer operations than the table says (the figures
are rates or per-operation costs, so still comparable); each run says so in
a "note: ..." line on stderr. Standard library only; run it with Debian's
/usr/bin/python3.
"""
import sys
import threading
import time

import benchcommon

SYSTEM = "python-threading"


emit = benchcommon.emitter(SYSTEM)
note = benchcommon.note


def bench_lock(n):
    """Two threads each do n increments under one threading.Lock; ns per
    increment (total time / 2n)."""
    lock = threading.Lock()
    count = [0]

    def solo_loop(lk, n):
        for _ in range(n):
            with lk:
                pass

    t0 = time.perf_counter_ns()
    solo_loop(threading.Lock(), n)
    unc = (time.perf_counter_ns() - t0) / n

    def worker():
        c = count
        lk = lock
        for _ in range(n):
            with lk:
                c[0] += 1

    ts = [threading.Thread(target=worker) for _ in range(2)]
    t0 = time.perf_counter_ns()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = time.perf_counter_ns() - t0
    if count[0] != 2 * n:
        sys.exit(f"lock: lost increments: {count[0]} != {2 * n}")
    note(f"python-threading lock: 2 threads x {n} increments ({2 * n} in all, not 20M); "
         f"uncontended `with lock` {unc:.1f} ns")
    emit("lock", el / (2 * n), "ns/op")


def bench_thread_spawn(n):
    """threading.Thread(target=empty).start() then .join(), one at a time."""
    def empty():
        pass

    threading.Thread(target=empty).start()  # warm up
    t0 = time.perf_counter_ns()
    for _ in range(n):
        t = threading.Thread(target=empty)
        t.start()
        t.join()
    el = time.perf_counter_ns() - t0
    note(f"python-threading thread_spawn: {n} threads")
    emit("thread_spawn", el / 1e3 / n, "us/op")


def bench_queue_threads(n):
    """n ints from one thread to another through queue.Queue(maxsize=1024)."""
    import queue

    q = queue.Queue(maxsize=1024)
    out = [0]

    def consumer():
        get = q.get
        s = 0
        for _ in range(n):
            s += get()
        out[0] = s

    c = threading.Thread(target=consumer)
    t0 = time.perf_counter_ns()
    c.start()
    put = q.put
    for i in range(n):
        put(i)
    c.join()
    el = time.perf_counter_ns() - t0
    if out[0] != n * (n - 1) // 2:
        sys.exit(f"queue_threads: bad sum {out[0]}")
    note(f"python-threading queue_threads: {n} items, not 10M; queue.Queue(maxsize=1024)")
    emit("queue_threads", n / (el / 1e9), "msgs/s")


def bench_tpool(n):
    """Submit n no-op tasks to a ThreadPoolExecutor (default max_workers)
    and wait for all of them; ns per task."""
    from concurrent.futures import ThreadPoolExecutor, wait

    def noop():
        pass

    with ThreadPoolExecutor() as ex:
        workers = ex._max_workers
        ex.submit(noop).result()  # warm up: start one worker
        t0 = time.perf_counter_ns()
        futs = [ex.submit(noop) for _ in range(n)]
        wait(futs)
        el = time.perf_counter_ns() - t0
    note(f"python-threading tpool: {n} tasks, not 1M; ThreadPoolExecutor(max_workers={workers}, "
         f"the default)")
    emit("tpool", el / n, "ns/op")


def bench_tpool_imap(n):
    """ThreadPoolExecutor().map(noop, range(n), timeout=60) iterated to the end (the
    whole map submitted at once, as Python does without buffersize); ns per result."""
    from concurrent.futures import ThreadPoolExecutor

    def noop(x):
        return x & 1

    with ThreadPoolExecutor() as ex:
        workers = ex._max_workers
        ex.submit(noop, 0).result()  # warm up: start one worker
        t0 = time.perf_counter_ns()
        count = 0
        for r in ex.map(noop, range(n), timeout=60):
            if r != count & 1:
                sys.exit("tpool_imap: wrong result")
            count += 1
        el = time.perf_counter_ns() - t0
    if count != n:
        sys.exit("tpool_imap: missing results")
    note(f"python-threading tpool_imap: {n} tasks, not 1M; ThreadPoolExecutor(max_workers="
         f"{workers}, the default).map(timeout=60)")
    emit("tpool_imap", el / n, "ns/op")


WORKLOADS = {
    # name: (function, full size, quick size)
    # lock: increments per thread (2 threads), 1M in all even at full size.
    "lock": (bench_lock, 500_000, 100_000),
    "thread_spawn": (bench_thread_spawn, 10_000, 1_000),
    "queue_threads": (bench_queue_threads, 200_000, 50_000),
    "tpool": (bench_tpool, 50_000, 10_000),
    "tpool_imap": (bench_tpool_imap, 50_000, 10_000),
}


if __name__ == "__main__":
    benchcommon.main(SYSTEM, WORKLOADS, sys.argv)
