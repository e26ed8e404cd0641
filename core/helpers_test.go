package core

import (
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

// startServer starts a loopback server on an ephemeral port; it is stopped
// when the test ends.
func startServer(t *testing.T, cfg ServerConfig) *Server {
	t.Helper()
	if cfg.BindAddress == "" {
		cfg.BindAddress = "127.0.0.1"
	}
	if cfg.Loops == 0 {
		cfg.Loops = 2
	}
	s, err := NewServer("test", cfg)
	require.NoError(t, err)
	require.NoError(t, s.Start())
	t.Cleanup(func() { s.Stop() })
	return s
}

// dial connects a client to s; it is stopped when the test ends.
func dial(t *testing.T, s *Server, cfg ClientConfig) *Client {
	t.Helper()
	c, err := NewClient(cfg)
	require.NoError(t, err)
	require.NoError(t, c.Connect("127.0.0.1", s.Port()))
	t.Cleanup(func() { c.Stop() })
	return c
}

// inbox collects copies of received messages.
type inbox struct {
	mu   sync.Mutex
	msgs [][]byte
	ch   chan struct{}
}

func newInbox() *inbox { return &inbox{ch: make(chan struct{}, 1<<16)} }

func (in *inbox) add(msg []byte) {
	in.mu.Lock()
	in.msgs = append(in.msgs, append([]byte{}, msg...))
	in.mu.Unlock()
	select {
	case in.ch <- struct{}{}:
	default:
	}
}

func (in *inbox) count() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.msgs)
}

func (in *inbox) all() [][]byte {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([][]byte(nil), in.msgs...)
}

// waitFor polls cond for up to 10 s: long enough for a loaded CI machine,
// and it returns as soon as cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rawPeer is a hand-driven protocol peer over a plain socket, for testing
// what a non-netsys (or hostile) client sees.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	dec  wire.Decoder
	buf  []byte
}

func dialRaw(t *testing.T, port int) *rawPeer {
	t.Helper()
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c, dec: wire.Decoder{DataLimit: 1 << 30, CompressionOn: true}, buf: make([]byte, 1)}
}

func (p *rawPeer) write(b []byte) {
	_, err := p.conn.Write(b)
	require.NoError(p.t, err)
}

func (p *rawPeer) hello(id string) {
	p.write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, &wire.Hello{
		MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: id})))
}

type rawFrame struct {
	typ     byte
	payload []byte
}

// next reads the next frame; ok is false on EOF or reset.
func (p *rawPeer) next() (rawFrame, bool) {
	var frames []rawFrame
	for {
		p.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := p.conn.Read(p.buf[:1])
		if n == 0 || err != nil {
			return rawFrame{}, false
		}
		require.NoError(p.t, p.dec.Feed(p.buf[:n], func(h wire.Header, b []byte) error {
			frames = append(frames, rawFrame{h.Type, append([]byte(nil), b...)})
			return nil
		}))
		if len(frames) > 0 {
			return frames[0], true
		}
	}
}

// expectClose reads until a CLOSE or REJECT and returns its code and reason.
func (p *rawPeer) expectClose(typ byte) (uint16, string) {
	for {
		f, ok := p.next()
		require.True(p.t, ok, "connection ended without %s", wire.TypeName(typ))
		if f.typ == typ {
			code, reason, err := wire.ParseCodeReason(f.typ, f.payload)
			require.NoError(p.t, err)
			return code, reason
		}
	}
}

// expectEOF asserts the server closes the connection.
func (p *rawPeer) expectEOF() {
	for {
		if _, ok := p.next(); !ok {
			return
		}
	}
}

// dialRawFrom is dialRaw from a chosen source address (any 127.0.0.0/8
// address works on Linux loopback), to play several hosts.
func dialRawFrom(t *testing.T, port int, source string) *rawPeer {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(source)}}
	c, err := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c, dec: wire.Decoder{DataLimit: 1 << 30, CompressionOn: true}, buf: make([]byte, 1)}
}

// welcome sends HELLO and returns the server's WELCOME.
func (p *rawPeer) welcome(h *wire.Hello) *wire.Welcome {
	p.t.Helper()
	p.write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, h)))
	f, ok := p.next()
	require.True(p.t, ok, "no answer to HELLO")
	require.Equal(p.t, wire.TypeWelcome, f.typ, "answer to HELLO: %s %q", wire.TypeName(f.typ), f.payload)
	w, err := wire.ParseWelcome(f.payload)
	require.NoError(p.t, err)
	return w
}

// within reads the next frame, waiting at most d; timedOut says nothing
// came (the connection is still up).
func (p *rawPeer) within(d time.Duration) (f rawFrame, ok, timedOut bool) {
	deadline := time.Now().Add(d)
	var frames []rawFrame
	for {
		p.conn.SetReadDeadline(deadline)
		n, err := p.conn.Read(p.buf[:1])
		if ne, isNet := err.(net.Error); isNet && ne.Timeout() {
			return rawFrame{}, true, true
		}
		if n == 0 || err != nil {
			return rawFrame{}, false, false
		}
		require.NoError(p.t, p.dec.Feed(p.buf[:n], func(h wire.Header, b []byte) error {
			frames = append(frames, rawFrame{h.Type, append([]byte(nil), b...)})
			return nil
		}))
		if len(frames) > 0 {
			return frames[0], true, false
		}
	}
}

// rawListener plays a hand-driven server for a netsys client.
func rawListener(t *testing.T) (net.Listener, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	return ln, ln.Addr().(*net.TCPAddr).Port
}

// acceptRaw accepts one connection on ln as a rawPeer.
func acceptRaw(t *testing.T, ln net.Listener) *rawPeer {
	t.Helper()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	c, err := ln.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return &rawPeer{t: t, conn: c, dec: wire.Decoder{DataLimit: 1 << 30, CompressionOn: true}, buf: make([]byte, 1)}
}

// liveHeapBytes is the heap in use after a collection.
func liveHeapBytes() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
