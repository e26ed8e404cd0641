package core

// Tests of lifecycles: client runs that cannot act on one another, calls
// that never wait on an event loop from one, stops that end in bounded
// time, and the reconnect queue's bounds and deadline.

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/core/internal/wire"
)

// within runs fn on its own goroutine and fails the test if it has not
// returned after d: the bound tells "returned at once" from "waited for a
// timeout of a minute", with a wide margin either way.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// collect gathers the results of calls made inside handlers.
type collect struct {
	mu  sync.Mutex
	got map[string]error
}

func (c *collect) put(key string, err error) {
	c.mu.Lock()
	if c.got == nil {
		c.got = make(map[string]error)
	}
	if _, dup := c.got[key]; !dup {
		c.got[key] = err
	}
	c.mu.Unlock()
}

func (c *collect) has(keys ...string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		if _, ok := c.got[k]; !ok {
			return false
		}
	}
	return true
}

func (c *collect) get(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[key]
}

// The loop identity is exact: true on a loop of any engine, false on any
// other goroutine, including one a handler starts.
func TestLoopIdentityIsExact(t *testing.T) {
	require.False(t, onAnyLoop())
	s := startServer(t, ServerConfig{})
	type seen struct{ any, own, spawned bool }
	fromServer := make(chan seen, 1)
	s.OnMessage(func(sess *Session, _ []byte) {
		spawned := make(chan bool)
		go func() { spawned <- onAnyLoop() }()
		fromServer <- seen{onAnyLoop(), s.eng.onLoop() && sess.c.loop.onLoop(), <-spawned}
	})
	fromClient := make(chan seen, 1)
	c := dial(t, s, ClientConfig{})
	c.OnMessage(func([]byte) { fromClient <- seen{onAnyLoop(), s.eng.onLoop(), false} })
	require.NoError(t, c.Send([]byte("x")))
	require.Equal(t, seen{true, true, false}, <-fromServer)
	s.Broadcast([]byte("y"))
	require.Equal(t, seen{true, false, false}, <-fromClient, "a client loop is a loop, not the server's")
	require.False(t, onAnyLoop())
}

// probeWaits makes, inside a handler, every call that would wait for a
// loop and records what each returned.
func probeWaits(res *collect, kind string, s *Server, cl *Client) {
	res.put(kind+"/Server.Wait", s.Wait())
	res.put(kind+"/Client.Wait", cl.Wait())
	fresh, _ := NewClient(ClientConfig{})
	res.put(kind+"/Client.Connect", fresh.Connect("127.0.0.1", s.Port()))
}

// stuckPair is a server and a client whose stops cannot complete for a
// minute (see stuckServer, stuckClient): stopping them from a handler
// must return at once anyway.
type stuckPair struct {
	s *Server
	c *Client
}

func (p stuckPair) probe(res *collect, kind string) {
	res.put(kind+"/Server.Stop", p.s.Stop())
	res.put(kind+"/Client.Stop", p.c.Stop())
}

// Every call that would wait for a loop fails at once with
// ErrWouldBlockLoop from every kind of handler, of servers and clients.
func TestWaitingCallsFailAtOnceFromEveryHandler(t *testing.T) {
	s := startServer(t, ServerConfig{})
	res := &collect{}
	var cl *Client
	var ready atomic.Bool
	kinds := []string{"server.OnConnect", "session.OnStateChange", "server.OnMessage", "server.OnError",
		"server.OnDisconnect", "client.OnConnect", "client.OnMessage", "client.OnDisconnect"}
	stuck := make(map[string]stuckPair)
	for _, k := range kinds {
		stuck[k] = stuckPair{stuckServer(t), stuckClient(t)}
	}
	probe := func(kind string) {
		if ready.Load() {
			probeWaits(res, kind, s, cl)
			stuck[kind].probe(res, kind)
		}
	}
	s.OnConnect(func(sess *Session) {
		probe("server.OnConnect")
		sess.OnStateChange(func(_, st SessionState) { probe("session.OnStateChange") })
	})
	s.OnMessage(func(sess *Session, m []byte) {
		probe("server.OnMessage")
		if string(m) == "panic" {
			panic("probe")
		}
		if string(m) == "bye" {
			sess.Disconnect("bye")
		}
	})
	s.OnError(func(*Session, error) { probe("server.OnError") })
	s.OnDisconnect(func(*Session, string) { probe("server.OnDisconnect") })
	var err error
	cl, err = NewClient(ClientConfig{AutoReconnect: true, ReconnectInterval: time.Hour}) // its run outlives the disconnect
	require.NoError(t, err)
	t.Cleanup(func() { cl.Stop() })
	cl.OnMessage(func([]byte) { probe("client.OnMessage") })
	cl.OnDisconnect(func(string) { probe("client.OnDisconnect") })
	cl.OnError(func(error) { probe("client.OnError") })
	cl.OnConnect(func() { probe("client.OnConnect") })
	ready.Store(true)
	require.NoError(t, cl.Connect("127.0.0.1", s.Port()))
	require.NoError(t, cl.Send([]byte("hello")))
	waitFor(t, "server message", func() bool { return res.has("server.OnMessage/Client.Connect") })
	s.Broadcast([]byte("to client"))
	require.NoError(t, cl.Send([]byte("panic")))
	require.NoError(t, cl.Send([]byte("bye")))
	for _, k := range kinds {
		waitFor(t, k, func() bool {
			return res.has(k+"/Server.Wait", k+"/Client.Wait", k+"/Client.Connect", k+"/Server.Stop", k+"/Client.Stop")
		})
		for _, call := range []string{"Server.Wait", "Client.Wait", "Client.Connect"} {
			require.ErrorIs(t, res.get(k+"/"+call), ErrWouldBlockLoop, "%s from %s", call, k)
		}
		require.NoError(t, res.get(k+"/Server.Stop"))
		require.False(t, stuck[k].s.IsRunning())
		require.False(t, stuck[k].c.IsRunning())
	}
	// The batch handler is a handler too.
	s2 := startServer(t, ServerConfig{})
	s2.OnMessageBatch(func(*Session, [][]byte) { probeWaits(res, "server.OnMessageBatch", s2, cl) })
	c2 := dial(t, s2, ClientConfig{})
	require.NoError(t, c2.Send([]byte("x")))
	waitFor(t, "batch", func() bool { return res.has("server.OnMessageBatch/Client.Connect") })
	require.ErrorIs(t, res.get("server.OnMessageBatch/Server.Wait"), ErrWouldBlockLoop)
}

// stuckServer is a server with one open session whose peer never answers
// CLOSE, and a shutdown timeout of a minute: a Stop that waits for it
// takes a minute.
func stuckServer(t *testing.T) *Server {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{ShutdownTimeout: time.Minute}})
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "stuck"})
	waitFor(t, "stuck session", func() bool { return s.ConnectionCount() == 1 })
	return s
}

// stuckClient is a client connected to a hand-driven server that never
// answers CLOSE, with a shutdown timeout of a minute.
func stuckClient(t *testing.T) *Client {
	ln, port := rawListener(t)
	c, err := NewClient(ClientConfig{TransportConfig: TransportConfig{ShutdownTimeout: time.Minute}})
	require.NoError(t, err)
	go func() {
		p := acceptRaw(t, ln)
		f, ok := p.next()
		if !ok || f.typ != wire.TypeHello {
			return
		}
		p.write(wire.AppendFrame(nil, wire.TypeWelcome, 0, wire.AppendWelcome(nil, &wire.Welcome{Version: 1, MaxMessage: 1 << 20, SessionID: 7})))
		// Never answers CLOSE; the test's end closes the socket.
	}()
	require.NoError(t, c.Connect("127.0.0.1", port))
	return c
}

// Stop of a server or a client, and Engine.Close, called on the loop of
// another engine return at once; the stop completes in the background.
func TestStopsFromAnotherEnginesLoopDoNotWait(t *testing.T) {
	stuckS := stuckServer(t)
	stuckC := stuckClient(t)
	eng, err := NewEngine(1, 0)
	require.NoError(t, err)
	other := startServer(t, ServerConfig{})
	res := &collect{}
	other.OnMessage(func(*Session, []byte) {
		res.put("Server.Stop", stuckS.Stop())
		res.put("Client.Stop", stuckC.Stop())
		res.put("Engine.Close", eng.Close())
	})
	c := dial(t, other, ClientConfig{})
	require.NoError(t, c.Send([]byte("stop them")))
	within(t, 10*time.Second, "the handler", func() {
		waitFor(t, "stops", func() bool { return res.has("Server.Stop", "Client.Stop", "Engine.Close") })
	})
	require.NoError(t, res.get("Server.Stop"))
	require.False(t, stuckS.IsRunning())
	require.False(t, stuckC.IsRunning())
	require.NoError(t, c.Send([]byte("the loop still serves")))
}

// SendTimeout on a full queue waits for the loop to drain it: on a loop it
// fails at once instead (the one waiting may be the one that drains).
func TestSendTimeoutOnALoopFailsAtOnce(t *testing.T) {
	s := startServer(t, ServerConfig{TransportConfig: TransportConfig{SendQueueLimit: 64 << 10}})
	res := &collect{}
	s.OnMessage(func(sess *Session, _ []byte) {
		msg := make([]byte, 32<<10)
		for i := 0; i < 10000; i++ {
			if err := sess.SendTimeout(msg, time.Minute); err != nil {
				res.put("Session.SendTimeout", err)
				return
			}
		}
	})
	p := dialRaw(t, s.Port())
	p.welcome(&wire.Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "never reads"})
	p.write(wire.AppendFrame(nil, wire.TypeData, 0, []byte("go")))
	within(t, 10*time.Second, "SendTimeout on the session's own loop", func() {
		waitFor(t, "send error", func() bool { return res.has("Session.SendTimeout") })
	})
	err := res.get("Session.SendTimeout")
	require.ErrorIs(t, err, ErrWouldBlockLoop)
	require.ErrorIs(t, err, ErrBackpressure, "the queue is full: the same condition as without a timeout")
}

// A Connect retried right after a failed one owns the client: the failed
// run's dial, still reporting its failure, cannot schedule a reconnect
// for it (that made two sessions for one client, one alive after Stop).
func TestStaleDialCannotActOnTheNextRun(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConnections: 1})
	blocker := dial(t, s, ClientConfig{})
	c, err := NewClient(ClientConfig{AutoReconnect: true, ReconnectInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	release := make(chan struct{})
	var first atomic.Bool
	c.OnError(func(err error) {
		if errors.Is(err, ErrServerFull) && first.CompareAndSwap(false, true) {
			<-release // the failed run's dial reports while the next run starts
		}
	})
	require.ErrorIs(t, c.Connect("127.0.0.1", s.Port()), ErrServerFull)
	blocker.Stop()
	waitFor(t, "slot free", func() bool { return s.ConnectionCount() == 0 })
	require.NoError(t, c.Connect("127.0.0.1", s.Port()))
	close(release)
	// A stale reconnect would be dialed within ReconnectInterval (10 ms):
	// twenty times that shows none was.
	time.Sleep(200 * time.Millisecond)
	require.Equal(t, 1, s.ConnectionCount(), "one client, one session")
	require.NoError(t, c.Stop())
	waitFor(t, "no session after Stop", func() bool { return s.ConnectionCount() == 0 })
	time.Sleep(200 * time.Millisecond)
	require.Zero(t, s.ConnectionCount(), "nothing reconnects after Stop")
}

// A Connect on a closed engine fails, and the run ends: Wait returns.
func TestConnectOnAClosedEngineEndsTheRun(t *testing.T) {
	s := startServer(t, ServerConfig{})
	eng, err := NewEngine(1, 0)
	require.NoError(t, err)
	require.NoError(t, eng.Close())
	c, err := NewClient(ClientConfig{Engine: eng})
	require.NoError(t, err)
	within(t, 10*time.Second, "Connect on a closed engine", func() {
		require.ErrorIs(t, c.Connect("127.0.0.1", s.Port()), ErrClosed)
	})
	within(t, 10*time.Second, "Wait", func() { c.Wait() })
	require.False(t, c.IsRunning())
}

// An engine closed under an auto-reconnecting client ends its run: Stop
// and Wait return.
func TestEngineClosedUnderAReconnectingClient(t *testing.T) {
	s := startServer(t, ServerConfig{})
	eng, err := NewEngine(1, 0)
	require.NoError(t, err)
	c, err := NewClient(ClientConfig{Engine: eng, AutoReconnect: true, ReconnectInterval: 10 * time.Millisecond})
	require.NoError(t, err)
	errs := make(chan error, 16)
	c.OnError(func(err error) {
		select {
		case errs <- err:
		default:
		}
	})
	require.NoError(t, c.Connect("127.0.0.1", s.Port()))
	require.NoError(t, eng.Close())
	within(t, 10*time.Second, "Wait after the engine closed", func() { c.Wait() })
	within(t, 10*time.Second, "Stop after the engine closed", func() { c.Stop() })
	require.False(t, c.IsRunning())
}

// Stop called from a handler returns at once, but the server counts as
// running until the stop completes: SetConfig and Start are refused
// meanwhile (SetConfig wrote the configuration while loops read it).
func TestStopFromHandlerKeepsTheServerBusyUntilDone(t *testing.T) {
	s := startServer(t, ServerConfig{})
	res := &collect{}
	s.OnMessage(func(*Session, []byte) {
		res.put("Stop", s.Stop())
		res.put("SetConfig", s.SetConfig(ServerConfig{BindAddress: "127.0.0.1", TransportConfig: TransportConfig{IdleTimeout: time.Second}}))
		res.put("Start", s.Start())
	})
	c := dial(t, s, ClientConfig{})
	require.NoError(t, c.Send([]byte("stop")))
	waitFor(t, "handler", func() bool { return res.has("Stop", "SetConfig", "Start") })
	require.NoError(t, res.get("Stop"))
	require.ErrorIs(t, res.get("SetConfig"), ErrAlreadyRunning, "the stop is still in progress")
	require.ErrorIs(t, res.get("Start"), ErrAlreadyRunning, "the stop is still in progress")
	s.Wait()
	require.NoError(t, s.SetConfig(ServerConfig{BindAddress: "127.0.0.1"}), "stopped now")
}

// Stop while connections are being refused "server full" ends promptly:
// a refused peer that keeps its socket open is not waited for (that made
// Stop take the whole shutdown timeout plus the linger).
func TestStopDuringAConnectionFloodIsBounded(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConnections: 1, MaxHandshakesPerAddress: 1000,
		TransportConfig: TransportConfig{ShutdownTimeout: time.Minute}})
	dial(t, s, ClientConfig{})
	var wg sync.WaitGroup
	var conns sync.Map
	stop := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ { // bounded: at most 1,600 attempts
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())))
				if err != nil {
					continue
				}
				conns.Store(nc, true) // kept open: refused peers that linger
				nc.Write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, &wire.Hello{
					MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "flood"})))
			}
		}()
	}
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	})
	waitFor(t, "refusals", func() bool { return s.Statistics().RejectedConnections >= 50 })
	within(t, 15*time.Second, "Stop during a flood", func() { s.Stop() })
}

// RejectedConnections counts the peers that were sent a REJECT, once each,
// not those that hung up during the handshake.
func TestRejectedConnectionsCountsRejectsOnly(t *testing.T) {
	s := startServer(t, ServerConfig{MaxConnections: 1})
	for i := 0; i < 3; i++ {
		p := dialRaw(t, s.Port())
		p.write([]byte{0}) // a partial header, then the peer hangs up
		p.conn.Close()
	}
	waitFor(t, "hang-ups", func() bool { return s.live.Load() == 0 && s.Statistics().TotalConnections == 3 })
	require.Zero(t, s.Statistics().RejectedConnections, "nobody was sent a REJECT")
	dial(t, s, ClientConfig{})
	p := dialRaw(t, s.Port())
	p.hello("full")
	code, _ := p.expectClose(wire.TypeReject)
	require.Equal(t, wire.RejectServerFull, code)
	bad := dialRaw(t, s.Port())
	bad.write(wire.AppendFrame(nil, wire.TypeHello, 0, []byte{1}))
	bad.expectClose(wire.TypeReject)
	p.conn.Close()
	bad.conn.Close()
	waitFor(t, "closed", func() bool { return s.live.Load() == 1 })
	require.EqualValues(t, 2, s.Statistics().RejectedConnections, "one server full, one bad hello")
}

// The reconnect queue is bounded in bytes as well as in messages.
func TestReconnectQueueIsBoundedInBytes(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, err := NewClient(ClientConfig{AutoReconnect: true, ReconnectQueueBytes: 1000, ReconnectInterval: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	require.NoError(t, c.Connect("127.0.0.1", s.Port()))
	s.Stop()
	waitFor(t, "disconnect", func() bool { return !c.IsConnected() })
	for i := 0; i < 9; i++ {
		require.NoError(t, c.Send(make([]byte, 100)))
	}
	err = c.Send(make([]byte, 200))
	require.ErrorIs(t, err, ErrBackpressure)
	require.Contains(t, err.Error(), "bytes")
	require.NoError(t, c.Send(make([]byte, 100)), "what fits still fits")
}

// clientQueueingForAGoneServer connects an auto-reconnecting client, stops
// its server and queues the messages "0", "1", "2"; it returns the client,
// the freed port and the counts of messages reported undelivered and of
// "server full" errors.
func clientQueueingForAGoneServer(t *testing.T) (c *Client, port int, undelivered, full *atomic.Int64) {
	t.Helper()
	s := startServer(t, ServerConfig{})
	port = s.Port()
	c, err := NewClient(ClientConfig{AutoReconnect: true, ReconnectInterval: 10 * time.Millisecond, ReconnectMaxInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	undelivered, full = new(atomic.Int64), new(atomic.Int64)
	c.OnError(func(err error) {
		var u *UndeliveredError
		switch {
		case errors.As(err, &u):
			undelivered.Add(int64(u.Count))
		case errors.Is(err, ErrServerFull):
			full.Add(1)
		}
	})
	require.NoError(t, c.Connect("127.0.0.1", port))
	require.NoError(t, s.Stop())
	waitFor(t, "disconnect", func() bool { return !c.IsConnected() })
	for i := 0; i < 3; i++ {
		require.NoError(t, c.Send([]byte(fmt.Sprint(i))))
	}
	return c, port, undelivered, full
}

// refuseServerFull accepts one connection on ln, reads its HELLO and
// answers REJECT 2001 "server full", as a full server does.
func refuseServerFull(t *testing.T, ln net.Listener) {
	t.Helper()
	p := acceptRaw(t, ln)
	f, ok := p.next()
	require.True(t, ok)
	require.Equal(t, wire.TypeHello, f.typ)
	p.write(wire.AppendFrame(nil, wire.TypeReject, 0, wire.AppendCodeReason(nil, wire.RejectServerFull, wire.ReasonServerFull)))
	p.expectEOF()
	p.conn.Close()
}

// A reconnect attempt refused "server full" keeps the queue, early data
// included (the server discarded it): it is delivered by the attempt that
// succeeds, and nothing is reported lost.
func TestReconnectQueueSurvivesServerFull(t *testing.T) {
	_, port, undelivered, full := clientQueueingForAGoneServer(t)
	// A hand-driven server on the same port refuses two attempts.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		refuseServerFull(t, ln)
	}
	ln.Close()
	waitFor(t, "refusals reported", func() bool { return full.Load() >= 2 })
	s2 := startServer(t, ServerConfig{Port: port})
	in := newInbox()
	s2.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	waitFor(t, "queued messages", func() bool { return in.count() == 3 })
	require.Equal(t, []string{"0", "1", "2"}, toStrings(in.all()))
	require.Zero(t, undelivered.Load())
}

// Messages that wait in the reconnect queue past ReconnectQueueTimeout are
// reported undelivered, at their deadline, and never sent.
func TestReconnectQueueExpiresAndReports(t *testing.T) {
	s := startServer(t, ServerConfig{})
	port := s.Port()
	c, err := NewClient(ClientConfig{AutoReconnect: true, ReconnectQueueTimeout: 100 * time.Millisecond,
		ReconnectInterval: 10 * time.Millisecond, ReconnectMaxInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { c.Stop() })
	expired := make(chan *UndeliveredError, 4)
	c.OnError(func(err error) {
		var u *UndeliveredError
		if errors.As(err, &u) {
			expired <- u
		}
	})
	require.NoError(t, c.Connect("127.0.0.1", port))
	require.NoError(t, s.Stop())
	waitFor(t, "disconnect", func() bool { return !c.IsConnected() })
	for i := 0; i < 3; i++ {
		require.NoError(t, c.Send([]byte("old")))
	}
	// The three may expire in one sweep or, on a loaded machine where a
	// sweep runs between two sends, in two: every one is reported, once.
	reported := 0
	deadline := time.After(10 * time.Second)
	for reported < 3 {
		select {
		case u := <-expired:
			require.Contains(t, u.Reason, "reconnect queue timeout")
			reported += u.Count
		case <-deadline:
			t.Fatalf("%d of 3 expired messages were reported", reported)
		}
	}
	require.Equal(t, 3, reported)
	s2 := startServer(t, ServerConfig{Port: port})
	in := newInbox()
	s2.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	waitFor(t, "reconnected", func() bool { return c.IsConnected() })
	require.NoError(t, c.Send([]byte("new")))
	waitFor(t, "new message", func() bool { return in.count() >= 1 })
	require.Equal(t, []string{"new"}, toStrings(in.all()), "expired messages are not sent")
}

// A wake that won the right to write, then was preempted while the loop
// exited and its descriptor number was reused, writes nothing to the
// descriptor's new owner.
func TestLateWakeDoesNotWriteIntoAReusedDescriptor(t *testing.T) {
	eng, err := NewEngine(1, 0)
	require.NoError(t, err)
	l := eng.loops[0]
	wakefd := l.poller.WakeFD()
	waitFor(t, "loop asleep", func() bool { return l.sleeping.Load() })
	inHook, resume := make(chan struct{}), make(chan struct{})
	var once sync.Once
	hook := func(w *loop) {
		if w == l {
			once.Do(func() { close(inHook); <-resume })
		}
	}
	wakeHook.Store(&hook)
	defer wakeHook.Store(nil)
	woke := make(chan struct{})
	go func() { l.wake(); close(woke) }()
	<-inHook
	require.NoError(t, eng.Close()) // the loop exits and closes its descriptors
	var reused []int
	defer func() {
		for _, fd := range reused {
			unix.Close(fd)
		}
	}()
	victim := -1
	for i := 0; i < 64 && victim < 0; i++ {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		require.NoError(t, err)
		reused = append(reused, fd)
		if fd == wakefd {
			victim = fd
		}
	}
	require.GreaterOrEqual(t, victim, 0, "the descriptor number was not reused")
	close(resume)
	<-woke
	var b [8]byte
	_, err = unix.Read(victim, b[:])
	require.ErrorIs(t, err, unix.EAGAIN, "the late wake wrote into the descriptor's new owner")
}

// The OnError that reports a failed ConnectAsync runs on the dial's
// goroutine, which ends the run after it: a Wait there fails at once
// instead of waiting for itself.
func TestWaitInsideTheFailureThatEndsTheRun(t *testing.T) {
	ln, port := rawListener(t)
	ln.Close() // nothing listens: the connect is refused
	c, err := NewClient(ClientConfig{})
	require.NoError(t, err)
	got := make(chan error, 1)
	c.OnError(func(error) { got <- c.Wait() })
	require.NoError(t, c.ConnectAsync("127.0.0.1", port))
	select {
	case err := <-got:
		require.ErrorIs(t, err, ErrWouldBlockLoop)
	case <-time.After(10 * time.Second):
		t.Fatal("Wait inside OnError did not return")
	}
	within(t, 10*time.Second, "Wait outside", func() { c.Wait() })
}

// Connections accepted while Stop runs never end up welcomed and left
// open: each peer is refused (REJECT) or, if it was welcomed before the
// stop reached it, closed with CLOSE; no session opens after Stop returns.
func TestConnectionsAcceptedDuringStopAreNotLeftOpen(t *testing.T) {
	s := startServer(t, ServerConfig{MaxHandshakesPerAddress: 1000, MaxPendingHandshakes: 1000})
	var afterStop, stopped atomic.Bool
	s.OnConnect(func(*Session) {
		if stopped.Load() {
			afterStop.Store(true)
		}
	})
	type outcome struct{ welcomed, closedAfter bool }
	results := make(chan outcome, 400)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100; i++ { // bounded: 400 peers in all
				nc, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port())))
				if err != nil {
					return // the listener is closed: the stop is under way
				}
				nc.Write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, &wire.Hello{
					MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "late"})))
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer nc.Close()
					var o outcome
					dec := wire.Decoder{DataLimit: 1 << 20}
					buf := make([]byte, 4096)
					nc.SetReadDeadline(time.Now().Add(20 * time.Second))
					for {
						n, err := nc.Read(buf)
						dec.Feed(buf[:n], func(h wire.Header, _ []byte) error {
							switch h.Type {
							case wire.TypeWelcome:
								o.welcomed = true
							case wire.TypeClose:
								o.closedAfter = o.welcomed
								nc.Write(wire.AppendFrame(nil, wire.TypeClose, 0, wire.AppendCodeReason(nil, wire.CloseNormal, "")))
							}
							return nil
						})
						if err != nil {
							break
						}
					}
					results <- o
				}()
			}
		}()
	}
	waitFor(t, "some sessions", func() bool { return s.Statistics().TotalConnections >= 50 })
	require.NoError(t, s.Stop())
	stopped.Store(true)
	wg.Wait()
	close(results)
	welcomed, n := 0, 0
	for o := range results {
		n++
		if o.welcomed {
			welcomed++
			require.True(t, o.closedAfter, "a welcomed peer was dropped without CLOSE")
		}
	}
	require.False(t, afterStop.Load(), "a session opened after Stop returned")
	require.Zero(t, s.live.Load())
	t.Logf("%d peers, %d welcomed before the stop reached them", n, welcomed)
}

// Early data of an attempt that ended without REJECT is reported by that
// connection; a later attempt's REJECT must not bring it back (it would be
// both reported lost and delivered).
func TestEarlyDataReportedLostIsNotRequeuedLater(t *testing.T) {
	c, port, undelivered, full := clientQueueingForAGoneServer(t)
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	require.NoError(t, err)
	// First attempt: HELLO and the early data arrive, then the peer hangs up.
	p := acceptRaw(t, ln)
	f, ok := p.next()
	require.True(t, ok)
	require.Equal(t, wire.TypeHello, f.typ)
	p.conn.Close()
	waitFor(t, "early data reported lost", func() bool { return undelivered.Load() == 3 })
	// Second attempt: refused.
	refuseServerFull(t, ln)
	ln.Close()
	waitFor(t, "refusal reported", func() bool { return full.Load() >= 1 })
	s2 := startServer(t, ServerConfig{Port: port})
	in := newInbox()
	s2.OnMessage(func(_ *Session, m []byte) { in.add(m) })
	waitFor(t, "reconnected", func() bool { return c.IsConnected() })
	require.NoError(t, c.Send([]byte("new")))
	waitFor(t, "new message", func() bool { return in.count() >= 1 })
	require.Equal(t, []string{"new"}, toStrings(in.all()), "messages reported lost were delivered too")
	require.EqualValues(t, 3, undelivered.Load())
}
