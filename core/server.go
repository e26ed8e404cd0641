package core

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/core/internal/sock"
	"github.com/netsys/netsys/core/internal/wire"
)

// Server accepts netsys connections and manages their sessions. All methods
// are safe for concurrent use, including from inside its handlers.
//
// Handlers run on the event loop that owns the connection: the handlers of
// one session run one at a time, in message order; those of different
// sessions may run concurrently. A handler that blocks stalls its loop.
type Server struct {
	id string

	lifeMu  sync.Mutex // serializes Start, Stop and SetConfig
	cfg     ServerConfig
	running atomic.Bool // accepting: between Start and Stop
	eng     *Engine
	ln      *listener
	port    atomic.Int32
	done    chan struct{} // closed when a started server has stopped
	stopped atomic.Bool

	sessMu   sync.RWMutex
	sessions map[uint64]*Session
	groups   map[string]map[uint64]*Session

	nextID atomic.Uint64
	live   atomic.Int64 // accepted connections not yet closed
	// drained receives a token whenever live drops to zero: Stop waits on
	// it instead of polling the count.
	drained  chan struct{}
	open     atomic.Int64 // open sessions, bounded by MaxConnections
	stopping atomic.Bool  // set by Stop: handshakes are refused
	pending  pendingHandshakes
	// sharedParams caches connParams without transforms (see connParams).
	// Start clears it: MinCompressSize may have changed.
	sharedParams sync.Map
	sharedCount  atomic.Int32
	stats        traffic
	counters     struct {
		total, rejected, protocol, oversize, duplicates atomic.Uint64
	}
	// streams are the client streams of acknowledged delivery, kept for
	// the server's lifetime (across Stop and Start).
	streams   streamTable
	startTime atomic.Int64

	onMessage      atomic.Pointer[func(*Session, []byte)]
	onMessageBatch atomic.Pointer[batchHandler]
	// handlersSet counts changes of the message handlers (the server's, its
	// batch handler, any session's), so a receive loop checks one number
	// after each call to see whether the handler it holds is still the one.
	handlersSet  atomic.Uint32
	batchLimit   atomic.Pointer[func() (int, int)]
	onConnect    atomic.Pointer[func(*Session)]
	onDisconnect atomic.Pointer[func(*Session, string)]
	onError      atomic.Pointer[func(*Session, error)]
}

// NewServer creates a stopped server. The configuration is validated here.
func NewServer(id string, cfg ServerConfig) (*Server, error) {
	s := &Server{id: id}
	if err := s.SetConfig(cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// ID returns the id given to NewServer.
func (s *Server) ID() string { return s.id }

// Config returns the configuration, with defaults filled in.
func (s *Server) Config() ServerConfig {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	return s.cfg
}

// SetConfig replaces the configuration of a stopped server. It fails with
// ErrAlreadyRunning while the server runs, and while a Stop called from a
// handler is still in progress (the loops still read the configuration).
func (s *Server) SetConfig(cfg ServerConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if err := s.busyLocked("configure"); err != nil {
		return err
	}
	s.cfg = cfg
	return nil
}

// busyLocked reports ErrAlreadyRunning while a run is not over: running,
// or stopping (lifeMu held).
func (s *Server) busyLocked(op string) error {
	switch {
	case s.running.Load():
		return newError(op, "", ErrAlreadyRunning, "server is running", nil)
	case s.done != nil && !isClosed(s.done):
		return newError(op, "", ErrAlreadyRunning, "server is still stopping", nil)
	}
	return nil
}

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// OnMessageBatch sets a handler that receives, in one call, the messages
// decoded from one read of one session, in order (typically all messages a
// fast sender got into one TCP read). It replaces OnMessage, at lower cost
// per message for hosts where each handler call is expensive (a call into
// C, C++ or Python). The slices are valid only during the call. A session
// paused or disconnected by the handler stops after the batch. Per-session
// OnMessage handlers still run, after the batch handler, for each message.
// Nil restores OnMessage.
func (s *Server) OnMessageBatch(fn func(*Session, [][]byte)) {
	s.setBatchHandler(batchHandler{slices: fn})
}

// OnMessageBatchIn is OnMessageBatch whose handler receives the memory the
// messages lie in (the bytes they were decoded from, which hold other bytes
// between them) and each message as its span of it: a host handing the
// batch on, to C say, passes one buffer and the spans as they are, with
// nothing copied or converted per message. in and msgs are valid only
// during the call; nil restores OnMessage.
func (s *Server) OnMessageBatchIn(fn func(sess *Session, in []byte, msgs []MessageSpan)) {
	s.setBatchHandler(batchHandler{spans: fn})
}

// MessageSpan is one message of a batch (OnMessageBatchIn) by its place in
// the memory the batch lies in: in[Offset : Offset+Size]. A batch of spans
// holds no pointers, so it is built without the garbage collector's write
// barriers and C can read it as an array of two size_t.
type MessageSpan = wire.Span

// batchHandler is the batch handler in one of its two forms (both nil:
// none).
type batchHandler struct {
	slices func(*Session, [][]byte)
	spans  func(*Session, []byte, []MessageSpan)
}

func (s *Server) setBatchHandler(h batchHandler) {
	if h.slices == nil && h.spans == nil {
		s.onMessageBatch.Store(nil)
	} else {
		s.onMessageBatch.Store(&h)
	}
	s.handlersSet.Add(1)
}

// LimitMessageBatches bounds the batches given to the batch handler: when
// a batch starts, room says how many messages and payload bytes it may
// hold, and a batch that reaches either bound is delivered at once instead
// of at the end of the read. If its handler paused the session's reading
// (PauseReadingFor), the read stops after that batch; the rest waits in
// the connection until reading resumes. A consumer that queues batches in
// a bounded queue (handoff.Inbox) thus keeps its bound message-exact while
// taking each batch in one step. room runs on the session's loop, once per
// batch; values below 1 count as 1. Nil (the default) removes the bound.
func (s *Server) LimitMessageBatches(room func() (events, bytes int)) {
	storeHandler(&s.batchLimit, room)
}

// OnMessage sets the message handler. The message slice is valid only
// during the call: copy it (or use bytes.Clone) to keep it.
func (s *Server) OnMessage(fn func(*Session, []byte)) {
	storeHandler(&s.onMessage, fn)
	s.handlersSet.Add(1)
}

// OnConnect sets the handler called when a session completes its handshake.
func (s *Server) OnConnect(fn func(*Session)) { storeHandler(&s.onConnect, fn) }

// OnDisconnect sets the handler called once when an open session ends, with
// the reason ("connection closed by peer", the peer's CLOSE reason, ...).
func (s *Server) OnDisconnect(fn func(*Session, string)) { storeHandler(&s.onDisconnect, fn) }

// OnError sets the handler for failures: protocol errors, oversize frames,
// undelivered messages, a panicking handler. The session is nil for errors
// of the server itself (accept failures).
func (s *Server) OnError(fn func(*Session, error)) { storeHandler(&s.onError, fn) }

// Start binds the configured address and starts serving.
func (s *Server) Start() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	if err := s.busyLocked("start"); err != nil {
		return err
	}
	addr, err := resolveBind(s.cfg.BindAddress, s.cfg.Port)
	if err != nil {
		return err
	}
	s.sharedParams.Clear()
	s.sharedCount.Store(0)
	s.stopping.Store(false)
	fd, err := sock.Listen(addr, 4096)
	if err != nil {
		return newError("listen", addr.String(), listenKind(err), "cannot listen", err)
	}
	eng, err := NewEngine(s.cfg.Loops, s.cfg.SpinBeforeWait)
	if err != nil {
		sock.Close(fd)
		return newError("start", addr.String(), ErrSystem, "cannot start event loops", err)
	}
	s.eng = eng
	s.sessMu.Lock()
	s.sessions = make(map[uint64]*Session)
	s.groups = make(map[string]map[uint64]*Session)
	s.sessMu.Unlock()
	s.port.Store(int32(sock.LocalAddr(fd).Port()))
	s.drained = make(chan struct{}, 1)
	s.done = make(chan struct{})
	s.stopped.Store(false)
	s.startTime.Store(time.Now().UnixNano())
	ln := &listener{srv: s, fd: fd, loop: eng.loops[0]}
	s.ln = ln
	// The poller takes the descriptor from any goroutine; only the loop's
	// map is the loop's, and until the task below has run the loop skips
	// the (level-triggered, so repeated) readiness. Start waits for no
	// loop, so it may be called from a handler.
	if err := ln.loop.poller.Add(fd, 0, true, false); err != nil {
		sock.Close(fd)
		eng.Close()
		s.done = nil
		return newError("listen", addr.String(), listenKind(err), "cannot poll listener", err)
	}
	ln.loop.post(func() {
		if !ln.closed {
			ln.loop.fds[fd] = ln
		}
	})
	s.running.Store(true)
	return nil
}

func resolveBind(host string, port int) (netip.AddrPort, error) {
	a, err := netip.ParseAddr(host)
	if err != nil {
		if host != "localhost" {
			return netip.AddrPort{}, newError("listen", host, ErrBadAddress, "bind address must be an IP literal or localhost", err)
		}
		a = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	return netip.AddrPortFrom(a, uint16(port)), nil
}

// Stop stops accepting, closes every session gracefully (queued messages
// are flushed and clients get CLOSE "server stopping", bounded by
// ShutdownTimeout), then releases every fd and goroutine. Connections
// still handshaking, or already refused, are closed at once. It is
// idempotent. Called on an event loop (inside a handler of any server or
// client) it returns at once and the stop completes in the background;
// until it has, the server is not running but SetConfig and Start fail
// with ErrAlreadyRunning, and Wait (outside the loops) waits for it.
func (s *Server) Stop() error {
	s.lifeMu.Lock()
	if !s.running.Load() {
		s.lifeMu.Unlock()
		return nil
	}
	s.running.Store(false)
	s.stopping.Store(true)
	eng, ln, done := s.eng, s.ln, s.done
	s.lifeMu.Unlock()

	ln.loop.post(ln.close)
	// Every connection of the engine is ours, handshaking ones included.
	for _, l := range eng.loops {
		l.post(func() {
			for c := range l.eachConn() {
				if c.sess != nil && c.wasOpen {
					c.sess.setState(SessionDisconnecting)
				}
				c.stopByServer()
			}
		})
	}
	drained := s.drained
	finish := func() {
		// Each connection's close is bounded by ShutdownTimeout on its own
		// loop; the linger covers the last ones being released.
		t := time.NewTimer(s.cfg.ShutdownTimeout + lingerTimeout)
		defer t.Stop()
	wait:
		for s.live.Load() > 0 {
			select {
			case <-drained: // live reached zero at some point: check again
			case <-t.C:
				break wait
			}
		}
		eng.Close()
		s.stopped.Store(true)
		close(done)
	}
	if onAnyLoop() {
		go finish()
		return nil
	}
	finish()
	return nil
}

// dropLive counts one accepted connection released, and tells a waiting
// Stop when none is left.
func (s *Server) dropLive() {
	if s.live.Add(-1) == 0 {
		select {
		case s.drained <- struct{}{}:
		default: // a token is already waiting
		}
	}
}

// Wait blocks until the server has stopped. It returns at once if the
// server was never started. Called on an event loop (inside a handler of
// any server or client) it fails at once with ErrWouldBlockLoop unless the
// server has already stopped.
func (s *Server) Wait() error {
	s.lifeMu.Lock()
	done := s.done
	s.lifeMu.Unlock()
	if done == nil || isClosed(done) {
		return nil
	}
	if onAnyLoop() {
		return newError("wait", "", ErrWouldBlockLoop, "Server.Wait called inside a handler would block its event loop", nil)
	}
	<-done
	return nil
}

// IsRunning reports whether the server is accepting connections.
func (s *Server) IsRunning() bool { return s.running.Load() }

// Port returns the bound port (the ephemeral one when configured with 0).
func (s *Server) Port() int { return int(s.port.Load()) }

// ConnectionCount returns the number of open sessions.
func (s *Server) ConnectionCount() int {
	s.sessMu.RLock()
	defer s.sessMu.RUnlock()
	return len(s.sessions)
}

// Session returns the open session with the given id, or nil.
func (s *Server) Session(id uint64) *Session {
	s.sessMu.RLock()
	defer s.sessMu.RUnlock()
	return s.sessions[id]
}

// Sessions returns the open sessions, ordered by id.
func (s *Server) Sessions() []*Session {
	s.sessMu.RLock()
	out := make([]*Session, 0, len(s.sessions))
	for _, sess := range s.sessions {
		out = append(out, sess)
	}
	s.sessMu.RUnlock()
	slices.SortFunc(out, func(a, b *Session) int { return int(a.id - b.id) })
	return out
}

// DisconnectSession closes one session gracefully with reason.
func (s *Server) DisconnectSession(id uint64, reason string) error {
	sess := s.Session(id)
	if sess == nil {
		return newError("disconnect", "", ErrNotFound, fmt.Sprintf("no session %d", id), nil)
	}
	return sess.Disconnect(reason)
}

// DisconnectAll closes every session gracefully with reason.
func (s *Server) DisconnectAll(reason string) {
	for _, sess := range s.Sessions() {
		sess.Disconnect(reason)
	}
}

// Broadcast sends msg to every open session. It returns how many sessions
// queued it and the errors of those that did not (joined).
func (s *Server) Broadcast(msg []byte) (int, error) { return s.sendAll(s.Sessions(), msg) }

// BroadcastToGroup sends msg to every session of a group.
func (s *Server) BroadcastToGroup(group string, msg []byte) (int, error) {
	s.sessMu.RLock()
	members := make([]*Session, 0, len(s.groups[group]))
	for _, sess := range s.groups[group] {
		members = append(members, sess)
	}
	s.sessMu.RUnlock()
	return s.sendAll(members, msg)
}

func (s *Server) sendAll(targets []*Session, msg []byte) (int, error) {
	var errs []error
	n := 0
	for _, sess := range targets {
		if err := sess.Send(msg); err != nil {
			errs = append(errs, fmt.Errorf("session %d: %w", sess.id, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// AddToGroup adds a session to a group.
func (s *Server) AddToGroup(id uint64, group string) error {
	sess := s.Session(id)
	if sess == nil {
		return newError("group", "", ErrNotFound, fmt.Sprintf("no session %d", id), nil)
	}
	s.joinGroup(sess, group)
	return nil
}

// RemoveFromGroup removes a session from a group.
func (s *Server) RemoveFromGroup(id uint64, group string) error {
	sess := s.Session(id)
	if sess == nil {
		return newError("group", "", ErrNotFound, fmt.Sprintf("no session %d", id), nil)
	}
	s.leaveGroup(sess, group)
	return nil
}

// SessionGroups lists the groups of a session (nil if there is no such session).
func (s *Server) SessionGroups(id uint64) []string {
	if sess := s.Session(id); sess != nil {
		return sess.Groups()
	}
	return nil
}

// GroupMembers lists the ids of a group's sessions, sorted.
func (s *Server) GroupMembers(group string) []uint64 {
	s.sessMu.RLock()
	ids := make([]uint64, 0, len(s.groups[group]))
	for id := range s.groups[group] {
		ids = append(ids, id)
	}
	s.sessMu.RUnlock()
	slices.Sort(ids)
	return ids
}

func (s *Server) joinGroup(sess *Session, group string) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.sessions[sess.id] != sess {
		return // closed sessions join nothing
	}
	if s.groups[group] == nil {
		s.groups[group] = make(map[uint64]*Session)
	}
	s.groups[group][sess.id] = sess
	x := sess.more()
	x.mu.Lock()
	if x.groups == nil {
		x.groups = make(map[string]struct{})
	}
	x.groups[group] = struct{}{}
	x.mu.Unlock()
}

func (s *Server) leaveGroup(sess *Session, group string) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if m := s.groups[group]; m != nil {
		delete(m, sess.id)
		if len(m) == 0 {
			delete(s.groups, group)
		}
	}
	if x := sess.extra.Load(); x != nil {
		x.mu.Lock()
		delete(x.groups, group)
		x.mu.Unlock()
	}
}

// Statistics returns the server's counters.
func (s *Server) Statistics() ServerStatistics {
	return ServerStatistics{
		TotalConnections:    s.counters.total.Load(),
		CurrentConnections:  uint64(s.ConnectionCount()),
		RejectedConnections: s.counters.rejected.Load(),
		MessagesSent:        s.stats.msgsSent.Load(),
		MessagesReceived:    s.stats.msgsRecv.Load(),
		BytesSent:           s.stats.bytesSent.Load(),
		BytesReceived:       s.stats.bytesRecv.Load(),
		ProtocolErrors:      s.counters.protocol.Load(),
		OversizeMessages:    s.counters.oversize.Load(),
		DuplicatesDropped:   s.counters.duplicates.Load(),
		StartTime:           unixTime(s.startTime.Load()),
		LastActivity:        unixTime(s.stats.lastMessage.Load()),
	}
}

// ResetStatistics zeroes the counters (not the current connection count).
func (s *Server) ResetStatistics() {
	s.stats.reset()
	s.counters.total.Store(0)
	s.counters.rejected.Store(0)
	s.counters.protocol.Store(0)
	s.counters.oversize.Store(0)
	s.counters.duplicates.Store(0)
}

// accept takes a new connection from the listener's loop. It is admitted
// as a pending handshake; when pending handshakes are over their bounds the
// oldest ones (of its address, or overall) are refused instead.
func (s *Server) accept(fd int, remote netip.AddrPort, from *loop) {
	cfg := &s.cfg.TransportConfig
	opts := sock.Options{NoDelay: !cfg.DisableNoDelay, KeepAlive: !cfg.DisableKeepAlive,
		RecvBuf: cfg.ReceiveBufferSize, SendBuf: cfg.SendBufferSize}
	if err := opts.Apply(fd); err != nil {
		sock.Close(fd)
		s.reportError(nil, newError("accept", remote.String(), ErrInvalidArgument, "socket options", err))
		return
	}
	target := s.eng.pick()
	c := newConn(target, fd, s, cfg, stHandshake)
	c.remote, c.local = packHostPort(remote), packHostPort(sock.LocalAddr(fd))
	s.live.Add(1)
	s.counters.total.Add(1)
	c.sess = &Session{c: c, id: s.nextID.Add(1), connectTime: time.Now().UnixNano()}
	for _, old := range s.pending.add(c, s.cfg.MaxPendingHandshakes, s.cfg.MaxHandshakesPerAddress) {
		old.runOnLoop(func() {
			old.refuseNow(wire.RejectServerFull, wire.Reason(wire.ReasonServerFull, wire.ReasonPendingHandshakes), ErrServerFull)
		})
	}
	if target == from {
		s.setUp(c) // no closure: the common case of one loop allocates nothing here
	} else if !target.post(func() { s.setUp(c) }) {
		s.pending.remove(c)
		sock.Close(fd)
		target.nconns.Add(-1)
		s.dropLive()
	}
}

// setUp registers an accepted connection with its loop and starts its
// handshake clock; on that loop's goroutine.
func (s *Server) setUp(c *conn) {
	if c.attach() != nil {
		s.pending.remove(c)
		s.dropLive()
		return
	}
	c.deadline = mono(c.loop.now.Add(s.cfg.HandshakeTimeout))
	if s.stopping.Load() {
		c.refuseNow(wire.RejectServerStopping, wire.ReasonServerStopping, ErrClosed)
	}
}

// stopByServer is what Stop does to each connection: a handshaking one is
// refused at once (REJECT 2006), one already refused (lingering for its
// peer's EOF) released at once, an open one closed with CLOSE 1001.
func (c *conn) stopByServer() {
	switch {
	case c.state.Load() == stHandshake:
		c.refuseNow(wire.RejectServerStopping, wire.ReasonServerStopping, ErrClosed)
	case c.rejecting:
		c.flushBestEffort()
		c.finish(c.closeWhy())
	default:
		c.beginClose(wire.CloseGoingAway, wire.ReasonServerStopping, ErrClosed)
	}
}

// handshake processes the client's HELLO. Every failure is answered with
// REJECT and a reason "<prefix>: <detail>".
func (s *Server) handshake(c *conn, h wire.Header, p []byte) error {
	s.pending.remove(c)
	if h.Type != wire.TypeHello {
		return s.refuse(c, wire.RejectBadHello, wire.Reason(wire.ReasonBadHello, "expected HELLO, got "+wire.TypeName(h.Type)), ErrProtocol)
	}
	var hello wire.Hello // on the stack: it aliases p and is done with before p is reused
	err := hello.ParseInPlace(p)
	acked := err == nil && s.cfg.Acknowledged && hello.HasAck
	switch {
	case err != nil:
		return s.refuse(c, wire.RejectBadHello, wire.Reason(wire.ReasonBadHello, wireDetail(err)), ErrProtocol)
	case acked && ackOfferError(&hello) != "":
		return s.refuse(c, wire.RejectBadHello, wire.Reason(wire.ReasonBadHello, ackOfferError(&hello)), ErrProtocol)
	case s.stopping.Load():
		c.refuseNow(wire.RejectServerStopping, wire.ReasonServerStopping, ErrClosed)
		return errStopFeed
	}
	version, ok := wire.NegotiateVersion(hello.MinVersion, hello.MaxVersion)
	if !ok {
		detail := fmt.Sprintf("offered %d..%d, supported %d..%d", hello.MinVersion, hello.MaxVersion, wire.MinVersion, wire.Version)
		return s.refuse(c, wire.RejectVersion, wire.Reason(wire.ReasonUnsupportedVersion, detail), ErrProtocol)
	}
	xforms, missing := s.resolveTransforms(hello.Transforms)
	if missing != "" {
		return s.refuse(c, wire.RejectTransform, wire.Reason(wire.ReasonTransformMismatch, missing), ErrRejected)
	}
	if !s.takeSessionSlot() {
		return s.refuse(c, wire.RejectServerFull, wire.ReasonServerFull, ErrServerFull)
	}
	params := s.connParams(s.chooseCodec(hello.Codecs), xforms, hello.Transforms, int(hello.MaxMessage))
	welcome := wire.Welcome{
		Version: version, MaxMessage: uint32(s.cfg.MessageSizeLimit), SessionID: c.sess.id,
		Codec: params.codec, MinCompress: uint32(params.minCompress), Transforms: hello.Transforms,
		HasHeartbeat: true, HeartbeatMS: heartbeatMS(s.cfg.IdleTimeout),
	}
	if acked {
		st, delivered := s.streams.open(hello.AckStream)
		own := *params // never shared: it carries this connection's state
		own.ack = &ackState{stream: st, next: max(hello.AckFirstSeq, delivered+1)}
		params = &own
		welcome.HasAck, welcome.AckDelivered = true, delivered
	}
	c.markOpen(params, hello.HeartbeatMS)
	sess := c.sess
	sess.clientID = hello.ClientID
	// Connected before anyone can find it (so no state handler is set yet):
	// a listed session is a connected one.
	sess.setState(SessionConnected)
	// Under the send lock, the session is registered before the client can
	// read its WELCOME (a client whose Connect returned is counted) and the
	// WELCOME goes before anything a sender who found the session queues.
	// (Nothing takes the send lock while holding sessMu.)
	var buf [128]byte // on the stack: written at once, or copied into the queue
	c.mu.Lock()
	s.sessMu.Lock()
	s.sessions[sess.id] = sess
	s.sessMu.Unlock()
	c.sendControlNowLocked(wire.TypeWelcome, wire.AppendWelcome(buf[:0], &welcome))
	if fn := s.onConnect.Load(); fn != nil {
		s.guard(sess, func() { (*fn)(sess) })
	}
	return nil
}

// refuse answers a HELLO with REJECT; the decoder stops there.
func (s *Server) refuse(c *conn, code uint16, reason string, kind error) error {
	c.reject(code, reason, kind)
	return errStopFeed
}

// takeSessionSlot claims one of the MaxConnections open-session slots.
func (s *Server) takeSessionSlot() bool {
	for {
		n := s.open.Load()
		if n >= int64(s.cfg.MaxConnections) {
			return false
		}
		if s.open.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// connParams returns the agreed options. Without transforms the result is
// shared by every connection that agreed the same (it is never modified):
// thousands of idle connections then do not each hold a copy.
func (s *Server) connParams(codec byte, xforms []Transform, names []string, peerMax int) *connParams {
	if len(xforms) > 0 {
		return &connParams{codec: codec, minCompress: s.cfg.MinCompressSize, xforms: xforms, xformNames: names, peerMax: peerMax}
	}
	key := sharedParamsKey{codec, peerMax}
	if p, ok := s.sharedParams.Load(key); ok {
		return p.(*connParams)
	}
	p := &connParams{codec: codec, minCompress: s.cfg.MinCompressSize, peerMax: peerMax}
	// Peers choose peerMax: bound the cache so they cannot grow it.
	if s.sharedCount.Load() >= maxSharedParams {
		return p
	}
	if got, loaded := s.sharedParams.LoadOrStore(key, p); loaded {
		return got.(*connParams)
	}
	s.sharedCount.Add(1)
	return p
}

// maxSharedParams bounds the shared connParams cache.
const maxSharedParams = 16

// sharedParamsKey identifies a shareable connParams.
type sharedParamsKey struct {
	codec   byte
	peerMax int
}

func (s *Server) resolveTransforms(names []string) ([]Transform, string) {
	var out []Transform
	for _, name := range names {
		t := lookupTransform(name)
		if t == nil || !slices.Contains(s.cfg.Transforms, name) {
			return nil, name
		}
		out = append(out, t)
	}
	return out, ""
}

func (s *Server) chooseCodec(offered []byte) byte {
	for _, id := range offered {
		for _, mine := range s.cfg.Compression {
			if codecID(mine) == id {
				return id
			}
		}
	}
	return wire.CodecNone
}

func (s *Server) deliver(c *conn, msg []byte) {
	sess := c.sess
	if h := s.onMessageBatch.Load(); h != nil {
		// Set during this read: honour it for the rest.
		one := [1]MessageSpan{{Size: len(msg)}}
		s.callBatch(h, c, msg, one[:])
	} else if fn := s.onMessage.Load(); fn != nil {
		s.callMessage(*fn, sess, msg)
	}
	if fn := sess.messageHandler(); fn != nil {
		s.callMessage(*fn, sess, msg)
	}
}

func (s *Server) batching() bool { return s.onMessageBatch.Load() != nil }

func (s *Server) batchRoom() (int, int) {
	fn := s.batchLimit.Load()
	if fn == nil {
		return math.MaxInt, math.MaxInt
	}
	events, bytes := (*fn)()
	return max(events, 1), max(bytes, 1)
}

func (s *Server) deliverBatch(c *conn, in []byte, msgs []MessageSpan) {
	sess := c.sess
	if h := s.onMessageBatch.Load(); h != nil {
		s.callBatch(h, c, in, msgs)
	} else if fn := s.onMessage.Load(); fn != nil {
		// The batch handler was removed during this read.
		for _, m := range msgs {
			s.callMessage(*fn, sess, m.Of(in))
		}
	}
	if fn := sess.messageHandler(); fn != nil {
		for _, m := range msgs {
			s.callMessage(*fn, sess, m.Of(in))
		}
	}
}

func (s *Server) callBatch(h *batchHandler, c *conn, in []byte, msgs []MessageSpan) {
	sess := c.sess
	l := c.loop
	returned := false
	defer func() {
		clear(l.batchMsgs) // drop the references into the read
		l.batchMsgs = l.batchMsgs[:0]
		if !returned {
			s.handlerPanicked(sess, recover()) // recover must be called here, by the deferred function itself
		}
	}()
	if h.spans != nil {
		h.spans(sess, in, msgs)
	} else {
		for _, m := range msgs {
			l.batchMsgs = append(l.batchMsgs, m.Of(in))
		}
		h.slices(sess, l.batchMsgs)
	}
	returned = true
}

// callMessage is guard for the per-message path: it runs once per message,
// so every nanosecond counts. recover is called only when the handler did
// not return (a flag test costs less than a recover on every message).
func (s *Server) callMessage(fn func(*Session, []byte), sess *Session, msg []byte) {
	returned := false
	defer func() {
		if !returned {
			s.handlerPanicked(sess, recover()) // recover must be called here, by the deferred function itself
		}
	}()
	fn(sess, msg)
	returned = true
}

// feedPlain is the receive loop of a read on an open connection without
// transforms while only OnMessage is set: it takes the plain DATA frames at
// the start of b and calls the handler for each, with one panic guard for
// the whole loop instead of one per message (which, with the calls between,
// cost about half of what a message costs in the engine). It returns what
// it did not consume, from the first frame that needs more than that
// (another type, compression, an incomplete frame), once a batch or
// per-session handler appears, or after a handler panicked (reported, like
// any handler panic); conn.feed hands the rest to the decoder, whose path
// delivers message by message. It keeps that path's rules: a handler set
// during a call (by the handler itself or elsewhere) applies from the next
// message, a pause stops delivery after the message that asked for it, and
// a close stops it; one comparison after each call (the handler generation,
// the pause reasons and the state) sees all three. On c's loop.
func (s *Server) feedPlain(c *conn, b []byte) (rest []byte, err error) {
	sess := c.sess
	set := s.handlersSet.Load() // before the handler is read: a change after it is seen
	state := c.state.Load()
	fn := s.plainHandler(sess)
	if fn == nil {
		return b, nil
	}
	limit := c.dec.PlainLimit()
	// Only delivered lives in memory while the loop runs: after a panic the
	// frames delivered are found again from it, so the loop's position and
	// message stay in registers (a Go call spills every live register, and
	// each value the deferred function reads is a store per message).
	delivered := 0
	returned := false
	defer func() {
		if returned {
			return
		}
		var msg []byte
		rest = b
		for i := 0; i < delivered; i++ {
			msg, rest, _ = wire.NextPlainWithin(rest, limit)
		}
		s.countPlain(c, delivered, len(b)-len(rest))
		s.handlerPanicked(sess, recover()) // recover must be called here, by the deferred function itself
		s.deliverToSessionHandler(sess, msg)
		if err = c.afterDeliver(); err == wire.ErrSuspend {
			err = c.dec.Suspend(rest)
		}
	}()
	base, n := unsafe.Pointer(unsafe.SliceData(b)), len(b)
	pos := 0
	// The inner loop runs while nothing changes, with what it checks held
	// unchanged, so that they are spilled once for the run of messages and
	// not once per message; a change ends it, and the outer loop does what
	// the message-by-message path does after a message.
	for {
		handler := *fn
		changed := false
		var size uint64
		for n-pos >= wire.HeaderSize {
			head := unsafe.Add(base, pos)
			if size = wire.PlainLength((*[wire.HeaderSize]byte)(head), limit); size > uint64(n-pos-wire.HeaderSize) {
				break
			}
			// Counted before the call: a panicking handler's message is
			// done with.
			pos += wire.HeaderSize + int(size)
			delivered++
			if size > 0 { // an empty message must not point past b
				handler(sess, unsafe.Slice((*byte)(unsafe.Add(head, wire.HeaderSize)), size))
			} else {
				handler(sess, b[:0:0])
			}
			// One test for the three things a handler may change (written
			// with | so that it compiles to loads and no branch each).
			if uint32(c.paused)|uint32(c.state.Load()^state)|(s.handlersSet.Load()^set) != 0 {
				changed = true
				break
			}
		}
		if !changed {
			break
		}
		s.deliverToSessionHandler(sess, b[pos-int(size):pos])
		if err = c.afterDeliver(); err != nil {
			if err == wire.ErrSuspend {
				err = c.dec.Suspend(b[pos:])
			}
			break
		}
		set, state = s.handlersSet.Load(), c.state.Load()
		if fn = s.plainHandler(sess); fn == nil {
			break
		}
	}
	returned = true
	s.countPlain(c, delivered, pos)
	return b[pos:], err
}

// countPlain counts the messages feedPlain delivered from the first used
// bytes of a read: every frame has a header of HeaderSize bytes, so the
// bytes give the payload bytes with no count per message.
func (s *Server) countPlain(c *conn, delivered, used int) {
	c.loop.recvMsgs += uint64(delivered)
	c.loop.recvBytes += uint64(used - delivered*wire.HeaderSize)
}

// plainHandler is the handler feedPlain calls for sess's next message, or
// nil when a batch or per-session handler takes the messages instead.
func (s *Server) plainHandler(sess *Session) *func(*Session, []byte) {
	fn := s.onMessage.Load()
	if fn == nil || s.onMessageBatch.Load() != nil || sess.messageHandler() != nil {
		return nil
	}
	return fn
}

// deliverToSessionHandler gives msg to the session's own handler if the
// server's handler just set one: as on the message-by-message path, it
// gets the message whose handling set it (and feedPlain then stops).
func (s *Server) deliverToSessionHandler(sess *Session, msg []byte) {
	if fn := sess.messageHandler(); fn != nil {
		s.callMessage(*fn, sess, msg)
	}
}

func (s *Server) countRecv(c *conn, msgs, bytes uint64) {
	now := c.loop.now
	s.stats.recv(msgs, bytes, now)
	if c.sess != nil {
		c.sess.stats.recv(msgs, bytes, now)
	}
}

func (s *Server) closed(c *conn, kind error, reason string, undelivered int) {
	defer s.dropLive() // last: Stop may release the engine once it is zero
	s.pending.remove(c)
	if c.wasOpen {
		s.open.Add(-1)
	}
	if a := c.ackOf(); a != nil {
		s.streams.release(a.stream)
	}
	switch {
	case errors.Is(kind, ErrTooLarge):
		s.counters.oversize.Add(1)
	case errors.Is(kind, ErrProtocol):
		s.counters.protocol.Add(1)
	}
	sess := c.sess
	if sess == nil {
		return // a "server full" rejection
	}
	if !c.wasOpen {
		sess.state.Store(int32(SessionDisconnected))
		return
	}
	s.sessMu.Lock()
	delete(s.sessions, sess.id)
	if x := sess.extra.Load(); x != nil {
		x.mu.Lock()
		for g := range x.groups {
			if m := s.groups[g]; m != nil {
				delete(m, sess.id)
				if len(m) == 0 {
					delete(s.groups, g)
				}
			}
		}
		x.mu.Unlock()
	}
	s.sessMu.Unlock()
	final := SessionDisconnected
	if endedInError(kind) {
		final = SessionError
		sess.more().errors.Add(1)
		s.reportError(sess, newError("read", c.remoteAddr().String(), kind, reason, nil))
	}
	if undelivered > 0 {
		s.reportError(sess, &UndeliveredError{Count: undelivered, Reason: reason})
	}
	sess.setState(final)
	if fn := s.onDisconnect.Load(); fn != nil {
		s.guard(sess, func() { (*fn)(sess, reason) })
	}
}

func (s *Server) reportError(sess *Session, err error) {
	if fn := s.onError.Load(); fn != nil {
		s.guard(sess, func() { (*fn)(sess, err) })
	}
}

// guard runs a user handler; a panic in it is reported through the error
// handler instead of killing the event loop (and every other connection).
func (s *Server) guard(sess *Session, fn func()) {
	defer s.recoverHandler(sess)
	fn()
}

// recoverHandler is deferred around every user handler call (recover only
// works in the deferred function itself).
func (s *Server) recoverHandler(sess *Session) { s.handlerPanicked(sess, recover()) }

// handlerPanicked reports a handler's panic value r (nil: none, e.g. the
// handler called runtime.Goexit) to OnError.
func (s *Server) handlerPanicked(sess *Session, r any) {
	if h := s.onError.Load(); h != nil && r != nil {
		reportHandlerPanic(r, func(err error) { (*h)(sess, err) })
	}
}

// acceptBackoff is how long accepting pauses after the process ran out of
// fds or memory.
const acceptBackoff = 100 * time.Millisecond

// listener accepts connections on the server's first loop.
type listener struct {
	srv    *Server
	fd     int
	loop   *loop
	closed bool
	paused bool // accepts paused after resource exhaustion, see backOff
}

func (ln *listener) onReadable() {
	for i := 0; i < 128 && !ln.closed; i++ {
		fd, remote, err := sock.Accept(ln.fd)
		switch {
		case err == nil:
			ln.srv.accept(fd, remote, ln.loop)
		case err == unix.EAGAIN:
			return
		case err == unix.EINTR || err == unix.ECONNABORTED:
		case isResourceExhausted(err):
			ln.backOff(err)
			return
		default:
			ln.srv.reportError(nil, newError("accept", "", ErrInvalidArgument, "accept failed", err))
			return
		}
	}
}

// isResourceExhausted reports accept errors that persist until something
// else releases resources (fds, buffers, memory).
func isResourceExhausted(err error) bool {
	return err == unix.EMFILE || err == unix.ENFILE || err == unix.ENOBUFS || err == unix.ENOMEM
}

// backOff stops watching the listener for acceptBackoff. The listening socket
// stays readable while the process is out of fds, so without a pause the
// level-triggered poller would report it again at once and the loop would
// spin on failing accepts, starving every connection it owns. The pending
// connections wait in the kernel's backlog meanwhile; nothing is dropped.
func (ln *listener) backOff(err error) {
	if ln.paused {
		return
	}
	ln.paused = true
	ln.srv.reportError(nil, newError("accept", "", ErrInvalidArgument,
		fmt.Sprintf("accept failed, pausing accepts for %v", acceptBackoff), err))
	if ln.loop.poller.Modify(ln.fd, 0, false, false) != nil {
		return // fall back to retrying on the next event
	}
	time.AfterFunc(acceptBackoff, func() {
		ln.loop.post(func() {
			ln.paused = false
			if !ln.closed {
				ln.loop.poller.Modify(ln.fd, 0, true, false)
			}
		})
	})
}

func (ln *listener) onWritable() {}

func (ln *listener) close() {
	if ln.closed {
		return
	}
	ln.closed = true
	ln.loop.unregister(ln.fd)
	sock.Close(ln.fd)
}

func isNilFunc[F any](fn F) bool {
	v := reflect.ValueOf(fn)
	return !v.IsValid() || v.IsNil()
}
