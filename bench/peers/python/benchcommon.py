"""What every Python peer of weft's benchmarks shares (see bench/README.md):
the contract lines, notes, and the command line

    <peer>_bench.py --list | <peer>_bench.py WORKLOAD [SIZE]

A peer script defines SYSTEM and WORKLOADS ({name: (function, full size,
quick size)}), makes `emit = benchcommon.emitter(SYSTEM)` and ends with
`benchcommon.main(SYSTEM, WORKLOADS, sys.argv)`. bench/run finds the peers
by their `_bench.py` suffix, so this module is not taken for one.
"""
import os
import sys


def emitter(system):
    """emit(workload, value, unit): prints one contract line
    "<workload>\\t<system>\\t<value>\\t<unit>" for `system`."""

    def emit(workload, value, unit):
        prec = 1 if value >= 100 else 3
        print(f"{workload}\t{system}\t{value:.{prec}f}\t{unit}", flush=True)

    return emit


def note(msg):
    """A remark for the reader, on stderr (not part of the contract)."""
    print(f"note: {msg}", file=sys.stderr, flush=True)


def main(system, workloads, argv):
    """--list prints "<workload>\\t<system>" for each workload; WORKLOAD [SIZE]
    runs one at SIZE, else at its full size (quick size if BENCH_QUICK=1)."""
    if len(argv) < 2:
        sys.exit(f"usage: {argv[0]} --list | {argv[0]} WORKLOAD [SIZE]")
    if argv[1] in ("-list", "--list"):
        for name in workloads:
            print(f"{name}\t{system}")
        return
    if argv[1] not in workloads:
        sys.exit(f"{argv[0]}: unknown workload {argv[1]!r}")
    fn, full, quick = workloads[argv[1]]
    n = quick if os.environ.get("BENCH_QUICK") == "1" else full
    if len(argv) > 2:
        n = int(argv[2])
    fn(n)
