package core

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

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
	// lingerTimeout bounds how long a closing connection waits for the
	// peer's EOF after our FIN, so a silent peer cannot hold the fd.
	lingerTimeout = 2 * time.Second
	// transformSlack lets transformed frames grow a little beyond the
	// message limit (a cipher's MAC, say); the decoded size is checked exactly.
	transformSlack = 64 << 10
)

// errStopFeed ends decoding of the current read: the connection closed.
var errStopFeed = errors.New("connection closed")

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
	// deliverBatch hands over messages decoded from one read, in order.
	deliverBatch(c *conn, msgs [][]byte)
	// closed reports the end of the connection, exactly once.
	closed(c *conn, kind error, reason string, undelivered int)
	// countRecv adds the messages and bytes decoded from one read.
	countRecv(c *conn, msgs, bytes uint64)
}

// connParams are the options agreed in the handshake; nil before that.
type connParams struct {
	codec       byte
	minCompress int
	xforms      []Transform
	peerMax     int
}

// conn is one TCP connection owned by a loop.
type conn struct {
	loop   *loop
	fd     int
	ep     endpoint
	cfg    *TransportConfig
	sess   *Session // server side only
	remote netip.AddrPort
	local  netip.AddrPort

	state  atomic.Int32
	params atomic.Pointer[connParams]

	// Loop-owned.
	dec           wire.Decoder
	wbuf          []byte
	woff          int
	wroteRecently bool      // a flush completed since the last tick (see trimBuffers)
	plainData     bool      // open, no transforms: onFrame's fast path applies
	batch         *[][]byte // during a read in batching mode: the loop's batch
	wantWrite     bool
	readPaused    bool
	suspended     bool
	rejecting     bool
	closeSent     bool
	finSent       bool
	wasOpen       bool
	lastRecv      int64 // mono time of the last read
	pinged        bool
	deadline      int64 // mono time of the handshake, flush or linger deadline; 0: none
	closeKind     error
	closeWhy      string
	recvMsgs      uint64
	recvBytes     uint64
	outcome       chan error // client side: the dial waiting for this attempt
	reconnect     bool

	// Shared with senders, under mu.
	mu         sync.Mutex
	out        []byte
	queued     int
	sendClosed bool
	dirtyMark  bool
	earlyData  int
	spaceCh    chan struct{}
}

func newConn(l *loop, fd int, ep endpoint, cfg *TransportConfig, state int32) *conn {
	c := &conn{loop: l, fd: fd, ep: ep, cfg: cfg}
	c.state.Store(state)
	c.dec.DataLimit = uint32(cfg.MessageSizeLimit)
	if len(cfg.Transforms) > 0 {
		c.dec.DataLimit += transformSlack
	}
	l.nconns.Add(1)
	return c
}

// attach registers the connection with its loop; on the loop goroutine.
func (c *conn) attach() error {
	l := c.loop
	c.lastRecv = mono(l.now)
	if err := l.register(c.fd, c, c.state.Load() == stConnecting); err != nil {
		l.nconns.Add(-1)
		sock.Close(c.fd)
		c.state.Store(stClosed)
		return err
	}
	c.wantWrite = c.state.Load() == stConnecting
	l.conns[c] = struct{}{}
	return nil
}

// send queues one message from any goroutine. With timeout > 0 it waits that
// long for room below the high-water mark instead of failing at once.
func (c *conn) send(msg []byte, timeout time.Duration, force bool) error {
	p := c.params.Load()
	limit := c.cfg.MessageSizeLimit
	if p != nil {
		limit = p.peerMax
	}
	if len(msg) > limit {
		return newError("send", c.remote.String(), ErrTooLarge, "", nil)
	}
	body := msg
	if p != nil && len(p.xforms) > 0 {
		var err error
		if body, err = encodeTransforms(p.xforms, msg); err != nil {
			return newError("send", c.remote.String(), ErrTransform, "", err)
		}
	}
	frameLen := wire.HeaderSize + len(body)
	c.mu.Lock()
	if !force {
		if err := c.waitForRoom(frameLen, timeout); err != nil {
			c.mu.Unlock()
			return err
		}
	}
	if c.sendClosed {
		c.mu.Unlock()
		return newError("send", c.remote.String(), ErrClosed, "connection closed", nil)
	}
	start := len(c.out)
	c.out = append(c.out, 0, 0, 0, 0, 0, 0)
	var flags byte
	if p != nil && p.codec != wire.CodecNone && len(body) >= p.minCompress {
		c.out = compress(p.codec, c.out, body)
		if len(c.out)-start-wire.HeaderSize < len(body) {
			flags = wire.FlagCompressed
		} else {
			c.out = append(c.out[:start+wire.HeaderSize], body...)
		}
	} else {
		c.out = append(c.out, body...)
	}
	wire.PutHeader(c.out[start:], len(c.out)-start-wire.HeaderSize, wire.TypeData, flags)
	c.queued += len(c.out) - start
	if p == nil {
		c.earlyData++
	}
	c.unlockQueued()
	return nil
}

// waitForRoom blocks (mu held, released while waiting) until frameLen fits
// under the high-water mark. An empty queue always takes one message, so a
// message larger than the mark can still be sent.
func (c *conn) waitForRoom(frameLen int, timeout time.Duration) error {
	var deadline time.Time
	for !c.sendClosed && c.queued > 0 && c.queued+frameLen > c.cfg.SendQueueLimit {
		if timeout <= 0 {
			return newError("send", c.remote.String(), ErrBackpressure, "", nil)
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(timeout)
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			return newError("send", c.remote.String(), ErrTimeout, "send queue stayed full", nil)
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
	return nil
}

// sendControl queues a control frame; it ignores the high-water mark.
func (c *conn) sendControl(typ byte, payload []byte) {
	c.mu.Lock()
	if c.sendClosed {
		c.mu.Unlock()
		return
	}
	c.out = wire.AppendFrame(c.out, typ, 0, payload)
	c.queued += wire.HeaderSize + len(payload)
	c.unlockQueued()
}

// unlockQueued releases mu after a frame was queued and asks the loop to
// flush, once per flush.
func (c *conn) unlockQueued() {
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
}

func (c *conn) writeOut() {
	written := 0
	for c.woff < len(c.wbuf) {
		n, err := sock.Write(c.fd, c.wbuf[c.woff:])
		if n > 0 {
			c.woff += n
			written += n
		}
		if err == unix.EAGAIN {
			if !c.wantWrite {
				c.wantWrite = true
				c.loop.poller.Modify(c.fd, !c.readPaused, true)
			}
			break
		}
		if err != nil {
			c.noteWritten(written)
			c.finish(ErrClosed, "write failed: "+err.Error())
			return
		}
	}
	c.noteWritten(written)
	if c.woff < len(c.wbuf) {
		return
	}
	// The buffer is kept however large it grew: releasing it here made a
	// busy sender regrow (and page-fault) megabytes per flush. tick releases
	// the buffers of connections that stopped writing.
	c.wbuf, c.woff = c.wbuf[:0], 0
	c.wroteRecently = true
	if c.wantWrite {
		c.wantWrite = false
		c.loop.poller.Modify(c.fd, !c.readPaused, false)
	}
	if c.closeSent && !c.finSent && c.queuedEmpty() {
		c.finSent = true
		sock.ShutdownWrite(c.fd)
		c.deadline = mono(c.loop.now.Add(lingerTimeout))
	}
}

func (c *conn) queuedEmpty() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.out) == 0
}

func (c *conn) noteWritten(n int) {
	if n == 0 {
		return
	}
	c.mu.Lock()
	c.queued -= n
	if c.spaceCh != nil {
		close(c.spaceCh)
		c.spaceCh = nil
	}
	c.mu.Unlock()
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
	st := c.state.Load()
	if st == stConnecting || st == stClosed || c.readPaused {
		return
	}
	buf := c.loop.readBuf
	for i := 0; i < maxReadsPerEvent; i++ {
		n, err := sock.Read(c.fd, buf)
		if n > 0 {
			c.lastRecv, c.pinged = mono(c.loop.now), false
			if !c.feed(buf[:n]) || n < len(buf) {
				return
			}
			continue
		}
		switch {
		case err == unix.EAGAIN:
		case err == nil:
			c.peerGone("connection closed by peer")
		default:
			c.peerGone("connection reset by peer")
		}
		return
	}
}

// peerGone handles EOF or a reset. After our own CLOSE it is the expected end.
func (c *conn) peerGone(reason string) {
	if c.closeSent {
		c.finish(c.closeKind, c.closeWhy)
		return
	}
	c.finish(ErrClosed, reason)
}

// feed decodes one read; it reports whether reading may continue.
func (c *conn) feed(b []byte) bool {
	c.startBatch()
	err := c.dec.Feed(b, c.onFrame)
	return c.afterFeed(err)
}

// startBatch turns batching on for one read if the endpoint wants it. The
// batch lives in the loop (one connection decodes at a time), so an idle
// connection holds none.
func (c *conn) startBatch() {
	c.batch = nil
	if c.plainData && c.ep.batching() {
		c.batch = &c.loop.batch
	}
}

func (c *conn) afterFeed(err error) bool {
	if c.batch != nil {
		ferr := c.flushBatch()
		c.batch = nil
		if err == nil || err == wire.ErrSuspend {
			err = ferr
		}
	}
	if c.recvMsgs > 0 {
		c.ep.countRecv(c, c.recvMsgs, c.recvBytes)
		c.recvMsgs, c.recvBytes = 0, 0
	}
	switch {
	case err == nil:
		return c.state.Load() != stClosed
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
		// transforms receiving an uncompressed message.
		if len(p) > c.cfg.MessageSizeLimit {
			return wire.ErrTooLarge
		}
		c.recvMsgs++
		c.recvBytes += uint64(len(p))
		if c.batch != nil && !c.dec.InPending() {
			// p aliases the read buffer: it stays valid until the end of
			// this read, when the batch is delivered.
			*c.batch = append(*c.batch, p)
			return nil
		}
		return c.deliverOne(p)
	}
	// Anything else (a CLOSE, say) must come after the messages before it.
	if err := c.flushBatch(); err != nil {
		return err
	}
	if c.rejecting {
		return nil
	}
	switch c.state.Load() {
	case stClosed:
		return errStopFeed
	case stHandshake:
		return c.ep.handshake(c, h, p)
	}
	switch h.Type {
	case wire.TypeData:
		msg, err := c.decodeData(h, p)
		if err != nil {
			return err
		}
		c.recvMsgs++
		c.recvBytes += uint64(len(msg))
		return c.deliverOne(msg)
	case wire.TypePing:
		c.sendControl(wire.TypePong, p)
	case wire.TypePong:
	case wire.TypeClose:
		_, reason, err := wire.ParseCodeReason(p)
		if err != nil {
			return err
		}
		if reason == "" {
			reason = "closed by peer"
		}
		if !c.closeSent {
			c.closeKind, c.closeWhy = ErrClosed, reason
		}
		c.flushBestEffort()
		c.finish(c.closeKind, c.closeWhy)
		return errStopFeed
	default:
		return &wire.ProtocolError{Detail: "unexpected " + wire.TypeName(h.Type) + " frame"}
	}
	return nil
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
	*c.batch = append(*c.batch, msg)
	return c.flushBatch()
}

// flushBatch delivers the batched messages.
func (c *conn) flushBatch() error {
	if c.batch == nil || len(*c.batch) == 0 {
		return nil
	}
	msgs := *c.batch
	c.ep.deliverBatch(c, msgs)
	clear(msgs) // drop the references into the read buffer
	*c.batch = msgs[:0]
	return c.afterDeliver()
}

// afterDeliver stops the decoder when the handler closed the connection or
// paused reading.
func (c *conn) afterDeliver() error {
	if c.state.Load() == stClosed {
		return errStopFeed
	}
	if c.readPaused {
		return wire.ErrSuspend
	}
	return nil
}

// decodeData undoes compression and transforms, into the loop's scratch
// buffers; the result is valid until the next frame.
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
	if params != nil {
		for i := len(params.xforms) - 1; i >= 0; i-- {
			out, err := params.xforms[i].Decode(c.loop.scratch(cur), msg, limit+i*transformSlack)
			if err != nil {
				if !errors.Is(err, ErrTransform) {
					err = fmt.Errorf("%w: %w", ErrTransform, err)
				}
				return nil, err
			}
			c.loop.keepScratch(cur, out)
			msg, cur = out, 1-cur
		}
	}
	if len(msg) > limit {
		return nil, wire.ErrTooLarge
	}
	return msg, nil
}

// beginClose starts a graceful close: queued data, then CLOSE, then FIN,
// then wait for the peer's EOF (bounded by the shutdown and linger timeouts).
func (c *conn) beginClose(code uint16, reason string, kind error) {
	st := c.state.Load()
	if st == stClosed || c.closeSent {
		return
	}
	if st == stConnecting {
		c.finish(kind, reason)
		return
	}
	c.closeKind, c.closeWhy = kind, reason
	c.sendControl(wire.TypeClose, wire.AppendCodeReason(nil, code, reason))
	c.closeAndFlush()
}

// reject answers the handshake with REJECT and closes like beginClose.
func (c *conn) reject(code uint16, reason string, kind error) {
	c.rejecting = true
	c.closeKind, c.closeWhy = kind, reason
	c.sendControl(wire.TypeReject, wire.AppendCodeReason(nil, code, reason))
	c.closeAndFlush()
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

// protocolError closes after telling the peer why, without waiting.
func (c *conn) protocolError(err error) {
	kind, code, reason := kindOfWireError(err)
	if c.state.Load() == stHandshake && !c.closeSent && c.sess != nil {
		c.reject(wire.RejectBadHello, "bad hello: "+reason, kind)
		return
	}
	c.sendControl(wire.TypeClose, wire.AppendCodeReason(nil, code, reason))
	c.flushBestEffort()
	c.finish(kind, reason)
}

// flushBestEffort tries one round of writes before an abrupt close.
func (c *conn) flushBestEffort() {
	c.mu.Lock()
	c.takeOut()
	c.mu.Unlock()
	if c.woff < len(c.wbuf) {
		n, _ := sock.Write(c.fd, c.wbuf[c.woff:])
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
	l.unregister(c.fd)
	sock.Close(c.fd)
	delete(l.conns, c)
	l.nconns.Add(-1)
	c.mu.Lock()
	c.sendClosed = true
	undelivered := countDataFrames(c.wbuf[min(c.woff, len(c.wbuf)):]) + countDataFrames(c.out)
	if c.rejecting || !c.wasOpen {
		undelivered = max(undelivered, c.earlyData)
	}
	c.wbuf, c.out, c.queued = nil, nil, 0
	if c.spaceCh != nil {
		close(c.spaceCh)
		c.spaceCh = nil
	}
	c.mu.Unlock()
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

// tick runs the connection's timers; on the loop goroutine.
func (c *conn) tick(now time.Time) {
	c.trimBuffers()
	st := c.state.Load()
	if c.deadline != 0 && mono(now) > c.deadline {
		switch {
		case st == stClosing:
			c.finish(c.closeKind, c.closeWhy)
		case c.sess != nil:
			c.deadline = 0
			c.reject(wire.RejectHandshakeTimeout, "handshake timeout", ErrTimeout)
		default:
			c.finish(ErrTimeout, "connect timeout")
		}
		return
	}
	idle := c.cfg.IdleTimeout
	if st != stOpen || idle <= 0 {
		return
	}
	switch since := time.Duration(mono(now) - c.lastRecv); {
	case since >= idle:
		c.beginClose(wire.CloseIdleTimeout, "idle timeout", ErrTimeout)
	case since >= idle/2 && !c.pinged:
		c.pinged = true
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

// setReadPaused stops or resumes reading; on the loop goroutine.
func (c *conn) setReadPaused(paused bool) {
	if c.readPaused == paused || c.state.Load() == stClosed {
		return
	}
	c.readPaused = paused
	if c.state.Load() != stConnecting {
		c.loop.poller.Modify(c.fd, !paused, c.wantWrite)
	}
	if !paused && c.suspended {
		c.suspended = false
		c.startBatch()
		c.afterFeed(c.dec.Replay(c.onFrame))
	}
}

// runOnLoopSync is runOnLoop that, called from outside every event loop,
// returns only once fn has run (or the loop has exited). From another loop
// it does not wait.
func (c *conn) runOnLoopSync(fn func()) {
	if c.loop.goid.Load() == goid() {
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
	if c.loop.goid.Load() == goid() {
		fn()
		return
	}
	c.loop.post(fn)
}
