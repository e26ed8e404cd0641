// Package workload is the well-behaved side of the reliability suite:
// netsys clients (core) that exchange numbered messages with an echo
// server and check that every one of theirs comes back, in order, while
// something hostile happens next to them.
package workload

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/tests/reliability/internal/optcfg"
)

// Message builds the payload of message seq from client id: a first line
// "m <id> <seq> <unix-ns>\n" (what the log-mode server records), padded
// to size bytes.
func Message(id string, seq int64, size int) []byte {
	b := fmt.Appendf(nil, "m %s %d %d\n", id, seq, time.Now().UnixNano())
	for len(b) < size {
		b = append(b, '.')
	}
	return b
}

// ParseMessage reads back the client id, sequence number and send time.
func ParseMessage(b []byte) (id string, seq int64, sent time.Time, err error) {
	line, _, _ := strings.Cut(string(b[:min(len(b), 256)]), "\n")
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "m" {
		return "", 0, time.Time{}, fmt.Errorf("not a workload message: %q", line)
	}
	if seq, err = strconv.ParseInt(f[2], 10, 64); err != nil {
		return "", 0, time.Time{}, fmt.Errorf("bad sequence number in %q: %w", line, err)
	}
	ns, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return "", 0, time.Time{}, fmt.Errorf("bad send time in %q: %w", line, err)
	}
	return f[1], seq, time.Unix(0, ns), nil
}

// EchoConfig describes the well-behaved clients.
type EchoConfig struct {
	Host    string
	Port    int
	Clients int
	// Interval between two messages of one client.
	Interval time.Duration
	Size     int
	// Options are ClientConfig fields Name=value (optcfg), e.g. IdleTimeout=2s.
	Options optcfg.Multi
}

// EchoResult is what the well-behaved clients saw.
type EchoResult struct {
	Clients     int
	Accepted    int64 // messages Send accepted
	SendErrors  int64 // messages Send refused (reported at once)
	Echoed      int64 // accepted messages whose echo came back
	OutOfOrder  int64 // echoes that arrived after a later one
	Disconnects int64
	Errors      []string // the first OnError reports
	Latencies   []time.Duration
}

// Delivered reports whether every accepted message came back, in order,
// on connections that stayed up.
func (r EchoResult) Delivered() bool {
	return r.Accepted > 0 && r.Echoed == r.Accepted && r.OutOfOrder == 0 && r.Disconnects == 0
}

// Percentile returns the p-th percentile (0..100) of the echo latencies.
func (r EchoResult) Percentile(p float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.Latencies)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p/100))]
}

// Max returns the largest echo latency.
func (r EchoResult) Max() time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	return slices.Max(r.Latencies)
}

// echoClient is one well-behaved client and what it saw.
type echoClient struct {
	id  string
	cli *core.Client

	mu       sync.Mutex
	accepted []int64 // in send order
	next     int     // index in accepted of the next expected echo
	echoed   int64
	outOfOrd int64
	lat      []time.Duration
	sendErrs int64
	disconn  atomic.Int64
	errors   []string
}

// Echoers runs the well-behaved clients until Stop.
type Echoers struct {
	cfg     EchoConfig
	clients []*echoClient
	stop    chan struct{}
	wg      sync.WaitGroup
}

// StartEchoers connects the clients and starts their senders.
func StartEchoers(cfg EchoConfig) (*Echoers, error) {
	e := &Echoers{cfg: cfg, stop: make(chan struct{})}
	for i := range cfg.Clients {
		c, err := newEchoClient(cfg, fmt.Sprintf("echo%d", i))
		if err != nil {
			e.Stop(0)
			return nil, err
		}
		e.clients = append(e.clients, c)
	}
	for _, c := range e.clients {
		e.wg.Add(1)
		go e.send(c)
	}
	return e, nil
}

func newEchoClient(cfg EchoConfig, id string) (*echoClient, error) {
	ccfg := core.ClientConfig{ClientID: id, ConnectTimeout: 5 * time.Second}
	if _, err := cfg.Options.Apply(&ccfg); err != nil {
		return nil, err
	}
	cli, err := core.NewClient(ccfg)
	if err != nil {
		return nil, fmt.Errorf("new client: %w", err)
	}
	c := &echoClient{id: id, cli: cli}
	cli.OnMessage(c.onEcho)
	cli.OnDisconnect(func(string) { c.disconn.Add(1) })
	cli.OnError(func(err error) {
		c.mu.Lock()
		if len(c.errors) < 5 {
			c.errors = append(c.errors, err.Error())
		}
		c.mu.Unlock()
	})
	if err := cli.Connect(cfg.Host, cfg.Port); err != nil {
		return nil, fmt.Errorf("well-behaved client %s: connect: %w", id, err)
	}
	return c, nil
}

func (c *echoClient) onEcho(msg []byte) {
	_, seq, sent, err := ParseMessage(msg)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.outOfOrd++
		return
	}
	// Echoes come back in send order; anything else is a reordering (or
	// a duplicate, which is worse).
	if c.next < len(c.accepted) && c.accepted[c.next] == seq {
		c.next++
		c.echoed++
		c.lat = append(c.lat, now.Sub(sent))
		return
	}
	c.outOfOrd++
}

// maxMessagesPerClient bounds every sender's loop in count as well as time.
const maxMessagesPerClient = 1_000_000

func (e *Echoers) send(c *echoClient) {
	defer e.wg.Done()
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	for seq := int64(0); seq < maxMessagesPerClient; seq++ {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		c.mu.Lock()
		// Recorded before Send: the echo may arrive before Send returns.
		c.accepted = append(c.accepted, seq)
		c.mu.Unlock()
		if err := c.cli.Send(Message(c.id, seq, e.cfg.Size)); err != nil {
			c.mu.Lock()
			c.accepted = slices.DeleteFunc(c.accepted, func(s int64) bool { return s == seq })
			c.sendErrs++
			if len(c.errors) < 5 {
				c.errors = append(c.errors, "send: "+err.Error())
			}
			c.mu.Unlock()
		}
	}
}

// Stop stops sending, waits up to drain for the outstanding echoes, stops
// the clients and returns what they saw.
func (e *Echoers) Stop(drain time.Duration) EchoResult {
	close(e.stop)
	e.wg.Wait()
	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) && !e.allEchoed() {
		time.Sleep(10 * time.Millisecond)
	}
	var r EchoResult
	r.Clients = len(e.clients)
	for _, c := range e.clients {
		// Read before Stop: the disconnect our own Stop causes does not count.
		r.Disconnects += c.disconn.Load()
		c.cli.Stop()
		c.mu.Lock()
		r.Accepted += int64(len(c.accepted))
		r.SendErrors += c.sendErrs
		r.Echoed += c.echoed
		r.OutOfOrder += c.outOfOrd
		r.Latencies = append(r.Latencies, c.lat...)
		r.Errors = append(r.Errors, c.errors...)
		c.mu.Unlock()
	}
	return r
}

// Disconnects counts the unexpected disconnects so far (call before Stop).
func (e *Echoers) Disconnects() int64 {
	var n int64
	for _, c := range e.clients {
		n += c.disconn.Load()
	}
	return n
}

func (e *Echoers) allEchoed() bool {
	for _, c := range e.clients {
		c.mu.Lock()
		done := c.next == len(c.accepted)
		c.mu.Unlock()
		if !done {
			return false
		}
	}
	return true
}

// FreshResult counts connections opened during an attack by new clients.
type FreshResult struct {
	Attempts, OK int
	Failures     map[string]int // reason -> count
	Slowest      time.Duration  // slowest successful connect + echo
}

// Fresh opens a new client every interval until Stop: connect, one echo,
// stop. It checks that newcomers get in while an attack runs, not only
// the clients that were connected before it started.
type Fresh struct {
	host     string
	port     int
	interval time.Duration
	stop     chan struct{}
	done     chan FreshResult
}

// StartFresh starts the newcomers.
func StartFresh(host string, port int, interval time.Duration) *Fresh {
	f := &Fresh{host: host, port: port, interval: interval, stop: make(chan struct{}), done: make(chan FreshResult, 1)}
	go f.run()
	return f
}

// maxFreshAttempts bounds the newcomers' loop in count as well as time.
const maxFreshAttempts = 10_000

func (f *Fresh) run() {
	r := FreshResult{Failures: map[string]int{}}
	t := time.NewTicker(f.interval)
	defer t.Stop()
	for i := 0; i < maxFreshAttempts; i++ {
		select {
		case <-f.stop:
			f.done <- r
			return
		case <-t.C:
		}
		r.Attempts++
		start := time.Now()
		if err := f.once(i); err != nil {
			r.Failures[shortReason(err)]++
			continue
		}
		r.OK++
		r.Slowest = max(r.Slowest, time.Since(start))
	}
	f.done <- r
}

func (f *Fresh) once(i int) error {
	cli, err := core.NewClient(core.ClientConfig{ClientID: fmt.Sprintf("fresh%d", i), ConnectTimeout: 3 * time.Second})
	if err != nil {
		return err
	}
	defer cli.Stop()
	got := make(chan struct{}, 1)
	cli.OnMessage(func([]byte) {
		select {
		case got <- struct{}{}:
		default:
		}
	})
	if err := cli.Connect(f.host, f.port); err != nil {
		return err
	}
	if err := cli.Send(Message("fresh", 0, 32)); err != nil {
		return err
	}
	select {
	case <-got:
		return nil
	case <-time.After(2 * time.Second):
		return errors.New("no echo within 2 s")
	}
}

// Stop ends the newcomers and returns their counts.
func (f *Fresh) Stop() FreshResult {
	close(f.stop)
	select {
	case r := <-f.done:
		return r
	case <-time.After(10 * time.Second):
		return FreshResult{Failures: map[string]int{"newcomer loop did not stop within 10 s": 1}}
	}
}

func shortReason(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
