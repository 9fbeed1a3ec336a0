// http_server: Go net/http "Hello, World!" server under `wrk -t1 -c64 -dNs` on
// loopback, in req/s (N = SIZE seconds: 5, or 2 under BENCH_QUICK). The server
// runs in this process with the default GOMAXPROCS; wrk shares the machine.
package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

func benchHTTPServer(secs int) {
	if _, err := exec.LookPath("wrk"); err != nil {
		note("wrk is not installed")
		fmt.Printf("http_server\tgo\tskipped\treq/s\n")
		return
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	hello := []byte("Hello, World!")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := exec.Command("wrk", "-t1", "-c64", "-d"+strconv.Itoa(secs)+"s",
		"http://127.0.0.1:"+strconv.Itoa(port)+"/")
	out, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	rps := -1.0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Requests/sec:") {
			rps, _ = strconv.ParseFloat(strings.TrimSpace(line[13:]), 64)
		} else if strings.Contains(line, "Non-2xx") || strings.Contains(line, "Socket errors") {
			note("go http_server: wrk: %s", strings.TrimSpace(line))
		}
	}
	if err := cmd.Wait(); err != nil || rps <= 0 {
		panic("wrk failed")
	}
	srv.Close()
	note("go http_server: net/http, GOMAXPROCS=%d, wrk -t1 -c64 -d%ds on the same cores, unpinned",
		runtime.GOMAXPROCS(0), secs)
	emit("http_server", rps, "req/s")
}
