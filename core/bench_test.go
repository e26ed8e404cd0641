package core_test

// Loopback benchmarks of the pure-Go core: one connection, a Client on its
// own one-loop Engine and a one-loop Server, so the two sides run on
// different goroutines and nothing else shares their loops.
//
//	go test -run '^$' -bench . -benchtime 2s ./core/
//
// Throughput: the sender queues b.N messages (retrying with SendTimeout on
// ErrBackpressure) and the clock stops when the server has counted them all.
// Latency: b.N sequential round trips of a 64-byte message echoed by the
// server; p50/p99 are reported in microseconds.

import (
	"errors"
	"runtime"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/netsys/netsys/core"
)

// benchDeadline bounds every wait of a benchmark, so a lost message fails
// the run instead of hanging it.
const benchDeadline = 60 * time.Second

// benchPair starts a loopback server and a connected client; both are
// stopped when the benchmark ends. onServer is installed before the client
// connects.
func benchPair(b *testing.B, spin time.Duration, onServer func(*core.Session, []byte)) (*core.Server, *core.Client) {
	return benchPairMode(b, spin, false, onServer)
}

// benchPairMode is benchPair with acknowledged delivery on both sides when
// acked is set.
func benchPairMode(b *testing.B, spin time.Duration, acked bool, onServer func(*core.Session, []byte)) (*core.Server, *core.Client) {
	b.Helper()
	tc := core.TransportConfig{Acknowledged: acked}
	srv, err := core.NewServer("bench", core.ServerConfig{TransportConfig: tc, BindAddress: "127.0.0.1", Loops: 1, SpinBeforeWait: spin})
	if err != nil {
		b.Fatal(err)
	}
	srv.OnMessage(onServer)
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	// Only the server spins: on a 2-CPU machine a spinning client loop would
	// compete with the benchmark goroutine that waits for the echo.
	eng, err := core.NewEngine(1, 0)
	if err != nil {
		srv.Stop()
		b.Fatal(err)
	}
	cl, err := core.NewClient(core.ClientConfig{TransportConfig: tc, ClientID: "bench", Engine: eng})
	if err != nil {
		srv.Stop()
		eng.Close()
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cl.Stop()
		srv.Stop()
		eng.Close()
	})
	if err := cl.Connect("127.0.0.1", srv.Port()); err != nil {
		b.Fatal(err)
	}
	return srv, cl
}

// benchSend sends msg, waiting for room when the queue is at its mark.
func benchSend(b *testing.B, cl *core.Client, msg []byte) {
	err := cl.Send(msg)
	for errors.Is(err, core.ErrBackpressure) {
		err = cl.SendTimeout(msg, benchDeadline)
	}
	if err != nil {
		b.Fatalf("send: %v", err)
	}
}

// benchSendAcked is benchSend for acknowledged delivery: a full
// AckBufferBytes fails at once, so it waits a little for the server's
// acknowledgements and tries again.
func benchSendAcked(b *testing.B, cl *core.Client, msg []byte) {
	err := cl.Send(msg)
	for errors.Is(err, core.ErrBackpressure) {
		time.Sleep(20 * time.Microsecond)
		err = cl.SendTimeout(msg, benchDeadline)
	}
	if err != nil {
		b.Fatalf("send: %v", err)
	}
}

func benchThroughput(b *testing.B, size int) { benchThroughputMode(b, size, false) }

// benchThroughputMode is the throughput benchmark, with acknowledged
// delivery on both sides when acked is set: its cost is the difference
// between BenchmarkThroughput64B and BenchmarkThroughput64BAcked.
func benchThroughputMode(b *testing.B, size int, acked bool) {
	var got atomic.Int64
	target := int64(b.N)
	done := make(chan struct{})
	_, cl := benchPairMode(b, 0, acked, func(_ *core.Session, m []byte) {
		if len(m) != size {
			b.Errorf("server got %d bytes, want %d", len(m), size)
		}
		if got.Add(1) == target {
			close(done)
		}
	})
	msg := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	b.ResetTimer()
	start := time.Now()
	send := benchSend
	if acked {
		send = benchSendAcked
	}
	for i := 0; i < b.N; i++ {
		send(b, cl, msg)
	}
	select {
	case <-done:
	case <-time.After(benchDeadline):
		b.Fatalf("server counted %d of %d messages", got.Load(), b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msg/s")
	b.ReportMetric(float64(b.N)*float64(size)/elapsed.Seconds()/1e6, "MB/s")
}

func BenchmarkThroughput64B(b *testing.B)  { benchThroughput(b, 64) }
func BenchmarkThroughput1KiB(b *testing.B) { benchThroughput(b, 1<<10) }
func BenchmarkThroughput8KiB(b *testing.B) { benchThroughput(b, 8<<10) }

// BenchmarkThroughput64BAcked is BenchmarkThroughput64B with acknowledged
// delivery (docs/protocol.md section 4.2) on both sides: each message is
// copied and held until the server's cumulative ACK, which the server
// sends once per read.
func BenchmarkThroughput64BAcked(b *testing.B) { benchThroughputMode(b, 64, true) }

// BenchmarkPingPong64B measures round trips with loops that sleep in
// epoll_wait/kevent when idle (the default).
func BenchmarkPingPong64B(b *testing.B) { benchPingPong(b, 0) }

// BenchmarkPingPong64BSpin is the same with SpinBeforeWait on both sides:
// idle loops poll for 200 µs before sleeping, trading CPU for latency.
func BenchmarkPingPong64BSpin(b *testing.B) {
	// A spinning loop keeps its P busy. In this single-process benchmark the
	// client's loop and the benchmark goroutine would then share the one P
	// left on a 2-CPU machine, and a goroutine readied while the loop sleeps
	// in epoll_wait waits for sysmon to retake that P (20 µs and more). Give
	// the runtime a spare P, as a server process that spins would have.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU() + 2))
	benchPingPong(b, 200*time.Microsecond)
}

func benchPingPong(b *testing.B, spin time.Duration) {
	_, cl := benchPair(b, spin, func(s *core.Session, m []byte) {
		if err := s.Send(m); err != nil {
			b.Errorf("echo: %v", err)
		}
	})
	pong := make(chan struct{}, 1)
	cl.OnMessage(func([]byte) { pong <- struct{}{} })
	msg := make([]byte, 64)
	rtt := make([]time.Duration, b.N)
	timeout := time.NewTimer(benchDeadline)
	defer timeout.Stop()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		benchSend(b, cl, msg)
		select {
		case <-pong:
		case <-timeout.C:
			b.Fatalf("no echo for round trip %d of %d", i, b.N)
		}
		rtt[i] = time.Since(t0)
	}
	b.StopTimer()
	slices.Sort(rtt)
	us := func(q float64) float64 {
		return float64(rtt[min(len(rtt)-1, int(q*float64(len(rtt))))]) / float64(time.Microsecond)
	}
	b.ReportMetric(us(0.50), "p50-µs")
	b.ReportMetric(us(0.99), "p99-µs")
}
