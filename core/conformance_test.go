package core

// The implementation side of the protocol decisions (docs/protocol.md):
// what a peer sees on the wire, checked with hand-driven raw sockets.

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

// The version rule alone: v = min(client max, server max), REJECT 2002 if
// v < max(client min, server min).
func TestVersionNegotiationTable(t *testing.T) {
	s := startServer(t, ServerConfig{})
	for _, tc := range []struct {
		min, max uint16
		reason   string // "" : WELCOME version 1
	}{
		{0, 0, "unsupported version: offered 0..0, supported 1..1"},
		{0, 1, ""},
		{3, 1, "unsupported version: offered 3..1, supported 1..1"},
		{1, 7, ""},
		{2, 7, "unsupported version: offered 2..7, supported 1..1"},
	} {
		t.Run(fmt.Sprintf("%d..%d", tc.min, tc.max), func(t *testing.T) {
			p := dialRaw(t, s.Port())
			p.write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, &wire.Hello{MinVersion: tc.min, MaxVersion: tc.max, MaxMessage: 100})))
			f, ok := p.next()
			require.True(t, ok)
			if tc.reason == "" {
				require.Equal(t, wire.TypeWelcome, f.typ)
				w, err := wire.ParseWelcome(f.payload)
				require.NoError(t, err)
				require.EqualValues(t, 1, w.Version)
				return
			}
			require.Equal(t, wire.TypeReject, f.typ)
			code, reason, err := wire.ParseCodeReason(f.typ, f.payload)
			require.NoError(t, err)
			require.Equal(t, wire.RejectVersion, code)
			require.Equal(t, tc.reason, reason)
		})
	}
}

// Every error before WELCOME is a REJECT 2003 "bad hello: <detail>".
func TestEveryErrorBeforeWelcomeIsAReject(t *testing.T) {
	hello := func(h *wire.Hello) []byte { return wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, h)) }
	var bigHello [wire.HeaderSize]byte
	wire.PutHeader(bigHello[:], wire.MaxControlPayload+1, wire.TypeHello, 0)
	cases := []struct {
		name, reason string
		bytes        []byte
	}{
		{"data first", "bad hello: expected HELLO, got DATA", wire.AppendFrame(nil, wire.TypeData, 0, []byte("x"))},
		{"ping first", "bad hello: expected HELLO, got PING", wire.AppendFrame(nil, wire.TypePing, 0, nil)},
		{"truncated", "bad hello: truncated client id", wire.AppendFrame(nil, wire.TypeHello, 0, []byte{0, 1, 0, 1, 0, 0, 0, 9, 5, 'a'})},
		{"oversized hello", "bad hello: HELLO frame too large", bigHello[:]},
		{"oversized data", "bad hello: DATA frame too large", dataHeader(wire.MaxControlPayload + 1)},
		{"zero max message", "bad hello: zero max message", hello(&wire.Hello{MinVersion: 1, MaxVersion: 1})},
		{"unknown type", "bad hello: unknown frame type 0x42", []byte{0, 0, 0, 0, 0x42, 0}},
		{"invalid flags", "bad hello: invalid flags", []byte{0, 0, 0, 0, wire.TypeHello, 0x80}},
		{"compressed before codec", "bad hello: invalid flags", []byte{0, 0, 0, 1, wire.TypeData, wire.FlagCompressed, 1}},
	}
	s := startServer(t, ServerConfig{})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, s.Port())
			p.write(tc.bytes)
			code, reason := p.expectClose(wire.TypeReject)
			require.Equal(t, wire.RejectBadHello, code)
			require.Equal(t, tc.reason, reason)
			p.expectEOF()
		})
	}
}

// The Go error of a close carries the wire reason once: no doubled
// prefixes.
func TestGoErrorsCarryTheWireReason(t *testing.T) {
	s := startServer(t, ServerConfig{})
	errs := make(chan error, 4)
	s.OnError(func(_ *Session, err error) { errs <- err })
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	p.write([]byte{0, 0, 0, 0, wire.TypeData, 0x40})
	code, reason := p.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseProtocolError, code)
	require.Equal(t, "protocol error: invalid flags", reason)
	err := <-errs
	require.ErrorIs(t, err, ErrProtocol)
	require.True(t, strings.HasSuffix(err.Error(), ": protocol error: invalid flags"), err.Error())
	require.Equal(t, 1, strings.Count(err.Error(), "protocol error"), err.Error())

	// Transforms: "transform failed: <name>: <error>" on the wire and in Go.
	require.NoError(t, RegisterTransform("picky-reason", failingTransform{}))
	cfg := TransportConfig{Transforms: []string{"picky-reason"}}
	ts := startServer(t, ServerConfig{TransportConfig: cfg})
	terrs := make(chan error, 4)
	ts.OnError(func(_ *Session, err error) { terrs <- err })
	c := dial(t, ts, ClientConfig{TransportConfig: cfg})
	reasons := make(chan string, 1)
	c.OnDisconnect(func(r string) { reasons <- r })
	require.NoError(t, c.Send([]byte("bad")))
	require.Equal(t, "transform failed: picky-reason: plugin refused message", <-reasons)
	terr := <-terrs
	require.ErrorIs(t, terr, ErrTransform)
	require.True(t, strings.HasSuffix(terr.Error(), ": transform failed: picky-reason: plugin refused message"), terr.Error())
	require.NotContains(t, terr.Error(), "netsys: transform failed")
}

// CLOSE codes on receipt: 1000 and 1001 end normally, every other code
// (known or not) is an error of the mapped kind, and the session state
// becomes error.
func TestCloseCodesOnReceipt(t *testing.T) {
	for _, tc := range []struct {
		code uint16
		kind error // nil: a normal end
	}{
		{1000, nil}, {1001, nil}, {1002, ErrProtocol}, {1008, ErrTimeout},
		{1009, ErrTooLarge}, {1011, ErrTransform}, {1003, ErrClosed}, {4000, ErrClosed},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			s := startServer(t, ServerConfig{})
			errs := make(chan error, 4)
			s.OnError(func(_ *Session, err error) { errs <- err })
			states := make(chan SessionState, 8)
			s.OnConnect(func(sess *Session) { sess.OnStateChange(func(_, st SessionState) { states <- st }) })
			gone := make(chan string, 1)
			s.OnDisconnect(func(_ *Session, r string) { gone <- r })
			p := dialRaw(t, s.Port())
			p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
			p.write(wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, tc.code, "why not")))
			// The server answers with its own CLOSE, then ends the connection.
			code, _ := p.expectClose(wire.TypeClose)
			require.Equal(t, wire.CloseNormal, code)
			p.conn.Close()
			require.Equal(t, "why not", <-gone)
			final := SessionDisconnected
			if tc.kind != nil {
				final = SessionError
				err := <-errs
				require.ErrorIs(t, err, tc.kind)
			}
			var last SessionState
			for len(states) > 0 {
				last = <-states
			}
			require.Equal(t, final, last)
			select {
			case err := <-errs:
				t.Fatalf("unexpected error %v", err)
			default:
			}
		})
	}
	// A CLOSE payload shorter than 2 bytes is a protocol error.
	s := startServer(t, ServerConfig{})
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	p.write(wire.AppendFrame(nil, wire.TypeClose, 0, []byte{3}))
	code, reason := p.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseProtocolError, code)
	require.Equal(t, "protocol error: short CLOSE payload", reason)
}

// Codec 1 on the wire is pure Snappy.
func TestSnappyOnTheWireIsReadableBySnappy(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Compression: []Codec{"s2"}}})
	msg := jsonLike(32 << 10)
	s.OnConnect(func(sess *Session) { sess.Send(msg) })
	p := dialRaw(t, s.Port())
	w := p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib, Codecs: []byte{wire.CodecSnappy}})
	require.Equal(t, wire.CodecSnappy, w.Codec, `"s2" is accepted as the config name of codec 1`)
	var got []byte
	for got == nil {
		f, ok := p.next()
		require.True(t, ok)
		if f.typ == wire.TypeData {
			var err error
			got, err = snappy.DecodeStrict(nil, f.payload)
			require.NoError(t, err, "a strict Snappy decoder reads the frame")
		}
	}
	require.Equal(t, msg, got)
}

// A client sends at most 65,536 bytes of early data; the rest follows
// WELCOME, in order.
func TestEarlyDataBudget(t *testing.T) {
	ln, port := rawListener(t)
	c, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	require.NoError(t, c.ConnectAsync("127.0.0.1", port))
	srv := acceptRaw(t, ln)
	f, _ := srv.next()
	require.Equal(t, wire.TypeHello, f.typ)
	const n = 100
	for i := 0; i < n; i++ {
		msg := bytes.Repeat([]byte{byte(i)}, 1024)
		require.NoError(t, c.Send(msg))
	}
	early := 0
	for {
		f, ok, timedOut := srv.within(500 * time.Millisecond)
		if timedOut {
			break
		}
		require.True(t, ok)
		require.Equal(t, wire.TypeData, f.typ)
		require.Equal(t, byte(early), f.payload[0], "in order")
		early++
	}
	t.Logf("%d of %d KiB messages sent before WELCOME", early, n)
	require.LessOrEqual(t, early*1024, wire.MaxEarlyData)
	require.Greater(t, early, 0, "early data is still sent")
	srv.write(wire.AppendFrame(nil, wire.TypeWelcome, 0, wire.AppendWelcome(nil, &wire.Welcome{Version: 1, MaxMessage: mib, SessionID: 1})))
	for i := early; i < n; i++ {
		f, ok := srv.next()
		require.True(t, ok)
		require.Equal(t, wire.TypeData, f.typ)
		require.Equal(t, byte(i), f.payload[0], "message %d in order", i)
	}
}

// After receiving CLOSE a side flushes its whole queue (not one write):
// every echo queued before a client's CLOSE arrives.
func TestFullFlushAfterPeerClose(t *testing.T) {
	const n = 300
	small := TransportConfig{SendBufferSize: 32 << 10, ReceiveBufferSize: 32 << 10, SendQueueLimit: 64 * mib}
	s := startServer(t, ServerConfig{TransportConfig: small})
	s.OnMessage(func(sess *Session, m []byte) {
		if err := sess.Send(m); err != nil {
			t.Errorf("echo: %v", err)
		}
	})
	c, err := NewClient(ClientConfig{TransportConfig: small})
	require.NoError(t, err)
	in := newInbox()
	c.OnMessage(in.add)
	require.NoError(t, c.Connect("127.0.0.1", s.Port()))
	msg := bytes.Repeat([]byte("e"), 16<<10)
	for i := 0; i < n; i++ {
		require.NoError(t, c.SendTimeout(msg, 5*time.Second))
	}
	require.NoError(t, c.Stop())
	c.Wait()
	require.Equal(t, n, in.count(), "every echo queued before the CLOSE is delivered")
}

// After its own CLOSE a side keeps delivering until the peer's CLOSE or
// EOF, bounded in all by the shutdown timeout (no linger on top).
func TestOwnCloseDeliversUntilThePeerEndsWithinTheShutdownTimeout(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{ShutdownTimeout: 500 * time.Millisecond}})
	in := newInbox()
	s.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	gone := make(chan time.Time, 1)
	s.OnDisconnect(func(*Session, string) { gone <- time.Now() })
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	start := time.Now()
	require.NoError(t, s.Sessions()[0].Disconnect("bye"))
	code, reason := p.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseNormal, code)
	require.Equal(t, "bye", reason)
	p.write(wire.AppendFrame(nil, wire.TypeData, 0, []byte("after your close")))
	waitFor(t, "delivered after our CLOSE", func() bool { return in.count() == 1 })
	// The peer never closes: the shutdown timeout ends it.
	end := <-gone
	t.Logf("released %v after Disconnect (shutdown timeout 500 ms)", end.Sub(start).Round(10*time.Millisecond))
	require.Less(t, end.Sub(start), 1500*time.Millisecond)

	// A peer that answers with CLOSE ends it at once.
	p2 := dialRaw(t, s.Port())
	p2.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	require.NoError(t, s.Sessions()[0].Disconnect("bye"))
	p2.expectClose(wire.TypeClose)
	p2.write(wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, wire.CloseNormal, "ok")))
	p2.expectEOF()
}

func TestMaxMessageAboveOneGiBIsReadAsOneGiB(t *testing.T) {
	s := startServer(t, ServerConfig{})
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1<<32 - 1})
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	require.Equal(t, 1<<30, s.Sessions()[0].c.params.Load().peerMax)
}

// welcomeFrom plays a server that answers the next HELLO with w.
func welcomeFrom(t *testing.T, cfg ClientConfig, w *wire.Welcome) (*Client, *rawPeer, error) {
	ln, port := rawListener(t)
	c, err := NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	result := make(chan error, 1)
	go func() { result <- c.Connect("127.0.0.1", port) }()
	srv := acceptRaw(t, ln)
	f, _ := srv.next()
	require.Equal(t, wire.TypeHello, f.typ)
	srv.write(wire.AppendFrame(nil, wire.TypeWelcome, 0, wire.AppendWelcome(nil, w)))
	return c, srv, <-result
}

// A client checks that WELCOME's version is one it offered.
func TestClientChecksTheWelcomeVersion(t *testing.T) {
	_, srv, err := welcomeFrom(t, ClientConfig{}, &wire.Welcome{Version: 3, MaxMessage: mib, SessionID: 1})
	require.ErrorIs(t, err, ErrProtocol)
	code, reason := srv.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseProtocolError, code)
	require.Equal(t, "protocol error: WELCOME version 3 was not offered", reason)
}

// Each side compresses with its own min_compress: WELCOME's is the
// server's, for information.
func TestClientCompressesWithItsOwnThreshold(t *testing.T) {
	cfg := ClientConfig{TransportConfig: TransportConfig{Compression: []Codec{CodecZstd}, MinCompressSize: 64}}
	c, srv, err := welcomeFrom(t, cfg, &wire.Welcome{Version: 1, MaxMessage: mib, SessionID: 1, Codec: wire.CodecZstd, MinCompress: 4096})
	require.NoError(t, err)
	require.NoError(t, c.Send(jsonLike(1000)))
	var h wire.Header
	srv.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hb [wire.HeaderSize]byte
	_, err = ioReadFull(srv, hb[:])
	require.NoError(t, err)
	h, err = wire.ParseHeader(hb[:], mib, true)
	require.NoError(t, err)
	require.Equal(t, wire.TypeData, h.Type)
	require.Equal(t, wire.FlagCompressed, h.Flags, "1000 bytes >= the client's own 64")
}

func ioReadFull(p *rawPeer, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		m, err := p.conn.Read(b[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// Reasons are sent as valid UTF-8 of at most 1024 bytes, cut at a code
// point; a receiver replaces invalid UTF-8.
func TestReasonsAreCutAndRepaired(t *testing.T) {
	s := startServer(t, ServerConfig{})
	gone := make(chan string, 1)
	s.OnDisconnect(func(_ *Session, r string) { gone <- r })
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	require.NoError(t, s.Sessions()[0].Disconnect(strings.Repeat("日本", 1000)))
	_, reason := p.expectClose(wire.TypeClose)
	require.LessOrEqual(t, len(reason), wire.MaxReasonLen)
	require.Greater(t, len(reason), wire.MaxReasonLen-3)
	require.True(t, utf8.ValidString(reason))
	p.conn.Close()
	<-gone

	p = dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	p.write(wire.AppendFrame(nil, wire.TypeClose, 0, []byte{0x03, 0xe8, 'b', 'y', 0xc3, 'e'}))
	require.Equal(t, "by\uFFFDe", <-gone)
}

// The early messages a REJECT discards are reported, and a refused client
// sees the server's reason (existing behaviour under the new bounds).
func TestServerFullAtHelloCountsOpenSessionsOnly(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConnections: 2})
	var pending []*rawPeer
	for i := 0; i < 5; i++ { // handshaking connections do not count
		pending = append(pending, dialRaw(t, s.Port()))
	}
	waitFor(t, "pending", func() bool { return s.pending.count() == 5 })
	a := dial(t, s, ClientConfig{})
	dial(t, s, ClientConfig{})
	c, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	err = c.Connect("127.0.0.1", s.Port())
	require.ErrorIs(t, err, ErrServerFull)
	require.True(t, strings.HasSuffix(err.Error(), ": server full"), err.Error())
	a.Stop()
	waitFor(t, "a slot freed", func() bool { return s.ConnectionCount() == 1 })
	require.NoError(t, c.Connect("127.0.0.1", s.Port()))
	c.Stop()
	_ = pending
}

// Concurrent HELLOs at the limit never open more than MaxConnections.
func TestMaxConnectionsHoldsUnderConcurrentHandshakes(t *testing.T) {
	const limit, tries = 5, 40
	s := startServer(t, ServerConfig{MaxConnections: limit, MaxHandshakesPerAddress: tries, Loops: 2})
	var wg sync.WaitGroup
	var full, ok sync.Map
	for i := 0; i < tries; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := NewClient(ClientConfig{})
			if err != nil {
				return
			}
			if err := c.Connect("127.0.0.1", s.Port()); err == nil {
				ok.Store(i, c)
			} else if errors.Is(err, ErrServerFull) {
				full.Store(i, true)
			}
		}()
	}
	wg.Wait()
	n := 0
	ok.Range(func(_, v any) bool { n++; return true })
	require.Equal(t, limit, n)
	require.Equal(t, limit, s.ConnectionCount())
	ok.Range(func(_, v any) bool { v.(*Client).Stop(); return true })
}
