package core

// Micro-benchmarks of the per-message hot paths without sockets or
// goroutine hand-offs, so they measure the code and not the scheduler:
//
//	go test -run '^$' -bench 'HotPath' -benchtime 2s ./core/

import (
	"testing"

	"github.com/netsys/netsys/core/internal/wire"
)

// countingEndpoint counts deliveries and does nothing else.
type countingEndpoint struct{ n int }

func (e *countingEndpoint) handshake(*conn, wire.Header, []byte) error         { return nil }
func (e *countingEndpoint) deliver(*conn, []byte)                              { e.n++ }
func (e *countingEndpoint) batching() bool                                     { return false }
func (e *countingEndpoint) batchRoom() (int, int)                              { return 1, 1 }
func (e *countingEndpoint) deliverBatch(_ *conn, _ []byte, msgs []MessageSpan) { e.n += len(msgs) }
func (e *countingEndpoint) closed(*conn, error, string, int)                   {}
func (e *countingEndpoint) countRecv(*conn, uint64, uint64)                    {}

// benchConn is an open connection without a socket: only its decoder and
// send queue are exercised.
func benchConn(b *testing.B, ep endpoint) *conn {
	l, err := newLoop(nil, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.poller.Close() })
	cfg, _ := TransportConfig{}.withDefaults()
	c := newConn(l, -1, ep, &cfg, stHandshake)
	benchOpen(c)
	return c
}

// BenchmarkHotPathReceivePlain64B decodes and delivers 64-byte DATA frames
// arriving 1024 to a read (conn.feed, the plainData fast path).
func BenchmarkHotPathReceivePlain64B(b *testing.B) {
	ep := &countingEndpoint{}
	c := benchConn(b, ep)
	feedPlain64B(b, c)
	if ep.n < b.N {
		b.Fatalf("delivered %d of %d", ep.n, b.N)
	}
}

// feedPlain64B feeds c b.N 64-byte DATA frames, 1024 to a read, timing
// only the feeding.
func feedPlain64B(b *testing.B, c *conn) {
	const perRead = 1024
	var read []byte
	for i := 0; i < perRead; i++ {
		read = wire.AppendFrame(read, wire.TypeData, 0, make([]byte, 64))
	}
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += perRead {
		c.feed(read)
	}
	b.StopTimer()
}

// BenchmarkHotPathSendPlain64B queues 64-byte messages (conn.send without
// codec or transforms); the queue is emptied every 1024 messages, as a
// flush would.
func BenchmarkHotPathSendPlain64B(b *testing.B) {
	c := benchConn(b, &countingEndpoint{})
	msg := make([]byte, 64)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := c.send(msg, 0, false); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 1023 {
			c.mu.Lock()
			c.out = c.out[:0]
			c.queued.Store(0)
			c.mu.Unlock()
		}
	}
}

// BenchmarkHotPathReceiveOnMessage64B is the receive path of a Server with
// an OnMessage handler: decoding, the handler call with its panic guard, the
// statistics (64-byte DATA frames, 1024 to a read).
func BenchmarkHotPathReceiveOnMessage64B(b *testing.B) {
	s, err := NewServer("bench", ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	n := 0
	s.OnMessage(func(*Session, []byte) { n++ })
	c := benchConn(b, s)
	c.sess = &Session{c: c, id: 1}
	feedPlain64B(b, c)
	if n < b.N {
		b.Fatalf("delivered %d of %d", n, b.N)
	}
}

// BenchmarkHotPathEcho64B is a server's pipelined echo without the socket:
// an OnMessage handler sending each message back to its own session,
// 1024 64-byte frames to a read, on the connection's loop (conn.sendOwn),
// with the read's end (statistics, the write buffer taken as written).
func BenchmarkHotPathEcho64B(b *testing.B) {
	s, err := NewServer("bench", ServerConfig{})
	if err != nil {
		b.Fatal(err)
	}
	s.OnMessage(func(sess *Session, msg []byte) {
		if err := sess.Send(msg); err != nil {
			b.Fatal(err)
		}
	})
	c := benchConn(b, s)
	c.sess = &Session{c: c, id: 1}
	l := c.loop
	l.g.Store(getg()) // this goroutine plays the loop
	const perRead = 1024
	var read []byte
	for i := 0; i < perRead; i++ {
		read = wire.AppendFrame(read, wire.TypeData, 0, make([]byte, 64))
	}
	c.wantWrite = true // endOwnSends leaves the write buffer to the benchmark
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += perRead {
		l.reading = c
		c.feed(read)
		l.reading = nil
		c.endOwnSends()
		c.wbuf, c.woff = c.wbuf[:0], 0
		c.queued.Store(0)
	}
	b.StopTimer()
	if got := c.sess.Statistics().MessagesSent; got < uint64(b.N) {
		b.Fatalf("sent %d of %d", got, b.N)
	}
}
