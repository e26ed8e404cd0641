// Command loadgen drives one benchmark scenario against a server that
// follows the bench server contract (tests/bench/README.md) on
// 127.0.0.1:PORT, then prints one JSON object with the figures.
//
// Every scenario is bounded twice: it stops sending after -dur (or -max
// messages), and every blocking call gives up after -timeout, so a broken
// server ends the run with an error instead of hanging it.
//
//	loadgen -scenario stream -port 9000 -size 64 -dur 1s -server-pid 1234
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"time"
)

// Result is what one run reports; zero fields do not apply to the scenario.
type Result struct {
	Scenario string `json:"scenario"`
	Size     int    `json:"size,omitempty"`
	Conns    int    `json:"conns,omitempty"`

	Messages int64   `json:"messages,omitempty"` // messages counted by the server
	Seconds  float64 `json:"seconds"`            // timed phase, wall clock
	MsgPerS  float64 `json:"msg_per_s,omitempty"`
	MBPerS   float64 `json:"mb_per_s,omitempty"` // payload MB/s (10^6 bytes)

	P50us float64 `json:"p50_us,omitempty"` // round-trip latency percentiles
	P95us float64 `json:"p95_us,omitempty"`
	P99us float64 `json:"p99_us,omitempty"`
	MaxUs float64 `json:"max_us,omitempty"`

	ConnPerS float64 `json:"conn_per_s,omitempty"`

	RSSPerConn float64 `json:"rss_per_conn_bytes,omitempty"`

	ServerRSSBeforeKB int64   `json:"server_rss_before_kb,omitempty"` // at scenario start
	ServerRSSKB       int64   `json:"server_rss_kb,omitempty"`        // at the end of the timed phase
	ServerCPU         float64 `json:"server_cpu"`                     // CPUs used by the server in the timed phase
	LoadgenCPU        float64 `json:"loadgen_cpu"`                    // CPUs used by this load generator
	// CPUBusy is each CPU's busy fraction during the timed phase, whoever
	// used it: the server's CPU minus the server's own use is interference
	// from other processes (the runner repeats such runs).
	CPUBusy []float64 `json:"cpu_busy,omitempty"`
}

type options struct {
	scenario  string
	port      int
	size      int
	dur       time.Duration
	maxMsgs   int64
	conns     int
	window    int
	serverPID int
	timeout   time.Duration
	settle    time.Duration
	batch     int
	nice      int
	slice     uint64
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "", "stream | pipeline | pingpong | fanin | connect | idle")
	flag.IntVar(&o.port, "port", 0, "server port on 127.0.0.1")
	flag.IntVar(&o.size, "size", 64, "message payload size in bytes")
	flag.DurationVar(&o.dur, "dur", time.Second, "how long to keep sending")
	flag.Int64Var(&o.maxMsgs, "max", 200_000_000, "stop sending after this many messages too")
	flag.IntVar(&o.conns, "conns", 50, "connections for fanin and idle")
	flag.IntVar(&o.window, "window", 128, "messages in flight for pipeline (per connection for fanin)")
	flag.IntVar(&o.serverPID, "server-pid", 0, "server process id, for its CPU time and RSS")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Second, "give up on any single blocking call after this")
	flag.IntVar(&o.batch, "batch", 1<<20, "stream: bytes of frames per write()")
	flag.DurationVar(&o.settle, "settle", 500*time.Millisecond, "idle: wait before reading the server's RSS")
	flag.IntVar(&o.nice, "nice", 0, "niceness for this process's threads (with -slice)")
	flag.Uint64Var(&o.slice, "slice", 0, "scheduler slice in ns for this process's threads (0: default)")
	flag.Parse()
	if o.port <= 0 {
		fail(fmt.Errorf("-port is required"))
	}
	// The generator allocates up front and then not at all in its loops; a
	// lazier GC keeps collection work out of the measured phase.
	debug.SetGCPercent(400)

	if o.nice != 0 || o.slice != 0 {
		schedNice, schedSlice = o.nice, o.slice
		applySched()
	}

	run := map[string]func(options) (*Result, error){
		"stream":   stream,
		"pipeline": pipeline,
		"pingpong": pingpong,
		"fanin":    fanin,
		"connect":  connect,
		"idle":     idle,
	}[o.scenario]
	if run == nil {
		fail(fmt.Errorf("unknown -scenario %q", o.scenario))
	}
	var before int64
	if o.serverPID > 0 {
		before, _ = serverRSS(o.serverPID)
	}
	res, err := run(o)
	if err != nil {
		fail(fmt.Errorf("%s: %w", o.scenario, err))
	}
	res.Scenario = o.scenario
	res.ServerRSSBeforeKB = before
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "loadgen:", err)
	os.Exit(1)
}

// finish fills the common fields once the timed phase has ended.
func finish(o options, m *meter, res *Result) *Result {
	res.Seconds = m.wall.Seconds()
	res.ServerCPU = m.srvCPU
	res.LoadgenCPU = m.lgCPU
	res.CPUBusy = m.cpuBusy
	if o.serverPID > 0 && res.ServerRSSKB == 0 {
		res.ServerRSSKB, _ = serverRSS(o.serverPID)
	}
	if res.Messages > 0 {
		res.MsgPerS = float64(res.Messages) / res.Seconds
	}
	return res
}
