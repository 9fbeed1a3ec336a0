// http_client: 3000 GETs, 100 at a time, with the net/http client: 100
// goroutines, each making its share of the requests one after another over
// keep-alive connections (a Transport with 100 idle connections per host),
// reading every body to the end. req/s.
//
// The server is the one every system uses: weft's HTTP server run as a
// separate process by `bench_http_client serve` (it prints its port and
// serves until its stdin closes), found next to this binary in the build tree
// (BUILD/peers/go/gobench -> BUILD/bench/bench_http_client), or in
// $WEFT_BENCH_DIR.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func httpClientServer() string {
	if d := os.Getenv("WEFT_BENCH_DIR"); d != "" {
		return filepath.Join(d, "bench_http_client")
	}
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	return filepath.Join(filepath.Dir(self), "..", "..", "bench", "bench_http_client")
}

func benchHTTPClient(total int) {
	const conc = 100
	if total < conc {
		total = conc
	}
	per := total / conc
	total = per * conc
	srvPath := httpClientServer()
	if _, err := os.Stat(srvPath); err != nil {
		note("go http_client: the server program %s is missing (build bench_http_client)", srvPath)
		fmt.Printf("http_client\tgo\tskipped\treq/s\n")
		return
	}
	cmd := exec.Command(srvPath, "serve")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		panic(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		panic(err)
	}
	port, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		panic(err)
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/13"
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: conc, MaxIdleConnsPerHost: conc, MaxConnsPerHost: 0,
		DisableCompression: true,
	}}
	var failures int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < conc; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				resp, err := client.Get(url)
				if err != nil {
					atomic.AddInt64(&failures, 1)
					continue
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || n != 13 {
					atomic.AddInt64(&failures, 1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	stdin.Close()
	cmd.Wait()
	if failures > 0 {
		fmt.Fprintf(os.Stderr, "go http_client: %d requests failed\n", failures)
		os.Exit(1)
	}
	note("go http_client: net/http client, %d goroutines, keep-alive; server: weft's HTTP server (bench_http_client serve), one thread, separate process", conc)
	emit("http_client", float64(total)/el.Seconds(), "req/s")
}
