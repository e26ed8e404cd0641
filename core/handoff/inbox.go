package handoff

import (
	"errors"
	"sync"
	"time"

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
}

// pending is one queued event; its data lies in blk at off.
type pending struct {
	kind    uint32
	status  int32
	session uint64
	blk     *block // nil when the event has no data
	off     int
	size    int
	text    bool
}

// block is memory holding event data back to back.
type block struct {
	buf  []byte
	used int
}

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
		for _, m := range msgs {
			if !q.pushLocked(kind, 0, session, m, "", false) {
				break
			}
			n++
		}
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

func (q *Inbox) push(kind uint32, status int32, session uint64, msg []byte, text string, isText bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return false
	}
	return q.pushLocked(kind, status, session, msg, text, isText)
}

func (q *Inbox) pushLocked(kind uint32, status int32, session uint64, msg []byte, text string, isText bool) bool {
	size, span := len(msg), len(msg)
	if isText {
		size, span = len(text), len(text)+1
	}
	ev := pending{kind: kind, status: status, session: session, size: size, text: isText}
	if span > 0 {
		blk := q.roomLocked(span)
		if blk == nil {
			return false
		}
		ev.blk, ev.off = blk, blk.used
		dst := blk.buf[blk.used : blk.used+span]
		if isText {
			dst[copy(dst, text)] = 0
		} else {
			copy(dst, msg)
		}
		blk.used += span
	}
	q.incoming = append(q.incoming, ev)
	if q.notify != nil && !q.signaled {
		q.notify.set()
		q.signaled = true
	}
	return true
}

// roomLocked returns the block that takes the next span bytes (nil when
// out of memory).
func (q *Inbox) roomLocked(span int) *block {
	if n := len(q.blocks); n > 0 {
		if last := q.blocks[n-1]; len(last.buf)-last.used >= span {
			return last
		}
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
	q.blocks = append(q.blocks, blk)
	return blk
}

func (q *Inbox) newBlock(size int) *block {
	buf := q.mem.Alloc(size)
	if len(buf) < size {
		return nil
	}
	return &block{buf: buf}
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
			if evs[i].blk != nil {
				return evs[i].blk
			}
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
			clear(q.taken) // drop the block references
			q.taken, q.incoming, q.head = q.incoming, q.taken[:0], 0
		}
		if q.head < len(q.taken) {
			q.takenLeft = true
			q.mu.Unlock()
			n, bytes := q.handOut(max, each)
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

// handOut hands out the events of one block (see Take) from taken; the
// caller holds takeMu, not mu.
func (q *Inbox) handOut(max int, each func(i int, ev *Event)) (n, dataBytes int) {
	evs := q.taken[q.head:]
	if len(evs) > max {
		evs = evs[:max]
	}
	var blk *block
	for i := range evs {
		p := &evs[i]
		if p.blk != nil {
			if blk != nil && p.blk != blk {
				evs = evs[:i]
				break
			}
			blk = p.blk
		}
		ev := &q.taking
		*ev = Event{Kind: p.kind, Status: p.status, Session: p.session, Text: p.text}
		if p.blk != nil {
			span := p.size
			if p.text {
				span++
			}
			ev.Data = p.blk.buf[p.off : p.off+p.size : p.off+span]
		}
		each(i, ev)
		dataBytes += p.size // texts count against the byte bound too
	}
	q.taking = Event{} // keeps no block alive
	n = len(evs)
	q.head += n
	return n, dataBytes
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
