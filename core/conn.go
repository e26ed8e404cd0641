package core

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/core/internal/sock"
	"github.com/netsys/netsys/core/internal/wire"
)

// Connection states as seen by the loop.
const (
	stConnecting int32 = iota // TCP connect in progress (client side)
	stHandshake               // waiting for HELLO (server) or WELCOME (client)
	stOpen
	stClosing // CLOSE or REJECT queued; flushing, then draining until EOF
	stClosed
)

const (
	// lingerTimeout is the slack Stop allows on top of the shutdown timeout
	// for the last connections to be released.
	lingerTimeout = 2 * time.Second
	// transformSlack lets transformed frames grow a little beyond the
	// message limit (a cipher's MAC, say), per transform, on connections
	// that negotiated transforms; the decoded size is checked exactly.
	transformSlack = 64 << 10
)

// Reasons reading is paused, a bit set per connection: reading runs only
// when the set is empty, and one reason never clears another.
const (
	// pauseHost: the application called PauseReading.
	pauseHost uint8 = 1 << iota
	// pauseBackpressure: control replies (PONG) pushed the send queue over
	// its mark; reading resumes once it drains below half.
	pauseBackpressure
	// pauseQueue: a consumer's queue of received messages is over its
	// bound (the C library's event queue); set and cleared by it only.
	pauseQueue
)

// errStopFeed ends decoding of the current read: the connection closed.
var errStopFeed = errors.New("connection closed")

// errEngineClosing refuses to attach a connection to a loop shutting down.
var errEngineClosing = errors.New("engine closed")

// errEarlyDataFull refuses a message a client would send before WELCOME
// beyond the early-data budget (wire.MaxEarlyData); it waits for WELCOME.
var errEarlyDataFull = errors.New("early data budget used")

// endpoint is the side owning a connection: the server (one session per
// connection) or a client. The loop calls it on its own goroutine.
type endpoint interface {
	// handshake handles a frame received before the connection is open.
	handshake(c *conn, h wire.Header, payload []byte) error
	// deliver hands over one decoded message.
	deliver(c *conn, msg []byte)
	// batching reports whether messages go to a batch handler (deliverBatch)
	// instead of deliver.
	batching() bool
	// batchRoom is how many messages and payload bytes the next batch may
	// hold (both at least 1): a batch that reaches either is delivered at
	// once, mid-read.
	batchRoom() (events, bytes int)
	// deliverBatch hands over messages decoded from one read, in order,
	// each as its span of in.
	deliverBatch(c *conn, in []byte, msgs []MessageSpan)
	// closed reports the end of the connection, exactly once.
	closed(c *conn, kind error, reason string, undelivered int)
	// countRecv adds the messages and bytes decoded from one read.
	countRecv(c *conn, msgs, bytes uint64)
}

// connParams are the options agreed in the handshake; nil before that.
type connParams struct {
	codec byte
	// ack is the acknowledged-delivery state, nil on an ordinary
	// connection; params with it are never shared between connections.
	// It sits next to the fields send tests first, in the same cache line.
	ack         *ackState
	minCompress int // this side's own threshold
	xforms      []Transform
	xformNames  []string
	peerMax     int
}

// conn is one TCP connection owned by a loop.
type conn struct {
	loop   *loop
	ep     endpoint
	cfg    *TransportConfig
	sess   *Session // server side only
	remote hostPort
	local  hostPort

	state  atomic.Int32
	slot   int32 // loop-owned: the connection's place in loop.conns
	params atomic.Pointer[connParams]

	// Loop-owned.
	dec           wire.Decoder
	wbuf          []byte
	woff          int
	batch         *[]MessageSpan // during a read in batching mode: the loop's batch
	wroteRecently bool           // a flush completed since the last tick (see trimBuffers)
	plainData     bool           // open, no transforms: onFrame's fast path applies
	reconnect     bool
	wantWrite     bool
	paused        uint8 // pause reasons (pauseHost, ...): read only when 0
	suspended     bool
	rejecting     bool
	discard       bool // read and drop: refused, or the peer's CLOSE arrived
	peerDone      bool // the peer's CLOSE or EOF arrived during our close
	closeSent     bool
	finSent       bool
	wasOpen       bool
	peerRefused   bool // the peer's CLOSE refused our last DATA (1009, 1011 transform failed)
	pendingHS     bool // in Server.pending's queues, under its mu (not loop-owned)
	// sendClosed: no more frames are queued (set with mu held, on the loop
	// only, so the loop may read it without mu); dirtyMark: the connection
	// is in its loop's dirty list (under mu). They sit here, in padding.
	sendClosed bool
	dirtyMark  bool
	lastRecv   int64 // mono time of the last read
	lastPing   int64 // mono time of the last PING we sent
	pingEvery  int64 // heartbeat: PING after this long without receiving; 0: none
	frameStart int64 // mono time the incomplete frame's first bytes arrived; 0: none
	pausedAt   int64 // mono time reading was paused (timers resume from it)
	writeWait  int64 // mono time of the last write progress while writes block
	deadline   int64 // mono time of the handshake or close deadline; 0: none
	end        *closeState
	dial       *dialState // client side only

	// Shared with senders, under mu.
	mu  sync.Mutex
	out []byte
	// queued is the bytes queued and not yet written (out, wbuf past woff):
	// an atomic, changed with mu held except by sendOwn, which reserves
	// its frames with a compare-and-swap (see tryReserve).
	queued atomic.Int64
	// fd sits here, beside outBusy, so that the struct stays within its
	// allocation class (see TestIdleConnectionSizes). Set once.
	fd int32
	// outBusy: out may hold frames. Set (mu held) by whoever appends to
	// out, cleared (mu held) by the loop when it empties out; sendOwn reads
	// it without mu, and appends to wbuf only while it is clear.
	outBusy atomic.Bool
	spaceCh chan struct{}
}

// dialState is what only a client's connection needs: a server's
// connections hold a nil pointer instead.
type dialState struct {
	outcome    chan error    // the dial waiting for this attempt
	ended      chan struct{} // closed once the connection is over
	ackFirst   uint64        // first_seq offered in HELLO; 0: not offered
	zone       string        // the IPv6 zone of the address dialed, which hostPort does not keep
	earlyData  int32         // messages sent before WELCOME (reported if refused); under conn.mu
	earlyBytes int32         // their payload bytes, bounded by wire.MaxEarlyData; under conn.mu
}

// hostPort is a connection's address in 20 bytes and without a pointer for
// the collector to follow, where a netip.AddrPort takes 32 with one: every
// connection holds two, and what 10,000 idle connections cost is mostly
// their connection structs. Addresses from the socket calls never carry
// an IPv6 zone; a client keeps the zone of the address it dialed in its
// dialState.
type hostPort struct {
	ip     [16]byte
	port   uint16
	family uint8 // 0: no address, 4 or 6
}

func packHostPort(a netip.AddrPort) hostPort {
	switch ip := a.Addr(); {
	case ip.Is4():
		return hostPort{ip: ip.As16(), port: a.Port(), family: 4}
	case ip.Is6():
		return hostPort{ip: ip.As16(), port: a.Port(), family: 6}
	}
	return hostPort{}
}

func (h hostPort) addrPort(zone string) netip.AddrPort {
	switch h.family {
	case 4:
		return netip.AddrPortFrom(netip.AddrFrom16(h.ip).Unmap(), h.port)
	case 6:
		return netip.AddrPortFrom(netip.AddrFrom16(h.ip).WithZone(zone), h.port)
	}
	return netip.AddrPort{}
}

// remoteAddr is the peer's address.
func (c *conn) remoteAddr() netip.AddrPort {
	zone := ""
	if c.dial != nil {
		zone = c.dial.zone
	}
	return c.remote.addrPort(zone)
}

// localAddr is the connection's own address.
func (c *conn) localAddr() netip.AddrPort { return c.local.addrPort("") }

// closeState is what only a closing connection needs: an idle open one
// holds a nil pointer instead, as its size is what 10,000 of them cost.
// Loop-owned.
type closeState struct {
	closeKind error  // what the connection reports when it ends
	closeWhy  string // the reason it reports
	dialCause error  // client side: why the TCP connect failed (a syscall error)
}

// ending returns the connection's close state, made on first use.
func (c *conn) ending() *closeState {
	if c.end == nil {
		c.end = new(closeState)
	}
	return c.end
}

// setCloseWhy records what the connection reports once it ends.
func (c *conn) setCloseWhy(kind error, reason string) {
	e := c.ending()
	e.closeKind, e.closeWhy = kind, reason
}

// closeWhy is what setCloseWhy recorded (nil, "" if nothing was).
func (c *conn) closeWhy() (error, string) {
	if c.end == nil {
		return nil, ""
	}
	return c.end.closeKind, c.end.closeWhy
}

// dialCause is what noteDialCause kept, or nil.
func (c *conn) dialCause() error {
	if c.end == nil {
		return nil
	}
	return c.end.dialCause
}

func newConn(l *loop, fd int, ep endpoint, cfg *TransportConfig, state int32) *conn {
	c := &conn{loop: l, fd: int32(fd), ep: ep, cfg: cfg}
	c.state.Store(state)
	// Until the handshake is done every frame is held to the control limit.
	c.dec.Handshaking = true
	l.nconns.Add(1)
	return c
}

// attach registers the connection with its loop; on the loop goroutine.
func (c *conn) attach() error {
	l := c.loop
	if l.closing {
		// The engine is shutting down: a connection attached now would
		// keep its loop from exiting.
		sock.Close(int(c.fd))
		l.nconns.Add(-1)
		c.state.Store(stClosed)
		return errEngineClosing
	}
	c.lastRecv = mono(l.now)
	if err := l.register(c, c.state.Load() == stConnecting); err != nil {
		l.nconns.Add(-1)
		sock.Close(int(c.fd))
		c.state.Store(stClosed)
		return err
	}
	c.wantWrite = c.state.Load() == stConnecting
	return nil
}

// markOpen applies what the handshake agreed; on the loop goroutine.
// peerIdleMS is the idle timeout the peer announced (0: none or unknown).
func (c *conn) markOpen(p *connParams, peerIdleMS uint32) {
	c.params.Store(p)
	c.dec.Handshaking = false
	c.dec.DataLimit = uint32(c.cfg.MessageSizeLimit + len(p.xforms)*transformSlack)
	c.dec.CompressionOn = p.codec != wire.CodecNone
	c.state.Store(stOpen)
	c.wasOpen = true
	c.plainData = len(p.xforms) == 0 && p.ack == nil
	c.dec.AckOn = p.ack != nil
	c.deadline = 0
	c.pingEvery = int64(heartbeatInterval(c.cfg.IdleTimeout, peerIdleMS))
	c.lastPing = mono(c.loop.now) // the heartbeat clock starts now
}

// heartbeatInterval is how long a side waits without receiving before it
// sends a PING: half the smaller non-zero of its own idle timeout and the
// one its peer announced (0: neither has one).
func heartbeatInterval(own time.Duration, peerMS uint32) time.Duration {
	t := time.Duration(peerMS) * time.Millisecond
	if own > 0 && (t == 0 || own < t) {
		t = own
	}
	return t / 2
}

// heartbeatMS is the idle timeout a side announces in its handshake.
func heartbeatMS(idle time.Duration) uint32 {
	if idle <= 0 {
		return 0
	}
	return uint32(min(idle/time.Millisecond, 1<<32-1))
}

// compressHook, when set (by tests), runs right after a message was
// compressed for sending.
var compressHook func(*conn)

// compressBufs recycles the buffers messages are compressed into before
// they are copied into the send queue: compression runs outside the
// connection's lock, so a large message does not stall the loop's flush.
var compressBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledCompressBuf bounds the compression buffers kept for reuse.
const maxPooledCompressBuf = 1 << 20

// send queues one message from any goroutine. With timeout > 0 it waits that
// long for room below the high-water mark instead of failing at once.
func (c *conn) send(msg []byte, timeout time.Duration, force bool) error {
	p := c.params.Load()
	limit := c.cfg.MessageSizeLimit
	if p != nil {
		limit = p.peerMax
	}
	if len(msg) > limit {
		return newError("send", c.remoteAddr().String(), ErrTooLarge,
			wire.Reason(wire.ReasonTooLarge, formatSizes(len(msg), limit)), nil)
	}
	if !sendsPlain(p, len(msg)) {
		return c.sendEncoded(p, msg, timeout, force)
	}
	// The common case, kept as short as before: a plain message, copied
	// into the queue under the lock.
	frameLen := wire.HeaderSize + len(msg)
	c.mu.Lock()
	if err := c.reserve(frameLen, timeout, force); err != nil {
		c.mu.Unlock()
		return err
	}
	c.out = appendData(c.out, msg, 0)
	c.unlockQueued()
	return nil
}

// sendsPlain reports whether a message of n bytes goes out as it is, under
// the connection's parameters p: no acknowledgement numbering, transforms or
// compression, and not before WELCOME (p nil).
func sendsPlain(p *connParams, n int) bool {
	return p != nil && p.ack == nil && len(p.xforms) == 0 && (p.codec == wire.CodecNone || n < p.minCompress)
}

// appendData appends a DATA frame of body to buf, its header written in
// place (the send paths' form of wire.AppendFrame, without the header's
// copy).
func appendData(buf, body []byte, flags byte) []byte {
	start := len(buf)
	buf = append(buf, 0, 0, 0, 0, 0, 0)
	buf = append(buf, body...)
	wire.PutHeader(buf[start:], len(body), wire.TypeData, flags)
	return buf
}

// sendOwn is send for a plain message on c's own loop while it reads c (a
// handler answering its connection's message): the frame goes straight
// into the loop-owned write buffer, without the lock or the dirty list,
// and endOwnSends writes it once the read is done. Order holds: frames
// queued in out before (by other goroutines, or control frames) are moved
// into wbuf first, under mu, when outBusy says there may be some; a frame
// another goroutine queues meanwhile is concurrent with this one. It
// reports false, having queued nothing, when it does not apply or the
// message is refused (send then reports why: closed, too large, queue
// full).
func (c *conn) sendOwn(msg []byte) bool {
	if c.sendClosed {
		return false
	}
	p := c.params.Load()
	if !sendsPlain(p, len(msg)) || len(msg) > p.peerMax {
		return false
	}
	if !c.tryReserve(wire.HeaderSize + len(msg)) {
		return false
	}
	if c.outBusy.Load() {
		c.mu.Lock()
		c.takeOut()
		c.mu.Unlock()
	}
	c.wbuf = appendData(c.wbuf, msg, 0)
	l := c.loop
	l.sentMsgs++
	l.sentBytes += uint64(len(msg))
	return true
}

// endOwnSends ends a read of c: it counts the messages sendOwn took in the
// session's and the server's statistics and writes them.
func (c *conn) endOwnSends() {
	l := c.loop
	if l.sentMsgs == 0 {
		return
	}
	msgs, bytes := l.sentMsgs, l.sentBytes
	l.sentMsgs, l.sentBytes = 0, 0
	if s := c.sess; s != nil {
		s.stats.sentMany(msgs, bytes)
		s.server().stats.sentMany(msgs, bytes)
	}
	if c.state.Load() != stClosed && !c.wantWrite && c.woff < len(c.wbuf) {
		c.writeOut()
	}
}

// sendEncoded is send for a message that is transformed, compressed, or
// sent before WELCOME (early data).
func (c *conn) sendEncoded(p *connParams, msg []byte, timeout time.Duration, force bool) error {
	body, flags, buf, err := c.encode(p, msg)
	if err != nil {
		return newError("send", c.remoteAddr().String(), ErrTransform, err.Error(), nil)
	}
	var a *ackState
	if p != nil && c.sess != nil {
		a = p.ack // the server numbers its messages as it queues them
	}
	err = c.queueData(body, flags, len(msg), p == nil, a, timeout, force)
	if buf != nil && cap(*buf) <= maxPooledCompressBuf {
		compressBufs.Put(buf)
	}
	return err
}

// encode applies the agreed transforms and compression to msg, outside the
// connection's lock. buf, if not nil, holds the result and goes back to
// compressBufs once the frame is queued.
func (c *conn) encode(p *connParams, msg []byte) (body []byte, flags byte, buf *[]byte, err error) {
	body = msg
	if p == nil {
		return body, 0, nil, nil
	}
	if len(p.xforms) > 0 {
		if body, err = encodeTransforms(p, msg); err != nil {
			return nil, 0, nil, err
		}
	}
	if p.codec == wire.CodecNone || len(body) < p.minCompress {
		return body, 0, nil, nil
	}
	buf = compressBufs.Get().(*[]byte)
	*buf = compress(p.codec, (*buf)[:0], body)
	if compressHook != nil {
		compressHook(c)
	}
	if len(*buf) < len(body) {
		return *buf, wire.FlagCompressed, buf, nil
	}
	return body, 0, buf, nil
}

// queueData appends one DATA frame to the send queue under mu. early marks
// a message sent before WELCOME, within the early-data budget; a non-nil a
// numbers a server's message on an acknowledged connection.
func (c *conn) queueData(body []byte, flags byte, msgLen int, early bool, a *ackState, timeout time.Duration, force bool) error {
	frameLen := wire.HeaderSize + len(body)
	c.mu.Lock()
	if err := c.reserve(frameLen, timeout, force); err != nil {
		c.mu.Unlock()
		return err
	}
	// A refusal below gives the room back: mu is held throughout, and
	// sendOwn, the one taker of room without it, never runs on a
	// connection that early data or acknowledgements apply to.
	if early && c.dial != nil { // only a client sends before WELCOME
		if int(c.dial.earlyBytes)+msgLen > wire.MaxEarlyData {
			c.queued.Add(-int64(frameLen))
			c.mu.Unlock()
			return errEarlyDataFull
		}
		c.dial.earlyData++
		c.dial.earlyBytes += int32(msgLen)
	}
	if a != nil {
		if err := c.holdSent(a, msgLen); err != nil {
			c.queued.Add(-int64(frameLen))
			c.mu.Unlock()
			return err
		}
	}
	c.out = appendData(c.out, body, flags)
	c.unlockQueued()
	return nil
}

// reserve adds frameLen to queued (mu held) if the connection still takes
// data: without force, only below the high-water mark, waiting up to
// timeout (mu released while waiting) for room. An empty queue always
// takes one message, so a message larger than the mark can still be sent.
func (c *conn) reserve(frameLen int, timeout time.Duration, force bool) error {
	var deadline time.Time
	for {
		if c.sendClosed {
			return newError("send", c.remoteAddr().String(), ErrClosed, "connection closed", nil)
		}
		if force {
			c.queued.Add(int64(frameLen))
			return nil
		}
		if c.tryReserve(frameLen) {
			return nil
		}
		if timeout <= 0 {
			return newError("send", c.remoteAddr().String(), ErrBackpressure, "", nil)
		}
		if onAnyLoop() {
			// The loop that drains the queue may be this one, or one that
			// another loop waits for: fail as if there were no timeout.
			return newError("send", c.remoteAddr().String(), ErrWouldBlockLoop,
				"send queue full; a send with a timeout inside a handler cannot wait", ErrBackpressure)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(timeout)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return newError("send", c.remoteAddr().String(), ErrTimeout, "send queue stayed full", nil)
		}
		if c.spaceCh == nil {
			c.spaceCh = make(chan struct{})
		}
		ch := c.spaceCh
		c.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
		c.mu.Lock()
	}
}

// tryReserve adds n to queued if that stays under the high-water mark or
// the queue is empty. A compare-and-swap, so that sendOwn (without mu) and
// the senders under mu never take the same room twice.
func (c *conn) tryReserve(n int) bool {
	limit := int64(c.cfg.SendQueueLimit)
	for {
		q := c.queued.Load()
		if q > 0 && q+int64(n) > limit {
			return false
		}
		if c.queued.CompareAndSwap(q, q+int64(n)) {
			return true
		}
	}
}

// sendControl queues a control frame and returns the bytes now queued. It
// ignores the high-water mark (a slow peer must still be closable), but the
// frame counts against it: see onFrame's PING case.
func (c *conn) sendControl(typ byte, payload []byte) int {
	c.mu.Lock()
	if c.sendClosed {
		q := int(c.queued.Load())
		c.mu.Unlock()
		return q
	}
	c.out = wire.AppendFrame(c.out, typ, 0, payload)
	q := int(c.queued.Add(int64(wire.HeaderSize + len(payload))))
	c.unlockQueued()
	return q
}

// sendControlNowLocked sends a control frame as sendControl does but, when
// nothing is queued ahead of it, writes it at once from a buffer on the
// stack: the WELCOME of every accepted connection then leaves no queue
// buffer behind, which 10,000 idle connections would each keep until the
// next trim. What the socket does not take is queued as usual. Called with
// mu held, which it releases; on the loop goroutine.
func (c *conn) sendControlNowLocked(typ byte, payload []byte) {
	var buf [wire.HeaderSize + 192]byte
	frame := wire.AppendFrame(buf[:0], typ, 0, payload)
	if c.sendClosed {
		c.mu.Unlock()
		return
	}
	if len(c.out) == 0 && c.woff == len(c.wbuf) && !c.wantWrite {
		n, _ := sock.Write(int(c.fd), frame) // a failure shows again, and is handled, at the flush
		if n >= len(frame) {
			c.mu.Unlock()
			return
		}
		frame = frame[max(n, 0):]
	}
	c.out = append(c.out, frame...)
	c.queued.Add(int64(len(frame)))
	c.unlockQueued()
}

// unlockQueued releases mu after a frame was queued in out and asks the
// loop to flush, once per flush.
func (c *conn) unlockQueued() {
	if !c.outBusy.Load() {
		c.outBusy.Store(true)
	}
	mark := !c.dirtyMark
	c.dirtyMark = true
	c.mu.Unlock()
	if mark {
		c.loop.markDirty(c)
	}
}

// flush writes what senders queued; on the loop goroutine.
func (c *conn) flush() {
	c.mu.Lock()
	c.dirtyMark = false
	if c.state.Load() == stClosed || c.wantWrite {
		c.mu.Unlock()
		return
	}
	c.takeOut()
	c.mu.Unlock()
	c.writeOut()
}

// takeOut moves queued frames into the write buffer (mu held). When the
// write buffer is empty the two buffers swap, so nothing is copied.
func (c *conn) takeOut() {
	if c.woff == len(c.wbuf) {
		c.wbuf, c.out, c.woff = c.out, c.wbuf[:0], 0
	} else if len(c.out) > 0 {
		c.wbuf = append(c.wbuf, c.out...)
		c.out = c.out[:0]
	}
	if c.outBusy.Load() {
		c.outBusy.Store(false)
	}
}

func (c *conn) writeOut() {
	written := 0
	for c.woff < len(c.wbuf) {
		n, err := sock.Write(int(c.fd), c.wbuf[c.woff:])
		if n > 0 {
			c.woff += n
			written += n
		}
		if err == unix.EAGAIN {
			if !c.wantWrite {
				c.wantWrite = true
				c.writeWait = mono(c.loop.now)
				c.updateInterest()
			}
			break
		}
		if err != nil {
			c.noteWritten(written)
			c.noteDialCause(err)
			c.finish(ErrClosed, "write failed: "+err.Error())
			return
		}
	}
	// Resuming reading (resumeIfDrained) may replay input and even close
	// the connection: it runs only once this function is done with the fd.
	drained := c.noteWritten(written)
	if c.woff < len(c.wbuf) {
		c.resumeIfDrained(drained)
		return
	}
	// The buffer is kept however large it grew: releasing it here made a
	// busy sender regrow (and page-fault) megabytes per flush. tick releases
	// the buffers of connections that stopped writing.
	c.wbuf, c.woff = c.wbuf[:0], 0
	c.wroteRecently = true
	if c.wantWrite {
		c.wantWrite = false
		c.updateInterest()
	}
	if c.closeSent && !c.finSent && c.queuedEmpty() {
		c.finSent = true
		sock.ShutdownWrite(int(c.fd))
		if c.peerDone {
			c.finish(c.closeWhy())
			return
		}
	}
	c.resumeIfDrained(drained)
}

func (c *conn) queuedEmpty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out) == 0
}

// noteWritten accounts for n bytes written; on the loop goroutine. It
// reports whether the queue is now below half its mark.
func (c *conn) noteWritten(n int) (drained bool) {
	if n == 0 {
		return false
	}
	if c.wantWrite { // the send-stall clock only runs while writes block
		c.writeWait = mono(c.loop.now)
	}
	c.mu.Lock()
	drained = c.queued.Add(-int64(n)) < int64(c.cfg.SendQueueLimit/2)
	if c.spaceCh != nil {
		close(c.spaceCh)
		c.spaceCh = nil
	}
	c.mu.Unlock()
	return drained
}

// resumeIfDrained resumes reading paused for backpressure once the send
// queue drained below half its mark.
func (c *conn) resumeIfDrained(drained bool) {
	if drained && c.paused&pauseBackpressure != 0 && c.state.Load() != stClosed {
		c.setPaused(pauseBackpressure, false)
	}
}

func (c *conn) onWritable() {
	switch c.state.Load() {
	case stClosed:
		return
	case stConnecting:
		c.ep.(*Client).tcpConnected(c)
		return
	}
	c.mu.Lock()
	c.wantWrite = false
	c.takeOut()
	c.mu.Unlock()
	c.writeOut()
}

func (c *conn) onReadable() {
	l := c.loop
	l.reading = c
	c.read()
	l.reading = nil
	c.endOwnSends()
}

// read reads and decodes what the socket has, a bounded number of times.
func (c *conn) read() {
	st := c.state.Load()
	if st == stConnecting || st == stClosed || c.paused != 0 {
		return
	}
	if c.discard {
		c.discardInput()
		return
	}
	buf := c.loop.readBuf
	for i := 0; i < maxReadsPerEvent; i++ {
		n, err := sock.Read(int(c.fd), buf)
		if n > 0 {
			c.lastRecv = mono(c.loop.now)
			if !c.feed(buf[:n]) || n < len(buf) {
				return
			}
			continue
		}
		c.readEnded(err)
		return
	}
}

// discardInput reads and drops what a refused or closing peer sends: no
// frame is decoded and nothing is allocated for it. Reading goes on only to
// see its EOF.
func (c *conn) discardInput() {
	buf := c.loop.readBuf
	for i := 0; i < maxReadsPerEvent; i++ {
		n, err := sock.Read(int(c.fd), buf)
		if n == len(buf) {
			continue
		}
		if n <= 0 {
			c.readEnded(err)
		}
		return
	}
}

// readEnded handles a read that returned no bytes.
func (c *conn) readEnded(err error) {
	switch {
	case err == unix.EAGAIN:
	case err == nil:
		c.peerGone("connection closed by peer", false)
	default:
		c.noteDialCause(err)
		c.peerGone("connection reset by peer", true)
	}
}

// noteDialCause keeps the system error that ends a client's connection
// attempt (the socket may report a refused connect on a write or a read
// before the connect result is checked), so the dial's error wraps it.
func (c *conn) noteDialCause(err error) {
	if c.dial != nil && c.dial.outcome != nil && c.dialCause() == nil {
		c.ending().dialCause = err
	}
}

// peerGone handles EOF or a reset. After our own CLOSE it is the expected
// end: the rest of our queue is still flushed (the peer may still read)
// unless the connection was reset.
func (c *conn) peerGone(reason string, reset bool) {
	if !c.closeSent {
		c.finish(ErrClosed, reason)
		return
	}
	if reset || c.finSent {
		c.finish(c.closeWhy())
		return
	}
	c.peerDone = true
	c.updateInterest() // EOF stays readable: stop watching it
}

// feed decodes one read; it reports whether reading may continue.
func (c *conn) feed(b []byte) bool {
	c.startBatch()
	c.loop.batchIn = b
	var err error
	if c.plainData && (c.batch != nil || c.sess != nil) {
		// A read rarely ends on a frame boundary: the frame it cut is
		// finished first, then the loop takes the frames that follow.
		if b, err = c.dec.Complete(b, c.onFrame); err == nil {
			if c.batch != nil {
				b, err = c.batchPlain(b)
			} else {
				b, err = c.sess.server().feedPlain(c, b)
			}
		}
	}
	if err == nil && len(b) > 0 {
		err = c.dec.Feed(b, c.onFrame)
	}
	switch {
	case c.dec.Buffered() == 0:
		c.frameStart = 0
	case c.dec.TakeNewPartial():
		c.frameStart = mono(c.loop.now)
	}
	return c.afterFeed(err)
}

// batchPlain is feed's loop for a read in batching mode: the plain DATA
// frames at the start of b join the batch with no call per frame (what
// onFrame's first case does for each, through the decoder). It returns
// what it did not consume, from the first frame that needs more (another
// type, compression, an incomplete frame), for the decoder; a batch that
// reaches its room goes at once, and a pause or close its handler asked
// for stops the read after it, as on the decoder's path.
func (c *conn) batchPlain(b []byte) ([]byte, error) {
	for {
		l := c.loop
		had := len(*c.batch)
		var bytes int
		// b is what is left of the read, so its offset in it is known.
		*c.batch, b, bytes = c.dec.AppendPlain(*c.batch, b, len(l.batchIn)-len(b), l.batchRoom, l.batchRoomBytes)
		if n := len(*c.batch) - had; n == 0 || !c.countBatched(n, bytes) {
			return b, nil // the next frame is not a plain one, or b is done
		}
		if err := c.flushBatch(); err != nil {
			if err == wire.ErrSuspend {
				err = c.dec.Suspend(b)
			}
			return b, err
		}
	}
}

// addToBatch adds the plain message at in[off:off+size] of the read's
// memory to the read's batch, counting it, and reports whether the batch
// has reached its room (the caller delivers it).
func (c *conn) addToBatch(off, size int) (full bool) {
	*c.batch = append(*c.batch, MessageSpan{Offset: off, Size: size})
	return c.countBatched(1, size)
}

// offsetIn is where msg starts in in, and whether in holds it (an empty
// msg lies anywhere: at 0).
func offsetIn(in, msg []byte) (off int, inside bool) {
	if len(msg) == 0 {
		return 0, true
	}
	o := uintptr(unsafe.Pointer(unsafe.SliceData(msg))) - uintptr(unsafe.Pointer(unsafe.SliceData(in)))
	if o >= uintptr(len(in)) || uintptr(len(msg)) > uintptr(len(in))-o {
		return 0, false
	}
	return int(o), true
}

// countBatched counts n messages of bytes bytes just added to the read's
// batch, and reports whether the batch has reached its room.
func (c *conn) countBatched(n, bytes int) (full bool) {
	l := c.loop
	l.recvMsgs += uint64(n)
	l.recvBytes += uint64(bytes)
	l.batchRoom -= n
	l.batchRoomBytes -= bytes
	return l.batchRoom <= 0 || l.batchRoomBytes <= 0
}

// startBatch turns batching on for one read if the endpoint wants it. The
// batch lives in the loop (one connection decodes at a time), so an idle
// connection holds none.
func (c *conn) startBatch() {
	c.batch = nil
	if c.plainData && c.ep.batching() {
		c.batch = &c.loop.batch
		c.loop.batchRoom, c.loop.batchRoomBytes = c.ep.batchRoom()
	}
}

func (c *conn) afterFeed(err error) bool {
	if !c.plainData {
		c.sendOwedAck() // one ACK per read, before any CLOSE
	}
	if c.batch != nil {
		ferr := c.flushBatch()
		c.batch = nil
		// A suspension from the decoder (input kept for Replay) must not be
		// lost to an empty flush: reading on would feed the kept input as
		// if it were a partial frame.
		if ferr != nil && (err == nil || err == wire.ErrSuspend) {
			err = ferr
		}
	}
	c.loop.batchIn = nil // may be a kept copy: do not pin it
	if l := c.loop; l.recvMsgs > 0 {
		c.ep.countRecv(c, l.recvMsgs, l.recvBytes)
		l.recvMsgs, l.recvBytes = 0, 0
	}
	if c.discard {
		// Refused, or the peer closed: nothing more is decoded, so a
		// partial frame is dropped and its timer stopped.
		c.dec, c.frameStart = wire.Decoder{}, 0
	}
	switch {
	case err == nil:
		return c.state.Load() != stClosed && !c.discard
	case err == wire.ErrSuspend:
		c.suspended = true
		return false
	case err == errStopFeed:
		return false
	}
	c.protocolError(err)
	return false
}

func (c *conn) onFrame(h wire.Header, p []byte) error {
	if c.plainData && h.Type == wire.TypeData && h.Flags == 0 {
		// The common case, kept short: an open connection without
		// transforms receiving an uncompressed message (the decoder
		// already held it to the agreed limit).
		if c.batch != nil && !c.dec.InPending() {
			// p aliases the read buffer: it stays valid until the end of
			// this read, when the batch is delivered, or until the batch
			// is full: then it goes at once, and a pause its handler asked
			// for stops the read at this message. (One that does not lie
			// in the read, never expected, goes alone, below.)
			if off, inside := offsetIn(c.loop.batchIn, p); inside {
				if c.addToBatch(off, len(p)) {
					return c.flushBatch()
				}
				return nil
			}
		}
		l := c.loop
		l.recvMsgs++
		l.recvBytes += uint64(len(p))
		return c.deliverOne(p)
	}
	// Anything else (a CLOSE, say) must come after the messages before it.
	if err := c.flushBatch(); err != nil {
		return err
	}
	switch c.state.Load() {
	case stClosed:
		return errStopFeed
	case stHandshake:
		return c.ep.handshake(c, h, p)
	}
	switch h.Type {
	case wire.TypeData:
		a := c.ackOf()
		if a != nil && c.sess != nil && c.closeSent {
			// after its CLOSE a server cannot acknowledge, so it
			// does not deliver; the client sends the message again.
			return nil
		}
		msg, err := c.decodeData(h, p)
		if err != nil {
			return err
		}
		if a != nil {
			return c.deliverAcked(a, msg)
		}
		c.loop.recvMsgs++
		c.loop.recvBytes += uint64(len(msg))
		return c.deliverOne(msg)
	case wire.TypeAck:
		seq, err := wire.ParseAck(p)
		if err != nil {
			return err
		}
		if a := c.ackOf(); a != nil {
			return c.ackReceived(a, seq)
		}
	case wire.TypePing:
		if c.sendControl(wire.TypePong, p) > c.cfg.SendQueueLimit {
			// A peer that pings and does not read: stop reading it until
			// its replies drain (the send-stall timeout ends it if never).
			c.setPaused(pauseBackpressure, true)
			return wire.ErrSuspend
		}
	case wire.TypePong:
	case wire.TypeClose:
		code, reason, err := wire.ParseCodeReason(wire.TypeClose, p)
		if err != nil {
			return err
		}
		c.peerClosed(code, reason)
		return errStopFeed
	default:
		return &wire.ProtocolError{Detail: "unexpected " + wire.TypeName(h.Type) + " frame"}
	}
	return nil
}

// peerClosed handles the peer's CLOSE. If we had not closed yet, the rest
// of our queue is flushed in full (on writability, not in one write), then
// our CLOSE and FIN follow, bounded by the shutdown timeout.
func (c *conn) peerClosed(code uint16, reason string) {
	if reason == "" {
		reason = "closed by peer"
	}
	c.peerRefused = refusedByPeer(code, reason)
	if !c.closeSent {
		c.setCloseWhy(kindOfCloseCode(code), reason)
		c.sendOwedAck()
		c.sendControl(wire.TypeClose, wire.AppendCodeReason(nil, wire.CloseNormal, wire.ReasonNormal))
		c.closeAndFlush()
	}
	if c.state.Load() == stClosed {
		return
	}
	c.peerDone, c.discard = true, true
	if c.finSent {
		c.finish(c.closeWhy())
	}
}

// deliverOne delivers a message that does not outlive this frame (it aliases
// a scratch or carry-over buffer): in batching mode, after the batch so far,
// as a batch of its own.
func (c *conn) deliverOne(msg []byte) error {
	if c.batch == nil {
		c.ep.deliver(c, msg)
		return c.afterDeliver()
	}
	if err := c.flushBatch(); err != nil {
		return err
	}
	*c.batch = append(*c.batch, MessageSpan{Size: len(msg)})
	return c.flushBatchIn(msg)
}

// flushBatch delivers the batched messages, which alias the decoder's input.
func (c *conn) flushBatch() error { return c.flushBatchIn(c.loop.batchIn) }

// flushBatchIn delivers the batched messages, every one a span of in.
func (c *conn) flushBatchIn(in []byte) error {
	if c.batch == nil || len(*c.batch) == 0 {
		return nil
	}
	msgs := *c.batch
	c.ep.deliverBatch(c, in, msgs)
	*c.batch = msgs[:0]
	c.loop.batchRoom, c.loop.batchRoomBytes = c.ep.batchRoom()
	return c.afterDeliver()
}

// afterDeliver stops the decoder when the handler closed the connection or
// paused reading.
func (c *conn) afterDeliver() error {
	if c.state.Load() == stClosed {
		return errStopFeed
	}
	if c.paused != 0 {
		return wire.ErrSuspend
	}
	return nil
}

// decodeData undoes compression and transforms, into the loop's scratch
// buffers; the result is valid until the next frame. Every stage is held
// to the limit the connection agreed.
func (c *conn) decodeData(h wire.Header, p []byte) ([]byte, error) {
	params := c.params.Load()
	limit := c.cfg.MessageSizeLimit
	msg := p
	cur := 0
	if h.Flags&wire.FlagCompressed != 0 {
		out, err := decompress(params.codec, c.loop.scratch(cur), p, limit+len(params.xforms)*transformSlack)
		if err != nil {
			return nil, err
		}
		c.loop.keepScratch(cur, out)
		msg, cur = out, 1
	}
	for i := len(params.xforms) - 1; i >= 0; i-- {
		stageLimit := limit + i*transformSlack
		out, err := params.xforms[i].Decode(c.loop.scratch(cur), msg, stageLimit)
		if err == nil && len(out) > stageLimit {
			err = errors.New("produced " + formatSizes(len(out), stageLimit))
		}
		if err != nil {
			return nil, &transformError{name: params.xformNames[i], err: err}
		}
		c.loop.keepScratch(cur, out)
		msg, cur = out, 1-cur
	}
	if len(msg) > limit {
		return nil, &wire.TooLargeError{Size: uint64(len(msg)), Limit: uint64(limit)}
	}
	return msg, nil
}

// beginClose starts a graceful close: queued data, then CLOSE, then FIN,
// then wait for the peer's CLOSE or EOF, delivering what it still sends;
// bounded in all by the shutdown timeout.
func (c *conn) beginClose(code uint16, reason string, kind error) {
	st := c.state.Load()
	if st == stClosed || c.closeSent {
		return
	}
	if st == stConnecting {
		c.finish(kind, reason)
		return
	}
	c.setCloseWhy(kind, reason)
	c.sendOwedAck()
	c.sendControl(wire.TypeClose, wire.AppendCodeReason(nil, code, reason))
	c.closeAndFlush()
}

// reject answers the handshake with REJECT and closes like beginClose; the
// peer is read only in discard mode from then on.
func (c *conn) reject(code uint16, reason string, kind error) {
	c.rejecting, c.discard = true, true
	c.setCloseWhy(kind, reason)
	c.queueReject(code, reason)
	c.closeAndFlush()
}

// queueReject queues REJECT and counts it in the server's statistics: the
// count is of peers sent a REJECT, not of handshakes that did not finish.
func (c *conn) queueReject(code uint16, reason string) {
	c.mu.Lock()
	closed := c.sendClosed
	c.mu.Unlock()
	if closed {
		return
	}
	c.sendControl(wire.TypeReject, wire.AppendCodeReason(nil, code, reason))
	if c.sess != nil {
		c.sess.server().counters.rejected.Add(1)
	}
}

// refuseNow answers a pending handshake with REJECT and closes at once, with
// one best-effort write and no linger: used when pending handshakes are
// over their bounds and when the server stops. It reports whether the
// connection was still handshaking (and is now refused).
func (c *conn) refuseNow(code uint16, reason string, kind error) bool {
	if c.state.Load() != stHandshake || c.closeSent {
		return false
	}
	c.rejecting = true
	c.queueReject(code, reason)
	c.flushBestEffort()
	c.finish(kind, reason)
	return true
}

func (c *conn) closeAndFlush() {
	c.mu.Lock()
	c.sendClosed = true
	c.mu.Unlock()
	c.closeSent = true
	c.state.Store(stClosing)
	c.deadline = mono(c.loop.now.Add(c.cfg.ShutdownTimeout))
	c.flush()
}

// protocolError closes after telling the peer why, without waiting. Before
// the server has sent WELCOME every error is answered with REJECT.
func (c *conn) protocolError(err error) {
	kind, code, reason := kindOfWireError(err)
	if c.state.Load() == stHandshake && !c.closeSent && c.sess != nil {
		c.reject(wire.RejectBadHello, wire.Reason(wire.ReasonBadHello, wireDetail(err)), kind)
		return
	}
	c.sendOwedAck()
	c.sendControl(wire.TypeClose, wire.AppendCodeReason(nil, code, reason))
	c.flushBestEffort()
	c.finish(kind, reason)
}

// timeoutClose ends a connection for a timeout with CLOSE 1008, without
// waiting for the peer.
func (c *conn) timeoutClose(reason string) {
	c.sendOwedAck()
	c.sendControl(wire.TypeClose, wire.AppendCodeReason(nil, wire.CloseTimeout, reason))
	c.flushBestEffort()
	c.finish(ErrTimeout, reason)
}

// flushBestEffort tries one round of writes before an abrupt close.
func (c *conn) flushBestEffort() {
	c.mu.Lock()
	c.takeOut()
	c.mu.Unlock()
	if c.woff < len(c.wbuf) {
		n, _ := sock.Write(int(c.fd), c.wbuf[c.woff:])
		if n > 0 {
			c.woff += n
		}
	}
}

// abort closes at once.
func (c *conn) abort(reason string) { c.finish(ErrClosed, reason) }

// finish releases the connection and reports it closed, exactly once.
func (c *conn) finish(kind error, reason string) {
	if c.state.Swap(stClosed) == stClosed {
		return
	}
	l := c.loop
	l.unregisterConn(c)
	sock.Close(int(c.fd))
	l.nconns.Add(-1)
	c.mu.Lock()
	c.sendClosed = true
	undelivered := countDataFrames(c.wbuf[min(c.woff, len(c.wbuf)):]) + countDataFrames(c.out)
	if (c.rejecting || !c.wasOpen) && c.dial != nil {
		undelivered = max(undelivered, int(c.dial.earlyData))
	}
	if p := c.params.Load(); p != nil && p.ack != nil {
		// A client still holds its unacknowledged messages; a
		// server reports those the client did not confirm (N-4.13).
		undelivered = 0
		if c.sess != nil {
			undelivered = p.ack.unconfirmed()
		}
	}
	c.wbuf, c.out = nil, nil
	c.queued.Store(0)
	c.outBusy.Store(false)
	if c.spaceCh != nil {
		close(c.spaceCh)
		c.spaceCh = nil
	}
	c.mu.Unlock()
	c.dec = wire.Decoder{} // drop a partial frame's buffer
	if kind == nil {
		kind = ErrClosed
	}
	c.ep.closed(c, kind, reason, undelivered)
}

// countDataFrames counts the DATA frames that start in b. A frame already
// partly written counts: its message did not arrive whole.
func countDataFrames(b []byte) int {
	n := 0
	for len(b) >= wire.HeaderSize {
		if b[4] == wire.TypeData {
			n++
		}
		size := wire.HeaderSize + int(uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))
		if size > len(b) {
			break
		}
		b = b[size:]
	}
	return n
}

// tick runs the connection's timers; on the loop goroutine. Timers of the
// peer's behaviour (idle, frame) do not run while reading is paused by us.
func (c *conn) tick(now time.Time) {
	c.trimBuffers()
	st := c.state.Load()
	t := mono(now)
	if c.deadline != 0 && t > c.deadline {
		switch {
		case st == stClosing:
			c.finish(c.closeWhy())
		case c.sess != nil:
			c.deadline = 0
			c.reject(wire.RejectHandshakeTimeout, wire.ReasonHandshakeTimeout, ErrTimeout)
		default:
			c.finish(ErrTimeout, "connect timeout")
		}
		return
	}
	if st == stConnecting || st == stClosed {
		return
	}
	if stall := c.cfg.SendStallTimeout; stall > 0 && c.wantWrite && time.Duration(t-c.writeWait) >= stall {
		c.timeoutClose(wire.ReasonPeerNotReading)
		return
	}
	if c.paused != 0 {
		c.heartbeatWhilePaused(t)
		return
	}
	if ft := c.cfg.FrameTimeout; ft > 0 && c.frameStart != 0 && st != stHandshake && time.Duration(t-c.frameStart) >= ft {
		c.timeoutClose(wire.ReasonFrameTimeout)
		return
	}
	if st == stOpen {
		c.idleTick(t)
	}
}

// idleTick closes a connection silent for its own idle timeout, and pings
// after the heartbeat interval of silence.
func (c *conn) idleTick(t int64) {
	since := time.Duration(t - c.lastRecv)
	if idle := c.cfg.IdleTimeout; idle > 0 && since >= idle {
		// The peer is presumed gone: tell it (best effort) and release.
		c.timeoutClose(wire.ReasonIdleTimeout)
		return
	}
	if ping := time.Duration(c.pingEvery); ping > 0 && since >= ping && time.Duration(t-c.lastPing) >= ping {
		c.lastPing = t
		c.sendControl(wire.TypePing, nil)
	}
}

// heartbeatWhilePaused keeps pinging an open peer while we do not read it,
// so that the pause (ours) does not make the peer time us out.
func (c *conn) heartbeatWhilePaused(t int64) {
	if ping := time.Duration(c.pingEvery); c.state.Load() == stOpen && ping > 0 && time.Duration(t-c.lastPing) >= ping {
		c.lastPing = t
		c.sendControl(wire.TypePing, nil)
	}
}

// trimBuffers releases the send buffers of a connection that wrote nothing
// since the previous tick, so an idle connection holds none; on the loop
// goroutine.
func (c *conn) trimBuffers() {
	if c.wroteRecently {
		c.wroteRecently = false
		return
	}
	if c.woff == len(c.wbuf) && c.wbuf != nil {
		c.wbuf, c.woff = nil, 0
	}
	c.mu.Lock()
	if len(c.out) == 0 && c.out != nil {
		c.out = nil
	}
	c.mu.Unlock()
}

// updateInterest tells the poller what the connection waits for: reading
// unless paused or the peer's EOF was seen, writing while writes block.
func (c *conn) updateInterest() {
	c.loop.poller.Modify(int(c.fd), c.token(), c.paused == 0 && !c.peerDone, c.wantWrite)
}

// token is what the poller reports with the connection's events.
func (c *conn) token() uint32 { return uint32(c.slot) + 1 }

// setPaused adds or removes one pause reason; on the loop goroutine.
// Reading stops when the first reason is added and resumes when the last is
// removed; the idle and frame timers skip the time in between.
func (c *conn) setPaused(reason uint8, on bool) {
	st := c.state.Load()
	if st == stClosed {
		return
	}
	was := c.paused
	if on {
		c.paused |= reason
	} else {
		c.paused &^= reason
	}
	if (was == 0) == (c.paused == 0) {
		return
	}
	now := mono(c.loop.now)
	if c.paused != 0 {
		c.pausedAt = now
	} else {
		c.skipPausedTime(now - c.pausedAt)
	}
	if st != stConnecting {
		c.updateInterest()
	}
	if c.paused == 0 && c.suspended {
		c.suspended = false
		c.startBatch()
		c.loop.batchIn = c.dec.Kept() // what Replay feeds, and its frames alias
		c.afterFeed(c.dec.Replay(c.onFrame))
	}
}

// skipPausedTime moves the peer-behaviour timers forward by the time
// reading was paused by us.
func (c *conn) skipPausedTime(d int64) {
	c.lastRecv += d
	if c.frameStart != 0 {
		c.frameStart += d
	}
}

// pauseFor applies the application's side of a pause reason: at once on
// c's loop, waiting off the loops (see runOnLoopSync), so that no message
// is delivered after a pause returns; a resume is posted.
func (c *conn) pauseFor(r PauseReason, on bool) {
	bits := uint8(r) & (pauseHost | pauseQueue)
	if bits == 0 {
		return
	}
	if on {
		c.runOnLoopSync(func() { c.setPaused(bits, true) })
	} else {
		c.runOnLoop(func() { c.setPaused(bits, false) })
	}
}

// runOnLoopSync is runOnLoop that, called from outside every event loop,
// returns only once fn has run (or the loop has exited). From another loop
// it does not wait.
func (c *conn) runOnLoopSync(fn func()) {
	if c.loop.onLoop() {
		fn()
		return
	}
	if onAnyLoop() {
		c.loop.post(fn)
		return
	}
	done := make(chan struct{})
	if c.loop.post(func() { fn(); close(done) }) {
		<-done
	}
}

// runOnLoop runs fn on c's loop: at once when called from that loop (inside
// a handler), otherwise as a posted task.
func (c *conn) runOnLoop(fn func()) {
	if c.loop.onLoop() {
		fn()
		return
	}
	c.loop.post(fn)
}
