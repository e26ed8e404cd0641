package core

import (
	"cmp"
	"container/list"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/netsys/netsys/core/internal/wire"
)

// Acknowledged delivery (docs/protocol.md section 4.2). The behaviour lives
// here and in the few hooks of conn, Client and Server that call it:
//
//   - ackState is the per-connection state of an acknowledged connection,
//     reached through its connParams (nil on every ordinary connection, so
//     the plain paths test one pointer);
//   - the client keeps its unacknowledged messages in its reconnect queue
//     (Client.queue), numbered from Client.nextSeq backwards;
//   - the server keeps, per client stream, the highest number it delivered
//     (streamTable), which is how replays after a reconnect are dropped.

// fallbackText is the error a client reports when it offered acknowledged
// delivery and the server did not agree (N-4.6).
const fallbackText = "acknowledged delivery not agreed by the server: default delivery guarantees apply"

// tooBigText is the reason of the CLOSE a client sends when a held message
// is larger than the server of a new connection accepts (N-4.19).
const tooBigText = "message too large for the server"

// ackState is what one acknowledged connection knows of both streams.
type ackState struct {
	// This side's stream on this connection: sent is n, the
	// highest number given to a DATA sent here, acked is L. On a client
	// they are guarded by Client.mu, on a server by conn.mu.
	sent, acked uint64
	// Server only, under conn.mu: the cost (payload bytes, at least 1) of
	// each message sent and not acknowledged, oldest first from head, and
	// their sum, bounded by AckBufferBytes.
	costs []int
	head  int
	held  int

	// The peer's stream, owned by the loop: next is the number the peer's
	// next DATA gets, owed says an ACK(next-1) is due for
	// the DATA of the current read.
	next uint64
	owed bool

	// Server only: the client's stream, shared by its connections.
	stream *ackStream
	// Client only, under Client.mu: the number of a held message larger
	// than this connection's server accepts, sent neither here nor later
	// (N-4.19); 0 when there is none.
	tooBig uint64
}

// ackCost is what a message counts against AckBufferBytes: its payload, at
// least ackMinCost, about what keeping one costs (a client's queue entry, a
// server's cost entry and its share of the slice), so that the bound also
// holds the memory of many tiny or empty messages.
func ackCost(n int) int { return max(n, ackMinCost) }

// ackMinCost is the least a held message counts against AckBufferBytes.
const ackMinCost = 32

// ackOf returns the connection's acknowledged-delivery state, nil on an
// ordinary connection or before the handshake.
func (c *conn) ackOf() *ackState {
	if p := c.params.Load(); p != nil {
		return p.ack
	}
	return nil
}

// sendOwedAck sends the ACK owed for the DATA processed so far, once; on
// the loop goroutine. It runs at the end of every read and before every
// CLOSE this side sends; after that CLOSE no ACK goes out.
func (c *conn) sendOwedAck() {
	a := c.ackOf()
	if a == nil || !a.owed || c.closeSent {
		return
	}
	a.owed = false
	var b [wire.AckPayloadSize]byte
	c.sendControl(wire.TypeAck, wire.AppendAck(b[:0], a.next-1))
}

// deliverAcked delivers a DATA of the peer's stream on an acknowledged
// connection: it takes the next number and is acknowledged at the end of
// the read. On a server a number the stream already delivered is a
// duplicate and dropped; the check, the delivery and the update
// are one step for all connections of the stream.
func (c *conn) deliverAcked(a *ackState, msg []byte) error {
	seq := a.next
	a.next++
	a.owed = true
	st := a.stream
	if st == nil {
		c.loop.recvMsgs++
		c.loop.recvBytes += uint64(len(msg))
		return c.deliverOne(msg)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if seq <= st.delivered {
		c.sess.server().counters.duplicates.Add(1)
		return nil
	}
	st.delivered = seq
	c.loop.recvMsgs++
	c.loop.recvBytes += uint64(len(msg))
	return c.deliverOne(msg)
}

// checkAck applies to ACK(s) with the level L and the highest number
// sent n of one side's stream on one connection.
func checkAck(s, level, sent uint64) error {
	switch {
	case s > sent:
		return &wire.ProtocolError{Detail: fmt.Sprintf("ACK %d beyond %d sent", s, sent)}
	case s < level:
		return &wire.ProtocolError{Detail: fmt.Sprintf("ACK %d below %d", s, level)}
	}
	return nil
}

// ackReceived handles ACK(s); on the loop goroutine.
func (c *conn) ackReceived(a *ackState, s uint64) error {
	if c.sess == nil {
		if cl, ok := c.ep.(*Client); ok {
			return cl.acked(c, a, s)
		}
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := checkAck(s, a.acked, a.sent); err != nil {
		return err
	}
	for ; a.acked < s; a.acked++ {
		a.held -= a.costs[a.head]
		a.head++
	}
	if a.head == len(a.costs) {
		a.costs, a.head = a.costs[:0], 0
	} else if a.head > 1024 && a.head > len(a.costs)/2 {
		a.costs, a.head = append(a.costs[:0], a.costs[a.head:]...), 0
	}
	return nil
}

// holdSent accounts for a server DATA about to be queued (conn.mu held):
// it gets the next number unless the unacknowledged bytes would pass
// AckBufferBytes (N-4.13), when the send fails at once.
func (c *conn) holdSent(a *ackState, msgLen int) error {
	cost := ackCost(msgLen)
	if a.held > 0 && a.held+cost > c.cfg.AckBufferBytes {
		return newError("send", c.remoteAddr().String(), ErrBackpressure,
			fmt.Sprintf("acknowledgement buffer full (%d bytes sent and not acknowledged)", a.held), nil)
	}
	a.costs = append(a.costs, cost)
	a.held += cost
	a.sent++
	return nil
}

// unconfirmed is how many messages a server sent on the connection that the
// client has not acknowledged (conn.mu held): reported when it ends (N-4.13).
func (a *ackState) unconfirmed() int { return int(a.sent - a.acked) }

// maxAckStreams bounds the streams a server remembers (N-4.12).
const maxAckStreams = 65536

// ackStream is what a server remembers of one client stream.
type ackStream struct {
	id uint64
	// mu makes check, delivery and update one step.
	mu        sync.Mutex
	delivered uint64
	// Under streamTable.mu.
	conns int
	elem  *list.Element
}

// streamTable is a server's streams, least recently used last.
type streamTable struct {
	mu  sync.Mutex
	m   map[uint64]*ackStream
	lru list.List
	// limit is maxAckStreams when 0 (tests set a smaller one).
	limit int
}

// open finds or creates the stream of a connection that agreed, and
// returns it with its delivered value for WELCOME. When a new stream needs
// room, the least recently used one without an open connection is
// forgotten (N-4.12).
func (t *streamTable) open(id uint64) (*ackStream, uint64) {
	t.mu.Lock()
	if t.m == nil {
		t.m = make(map[uint64]*ackStream)
	}
	st := t.m[id]
	if st == nil {
		if len(t.m) >= cmp.Or(t.limit, maxAckStreams) {
			for e := t.lru.Back(); e != nil; e = e.Prev() {
				if old := e.Value.(*ackStream); old.conns == 0 {
					t.lru.Remove(e)
					delete(t.m, old.id)
					break
				}
			}
		}
		st = &ackStream{id: id}
		st.elem = t.lru.PushFront(st)
		t.m[id] = st
	} else {
		t.lru.MoveToFront(st.elem)
	}
	st.conns++
	t.mu.Unlock()
	st.mu.Lock()
	d := st.delivered
	st.mu.Unlock()
	return st, d
}

// release notes the end of one of the stream's connections; its last use
// is now (a stream with open connections is never forgotten).
func (t *streamTable) release(st *ackStream) {
	t.mu.Lock()
	st.conns--
	t.lru.MoveToFront(st.elem)
	t.mu.Unlock()
}

// ackOfferError checks the TLV 0x0002 of a HELLO for a server that agrees
// "" when it is good.
func ackOfferError(h *wire.Hello) string {
	switch {
	case len(h.AckValue) < wire.AckOfferSize:
		return "bad acknowledged delivery extension"
	case h.AckStream == 0:
		return "zero stream id"
	case h.AckFirstSeq == 0:
		return "zero first seq"
	}
	return ""
}

// newStreamID draws a client's stream id: random and never 0 (N-4.9).
func newStreamID() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err == nil {
			if id := binary.BigEndian.Uint64(b[:]); id != 0 {
				return id
			}
		}
	}
}

// refusedByPeer reports whether a CLOSE from the server says it refused the
// DATA it stopped at: that message is reported, not sent again.
func refusedByPeer(code uint16, reason string) bool {
	return code == wire.CloseTooLarge ||
		code == wire.CloseInternal && strings.HasPrefix(reason, wire.ReasonTransformFailed)
}

// agreeAck checks WELCOME's TLV 0x0002 for a client that offered it
// and returns the connection's state; on the loop goroutine.
func (cl *Client) agreeAck(c *conn, w *wire.Welcome) (*ackState, error) {
	if len(w.AckValue) < wire.AckAcceptSize {
		return nil, &wire.ProtocolError{Detail: "bad acknowledged delivery extension"}
	}
	cl.mu.Lock()
	sent := cl.nextSeq - 1
	cl.mu.Unlock()
	if w.AckDelivered > sent {
		return nil, &wire.ProtocolError{Detail: fmt.Sprintf("WELCOME delivered %d beyond %d sent", w.AckDelivered, sent)}
	}
	start := max(c.dial.ackFirst, w.AckDelivered+1)
	return &ackState{sent: start - 1, acked: start - 1, next: 1}, nil
}

// replayLocked starts an agreed connection (cl.mu held): the held messages
// the server delivered are dropped, the others sent again in order, up to
// one larger than the server accepts (N-4.19). It reports whether that
// message is first in line, so the connection must end now.
func (cl *Client) replayLocked(c *conn, a *ackState, delivered uint64) (tooBigNow bool) {
	cl.fallbackReported = false
	first := cl.nextSeq - uint64(len(cl.queue))
	if delivered >= first {
		cl.dropFrontLocked(int(min(delivered-first+1, uint64(len(cl.queue)))))
		first = delivered + 1
	}
	limit := c.params.Load().peerMax
	for i, m := range cl.queue {
		seq := first + uint64(i)
		if len(m.data) > limit {
			a.tooBig = seq
			return a.acked+1 == seq
		}
		if c.send(m.data, 0, true) != nil {
			return false // closed meanwhile: held for the next connection
		}
		a.sent = seq
	}
	return false
}

// dropTooBig ends a connection whose next held message is larger than its
// server accepts, once everything before it is acknowledged: the message is
// reported and left out of the next connection (N-4.19).
func (cl *Client) dropTooBig(c *conn) {
	cl.mu.Lock()
	if len(cl.queue) > 0 {
		cl.dropFrontLocked(1)
	}
	cl.mu.Unlock()
	cl.reportError(&UndeliveredError{Count: 1, Reason: tooBigText})
	c.runOnLoop(func() { c.beginClose(wire.CloseNormal, tooBigText, ErrClosed) })
}

// acked handles ACK(s) from the server: the messages up to s are no longer
// held; on the loop goroutine.
func (cl *Client) acked(c *conn, a *ackState, s uint64) error {
	cl.mu.Lock()
	if err := checkAck(s, a.acked, a.sent); err != nil {
		cl.mu.Unlock()
		return err
	}
	a.acked = s
	if first := cl.nextSeq - uint64(len(cl.queue)); s >= first {
		cl.dropFrontLocked(int(min(s-first+1, uint64(len(cl.queue)))))
	}
	tooBig := a.tooBig != 0 && a.acked+1 == a.tooBig
	if tooBig {
		a.tooBig = 0
	}
	cl.mu.Unlock()
	if tooBig {
		cl.dropTooBig(c)
	}
	return nil
}

// heldAfterLocked decides what becomes of the held messages when the
// current connection c ends (cl.mu held, acknowledged mode only): the one a
// server refused is reported (refused), and all of them when no further
// connection will come (held); otherwise they wait for the next one.
func (cl *Client) heldAfterLocked(c *conn) (refused, held int) {
	if !cl.cfg.Acknowledged {
		return 0, 0
	}
	if c.ackOf() != nil && c.peerRefused && len(cl.queue) > 0 {
		cl.dropFrontLocked(1)
		refused = 1
	}
	if !cl.running || c.wasOpen && !cl.cfg.AutoReconnect {
		held = len(cl.queue)
		cl.dropFrontLocked(held)
	}
	return refused, held
}

// sendAcked is Send with Acknowledged: the message is numbered and held
// until acknowledged, and sent at once on an agreed connection.
func (cl *Client) sendAcked(msg []byte, timeout time.Duration) error {
	var deadline time.Time
	for {
		cl.mu.Lock()
		c := cl.ready
		if c != nil && c.ackOf() == nil {
			// A connection that fell back: default delivery (N-4.6).
			cl.mu.Unlock()
			return cl.sendOn(c, msg, timeout)
		}
		err, queueFull := cl.holdLocked(c, msg)
		cl.mu.Unlock()
		if err == nil {
			cl.stats.sent(len(msg))
			return nil
		}
		if !queueFull || timeout <= 0 {
			cl.errors.Add(1)
			return err
		}
		// The connection's send queue is full: wait for room outside
		// Client.mu (the loop takes it to process ACKs), then try again.
		if deadline.IsZero() {
			deadline = time.Now().Add(timeout)
		}
		if err := c.awaitRoom(wire.HeaderSize+len(msg), time.Until(deadline)); err != nil {
			cl.errors.Add(1)
			return err
		}
	}
}

// sendOn sends on a connection without acknowledged delivery.
func (cl *Client) sendOn(c *conn, msg []byte, timeout time.Duration) error {
	if err := c.send(msg, timeout, false); err != nil {
		cl.errors.Add(1)
		return err
	}
	cl.stats.sent(len(msg))
	return nil
}

// holdLocked numbers and holds one message (cl.mu held) and sends it on c,
// an agreed connection, if there is one. queueFull says the failure was
// c's send queue at its mark (SendTimeout may wait for it).
func (cl *Client) holdLocked(c *conn, msg []byte) (err error, queueFull bool) {
	limit := cl.cfg.MessageSizeLimit
	if c != nil {
		limit = c.params.Load().peerMax
	}
	cost := ackCost(len(msg))
	switch {
	case !cl.running || c == nil && !(cl.dialing || cl.cfg.AutoReconnect):
		return newError("send", "", ErrNotConnected, "client is not connected", nil), false
	case len(msg) > limit:
		return newError("send", "", ErrTooLarge, wire.Reason(wire.ReasonTooLarge, formatSizes(len(msg), limit)), nil), false
	case len(cl.queue) > 0 && cl.heldBytes+cost > cl.cfg.AckBufferBytes:
		return newError("send", "", ErrBackpressure,
			fmt.Sprintf("acknowledgement buffer full (%d bytes held)", cl.heldBytes), nil), false
	}
	if c != nil {
		switch err := c.send(msg, 0, false); {
		case err == nil:
			c.ackOf().sent = cl.nextSeq
		case errors.Is(err, ErrBackpressure):
			return err, true
		case !errors.Is(err, ErrClosed):
			return err, false
		}
		// A connection already closing: the message is held for the next.
	}
	// The send time matters only without a connection: when one ends,
	// lastEnd is later than every message sent on it (and time.Now per
	// message was a quarter of this path's cost).
	var at int64
	if c == nil {
		at = mono(time.Now())
	}
	cl.pushLocked(queuedMsg{data: cl.copyHeldLocked(msg), at: at})
	cl.heldBytes += cost
	cl.nextSeq++
	cl.scheduleExpiryLocked()
	return nil, false
}

// awaitRoom waits until a frame of frameLen fits under the send queue's
// mark, up to timeout, without queuing anything.
func (c *conn) awaitRoom(frameLen int, timeout time.Duration) error {
	if timeout <= 0 {
		return newError("send", c.remoteAddr().String(), ErrTimeout, "send queue stayed full", nil)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.reserve(frameLen, timeout, false); err != nil {
		if c.sendClosed {
			return nil // the next attempt reports it
		}
		return err
	}
	c.queued.Add(-int64(frameLen)) // nothing is queued: the room goes back (mu held throughout)
	return nil
}

// scheduleExpiryLocked arms the ReconnectQueueTimeout timer for the oldest
// queued message (cl.mu held). It runs only while no connection (attempt)
// exists: a connection attempt's HELLO already named the oldest message.
func (cl *Client) scheduleExpiryLocked() {
	d := cl.cfg.ReconnectQueueTimeout
	if d <= 0 || cl.expiry != nil || len(cl.queue) == 0 || cl.c != nil || !cl.running {
		return
	}
	due := max(cl.queue[0].at, cl.lastEnd) + int64(d)
	cl.expiry = time.AfterFunc(time.Duration(due-mono(time.Now())), cl.expire)
}

// stopExpiryLocked disarms the timer (cl.mu held).
func (cl *Client) stopExpiryLocked() {
	if cl.expiry != nil {
		cl.expiry.Stop()
		cl.expiry = nil
	}
}

// expire reports and drops the queued messages that waited
// ReconnectQueueTimeout without a connection (N-4.19).
func (cl *Client) expire() {
	cl.mu.Lock()
	cl.expiry = nil
	n := 0
	if cl.c == nil && cl.running {
		now, d := mono(time.Now()), int64(cl.cfg.ReconnectQueueTimeout)
		for n < len(cl.queue) && max(cl.queue[n].at, cl.lastEnd)+d <= now {
			n++
		}
		cl.dropFrontLocked(n)
	}
	cl.scheduleExpiryLocked()
	cl.mu.Unlock()
	if n > 0 {
		cl.reportError(&UndeliveredError{Count: n,
			Reason: fmt.Sprintf("no connection within the reconnect queue timeout (%v)", cl.cfg.ReconnectQueueTimeout)})
	}
}

// Held copies of small messages are cut from shared slabs: one allocation
// per slab instead of one per message. A slab lives while one of its
// messages is held, and the held messages are the oldest ones in order, so
// at most two slabs are partly unused at any time.
const (
	heldSlabSize  = 64 << 10
	heldSlabLimit = 4 << 10 // larger messages get their own copy
)

// copyHeldLocked copies msg for holding (cl.mu held).
func (cl *Client) copyHeldLocked(msg []byte) []byte {
	if len(msg) > heldSlabLimit {
		return append([]byte(nil), msg...)
	}
	if cap(cl.slab)-len(cl.slab) < len(msg) {
		cl.slab = make([]byte, 0, heldSlabSize)
	}
	start := len(cl.slab)
	cl.slab = append(cl.slab, msg...)
	return cl.slab[start:len(cl.slab):len(cl.slab)]
}
