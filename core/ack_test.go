package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

// Acknowledged delivery (docs/protocol.md section 4.2), driven from both
// ends: netsys against netsys, and netsys against a hand-driven peer that
// plays a crashing server or a replaying client.

func ackHello(stream, first uint64) *wire.Hello {
	return &wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, HasAck: true, AckStream: stream, AckFirstSeq: first}
}

// ackRaw is a raw peer that understands ACK frames.
func ackRaw(p *rawPeer) *rawPeer {
	p.dec.AckOn = true
	return p
}

func (p *rawPeer) data(msgs ...string) {
	var b []byte
	for _, m := range msgs {
		b = wire.AppendFrame(b, wire.TypeData, 0, []byte(m))
	}
	p.write(b)
}

func (p *rawPeer) ack(s uint64) {
	p.write(wire.AppendFrame(nil, wire.TypeAck, 0, wire.AppendAck(nil, s)))
}

// untilAck reads frames until ACK(s), returning the DATA payloads seen on
// the way; an ACK above s fails the test.
func (p *rawPeer) untilAck(s uint64) []string {
	p.t.Helper()
	var data []string
	for {
		f, ok := p.next()
		require.True(p.t, ok, "connection ended before ACK(%d)", s)
		switch f.typ {
		case wire.TypeData:
			data = append(data, string(f.payload))
		case wire.TypeAck:
			got := binary.BigEndian.Uint64(f.payload)
			require.LessOrEqual(p.t, got, s, "ACK beyond what was sent")
			if got == s {
				return data
			}
		}
	}
}

// dataN reads frames until n DATA arrived and returns them.
func (p *rawPeer) dataN(n int) []string {
	p.t.Helper()
	var data []string
	for len(data) < n {
		f, ok := p.next()
		require.True(p.t, ok, "connection ended after %d of %d messages", len(data), n)
		if f.typ == wire.TypeData {
			data = append(data, string(f.payload))
		}
	}
	return data
}

// errorLog collects what OnError reported.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) add(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

// undelivered sums the counts of the *UndeliveredError reports.
func (l *errorLog) undelivered() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		var ue *UndeliveredError
		if errors.As(err, &ue) {
			n += ue.Count
		}
	}
	return n
}

func (l *errorLog) matching(target error) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, err := range l.errs {
		if errors.Is(err, target) {
			n++
		}
	}
	return n
}

func (cl *Client) heldCount() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.queue)
}

// Both sides on: messages arrive once, in order, and the client holds
// nothing once the server's ACKs arrived; the session's messages are
// acknowledged too, so nothing is reported at the end.
func TestAckNetsysToNetsys(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Acknowledged: true}})
	in := newInbox()
	s.OnMessage(func(sess *Session, msg []byte) {
		in.add(msg)
		sess.Send(msg)
	})
	var srvErrs errorLog
	s.OnError(func(_ *Session, err error) { srvErrs.add(err) })
	var errs errorLog
	echoes := newInbox()
	cl, err := NewClient(ClientConfig{TransportConfig: TransportConfig{Acknowledged: true}})
	require.NoError(t, err)
	cl.OnError(errs.add)
	cl.OnMessage(echoes.add)
	require.NoError(t, cl.Connect("127.0.0.1", s.Port()))
	for i := range 200 {
		require.NoError(t, cl.Send([]byte(fmt.Sprintf("m%03d", i))))
	}
	waitFor(t, "200 echoes", func() bool { return echoes.count() == 200 })
	waitFor(t, "the client's held messages acknowledged", func() bool { return cl.heldCount() == 0 })
	for i, m := range in.all() {
		require.Equal(t, fmt.Sprintf("m%03d", i), string(m))
	}
	cl.Stop()
	waitFor(t, "session end", func() bool { return s.ConnectionCount() == 0 })
	require.Zero(t, errs.undelivered(), "client reports: %v", errs.errs)
	require.Zero(t, srvErrs.undelivered(), "server reports: %v", srvErrs.errs)
	require.Zero(t, errs.matching(ErrUnsupported))
}

// A client that offers and a server that does not agree: the connection is
// ordinary, the fallback is reported once with ErrUnsupported, and the
// messages are delivered (R-4.6, N-4.6). A server with the option answers a
// HELLO without the offer with an ordinary WELCOME.
func TestAckNegotiation(t *testing.T) {
	plain := startServer(t, ServerConfig{})
	in := newInbox()
	plain.OnMessage(func(_ *Session, msg []byte) { in.add(msg) })
	var errs errorLog
	cl, err := NewClient(ClientConfig{TransportConfig: TransportConfig{Acknowledged: true}})
	require.NoError(t, err)
	cl.OnError(errs.add)
	require.NoError(t, cl.Connect("127.0.0.1", plain.Port()))
	t.Cleanup(func() { cl.Stop() })
	for range 5 {
		require.NoError(t, cl.Send([]byte("x")))
	}
	waitFor(t, "5 messages", func() bool { return in.count() == 5 })
	require.Equal(t, uint64(5), cl.Statistics().MessagesSent)
	require.Equal(t, 1, errs.matching(ErrUnsupported), "fallback reports: %v", errs.errs)
	require.Contains(t, errs.errs[0].Error(), fallbackText)
	require.Zero(t, cl.heldCount(), "a fallback connection holds nothing")

	acked := startServer(t, ServerConfig{TransportConfig: TransportConfig{Acknowledged: true}})
	p := dialRaw(t, acked.Port())
	w := p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20})
	require.False(t, w.HasAck, "WELCOME answers a HELLO without the offer with TLV 0x0002")
	p.ack(1)
	code, reason := p.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseProtocolError, code)
	require.Equal(t, "protocol error: unknown frame type 0x08", reason)
}

// The server checks the offer only when it agrees.
func TestAckServerChecksTheOffer(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Acknowledged: true}})
	for _, tc := range []struct {
		stream, first uint64
		detail        string
	}{{0, 1, "zero stream id"}, {7, 0, "zero first seq"}} {
		p := dialRaw(t, s.Port())
		p.write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, ackHello(tc.stream, tc.first))))
		code, reason := p.expectClose(wire.TypeReject)
		require.Equal(t, wire.RejectBadHello, code)
		require.Equal(t, "bad hello: "+tc.detail, reason)
	}
	plain := startServer(t, ServerConfig{})
	p := dialRaw(t, plain.Port())
	w := p.welcome(ackHello(0, 0))
	require.False(t, w.HasAck, "a server without the option checks nothing and agrees to nothing")
}

// The server drops what a stream already delivered: two
// overlapping connections of one stream deliver each number once, and a
// reconnect gets WELCOME delivered = the stream's highest number.
func TestAckServerDropsDuplicates(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Acknowledged: true}, Loops: 1})
	in := newInbox()
	s.OnMessage(func(_ *Session, msg []byte) { in.add(msg) })
	const stream = 0x1234
	p1, p2 := ackRaw(dialRaw(t, s.Port())), ackRaw(dialRaw(t, s.Port()))
	require.Equal(t, uint64(0), p1.welcome(ackHello(stream, 1)).AckDelivered)
	require.Equal(t, uint64(0), p2.welcome(ackHello(stream, 1)).AckDelivered)
	p1.data("a1", "a2", "a3")
	p1.untilAck(3)
	p2.data("b1", "b2", "b3", "b4", "b5")
	p2.untilAck(5)
	waitFor(t, "5 deliveries", func() bool { return in.count() == 5 })
	var got []string
	for _, m := range in.all() {
		got = append(got, string(m))
	}
	require.Equal(t, []string{"a1", "a2", "a3", "b4", "b5"}, got)
	require.Equal(t, uint64(3), s.Statistics().DuplicatesDropped)

	p3 := ackRaw(dialRaw(t, s.Port()))
	w := p3.welcome(ackHello(stream, 2))
	require.Equal(t, uint64(5), w.AckDelivered)
	p3.data("c6") // start = max(2, 5+1) = 6: a new message
	p3.untilAck(6)
	waitFor(t, "6 deliveries", func() bool { return in.count() == 6 })
}

// A server checks ACKs against what it sent.
func TestAckServerChecksAcks(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Acknowledged: true}})
	s.OnMessage(func(sess *Session, msg []byte) {
		for range 3 {
			sess.Send(msg)
		}
	})
	for _, tc := range []struct {
		name   string
		frames func(p *rawPeer)
		reason string
	}{
		{"beyond", func(p *rawPeer) { p.ack(4) }, "protocol error: ACK 4 beyond 3 sent"},
		{"below", func(p *rawPeer) { p.ack(2); p.ack(1) }, "protocol error: ACK 1 below 2"},
		{"short", func(p *rawPeer) { p.write(wire.AppendFrame(nil, wire.TypeAck, 0, make([]byte, 7))) }, "protocol error: short ACK payload"},
		{"long", func(p *rawPeer) { p.write(wire.AppendFrame(nil, wire.TypeAck, 0, make([]byte, 9))) }, "protocol error: ACK frame too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ackRaw(dialRaw(t, s.Port()))
			p.welcome(ackHello(newStreamID(), 1))
			p.data("x")
			p.dataN(3)
			tc.frames(p)
			code, reason := p.expectClose(wire.TypeClose)
			require.Equal(t, wire.CloseProtocolError, code)
			require.Equal(t, tc.reason, reason)
		})
	}
}

// A session holds at most AckBufferBytes unacknowledged (N-4.13): the 11th
// message of 100 bytes is refused until ACK(10); the messages the client
// never confirmed are reported with their count when the session ends.
func TestAckSessionBufferAndUnconfirmed(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Acknowledged: true, AckBufferBytes: 1000}})
	sessions := make(chan *Session, 1)
	s.OnConnect(func(sess *Session) { sessions <- sess })
	var errs errorLog
	s.OnError(func(_ *Session, err error) { errs.add(err) })
	p := ackRaw(dialRaw(t, s.Port()))
	p.welcome(ackHello(newStreamID(), 1))
	sess := <-sessions
	msg := make([]byte, 100)
	for range 10 {
		require.NoError(t, sess.Send(msg))
	}
	require.ErrorIs(t, sess.Send(msg), ErrBackpressure)
	p.dataN(10)
	p.ack(10)
	waitFor(t, "room after ACK(10)", func() bool { return sess.Send(msg) == nil })
	require.NoError(t, sess.Send(msg))
	p.dataN(2)
	p.ack(11)
	p.write(wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, 1000, "bye")))
	p.expectClose(wire.TypeClose)
	waitFor(t, "session end", func() bool { return s.ConnectionCount() == 0 })
	waitFor(t, "the report", func() bool { return errs.undelivered() == 1 })
}

// rawAckServer accepts one connection of a netsys client that offers
// acknowledged delivery and agrees, with WELCOME delivered d.
func rawAckServer(t *testing.T, srv *rawPeer, delivered uint64) *wire.Hello {
	t.Helper()
	f, ok := srv.next()
	require.True(t, ok)
	require.Equal(t, wire.TypeHello, f.typ)
	h, err := wire.ParseHello(f.payload)
	require.NoError(t, err)
	require.True(t, h.HasAck, "the client does not offer acknowledged delivery")
	srv.write(wire.AppendFrame(nil, wire.TypeWelcome, 0, wire.AppendWelcome(nil, &wire.Welcome{
		Version: 1, MaxMessage: 1 << 20, SessionID: 1, HasAck: true, AckDelivered: delivered})))
	return h
}

// The client keeps what was not acknowledged and sends it again after a
// lost connection (a crashed server), leaving out what the new WELCOME
// says was delivered; nothing is reported.
func TestAckClientReplaysAfterALostConnection(t *testing.T) {
	ln, port := rawListener(t)
	var errs errorLog
	cl, err := NewClient(ClientConfig{TransportConfig: TransportConfig{Acknowledged: true},
		AutoReconnect: true, ReconnectInterval: 10 * time.Millisecond, ReconnectMaxInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	cl.OnError(errs.add)
	go cl.Connect("127.0.0.1", port)
	t.Cleanup(func() { cl.Stop() })
	srv := ackRaw(acceptRaw(t, ln))
	h := rawAckServer(t, srv, 0)
	require.Equal(t, uint64(1), h.AckFirstSeq)
	waitFor(t, "connected", cl.IsConnected)
	for i := 1; i <= 6; i++ {
		require.NoError(t, cl.Send([]byte(fmt.Sprint("m", i))))
	}
	require.Equal(t, []string{"m1", "m2", "m3", "m4", "m5", "m6"}, srv.dataN(6))
	srv.ack(2)
	waitFor(t, "ACK(2) processed", func() bool { return cl.heldCount() == 4 })
	srv.conn.Close() // the server "crashed": no CLOSE

	srv = ackRaw(acceptRaw(t, ln))
	h2 := rawAckServer(t, srv, 4)
	require.Equal(t, h.AckStream, h2.AckStream, "a reconnect names the same stream")
	require.Equal(t, uint64(3), h2.AckFirstSeq, "first_seq is the oldest message held")
	require.Equal(t, []string{"m5", "m6"}, srv.dataN(2), "start = max(3, 4+1)")
	require.NoError(t, cl.Send([]byte("m7")))
	require.Equal(t, []string{"m7"}, srv.dataN(1))
	srv.ack(7)
	waitFor(t, "all acknowledged", func() bool { return cl.heldCount() == 0 })
	require.Zero(t, errs.undelivered(), "reports: %v", errs.errs)
}

// The client checks WELCOME's delivered and the server's ACKs (R-4.8,
// ), acknowledges the server's DATA once per read, and
// reports what is unacknowledged at Stop (N-4.19).
func TestAckClientChecksAndReports(t *testing.T) {
	t.Run("welcome delivered beyond", func(t *testing.T) {
		_, srv, err := welcomeFrom(t, ClientConfig{TransportConfig: TransportConfig{Acknowledged: true}},
			&wire.Welcome{Version: 1, MaxMessage: mib, SessionID: 1, HasAck: true, AckDelivered: 9})
		require.ErrorIs(t, err, ErrProtocol)
		_, reason := srv.expectClose(wire.TypeClose)
		require.Equal(t, "protocol error: WELCOME delivered 9 beyond 0 sent", reason)
	})
	t.Run("ack beyond", func(t *testing.T) {
		cl, srv, err := welcomeFrom(t, ClientConfig{TransportConfig: TransportConfig{Acknowledged: true}},
			&wire.Welcome{Version: 1, MaxMessage: mib, SessionID: 1, HasAck: true})
		require.NoError(t, err)
		ackRaw(srv)
		require.NoError(t, cl.Send([]byte("one")))
		srv.dataN(1)
		srv.ack(2)
		_, reason := srv.expectClose(wire.TypeClose)
		require.Equal(t, "protocol error: ACK 2 beyond 1 sent", reason)
	})
	t.Run("acks and stop", func(t *testing.T) {
		var errs errorLog
		in := newInbox()
		cl, err := NewClient(ClientConfig{TransportConfig: TransportConfig{Acknowledged: true}})
		require.NoError(t, err)
		cl.OnError(errs.add)
		cl.OnMessage(in.add)
		ln, port := rawListener(t)
		go cl.Connect("127.0.0.1", port)
		t.Cleanup(func() { cl.Stop() })
		srv := ackRaw(acceptRaw(t, ln))
		rawAckServer(t, srv, 0)
		waitFor(t, "connected", cl.IsConnected)
		for range 4 {
			require.NoError(t, cl.Send([]byte("c")))
		}
		srv.dataN(4)
		srv.data("s1", "s2", "s3")
		srv.untilAck(3)
		srv.ack(1)
		waitFor(t, "ACK(1) processed", func() bool { return cl.heldCount() == 3 })
		stopped := make(chan struct{})
		go func() { cl.Stop(); close(stopped) }()
		srv.expectClose(wire.TypeClose)
		srv.write(wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, 1000, "normal close")))
		srv.conn.Close()
		<-stopped
		require.Equal(t, 3, errs.undelivered(), "reports: %v", errs.errs)
		require.Equal(t, 3, in.count())
	})
}

// A client holds at most AckBufferBytes (N-4.9), also while disconnected;
// held messages are reported after ReconnectQueueTimeout without a
// connection (N-4.19).
func TestAckClientBufferAndQueueTimeout(t *testing.T) {
	ln, port := rawListener(t)
	var errs errorLog
	var reported atomic.Int64
	cl, err := NewClient(ClientConfig{TransportConfig: TransportConfig{Acknowledged: true, AckBufferBytes: 1000},
		AutoReconnect: true, ReconnectInterval: time.Hour, ReconnectMaxInterval: time.Hour,
		ReconnectQueueTimeout: 50 * time.Millisecond})
	require.NoError(t, err)
	cl.OnError(func(err error) {
		errs.add(err)
		var ue *UndeliveredError
		if errors.As(err, &ue) {
			reported.Add(int64(ue.Count))
		}
	})
	go cl.Connect("127.0.0.1", port)
	t.Cleanup(func() { cl.Stop() })
	srv := ackRaw(acceptRaw(t, ln))
	rawAckServer(t, srv, 0)
	waitFor(t, "connected", cl.IsConnected)
	msg := make([]byte, 100)
	for range 10 {
		require.NoError(t, cl.Send(msg))
	}
	require.ErrorIs(t, cl.Send(msg), ErrBackpressure)
	srv.dataN(10)
	srv.conn.Close()
	waitFor(t, "10 held messages reported", func() bool { return reported.Load() == 10 })
	require.Zero(t, cl.heldCount())
}

// The wire encoding of the extension matches the document's examples.
func TestAckWireExamples(t *testing.T) {
	h := wire.AppendHello(nil, &wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "bob",
		HasHeartbeat: true, HeartbeatMS: 30000, HasAck: true, AckStream: 0x0123456789abcdef, AckFirstSeq: 1})
	require.Equal(t, "0001"+"0001"+"00100000"+"03626f62"+"00"+"00"+"0001000400007530"+
		"00020010"+"0123456789abcdef"+"0000000000000001", fmt.Sprintf("%x", h))
	w := wire.AppendWelcome(nil, &wire.Welcome{Version: 1, MaxMessage: 1 << 20, SessionID: 2, MinCompress: 256,
		HasHeartbeat: true, HeartbeatMS: 30000, HasAck: true})
	require.Equal(t, "0001"+"00100000"+"0000000000000002"+"00"+"00000100"+"00"+"0001000400007530"+
		"00020008"+"0000000000000000", fmt.Sprintf("%x", w))
	require.Equal(t, "00000008"+"08"+"00"+"0000000000000007",
		fmt.Sprintf("%x", wire.AppendFrame(nil, wire.TypeAck, 0, wire.AppendAck(nil, 7))))
	_, err := wire.ParseHeader([]byte{0, 0, 0, 8, 8, 0}, 1<<20, false)
	require.EqualError(t, err, "protocol error: unknown frame type 0x08")
	_, err = wire.ParseHeaderAck([]byte{0, 0, 0, 8, 8, 0}, 1<<20, false, true)
	require.NoError(t, err)
}

// A server's CLOSE 1009 refuses the DATA it stopped at: everything before
// it was acknowledged, the refused one is reported and left out
// of the next connection (N-4.19).
func TestAckClientDropsTheMessageTheServerRefused(t *testing.T) {
	ln, cl, srv, errs := ackClientOnRawServer(t)
	for _, m := range []string{"m1", "m2-refused", "m3"} {
		require.NoError(t, cl.Send([]byte(m)))
	}
	srv.dataN(3)
	srv.ack(1)
	srv.write(wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, wire.CloseTooLarge, "message too large: 10 > 5")))
	srv.conn.Close()

	srv = ackRaw(acceptRaw(t, ln))
	h := rawAckServer(t, srv, 1)
	require.Equal(t, uint64(3), h.AckFirstSeq, "the refused message 2 is left out")
	require.Equal(t, []string{"m3"}, srv.dataN(1))
	srv.ack(3)
	waitFor(t, "all acknowledged", func() bool { return cl.heldCount() == 0 })
	require.Equal(t, 1, errs.undelivered(), "reports: %v", errs.errs)
}

// A held message larger than a new connection's server accepts: the ones
// before it go out, and once they are acknowledged it is reported and the
// client ends that connection; the next one goes on after it (N-4.19).
func TestAckClientHeldMessageTooLargeForTheNewServer(t *testing.T) {
	ln, cl, srv, errs := ackClientOnRawServer(t)
	for _, m := range []string{"short", "a message of thirty bytes....", "after"} {
		require.NoError(t, cl.Send([]byte(m)))
	}
	srv.dataN(3)
	srv.conn.Close() // crashed, nothing acknowledged

	srv = ackRaw(acceptRaw(t, ln))
	f, ok := srv.next()
	require.True(t, ok)
	h, err := wire.ParseHello(f.payload)
	require.NoError(t, err)
	require.Equal(t, uint64(1), h.AckFirstSeq)
	srv.write(wire.AppendFrame(nil, wire.TypeWelcome, 0, wire.AppendWelcome(nil, &wire.Welcome{
		Version: 1, MaxMessage: 10, SessionID: 2, HasAck: true})))
	require.Equal(t, []string{"short"}, srv.dataN(1), "only the message before the large one")
	srv.ack(1)
	code, reason := srv.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseNormal, code)
	require.Equal(t, tooBigText, reason)
	srv.write(wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, 1000, "normal close")))
	srv.conn.Close()

	srv = ackRaw(acceptRaw(t, ln))
	h = rawAckServer(t, srv, 1)
	require.Equal(t, uint64(3), h.AckFirstSeq)
	require.Equal(t, []string{"after"}, srv.dataN(1))
	srv.ack(3)
	waitFor(t, "all acknowledged", func() bool { return cl.heldCount() == 0 })
	require.Equal(t, 1, errs.undelivered(), "reports: %v", errs.errs)
}

// The stream table forgets the least recently used stream without an open
// connection when a new one needs room, never one with a connection
// (N-4.12); a forgotten stream starts again from delivered 0.
func TestAckStreamTableForgetsTheLeastRecentlyUsedIdleStream(t *testing.T) {
	tab := streamTable{limit: 3}
	a, _ := tab.open(1)
	b, _ := tab.open(2)
	c, _ := tab.open(3)
	for i, st := range []*ackStream{a, b, c} {
		st.delivered = uint64(10 * (i + 1))
	}
	tab.release(b) // 2 is idle; 1 and 3 keep a connection
	tab.open(4)    // room needed: 2 goes
	_, d2 := tab.open(2)
	require.Zero(t, d2, "stream 2 was forgotten")
	_, d1 := tab.open(1)
	require.Equal(t, uint64(10), d1, "a stream with an open connection is never forgotten")
	require.Len(t, tab.m, 4, "over the limit only while every stream has a connection")
}

// A message shorter than 32 bytes counts as 32 against AckBufferBytes, so
// empty messages are bounded too (N-4.9).
func TestAckTinyMessagesCountAtLeast32Bytes(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Acknowledged: true, AckBufferBytes: 320}})
	sessions := make(chan *Session, 1)
	s.OnConnect(func(sess *Session) { sessions <- sess })
	p := ackRaw(dialRaw(t, s.Port()))
	p.welcome(ackHello(newStreamID(), 1))
	sess := <-sessions
	for range 10 {
		require.NoError(t, sess.Send(nil))
	}
	require.ErrorIs(t, sess.Send(nil), ErrBackpressure)
}

// ackClientOnRawServer connects an auto-reconnecting acknowledged client to
// a hand-driven server that agreed to acknowledged delivery; it returns the
// listener (for the client's next connections), the client, the server's
// side of the connection and the client's error log.
func ackClientOnRawServer(t *testing.T) (net.Listener, *Client, *rawPeer, *errorLog) {
	t.Helper()
	ln, port := rawListener(t)
	errs := &errorLog{}
	cl, err := NewClient(ClientConfig{TransportConfig: TransportConfig{Acknowledged: true},
		AutoReconnect: true, ReconnectInterval: 10 * time.Millisecond, ReconnectMaxInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	cl.OnError(errs.add)
	go cl.Connect("127.0.0.1", port)
	t.Cleanup(func() { cl.Stop() })
	srv := ackRaw(acceptRaw(t, ln))
	rawAckServer(t, srv, 0)
	waitFor(t, "connected", cl.IsConnected)
	return ln, cl, srv, errs
}
