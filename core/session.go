package core

import (
	"net/netip"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// SessionState is the lifecycle state of a session.
type SessionState int32

// Session states, in lifecycle order.
const (
	SessionConnecting SessionState = iota
	SessionConnected
	SessionDisconnecting
	SessionDisconnected
	SessionError
)

var stateNames = [...]string{"connecting", "connected", "disconnecting", "disconnected", "error"}

func (s SessionState) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return "SessionState(" + strconv.Itoa(int(s)) + ")"
}

// Session is the server's side of one client connection. All methods are
// safe for concurrent use.
//
// An idle server holds one Session per connection, so what most sessions
// never use (data, groups, per-session handlers) lives in a block made on
// first use, and the connect time is an int64, not a 24-byte time.Time.
type Session struct {
	c           *conn
	id          uint64
	clientID    string
	connectTime int64 // unix nanoseconds
	state       atomic.Int32
	stats       traffic
	extra       atomic.Pointer[sessionExtra] // nil until first needed
}

// sessionExtra is the part of a Session made on first use (see more).
type sessionExtra struct {
	data      SessionData
	ctx       atomic.Pointer[any] // SetContext's value
	onState   atomic.Pointer[func(old, new SessionState)]
	onMessage atomic.Pointer[func(*Session, []byte)]
	errors    atomic.Uint64 // failed sends and error closes

	mu     sync.Mutex
	groups map[string]struct{}
}

// more returns the session's extra block, making it on first use.
func (s *Session) more() *sessionExtra {
	if x := s.extra.Load(); x != nil {
		return x
	}
	s.extra.CompareAndSwap(nil, new(sessionExtra)) // a racing caller's may win
	return s.extra.Load()
}

// messageHandler is the per-session message handler, or nil.
func (s *Session) messageHandler() *func(*Session, []byte) {
	if x := s.extra.Load(); x != nil {
		return x.onMessage.Load()
	}
	return nil
}

// ID is the server-assigned session id (never 0), sent to the client in WELCOME.
func (s *Session) ID() uint64 { return s.id }

// ClientID is the id the client announced in its HELLO.
func (s *Session) ClientID() string { return s.clientID }

// Server returns the server the session belongs to.
func (s *Session) Server() *Server { return s.server() }

// server is the session's server, which its connection's endpoint always
// is: the Session keeps no pointer of its own, as every idle connection
// would pay for it.
func (s *Session) server() *Server { return s.c.ep.(*Server) }

// RemoteAddr is the peer's address.
func (s *Session) RemoteAddr() netip.AddrPort { return s.c.remoteAddr() }

// LocalAddr is the server's address of this connection.
func (s *Session) LocalAddr() netip.AddrPort { return s.c.localAddr() }

// State returns the current state.
func (s *Session) State() SessionState { return SessionState(s.state.Load()) }

// IsConnected reports whether the session is open for messages.
func (s *Session) IsConnected() bool { return s.State() == SessionConnected }

// ConnectTime is when the connection was accepted.
func (s *Session) ConnectTime() time.Time { return time.Unix(0, s.connectTime) }

// LastActivity is when a message was last received, or ConnectTime.
func (s *Session) LastActivity() time.Time {
	if t := unixTime(s.stats.lastMessage.Load()); !t.IsZero() {
		return t
	}
	return s.ConnectTime()
}

// Send queues msg for the client. It fails with ErrBackpressure when the
// session's queue is at its high-water mark (or, on an acknowledged
// connection, when AckBufferBytes of sent messages are not acknowledged
// yet), ErrTooLarge past the client's limit, ErrClosed once the session is
// closing. msg may be reused on return.
func (s *Session) Send(msg []byte) error { return s.SendTimeout(msg, 0) }

// SendTimeout is Send that waits up to timeout for room in a full queue.
func (s *Session) SendTimeout(msg []byte, timeout time.Duration) error {
	c := s.c
	if l := c.loop; l.onLoop() && l.reading == c && c.sendOwn(msg) {
		return nil // counted at the end of the read
	}
	if err := c.send(msg, timeout, false); err != nil {
		s.more().errors.Add(1) // the extras: most sessions never fail a send
		return err
	}
	s.stats.sent(len(msg))
	s.server().stats.sent(len(msg))
	return nil
}

// Disconnect closes the session gracefully: queued messages are flushed,
// then the client receives CLOSE with reason. It is safe from any handler.
func (s *Session) Disconnect(reason string) error {
	if s.State() >= SessionDisconnecting {
		return newError("disconnect", s.c.remoteAddr().String(), ErrClosed, "session already closing", nil)
	}
	if reason == "" {
		reason = "disconnected by server"
	}
	s.c.runOnLoop(func() {
		s.setState(SessionDisconnecting)
		s.c.beginClose(1000, reason, ErrClosed)
	})
	return nil
}

// PauseReading stops reading from the client: TCP backpressure for a host
// that cannot keep up. Called from a handler it takes effect after the
// current message; messages already read stay queued in order. Called from
// outside the event loops it returns once the pause is in effect: no message
// is delivered after it returns. (From a handler of another connection it
// does not wait.)
func (s *Session) PauseReading() { s.c.pauseFor(PauseHost, true) }

// ResumeReading undoes PauseReading. It does not resume reading paused for
// another reason (see PauseReason).
func (s *Session) ResumeReading() { s.c.pauseFor(PauseHost, false) }

// PauseReadingFor is PauseReading for one reason: reading stops while any
// reason is set, and ResumeReadingFor clears only its own reason, so a
// consumer resuming after its queue drained never undoes the
// application's pause (or the reverse).
func (s *Session) PauseReadingFor(r PauseReason) { s.c.pauseFor(r, true) }

// ResumeReadingFor clears reason r set by PauseReadingFor (or PauseReading
// for PauseHost); reading resumes once no reason remains.
func (s *Session) ResumeReadingFor(r PauseReason) { s.c.pauseFor(r, false) }

// PauseReason is why reading from a peer is paused. A connection keeps a
// set of reasons and reads only while the set is empty; each reason is set
// and cleared by one party only, so reasons never override each other.
// The engine's own reason (its send queue full of control replies) is not
// among these: it comes and goes by itself.
type PauseReason uint8

const (
	// PauseHost is the application's pause: PauseReading and ResumeReading.
	PauseHost PauseReason = PauseReason(pauseHost)
	// PauseQueue is a consumer's: its queue of received messages is over
	// its bound (the C library pauses with it when its host falls behind).
	PauseQueue PauseReason = PauseReason(pauseQueue)
)

// Data returns the session's key/value store.
func (s *Session) Data() *SessionData { return &s.more().data }

// SetContext attaches an application value to the session (a user record,
// a protocol state machine), replacing the previous one; nil clears it. It
// is meant for state that handlers of the session fetch on every call: a
// lookup in the application's own map keyed by ID would need a lock and an
// entry to remove at disconnect, while the value here goes with the
// session. Safe from any goroutine; the value stays readable after the
// session ends (in OnDisconnect and later) until replaced.
func (s *Session) SetContext(v any) {
	if v == nil {
		if x := s.extra.Load(); x != nil {
			x.ctx.Store(nil)
		}
		return // nothing to clear: an idle session never makes its block for it
	}
	s.more().ctx.Store(&v)
}

// Context returns the value given to SetContext, or nil. Safe from any
// goroutine.
func (s *Session) Context() any {
	if x := s.extra.Load(); x != nil {
		if p := x.ctx.Load(); p != nil {
			return *p
		}
	}
	return nil
}

// JoinGroup adds the session to a server group.
func (s *Session) JoinGroup(group string) { s.server().joinGroup(s, group) }

// LeaveGroup removes the session from a server group.
func (s *Session) LeaveGroup(group string) { s.server().leaveGroup(s, group) }

// Groups lists the groups the session belongs to, sorted.
func (s *Session) Groups() []string {
	x := s.extra.Load()
	if x == nil {
		return []string{}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return sortedKeys(x.groups)
}

// InGroup reports membership of a group.
func (s *Session) InGroup(group string) bool {
	x := s.extra.Load()
	if x == nil {
		return false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	_, ok := x.groups[group]
	return ok
}

// Statistics returns the session's counters.
func (s *Session) Statistics() SessionStatistics {
	return SessionStatistics{
		MessagesSent:     s.stats.msgsSent.Load(),
		MessagesReceived: s.stats.msgsRecv.Load(),
		BytesSent:        s.stats.bytesSent.Load(),
		BytesReceived:    s.stats.bytesRecv.Load(),
		Errors:           s.errorCount(),
		LastMessageTime:  unixTime(s.stats.lastMessage.Load()),
	}
}

// ResetStatistics zeroes the session's counters.
func (s *Session) ResetStatistics() {
	s.stats.reset()
	if x := s.extra.Load(); x != nil {
		x.errors.Store(0)
	}
}

// errorCount is the session's failed sends and error closes.
func (s *Session) errorCount() uint64 {
	if x := s.extra.Load(); x != nil {
		return x.errors.Load()
	}
	return 0
}

// OnStateChange sets a handler called on the session's loop at every state
// change. nil removes it.
func (s *Session) OnStateChange(fn func(old, new SessionState)) { storeHandler(&s.more().onState, fn) }

// OnMessage sets a per-session message handler, called after the server's.
func (s *Session) OnMessage(fn func(*Session, []byte)) {
	storeHandler(&s.more().onMessage, fn)
	if srv, ok := s.c.ep.(*Server); ok {
		srv.handlersSet.Add(1)
	}
}

func (s *Session) setState(st SessionState) {
	old := SessionState(s.state.Swap(int32(st)))
	if old == st {
		return
	}
	if x := s.extra.Load(); x == nil {
		return
	} else if fn := x.onState.Load(); fn != nil {
		s.server().guard(s, func() { (*fn)(old, st) })
	}
}

// SessionData is a concurrent-safe string key/value store attached to a
// session, for application state such as a user name.
type SessionData struct {
	mu sync.RWMutex
	m  map[string]string
}

// Set stores value under key.
func (d *SessionData) Set(key, value string) {
	d.mu.Lock()
	if d.m == nil {
		d.m = make(map[string]string)
	}
	d.m[key] = value
	d.mu.Unlock()
}

// Get returns the value under key and whether it exists.
func (d *SessionData) Get(key string) (string, bool) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	v, ok := d.m[key]
	return v, ok
}

// Has reports whether key exists.
func (d *SessionData) Has(key string) bool {
	_, ok := d.Get(key)
	return ok
}

// Remove deletes key.
func (d *SessionData) Remove(key string) {
	d.mu.Lock()
	delete(d.m, key)
	d.mu.Unlock()
}

// Clear deletes every key.
func (d *SessionData) Clear() {
	d.mu.Lock()
	d.m = nil
	d.mu.Unlock()
}

// Keys lists the keys, sorted.
func (d *SessionData) Keys() []string {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return sortedKeys(d.m)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// storeHandler sets or clears an atomically swappable handler, so handlers
// can be replaced at any time, even from inside a handler, without locks.
func storeHandler[F any](p *atomic.Pointer[F], fn F) {
	if any(fn) == nil || isNilFunc(fn) {
		p.Store(nil)
		return
	}
	p.Store(&fn)
}
