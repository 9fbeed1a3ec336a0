"""The table of workloads shared by bench/run and bench/report.py.

Each workload names its unit(s), the peers that BENCHMARKS.md compares it with
(an expected peer that is not installed, or has no program for the workload,
is reported as `skipped`), and weft's target as machine-checkable checks.
Adding a workload: add an entry here if it is not already listed, then add
programs (see bench/README.md). Everything else is discovered.
"""

LOWER_BETTER = {"ns/op", "us/op", "s", "MiB"}
HIGHER_BETTER = {"ops/s", "msgs/s", "req/s"}

# Systems that are not peers: weft itself (and weft-1t, its http_server with one server
# thread, against nginx-1w, or its M:N workloads on one thread; weft-group, its
# http_server served by a worker group) and the physical floor.
NOT_PEERS = {"weft", "weft-1t", "weft-group", "floor"}

# Peer families, for results.png (weft against the best peer of each family).
FAMILIES = ["Go", "Python", "C/C++", "Rust"]


def family(system):
    """The family of a peer system: Go, Python (greenlet, gevent, python-*) or C/C++
    (pthread, GNU Pth, Boost, libuv, nginx, libcurl multi, the program without the hook)
    or Rust (Tokio)."""
    if system == "go":
        return "Go"
    if system == "tokio":
        return "Rust"
    if system in ("greenlet", "gevent") or system.startswith("python"):
        return "Python"
    return "C/C++"


def lower_is_better(unit):
    if unit in LOWER_BETTER:
        return True
    if unit in HIGHER_BETTER:
        return False
    raise ValueError(f"unknown unit {unit!r}")


class W:
    def __init__(self, name, units, peers, target, checks, what="", reduced=None):
        self.name = name
        self.units = units          # list: sleepers has two
        self.peers = peers          # expected systems besides weft (may include floor)
        self.target = target        # the target as BENCHMARKS.md words it
        self.checks = checks        # list of checks, see report.py
        self.what = what
        # {system: why}: peers whose figure is measured at a smaller size than
        # weft's, so it is shown but neither counted as best peer nor compared.
        self.reduced = reduced or {}


# Checks (all about weft's median figure in `unit`):
#   ("max", unit, v)                weft <= v
#   ("min", unit, v)                weft >= v
#   ("vs", unit, system, factor)    weft at least as good as factor x system's figure
#                                   (lower-better: weft <= factor*other;
#                                    higher-better: weft >= factor*other)
#   ("ahead", unit)                 weft strictly better than every peer
WORKLOADS = [
    W("switch", ["ns/op"], ["floor", "go", "greenlet", "gevent", "pth", "boost"],
      "<= 2x floor, and faster than every peer",
      [("vs", "ns/op", "floor", 2.0), ("ahead", "ns/op")],
      "two coroutines yield to each other, ns per switch"),
    W("spawn", ["ns/op"], ["go", "greenlet", "gevent", "pth", "boost"],
      "<= 60 ns", [("max", "ns/op", 60.0)],
      "spawn + run + join an empty coroutine, ns each"),
    W("spawn_link", ["ns/op"], ["gevent"],
      "<= 100 ns", [("max", "ns/op", 100.0)],
      "spawn + link a callback + run + join an empty coroutine, ns each (Greenlet.link)"),
    W("coro_local", ["ns/op"], ["floor", "gevent"],
      "<= 10 ns", [("max", "ns/op", 10.0)],
      "per-coroutine storage: one set + one get of a key's value (gevent.local)"),
    W("chan_pingpong", ["ns/op"], ["go", "gevent", "pth", "boost"],
      "<= 100 ns", [("max", "ns/op", 100.0)],
      "unbuffered channel round trip, two coroutines on one thread"),
    W("chan_stream", ["msgs/s"], ["go", "gevent", "boost"],
      ">= 3x Go", [("vs", "msgs/s", "go", 3.0)],
      "10M ints through a channel of capacity 1024, producer to consumer"),
    W("sleepers", ["s", "MiB"], ["floor", "go", "gevent"],
      "wall <= 1.3 s, memory <= 0.5 GiB",
      [("max", "s", 1.3), ("max", "MiB", 512.0)],
      "1M coroutines each sleeping 1 s; wall time and PSS",
      reduced={"gevent": "100k greenlets, not 1M (as BENCHMARKS.md measured it)"}),
    W("skynet", ["s"], ["go", "gevent", "boost"],
      "<= Go / 3", [("vs", "s", "go", 1.0 / 3.0)],
      "1M tasks in a 10-ary tree summing their ids over channels",
      reduced={"boost": "100k fibers, not 1M (1M fixed 16 KiB stacks alive at once: 17 GiB)"}),
    W("lock", ["ns/op"], ["floor", "go", "python-threading", "pth", "boost"],
      "<= 40 ns (and uncontended lock+unlock <= 8 ns, not checked here)",
      [("max", "ns/op", 40.0)],
      "2 threads, 10M locked increments each, ns per increment"),
    W("skynet_mt", ["s"], ["go", "tokio"],
      "<= weft-1t / 1.6, and >= 3x Go",
      [("vs", "s", "weft-1t", 1 / 1.6), ("vs", "s", "go", 1 / 3.0)],
      "skynet on a worker group (one worker per CPU; Go: GOMAXPROCS=2; Tokio: 2 worker "
      "threads), one tree in a fresh process (memory cold, as skynet); weft-1t: the same "
      "tree on one thread, measured the same way in the same run"),
    W("chan_pingpong_mt", ["ns/op"], ["go", "tokio"],
      "<= 2x weft-1t", [("vs", "ns/op", "weft-1t", 2.0)],
      "unbuffered channel round trip, two coroutines of a group of two workers (Go: "
      "GOMAXPROCS=2; Tokio: 2 worker threads, channels of capacity 1); weft-1t: the same "
      "pair on one thread"),
    W("spawn_mt", ["ns/op"], ["go", "tokio"],
      "<= 2x weft-1t", [("vs", "ns/op", "weft-1t", 2.0)],
      "spawn + run + join an empty coroutine from a coroutine of a group of two workers "
      "(Go: GOMAXPROCS=2; Tokio: 2 worker threads); weft-1t: the same loop on one thread"),
    W("thread_spawn", ["us/op"], ["pthread", "python-threading"],
      "<= 1.2x pthread", [("vs", "us/op", "pthread", 1.2)],
      "thread start + join"),
    W("queue_threads", ["msgs/s"], ["floor", "go", "python-threading", "pthread"],
      ">= Go", [("vs", "msgs/s", "go", 1.0)],
      "2 threads, 10M 8-byte items through a bounded queue"),
    W("tpool", ["ns/op"], ["go", "python-threading", "pthread", "libuv"],
      "<= 1 us/task", [("max", "ns/op", 1000.0)],
      "thread pool: 1M no-op tasks submitted and completed, no result object per task where "
      "the API has the choice (weft: no future; Go: a WaitGroup; Python's executor always "
      "makes a future); weft's figures with a future per task are in its note"),
    W("proc_spawn", ["us/op"], ["floor", "python-mp", "libuv"],
      "<= 1.3x floor", [("vs", "us/op", "floor", 1.3)],
      "process start + join"),
    W("pool_map", ["ns/op"], ["python-mp"],
      ">= 10x Python", [("vs", "ns/op", "python-mp", 0.1)],
      "process pool, 200k trivial tasks (x*x), default chunking"),
    W("pool_starmap", ["ns/op"], ["python-mp"],
      ">= 10x Python (as pool_map)", [("vs", "ns/op", "python-mp", 0.1)],
      "process pool, 200k two-argument tasks (a*b), default chunking"),
    W("tpool_imap", ["ns/op"], ["python-threading"],
      "<= 1 us/task (as tpool)", [("max", "ns/op", 1000.0)],
      "thread pool lazy map: 1M no-op tasks through an iterator with a window, per result"),
    W("pool_apply", ["us/op"], ["floor", "python-mp"],
      "<= 15 us", [("max", "us/op", 15.0)],
      "process pool, one apply_async then get, latency"),
    W("mpi_pool_map", ["ns/op"], ["mpi4py"],
      ">= 10x mpi4py.futures", [("vs", "ns/op", "mpi4py", 0.1)],
      "process pool over 4 MPI ranks (libweft-mpi, mpirun --oversubscribe), 200k trivial "
      "tasks (x*x), default chunking; MPIPoolExecutor.map given the same chunk size"),
    W("mpi_pool_apply", ["us/op"], ["floor", "mpi4py"],
      "<= 2x the MPI ping-pong floor", [("vs", "us/op", "floor", 2.0)],
      "process pool over 4 MPI ranks, one apply_async then get, latency; floor: "
      "MPI_Send + MPI_Recv round trip of 8 bytes between 2 ranks"),
    W("proc_queue", ["msgs/s"], ["floor", "python-mp"],
      ">= 10M msgs/s", [("min", "msgs/s", 10e6)],
      "1M 8-byte messages between two processes through a process queue"),
    W("pdict", ["ops/s"], ["python-mp"],
      ">= 100x Python's Manager().dict()", [("vs", "ops/s", "python-mp", 100.0)],
      "shared dict: set + get of 8-byte keys and values, one process"),
    W("pdict_2proc", ["ops/s"], ["python-mp"],
      ">= 100x Python's Manager().dict()", [("vs", "ops/s", "python-mp", 100.0)],
      "shared dict: set + get from 2 processes at once, each on its own keys"),
    W("http_server", ["req/s"], ["go", "gevent", "libuv", "nginx", "nginx-1w"],
      ">= Go; on a worker group (weft-group) >= its server threads (weft)",
      [("vs", "req/s", "go", 1.0), ("pair", "req/s", "weft-group", "weft", 1.0)],
      "HTTP/1.1 hello server under wrk -t1 -c64 -d5s on loopback",
      reduced={"nginx-1w": "one nginx worker: compared with weft-1t (weft's server with one "
                           "thread), not with weft's one thread per CPU",
               "libuv": "one libuv loop thread: compared with weft-1t (weft's server with "
                        "one thread), not with weft's one thread per CPU"}),
    W("http_client", ["req/s"], ["go", "gevent", "curl-multi"],
      ">= Go", [("vs", "req/s", "go", 1.0)],
      "3000 GETs, 100 at a time, against one loopback server"),
    W("hook_overhead", ["us/op"], ["nohook"],
      "within noise of the program without the hook (<= 1.05x)",
      [("vs", "us/op", "nohook", 1.05)],
      "the same libcurl client (sequential GETs, one thread, no coroutine) linked with "
      "libweft-hook (weft) and without it (nohook), us per request"),
    W("hook_main", ["s"], ["floor", "gevent"],
      "<= 1.05 s", [("max", "s", 1.05)],
      "the main coroutine and one other each call plain sleep(1) under the hook"),
    W("timeout_scope", ["ns/op"], ["gevent"],
      "<= 10 ns", [("max", "ns/op", 10.0)],
      "enter and leave a scoped timeout that does not fire"),
    W("wait_any", ["ns/op"], ["floor"],
      "<= 1.5x floor", [("vs", "ns/op", "floor", 1.5)],
      "weft_wait_any over 8 pipes, one made readable per call, vs poll(2) over them"),
    W("sessions", ["s", "MiB"], [],
      "<= 1 s, <= 1 MiB each", [("max", "s", 1.0), ("max", "MiB", 1.0)],
      "1,000 kept sessions running cat: send all + every echo read back; server PSS per session"),
]

BY_NAME = {w.name: w for w in WORKLOADS}
