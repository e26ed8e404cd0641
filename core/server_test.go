package core

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

func TestEcho(t *testing.T) {
	s := startServer(t, ServerConfig{})
	s.OnMessage(func(sess *Session, msg []byte) { sess.Send(msg) })
	c := dial(t, s, ClientConfig{ClientID: "echo"})
	in := newInbox()
	c.OnMessage(in.add)
	for i := 0; i < 100; i++ {
		require.NoError(t, c.Send([]byte(fmt.Sprintf("msg-%d", i))))
	}
	require.NoError(t, c.Send(nil), "an empty message is valid")
	waitFor(t, "101 echoes", func() bool { return in.count() == 101 })
	for i, m := range in.all()[:100] {
		require.Equal(t, fmt.Sprintf("msg-%d", i), string(m))
	}
	require.Empty(t, in.all()[100])
	require.Equal(t, 1, s.ConnectionCount())
	sess := s.Sessions()[0]
	require.Equal(t, "echo", sess.ClientID())
	require.Equal(t, SessionConnected, sess.State())
	require.Equal(t, c.SessionID(), sess.ID())
	require.Equal(t, "127.0.0.1", sess.RemoteAddr().Addr().String())
	require.Equal(t, s.Port(), int(sess.LocalAddr().Port()))

	st := s.Statistics()
	require.EqualValues(t, 101, st.MessagesReceived)
	require.EqualValues(t, 101, st.MessagesSent)
	require.EqualValues(t, 1, st.TotalConnections)
	require.EqualValues(t, 1, st.CurrentConnections)
	cs := c.Statistics()
	require.EqualValues(t, 101, cs.MessagesSent)
	require.EqualValues(t, 101, cs.MessagesReceived)
	s.ResetStatistics()
	require.Zero(t, s.Statistics().MessagesReceived)
}

func TestLargeMessagesInOrder(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{MessageSizeLimit: 4 << 20}})
	in := newInbox()
	s.OnMessage(func(_ *Session, msg []byte) { in.add(msg) })
	c := dial(t, s, ClientConfig{TransportConfig: TransportConfig{MessageSizeLimit: 4 << 20}})
	var want [][]byte
	for i, size := range []int{1, 1000, 70000, 1 << 20, 4 << 20, 3} {
		m := bytes.Repeat([]byte{byte(i + 1)}, size)
		want = append(want, m)
		require.NoError(t, c.SendTimeout(m, 5*time.Second))
	}
	waitFor(t, "all messages", func() bool { return in.count() == len(want) })
	require.Equal(t, want, in.all())
}

func TestMaxConnectionsRejectsWithServerFull(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConnections: 2})
	dial(t, s, ClientConfig{})
	dial(t, s, ClientConfig{})
	c, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	err = c.Connect("127.0.0.1", s.Port())
	require.ErrorIs(t, err, ErrServerFull)
	require.Contains(t, err.Error(), "server full")
	require.Equal(t, 2, s.ConnectionCount())
	waitFor(t, "rejection counted", func() bool { return s.Statistics().RejectedConnections == 1 })
}

func TestOversizeFrameClosesOnlyThatConnection(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{MessageSizeLimit: 1000}})
	in := newInbox()
	s.OnMessage(func(sess *Session, msg []byte) { in.add(msg); sess.Send(msg) })
	good := dial(t, s, ClientConfig{ClientID: "good"})
	goodIn := newInbox()
	good.OnMessage(goodIn.add)

	p := dialRaw(t, s.Port())
	p.hello("hostile")
	_, ok := p.next() // WELCOME
	require.True(t, ok)
	p.write(wire.AppendFrame(nil, wire.TypeData, 0, make([]byte, 1001)))
	code, reason := p.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseTooLarge, code)
	require.Equal(t, "message too large: 1001 > 1000", reason)
	p.expectEOF()

	// The local check refuses before sending: the peer's limit came in WELCOME.
	require.ErrorIs(t, good.Send(make([]byte, 1001)), ErrTooLarge)
	require.NoError(t, good.Send([]byte("still fine")))
	waitFor(t, "echo on the good connection", func() bool { return goodIn.count() == 1 })
	waitFor(t, "oversize counted", func() bool { return s.Statistics().OversizeMessages == 1 })
}

func TestProtocolErrors(t *testing.T) {
	cases := []struct {
		name   string
		send   func(p *rawPeer)
		typ    byte
		code   uint16
		reason string
	}{
		{"data before hello", func(p *rawPeer) { p.write(wire.AppendFrame(nil, wire.TypeData, 0, []byte("x"))) },
			wire.TypeReject, wire.RejectBadHello, "bad hello: expected HELLO, got DATA"},
		{"garbage hello", func(p *rawPeer) { p.write(wire.AppendFrame(nil, wire.TypeHello, 0, []byte{1})) },
			wire.TypeReject, wire.RejectBadHello, "bad hello: truncated min version"},
		{"unknown type", func(p *rawPeer) { p.write([]byte{0, 0, 0, 0, 0x99, 0}) },
			wire.TypeReject, wire.RejectBadHello, "bad hello: unknown frame type 0x99"},
		{"future version only", func(p *rawPeer) {
			p.write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, &wire.Hello{MinVersion: 2, MaxVersion: 3, MaxMessage: 10})))
		}, wire.TypeReject, wire.RejectVersion, "unsupported version: offered 2..3, supported 1..1"},
		{"unknown type after welcome", func(p *rawPeer) {
			p.hello("x")
			p.next()
			p.write([]byte{0, 0, 0, 0, 0x42, 0})
		}, wire.TypeClose, wire.CloseProtocolError, "protocol error: unknown frame type 0x42"},
		{"second hello", func(p *rawPeer) {
			p.hello("x")
			p.next()
			p.hello("x")
		}, wire.TypeClose, wire.CloseProtocolError, "protocol error: unexpected HELLO frame"},
		{"compressed without codec", func(p *rawPeer) {
			p.hello("x")
			p.next()
			p.write(wire.AppendFrame(nil, wire.TypeData, wire.FlagCompressed, []byte("zz")))
		}, wire.TypeClose, wire.CloseProtocolError, "protocol error: invalid flags"},
	}
	s := startServer(t, ServerConfig{})
	s.OnMessage(func(sess *Session, msg []byte) { sess.Send(msg) })
	bystander := dial(t, s, ClientConfig{})
	in := newInbox()
	bystander.OnMessage(in.add)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := dialRaw(t, s.Port())
			tc.send(p)
			code, reason := p.expectClose(tc.typ)
			require.Equal(t, tc.code, code)
			require.Equal(t, tc.reason, reason)
			p.expectEOF()
			require.NoError(t, bystander.Send([]byte("ping")))
			waitFor(t, "bystander echo", func() bool { return in.count() == i+1 })
		})
	}
	waitFor(t, "protocol errors counted", func() bool { return s.Statistics().ProtocolErrors >= 3 })
}

func TestHandshakeTimeout(t *testing.T) {
	s := startServer(t, ServerConfig{HandshakeTimeout: 200 * time.Millisecond})
	p := dialRaw(t, s.Port())
	start := time.Now()
	code, reason := p.expectClose(wire.TypeReject)
	require.Equal(t, wire.RejectHandshakeTimeout, code)
	require.Equal(t, "handshake timeout", reason)
	require.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	p.expectEOF()
}

func TestIdleTimeoutPingsThenCloses(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{IdleTimeout: 400 * time.Millisecond}})
	reasons := make(chan string, 1)
	s.OnDisconnect(func(_ *Session, r string) { reasons <- r })
	p := dialRaw(t, s.Port())
	p.hello("sleepy")
	f, _ := p.next()
	require.Equal(t, wire.TypeWelcome, f.typ)
	f, _ = p.next()
	require.Equal(t, wire.TypePing, f.typ, "a PING after half the idle timeout")
	code, reason := p.expectClose(wire.TypeClose)
	require.Equal(t, wire.CloseTimeout, code)
	require.Equal(t, "idle timeout", reason)
	require.Equal(t, "idle timeout", <-reasons)

	// A netsys client answers PINGs, so an idle but healthy client stays.
	c := dial(t, s, ClientConfig{})
	time.Sleep(time.Second)
	require.True(t, c.IsConnected())
}

func TestGroupsAndBroadcast(t *testing.T) {
	s := startServer(t, ServerConfig{})
	var clients []*Client
	var inboxes []*inbox
	for i := 0; i < 4; i++ {
		c := dial(t, s, ClientConfig{ClientID: fmt.Sprint("c", i)})
		in := newInbox()
		c.OnMessage(in.add)
		clients, inboxes = append(clients, c), append(inboxes, in)
	}
	waitFor(t, "4 sessions", func() bool { return s.ConnectionCount() == 4 })
	ids := map[string]uint64{}
	for _, sess := range s.Sessions() {
		ids[sess.ClientID()] = sess.ID()
	}
	require.NoError(t, s.AddToGroup(ids["c0"], "red"))
	require.NoError(t, s.AddToGroup(ids["c1"], "red"))
	s.Session(ids["c2"]).JoinGroup("blue")
	s.Session(ids["c0"]).JoinGroup("blue")
	require.Equal(t, []string{"blue", "red"}, s.SessionGroups(ids["c0"]))
	require.True(t, s.Session(ids["c2"]).InGroup("blue"))
	require.Equal(t, []uint64{ids["c0"], ids["c1"]}, s.GroupMembers("red"))
	require.ErrorIs(t, s.AddToGroup(999999, "red"), ErrNotFound)

	n, err := s.BroadcastToGroup("red", []byte("to red"))
	require.NoError(t, err)
	require.Equal(t, 2, n)
	n, err = s.Broadcast([]byte("to all"))
	require.NoError(t, err)
	require.Equal(t, 4, n)
	require.NoError(t, s.RemoveFromGroup(ids["c0"], "red"))
	n, _ = s.BroadcastToGroup("red", []byte("red again"))
	require.Equal(t, 1, n)

	waitFor(t, "deliveries", func() bool {
		return inboxes[0].count() == 2 && inboxes[1].count() == 3 && inboxes[2].count() == 1 && inboxes[3].count() == 1
	})
	require.Equal(t, [][]byte{[]byte("to red"), []byte("to all"), []byte("red again")}, inboxes[1].all())

	// A session that leaves is removed from its groups.
	clients[1].Stop()
	waitFor(t, "group cleanup", func() bool { return len(s.GroupMembers("red")) == 0 })
}

func TestSessionData(t *testing.T) {
	s := startServer(t, ServerConfig{})
	dial(t, s, ClientConfig{})
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	d := s.Sessions()[0].Data()
	d.Set("user", "ada")
	d.Set("room", "1")
	v, ok := d.Get("user")
	require.True(t, ok)
	require.Equal(t, "ada", v)
	require.True(t, d.Has("room"))
	require.Equal(t, []string{"room", "user"}, d.Keys())
	d.Remove("room")
	require.False(t, d.Has("room"))
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				d.Set(fmt.Sprint("k", j), "v")
				d.Get("user")
			}
		}()
	}
	wg.Wait()
	d.Clear()
	require.Empty(t, d.Keys())
}

// TestSessionContext: the value set at connect reaches the session's
// message and disconnect handlers, concurrent setters and readers are
// race-free, and nil clears without making the session's extra block.
func TestSessionContext(t *testing.T) {
	s := startServer(t, ServerConfig{})
	type user struct{ name string }
	got := make(chan any, 4)
	s.OnConnect(func(sess *Session) {
		require.Nil(t, sess.Context())
		sess.SetContext(&user{name: "ada"})
	})
	s.OnMessage(func(sess *Session, _ []byte) { got <- sess.Context() })
	s.OnDisconnect(func(sess *Session, _ string) { got <- sess.Context() })
	c := dial(t, s, ClientConfig{})
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	sess := s.Sessions()[0]
	require.NoError(t, c.Send([]byte("x")))
	first := <-got
	require.Equal(t, "ada", first.(*user).name)

	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				sess.SetContext(first)
				_ = sess.Context()
			}
		}()
	}
	wg.Wait()
	c.Stop()
	require.Same(t, first, <-got) // still readable in OnDisconnect
	sess.SetContext(nil)
	require.Nil(t, sess.Context())

	idle := &Session{}
	idle.SetContext(nil)
	require.Nil(t, idle.extra.Load(), "clearing must not make the extra block")
	require.Nil(t, idle.Context())
}

func TestDisconnectWithReason(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s, ClientConfig{})
	reasons := make(chan string, 1)
	c.OnDisconnect(func(r string) { reasons <- r })
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	id := s.Sessions()[0].ID()
	states := make(chan SessionState, 4)
	s.Session(id).OnStateChange(func(_, st SessionState) { states <- st })
	require.NoError(t, s.DisconnectSession(id, "kicked"))
	require.Equal(t, "kicked", <-reasons)
	require.Equal(t, SessionDisconnecting, <-states)
	require.Equal(t, SessionDisconnected, <-states)
	require.ErrorIs(t, s.DisconnectSession(id, "again"), ErrNotFound)
	waitFor(t, "client sees it", func() bool { return !c.IsConnected() })
	require.ErrorIs(t, c.Send([]byte("x")), ErrNotConnected)
}

func TestClientStopDeliversQueuedMessages(t *testing.T) {
	s := startServer(t, ServerConfig{})
	var got atomic.Int64
	reasons := make(chan string, 1)
	s.OnMessage(func(*Session, []byte) { got.Add(1) })
	s.OnDisconnect(func(_ *Session, r string) { reasons <- r })
	c := dial(t, s, ClientConfig{})
	for i := 0; i < 10000; i++ {
		require.NoError(t, c.SendTimeout(make([]byte, 100), 5*time.Second))
	}
	require.NoError(t, c.Stop())
	require.Equal(t, "client stopped", <-reasons)
	require.EqualValues(t, 10000, got.Load(), "every message accepted before Stop arrives")
	require.ErrorIs(t, c.Send([]byte("late")), ErrNotConnected)
	c.Wait()
}

func TestReconnectDeliversQueuedMessagesInOrder(t *testing.T) {
	s := startServer(t, ServerConfig{})
	port := s.Port()
	c, err := NewClient(ClientConfig{AutoReconnect: true, ReconnectInterval: 20 * time.Millisecond, ReconnectMaxInterval: 100 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	disconnected := make(chan string, 4)
	connects := make(chan struct{}, 4)
	c.OnDisconnect(func(r string) { disconnected <- r })
	c.OnConnect(func() { connects <- struct{}{} })
	require.NoError(t, c.Connect("127.0.0.1", port))
	<-connects
	require.NoError(t, s.Stop())
	require.Equal(t, "server stopping", <-disconnected)
	for i := 0; i < 50; i++ {
		require.NoError(t, c.Send([]byte(fmt.Sprint(i))), "sends queue while disconnected")
	}
	s2 := startServer(t, ServerConfig{Port: port})
	in := newInbox()
	s2.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	<-connects
	waitFor(t, "queued messages", func() bool { return in.count() == 50 })
	for i, m := range in.all() {
		require.Equal(t, fmt.Sprint(i), string(m))
	}
	require.EqualValues(t, 1, c.Statistics().Reconnects)
}

// Refused reconnect attempts must leave the queued messages queued: they are
// delivered by the attempt that finally succeeds, and none is reported lost.
func TestReconnectQueueSurvivesRefusedAttempts(t *testing.T) {
	s := startServer(t, ServerConfig{})
	port := s.Port()
	c, err := NewClient(ClientConfig{AutoReconnect: true, ReconnectInterval: 10 * time.Millisecond, ReconnectMaxInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	var refused, undelivered atomic.Int64
	c.OnError(func(err error) {
		var u *UndeliveredError
		if errors.As(err, &u) {
			undelivered.Add(int64(u.Count))
		} else {
			refused.Add(1)
		}
	})
	require.NoError(t, c.Connect("127.0.0.1", port))
	require.NoError(t, s.Stop())
	waitFor(t, "disconnect", func() bool { return !c.IsConnected() })
	for i := 0; i < 5; i++ {
		require.NoError(t, c.Send([]byte(fmt.Sprint(i))))
	}
	waitFor(t, "refused attempts", func() bool { return refused.Load() >= 3 })
	s2 := startServer(t, ServerConfig{Port: port})
	in := newInbox()
	s2.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	waitFor(t, "queued messages", func() bool { return in.count() == 5 })
	for i, m := range in.all() {
		require.Equal(t, fmt.Sprint(i), string(m))
	}
	require.Zero(t, undelivered.Load())
}

func TestReconnectQueueIsBounded(t *testing.T) {
	s := startServer(t, ServerConfig{})
	port := s.Port()
	c, err := NewClient(ClientConfig{AutoReconnect: true, ReconnectQueueLimit: 3, ReconnectInterval: time.Hour})
	require.NoError(t, err)
	undelivered := make(chan *UndeliveredError, 1)
	c.OnError(func(err error) {
		var u *UndeliveredError
		if errors.As(err, &u) {
			undelivered <- u
		}
	})
	require.NoError(t, c.Connect("127.0.0.1", port))
	s.Stop()
	waitFor(t, "disconnect", func() bool { return !c.IsConnected() })
	for i := 0; i < 3; i++ {
		require.NoError(t, c.Send([]byte("q")))
	}
	require.ErrorIs(t, c.Send([]byte("q")), ErrBackpressure)
	c.Stop()
	u := <-undelivered
	require.Equal(t, 3, u.Count, "queued messages are reported, never dropped silently")
}

func TestThousandConcurrentClients(t *testing.T) {
	const n = 1000
	// All from one address at once: far more simultaneous handshakes than
	// the per-address default (16) allows.
	s := startServer(t, ServerConfig{MaxConnections: 2000, MaxPendingHandshakes: n, MaxHandshakesPerAddress: n})
	s.OnMessage(func(sess *Session, msg []byte) { sess.Send(msg) })
	var echoed atomic.Int64
	clients := make([]*Client, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := NewClient(ClientConfig{ClientID: fmt.Sprint(i)})
			if err == nil {
				c.OnMessage(func([]byte) { echoed.Add(1) })
				err = c.Connect("127.0.0.1", s.Port())
			}
			if err == nil {
				err = c.Send([]byte("hi"))
			}
			clients[i] = c
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	waitFor(t, "1000 echoes", func() bool { return echoed.Load() == n })
	require.Equal(t, n, s.ConnectionCount())
	for _, c := range clients {
		c.Stop()
	}
	waitFor(t, "all gone", func() bool { return s.ConnectionCount() == 0 })
}

func TestEarlyDataIsDeliveredWithoutRoundTrip(t *testing.T) {
	s := startServer(t, ServerConfig{})
	in := newInbox()
	s.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	c, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	require.NoError(t, c.ConnectAsync("127.0.0.1", s.Port()))
	// Sent before the connection is even established: goes right behind HELLO.
	waitFor(t, "dial started", func() bool { return c.Send([]byte("early")) == nil })
	waitFor(t, "early message", func() bool { return in.count() == 1 })
	require.Equal(t, "early", string(in.all()[0]))
}

func TestEarlyDataBeforeRejectIsReportedUndelivered(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConnections: 1})
	dial(t, s, ClientConfig{})
	c, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	errs := make(chan error, 4)
	c.OnError(func(err error) { errs <- err })
	require.NoError(t, c.ConnectAsync("127.0.0.1", s.Port()))
	waitFor(t, "dial started", func() bool { return c.Send([]byte("early")) == nil })
	var undelivered *UndeliveredError
	var rejected bool
	for undelivered == nil || !rejected {
		err := <-errs
		errors.As(err, &undelivered)
		rejected = rejected || errors.Is(err, ErrServerFull)
	}
	require.Equal(t, 1, undelivered.Count)
	c.Stop()
}

func TestBackpressureBoundsMemory(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{SendQueueLimit: 256 << 10, SendBufferSize: 64 << 10}})
	p := dialRaw(t, s.Port()) // never reads after the WELCOME
	p.hello("slow")
	p.next()
	waitFor(t, "session", func() bool { return s.ConnectionCount() == 1 })
	sess := s.Sessions()[0]
	msg := make([]byte, 1024)
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		err = sess.Send(msg)
	}
	require.ErrorIs(t, err, ErrBackpressure)
	// The kernel buffers absorb some more; then the queue stays full.
	for i := 0; i < 100000 && err != nil && !errors.Is(err, ErrTimeout); i++ {
		err = sess.SendTimeout(msg, 50*time.Millisecond)
		if err == nil {
			err = ErrBackpressure
		}
	}
	require.ErrorIs(t, err, ErrTimeout)
	sess.c.mu.Lock()
	queued := int(sess.c.queued.Load())
	sess.c.mu.Unlock()
	require.LessOrEqual(t, queued, 256<<10)
}

func TestHandlersMayCallAnything(t *testing.T) {
	s := startServer(t, ServerConfig{})
	s.OnMessage(func(sess *Session, msg []byte) {
		switch string(msg) {
		case "echo":
			sess.Send(msg)
		case "kick":
			sess.Disconnect("kicked from handler")
		case "swap":
			s.OnMessage(func(sess *Session, msg []byte) { sess.Send([]byte("swapped")) })
			sess.Send([]byte("ok"))
		case "panic":
			panic("boom")
		case "stop":
			s.Stop()
		}
	})
	panics := make(chan error, 1)
	s.OnError(func(_ *Session, err error) {
		if errors.Is(err, ErrHandlerPanic) {
			panics <- err
		}
	})
	c := dial(t, s, ClientConfig{})
	in := newInbox()
	c.OnMessage(in.add)
	c.Send([]byte("echo"))
	c.Send([]byte("panic"))
	c.Send([]byte("swap"))
	c.Send([]byte("anything"))
	waitFor(t, "replies", func() bool { return in.count() == 3 })
	require.Equal(t, []string{"echo", "ok", "swapped"}, toStrings(in.all()))
	require.Contains(t, (<-panics).Error(), "boom")

	s.OnMessage(func(sess *Session, msg []byte) { s.Stop() })
	c.Send([]byte("stop"))
	s.Wait()
	require.False(t, s.IsRunning())
}

func TestClientStopFromHandler(t *testing.T) {
	s := startServer(t, ServerConfig{})
	s.OnMessage(func(sess *Session, msg []byte) { sess.Send(msg) })
	c := dial(t, s, ClientConfig{})
	c.OnMessage(func([]byte) { c.Stop() })
	c.Send([]byte("x"))
	c.Wait()
	require.False(t, c.IsRunning())
}

func TestPauseReading(t *testing.T) {
	s := startServer(t, ServerConfig{})
	in := newInbox()
	var paused atomic.Bool
	s.OnMessage(func(sess *Session, m []byte) {
		in.add(m)
		if !paused.Swap(true) {
			sess.PauseReading()
		}
	})
	c := dial(t, s, ClientConfig{})
	for i := 0; i < 100; i++ {
		require.NoError(t, c.Send([]byte(fmt.Sprint(i))))
	}
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 1, in.count(), "nothing is delivered while paused")
	s.Sessions()[0].ResumeReading()
	waitFor(t, "rest after resume", func() bool { return in.count() == 100 })
	for i, m := range in.all() {
		require.Equal(t, fmt.Sprint(i), string(m))
	}
}

// Called from outside the loops, PauseReading returns once the pause is in
// effect: messages sent right after it are not delivered until resumed.
func TestPauseReadingFromOutsideIsInEffectOnReturn(t *testing.T) {
	s := startServer(t, ServerConfig{})
	in := newInbox()
	s.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	c := dial(t, s, ClientConfig{})
	require.NoError(t, c.Send([]byte("first")))
	waitFor(t, "first message", func() bool { return in.count() == 1 })
	sess := s.Sessions()[0]
	for round := 0; round < 20; round++ {
		sess.PauseReading()
		require.NoError(t, c.Send([]byte("while paused")))
		time.Sleep(5 * time.Millisecond)
		require.Equal(t, 1+round, in.count(), "round %d: delivered while paused", round)
		sess.ResumeReading()
		waitFor(t, "message after resume", func() bool { return in.count() == 2+round })
	}
}

func TestIPv6AndLocalhost(t *testing.T) {
	s, err := NewServer("v6", ServerConfig{BindAddress: "::1", Loops: 1})
	require.NoError(t, err)
	if err := s.Start(); err != nil {
		t.Fatalf("IPv6 loopback is required by this test suite: %v", err)
	}
	defer s.Stop()
	in := newInbox()
	s.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	c, _ := NewClient(ClientConfig{})
	require.NoError(t, c.Connect("::1", s.Port()))
	defer c.Stop()
	c.Send([]byte("v6"))
	waitFor(t, "v6 message", func() bool { return in.count() == 1 })

	s4 := startServer(t, ServerConfig{})
	c2, _ := NewClient(ClientConfig{})
	require.NoError(t, c2.Connect("localhost", s4.Port()), "names resolve, and a refused address falls through to the next")
	c2.Stop()
}

func TestErrorsAreTyped(t *testing.T) {
	_, err := NewServer("x", ServerConfig{Port: 70000})
	require.ErrorIs(t, err, ErrInvalidArgument)
	_, err = NewClient(ClientConfig{TransportConfig: TransportConfig{Compression: []Codec{"lz5"}}})
	require.ErrorIs(t, err, ErrInvalidArgument)
	s := startServer(t, ServerConfig{})
	require.ErrorIs(t, s.Start(), ErrAlreadyRunning)
	require.ErrorIs(t, s.SetConfig(ServerConfig{}), ErrAlreadyRunning)
	other, _ := NewServer("y", ServerConfig{BindAddress: "127.0.0.1", Port: s.Port()})
	require.Error(t, other.Start(), "port in use")
	c, _ := NewClient(ClientConfig{ConnectTimeout: time.Second})
	require.ErrorIs(t, c.Send([]byte("x")), ErrNotConnected)
	require.Error(t, c.Connect("127.0.0.1", 1), "nothing listens on port 1")
	require.ErrorIs(t, c.Connect("127.0.0.1", 0), ErrInvalidArgument)
	never, _ := NewServer("z", ServerConfig{})
	never.Wait() // returns at once: never started
	require.NoError(t, never.Stop())
}

func toStrings(msgs [][]byte) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m)
	}
	return out
}

func TestStopClosesHandshakingConnectionsPromptly(t *testing.T) {
	s := startServer(t, ServerConfig{})
	p := dialRaw(t, s.Port()) // connected, never says HELLO
	waitFor(t, "accepted", func() bool { return s.live.Load() == 1 })
	start := time.Now()
	require.NoError(t, s.Stop())
	require.Less(t, time.Since(start), 3*time.Second, "Stop must not wait out the shutdown timeout")
	p.expectEOF()
}

func TestSpinBeforeWaitStillServes(t *testing.T) {
	s := startServer(t, ServerConfig{SpinBeforeWait: 50 * time.Microsecond})
	s.OnMessage(func(sess *Session, m []byte) { sess.Send(m) })
	c := dial(t, s, ClientConfig{})
	in := newInbox()
	c.OnMessage(in.add)
	for i := 0; i < 20; i++ {
		c.Send([]byte("x"))
		time.Sleep(5 * time.Millisecond) // let the loop go idle between messages
	}
	waitFor(t, "echoes", func() bool { return in.count() == 20 })
}

// A session the server lists is connected: its WELCOME (after which the
// client's Connect returns) goes out only once the session is registered
// and in SessionConnected, so a client that connected finds its session
// listed and connected, and a state handler set then sees no earlier
// transition.
func TestAListedSessionIsConnectedOnceConnectReturns(t *testing.T) {
	s := startServer(t, ServerConfig{})
	for i := 0; i < 100; i++ {
		c := dial(t, s, ClientConfig{})
		sess := s.Session(c.SessionID())
		require.NotNil(t, sess, "connection %d: Connect returned before the server listed the session", i)
		require.Equal(t, SessionConnected, sess.State(), "connection %d", i)
		require.NoError(t, c.Stop())
	}
}
