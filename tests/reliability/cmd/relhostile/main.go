// Command relhostile is the reliability suite's hostile peer: it attacks a
// netsys server with raw sockets (no netsys code on this side) and prints
// one JSON object saying how the server answered each connection.
//
//	relhostile -scenario badhello -addr 127.0.0.1:9000
//	relhostile -scenario slowloris -n 2000 -from 127.0.0.2 -duration 8s
//
// It runs in its own process because some attacks hold thousands of
// sockets, more than one process may have next to the server's own.
// Every attack is bounded in count (-n, -bytes) and in time (-duration,
// -wait); nothing here waits without a deadline.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netsys/netsys/tests/reliability/internal/procfs"
	"github.com/netsys/netsys/tests/reliability/internal/wireraw"
)

// Result is what one attack reports.
type Result struct {
	Scenario   string         `json:"scenario"`
	Conns      int            `json:"conns"`       // connections opened
	DialErrors int            `json:"dial_errors"` // connections that could not be opened
	Outcomes   map[string]int `json:"outcomes"`    // "REJECT 2003", "CLOSE 1009", "EOF", "OPEN", ...
	// EndMs are percentiles of the time from a connection's last attack
	// byte (or its start, for connections that never speak) to its end.
	EndP50Ms float64 `json:"end_p50_ms"`
	EndMaxMs float64 `json:"end_max_ms"`
	// Ended1s counts connections the server ended within one second.
	Ended1s   int            `json:"ended_within_1s"`
	BytesSent int64          `json:"bytes_sent"`
	Seconds   float64        `json:"seconds"`
	Cases     []Case         `json:"cases,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
	Reasons   map[string]int `json:"reasons,omitempty"` // "REJECT 2003 bad hello: ..." -> count (first 20 kinds)
}

// Case is the outcome of one named attack of a list (bad HELLOs, bombs).
type Case struct {
	index   int
	Name    string  `json:"name"`
	Want    string  `json:"want"` // expected outcome label per docs/protocol.md ("" = any refusal)
	Got     string  `json:"got"`
	Reason  string  `json:"reason"`
	EndMs   float64 `json:"end_ms"`
	Matches bool    `json:"matches"`
}

type options struct {
	scenario, addr, from  string
	n, concurrency        int
	bytes                 int64
	size                  int
	decl                  uint
	duration, wait        time.Duration
	interval              time.Duration
	reconnectDelay        time.Duration
	repeat                int
	afterHello, reconnect bool
	codec                 string
}

func main() {
	var o options
	flag.StringVar(&o.scenario, "scenario", "", "attack: "+strings.Join(scenarioNames(), " | "))
	flag.StringVar(&o.addr, "addr", "127.0.0.1:9000", "server address")
	flag.StringVar(&o.from, "from", "127.0.0.2", "local source IPs: a, a,b or a-b (127.0.0.0/8 all routes to lo on Linux)")
	flag.IntVar(&o.n, "n", 100, "connections (or cycles)")
	flag.IntVar(&o.concurrency, "concurrency", 100, "connections in flight at once (reset)")
	flag.Int64Var(&o.bytes, "bytes", 64<<20, "bytes to send per connection (floods)")
	flag.IntVar(&o.size, "size", 4096, "bytes per write / message size")
	flag.UintVar(&o.decl, "decl", 1<<20, "declared frame length for the truncated, trickle and header attacks")
	flag.DurationVar(&o.duration, "duration", 3*time.Second, "how long holding attacks hold")
	flag.DurationVar(&o.wait, "wait", 3*time.Second, "how long to wait for the server to end a connection after the attack")
	flag.DurationVar(&o.interval, "interval", time.Second, "slowloris and trickle: time between two bytes")
	flag.DurationVar(&o.reconnectDelay, "reconnect-delay", 200*time.Millisecond, "slowloris -reconnect: pause before reconnecting")
	flag.IntVar(&o.repeat, "repeat", 1, "list attacks: connections per case")
	flag.BoolVar(&o.afterHello, "after-hello", false, "garbage and lengths: attack after a completed handshake")
	flag.BoolVar(&o.reconnect, "reconnect", false, "slowloris and silent: reconnect when the server closes a connection")
	flag.StringVar(&o.codec, "codec", "zstd", "bomb: zstd | snappy | all")
	flag.Parse()
	if _, err := procfs.RaiseFDLimit(); err != nil {
		fail(err)
	}
	fn, ok := scenarios[o.scenario]
	if !ok {
		fail(fmt.Errorf("unknown scenario %q (want one of %s)", o.scenario, strings.Join(scenarioNames(), ", ")))
	}
	start := time.Now()
	r := fn(&o)
	r.Scenario, r.Seconds = o.scenario, time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(r)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "relhostile:", err)
	os.Exit(2)
}

var scenarios = map[string]func(*options) *Result{
	"garbage":         garbage,
	"lengths":         lengths,
	"truncated":       truncated,
	"truncated-hello": truncatedHello,
	"badhello":        badHello,
	"prehello":        preHello,
	"flood":           handshakeFlood,
	"silent":          silent,
	"slowloris":       slowloris,
	"slowconsumer":    slowConsumer,
	"reset":           resets,
	"full":            beyondFull,
	"bomb":            bombs,
	"pingflood":       pingFlood,
	"dataheaders":     dataHeaders,
	"trickle":         trickle,
}

func scenarioNames() []string {
	var s []string
	for k := range scenarios {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// collector gathers per-connection outcomes from many goroutines.
type collector struct {
	mu  sync.Mutex
	r   Result
	end []time.Duration
}

func newCollector() *collector {
	return &collector{r: Result{Outcomes: map[string]int{}, Reasons: map[string]int{}}}
}

func (c *collector) dialError() {
	c.mu.Lock()
	c.r.DialErrors++
	c.mu.Unlock()
}

func (c *collector) opened() {
	c.mu.Lock()
	c.r.Conns++
	c.mu.Unlock()
}

func (c *collector) sent(n int) {
	c.mu.Lock()
	c.r.BytesSent += int64(n)
	c.mu.Unlock()
}

func (c *collector) add(o wireraw.Outcome) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.r.Outcomes[o.Label()]++
	if o.Kind != "OPEN" {
		c.end = append(c.end, o.After)
		if o.After <= time.Second {
			c.r.Ended1s++
		}
	}
	if o.Kind == "REJECT" || o.Kind == "CLOSE" || o.Kind == "ERROR" {
		key := o.Label() + " " + truncate(o.Reason, 60)
		if _, ok := c.r.Reasons[key]; ok || len(c.r.Reasons) < 20 {
			c.r.Reasons[key]++
		}
	}
}

func (c *collector) note(format string, args ...any) {
	c.mu.Lock()
	if len(c.r.Notes) < 20 {
		c.r.Notes = append(c.r.Notes, fmt.Sprintf(format, args...))
	}
	c.mu.Unlock()
}

func (c *collector) result() *Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	sort.Slice(c.end, func(i, j int) bool { return c.end[i] < c.end[j] })
	sort.Slice(c.r.Cases, func(i, j int) bool { return c.r.Cases[i].index < c.r.Cases[j].index })
	if n := len(c.end); n > 0 {
		c.r.EndP50Ms = ms(c.end[n/2])
		c.r.EndMaxMs = ms(c.end[n-1])
	}
	return &c.r
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
