// Go peer for weft's benchmarks (see /work/shared/BENCHMARKS.md and bench/README.md).
//
// Usage: gobench -list | gobench WORKLOAD [SIZE]
//
// Prints exactly the contract lines "<workload>\tgo\t<value>\t<unit>" for ONE
// run on stdout; bench/run takes the median of several runs. BENCH_QUICK=1
// selects the reduced size. Extra facts go to stderr as "note: ...".
// No external modules: builds offline with the Debian golang-go package.
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

type workload struct {
	run         func(n int)
	full, quick int
}

var workloads = map[string]workload{
	"switch":        {benchSwitch, 10_000_000, 1_000_000},
	"spawn":         {benchSpawn, 2_000_000, 200_000},
	"chan_pingpong": {benchChanPingpong, 2_000_000, 200_000},
	"chan_stream":   {benchChanStream, 10_000_000, 1_000_000},
	"sleepers":      {benchSleepers, 1_000_000, 100_000},
	"skynet":        {benchSkynet, 1_000_000, 100_000},
	"lock":          {benchLock, 10_000_000, 1_000_000},
	"queue_threads": {benchQueueThreads, 10_000_000, 1_000_000},
	"tpool":         {benchTpool, 1_000_000, 100_000},
	"http_server":   {benchHTTPServer, 5, 2},
	"http_client":   {benchHTTPClient, 3000, 3000},
	// The M:N workloads: GOMAXPROCS=2, as weft's group of two workers.
	"skynet_mt":        {benchSkynetMT, 1_000_000, 100_000},
	"chan_pingpong_mt": {benchChanPingpongMT, 2_000_000, 200_000},
	"spawn_mt":         {benchSpawnMT, 2_000_000, 200_000},
}

// skynet_mt: skynet with GOMAXPROCS=2, one tree in a fresh process (as weft's
// skynet_mt and the skynet workload measure).
func benchSkynetMT(n int) {
	def := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(def)
	c := make(chan int, 1)
	start := time.Now()
	go skynet(c, 0, n, 10)
	s := <-c
	el := time.Since(start).Seconds()
	if want := n * (n - 1) / 2; s != want {
		fmt.Fprintf(os.Stderr, "skynet_mt: bad sum %d want %d\n", s, want)
		os.Exit(1)
	}
	note("go skynet_mt: %d leaves, GOMAXPROCS=2", n)
	emit("skynet_mt", el, "s")
}

// chan_pingpong_mt: unbuffered round trip between two goroutines, GOMAXPROCS=2.
func benchChanPingpongMT(n int) {
	def := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(def)
	emit("chan_pingpong_mt", pingpong(n), "ns/op")
}

// spawn_mt: spawn + run + join an empty goroutine, one at a time, GOMAXPROCS=2.
func benchSpawnMT(n int) {
	def := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(def)
	emit("spawn_mt", spawnLoop(n), "ns/op")
}

func emit(w string, value float64, unit string) {
	prec := 3
	if value >= 100 {
		prec = 1
	}
	fmt.Printf("%s\tgo\t%.*f\t%s\n", w, prec, value, unit)
}

func note(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "note: "+format+"\n", a...)
}

// switch: two goroutines on one P yield to each other with runtime.Gosched.
func benchSwitch(n int) {
	runtime.GOMAXPROCS(1)
	var wg sync.WaitGroup
	wg.Add(2)
	start := time.Now()
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	emit("switch", float64(el.Nanoseconds())/float64(2*n), "ns/op")
}

func spawnLoop(n int) float64 {
	var wg sync.WaitGroup
	f := func() { wg.Done() }
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go f()
		wg.Wait()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(n)
}

// spawn: spawn + run + join an empty goroutine, one at a time. Measured with
// GOMAXPROCS=1 and the default; the better one is reported.
func benchSpawn(n int) {
	def := runtime.GOMAXPROCS(0)
	a := spawnLoop(n)
	runtime.GOMAXPROCS(1)
	b := spawnLoop(n)
	runtime.GOMAXPROCS(def)
	note("go spawn: %.1f ns with GOMAXPROCS=%d, %.1f ns with GOMAXPROCS=1; reporting the lower", a, def, b)
	if b < a {
		a = b
	}
	emit("spawn", a, "ns/op")
}

func pingpong(n int) float64 {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	el := time.Since(start)
	close(ping)
	<-pong
	return float64(el.Nanoseconds()) / float64(n)
}

// chan_pingpong: unbuffered round trip between two goroutines. The reported
// figure is GOMAXPROCS=1 (two coroutines on one thread, as the table says).
func benchChanPingpong(n int) {
	def := runtime.GOMAXPROCS(1)
	one := pingpong(n)
	runtime.GOMAXPROCS(def)
	many := pingpong(n)
	note("go chan_pingpong: %.1f ns with GOMAXPROCS=1 (reported), %.1f ns with GOMAXPROCS=%d", one, many, def)
	emit("chan_pingpong", one, "ns/op")
}

// chan_stream: n ints through a chan of capacity 1024, producer -> consumer,
// default GOMAXPROCS.
func benchChanStream(n int) {
	ch := make(chan int, 1024)
	done := make(chan int)
	start := time.Now()
	go func() {
		s := 0
		for v := range ch {
			s += v
		}
		done <- s
	}()
	for i := 0; i < n; i++ {
		ch <- i
	}
	close(ch)
	s := <-done
	el := time.Since(start)
	if want := n * (n - 1) / 2; s != want {
		fmt.Fprintf(os.Stderr, "chan_stream: bad sum %d want %d\n", s, want)
		os.Exit(1)
	}
	note("go chan_stream: GOMAXPROCS=%d, %.1f ns/msg", runtime.GOMAXPROCS(0), float64(el.Nanoseconds())/float64(n))
	emit("chan_stream", float64(n)/el.Seconds(), "msgs/s")
}

// pssMiB reads the Pss: field of /proc/self/smaps_rollup (kB) in MiB.
func pssMiB() float64 {
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "Pss:" {
			kb, _ := strconv.ParseFloat(fs[1], 64)
			return kb / 1024
		}
	}
	return -1
}

// sleepers: n goroutines each sleep 1 s; wall time to all done, and PSS
// measured right after the last one was started (all still asleep unless
// starting them took more than 1 s).
func benchSleepers(n int) {
	var wg sync.WaitGroup
	wg.Add(n)
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			time.Sleep(time.Second)
			wg.Done()
		}()
	}
	spawned := time.Since(start)
	mem := pssMiB()
	wg.Wait()
	el := time.Since(start)
	note("go sleepers: %d goroutines, all started after %.3f s", n, spawned.Seconds())
	emit("sleepers", el.Seconds(), "s")
	emit("sleepers", mem, "MiB")
}

func skynet(c chan<- int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int, div)
	for i := 0; i < div; i++ {
		sub := num + i*(size/div)
		go skynet(rc, sub, size/div, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

// skynet: the classic benchmark (github.com/atemerev/skynet), n leaves
// (a power of 10), default GOMAXPROCS.
func benchSkynet(n int) {
	c := make(chan int, 1)
	start := time.Now()
	go skynet(c, 0, n, 10)
	s := <-c
	el := time.Since(start)
	if want := n * (n - 1) / 2; s != want {
		fmt.Fprintf(os.Stderr, "skynet: bad sum %d want %d\n", s, want)
		os.Exit(1)
	}
	note("go skynet: %d leaves, GOMAXPROCS=%d", n, runtime.GOMAXPROCS(0))
	emit("skynet", el.Seconds(), "s")
}

// lock: two goroutines with GOMAXPROCS=2 each do n increments of a shared
// counter under a sync.Mutex; ns per increment (total time / 2n). The
// uncontended Lock+Unlock on one goroutine goes in a note.
func benchLock(n int) {
	def := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(def)
	var solo sync.Mutex
	soloCount := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		solo.Lock()
		soloCount++
		solo.Unlock()
	}
	unc := float64(time.Since(start).Nanoseconds()) / float64(n)

	var mu sync.Mutex
	counter := 0
	var wg sync.WaitGroup
	wg.Add(2)
	start = time.Now()
	for g := 0; g < 2; g++ {
		go func() {
			for i := 0; i < n; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	if counter != 2*n || soloCount != n {
		fmt.Fprintf(os.Stderr, "lock: lost increments: %d != %d\n", counter, 2*n)
		os.Exit(1)
	}
	note("go lock: GOMAXPROCS=2, uncontended Lock+Unlock %.2f ns", unc)
	emit("lock", float64(el.Nanoseconds())/float64(2*n), "ns/op")
}

// queue_threads: n 8-byte items (int64) through a buffered channel of
// capacity 1024 from one goroutine to another, GOMAXPROCS=2.
func benchQueueThreads(n int) {
	def := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(def)
	ch := make(chan int64, 1024)
	done := make(chan int64)
	start := time.Now()
	go func() {
		var s int64
		for v := range ch {
			s += v
		}
		done <- s
	}()
	for i := int64(0); i < int64(n); i++ {
		ch <- i
	}
	close(ch)
	s := <-done
	el := time.Since(start)
	if want := int64(n) * int64(n-1) / 2; s != want {
		fmt.Fprintf(os.Stderr, "queue_threads: bad sum %d want %d\n", s, want)
		os.Exit(1)
	}
	note("go queue_threads: chan int64 of capacity 1024, GOMAXPROCS=2, %.1f ns/msg",
		float64(el.Nanoseconds())/float64(n))
	emit("queue_threads", float64(n)/el.Seconds(), "msgs/s")
}

// tpool: a pool of GOMAXPROCS worker goroutines reading closures from a
// buffered channel (capacity 1024); n no-op tasks submitted from the main
// goroutine, completion tracked with a WaitGroup; ns per task.
func benchTpool(n int) {
	workers := runtime.GOMAXPROCS(0)
	tasks := make(chan func(), 1024)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		go func() {
			for f := range tasks {
				f()
				wg.Done()
			}
		}()
	}
	noop := func() {}
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		tasks <- noop
	}
	wg.Wait()
	el := time.Since(start)
	close(tasks)
	note("go tpool: %d worker goroutines (GOMAXPROCS), task channel capacity 1024", workers)
	emit("tpool", float64(el.Nanoseconds())/float64(n), "ns/op")
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gobench -list | gobench WORKLOAD [SIZE]")
		os.Exit(2)
	}
	if os.Args[1] == "-list" || os.Args[1] == "--list" {
		for name := range workloads {
			fmt.Printf("%s\tgo\n", name)
		}
		return
	}
	w, ok := workloads[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gobench: unknown workload %q\n", os.Args[1])
		os.Exit(2)
	}
	n := w.full
	if os.Getenv("BENCH_QUICK") == "1" {
		n = w.quick
	}
	if len(os.Args) > 2 {
		v, err := strconv.Atoi(os.Args[2])
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "gobench: bad size %q\n", os.Args[2])
			os.Exit(2)
		}
		n = v
	}
	w.run(n)
}
