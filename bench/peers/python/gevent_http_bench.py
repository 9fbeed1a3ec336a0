#!/usr/bin/python3
"""gevent peer for weft's http_server benchmark (see bench/README.md).

Usage: gevent_http_bench.py --list | gevent_http_bench.py http_server [SECONDS]

A gevent.pywsgi "Hello, World!" server on 127.0.0.1 under `wrk -t1 -c64 -dNs`
(N = 5, or 2 under BENCH_QUICK), in req/s. The server runs in this process, one
OS thread (the gevent hub); wrk is started with gevent.subprocess so the hub
keeps serving while it runs. Prints exactly the contract line on stdout.
"""
import shutil
import sys

import benchcommon

SYSTEM = "gevent"


emit = benchcommon.emitter(SYSTEM)
note = benchcommon.note


def bench_http_server(secs):
    if not shutil.which("wrk"):
        note("wrk is not installed")
        print(f"http_server\t{SYSTEM}\tskipped\treq/s", flush=True)
        return
    from gevent import pywsgi, subprocess

    body = b"Hello, World!"

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    server = pywsgi.WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None)
    server.start()
    port = server.server_port
    out = subprocess.check_output(
        ["wrk", "-t1", "-c64", f"-d{secs}s", f"http://127.0.0.1:{port}/"], text=True)
    server.stop(timeout=1)
    rps = None
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            rps = float(line.split(":", 1)[1])
        elif "Non-2xx" in line or "Socket errors" in line:
            note(f"gevent http_server: wrk: {line.strip()}")
    if rps is None:
        sys.exit("http_server: no Requests/sec in wrk's output")
    note(f"gevent http_server: pywsgi, one process and thread, wrk -t1 -c64 -d{secs}s, unpinned")
    emit("http_server", rps, "req/s")


WORKLOADS = {"http_server": (bench_http_server, 5, 2)}


if __name__ == "__main__":
    benchcommon.main(SYSTEM, WORKLOADS, sys.argv)
