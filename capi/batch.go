package main

/*
#cgo noescape capi_call_server_message_batch
#include "shims.h"
*/
import "C"

import (
	"slices"
	"sync"
	"unsafe"

	"github.com/netsys/netsys/core"
)

// Batch delivery: netsys_server_message_batch_fn gets the messages of one
// read in one cgo call, which is what makes small messages cheap (a cgo
// call costs far more than handing over a 64-byte message).
//
// How the messages reach C within the cgo pointer rules: Go passes one
// pointer into a pointer-free byte buffer (as the per-message callback
// does) and an array of integer spans (offset, size) in Go memory holding
// no pointers; the C trampoline builds the netsys_message array in C
// memory from the two. No Go pointer is ever stored in C memory by Go, and
// no Go memory containing Go pointers is passed to C (cgocheck2 agrees).

// messageBatch is a batch as C sees it: messages i lies at
// base[spans[i].offset:][:spans[i].size].
type messageBatch struct {
	base  []byte
	spans []C.capi_span
}

func (b *messageBatch) message(i int) []byte {
	sp := b.spans[i]
	if sp.size == 0 {
		return nil
	}
	return b.base[sp.offset : sp.offset+sp.size]
}

// basePtr is the pointer C adds the offsets to (NULL if every message is empty).
func (b *messageBatch) basePtr() *C.uint8_t {
	if len(b.base) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&b.base[0]))
}

// batchScratch is the reusable memory for building one batch: several
// loops deliver at once, so scratches come from a pool.
type batchScratch struct {
	spans []C.capi_span
	copy  []byte // only when the messages do not share one buffer
}

var batchScratches = sync.Pool{New: func() any { return new(batchScratch) }}

func (sc *batchScratch) release() {
	if cap(sc.copy) > retainedBufferBytes {
		sc.copy = nil
	}
	sc.copy = sc.copy[:0]
	sc.spans = sc.spans[:0]
	batchScratches.Put(sc)
}

// spansIn writes into spans (as long as msgs) each message's offset in in
// and its size, and returns the end of the part of in they cover; inside
// is false, and spans unfinished, if a message does not lie in in. A
// function of its own, with two compares per message, so that its values
// stay in registers.
func spansIn(in []byte, msgs [][]byte, spans []C.capi_span) (hi uintptr, inside bool) {
	start, n := uintptr(unsafe.Pointer(unsafe.SliceData(in))), uintptr(len(in))
	spans = spans[:len(msgs)]
	for i, m := range msgs {
		size := uintptr(len(m))
		if size == 0 {
			spans[i] = C.capi_span{}
			continue
		}
		off := uintptr(unsafe.Pointer(unsafe.SliceData(m))) - start // wraps around when m starts before in
		if off >= n || size > n-off {
			return 0, false
		}
		spans[i] = C.capi_span{offset: C.size_t(off), size: C.size_t(size)}
		hi = max(hi, off+size)
	}
	return hi, true
}

// batchOf describes msgs as one buffer plus spans. The core hands a batch
// with the memory its messages lie in (in: the bytes they were decoded
// from), so each message is its offset in in and no byte is copied. A
// message outside in (which the core does not hand) would be copied into
// sc.copy with the others rather than trusted.
func batchOf(in []byte, msgs [][]byte, sc *batchScratch) messageBatch {
	spans := slices.Grow(sc.spans[:0], len(msgs))[:len(msgs)]
	if hi, inside := spansIn(in, msgs, spans); inside {
		sc.spans = spans
		if hi == 0 {
			return messageBatch{spans: spans} // every message is empty
		}
		// One pass: the offsets count from in's start (the bytes before the
		// first message, a frame header at least, are never read).
		return messageBatch{base: in[:hi], spans: spans}
	}
	spans, buf := spans[:0], sc.copy[:0]
	for _, m := range msgs {
		spans = append(spans, C.capi_span{offset: C.size_t(len(buf)), size: C.size_t(len(m))})
		buf = append(buf, m...)
	}
	sc.spans, sc.copy = spans, buf
	return messageBatch{base: buf, spans: spans}
}

// batching reports whether the host wants message batches.
func (s *server) batching() bool { return s.onMessageBatch.Load() != nil }

// onCoreBatch is the core's batch handler, installed while a batch
// callback is set and always for the pull interface, whose queue takes a
// batch in one step (the core stops each batch at the queue's room, see
// syncBatching). Workers queue the messages one by one (and regroup them:
// handoff.Funcs.Batch).
func (s *server) onCoreBatch(sess *core.Session, in []byte, msgs []core.MessageSpan) {
	if s.closed.Load() {
		return
	}
	switch a := s.active.Load(); {
	case a.mode == deliveryEvents:
		for range len(msgs) - s.queue.PushRead(evMessage, sess.ID(), in, msgs, sess) {
			s.lostForMemory(sess.ID())
		}
		return
	case a.pool != nil:
		for _, m := range msgs {
			s.emitMessage(sess.ID(), m.Of(in), sess)
		}
		return
	}
	b := messageBatch{base: in, spans: cSpans(msgs)}
	s.callHostBatch(sess.ID(), &b, 1)
}

// cSpans is the core's spans as C's, the same memory: both are two
// pointer-sized integers (checked below), and neither holds a pointer.
func cSpans(msgs []core.MessageSpan) []C.capi_span {
	if len(msgs) == 0 {
		return nil
	}
	return unsafe.Slice((*C.capi_span)(unsafe.Pointer(unsafe.SliceData(msgs))), len(msgs))
}

// The layouts cSpans relies on: a build where they differ fails here.
var _ = [1]struct{}{}[unsafe.Sizeof(core.MessageSpan{})-unsafe.Sizeof(C.capi_span{})]
var _ = [1]struct{}{}[unsafe.Offsetof(core.MessageSpan{}.Size)-unsafe.Offsetof(C.capi_span{}.size)]

// callHostBatch calls the host for a batch of one session's messages: the
// batch callback if set, else (it was removed meanwhile) the message
// callback per message. (Per-session callbacks follow from the core, which
// calls them after the batch.)
func (s *server) callHostBatch(sid uint64, b *messageBatch, io C.int) {
	if len(b.spans) == 0 || !s.enter() {
		return
	}
	defer s.leave()
	h := C.uint64_t(s.handle)
	if cb := s.onMessageBatch.Load(); cb != nil {
		C.capi_call_server_message_batch(cb.fn, cb.ud, h, C.uint64_t(sid), b.basePtr(), &b.spans[0],
			C.size_t(len(b.spans)), io)
	} else if cb := s.onMessage.Load(); cb != nil {
		for i := range b.spans {
			m := b.message(i)
			C.capi_call_server_message(cb.fn, cb.ud, h, C.uint64_t(sid), bytePtr(m), C.size_t(len(m)), io)
		}
	}
}

// bytePtr is the C view of a message's first byte (NULL when empty).
func bytePtr(m []byte) *C.uint8_t {
	if len(m) == 0 {
		return nil
	}
	return (*C.uint8_t)(unsafe.Pointer(&m[0]))
}

//export netsys_server_set_message_batch_callback
func netsys_server_set_message_batch_callback(h C.uint64_t, fn C.capi_server_message_batch_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	// The C callback first, then the core handler: each message still goes
	// through exactly one of them while they disagree (onCoreBatch falls
	// back to the message callback, callHost to a batch of one).
	setCallback(&s.onMessageBatch, fn, ud)
	s.syncBatching()
	return statusOK
}

// configure is the endpoint's, then the batching that goes with it.
func (s *server) configure(d deliveryConfig) {
	s.endpoint.configure(d)
	s.syncBatching()
}

// syncBatching installs the core batch handler when the host takes batches
// or the pull interface is on, and bounds batches by the event queue's
// room whenever messages are queued (pull interface or workers), so a
// batch never carries the queue past its bound.
func (s *server) syncBatching() {
	a := s.active.Load()
	if a.mode == deliveryEvents || s.onMessageBatch.Load() != nil {
		s.srv.OnMessageBatchIn(s.onCoreBatch)
	} else {
		s.srv.OnMessageBatchIn(nil)
	}
	if a.mode == deliveryEvents || a.pool != nil {
		s.srv.LimitMessageBatches(s.flow.Room)
	} else {
		s.srv.LimitMessageBatches(nil)
	}
}

// callBatchOfOne delivers one message through callHostBatch (the caller
// has entered the callback guard; callHostBatch enters once more, which
// only nests the count).
func (s *server) callBatchOfOne(sid uint64, msg []byte, io C.int) {
	one := [1]C.capi_span{{size: C.size_t(len(msg))}}
	b := messageBatch{base: msg, spans: one[:]}
	s.callHostBatch(sid, &b, io)
}
