package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netsys/netsys/core/internal/sock"
	"github.com/netsys/netsys/core/internal/wire"
)

// Client is one netsys connection to a server, with optional automatic
// reconnection. All methods are safe for concurrent use, including from
// inside its handlers, which run on the connection's event loop.
type Client struct {
	cfg ClientConfig
	eng *Engine

	mu      sync.Mutex
	running bool
	run     *clientRun // the current (or last) run; see clientRun
	host    string
	port    int
	c       *conn // current connection, dialing, handshaking or open
	ready   *conn // the connection Send may write to directly
	// queue holds messages waiting for a connection, oldest first (with
	// Acknowledged: every held message), bounded by ReconnectQueueLimit
	// messages and ReconnectQueueBytes (AckBufferBytes) bytes; heldBytes is
	// what they count against the byte bound (see ackCost).
	queue []queuedMsg
	qbuf  []queuedMsg // the array queue lives in (see pushLocked)
	// early holds copies of the messages sent to c before WELCOME (early
	// data, bounded by wire.MaxEarlyData): a REJECT means the server
	// discarded them, and they go back to the front of the queue.
	early     []queuedMsg
	attempt   int  // consecutive failed reconnect attempts
	dialing   bool // a dial is under way: Send queues for it
	timer     *time.Timer
	done      chan struct{}
	connected atomic.Bool
	sessionID atomic.Uint64
	// ender is the goroutine reporting the failure that ends the run (a
	// dial goroutine, not a loop), while it runs OnError.
	ender atomic.Uintptr
	// Queue timeout (ReconnectQueueTimeout): when the last open connection
	// ended, and the timer that reports messages waiting too long.
	lastEnd int64
	expiry  *time.Timer
	// Acknowledged delivery (ack.go), under mu: the stream's id, the number
	// the next message gets (cl.queue holds nextSeq-len(queue) ..
	// nextSeq-1), and whether a fallback was reported since the last
	// connection that agreed.
	streamID         uint64
	nextSeq          uint64
	heldBytes        int
	fallbackReported bool
	slab             []byte // see copyHeldLocked

	stats      traffic
	errors     atomic.Uint64 // failed sends and error closes
	reconnects atomic.Uint64

	onMessage    atomic.Pointer[func([]byte)]
	onConnect    atomic.Pointer[func()]
	onDisconnect atomic.Pointer[func(string)]
	onError      atomic.Pointer[func(error)]
}

// clientRun is the identity of one run of a client, from Connect to its
// end (Stop, a failed Connect, a lost connection without AutoReconnect, or
// the engine closed). Dial goroutines and reconnect timers carry the run
// they belong to and act only while it is the client's current one, so a
// run that ended cannot touch the next.
type clientRun struct {
	done chan struct{} // closed when the run has ended and its connection closed
}

// NewClient creates a client; nothing is dialed until Connect.
func NewClient(cfg ClientConfig) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	eng := cfg.Engine
	if eng == nil {
		if eng, err = DefaultEngine(); err != nil {
			return nil, err
		}
	}
	cl := &Client{cfg: cfg, eng: eng, nextSeq: 1}
	if cfg.Acknowledged {
		cl.streamID = newStreamID()
	}
	return cl, nil
}

// ClientID returns the id sent in HELLO.
func (cl *Client) ClientID() string { return cl.cfg.ClientID }

// OnMessage sets the message handler; the slice is valid only during the call.
func (cl *Client) OnMessage(fn func([]byte)) { storeHandler(&cl.onMessage, fn) }

// OnConnect sets the handler called after each successful handshake
// (including reconnects).
func (cl *Client) OnConnect(fn func()) { storeHandler(&cl.onConnect, fn) }

// OnDisconnect sets the handler called when an open connection ends.
func (cl *Client) OnDisconnect(fn func(reason string)) { storeHandler(&cl.onDisconnect, fn) }

// OnError sets the handler for failures: failed (re)connects, rejects,
// protocol errors, undelivered messages (*UndeliveredError), handler panics,
// and, with Acknowledged, a server that did not agree it (ErrUnsupported:
// the connection goes on with the default delivery guarantees).
func (cl *Client) OnError(fn func(error)) { storeHandler(&cl.onError, fn) }

// Connect dials host:port and returns once the server has welcomed the
// client, or with the reason it did not (ErrRejected, ErrServerFull,
// ErrTimeout, a dial error). On failure the client is stopped again, even
// with AutoReconnect (which applies to connections lost later). Called on
// an event loop (inside a handler) it fails at once with ErrWouldBlockLoop,
// since the handshake may need that very loop: use ConnectAsync there.
func (cl *Client) Connect(host string, port int) error {
	if onAnyLoop() {
		return newError("connect", net.JoinHostPort(host, strconv.Itoa(port)), ErrWouldBlockLoop,
			"Client.Connect called inside a handler would block its event loop (use ConnectAsync)", nil)
	}
	run, result, err := cl.start(host, port)
	if err != nil {
		return err
	}
	t := time.NewTimer(cl.cfg.ConnectTimeout + time.Second)
	defer t.Stop()
	select {
	case err = <-result:
	case <-t.C:
		err = newError("connect", net.JoinHostPort(host, strconv.Itoa(port)), ErrTimeout, "connect timeout", nil)
	}
	if err != nil {
		cl.halt(run, "connect failed")
	}
	return err
}

// ConnectAsync starts connecting and returns at once (the original
// start_client semantics). The outcome arrives through OnConnect or OnError;
// with AutoReconnect a failed first attempt is retried.
func (cl *Client) ConnectAsync(host string, port int) error {
	_, _, err := cl.start(host, port)
	return err
}

func (cl *Client) start(host string, port int) (*clientRun, <-chan error, error) {
	if port <= 0 || port > 65535 || host == "" {
		return nil, nil, newError("connect", host, ErrInvalidArgument, "host must be set and port in 1..65535", nil)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.running {
		return nil, nil, newError("connect", host, ErrAlreadyRunning, "client is running", nil)
	}
	run := &clientRun{done: make(chan struct{})}
	cl.running, cl.run, cl.host, cl.port, cl.attempt, cl.dialing = true, run, host, port, 0, true
	cl.done = run.done
	result := make(chan error, 1)
	go cl.dial(run, result)
	return run, result, nil
}

// currentLocked reports whether run is the client's current, unended run
// (cl.mu held): what a dial goroutine or a timer checks before acting.
func (cl *Client) currentLocked(run *clientRun) bool { return cl.running && cl.run == run }

// dial resolves and connects, trying each address in turn; it runs on a
// short-lived goroutine because name resolution blocks.
func (cl *Client) dial(run *clientRun, result chan<- error) {
	cl.mu.Lock()
	host, port := cl.host, cl.port
	cl.mu.Unlock()
	target := net.JoinHostPort(host, strconv.Itoa(port))
	addrs, err := resolve(host, port, cl.cfg.ConnectTimeout)
	if err != nil {
		cl.dialFailed(run, result, newError("connect", target, ErrResolve, "cannot resolve "+host, err))
		return
	}
	for _, addr := range addrs {
		outcome := make(chan error, 1)
		if !cl.dialOne(run, addr, outcome) {
			return // stopped meanwhile
		}
		if err = <-outcome; err == nil {
			result <- nil
			return
		}
		if errors.Is(err, ErrRejected) || errors.Is(err, ErrServerFull) || cl.eng.stopped.Load() ||
			errors.Is(err, ErrClosed) && !cl.isCurrent(run) {
			break // the server answered (or the engine is gone): another address will not help
		}
	}
	cl.dialFailed(run, result, err)
}

// isCurrent is currentLocked taking the lock.
func (cl *Client) isCurrent(run *clientRun) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.currentLocked(run)
}

func (cl *Client) dialFailed(run *clientRun, result chan<- error, err error) {
	result <- err
	if !cl.isCurrent(run) {
		return // the run ended meanwhile: its failure is no one's news
	}
	retry := cl.cfg.AutoReconnect && !cl.eng.stopped.Load()
	if !retry {
		// This goroutine ends the run after the report: a Wait inside the
		// handler would wait for itself.
		cl.ender.Store(getg())
	}
	cl.reportError(err)
	cl.ender.Store(0)
	cl.mu.Lock()
	current := cl.currentLocked(run)
	if current {
		cl.dialing = false
	}
	retry = retry && current
	cl.mu.Unlock()
	if retry {
		cl.scheduleReconnect(run)
		return
	}
	// Without reconnection the run is over: Connect's caller or
	// ConnectAsync's OnError has the failure, and Wait returns.
	cl.halt(run, "connect failed")
}

func resolve(host string, port int, timeout time.Duration) ([]netip.AddrPort, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.AddrPort{netip.AddrPortFrom(a, uint16(port))}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, err
	}
	out := make([]netip.AddrPort, 0, len(ips))
	for _, ip := range ips {
		out = append(out, netip.AddrPortFrom(ip.Unmap(), uint16(port)))
	}
	return out, nil
}

// dialOne starts one connection attempt of run; outcome receives its
// result. It reports false if run is no longer current.
func (cl *Client) dialOne(run *clientRun, addr netip.AddrPort, outcome chan error) bool {
	fd, err := sock.Connect(addr)
	if err != nil {
		outcome <- newError("connect", addr.String(), ErrConnect, "connect failed", err)
		return true
	}
	l := cl.eng.pick()
	c := newConn(l, fd, cl, &cl.cfg.TransportConfig, stConnecting)
	c.remote = packHostPort(addr)
	// Before the HELLO below lets the loop see c.
	c.dial = &dialState{outcome: outcome, ended: make(chan struct{}), zone: addr.Addr().Zone()}
	hello := &wire.Hello{MinVersion: wire.MinVersion, MaxVersion: wire.Version,
		MaxMessage: uint32(cl.cfg.MessageSizeLimit), ClientID: cl.cfg.ClientID, Transforms: cl.cfg.Transforms,
		HasHeartbeat: true, HeartbeatMS: heartbeatMS(cl.cfg.IdleTimeout)}
	for _, codec := range cl.cfg.Compression {
		hello.Codecs = append(hello.Codecs, codecID(codec))
	}

	cl.mu.Lock()
	if cl.cfg.Acknowledged {
		// first_seq: the oldest message held, else the next one.
		c.dial.ackFirst = cl.nextSeq - uint64(len(cl.queue))
		hello.HasAck, hello.AckStream, hello.AckFirstSeq = true, cl.streamID, c.dial.ackFirst
	}
	c.sendControl(wire.TypeHello, wire.AppendHello(nil, hello))
	if !cl.currentLocked(run) {
		cl.mu.Unlock()
		l.nconns.Add(-1)
		sock.Close(fd)
		return false
	}
	cl.c = c
	cl.mu.Unlock()
	ok := l.post(func() {
		if c.state.Load() == stClosed {
			// Stop closed the connection (and its fd) before it was
			// attached; the fd number may already belong to someone else.
			return
		}
		if err := c.attach(); err != nil {
			c.state.Store(stClosed)
			cl.closed(c, ErrClosed, "cannot poll: "+err.Error(), 0)
			return
		}
		c.deadline = mono(l.now.Add(cl.cfg.ConnectTimeout))
	})
	if !ok {
		// The engine is closed: the connection will never be attached.
		if c.state.Swap(stClosed) != stClosed {
			l.nconns.Add(-1)
			sock.Close(fd)
			cl.mu.Lock()
			if cl.c == c {
				cl.c, cl.ready = nil, nil
			}
			cl.mu.Unlock()
			close(c.dial.ended)
		}
		outcome <- newError("connect", addr.String(), ErrConnect, "engine closed", nil)
	}
	return true
}

// tcpConnected runs when the socket becomes writable during connect.
func (cl *Client) tcpConnected(c *conn) {
	if err := sock.ConnectResult(int(c.fd)); err != nil {
		c.noteDialCause(err)
		c.finish(ErrClosed, "connect failed")
		return
	}
	opts := sock.Options{NoDelay: !cl.cfg.DisableNoDelay, KeepAlive: !cl.cfg.DisableKeepAlive,
		RecvBuf: cl.cfg.ReceiveBufferSize, SendBuf: cl.cfg.SendBufferSize}
	if err := opts.Apply(int(c.fd)); err != nil {
		c.finish(ErrClosed, err.Error())
		return
	}
	c.local = packHostPort(sock.LocalAddr(int(c.fd)))
	c.state.Store(stHandshake)
	c.wantWrite = false
	cl.mu.Lock()
	if cl.c == c && len(cl.cfg.Transforms) == 0 && !cl.cfg.Acknowledged {
		// Early data: queued messages follow HELLO at once, so the handshake
		// costs no round trip. They leave the reconnect queue only now that
		// TCP is established: a refused or unreachable attempt keeps them
		// queued for the next one instead of failing them. What the
		// early-data budget does not take waits for WELCOME.
		cl.drainQueueLocked(c)
		if len(cl.queue) == 0 {
			cl.ready = c
		}
	}
	cl.mu.Unlock()
	c.loop.poller.Modify(int(c.fd), c.token(), true, false)
	c.flush()
}

// handshake processes WELCOME or REJECT.
func (cl *Client) handshake(c *conn, h wire.Header, p []byte) error {
	switch h.Type {
	case wire.TypeWelcome:
		w, err := wire.ParseWelcome(p)
		if err != nil {
			return err
		}
		if err := cl.checkWelcome(w); err != nil {
			return err
		}
		var ack *ackState
		if c.dial.ackFirst != 0 && w.HasAck {
			if ack, err = cl.agreeAck(c, w); err != nil {
				return err
			}
		}
		xforms := make([]Transform, len(w.Transforms))
		for i, name := range w.Transforms {
			xforms[i] = lookupTransform(name)
		}
		// Each side compresses with its own threshold; WELCOME's is the
		// server's, for information.
		c.markOpen(&connParams{codec: w.Codec, minCompress: cl.cfg.MinCompressSize, xforms: xforms,
			xformNames: w.Transforms, peerMax: int(w.MaxMessage), ack: ack}, w.HeartbeatMS)
		cl.welcomed(c, w)
		return nil
	case wire.TypeReject, wire.TypeClose:
		code, reason, err := wire.ParseCodeReason(h.Type, p)
		if err != nil {
			return err
		}
		kind := ErrRejected
		if code == wire.RejectServerFull {
			kind = ErrServerFull
		}
		c.finish(kind, reason)
		return errStopFeed
	}
	return &wire.ProtocolError{Detail: "unexpected " + wire.TypeName(h.Type) + " frame"}
}

func (cl *Client) checkWelcome(w *wire.Welcome) error {
	if w.Version < wire.MinVersion || w.Version > wire.Version {
		return &wire.ProtocolError{Detail: fmt.Sprintf("WELCOME version %d was not offered", w.Version)}
	}
	if len(w.Transforms) != len(cl.cfg.Transforms) {
		return &wire.ProtocolError{Detail: "WELCOME transforms differ from HELLO"}
	}
	for i, name := range w.Transforms {
		if name != cl.cfg.Transforms[i] || lookupTransform(name) == nil {
			return &wire.ProtocolError{Detail: "WELCOME transforms differ from HELLO"}
		}
	}
	if w.Codec == wire.CodecNone {
		return nil
	}
	for _, codec := range cl.cfg.Compression {
		if codecID(codec) == w.Codec {
			return nil
		}
	}
	return &wire.ProtocolError{Detail: fmt.Sprintf("WELCOME codec %d was not offered", w.Codec)}
}

func (cl *Client) welcomed(c *conn, w *wire.Welcome) {
	cl.mu.Lock()
	if cl.c != c || !cl.running {
		// Not the client's connection any more (stopped, or a newer run
		// dialed): it must not become the ready one.
		cl.mu.Unlock()
		c.discard = true // nothing it sends reaches the handlers
		c.beginClose(wire.CloseNormal, "client stopped", ErrClosed)
		return
	}
	cl.early = nil // the server took the early data
	fallback, tooBig := false, false
	if a := c.ackOf(); a != nil {
		tooBig = cl.replayLocked(c, a, w.AckDelivered)
	} else {
		fallback = c.dial.ackFirst != 0 && !cl.fallbackReported
		cl.fallbackReported = cl.fallbackReported || c.dial.ackFirst != 0
		cl.drainQueueLocked(c)
	}
	cl.ready, cl.dialing = c, false
	if a := c.ackOf(); a != nil && a.tooBig != 0 {
		cl.ready = nil // later messages wait for the next connection
	}
	cl.stopExpiryLocked()
	reconnect := cl.attempt > 0 || cl.stats.msgsRecv.Load() > 0 || cl.reconnects.Load() > 0 || c.reconnect
	cl.attempt = 0
	cl.mu.Unlock()
	if reconnect {
		cl.reconnects.Add(1)
	}
	if fallback {
		cl.reportError(newError("connect", c.remoteAddr().String(), ErrUnsupported, fallbackText, nil))
	}
	cl.sessionID.Store(w.SessionID)
	cl.connected.Store(true)
	if c.dial.outcome != nil {
		c.dial.outcome <- nil
		c.dial.outcome = nil
	}
	if fn := cl.onConnect.Load(); fn != nil {
		cl.guard(func() { (*fn)() })
	}
	if tooBig {
		cl.dropTooBig(c)
	}
}

// drainQueueLocked moves queued messages into c, in order (cl.mu held).
// Before WELCOME they are early data, and keep their place in cl.early
// until the server has accepted the connection.
func (cl *Client) drainQueueLocked(c *conn) {
	early := c.params.Load() == nil
	for i, m := range cl.queue {
		if err := c.send(m.data, 0, true); err != nil {
			cl.dropFrontLocked(i)
			return
		}
		if early {
			cl.early = append(cl.early, m)
		}
		if !cl.cfg.Acknowledged { // held messages were counted by Send
			cl.stats.sent(len(m.data))
		}
	}
	cl.dropFrontLocked(len(cl.queue))
}

// requeueEarlyLocked puts the early data of a refused connection back at
// the front of the queue (cl.mu held): the server discarded it. It returns
// how many messages went back.
func (cl *Client) requeueEarlyLocked() int {
	n := len(cl.early)
	if n == 0 {
		return 0
	}
	q := make([]queuedMsg, 0, n+len(cl.queue))
	q = append(append(q, cl.early...), cl.queue...)
	for _, m := range cl.early {
		cl.heldBytes += ackCost(len(m.data))
	}
	cl.queue, cl.qbuf, cl.early = q, q, nil
	cl.scheduleExpiryLocked()
	return n
}

// queuedMsg is a message waiting in the client's queue, with the mono time
// it was sent (for ReconnectQueueTimeout).
type queuedMsg struct {
	data []byte
	at   int64
}

// dropFrontLocked removes the n oldest queued messages (cl.mu held).
func (cl *Client) dropFrontLocked(n int) {
	for _, m := range cl.queue[:n] {
		cl.heldBytes -= ackCost(len(m.data))
	}
	clear(cl.queue[:n])
	cl.queue = cl.queue[n:]
	if len(cl.queue) == 0 {
		cl.heldBytes = 0
		cl.queue = cl.qbuf[:0]
		if cap(cl.qbuf) > maxIdleQueue {
			cl.queue, cl.qbuf = nil, nil
		}
	}
}

// pushLocked appends a message to the queue (cl.mu held). The queue is
// consumed from the front (acknowledged delivery drops a batch per ACK),
// so when it reaches the end of its array it moves back to the start if
// at least half the array is free, and only otherwise grows: each message
// is moved a bounded number of times.
func (cl *Client) pushLocked(m queuedMsg) {
	if live := len(cl.queue); live == cap(cl.queue) {
		if live > 0 && 2*live <= cap(cl.qbuf) {
			copy(cl.qbuf, cl.queue)
			clear(cl.qbuf[live:])
		} else {
			grown := make([]queuedMsg, max(2*live, 16))
			copy(grown, cl.queue)
			cl.qbuf = grown
		}
		cl.queue = cl.qbuf[:live]
	}
	cl.queue = append(cl.queue, m)
}

// maxIdleQueue is the largest queue array an emptied queue keeps.
const maxIdleQueue = 4096

func (cl *Client) batching() bool { return false }

func (cl *Client) batchRoom() (int, int) { return math.MaxInt, math.MaxInt }

func (cl *Client) deliverBatch(c *conn, in []byte, msgs []MessageSpan) {
	for _, m := range msgs {
		cl.deliver(c, m.Of(in))
	}
}

func (cl *Client) deliver(c *conn, msg []byte) {
	if fn := cl.onMessage.Load(); fn != nil {
		cl.callMessage(*fn, msg)
	}
}

func (cl *Client) countRecv(c *conn, msgs, bytes uint64) { cl.stats.recv(msgs, bytes, c.loop.now) }

func (cl *Client) closed(c *conn, kind error, reason string, undelivered int) {
	if c.dial.ended != nil {
		defer close(c.dial.ended) // last: halt waits for it
	}
	cl.mu.Lock()
	current := cl.c == c
	run := cl.run
	if current {
		cl.c, cl.ready = nil, nil
		cl.connected.Store(false)
		if !c.wasOpen && cl.running && (errors.Is(kind, ErrRejected) || errors.Is(kind, ErrServerFull)) {
			// Refused: the server discarded the early data, which waits
			// for the next attempt (or is reported if the run ends).
			undelivered = max(0, undelivered-cl.requeueEarlyLocked())
		}
		// Otherwise the connection's own count reports its early data:
		// the copies must not come back with a later attempt's REJECT.
		cl.early = nil
	}
	engineGone := cl.eng.stopped.Load()
	retry := current && cl.running && cl.cfg.AutoReconnect && c.wasOpen && !engineGone
	var done chan struct{}
	if current && c.wasOpen && !cl.cfg.AutoReconnect && cl.running {
		// Without reconnection a lost connection ends the client's run.
		cl.running, done = false, cl.done
	}
	endRun := current && c.wasOpen && cl.running && engineGone
	var refused, held int
	if current {
		refused, held = cl.heldAfterLocked(c)
		if c.wasOpen {
			cl.lastEnd = mono(time.Now())
		}
		cl.scheduleExpiryLocked()
	}
	cl.mu.Unlock()
	if refused > 0 {
		cl.reportError(&UndeliveredError{Count: refused, Reason: reason})
	}
	if held > 0 {
		cl.reportError(&UndeliveredError{Count: held, Reason: reason})
	}
	if done != nil {
		defer close(done)
	}
	if endRun {
		// The engine closed under the client: nothing can reconnect.
		defer cl.halt(run, "engine closed")
	}
	if c.dial.outcome != nil {
		c.dial.outcome <- connectError(c.remoteAddr().String(), kind, reason, c.dialCause())
		c.dial.outcome = nil
	}
	if undelivered > 0 {
		cl.reportError(&UndeliveredError{Count: undelivered, Reason: reason})
	}
	if !c.wasOpen {
		return
	}
	if endedInError(kind) {
		cl.errors.Add(1)
		cl.reportError(newError("read", c.remoteAddr().String(), kind, reason, nil))
	}
	if fn := cl.onDisconnect.Load(); fn != nil {
		cl.guard(func() { (*fn)(reason) })
	}
	if retry {
		cl.scheduleReconnect(run)
	}
}

// scheduleReconnect dials again for run after an exponential backoff with
// ±20% jitter.
func (cl *Client) scheduleReconnect(run *clientRun) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if !cl.currentLocked(run) || cl.timer != nil {
		return
	}
	delay := cl.cfg.ReconnectInterval << min(cl.attempt, 16)
	delay = min(delay, cl.cfg.ReconnectMaxInterval)
	delay = time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64()))
	cl.attempt++
	cl.timer = time.AfterFunc(delay, func() {
		cl.mu.Lock()
		if !cl.currentLocked(run) {
			cl.mu.Unlock()
			return
		}
		cl.timer, cl.dialing = nil, true
		cl.mu.Unlock()
		cl.dial(run, make(chan error, 1))
	})
}

// Send queues msg. While the client is reconnecting, messages wait in a
// bounded queue and go out in order once the server welcomes it again.
// With Acknowledged every message is also kept until the server
// acknowledges it, within AckBufferBytes (ErrBackpressure past it).
func (cl *Client) Send(msg []byte) error { return cl.SendTimeout(msg, 0) }

// SendTimeout is Send that waits up to timeout for room in a full queue.
// On an event loop (inside a handler) it does not wait: a full queue fails
// at once with an error matching both ErrWouldBlockLoop and ErrBackpressure.
// With Acknowledged it waits for room in the connection's send queue only;
// a full AckBufferBytes fails at once.
func (cl *Client) SendTimeout(msg []byte, timeout time.Duration) error {
	if cl.cfg.Acknowledged {
		return cl.sendAcked(msg, timeout)
	}
	cl.mu.Lock()
	c := cl.ready
	if c == nil {
		err := cl.enqueueLocked(msg)
		cl.mu.Unlock()
		return err
	}
	cl.mu.Unlock()
	err := c.send(msg, timeout, false)
	if err == errEarlyDataFull {
		err = cl.deferEarly(c, msg, timeout)
	} else if err == nil && c.params.Load() == nil {
		cl.noteEarly(c, msg)
	}
	if err != nil {
		cl.errors.Add(1)
		return err
	}
	cl.stats.sent(len(msg))
	return nil
}

// noteEarly keeps a copy of a message sent to c before WELCOME, for the
// queue if the server refuses c. Early data is bounded (wire.MaxEarlyData),
// and so are the copies.
func (cl *Client) noteEarly(c *conn, msg []byte) {
	cl.mu.Lock()
	if cl.c == c && c.params.Load() == nil {
		cl.early = append(cl.early, queuedMsg{data: append([]byte(nil), msg...), at: mono(time.Now())})
	}
	cl.mu.Unlock()
}

// deferEarly queues a message the early-data budget of c did not take: it
// waits with the reconnect queue for WELCOME, and so do the messages sent
// after it, which keeps their order.
func (cl *Client) deferEarly(c *conn, msg []byte, timeout time.Duration) error {
	cl.mu.Lock()
	if c.params.Load() != nil && cl.ready == c {
		// WELCOME arrived and drained the queue meanwhile: send directly.
		cl.mu.Unlock()
		return c.send(msg, timeout, false)
	}
	if cl.ready == c {
		cl.ready = nil // later messages queue behind this one
	}
	err := cl.enqueueLocked(msg)
	cl.mu.Unlock()
	return err
}

func (cl *Client) enqueueLocked(msg []byte) error {
	switch {
	case !cl.running || !(cl.dialing || cl.cfg.AutoReconnect):
		return newError("send", "", ErrNotConnected, "client is not connected", nil)
	case len(msg) > cl.cfg.MessageSizeLimit:
		return newError("send", "", ErrTooLarge, "", nil)
	case len(cl.queue) >= cl.cfg.ReconnectQueueLimit:
		return newError("send", "", ErrBackpressure, fmt.Sprintf("reconnect queue full (%d messages)", len(cl.queue)), nil)
	case cl.heldBytes+ackCost(len(msg)) > cl.cfg.ReconnectQueueBytes:
		return newError("send", "", ErrBackpressure, fmt.Sprintf("reconnect queue full (%d bytes queued, limit %d)",
			cl.heldBytes, cl.cfg.ReconnectQueueBytes), nil)
	}
	cl.pushLocked(queuedMsg{data: append([]byte(nil), msg...), at: mono(time.Now())})
	cl.heldBytes += ackCost(len(msg))
	cl.scheduleExpiryLocked()
	return nil
}

// Stop closes the connection gracefully (queued messages are flushed, then
// CLOSE), cancels reconnection and reports messages that could not be
// delivered through OnError. It is idempotent. Called on an event loop
// (inside a handler of any server or client) it returns at once and the
// close completes in the background.
func (cl *Client) Stop() error {
	cl.halt(nil, "client stopped before reconnecting")
	return nil
}

// halt ends run (nil: the current one) if it is still current: the
// connection is closed gracefully, timers stopped, queued messages
// reported with why, and the run's done channel closed once the
// connection has ended. Outside the loops it returns after that.
func (cl *Client) halt(run *clientRun, why string) {
	cl.mu.Lock()
	if !cl.running || run != nil && cl.run != run {
		cl.mu.Unlock()
		return
	}
	cl.running = false
	if cl.timer != nil {
		cl.timer.Stop()
		cl.timer = nil
	}
	cl.stopExpiryLocked()
	// Early data already sent is the connection's: it is reported as
	// undelivered when the connection ends without delivering it.
	c, queued, done := cl.c, len(cl.queue), cl.done
	if c != nil && c.ackOf() != nil {
		// Acknowledged: the held messages wait for the server's last ACKs,
		// which come before its CLOSE; what is left is reported when the
		// connection ends (N-4.19).
		queued = 0
	} else {
		cl.dropFrontLocked(len(cl.queue))
	}
	cl.early, cl.ready = nil, nil
	cl.mu.Unlock()
	if queued > 0 {
		cl.reportError(&UndeliveredError{Count: queued, Reason: why})
	}
	if c != nil {
		c.runOnLoop(func() { c.beginClose(wire.CloseNormal, "client stopped", ErrClosed) })
	}
	finish := func() {
		if c != nil {
			<-c.dial.ended
		}
		close(done)
	}
	if onAnyLoop() {
		go finish()
		return
	}
	finish()
}

// Wait blocks until the client is stopped; at once if it never started.
// Called on an event loop (inside a handler of any server or client) it
// fails at once with ErrWouldBlockLoop unless the run has already ended.
func (cl *Client) Wait() error {
	cl.mu.Lock()
	done := cl.done
	cl.mu.Unlock()
	if done == nil || isClosed(done) {
		return nil
	}
	if onAnyLoop() {
		return newError("wait", "", ErrWouldBlockLoop, "Client.Wait called inside a handler would block its event loop", nil)
	}
	if cl.ender.Load() == getg() {
		return newError("wait", "", ErrWouldBlockLoop, "Client.Wait called inside the OnError that reports the end of the run would wait for itself", nil)
	}
	<-done
	return nil
}

// IsConnected reports whether the client has an open, welcomed connection.
func (cl *Client) IsConnected() bool { return cl.connected.Load() }

// IsRunning reports whether the client is between Connect and Stop.
func (cl *Client) IsRunning() bool { return cl.isRunning() }

func (cl *Client) isRunning() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.running
}

// SessionID is the id the server gave the current (or last) connection.
func (cl *Client) SessionID() uint64 { return cl.sessionID.Load() }

// PauseReading stops reading from the server (TCP backpressure), with the
// same guarantee as Session.PauseReading.
func (cl *Client) PauseReading() { cl.PauseReadingFor(PauseHost) }

// ResumeReading undoes PauseReading (and no other reason, see PauseReason).
func (cl *Client) ResumeReading() { cl.ResumeReadingFor(PauseHost) }

// PauseReadingFor is Session.PauseReadingFor for the current connection.
func (cl *Client) PauseReadingFor(r PauseReason) {
	if c := cl.current(); c != nil {
		c.pauseFor(r, true)
	}
}

// ResumeReadingFor is Session.ResumeReadingFor for the current connection.
func (cl *Client) ResumeReadingFor(r PauseReason) {
	if c := cl.current(); c != nil {
		c.pauseFor(r, false)
	}
}

// current is the connection being used, if any.
func (cl *Client) current() *conn {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.c
}

// Statistics returns the client's counters.
func (cl *Client) Statistics() ClientStatistics {
	return ClientStatistics{
		MessagesSent:     cl.stats.msgsSent.Load(),
		MessagesReceived: cl.stats.msgsRecv.Load(),
		BytesSent:        cl.stats.bytesSent.Load(),
		BytesReceived:    cl.stats.bytesRecv.Load(),
		Errors:           cl.errors.Load(),
		Reconnects:       cl.reconnects.Load(),
		LastMessageTime:  unixTime(cl.stats.lastMessage.Load()),
	}
}

func (cl *Client) reportError(err error) {
	if fn := cl.onError.Load(); fn != nil {
		cl.guard(func() { (*fn)(err) })
	}
}

// guard runs a user handler; a panic is reported through OnError instead
// of killing the event loop.
func (cl *Client) guard(fn func()) {
	defer cl.recoverHandler()
	fn()
}

// callMessage is guard for the per-message path; recover runs only when
// the handler did not return (see Server.callMessage).
func (cl *Client) callMessage(fn func([]byte), msg []byte) {
	returned := false
	defer func() {
		if !returned {
			cl.handlerPanicked(recover())
		}
	}()
	fn(msg)
	returned = true
}

// recoverHandler is deferred around every other user handler call.
func (cl *Client) recoverHandler() { cl.handlerPanicked(recover()) }

// handlerPanicked reports a handler's panic value r (nil: none) to OnError.
func (cl *Client) handlerPanicked(r any) {
	if h := cl.onError.Load(); h != nil {
		reportHandlerPanic(r, *h)
	}
}

// connectError is the failure of a connection attempt that ended with kind
// before the handshake completed: a connection closed during it is
// ErrConnect (which is ErrClosed too); a refusal (ErrRejected,
// ErrServerFull), a timeout or a protocol error keeps its kind.
func connectError(addr string, kind error, reason string, cause error) error {
	if errors.Is(kind, ErrClosed) {
		kind = ErrConnect
	}
	return newError("connect", addr, kind, reason, cause)
}
