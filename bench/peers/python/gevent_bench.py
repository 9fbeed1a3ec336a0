#!/usr/bin/python3
"""gevent peer for weft's benchmarks (see bench/README.md).

Usage: gevent_bench.py --list | gevent_bench.py WORKLOAD [SIZE]

Prints exactly the contract lines "<workload>\tgevent\t<value>\t<unit>" for
ONE run; bench/run takes medians. BENCH_QUICK=1 selects the reduced size.
Facts worth keeping (sizes that differ from the table) go to stderr as
"note: ...". Run it with Debian's /usr/bin/python3 (python3-gevent).
"""
import os
import sys
import time

import benchcommon

SYSTEM = "gevent"
# skynet is reported only if the whole tree finishes within this many seconds.
SKYNET_LIMIT_S = 60


emit = benchcommon.emitter(SYSTEM)
note = benchcommon.note


def pss_mib():
    """Pss: of /proc/self/smaps_rollup, in MiB."""
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return -1.0


def bench_switch(n):
    """Two greenlets yield to each other through the hub with sleep(0)."""
    import gevent

    def loop():
        for _ in range(n):
            gevent.sleep(0)

    t0 = time.perf_counter_ns()
    gevent.joinall([gevent.spawn(loop), gevent.spawn(loop)])
    el = time.perf_counter_ns() - t0
    emit("switch", el / (2 * n), "ns/op")


def bench_spawn(n):
    """gevent.spawn + join of an empty function, one at a time."""
    import gevent

    def empty():
        pass

    t0 = time.perf_counter_ns()
    for _ in range(n):
        gevent.spawn(empty).join()
    el = time.perf_counter_ns() - t0
    emit("spawn", el / n, "ns/op")


def bench_chan_pingpong(n):
    """Round trip over two unbuffered gevent.queue.Channel objects."""
    import gevent
    from gevent.queue import Channel

    ping, pong = Channel(), Channel()

    def echo():
        while True:
            v = ping.get()
            if v is None:
                return
            pong.put(v)

    g = gevent.spawn(echo)
    t0 = time.perf_counter_ns()
    for i in range(1, n + 1):
        ping.put(i)
        pong.get()
    el = time.perf_counter_ns() - t0
    ping.put(None)
    g.join()
    emit("chan_pingpong", el / n, "ns/op")


def bench_chan_stream(n):
    """n ints through gevent.queue.Queue(maxsize=1024), producer -> consumer."""
    import gevent
    from gevent.queue import Queue

    q = Queue(maxsize=1024)

    def producer():
        for i in range(n):
            q.put(i)
        q.put(None)

    def consumer():
        s = 0
        while True:
            v = q.get()
            if v is None:
                return s
            s += v

    t0 = time.perf_counter()
    p = gevent.spawn(producer)
    c = gevent.spawn(consumer)
    gevent.joinall([p, c])
    el = time.perf_counter() - t0
    if c.value != n * (n - 1) // 2:
        sys.exit(f"chan_stream: bad sum {c.value}")
    note(f"gevent chan_stream: {n} items (the table's workload is 10M)")
    emit("chan_stream", n / el, "msgs/s")


def bench_sleepers(n):
    """n greenlets each gevent.sleep(1): wall time and PSS while asleep."""
    import gevent

    def sleeper():
        gevent.sleep(1)

    t0 = time.perf_counter()
    gs = [gevent.spawn(sleeper) for _ in range(n)]
    gevent.sleep(0)  # let every greenlet start and go to sleep
    spawned = time.perf_counter() - t0
    mem = pss_mib()
    gevent.joinall(gs)
    el = time.perf_counter() - t0
    note(f"gevent sleepers: {n} greenlets (BENCHMARKS.md measured gevent with 100k, "
         f"weft with 1M); all asleep after {spawned:.3f} s")
    emit("sleepers", el, "s")
    emit("sleepers", mem, "MiB")


def bench_skynet(n):
    """Classic skynet: n leaves in a 10-ary tree, sums over queues."""
    import gevent
    from gevent.queue import Queue

    def skynet(out, num, size, div):
        if size == 1:
            out.put(num)
            return
        rc = Queue()
        step = size // div
        for i in range(div):
            gevent.spawn(skynet, rc, num + i * step, step, div)
        s = 0
        for _ in range(div):
            s += rc.get()
        out.put(s)

    out = Queue()
    t0 = time.perf_counter()
    try:
        with gevent.Timeout(SKYNET_LIMIT_S):
            gevent.spawn(skynet, out, 0, n, 10)
            s = out.get()
    except gevent.Timeout:
        note(f"gevent skynet: {n} leaves did not finish in {SKYNET_LIMIT_S} s; skipped")
        print(f"skynet\t{SYSTEM}\tskipped\ts", flush=True)
        os._exit(0)  # do not wait for the rest of the tree
    el = time.perf_counter() - t0
    if s != n * (n - 1) // 2:
        sys.exit(f"skynet: bad sum {s}")
    note(f"gevent skynet: {n} leaves")
    emit("skynet", el, "s")


def bench_timeout_scope(n):
    """`with gevent.Timeout(3600): pass`: start and cancel a timeout that does not fire."""
    import gevent

    t0 = time.perf_counter()
    for _ in range(n):
        with gevent.Timeout(3600):
            pass
    el = time.perf_counter() - t0
    emit("timeout_scope", el / n * 1e9, "ns/op")


def bench_hook_main(ms):
    """monkey.patch_all(); the main greenlet and one other each call time.sleep."""
    from gevent import monkey

    monkey.patch_all()
    import gevent

    secs = ms / 1000.0
    t0 = time.perf_counter()
    g = gevent.spawn(time.sleep, secs)
    time.sleep(secs)
    g.join()
    emit("hook_main", time.perf_counter() - t0, "s")
def bench_spawn_link(n):
    """gevent.spawn + link a callback + join of an empty function, one at a time."""
    import gevent

    def empty():
        pass

    calls = [0]

    def on_done(g):
        calls[0] += 1

    t0 = time.perf_counter_ns()
    for _ in range(n):
        g = gevent.spawn(empty)
        g.link(on_done)
        g.join()
    gevent.sleep(0)  # the hub runs the last callbacks
    el = time.perf_counter_ns() - t0
    if calls[0] != n:
        raise SystemExit(f"spawn_link: {calls[0]} callbacks for {n} greenlets")
    emit("spawn_link", el / n, "ns/op")


def bench_coro_local(n):
    """One set + one get of an attribute of a gevent.local.local, in a greenlet."""
    import gevent
    from gevent.local import local

    loc = local()

    def loop():
        s = 0
        t0 = time.perf_counter_ns()
        for i in range(n):
            loc.v = i
            s += loc.v
        el = time.perf_counter_ns() - t0
        emit("coro_local", el / n, "ns/op")

    gevent.spawn(loop).join()


WORKLOADS = {
    # name: (function, full size, quick size)
    "timeout_scope": (bench_timeout_scope, 1_000_000, 100_000),
    "hook_main": (bench_hook_main, 1000, 200),
    "switch": (bench_switch, 200_000, 20_000),
    "spawn": (bench_spawn, 200_000, 20_000),
    "chan_pingpong": (bench_chan_pingpong, 200_000, 20_000),
    "chan_stream": (bench_chan_stream, 1_000_000, 100_000),
    "sleepers": (bench_sleepers, 100_000, 10_000),
    "skynet": (bench_skynet, 1_000_000, 10_000),
    "spawn_link": (bench_spawn_link, 200_000, 20_000),
    "coro_local": (bench_coro_local, 2_000_000, 200_000),
}


if __name__ == "__main__":
    benchcommon.main(SYSTEM, WORKLOADS, sys.argv)
