package core

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"github.com/netsys/netsys/core/internal/wire"
	"golang.org/x/sys/unix"
)

// BenchmarkIdleConnectionHeap reports the live Go heap each idle, handshaken
// server connection costs (after a GC; the process RSS adds the GC's
// headroom on top). The goal is at most 600 B per connection (gnet's idle
// cost); it is met with a 384-byte connection, a 112-byte Session (sizes
// TestIdleConnectionSizes holds), one slot in the loop's table and the
// server's session map entry.
func BenchmarkIdleConnectionHeap(b *testing.B) {
	const conns = 2000
	for range b.N {
		s, err := NewServer("idle", ServerConfig{BindAddress: "127.0.0.1", Loops: 1, MaxConnections: conns + 10,
			// Every connection comes from 127.0.0.1 at once: above the
			// per-address handshake bound real servers keep.
			MaxPendingHandshakes: conns, MaxHandshakesPerAddress: conns})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Start(); err != nil {
			b.Fatal(err)
		}
		hello := wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, &wire.Hello{
			MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "idle"}))
		addr := &unix.SockaddrInet4{Port: s.Port(), Addr: [4]byte{127, 0, 0, 1}}
		before := liveHeap()
		fds := make([]int, 0, conns)
		for range conns {
			fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			fds = append(fds, fd)
			if err := unix.Connect(fd, addr); err != nil {
				b.Fatal(err)
			}
			if _, err := unix.Write(fd, hello); err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for s.Statistics().CurrentConnections < conns && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if got := s.Statistics().CurrentConnections; got < conns {
			b.Fatalf("%d of %d connections opened within 30 s", got, conns)
		}
		time.Sleep(3 * tickInterval) // let idle buffers be released
		after := liveHeap()
		b.ReportMetric(float64(after-before)/conns, "B/conn")
		if path := os.Getenv("NETSYS_IDLE_HEAP_PROFILE"); path != "" {
			if f, err := os.Create(path); err == nil {
				pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
		for _, fd := range fds {
			unix.Close(fd)
		}
		s.Stop()
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
