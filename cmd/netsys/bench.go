package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/core"
)

func benchCommand() command {
	return command{
		name:    "bench",
		args:    "[HOST:PORT]",
		summary: "measure throughput and latency against an echo server (bounded)",
		details: `Measures an echo server at HOST:PORT (netsys echo, or any server that sends
every message back); without HOST:PORT it starts its own echo server on
127.0.0.1 in the same process. Two runs, each bounded in count and by
--timeout:
  throughput  --clients clients each send --count messages of --size bytes,
              at most --window unanswered at a time, and wait for every echo
  latency     one client does --rounds round trips, one message at a time
Prints msg/s and MB/s, and the round trip's p50, p99 and maximum. The
figures are indicative (one process, loopback); make bench compares netsys
with other libraries under controlled conditions.`,
		run: runBench,
	}
}

// benchPlan is what one bench run does.
type benchPlan struct {
	host             string
	port             int
	size, count      int
	window, clients  int
	rounds           int
	throughput, ping bool
	client           core.ClientConfig
}

func runBench(ctx context.Context, s streams, fs *flag.FlagSet, args []string) error {
	var cf clientFlags
	cf.register(fs, "netsys-bench")
	var size sizeValue
	size.n = 64
	fs.Var(&size, "size", "message `SIZE`, e.g. 64, 1K (default 64)")
	count := fs.Int("count", 100000, "messages each client sends in the throughput run")
	window := fs.Int("window", 1000, "messages a client may have unanswered in the throughput run")
	clients := fs.Int("clients", 1, "clients in the throughput run")
	rounds := fs.Int("rounds", 10000, "round trips in the latency run")
	mode := fs.String("mode", "both", "which runs: throughput, latency or both")
	timeout := fs.Duration("timeout", 30*time.Second, "bound on the whole benchmark")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	plan := benchPlan{size: size.n, count: *count, window: *window, clients: *clients, rounds: *rounds,
		throughput: *mode == "both" || *mode == "throughput", ping: *mode == "both" || *mode == "latency"}
	if !plan.throughput && !plan.ping {
		return usagef("--mode %q is not throughput, latency or both", *mode)
	}
	if plan.size < 1 || plan.count < 1 || plan.window < 1 || plan.clients < 1 || plan.clients > 1000 || plan.rounds < 1 || *timeout <= 0 {
		return usagef("--size, --count, --window, --rounds and --timeout must be positive, --clients in 1..1000")
	}
	if plan.client, err = cf.config(); err != nil {
		return err
	}
	target := "self-hosted echo server"
	switch len(rest) {
	case 0:
		srv, err := startBenchServer(plan.client.TransportConfig)
		if err != nil {
			return err
		}
		defer srv.Stop()
		plan.host, plan.port = "127.0.0.1", srv.Port()
	case 1:
		if plan.host, plan.port, err = splitAddress(rest[0]); err != nil {
			return err
		}
		target = "echo server"
	default:
		return usagef("want at most one HOST:PORT")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	fmt.Fprintf(s.stdout, "netsys bench: %s at %s, %d B messages\n", target,
		net.JoinHostPort(plan.host, strconv.Itoa(plan.port)), plan.size)
	if plan.throughput {
		if err := benchThroughput(ctx, s, plan); err != nil {
			return fmt.Errorf("throughput: %w", err)
		}
	}
	if plan.ping {
		if err := benchLatency(ctx, s, plan); err != nil {
			return fmt.Errorf("latency: %w", err)
		}
	}
	return nil
}

// startBenchServer runs an echo server with the same transport settings as
// the clients (compression must be enabled on both sides to be used).
func startBenchServer(transport core.TransportConfig) (*core.Server, error) {
	srv, err := core.NewServer("netsys-bench", core.ServerConfig{TransportConfig: transport, BindAddress: "127.0.0.1"})
	if err != nil {
		return nil, fmt.Errorf("bench server configuration: %w", err)
	}
	srv.OnMessage(func(sess *core.Session, msg []byte) { echoBack(sess, msg, io.Discard) })
	if err := srv.Start(); err != nil {
		return nil, err
	}
	return srv, nil
}

// windowedClient sends with at most window messages unanswered: the
// semaphore is taken before each send and given back by each echo.
type windowedClient struct {
	cl     *core.Client
	slots  chan struct{}
	echoed atomic.Int64
	want   int64
	done   chan struct{}
	ended  chan string
	once   sync.Once
}

func newWindowedClient(plan benchPlan, i int) (*windowedClient, error) {
	cfg := plan.client
	cfg.ClientID = fmt.Sprintf("%s-%d", cfg.ClientID, i)
	cl, err := core.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	w := &windowedClient{cl: cl, slots: make(chan struct{}, plan.window), want: int64(plan.count),
		done: make(chan struct{}), ended: make(chan string, 1)}
	cl.OnMessage(func([]byte) {
		select {
		case <-w.slots: // every echo answers a send that took a slot
		default: // a message that is no echo of ours: never block the loop on it
		}
		if w.echoed.Add(1) == w.want {
			w.once.Do(func() { close(w.done) })
		}
	})
	cl.OnDisconnect(func(reason string) {
		select {
		case w.ended <- reason:
		default:
		}
	})
	if err := cl.Connect(plan.host, plan.port); err != nil {
		return nil, err
	}
	return w, nil
}

// send sends count messages within the window, then waits for the echoes.
func (w *windowedClient) send(ctx context.Context, msg []byte, count int) error {
	for i := 0; i < count; i++ {
		select {
		case w.slots <- struct{}{}:
		case reason := <-w.ended:
			return fmt.Errorf("connection ended after %d echoes: %s", w.echoed.Load(), reason)
		case <-ctx.Done():
			return fmt.Errorf("timed out after %d of %d echoes", w.echoed.Load(), count)
		}
		if err := w.cl.SendTimeout(msg, time.Second); err != nil {
			return fmt.Errorf("send %d: %w", i+1, err)
		}
	}
	select {
	case <-w.done:
		return nil
	case reason := <-w.ended:
		return fmt.Errorf("connection ended after %d echoes: %s", w.echoed.Load(), reason)
	case <-ctx.Done():
		return fmt.Errorf("timed out after %d of %d echoes", w.echoed.Load(), count)
	}
}

func benchThroughput(ctx context.Context, s streams, plan benchPlan) error {
	clients := make([]*windowedClient, 0, plan.clients)
	defer func() {
		for _, w := range clients {
			w.cl.Stop()
		}
	}()
	for i := 0; i < plan.clients; i++ {
		w, err := newWindowedClient(plan, i)
		if err != nil {
			return err
		}
		clients = append(clients, w)
	}
	msg := bytes.Repeat([]byte{'x'}, plan.size)
	errs := make(chan error, len(clients))
	start := time.Now()
	for _, w := range clients {
		go func(w *windowedClient) { errs <- w.send(ctx, msg, plan.count) }(w)
	}
	for range clients {
		if err := <-errs; err != nil {
			return err
		}
	}
	took := time.Since(start)
	total := plan.count * plan.clients
	rate := float64(total) / took.Seconds()
	fmt.Fprintf(s.stdout, "throughput: %d client(s) x %d messages, window %d: %d echoed in %.2f s = %s msg/s (%.1f MB/s each way)\n",
		plan.clients, plan.count, plan.window, total, took.Seconds(), humanRate(rate), rate*float64(plan.size)/1e6)
	return nil
}

func benchLatency(ctx context.Context, s streams, plan benchPlan) error {
	cfg := plan.client
	cfg.ClientID += "-latency"
	cl, err := core.NewClient(cfg)
	if err != nil {
		return err
	}
	replies := make(chan []byte, 1)
	cl.OnMessage(func(msg []byte) {
		select {
		case replies <- append([]byte(nil), msg...):
		default: // not an echo of ours (one is in flight at a time): ignore it
		}
	})
	if err := cl.Connect(plan.host, plan.port); err != nil {
		return err
	}
	defer cl.Stop()
	msg := bytes.Repeat([]byte{'p'}, plan.size)
	rtts := make([]time.Duration, 0, plan.rounds)
	for i := 0; i < plan.rounds; i++ {
		sent := time.Now()
		if err := cl.Send(msg); err != nil {
			return fmt.Errorf("round %d: %w", i+1, err)
		}
		select {
		case reply := <-replies:
			if !bytes.Equal(reply, msg) {
				return fmt.Errorf("round %d: the echo differs from the message", i+1)
			}
			rtts = append(rtts, time.Since(sent))
		case <-ctx.Done():
			return fmt.Errorf("timed out after %d of %d round trips", i, plan.rounds)
		}
	}
	slices.Sort(rtts)
	fmt.Fprintf(s.stdout, "latency: %d round trips: p50 %s, p99 %s, max %s\n", len(rtts),
		micros(rtts[len(rtts)/2]), micros(rtts[len(rtts)*99/100]), micros(rtts[len(rtts)-1]))
	return nil
}

func humanRate(r float64) string {
	switch {
	case r >= 1e6:
		return fmt.Sprintf("%.2fM", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.1fk", r/1e3)
	}
	return fmt.Sprintf("%.0f", r)
}

func micros(d time.Duration) string {
	if d >= 10*time.Millisecond {
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
}
