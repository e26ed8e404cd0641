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
)

// eventQueue is the pull interface of one object: events wait here until
// the host polls them. The host may wait in poll (blocking, with a
// timeout) or watch the notifier's fd, which is readable exactly while the
// queue is not empty.
type eventQueue struct {
	flow *flow

	mu       sync.Mutex
	buf      eventBuffer
	head     int           // first event not yet polled
	notify   *notifier     // created by the first event_fd call or blocking poll
	signaled bool          // notify is readable
	done     chan struct{} // closed at destroy
	doneOnce sync.Once

	pollMu   sync.Mutex     // one poller at a time (TryLock: NETSYS_E_BUSY)
	arena    unsafe.Pointer // C memory holding the data of the last poll
	arenaCap int
	freed    bool
}

// errDestroyed tells poll's wait loop that destroy has begun.
var errDestroyed = errors.New("destroyed")

func newEventQueue(f *flow) *eventQueue {
	return &eventQueue{flow: f, done: make(chan struct{})}
}

func (q *eventQueue) push(typ uint32, st int32, sid uint64, msg []byte, text string, isText bool) {
	q.mu.Lock()
	q.buf.add(typ, st, sid, msg, text, isText)
	first := len(q.buf.events)-q.head == 1
	if first && q.notify != nil && !q.signaled {
		q.notify.set()
		q.signaled = true
	}
	q.mu.Unlock()
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
		if len(q.buf.events) > q.head {
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
		if len(q.buf.events) > q.head {
			n, bytes, ok := q.takeLocked(out)
			q.mu.Unlock()
			if !ok {
				// Nothing was taken: the events stay queued for a later poll.
				return 0, fail(errInternal, "out of memory for the polled events' data")
			}
			q.flow.consumed(n, bytes)
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

// takeLocked copies events and their data to the host. The data of the
// taken events is contiguous in the slab, so it moves in one copy into
// the arena, which the previous poll's events pointed into (their data is
// valid until this call, as documented).
//
// It never panics (a panic here would leave mu locked, and every loop that
// queues an event would wait on it forever): if the arena cannot grow it
// takes nothing and reports ok false.
func (q *eventQueue) takeLocked(out []C.capi_event) (n, msgBytes int, ok bool) {
	evs := q.buf.events[q.head:]
	if len(evs) > len(out) {
		evs = evs[:len(out)]
	}
	base := evs[0].off
	last := &evs[len(evs)-1]
	span := last.off + last.span() - base
	if span > q.arenaCap {
		size := max(span, 2*q.arenaCap, 4096)
		arena := arenaAlloc(size)
		if arena == nil {
			return 0, 0, false // the old arena stays: it still backs the last poll's events
		}
		C.free(q.arena)
		q.arena, q.arenaCap = arena, size
	}
	if span > 0 {
		copy(unsafe.Slice((*byte)(q.arena), span), q.buf.data[base:base+span])
	}
	for i := range evs {
		ev := &evs[i]
		o := &out[i]
		o._type = C.uint32_t(ev.typ)
		o.status = C.int32_t(ev.status)
		o.session_id = C.uint64_t(ev.sid)
		o.size = C.size_t(ev.size)
		o.data = nil
		if ev.size > 0 {
			o.data = (*C.uint8_t)(unsafe.Add(q.arena, ev.off-base))
		}
	}
	n, msgBytes, ok = len(evs), messageBytes(evs), true
	q.head += n
	switch {
	case q.head == len(q.buf.events):
		q.buf.reset()
		q.head = 0
		if q.signaled {
			q.notify.clear()
			q.signaled = false
		}
	case q.head >= 1024 && q.head*2 >= len(q.buf.events):
		q.compactLocked()
	}
	return n, msgBytes, ok
}

// arenaAlloc allocates the C memory polled events' data is copied into
// (nil when out of memory). Tests replace it to simulate exhaustion.
var arenaAlloc = func(size int) unsafe.Pointer { return C.malloc(C.size_t(size)) }

// pollCount is poll into a fresh array of capacity events, for the Go-side
// tests (which cannot name C types).
func (q *eventQueue) pollCount(capacity int, timeout time.Duration) (int, status) {
	return q.poll(make([]C.capi_event, capacity), timeout)
}

// compactLocked drops the polled events from the front of the buffer.
func (q *eventQueue) compactLocked() {
	rest := q.buf.events[q.head:]
	base := rest[0].off
	q.buf.data = q.buf.data[:copy(q.buf.data, q.buf.data[base:])]
	for i := range rest {
		rest[i].off -= base
	}
	q.buf.events = q.buf.events[:copy(q.buf.events, rest)]
	q.head = 0
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
	C.free(q.arena)
	q.arena, q.arenaCap, q.freed = nil, 0, true
	q.mu.Lock()
	if q.notify != nil {
		q.notify.close()
		q.notify = nil
	}
	q.buf = eventBuffer{}
	q.head = 0
	q.mu.Unlock()
}
