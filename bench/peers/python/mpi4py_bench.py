#!/usr/bin/python3
"""mpi4py.futures peer for weft's MPI benchmarks (see bench/README.md).

Usage: mpi4py_bench.py --list | mpi4py_bench.py WORKLOAD [SIZE]

Runs itself again as `mpirun --oversubscribe -n 4 python3 -m mpi4py.futures
mpi4py_bench.py --rank WORKLOAD SIZE` (mpi4py.futures' static launch, as weft's
mpi_pool_* programs run: rank 0 submits, ranks 1-3 are MPIPoolExecutor's
workers) and prints what rank 0 prints: "<workload>\tmpi4py\t<value>\t<unit>".
Needs Debian's python3-mpi4py and openmpi-bin.
"""
import os
import subprocess
import sys
import time

import benchcommon

SYSTEM = "mpi4py"
emit = benchcommon.emitter(SYSTEM)
note = benchcommon.note


def _square(x):
    return x * x


def _ident(x):
    return x


def rank_map(n):
    """MPIPoolExecutor.map over n integers (x*x), with the chunk size weft's
    map picks by default (n / (4 * workers), rounded up): mpi4py.futures'
    own default is 1 item per message."""
    from mpi4py import MPI
    from mpi4py.futures import MPIPoolExecutor

    with MPIPoolExecutor() as ex:
        workers = MPI.COMM_WORLD.Get_size() - 1  # static launch: every other rank
        chunk = -(-n // (4 * workers))
        list(ex.map(_square, range(2000), chunksize=chunk))  # warm up
        t0 = time.perf_counter_ns()
        out = list(ex.map(_square, range(n), chunksize=chunk))
        el = time.perf_counter_ns() - t0
    if out[-1] != (n - 1) * (n - 1):
        sys.exit("mpi_pool_map: wrong result")
    note(f"mpi4py mpi_pool_map: {n} items, {workers} worker ranks, chunksize {chunk}")
    emit("mpi_pool_map", el / n, "ns/op")


def rank_apply(n):
    """submit(ident, i).result(), n times one after another."""
    from mpi4py.futures import MPIPoolExecutor

    with MPIPoolExecutor() as ex:
        for i in range(200):
            ex.submit(_ident, i).result()
        t0 = time.perf_counter_ns()
        for i in range(n):
            if ex.submit(_ident, i).result() != i:
                sys.exit("mpi_pool_apply: wrong result")
        el = time.perf_counter_ns() - t0
    note(f"mpi4py mpi_pool_apply: {n} round trips (submit + result)")
    emit("mpi_pool_apply", el / 1e3 / n, "us/op")


RANK = {"mpi_pool_map": rank_map, "mpi_pool_apply": rank_apply}


def launch(workload):
    def run(n):
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        cmd = ["mpirun", "--oversubscribe", "--bind-to", "none", "-n", "4", sys.executable,
               "-m", "mpi4py.futures", os.path.abspath(__file__), "--rank", workload, str(n)]
        sys.exit(subprocess.call(cmd, env=env))

    return run


WORKLOADS = {
    "mpi_pool_map": (launch("mpi_pool_map"), 200000, 20000),
    "mpi_pool_apply": (launch("mpi_pool_apply"), 5000, 1000),
}

if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--rank":
        RANK[sys.argv[2]](int(sys.argv[3]))
    else:
        benchcommon.main(SYSTEM, WORKLOADS, sys.argv)
