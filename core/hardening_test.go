package core

// Tests of the trust boundary: what a hostile or broken peer can make a
// server hold, and for how long. Memory bounds are generous (several times
// what the fixed code needs) yet far below what each bug cost.

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

const mib = 1 << 20

// dataHeader is a bare DATA header announcing n payload bytes.
func dataHeader(n int) []byte {
	var h [wire.HeaderSize]byte
	wire.PutHeader(h[:], n, wire.TypeData, 0)
	return h[:]
}

// heapGrowth runs fn and returns how much the live heap grew while the
// connections fn opened are still up.
func heapGrowth(fn func()) int64 {
	before := liveHeapBytes()
	fn()
	return int64(liveHeapBytes()) - int64(before)
}

// Before the handshake a peer's frames are held to the control limit: a
// bare DATA header announcing 1 MiB is refused, not reserved.
func TestPreHandshakePeersCostOnlyWhatTheySent(t *testing.T) {
	const peers = 200
	s := startServer(t, ServerConfig{MaxPendingHandshakes: 1000, MaxHandshakesPerAddress: 1000})
	var conns []*rawPeer
	grew := heapGrowth(func() {
		for i := 0; i < peers; i++ {
			p := dialRaw(t, s.Port())
			p.write(dataHeader(mib))
			conns = append(conns, p)
		}
		time.Sleep(300 * time.Millisecond) // let the server read them all
	})
	t.Logf("%d peers announcing 1 MiB before HELLO: heap grew %d KiB", peers, grew>>10)
	require.Less(t, grew, int64(20*mib), "memory must follow the 6 bytes each peer sent")
	code, reason := conns[0].expectClose(wire.TypeReject)
	require.Equal(t, wire.RejectBadHello, code)
	require.Equal(t, "bad hello: DATA frame too large", reason)

	// A HELLO may announce up to the control limit; 10 bytes of it cost
	// about 10 bytes.
	grew = heapGrowth(func() {
		for i := 0; i < peers; i++ {
			p := dialRaw(t, s.Port())
			var h [wire.HeaderSize]byte
			wire.PutHeader(h[:], wire.MaxControlPayload, wire.TypeHello, 0)
			p.write(append(h[:], make([]byte, 10)...))
		}
		time.Sleep(300 * time.Millisecond)
	})
	t.Logf("%d peers sending 16 bytes of a 64 KiB HELLO: heap grew %d KiB", peers, grew>>10)
	require.Less(t, grew, int64(4*mib))
}

// After the handshake, a frame split across reads costs what arrived.
func TestOpenPeersDeclaringHugeFramesCostOnlyWhatTheySent(t *testing.T) {
	const peers = 200
	s := startServer(t, ServerConfig{})
	var conns []*rawPeer
	for i := 0; i < peers; i++ {
		p := dialRaw(t, s.Port())
		p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
		conns = append(conns, p)
	}
	grew := heapGrowth(func() {
		for _, p := range conns {
			p.write(append(dataHeader(mib), make([]byte, 10)...))
		}
		time.Sleep(300 * time.Millisecond)
	})
	t.Logf("%d open peers announcing 1 MiB, sending 10 bytes: heap grew %d KiB", peers, grew>>10)
	require.Less(t, grew, int64(20*mib))
	require.Equal(t, peers, s.ConnectionCount())
}

// A zstd payload of two frames (a tiny one, then a huge one) is refused
// without decoding the second.
func TestMultiFrameZstdBombIsRefusedWithoutAllocating(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Compression: []Codec{CodecZstd}}})
	p := dialRaw(t, s.Port())
	w := p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib, Codecs: []byte{wire.CodecZstd}})
	require.Equal(t, wire.CodecZstd, w.Codec)
	enc, err := zstd.NewWriter(nil, zstd.WithSingleSegment(true))
	require.NoError(t, err)
	bomb := enc.EncodeAll(make([]byte, 10), nil)
	bomb = enc.EncodeAll(make([]byte, 64*mib), bomb)
	enc.Close()
	require.Less(t, len(bomb), 64<<10)
	frame := wire.AppendFrame(nil, wire.TypeData, wire.FlagCompressed, bomb)
	var code uint16
	var reason string
	cost := heapAllocated(func() {
		p.write(frame)
		code, reason = p.expectClose(wire.TypeClose)
	})
	t.Logf("two-frame zstd bomb (%d bytes, 64 MiB inside): server allocated %d KiB", len(bomb), cost>>10)
	require.Equal(t, wire.CloseProtocolError, code)
	require.Equal(t, "protocol error: corrupt compressed frame", reason)
	require.Less(t, cost, uint64(8*mib))
}

// On a connection without transforms the enforced limit is the advertised
// one: a header one byte over it is refused at once, not buffered first.
func TestTheLimitEnforcedIsTheOneAgreed(t *testing.T) {
	require.NoError(t, RegisterTransform("agreed-xor", xorTransform{3}))
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{MessageSizeLimit: 1000, Transforms: []string{"agreed-xor"}}})
	p := dialRaw(t, s.Port())
	w := p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	require.EqualValues(t, 1000, w.MaxMessage)
	p.write(dataHeader(1001))
	f, ok, timedOut := p.within(2 * time.Second)
	require.False(t, timedOut, "the header alone must be refused")
	require.True(t, ok)
	require.Equal(t, wire.TypeClose, f.typ)
	code, reason, _ := wire.ParseCodeReason(f.typ, f.payload)
	require.Equal(t, wire.CloseTooLarge, code)
	require.Equal(t, "message too large: 1001 > 1000", reason)
}

// pingFlood writes PING frames to p until writing blocks for a while or
// limit bytes went out; it returns the bytes written.
func pingFlood(p *rawPeer, limit int) int {
	frame := wire.AppendFrame(nil, wire.TypePing, 0, make([]byte, wire.MaxPingPayload))
	chunk := bytes.Repeat(frame, (64<<10)/len(frame))
	sent := 0
	for sent < limit {
		p.conn.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := p.conn.Write(chunk)
		sent += n
		if err != nil {
			break
		}
	}
	return sent
}

// A peer that floods PINGs and never reads: its PONGs count against the
// send queue, reading from it pauses, the send-stall timeout closes it,
// and another client's echoes keep flowing meanwhile.
func TestPingFloodIsBoundedAndTheNonReaderClosed(t *testing.T) {
	const queueLimit = 256 << 10
	s := startServer(t, ServerConfig{Loops: 1, TransportConfig: TransportConfig{SendQueueLimit: queueLimit,
		SendStallTimeout: time.Second, SendBufferSize: 64 << 10, ReceiveBufferSize: 64 << 10}})
	reasons := make(chan string, 4)
	s.OnDisconnect(func(_ *Session, r string) { reasons <- r })
	s.OnMessage(func(sess *Session, m []byte) { sess.Send(m) })

	good := dial(t, s, ClientConfig{})
	in := newInbox()
	good.OnMessage(in.add)
	stop := make(chan struct{})
	var echoWG sync.WaitGroup
	echoWG.Add(1)
	go func() { // a well-behaved client keeps talking throughout
		defer echoWG.Done()
		for i := 0; i < 1000; i++ {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			good.Send([]byte("tick"))
		}
	}()
	defer func() { close(stop); echoWG.Wait() }()

	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	before := liveHeapBytes()
	start := time.Now()
	sent := pingFlood(p, 64*mib)
	grew := int64(liveHeapBytes()) - int64(before)
	t.Logf("PING flood: %d KiB sent before writes blocked, server heap grew %d KiB (queue limit %d KiB)", sent>>10, grew>>10, queueLimit>>10)
	require.Less(t, grew, int64(8*mib), "PONGs for a peer that does not read must stay near the queue limit")
	echoesBefore := in.count()
	require.Equal(t, "peer not reading", <-reasons)
	t.Logf("non-reader closed %v after the flood began", time.Since(start).Round(10*time.Millisecond))
	require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
	waitFor(t, "echoes after the flood", func() bool { return in.count() > echoesBefore+5 })
	require.True(t, good.IsConnected())
}

// A refused connection is read in discard mode: what it sends afterwards
// is neither decoded nor buffered.
func TestRefusedPeersAreReadInDiscardMode(t *testing.T) {
	const peers = 200
	s := startServer(t, ServerConfig{MaxConnections: 1})
	dial(t, s, ClientConfig{})
	grew := heapGrowth(func() {
		for i := 0; i < peers; i++ {
			p := dialRaw(t, s.Port())
			p.hello(fmt.Sprint("refused-", i))
			code, _ := p.expectClose(wire.TypeReject)
			require.Equal(t, wire.RejectServerFull, code)
			p.write(append(dataHeader(mib), make([]byte, 1000)...))
		}
		time.Sleep(300 * time.Millisecond)
	})
	t.Logf("%d refused peers each announcing 1 MiB after REJECT: heap grew %d KiB", peers, grew>>10)
	require.Less(t, grew, int64(20*mib))
}

// A frame begun must complete within FrameTimeout: trickling it one byte
// at a time no longer holds the connection.
func TestFrameTimeoutEndsATricklingPeer(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{FrameTimeout: 500 * time.Millisecond}})
	reasons := make(chan string, 1)
	s.OnDisconnect(func(_ *Session, r string) { reasons <- r })
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	start := time.Now()
	p.write(dataHeader(1000))
	done := make(chan struct{})
	go func() { // one byte every 50 ms: the peer is never idle
		defer close(done)
		for i := 0; i < 100; i++ {
			p.conn.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := p.conn.Write([]byte{'x'}); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	code, reason := p.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseTimeout, code)
	require.Equal(t, "frame timeout", reason)
	require.Equal(t, "frame timeout", <-reasons)
	require.GreaterOrEqual(t, time.Since(start), 450*time.Millisecond)
	<-done
}

// A reconnecting slowloris from one address keeps at most
// MaxHandshakesPerAddress pending handshakes: legitimate clients from
// another address are not kept out.
func TestSlowlorisFromOneAddressDoesNotKeepOthersOut(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConnections: 8, HandshakeTimeout: 10 * time.Second})
	stop := make(chan struct{})
	var attackers sync.WaitGroup
	var opened atomic.Int64
	dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	target := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port()))
	for i := 0; i < 40; i++ {
		attackers.Add(1)
		go func() { // connect, never speak, reconnect once refused
			defer attackers.Done()
			var one [1]byte
			for round := 0; round < 200; round++ {
				select {
				case <-stop:
					return
				default:
				}
				conn, err := dialer.Dial("tcp", target)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				opened.Add(1)
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				for err == nil { // until refused (or stopped)
					_, err = conn.Read(one[:])
				}
				conn.Close()
			}
		}()
	}
	defer func() { // also when the test fails: stop the attackers first
		select {
		case <-stop:
		default:
			close(stop)
		}
		s.Stop()
		attackers.Wait()
	}()
	waitFor(t, "the slowloris connections", func() bool { return opened.Load() >= 40 })
	time.Sleep(100 * time.Millisecond)
	var legit []*Client
	for i := 0; i < 8; i++ {
		c, err := NewClient(ClientConfig{ClientID: fmt.Sprint("legit-", i), ConnectTimeout: 5 * time.Second})
		require.NoError(t, err)
		require.NoError(t, c.Connect("127.0.0.1", s.Port()), "legitimate client %d", i)
		legit = append(legit, c)
	}
	require.Equal(t, 8, s.ConnectionCount())
	require.LessOrEqual(t, s.pending.count(), DefaultMaxHandshakesPerAddress+1)
	for _, c := range legit {
		c.Stop()
	}
}

// A pending handshake displaced by newer ones is refused "server full:
// too many pending handshakes" at once.
func TestOldestPendingHandshakeIsRefused(t *testing.T) {
	s := startServer(t, ServerConfig{MaxHandshakesPerAddress: 2, MaxPendingHandshakes: 3})
	first := dialRawFrom(t, s.Port(), "127.0.0.3")
	waitFor(t, "first pending", func() bool { return s.pending.count() == 1 })
	second := dialRawFrom(t, s.Port(), "127.0.0.3")
	waitFor(t, "second pending", func() bool { return s.pending.count() == 2 })
	dialRawFrom(t, s.Port(), "127.0.0.3") // over the per-address bound
	code, reason := first.expectClose(wire.TypeReject)
	require.Equal(t, wire.RejectServerFull, code)
	require.Equal(t, "server full: too many pending handshakes", reason)
	first.expectEOF()

	other := dialRawFrom(t, s.Port(), "127.0.0.4")
	waitFor(t, "three pending", func() bool { return s.pending.count() == 3 })
	dialRawFrom(t, s.Port(), "127.0.0.5") // over the global bound: the oldest overall goes
	code, reason = second.expectClose(wire.TypeReject)
	require.Equal(t, wire.RejectServerFull, code)
	require.Equal(t, "server full: too many pending handshakes", reason)
	require.Equal(t, 3, s.pending.count())
	other.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib}) // newer ones are still served
	require.EqualValues(t, 2, s.Statistics().RejectedConnections)
}

func TestDefaultsAreTheDecidedOnes(t *testing.T) {
	s, err := NewServer("defaults", ServerConfig{})
	require.NoError(t, err)
	cfg := s.Config()
	require.Equal(t, 30*time.Second, cfg.IdleTimeout)
	require.Equal(t, 30*time.Second, cfg.FrameTimeout)
	require.Equal(t, 30*time.Second, cfg.SendStallTimeout)
	require.Equal(t, 5*time.Second, cfg.HandshakeTimeout)
	require.Equal(t, 1000, cfg.MaxConnections)
	require.Equal(t, 256, cfg.MaxPendingHandshakes)
	require.Equal(t, 16, cfg.MaxHandshakesPerAddress)
	require.Equal(t, 5*time.Second, cfg.ShutdownTimeout)

	c, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	require.Equal(t, 30*time.Second, c.cfg.IdleTimeout)
	require.Equal(t, 30*time.Second, c.cfg.FrameTimeout)
	require.Equal(t, 30*time.Second, c.cfg.SendStallTimeout)

	off, err := NewServer("off", ServerConfig{TransportConfig: TransportConfig{IdleTimeout: Disabled, FrameTimeout: -time.Second, SendStallTimeout: Disabled}})
	require.NoError(t, err)
	require.Equal(t, Disabled, off.Config().IdleTimeout)
	require.Equal(t, Disabled, off.Config().FrameTimeout)
	require.Equal(t, Disabled, off.Config().SendStallTimeout)
}

// With the default heartbeats both sides announce their idle timeout, and
// a peer that freezes after the handshake is detected (timeouts shortened
// here; the defaults differ only in length).
func TestFrozenPeerIsDetectedByHeartbeats(t *testing.T) {
	s := startServer(t, ServerConfig{})
	p := dialRaw(t, s.Port())
	w := p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	require.True(t, w.HasHeartbeat)
	require.EqualValues(t, 30000, w.HeartbeatMS, "the default idle timeout is announced")

	// A server with a short idle timeout closes a peer that froze.
	short := startServer(t, ServerConfig{TransportConfig: TransportConfig{IdleTimeout: 600 * time.Millisecond}})
	frozen := dialRaw(t, short.Port())
	frozen.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	start := time.Now()
	code, reason := frozen.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseTimeout, code)
	require.Equal(t, "idle timeout", reason)
	require.GreaterOrEqual(t, time.Since(start), 500*time.Millisecond)

	// A client detects a server that froze after WELCOME.
	ln, port := rawListener(t)
	cl, err := NewClient(ClientConfig{TransportConfig: TransportConfig{IdleTimeout: 600 * time.Millisecond}})
	require.NoError(t, err)
	t.Cleanup(func() { cl.Stop() })
	reasons := make(chan string, 1)
	cl.OnDisconnect(func(r string) { reasons <- r })
	connected := make(chan error, 1)
	go func() { connected <- cl.Connect("127.0.0.1", port) }()
	srv := acceptRaw(t, ln)
	f, _ := srv.next()
	hello, err := wire.ParseHello(f.payload)
	require.NoError(t, err)
	require.True(t, hello.HasHeartbeat)
	require.EqualValues(t, 600, hello.HeartbeatMS)
	srv.write(wire.AppendFrame(nil, wire.TypeWelcome, 0, wire.AppendWelcome(nil, &wire.Welcome{Version: 1, MaxMessage: mib, SessionID: 1})))
	require.NoError(t, <-connected)
	f, _ = srv.next()
	require.Equal(t, wire.TypePing, f.typ, "the client pings a silent server")
	select {
	case r := <-reasons:
		require.Equal(t, "idle timeout", r)
	case <-time.After(5 * time.Second):
		t.Fatal("the client did not detect the frozen server")
	}
}

func TestHeartbeatIntervalIsHalfTheSmallerTimeout(t *testing.T) {
	require.Equal(t, 500*time.Millisecond, heartbeatInterval(30*time.Second, 1000))
	require.Equal(t, 500*time.Millisecond, heartbeatInterval(time.Second, 30000))
	require.Equal(t, 500*time.Millisecond, heartbeatInterval(Disabled, 1000))
	require.Equal(t, 15*time.Second, heartbeatInterval(30*time.Second, 0))
	require.Zero(t, heartbeatInterval(Disabled, 0))

	// A peer announcing a shorter timeout is pinged after half of it.
	s := startServer(t, ServerConfig{})
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib, HasHeartbeat: true, HeartbeatMS: 400})
	f, ok, timedOut := p.within(2 * time.Second)
	require.True(t, ok && !timedOut, "a PING within the peer's timeout")
	require.Equal(t, wire.TypePing, f.typ)
}

// zstd with a small min_compress works netsys to netsys for every size.
func TestZstdEverySizeNetsysToNetsys(t *testing.T) {
	cfg := TransportConfig{Compression: []Codec{CodecZstd}, MinCompressSize: 1}
	s := startServer(t, ServerConfig{TransportConfig: cfg})
	s.OnMessage(func(sess *Session, m []byte) { sess.Send(m) })
	c := dial(t, s, ClientConfig{TransportConfig: cfg})
	in := newInbox()
	c.OnMessage(in.add)
	var want [][]byte
	for n := 0; n <= 4096; n++ {
		msg := bytes.Repeat([]byte("abcd"), n/4+1)[:n]
		want = append(want, msg)
		require.NoError(t, c.SendTimeout(msg, 5*time.Second), "size %d", n)
	}
	waitFor(t, "every size echoed", func() bool { return in.count() == len(want) || !c.IsConnected() })
	require.True(t, c.IsConnected())
	got := in.all()
	for n := range want {
		require.True(t, bytes.Equal(want[n], got[n]), "size %d", n)
	}
}

// Paused by us, the idle timer does not run: a peer sending every 100 ms
// to a server paused for longer than its idle timeout is not closed; once
// resumed, the timer runs again and a silent peer is closed.
func TestIdleTimerDoesNotRunWhilePausedByUs(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{IdleTimeout: time.Second}})
	in := newInbox()
	s.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	reasons := make(chan string, 1)
	s.OnDisconnect(func(_ *Session, r string) { reasons <- r })
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: mib})
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	sess := s.Sessions()[0]
	sess.PauseReading()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 100; i++ {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			p.conn.SetWriteDeadline(time.Now().Add(time.Second))
			p.conn.Write(wire.AppendFrame(nil, wire.TypeData, 0, []byte("tick")))
		}
	}()
	select {
	case r := <-reasons:
		t.Fatalf("closed while paused: %s", r)
	case <-time.After(2500 * time.Millisecond):
	}
	require.Zero(t, in.count(), "nothing is delivered while paused")
	for { // what the server sent meanwhile: heartbeats, never a CLOSE
		f, ok, timedOut := p.within(100 * time.Millisecond)
		if timedOut {
			break
		}
		require.True(t, ok, "connection ended during the pause")
		require.Equal(t, wire.TypePing, f.typ, "%s during the pause", wire.TypeName(f.typ))
	}
	sess.ResumeReading()
	waitFor(t, "messages after resume", func() bool { return in.count() >= 20 })
	close(stop)
	wg.Wait()
	start := time.Now()
	select {
	case r := <-reasons:
		require.Equal(t, "idle timeout", r)
		require.GreaterOrEqual(t, time.Since(start), 800*time.Millisecond)
	case <-time.After(5 * time.Second):
		t.Fatal("no idle close after resume")
	}
}

// Only the host's reason is set by PauseReading: another reason (here the
// one of a consumer whose queue is full) and the host's do not clear each
// other.
func TestPauseReasonsAreIndependent(t *testing.T) {
	s := startServer(t, ServerConfig{})
	in := newInbox()
	s.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	c := dial(t, s, ClientConfig{})
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	sess := s.Sessions()[0]
	sess.PauseReadingFor(PauseQueue)
	sess.PauseReading()
	sess.ResumeReading() // clears the host's reason only
	require.NoError(t, c.Send([]byte("held")))
	time.Sleep(200 * time.Millisecond)
	require.Zero(t, in.count(), "still paused for the other reason")
	sess.ResumeReadingFor(PauseQueue)
	waitFor(t, "delivered once every reason is gone", func() bool { return in.count() == 1 })
}

// The reverse order, as the C library's queue does it: the host pauses, the
// queue's reason comes and goes, and the session stays paused until the
// host resumes; the same holds for a client.
func TestQueueResumeKeepsHostPause(t *testing.T) {
	s := startServer(t, ServerConfig{})
	in := newInbox()
	s.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	c := dial(t, s, ClientConfig{})
	cin := newInbox()
	c.OnMessage(func(m []byte) { cin.add(m) })
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	sess := s.Sessions()[0]
	sess.PauseReading()
	sess.PauseReadingFor(PauseQueue)
	sess.ResumeReadingFor(PauseQueue)
	c.PauseReading()
	c.PauseReadingFor(PauseQueue)
	c.ResumeReadingFor(PauseQueue)
	require.NoError(t, c.Send([]byte("held")))
	require.NoError(t, sess.Send([]byte("held")))
	time.Sleep(200 * time.Millisecond)
	require.Zero(t, in.count(), "the server's session is still paused by the host")
	require.Zero(t, cin.count(), "the client is still paused by the host")
	sess.ResumeReading()
	c.ResumeReading()
	waitFor(t, "delivered once the host resumed", func() bool { return in.count() == 1 && cin.count() == 1 })
}

// Compression runs outside the connection's lock, so the loop's flush of
// that connection never waits for a sender's compression.
func TestCompressionDoesNotHoldTheConnectionLock(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Compression: []Codec{CodecZstd}}})
	c := dial(t, s, ClientConfig{TransportConfig: TransportConfig{Compression: []Codec{CodecZstd}}})
	var checked, heldDuring atomic.Int32
	compressHook = func(cn *conn) {
		checked.Add(1)
		if !cn.mu.TryLock() {
			heldDuring.Add(1)
			return
		}
		cn.mu.Unlock()
	}
	defer func() { compressHook = nil }()
	for i := 0; i < 20; i++ {
		require.NoError(t, c.SendTimeout(jsonLike(64<<10), 5*time.Second))
	}
	require.EqualValues(t, 20, checked.Load())
	require.Zero(t, heldDuring.Load(), "compression ran with the connection's lock held")
}

// A connection that completes its handshake while the server is stopping
// is refused "server stopping", never welcomed.
func TestHandshakeWhileStoppingIsRefused(t *testing.T) {
	s := startServer(t, ServerConfig{})
	p := dialRaw(t, s.Port())
	waitFor(t, "accepted", func() bool { return s.pending.count() == 1 })
	s.stopping.Store(true) // the window between Stop's start and its close of this connection
	p.hello("late")
	code, reason := p.expectClose(wire.TypeReject)
	require.Equal(t, wire.RejectServerStopping, code)
	require.Equal(t, "server stopping", reason)
	p.expectEOF()
}

// At stop, handshaking connections get REJECT 2006 and close at once.
func TestStopRefusesHandshakingConnections(t *testing.T) {
	s := startServer(t, ServerConfig{})
	p := dialRaw(t, s.Port())
	waitFor(t, "accepted", func() bool { return s.live.Load() == 1 })
	go s.Stop()
	code, reason := p.expectClose(wire.TypeReject)
	require.Equal(t, wire.RejectServerStopping, code)
	require.Equal(t, "server stopping", reason)
	p.expectEOF()
	s.Wait()
}

// The server bounds memory for a backpressured session at the send queue's
// mark, even if it also pings (existing behaviour, kept).
func TestSendErrorsAreTyped(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{MessageSizeLimit: 100}})
	c := dial(t, s, ClientConfig{})
	err := c.Send(make([]byte, 101))
	require.ErrorIs(t, err, ErrTooLarge)
	require.Contains(t, err.Error(), "message too large: 101 > 100")
	require.False(t, errors.Is(err, ErrClosed))
}

// The refined error kinds also match the broad sentinels they narrow, and
// the failures that carry them say so by kind: a port in use is ErrBind, a
// bind address that is not one ErrBadAddress, a refused connection
// ErrConnect.
func TestRefinedErrorKinds(t *testing.T) {
	for refined, broad := range map[error]error{ErrBind: ErrInvalidArgument, ErrBadAddress: ErrInvalidArgument,
		ErrSystem: ErrInvalidArgument, ErrResolve: ErrInvalidArgument, ErrConnect: ErrClosed} {
		require.ErrorIs(t, refined, broad)
	}
	s := startServer(t, ServerConfig{})
	taken, err := NewServer("taken", ServerConfig{BindAddress: "127.0.0.1", Port: s.Port()})
	require.NoError(t, err)
	require.ErrorIs(t, taken.Start(), ErrBind)
	bad, err := NewServer("bad", ServerConfig{BindAddress: "not-an-address"})
	require.NoError(t, err)
	require.ErrorIs(t, bad.Start(), ErrBadAddress)

	port := s.Port()
	s.Stop()
	cl, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	err = cl.Connect("127.0.0.1", port)
	require.ErrorIs(t, err, ErrConnect)
	require.ErrorIs(t, err, ErrClosed)
}
