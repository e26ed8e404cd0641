package main

/*
#include "shims.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/netsys/netsys/core"
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
	retainedBufferBytes = 4 << 20 // larger idle buffers are released
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

// endpoint is the delivery machinery shared by servers and clients: the
// callback guard (closed + inflight, so destroy knows when no callback of
// the object is running), the event queue and the worker pool, and the
// flow control that bounds both.
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
	queue  *eventQueue                   // pull interface, always present
	flow   core.Backlog                  // bounds queue and workers together
}

// deliveryState is what the handlers consult on every event.
type deliveryState struct {
	mode int
	pool *workerPool // nil: callbacks run on the I/O thread
}

func (e *endpoint) init(handle uint64, host hostCaller) {
	e.handle, e.host = handle, host
	e.idle = make(chan struct{}, 1)
	e.waitingFor.Store(-1)
	e.queue = newEventQueue(&e.flow)
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
	if d.mode == deliveryCallbacks && d.workers > 0 {
		if old.pool != nil && len(old.pool.workers) == d.workers {
			st.pool = old.pool
		} else {
			st.pool = newWorkerPool(e, d.workers)
		}
	}
	if old.pool != nil && old.pool != st.pool {
		old.pool.stop()
	}
	e.active.Store(st)
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
		// Text counts against the byte limit like message data: the
		// queue is bounded in bytes whatever its events are.
		e.flow.Add(len(text))
		if !e.queue.push(typ, int32(st), sid, nil, text, true) {
			e.flow.Consumed(1, len(text)) // not queued (out of memory): nothing to bound
		}
	case a.pool != nil:
		e.flow.Add(len(text))
		a.pool.pick(sid).push(typ, int32(st), sid, nil, text, true, nil)
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
		over := e.flow.Add(len(msg))
		if !e.queue.push(evMessage, 0, sid, msg, "", false) {
			e.flow.Consumed(1, len(msg))
			e.lostForMemory(sid)
			return
		}
		if over {
			e.flow.Pause(src)
		}
	case a.pool != nil:
		e.queueToWorker(a.pool, evMessage, sid, msg, src, nil)
	default:
		e.host.callHost(evMessage, 0, sid, msg, 1)
	}
}

// queueToWorker queues a message for the session's worker, counting it
// against the bound; src is paused when the host is behind.
func (e *endpoint) queueToWorker(pool *workerPool, typ uint32, sid uint64, msg []byte, src pauser, cb *sessionCallback) {
	over := e.flow.Add(len(msg))
	pool.pick(sid).push(typ, 0, sid, msg, "", false, cb)
	if over {
		e.flow.Pause(src)
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
		e.queueToWorker(a.pool, evSessionMessage, sid, msg, src, cb)
	default:
		e.host.(sessionCaller).callSession(cb, sid, msg, 1)
	}
}

// shutdown stops deliveries for destroy: wakes pollers, stops workers.
func (e *endpoint) shutdown() {
	e.closed.Store(true)
	e.queue.close()
	if p := e.active.Load().pool; p != nil {
		p.stop()
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

// queuedEvent is one event in an eventBuffer; its data (payload, or text
// followed by a NUL) is data[off : off+size(+1)].
type queuedEvent struct {
	typ    uint32
	status int32
	sid    uint64
	off    int
	size   int
	text   bool
	cb     *sessionCallback // evSessionMessage only
}

// span is the number of buffer bytes the event occupies.
func (ev *queuedEvent) span() int {
	if ev.text {
		return ev.size + 1
	}
	return ev.size
}

// eventBuffer stores events with their data packed in one slab, so queuing
// a message costs a copy and no allocation once the slab has grown.
type eventBuffer struct {
	events []queuedEvent
	data   []byte
}

func (b *eventBuffer) add(typ uint32, st int32, sid uint64, msg []byte, text string, isText bool, cb *sessionCallback) {
	off := len(b.data)
	size := len(msg)
	if isText {
		b.data = append(b.data, text...)
		b.data = append(b.data, 0)
		size = len(text)
	} else {
		b.data = append(b.data, msg...)
	}
	b.events = append(b.events, queuedEvent{typ: typ, status: st, sid: sid, off: off, size: size, text: isText, cb: cb})
}

func (b *eventBuffer) reset() {
	clear(b.events) // no stale callback stays reachable from the spare capacity
	b.events = b.events[:0]
	if cap(b.data) > retainedBufferBytes {
		b.data = nil
	} else {
		b.data = b.data[:0]
	}
}

// messageBytes sums the data sizes of events, message payloads and texts
// alike (what flow counts).
func messageBytes(evs []queuedEvent) int {
	n := 0
	for i := range evs {
		n += evs[i].size
	}
	return n
}

// workerPool runs callbacks on its own goroutines. A session always maps
// to the same worker, which keeps its events in order.
type workerPool struct {
	ep      *endpoint
	workers []*worker
	quit    chan struct{}
	once    sync.Once
}

type worker struct {
	pool  *workerPool
	mu    sync.Mutex
	buf   eventBuffer
	wake  chan struct{}
	spans []C.capi_span // deliverBatch's scratch (worker goroutine only)
}

func newWorkerPool(ep *endpoint, n int) *workerPool {
	p := &workerPool{ep: ep, quit: make(chan struct{})}
	for i := 0; i < n; i++ {
		w := &worker{pool: p, wake: make(chan struct{}, 1)}
		p.workers = append(p.workers, w)
		go w.run()
	}
	return p
}

func (p *workerPool) pick(sid uint64) *worker { return p.workers[sid%uint64(len(p.workers))] }

// stop makes the workers exit once their queues are empty.
func (p *workerPool) stop() { p.once.Do(func() { close(p.quit) }) }

func (w *worker) push(typ uint32, st int32, sid uint64, msg []byte, text string, isText bool, cb *sessionCallback) {
	w.mu.Lock()
	w.buf.add(typ, st, sid, msg, text, isText, cb)
	first := len(w.buf.events) == 1
	w.mu.Unlock()
	if first {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// deliver calls the host for one event. A worker goroutine is not under
// the core's handler guard, so a panic here (a bug in this package) is
// recovered and reported as an internal error instead of killing the host
// process; an error event that panics again is not re-reported.
func (w *worker) deliver(typ uint32, st int32, sid uint64, data []byte, cb *sessionCallback) {
	ep := w.pool.ep
	defer func() {
		if r := recover(); r != nil && typ != evError {
			if rep, ok := ep.host.(reporter); ok {
				rep.reportInternal(fmt.Sprintf("netsys internal error in a callback worker: %v", r))
			}
		}
	}()
	if typ == evSessionMessage {
		ep.host.(sessionCaller).callSession(cb, sid, data, 0)
		return
	}
	ep.host.callHost(typ, st, sid, data, 0)
}

// run swaps the queue out in one step and calls the host for each event,
// so pushers are never blocked behind a slow callback.
func (w *worker) run() {
	var mine eventBuffer
	ep := w.pool.ep
	for {
		w.mu.Lock()
		mine, w.buf = w.buf, mine
		w.mu.Unlock()
		if len(mine.events) == 0 {
			select {
			case <-w.wake:
				continue
			case <-w.pool.quit:
				w.mu.Lock()
				empty := len(w.buf.events) == 0
				w.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		for i := 0; i < len(mine.events); {
			if n := w.batchable(mine.events[i:]); n > 0 {
				w.deliverBatch(mine.data, mine.events[i:i+n])
				i += n
				continue
			}
			ev := &mine.events[i]
			w.deliver(ev.typ, ev.status, ev.sid, mine.data[ev.off:ev.off+ev.span()], ev.cb)
			i++
		}
		ep.flow.Consumed(len(mine.events), messageBytes(mine.events))
		mine.reset()
	}
}

// batchCaller is implemented by a host that can take several messages of
// one session in one call (the server, while a batch callback is set).
type batchCaller interface {
	batching() bool
	callHostBatch(sid uint64, b *messageBatch, io C.int)
}

// batchable is how many events at the head of evs go in one batch call:
// the consecutive messages of one session, or 0 when the host takes no
// batches (the events are then delivered one by one).
func (w *worker) batchable(evs []queuedEvent) int {
	bc, ok := w.pool.ep.host.(batchCaller)
	if !ok || evs[0].typ != evMessage || !bc.batching() {
		return 0
	}
	n := 1
	for n < len(evs) && evs[n].typ == evMessage && evs[n].sid == evs[0].sid {
		n++
	}
	return n
}

// deliverBatch calls the host once for evs (messages of one session whose
// data lies in data), with deliver's panic guard.
func (w *worker) deliverBatch(data []byte, evs []queuedEvent) {
	w.spans = w.spans[:0]
	for i := range evs {
		w.spans = append(w.spans, C.capi_span{offset: C.size_t(evs[i].off), size: C.size_t(evs[i].size)})
	}
	ep := w.pool.ep
	defer func() {
		if r := recover(); r != nil {
			if rep, ok := ep.host.(reporter); ok {
				rep.reportInternal(fmt.Sprintf("netsys internal error in a callback worker: %v", r))
			}
		}
	}()
	ep.host.(batchCaller).callHostBatch(evs[0].sid, &messageBatch{base: data, spans: w.spans}, 0)
}
