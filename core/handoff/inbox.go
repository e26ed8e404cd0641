package handoff

import (
	"errors"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/netsys/netsys/core"
)

// ErrBusy is returned by Take while another goroutine is taking from the
// same Inbox (one consumer at a time).
var ErrBusy = errors.New("another thread is polling this queue")

// ErrClosed is returned by Take once Close has begun.
var ErrClosed = errors.New("the queue was closed")

// Inbox is a queue a consumer drains when it likes (the C library's
// netsys_*_poll). Each message is copied once, into blocks of the Inbox's
// Memory, and Take hands out slices of those blocks: the data of one Take
// stays valid until the next Take begins. Events are counted in the Backlog
// given to NewInbox until a Take hands them out.
//
// The consumer may block in Take (with a timeout) or watch FD, which is
// readable exactly while events are pending.
// All methods are safe for concurrent use; none waits on a loop.
type Inbox struct {
	backlog *core.Backlog
	mem     Memory
	wait    func(fd int, timeout time.Duration)

	// mu is what pushers take, and Take only briefly: it swaps the
	// queued events out (a lock held while filling the consumer's array
	// made the loops wait on the consumer, spinning and sleeping).
	mu       sync.Mutex
	incoming []pending // queued, not yet swapped out by Take
	blocks   []*block  // in fill order; the last one takes new data
	spares   []*block  // recycled blocks of the usual size, at most maxSpares
	dead     bool      // freed: nothing more is queued
	notify   *notifier
	signaled bool // notify is readable
	// takenLeft: Take swapped out events it has not all handed out yet (so
	// FD, which cannot read taken, knows events are pending).
	takenLeft bool
	done      chan struct{} // closed by Close
	doneOnce  sync.Once

	takeMu sync.Mutex // one consumer at a time (TryLock: ErrBusy)
	freed  bool
	// taken holds the events Take swapped out; those from head on have not
	// been handed out yet. Under takeMu only; the mu handoff orders their
	// data's writes before the reads.
	taken  []pending
	head   int
	taking Event // what Take hands to each (under takeMu; a local would escape to the heap once per event)

	// nextPos is where the next new block starts in the stream position
	// that events' data is numbered by (see pending.pos).
	nextPos uint64
}

// Record is a taken event in flat form (TakeRecords): the layout of the C
// library's netsys_event, so a C array of them is filled in one pass with
// no call per event. Data is the address of the event's bytes in the
// Inbox's Memory (0 when Size is 0), valid until the next Take or
// TakeRecords begins; it is meaningful for a Memory outside Go's heap (the
// C library's), which a consumer in another runtime can read directly.
type Record struct {
	Kind    uint32
	Status  int32
	Session uint64
	Data    uintptr
	Size    uintptr
}

// pending is one queued event. It holds no pointer, so the queues of them
// cost the garbage collector nothing and need no clearing: its data lies
// at pos, a position in the stream of the Inbox's blocks (each block
// covers [start, start+len(buf)) of it), which finds the block when the
// event is handed out.
type pending struct {
	kind    uint32
	status  int32
	session uint64
	pos     uint64
	size    uint32 // bytes of data (a text's zero byte not counted)
	flags   uint32 // pendingText, pendingHasData
}

const (
	// pendingText marks a notice: its data is text followed by a zero byte.
	pendingText = 1 << iota
	// pendingHasData marks an event with bytes in a block (a message of one
	// byte or more, or any text, which has its zero byte at least).
	pendingHasData
)

// block is memory holding event data back to back.
type block struct {
	buf   []byte
	used  int
	start uint64  // the stream position of buf[0]
	base  uintptr // the address of buf[0]: a Record's Data
}

// holds reports whether stream position pos lies in blk.
func (blk *block) holds(pos uint64) bool { return pos-blk.start < uint64(len(blk.buf)) }

// blockSize is the usual block; a larger event gets a block of its own size.
// Up to maxSpares drained blocks are kept for reuse: under a steady stream
// a block is filled while the consumer reads the one before, and giving
// blocks back to the allocator at that rate (C's malloc maps and unmaps
// blocks this large) cost page faults on every refill.
const (
	blockSize = 256 << 10
	maxSpares = 4
)

// NewInbox makes an empty Inbox counting into backlog. mem nil means Go's
// heap. wait is how Take sleeps until fd is readable or timeout (negative:
// no limit) has passed; nil means poll(2) from Go. A consumer on a C
// thread passes a wait made in C, so its thread sleeps in the kernel
// rather than handing its goroutine through the Go scheduler on every
// wake-up.
func NewInbox(backlog *core.Backlog, mem Memory, wait func(fd int, timeout time.Duration)) *Inbox {
	if mem == nil {
		mem = goMemory{}
	}
	if wait == nil {
		wait = pollReadable
	}
	return &Inbox{backlog: backlog, mem: mem, wait: wait, done: make(chan struct{})}
}

func pollReadable(fd int, timeout time.Duration) {
	ms := -1
	if timeout >= 0 {
		ms = int(min((timeout+time.Millisecond-1)/time.Millisecond, 1<<30))
	}
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	unix.Poll(fds, ms) // EINTR or a timeout: the caller looks again either way
}

// PushMessage queues a message and reports whether it was queued (false
// when out of memory or freed: the caller then has lost the message and
// should say so). When the backlog is over its bound, src (nil for none)
// is paused until it drains.
func (q *Inbox) PushMessage(kind uint32, session uint64, msg []byte, src core.Pausable) bool {
	one := [1][]byte{msg}
	return q.PushMessages(kind, session, one[:], src) == 1
}

// PushNotice queues a notice; its text counts against the byte bound.
func (q *Inbox) PushNotice(kind uint32, status int32, session uint64, text string) bool {
	q.backlog.Add(len(text))
	if !q.push(kind, status, session, nil, text, true) {
		q.backlog.Consumed(1, len(text))
		return false
	}
	return true
}

// PushMessages queues the messages of one session in one step (one lock
// for all) and returns how many it queued: all, or those before the first
// that found no memory (the caller has lost the rest and should say so).
// When the backlog is over its bound, src (nil for none) is paused until
// it drains. A server's batch handler bounded with
// Server.LimitMessageBatches(backlog.Room) keeps the bound message-exact.
func (q *Inbox) PushMessages(kind uint32, session uint64, msgs [][]byte, src core.Pausable) int {
	bytes := 0
	for _, m := range msgs {
		bytes += len(m)
	}
	over := q.backlog.AddMany(len(msgs), bytes)
	n := 0
	q.mu.Lock()
	if !q.dead {
		n = q.pushMessagesLocked(kind, session, msgs)
		q.signalLocked()
	}
	q.mu.Unlock()
	if n < len(msgs) {
		lost := 0
		for _, m := range msgs[n:] {
			lost += len(m)
		}
		q.backlog.Consumed(len(msgs)-n, lost)
	}
	if over {
		q.backlog.Pause(src)
	}
	return n
}

// pushMessagesLocked queues msgs and returns how many it queued (those
// before the first that found no memory). It is pushLocked for a batch in
// one pass: one read's messages are laid into the last block back to back
// until it is full, then into the next.
func (q *Inbox) pushMessagesLocked(kind uint32, session uint64, msgs [][]byte) int {
	evs := slices.Grow(q.incoming, len(msgs))
	defer func() { q.incoming = evs }()
	var blk *block
	if n := len(q.blocks); n > 0 {
		blk = q.blocks[n-1]
	}
	for i, m := range msgs {
		ev := pending{kind: kind, session: session, size: uint32(len(m))}
		if len(m) > 0 {
			if blk == nil || len(blk.buf)-blk.used < len(m) {
				if len(m) > maxEventSize {
					return i
				}
				if blk = q.roomLocked(len(m)); blk == nil {
					return i
				}
			}
			ev.pos, ev.flags = blk.start+uint64(blk.used), pendingHasData
			blk.used += copy(blk.buf[blk.used:], m)
		}
		evs = append(evs, ev)
	}
	return len(msgs)
}

// maxEventSize is the largest event the queue takes (pending.size).
const maxEventSize = 1<<32 - 1

func (q *Inbox) push(kind uint32, status int32, session uint64, msg []byte, text string, isText bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return false
	}
	if !q.pushLocked(kind, status, session, msg, text, isText) {
		return false
	}
	q.signalLocked()
	return true
}

// pushLocked queues one event; the caller signals the consumer.
func (q *Inbox) pushLocked(kind uint32, status int32, session uint64, msg []byte, text string, isText bool) bool {
	size, span := len(msg), len(msg)
	if isText {
		size, span = len(text), len(text)+1
	}
	if size > maxEventSize {
		return false
	}
	ev := pending{kind: kind, status: status, session: session, size: uint32(size)}
	if isText {
		ev.flags = pendingText
	}
	if span > 0 {
		blk := q.roomLocked(span)
		if blk == nil {
			return false
		}
		ev.pos = blk.start + uint64(blk.used)
		ev.flags |= pendingHasData
		dst := blk.buf[blk.used : blk.used+span]
		if isText {
			dst[copy(dst, text)] = 0
		} else {
			copy(dst, msg)
		}
		blk.used += span
	}
	q.incoming = append(q.incoming, ev)
	return true
}

// signalLocked makes the descriptor readable, once per wait.
func (q *Inbox) signalLocked() {
	if q.notify != nil && !q.signaled && len(q.incoming) > 0 {
		q.notify.set()
		q.signaled = true
	}
}

// lastBlockWithRoom is the last block if span more bytes fit into it,
// else nil.
func (q *Inbox) lastBlockWithRoom(span int) *block {
	if n := len(q.blocks); n > 0 {
		if last := q.blocks[n-1]; len(last.buf)-last.used >= span {
			return last
		}
	}
	return nil
}

// roomLocked returns the block that takes the next span bytes (nil when
// out of memory).
func (q *Inbox) roomLocked(span int) *block {
	if last := q.lastBlockWithRoom(span); last != nil {
		return last
	}
	var blk *block
	switch {
	case span > blockSize:
		blk = q.newBlock(span)
	case len(q.spares) > 0:
		blk = q.spares[len(q.spares)-1]
		q.spares = q.spares[:len(q.spares)-1]
	default:
		blk = q.newBlock(blockSize)
	}
	if blk == nil {
		return nil
	}
	// A block entering the queue gets positions no event has had.
	blk.start = q.nextPos
	q.nextPos += uint64(len(blk.buf))
	q.blocks = append(q.blocks, blk)
	return blk
}

func (q *Inbox) newBlock(size int) *block {
	buf := q.mem.Alloc(size)
	if len(buf) < size {
		return nil
	}
	return &block{buf: buf, base: uintptr(unsafe.Pointer(unsafe.SliceData(buf)))}
}

// recycleLocked releases the blocks no event still needs: those before
// the block of the first event not yet taken (the previous Take's data is
// no longer valid once a Take begins). With nothing pending, the last
// block is kept and refilled from its start.
func (q *Inbox) recycleLocked() {
	keep := len(q.blocks) // blocks[keep:] stay
	if q.pendingLocked() {
		first := q.firstBlockLocked()
		for i, blk := range q.blocks {
			if blk == first {
				keep = i
				break
			}
		}
	} else if keep > 0 {
		keep--
		q.blocks[keep].used = 0
	}
	for _, blk := range q.blocks[:keep] {
		q.release(blk)
	}
	q.blocks = q.blocks[:copy(q.blocks, q.blocks[keep:])]
}

// firstBlockLocked is the block holding the data of the first pending
// event that has any (nil if none does).
func (q *Inbox) firstBlockLocked() *block {
	for _, evs := range [2][]pending{q.taken[q.head:], q.incoming} {
		for i := range evs {
			if evs[i].flags&pendingHasData != 0 {
				return q.blockAt(evs[i].pos)
			}
		}
	}
	return nil
}

// blockAt is the queued block holding stream position pos (the caller
// holds mu, or takeMu for a position of a taken event, whose block stays
// until the next Take).
func (q *Inbox) blockAt(pos uint64) *block {
	for _, blk := range q.blocks {
		if blk.holds(pos) {
			return blk
		}
	}
	return nil
}

// pendingLocked reports whether any event waits to be handed out (the
// caller holds mu and takeMu).
func (q *Inbox) pendingLocked() bool { return q.head < len(q.taken) || len(q.incoming) > 0 }

// release keeps up to maxSpares blocks of the usual size and frees the rest.
func (q *Inbox) release(blk *block) {
	if len(blk.buf) == blockSize && len(q.spares) < maxSpares {
		blk.used = 0
		q.spares = append(q.spares, blk)
		return
	}
	q.mem.Free(blk.buf)
}

// FD returns a descriptor that is readable exactly while events are
// pending, creating it on first use. It stays valid until Free.
func (q *Inbox) FD() (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.notifierLocked()
}

// notifierLocked creates the notifier on first use (readable at once if
// events are already pending) and returns its descriptor.
func (q *Inbox) notifierLocked() (int, error) {
	if q.notify == nil {
		n, err := newNotifier()
		if err != nil {
			return -1, err
		}
		q.notify = n
		if len(q.incoming) > 0 || q.takenLeft {
			n.set()
			q.signaled = true
		}
	}
	return q.notify.fd(), nil
}

// Take waits up to timeout (negative: no limit; 0: not at all) for events
// and hands up to max of them to each, in order, with i counting from 0.
// It returns how many it handed out. The events' data stays valid until
// the next Take begins. The events of one Take have their data in one
// block, back to back in order (the rest waits for the next Take), so a
// consumer can copy a whole Take's data at once.
//
// Only one goroutine may take at a time (ErrBusy); after Close, Take
// returns ErrClosed. An error creating the wake-up descriptor is returned
// as it is.
func (q *Inbox) Take(max int, timeout time.Duration, each func(i int, ev *Event)) (int, error) {
	return q.take(timeout, func(evs []pending) (int, int) { return q.handOut(evs, max, each) })
}

// TakeRecords is Take into out, a record per event (up to len(out)),
// with no call per event: what a consumer in another runtime polls
// through. The same rules apply: one consumer at a time, the data valid
// until the next Take or TakeRecords begins, and one block's data per
// call, back to back in order.
func (q *Inbox) TakeRecords(out []Record, timeout time.Duration) (int, error) {
	return q.take(timeout, func(evs []pending) (int, int) { return q.handOutRecords(evs, out) })
}

// take is Take and TakeRecords: it waits for events and lets handOut hand
// out a prefix of the untaken ones (it returns how many, and their bytes).
func (q *Inbox) take(timeout time.Duration, handOut func(evs []pending) (n, bytes int)) (int, error) {
	if !q.takeMu.TryLock() {
		return 0, ErrBusy
	}
	defer q.takeMu.Unlock()
	if q.freed {
		return 0, ErrClosed
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		q.mu.Lock()
		q.recycleLocked() // this Take has begun: the last one's data may go
		if q.head == len(q.taken) && len(q.incoming) > 0 {
			// Records hold no pointers: the old queue is reused as it is.
			q.taken, q.incoming, q.head = q.incoming, q.taken[:0], 0
		}
		if q.head < len(q.taken) {
			q.takenLeft = true
			q.mu.Unlock()
			n, bytes := handOut(q.taken[q.head:])
			q.head += n
			if q.head == len(q.taken) {
				q.mu.Lock()
				q.takenLeft = false
				if len(q.incoming) == 0 && q.signaled {
					q.notify.clear()
					q.signaled = false
				}
				q.mu.Unlock()
			}
			q.backlog.Consumed(n, bytes)
			return n, nil
		}
		if timeout == 0 {
			q.mu.Unlock()
			return 0, nil
		}
		fd, err := q.notifierLocked()
		// Checked under mu: Close closes done before it takes mu to make
		// the descriptor readable, so either we see done here or Close
		// sees our descriptor and wakes the wait below.
		closed := q.isClosed()
		q.mu.Unlock()
		if closed {
			return 0, ErrClosed
		}
		if err != nil {
			return 0, err
		}
		left := time.Duration(-1)
		if timeout > 0 {
			if left = time.Until(deadline); left <= 0 {
				return 0, nil
			}
		}
		q.wait(fd, left)
		if q.isClosed() {
			return 0, ErrClosed
		}
	}
}

func (q *Inbox) isClosed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// oneBlock returns the prefix of evs (up to max) whose data lies in one
// block, and that block (nil if none of them has data). The caller holds
// takeMu: the blocks of taken events stay until the next Take.
func (q *Inbox) oneBlock(evs []pending, max int) ([]pending, *block) {
	if len(evs) > max {
		evs = evs[:max]
	}
	var blk *block
	for i := range evs {
		if evs[i].flags&pendingHasData == 0 {
			continue
		}
		if blk == nil {
			q.mu.Lock() // blocks may grow meanwhile; the taken ones stay
			blk = q.blockAt(evs[i].pos)
			q.mu.Unlock()
		} else if !blk.holds(evs[i].pos) {
			return evs[:i], blk
		}
	}
	return evs, blk
}

// handOut hands the events of one block (see Take) from evs to each; the
// caller holds takeMu, not mu.
func (q *Inbox) handOut(evs []pending, max int, each func(i int, ev *Event)) (n, dataBytes int) {
	evs, blk := q.oneBlock(evs, max)
	for i := range evs {
		p := &evs[i]
		ev := &q.taking
		*ev = Event{Kind: p.kind, Status: p.status, Session: p.session, Text: p.flags&pendingText != 0}
		if p.flags&pendingHasData != 0 {
			off, size := int(p.pos-blk.start), int(p.size)
			span := size
			if ev.Text {
				span++
			}
			ev.Data = blk.buf[off : off+size : off+span]
		}
		each(i, ev)
		dataBytes += int(p.size) // texts count against the byte bound too
	}
	q.taking = Event{} // keeps no block alive
	return len(evs), dataBytes
}

// handOutRecords is handOut into records; the caller holds takeMu.
func (q *Inbox) handOutRecords(evs []pending, out []Record) (n, dataBytes int) {
	evs, blk := q.oneBlock(evs, len(out))
	var start uint64
	var base uintptr
	if blk != nil {
		start, base = blk.start, blk.base
	}
	out = out[:len(evs)]
	for i := range evs {
		p := &evs[i]
		var data uintptr
		if p.size > 0 {
			data = base + uintptr(p.pos-start)
		}
		out[i] = Record{Kind: p.kind, Status: p.status, Session: p.session, Data: data, Size: uintptr(p.size)}
		dataBytes += int(p.size)
	}
	return len(evs), dataBytes
}

// Close wakes any Take for good; later Takes return ErrClosed. Events
// still queued stay until Free.
func (q *Inbox) Close() {
	q.doneOnce.Do(func() { close(q.done) })
	q.mu.Lock()
	if q.notify != nil {
		q.notify.set()
		q.signaled = true
	}
	q.mu.Unlock()
}

// Free releases the memory and the descriptor once no Take is running
// (it waits for one in progress to return: call Close first). Nothing is
// queued after it.
func (q *Inbox) Free() {
	q.takeMu.Lock()
	defer q.takeMu.Unlock()
	q.freed = true
	q.mu.Lock()
	if q.notify != nil {
		q.notify.close()
		q.notify = nil
	}
	for _, blk := range q.blocks {
		q.mem.Free(blk.buf)
	}
	for _, blk := range q.spares {
		q.mem.Free(blk.buf)
	}
	q.blocks, q.spares, q.incoming, q.taken, q.head, q.dead = nil, nil, nil, nil, 0, true
	q.mu.Unlock()
}
