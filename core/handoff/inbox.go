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
// Memory, and Take hands out slices of those blocks (TakeRecords, their
// addresses): the data of one Take stays valid until the next Take begins.
// Events are counted in the Backlog given to NewInbox until a Take hands
// them out.
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
	incoming queued   // queued, not yet swapped out by Take
	blocks   []*block // in fill order; the last one takes new data
	spares   []*block // recycled blocks of the usual size, at most maxSpares
	dead     bool     // freed: nothing more is queued
	notify   *notifier
	signaled bool // notify is readable
	// takenLeft: Take swapped out events it has not all handed out yet (so
	// FD, which cannot read taken, knows events are pending).
	takenLeft bool
	done      chan struct{} // closed by Close
	doneOnce  sync.Once

	takeMu sync.Mutex // one consumer at a time (TryLock: ErrBusy)
	freed  bool
	// taken holds the events Take swapped out; cur is where the next one
	// to hand out is. Under takeMu only; the mu handoff orders their data's
	// writes before the reads.
	taken  queued
	cur    cursor
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

// pending is a queued run of events: one notice, or consecutive messages
// of one session pushed together, their data in order in one block from
// pos, a position in the stream of the Inbox's blocks (each block
// covers [start, start+len(buf)) of it), which finds the block when they
// are handed out. It holds no pointer, so the queues of them cost the
// garbage collector nothing and need no clearing; where each of a run's
// events lies is in queued.extents, in order (8 bytes a message, where a
// record per message made the loop write and the consumer read 32).
type pending struct {
	kind    uint32
	status  int32
	session uint64
	pos     uint64
	n       uint32 // events in the run (1 for a notice)
	flags   uint32 // pendingText, pendingHasData
}

const (
	// pendingText marks a notice: its data is text followed by a zero byte.
	pendingText = 1 << iota
	// pendingHasData marks a run with bytes in a block (a message of one
	// byte or more, or any text, which has its zero byte at least).
	pendingHasData
)

// queued is a queue of runs and the extents of their events.
type queued struct {
	runs    []pending
	extents []extent
}

// extent is where an event's data lies in its run: gap bytes after the
// previous event's data (the frame header between two messages copied
// with one read's bytes, see PushRead), then size bytes.
type extent struct{ gap, size uint32 }

// reset empties q, keeping its memory.
func (q *queued) reset() { q.runs, q.extents = q.runs[:0], q.extents[:0] }

// cursor is where the consumer is in the taken queue: the run, the event
// within it, that event's size's index and its data's position.
type cursor struct {
	run, in, ext int
	pos          uint64
}

// block is memory holding event data in order.
type block struct {
	buf   []byte
	used  int
	start uint64  // the stream position of buf[0]
	base  uintptr // the address of buf[0]: a Record's Data
}

// holds reports whether stream position pos lies in blk.
func (blk *block) holds(pos uint64) bool { return pos-blk.start < uint64(len(blk.buf)) }

// blockSize is the usual block; a larger event gets a block of its own size.
// Up to maxSpares drained blocks (retainedBytes in all) are kept for reuse:
// giving blocks back to the allocator costs page faults on every refill
// (C's malloc returns memory this large to the system), and a stream that
// keeps the queue near its bound drains and refills a few MiB at a time,
// which four spares did not cover: keeping sixteen cut the pull
// interface's CPU per 64 B message by about a seventh.
const (
	blockSize = 256 << 10
	maxSpares = retainedBytes / blockSize
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
	if !q.pushNotice(kind, status, session, text) {
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
	return q.push(src, func() (n, bytes int) {
		for _, m := range msgs {
			one := [1]core.MessageSpan{{Size: len(m)}}
			k, b := q.pushMessagesLocked(kind, session, m, one[:])
			n, bytes = n+k, bytes+b
			if k == 0 {
				break
			}
		}
		return n, bytes
	})
}

// PushRead is PushMessages for messages decoded from one read, as a
// server's batch handler gets them (Server.OnMessageBatchIn): each message
// is its span of in, and those one after the other are copied with the few
// bytes between them (their frame headers) in one copy per run, instead of
// one copy each. Their events are then in order in one block but not back
// to back: each event's data is where its record says. Every span must lie
// in in.
func (q *Inbox) PushRead(kind uint32, session uint64, in []byte, msgs []core.MessageSpan, src core.Pausable) int {
	return q.push(src, func() (int, int) { return q.pushMessagesLocked(kind, session, in, msgs) })
}

// push runs a push under the lock and counts what it queued in the
// backlog, pausing src when that crosses the bound.
func (q *Inbox) push(src core.Pausable, locked func() (n, bytes int)) int {
	n, over := q.pushUnderLock(locked)
	if over {
		q.backlog.Pause(src)
	}
	return n
}

// pushUnderLock is push's part under the lock, let go also when a bad span
// panics (what the panic then reports is the caller's bug).
func (q *Inbox) pushUnderLock(locked func() (n, bytes int)) (n int, over bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return 0, false
	}
	n, bytes := locked()
	// Counted before the lock is let go: the consumer takes under it, so it
	// cannot count them consumed first.
	over = q.backlog.AddMany(n, bytes)
	q.signalLocked()
	return n, over
}

// maxGap is the most bytes between two messages of a read that are copied
// with them: a frame header, or a small frame of another kind between two
// messages. A larger gap starts a new run. It is small because gap bytes
// are not counted against the byte bound: each event may hold this much
// more memory than its data, as it does for its extent and record.
const maxGap = 32

// pushMessagesLocked queues msgs, spans of in, and returns how many it
// queued (those before the first that found no memory) and their bytes.
// One read's messages go into the last block as one run, until the block
// is full; the rest start a run in the next. Each run is laid down in
// passes (the messages that fit with their extents, then their bytes) with
// nothing else live across the copy, which a loop doing all at once
// spilled around every message.
func (q *Inbox) pushMessagesLocked(kind uint32, session uint64, in []byte, msgs []core.MessageSpan) (done, sizes int) {
	iq := &q.incoming
	iq.extents = slices.Grow(iq.extents, len(msgs))
	var blk *block
	if n := len(q.blocks); n > 0 {
		blk = q.blocks[n-1]
	}
	for done < len(msgs) {
		room := 0
		if blk != nil {
			room = len(blk.buf) - blk.used
		}
		rest := msgs[done:]
		ext := iq.extents[len(iq.extents):cap(iq.extents)]
		k, bytes, from, runSizes := fitSpan(len(in), rest, room, ext)
		if k == 0 { // the next message needs a block of its own
			if size := rest[0].Size; size > maxEventSize {
				return done, sizes
			} else if blk = q.roomLocked(size); blk == nil {
				return done, sizes
			}
			continue
		}
		run := pending{kind: kind, session: session, n: uint32(k)}
		if bytes > 0 {
			run.pos, run.flags = blk.start+uint64(blk.used), pendingHasData
			copy(blk.buf[blk.used:blk.used+bytes], in[from:from+bytes])
			blk.used += bytes
		}
		iq.extents = iq.extents[:len(iq.extents)+k]
		iq.runs = append(iq.runs, run)
		done, sizes = done+k, sizes+runSizes
	}
	return done, sizes
}

// fitSpan counts the messages at the start of msgs that fit in room bytes
// as one span of a read of size bytes, each after the one before with at
// most maxGap bytes between (an empty message lies anywhere); it writes
// their extents into ext and returns how many, the span's length, where it
// starts in the read and the messages' bytes.
func fitSpan(size int, msgs []core.MessageSpan, room int, ext []extent) (k, span, from, sizes int) {
	from = msgs[0].Offset
	end, limit := from, min(size, from+room)
	ext = ext[:len(msgs)]
	for ; k < len(msgs); k++ {
		m := msgs[k]
		if m.Size == 0 {
			ext[k] = extent{}
			continue
		}
		// Unsigned, a negative gap or size is out of range too.
		gap, next := uint(m.Offset-end), m.Offset+m.Size
		if gap > maxGap || uint(next) > uint(limit) || uint(m.Size) > uint(limit) {
			break
		}
		ext[k] = extent{gap: uint32(gap), size: uint32(m.Size)}
		end = next
		sizes += m.Size
	}
	// Every span taken lies in the read; the one that stopped the run is
	// checked here, once, so the loop above need not tell the two apart.
	if from < 0 || k < len(msgs) && !spanWithin(msgs[k], size) {
		panic("handoff: a message span outside its read")
	}
	span = end - from
	// The run starts with the gap its first two messages have between them
	// (read before the first, where the read has it), so that the gaps
	// between runs are those within them: the Python binding, which splits
	// a poll with one pattern, then has one pattern for a stream.
	if k >= 2 && ext[0].size > 0 && ext[1].size > 0 {
		if lead := int(ext[1].gap); lead <= from && span+lead <= room {
			from, span = from-lead, span+lead
			ext[0].gap = uint32(lead)
		}
	}
	return k, span, from, sizes
}

// spanWithin reports whether m lies in a read of size bytes.
func spanWithin(m core.MessageSpan, size int) bool {
	return m.Offset >= 0 && m.Size >= 0 && m.Offset <= size-m.Size
}

// maxEventSize is the largest event the queue takes (extent.size).
const maxEventSize = 1<<32 - 1

// pushNotice queues a notice: its text, then a zero byte.
func (q *Inbox) pushNotice(kind uint32, status int32, session uint64, text string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead || len(text) > maxEventSize {
		return false
	}
	blk := q.roomLocked(len(text) + 1)
	if blk == nil {
		return false
	}
	dst := blk.buf[blk.used : blk.used+len(text)+1]
	dst[copy(dst, text)] = 0
	q.incoming.runs = append(q.incoming.runs, pending{kind: kind, status: status, session: session,
		pos: blk.start + uint64(blk.used), n: 1, flags: pendingText | pendingHasData})
	q.incoming.extents = append(q.incoming.extents, extent{size: uint32(len(text))})
	blk.used += len(dst)
	q.signalLocked()
	return true
}

// signalLocked makes the descriptor readable, once per wait.
func (q *Inbox) signalLocked() {
	if q.notify != nil && !q.signaled && len(q.incoming.runs) > 0 {
		q.notify.set()
		q.signaled = true
	}
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
	for _, runs := range [2][]pending{q.taken.runs[q.cur.run:], q.incoming.runs} {
		for i := range runs {
			if runs[i].flags&pendingHasData != 0 {
				return q.blockAt(runs[i].pos)
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
func (q *Inbox) pendingLocked() bool {
	return q.cur.run < len(q.taken.runs) || len(q.incoming.runs) > 0
}

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
		if len(q.incoming.runs) > 0 || q.takenLeft {
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
// block, in order, each at most maxGap bytes after the one before (the
// rest waits for the next Take), so a consumer can copy a whole Take's
// data at once.
//
// Only one goroutine may take at a time (ErrBusy); after Close, Take
// returns ErrClosed. An error creating the wake-up descriptor is returned
// as it is.
func (q *Inbox) Take(max int, timeout time.Duration, each func(i int, ev *Event)) (int, error) {
	return q.take(timeout, func() (int, int) { return q.handOut(max, each) })
}

// TakeRecords is Take into out, a record per event (up to len(out)),
// with no call per event: what a consumer in another runtime polls
// through. The same rules apply: one consumer at a time, the data valid
// until the next Take or TakeRecords begins, and one block's data per
// call, in order and close together.
func (q *Inbox) TakeRecords(out []Record, timeout time.Duration) (int, error) {
	return q.take(timeout, func() (int, int) {
		n, bytes, _ := q.handOutRecords(out, nil, nil)
		return n, bytes
	})
}

// take is Take and TakeRecords: it waits for events and lets handOut hand
// out some of the taken ones (it returns how many, and their bytes).
func (q *Inbox) take(timeout time.Duration, handOut func() (n, bytes int)) (int, error) {
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
		if q.cur.run == len(q.taken.runs) && len(q.incoming.runs) > 0 {
			// Runs hold no pointers: the old queue is reused as it is.
			q.taken, q.incoming = q.incoming, q.taken
			q.incoming.reset()
			q.cur = cursor{}
		}
		if q.cur.run < len(q.taken.runs) {
			q.takenLeft = true
			q.mu.Unlock()
			n, bytes := handOut()
			if q.cur.run == len(q.taken.runs) {
				q.mu.Lock()
				q.takenLeft = false
				if len(q.incoming.runs) == 0 && q.signaled {
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

// handOutRecords hands taken events out into out from the cursor on, up
// to len(out) of them whose data lies in blk (nil: the block of the first
// that has data). texts, if not nil, gets whether each is a notice. It
// returns how many it handed out, their bytes and their block. The caller
// holds takeMu, not mu: the blocks of taken events stay until the next
// Take.
func (q *Inbox) handOutRecords(out []Record, texts []bool, blk *block) (n, dataBytes int, _ *block) {
	runs, extents := q.taken.runs, q.taken.extents
	c := q.cur
	for n < len(out) && c.run < len(runs) {
		r := &runs[c.run]
		var base uintptr
		var start uint64
		if r.flags&pendingHasData != 0 {
			if blk == nil {
				q.mu.Lock() // blocks may be added meanwhile; the taken ones stay
				blk = q.blockAt(r.pos)
				q.mu.Unlock()
			} else if !blk.holds(r.pos) {
				break // one block per Take
			}
			if c.in == 0 {
				c.pos = r.pos
			}
			base, start = blk.base, blk.start
		}
		// The run's records up to out's room, in one loop over windows of
		// both arrays with the position in a register.
		k := min(int(r.n)-c.in, len(out)-n)
		pos, bytes := writeRecords(out[n:n+k], extents[c.ext:c.ext+k], r.kind, r.status, r.session,
			base-uintptr(start), c.pos)
		dataBytes += bytes // texts count against the byte bound too
		if texts != nil {
			text := r.flags&pendingText != 0 // a notice is a run of one: its zero byte ends the run
			for i := range k {
				texts[n+i] = text
			}
		}
		c.pos, c.ext, c.in, n = pos, c.ext+k, c.in+k, n+k
		if c.in == int(r.n) {
			c.run, c.in = c.run+1, 0
		}
	}
	q.cur = c
	return n, dataBytes, blk
}

// writeRecords writes a run's records: recs[i] gets the run's kind, status
// and session and the data of exts[i], which lies at offset+pos in memory
// (pos the run's position in the stream of blocks, moved over each
// extent). It returns the position after the last extent and the records'
// data bytes. A function of its own, its few values stay in registers
// (in its caller's loop they were spilled and reloaded for every record),
// and the run's fields are read once, not after each store that might
// have changed them. Inlined, it would be back in its caller's registers.
//
//go:noinline
func writeRecords(recs []Record, exts []extent, kind uint32, status int32, session uint64, offset uintptr, pos uint64) (_ uint64, bytes int) {
	exts = exts[:len(recs)]
	for i := range recs {
		e := exts[i]
		var data uintptr
		if e.size > 0 {
			pos += uint64(e.gap)
			data = offset + uintptr(pos)
			pos += uint64(e.size)
		}
		// Field by field: a struct literal is built on the stack and
		// copied in 16-byte loads that its smaller stores cannot
		// forward to, a stall per record.
		o := &recs[i]
		o.Kind, o.Status, o.Session, o.Data, o.Size = kind, status, session, data, uintptr(e.size)
		bytes += int(e.size)
	}
	return pos, bytes
}

// zeroText is the data of an empty text: its zero byte.
var zeroText = [1]byte{}

// handOut hands out up to max taken events of one block (see Take) to
// each, in chunks of records; the caller holds takeMu, not mu.
func (q *Inbox) handOut(max int, each func(i int, ev *Event)) (n, dataBytes int) {
	var recs [64]Record
	var texts [64]bool
	var blk *block
	for n < max {
		k, bytes, b := q.handOutRecords(recs[:min(len(recs), max-n)], texts[:], blk)
		if k == 0 {
			break
		}
		blk = b
		for i := range recs[:k] {
			r := &recs[i]
			ev := &q.taking
			*ev = Event{Kind: r.Kind, Status: r.Status, Session: r.Session, Text: texts[i]}
			switch size := int(r.Size); {
			case size > 0:
				off := int(r.Data - blk.base)
				span := size
				if ev.Text {
					span++
				}
				ev.Data = blk.buf[off : off+size : off+span]
			case ev.Text:
				ev.Data = zeroText[:0:1]
			}
			each(n+i, ev)
		}
		n += k
		dataBytes += bytes
	}
	q.taking = Event{} // keeps no block alive
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
	q.blocks, q.spares, q.incoming, q.taken, q.cur, q.dead = nil, nil, queued{}, queued{}, cursor{}, true
	q.mu.Unlock()
}
