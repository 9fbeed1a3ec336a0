#!/usr/bin/python3
"""gevent peer for weft's http_client benchmark (see bench/README.md).

Usage: gevent_http_client_bench.py --list | gevent_http_client_bench.py http_client [REQUESTS]

3000 GETs, 100 at a time, with requests under gevent.monkey.patch_all(): 100
greenlets, each with its own requests.Session (one keep-alive connection), making
its share of the requests one after another. req/s.

The server is the one every system uses: weft's HTTP server run as a separate
process by `bench_http_client serve` (it prints its port and serves until its
stdin closes), taken from $WEFT_BENCH_DIR, $BENCH_BUILD_DIR/bench or
<repository>/build-bench/bench. Prints exactly the contract line on stdout.
"""
from gevent import monkey

monkey.patch_all()

import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import benchcommon  # noqa: E402

SYSTEM = "gevent"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


emit = benchcommon.emitter(SYSTEM)
note = benchcommon.note


def server_program():
    if os.environ.get("WEFT_BENCH_DIR"):
        return os.path.join(os.environ["WEFT_BENCH_DIR"], "bench_http_client")
    build = os.environ.get("BENCH_BUILD_DIR") or os.path.join(ROOT, "build-bench")
    return os.path.join(build, "bench", "bench_http_client")


def bench_http_client(total):
    try:
        import requests
    except ImportError:
        note("python3-requests is not installed")
        print(f"http_client\t{SYSTEM}\tskipped\treq/s", flush=True)
        return
    import gevent

    conc = 100
    per = max(1, total // conc)
    total = per * conc
    prog = server_program()
    if not os.path.exists(prog):
        note(f"gevent http_client: the server program {prog} is missing")
        print(f"http_client\t{SYSTEM}\tskipped\treq/s", flush=True)
        return
    srv = subprocess.Popen([prog, "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    port = int(srv.stdout.readline())
    url = f"http://127.0.0.1:{port}/13"
    failures = [0]

    def client():
        with requests.Session() as s:
            for _ in range(per):
                r = s.get(url)
                if r.status_code != 200 or len(r.content) != 13:
                    failures[0] += 1

    start = time.perf_counter()
    gevent.joinall([gevent.spawn(client) for _ in range(conc)], raise_error=True)
    el = time.perf_counter() - start
    srv.stdin.close()
    srv.wait()
    if failures[0]:
        sys.exit(f"gevent http_client: {failures[0]} requests failed")
    note(f"gevent http_client: requests {requests.__version__} under gevent "
         f"{gevent.__version__} monkey.patch_all(), {conc} greenlets with a Session each; "
         "server: weft's HTTP server (bench_http_client serve), one thread, separate process")
    emit("http_client", total / el, "req/s")


WORKLOADS = {"http_client": (bench_http_client, 3000, 3000)}


if __name__ == "__main__":
    benchcommon.main(SYSTEM, WORKLOADS, sys.argv)
