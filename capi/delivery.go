package main

/*
#include "shims.h"
*/
import "C"

import (
	"fmt"
	"sync/atomic"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/core/handoff"
)

// Event types; the values are the ABI (netsys_event_type).
const (
	evConnect    = 1
	evMessage    = 2
	evDisconnect = 3
	evError      = 4
	evStopped    = 5

	// evSessionMessage is internal (never handed to the host as a type):
	// a message for a per-session callback, queued for a worker.
	evSessionMessage = 100
)

// Delivery modes (netsys_delivery) and limits.
const (
	deliveryCallbacks = 0
	deliveryEvents    = 1

	maxWorkers          = 256
	defaultQueueLimit   = 65536
	defaultQueueBytes   = 8 << 20
	retainedBufferBytes = 4 << 20 // larger batch scratch buffers are released
)

// deliveryConfig is how an object hands events to the host.
type deliveryConfig struct {
	mode       int
	workers    int
	queueLimit int // events; 0: default
	queueBytes int // message bytes; 0: default
}

// hostCaller is implemented by server and client: it calls the host's C
// callback for one event. For text events data ends with a NUL that is not
// part of the text; io says whether the thread is an I/O loop thread.
type hostCaller interface {
	callHost(typ uint32, st int32, sid uint64, data []byte, io C.int)
}

// sessionCallback is a per-session message callback
// (netsys_session_set_message_callback). The core keeps it, on its
// Session, and calls it after the server's handler; it goes when the
// session goes.
type sessionCallback = callback[C.capi_server_message_fn]

// sessionCaller is implemented by the server: it calls a per-session callback.
type sessionCaller interface {
	callSession(cb *sessionCallback, sid uint64, msg []byte, io C.int)
}

// pauser is something whose socket reading can be paused: *core.Session or
// *core.Client. It is how pending events are bounded (TCP backpressure):
// core.Backlog pauses and resumes it with core.PauseQueue only, so it never
// undoes a pause the host asked for (netsys_*_pause_reading).
type pauser = core.Pausable

// endpoint is what servers and clients share to hand events to the host:
// the callback guard (closed + inflight, so destroy knows when no callback
// of the object is running) and the choice between calling the host on the
// I/O thread, on callback workers, or queueing for its polls. The queueing
// itself, and the flow control that bounds it, are core's (handoff).
type endpoint struct {
	handle uint64
	host   hostCaller

	closed   atomic.Bool  // destroy has begun: deliver nothing more
	inflight atomic.Int64 // host callbacks running now
	// waitingFor is the inflight count destroy waits down to; leave sends
	// a token on idle when it reaches it (no polling).
	waitingFor atomic.Int64
	idle       chan struct{}

	active atomic.Pointer[deliveryState] // set at start, read per event
	queue  *handoff.Inbox                // pull interface, always present
	flow   core.Backlog                  // bounds queue and workers together
}

// deliveryState is what the handlers consult on every event.
type deliveryState struct {
	mode int
	pool *handoff.Workers // nil: callbacks run on the I/O thread
}

func (e *endpoint) init(handle uint64, host hostCaller) {
	e.handle, e.host = handle, host
	e.idle = make(chan struct{}, 1)
	e.waitingFor.Store(-1)
	e.queue = handoff.NewInbox(&e.flow, cMemory{}, waitReadable)
	e.active.Store(&deliveryState{})
}

// configure installs the delivery of the next run; the caller holds the
// object's lifecycle lock and the object is stopped. A worker pool of the
// same size is kept, another is replaced (the old one finishes its queue).
func (e *endpoint) configure(d deliveryConfig) {
	limit, bytes := int64(d.queueLimit), int64(d.queueBytes)
	if limit == 0 {
		limit = defaultQueueLimit
	}
	if bytes == 0 {
		bytes = defaultQueueBytes
	}
	e.flow.SetLimits(limit, bytes)
	old := e.active.Load()
	st := &deliveryState{mode: d.mode}
	if d.mode == deliveryEvents || d.workers > 0 {
		ensureProcs()
	}
	if d.mode == deliveryCallbacks && d.workers > 0 {
		if old.pool != nil && old.pool.Len() == d.workers {
			st.pool = old.pool
		} else {
			st.pool = handoff.NewWorkers(d.workers, &e.flow, e.workerFuncs())
		}
	}
	if old.pool != nil && old.pool != st.pool {
		old.pool.Stop()
	}
	e.active.Store(st)
}

// workerFuncs is how callback workers call the host.
func (e *endpoint) workerFuncs() handoff.Funcs {
	f := handoff.Funcs{
		Deliver: func(ev *handoff.Event) {
			data := ev.Data
			if ev.Text {
				data = data[:len(data)+1] // the C string's NUL, which the queue keeps after the text
			}
			if ev.Kind == evSessionMessage {
				e.host.(sessionCaller).callSession(ev.Tag.(*sessionCallback), ev.Session, data, 0)
				return
			}
			e.host.callHost(ev.Kind, ev.Status, ev.Session, data, 0)
		},
		// A worker goroutine is not under the core's handler guard, so a
		// panic here (a bug in this package) is reported as an internal
		// error instead of killing the host process; an error event that
		// panics again is not re-reported.
		Recovered: func(kind uint32, r any) {
			if rep, ok := e.host.(reporter); ok && kind != evError {
				rep.reportInternal(fmt.Sprintf("netsys internal error in a callback worker: %v", r))
			}
		},
	}
	if bc, ok := e.host.(batchCaller); ok {
		f.BatchKind, f.Batching = evMessage, bc.batching
		f.Batch = func(sid uint64, base []byte, msgs [][]byte) {
			sc := batchScratches.Get().(*batchScratch)
			b := batchOf(base, msgs, sc)
			bc.callHostBatch(sid, &b, 0)
			sc.release()
		}
	}
	return f
}

// enter marks a host callback as running unless the object is being
// destroyed. The order (count, then check) pairs with destroy's (flag,
// then wait for the count): one of the two always sees the other.
func (e *endpoint) enter() bool {
	e.inflight.Add(1)
	if e.closed.Load() {
		e.inflight.Add(-1)
		return false
	}
	return true
}

func (e *endpoint) leave() {
	if e.inflight.Add(-1) <= e.waitingFor.Load() && e.closed.Load() {
		select {
		case e.idle <- struct{}{}:
		default: // a token is already waiting
		}
	}
}

// emitText delivers a connect, disconnect, error or stopped event.
func (e *endpoint) emitText(typ uint32, st status, sid uint64, text string) {
	if e.closed.Load() {
		return
	}
	switch a := e.active.Load(); {
	case a.mode == deliveryEvents:
		e.queue.PushNotice(typ, int32(st), sid, text) // false: out of C memory, nothing to report it with
	case a.pool != nil:
		a.pool.PushNotice(typ, int32(st), sid, text)
	default:
		b := make([]byte, len(text)+1)
		copy(b, text)
		// STOPPED comes from the goroutine that saw the run end, not from
		// an I/O loop (and has no callback of its own).
		io := C.int(1)
		if typ == evStopped {
			io = 0
		}
		e.host.callHost(typ, int32(st), sid, b, io)
	}
}

// emitMessage delivers a message; src is paused when the host is behind.
func (e *endpoint) emitMessage(sid uint64, msg []byte, src pauser) {
	if e.closed.Load() {
		return
	}
	switch a := e.active.Load(); {
	case a.mode == deliveryEvents:
		if !e.queue.PushMessage(evMessage, sid, msg, src) {
			e.lostForMemory(sid)
		}
	case a.pool != nil:
		a.pool.PushMessage(evMessage, sid, msg, nil, src)
	default:
		e.host.callHost(evMessage, 0, sid, msg, 1)
	}
}

// lostForMemory reports a message the event queue could not hold because
// C memory ran out (it is not dropped silently: the host gets an error
// event, if memory allows even that).
func (e *endpoint) lostForMemory(sid uint64) {
	e.emitText(evError, errInternal, sid, "out of memory: a received message could not be queued and is lost")
}

// emitSessionMessage delivers a message to a per-session callback, as the
// core calls it: after the server's handler, on the I/O thread or queued
// behind the server's callback on the session's worker. The pull interface
// has no per-session callbacks (they cannot be set in that mode).
func (e *endpoint) emitSessionMessage(sid uint64, msg []byte, src pauser, cb *sessionCallback) {
	if e.closed.Load() {
		return
	}
	switch a := e.active.Load(); {
	case a.mode == deliveryEvents:
	case a.pool != nil:
		a.pool.PushMessage(evSessionMessage, sid, msg, cb, src)
	default:
		e.host.(sessionCaller).callSession(cb, sid, msg, 1)
	}
}

// shutdown stops deliveries for destroy: wakes pollers, stops workers.
func (e *endpoint) shutdown() {
	e.closed.Store(true)
	e.queue.Close()
	if p := e.active.Load().pool; p != nil {
		p.Stop()
	}
}

// waitCallbacks waits until the only host callbacks of the object still
// running are the `own` ones the calling thread is nested in.
func (e *endpoint) waitCallbacks(own int64) {
	// Store, then check; leave decrements, then loads: one of the two sees
	// the other, so the last callback's token is never missed.
	e.waitingFor.Store(own)
	for e.inflight.Load() > own {
		<-e.idle
	}
}

// batchCaller is implemented by a host that can take several messages of
// one session in one call (the server, while a batch callback is set).
type batchCaller interface {
	batching() bool
	callHostBatch(sid uint64, b *messageBatch, io C.int)
}
