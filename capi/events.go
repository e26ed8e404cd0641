package main

/*
#include <stdlib.h>
#include "shims.h"
*/
import "C"

import (
	"errors"
	"sync"
	"time"
	"unsafe"

	"github.com/netsys/netsys/core"
)

// eventQueue is the pull interface of one object: events wait here until
// the host polls them. The host may wait in poll (blocking, with a
// timeout) or watch the notifier's fd, which is readable exactly while the
// queue is not empty.
//
// The data of queued events is copied once, from the core's read buffer
// into C memory (chunks), and poll hands the host pointers into it: no
// second copy. A chunk is recycled once every event in it has been polled
// and the poll after that has begun (the data of one poll stays valid
// until the next, as documented).
type eventQueue struct {
	flow *core.Backlog

	mu       sync.Mutex
	events   []pulledEvent
	head     int           // first event not yet polled
	chunks   []*cChunk     // in fill order; the last one takes new data
	spare    *cChunk       // one recycled chunk of the usual size
	dead     bool          // freed: nothing more is queued
	notify   *notifier     // created by the first event_fd call or blocking poll
	signaled bool          // notify is readable
	done     chan struct{} // closed at destroy
	doneOnce sync.Once

	pollMu sync.Mutex // one poller at a time (TryLock: NETSYS_E_BUSY)
	freed  bool
}

// pulledEvent is one queued event; its data (payload, or text followed by
// a NUL) lies in chunk at data.
type pulledEvent struct {
	typ    uint32
	status int32
	sid    uint64
	data   unsafe.Pointer // nil when size is 0 and not text
	size   int
	text   bool
	chunk  *cChunk
}

// cChunk is a block of C memory holding event data back to back.
type cChunk struct {
	base       unsafe.Pointer
	size, used int
}

// chunkSize is the usual chunk; a larger event gets a chunk of its own size.
const chunkSize = 256 << 10

// newChunk allocates a chunk, or returns nil when out of C memory (never
// a panic under the queue's lock: every loop that queues an event would
// wait on it forever).
func newChunk(size int) *cChunk {
	base := chunkAlloc(size)
	if base == nil {
		return nil
	}
	return &cChunk{base: base, size: size}
}

// chunkAlloc allocates C memory for event data (nil when out of memory).
// Tests replace it to simulate exhaustion.
var chunkAlloc = func(size int) unsafe.Pointer { return C.malloc(C.size_t(size)) }

// errDestroyed tells poll's wait loop that destroy has begun.
var errDestroyed = errors.New("destroyed")

func newEventQueue(f *core.Backlog) *eventQueue {
	return &eventQueue{flow: f, done: make(chan struct{})}
}

// push queues an event, copying its data (msg, or text and a NUL) into
// the chunks. It reports false, queueing nothing, when out of C memory or
// after free.
func (q *eventQueue) push(typ uint32, st int32, sid uint64, msg []byte, text string, isText bool) bool {
	size, span := len(msg), len(msg)
	if isText {
		size, span = len(text), len(text)+1
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.dead {
		return false
	}
	ev := pulledEvent{typ: typ, status: st, sid: sid, size: size, text: isText}
	if span > 0 {
		ch := q.roomLocked(span)
		if ch == nil {
			return false
		}
		ev.chunk, ev.data = ch, unsafe.Add(ch.base, ch.used)
		dst := unsafe.Slice((*byte)(ev.data), span)
		if isText {
			dst[copy(dst, text)] = 0
		} else {
			copy(dst, msg)
		}
		ch.used += span
	}
	q.events = append(q.events, ev)
	if len(q.events)-q.head == 1 && q.notify != nil && !q.signaled {
		q.notify.set()
		q.signaled = true
	}
	return true
}

// roomLocked returns the chunk that takes the next span bytes (nil when
// out of C memory).
func (q *eventQueue) roomLocked(span int) *cChunk {
	if n := len(q.chunks); n > 0 {
		if last := q.chunks[n-1]; last.size-last.used >= span {
			return last
		}
	}
	var ch *cChunk
	switch {
	case span > chunkSize:
		ch = newChunk(span)
	case q.spare != nil:
		ch, q.spare = q.spare, nil
	default:
		ch = newChunk(chunkSize)
	}
	if ch == nil {
		return nil
	}
	q.chunks = append(q.chunks, ch)
	return ch
}

// recycleLocked releases the chunks no event still needs: those before
// the chunk of the first event not yet polled (the previous poll's data is
// no longer valid once a poll begins). With nothing pending, the last
// chunk is kept and refilled from its start.
func (q *eventQueue) recycleLocked() {
	keep := len(q.chunks) // chunks[keep:] stay
	if q.head < len(q.events) {
		for i, ch := range q.chunks {
			if ch == q.firstChunkLocked() {
				keep = i
				break
			}
		}
	} else if keep > 0 {
		keep--
		q.chunks[keep].used = 0
	}
	for _, ch := range q.chunks[:keep] {
		q.release(ch)
	}
	q.chunks = q.chunks[:copy(q.chunks, q.chunks[keep:])]
}

// firstChunkLocked is the chunk holding the data of the first pending
// event that has any (nil if none does).
func (q *eventQueue) firstChunkLocked() *cChunk {
	for i := q.head; i < len(q.events); i++ {
		if q.events[i].chunk != nil {
			return q.events[i].chunk
		}
	}
	return nil
}

// release keeps one chunk of the usual size for reuse and frees the rest.
func (q *eventQueue) release(ch *cChunk) {
	if ch.size == chunkSize && q.spare == nil {
		ch.used = 0
		q.spare = ch
		return
	}
	C.free(ch.base)
}

// eventFD returns the notifier's descriptor, creating it on first use.
func (q *eventQueue) eventFD() (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.notifierLocked()
}

// notifierLocked creates the notifier on first use (readable at once if
// events are already pending) and returns its descriptor.
func (q *eventQueue) notifierLocked() (int, error) {
	if q.notify == nil {
		n, err := newNotifier()
		if err != nil {
			return -1, err
		}
		q.notify = n
		if len(q.events) > q.head {
			n.set()
			q.signaled = true
		}
	}
	return q.notify.fd(), nil
}

// poll implements netsys_*_poll: it waits up to timeout (negative: forever)
// for events and moves up to len(out) of them to the host.
//
// The wait happens in C, in poll(2) on the notifier descriptor, not on a Go
// channel: the host thread is a C thread, and parking its goroutine would
// make every wake-up a hand-off between OS threads through the Go
// scheduler (tens of microseconds per event on a busy 2-CPU machine). In
// a cgo call the thread simply sleeps in the kernel and the loop that
// queues the event wakes it with one eventfd write.
func (q *eventQueue) poll(out []C.capi_event, timeout time.Duration) (int, status) {
	if !q.pollMu.TryLock() {
		return 0, fail(errBusy, "another thread is polling this handle")
	}
	defer q.pollMu.Unlock()
	if q.freed {
		return 0, fail(errInvalidHandle, "the handle was destroyed")
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		q.mu.Lock()
		q.recycleLocked() // this poll has begun: the last one's data may go
		if len(q.events) > q.head {
			n, bytes := q.takeLocked(out)
			q.mu.Unlock()
			q.flow.Consumed(n, bytes)
			return n, statusOK
		}
		if timeout == 0 {
			q.mu.Unlock()
			return 0, statusOK
		}
		fd, err := q.notifierLocked()
		// Checked under mu: close() closes done before it takes mu to make
		// the descriptor readable, so either we see done here or close
		// sees our descriptor and wakes the wait below.
		select {
		case <-q.done:
			err = errDestroyed
		default:
		}
		q.mu.Unlock()
		if err == errDestroyed {
			return 0, fail(errInvalidHandle, "the handle was destroyed while polling")
		}
		if err != nil {
			return 0, fail(errIO, "cannot create the event descriptor: %v", err)
		}
		waitMS := C.int(-1)
		if timeout > 0 {
			left := time.Until(deadline)
			if left <= 0 {
				return 0, statusOK
			}
			waitMS = C.int(min((left+time.Millisecond-1)/time.Millisecond, 1<<30))
		}
		C.capi_wait_readable(C.int(fd), waitMS)
		select {
		case <-q.done:
			return 0, fail(errInvalidHandle, "the handle was destroyed while polling")
		default:
		}
	}
}

// takeLocked hands events to the host: their data stays where push put
// it, in C memory, until the next poll. One poll takes events of one chunk
// only, so the data of a poll lies back to back (the Python binding reads
// it with one copy); the rest is there for the next poll.
func (q *eventQueue) takeLocked(out []C.capi_event) (n, dataBytes int) {
	evs := q.events[q.head:]
	if len(evs) > len(out) {
		evs = evs[:len(out)]
	}
	var chunk *cChunk
	for i := range evs {
		ev := &evs[i]
		if ev.chunk != nil {
			if chunk != nil && ev.chunk != chunk {
				evs = evs[:i]
				break
			}
			chunk = ev.chunk
		}
		o := &out[i]
		o._type = C.uint32_t(ev.typ)
		o.status = C.int32_t(ev.status)
		o.session_id = C.uint64_t(ev.sid)
		o.size = C.size_t(ev.size)
		o.data = nil
		if ev.size > 0 {
			o.data = (*C.uint8_t)(ev.data)
		}
		dataBytes += ev.size // texts count against the byte bound too
	}
	n = len(evs)
	q.head += n
	switch {
	case q.head == len(q.events):
		clear(q.events) // drop the chunk references
		q.events = q.events[:0]
		q.head = 0
		if q.signaled {
			q.notify.clear()
			q.signaled = false
		}
	case q.head >= 1024 && q.head*2 >= len(q.events):
		rest := q.events[q.head:]
		kept := copy(q.events, rest)
		clear(q.events[kept:])
		q.events = q.events[:kept]
		q.head = 0
	}
	return n, dataBytes
}

// close wakes any poller for good (done, then the descriptor made
// readable); free releases the C memory and the descriptor once no poll
// can run any more. Both are for destroy.
func (q *eventQueue) close() {
	q.doneOnce.Do(func() { close(q.done) })
	q.mu.Lock()
	if q.notify != nil {
		q.notify.set()
		q.signaled = true
	}
	q.mu.Unlock()
}

func (q *eventQueue) free() {
	q.pollMu.Lock()
	defer q.pollMu.Unlock()
	q.freed = true
	q.mu.Lock()
	if q.notify != nil {
		q.notify.close()
		q.notify = nil
	}
	for _, ch := range q.chunks {
		C.free(ch.base)
	}
	if q.spare != nil {
		C.free(q.spare.base)
	}
	q.chunks, q.spare, q.events, q.head, q.dead = nil, nil, nil, 0, true
	q.mu.Unlock()
}

// pollCount is poll into a fresh array of capacity events, for the Go-side
// tests (which cannot name C types).
func (q *eventQueue) pollCount(capacity int, timeout time.Duration) (int, status) {
	return q.poll(make([]C.capi_event, capacity), timeout)
}
