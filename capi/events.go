package main

/*
#include <stdlib.h>
#include "shims.h"
*/
import "C"

import (
	"errors"
	"time"
	"unsafe"

	"github.com/netsys/netsys/core/handoff"
)

// The pull interface (netsys_*_poll, netsys_*_event_fd) is core's
// handoff.Inbox; what is C's is here: the memory the events' data lies in
// (C memory, so poll hands the host pointers into it with no second copy),
// the wait of a polling C thread, and the event array the host passed.

// cMemory is the Inbox's memory: C's heap, which the host may read
// directly until its next poll.
type cMemory struct{}

func (cMemory) Alloc(n int) []byte {
	p := chunkAlloc(n)
	if p == nil {
		return nil
	}
	return unsafe.Slice((*byte)(p), n)
}

func (cMemory) Free(b []byte) { C.free(unsafe.Pointer(unsafe.SliceData(b))) }

// chunkAlloc allocates C memory for event data (nil when out of memory).
// Tests replace it to simulate exhaustion.
var chunkAlloc = func(size int) unsafe.Pointer { return C.malloc(C.size_t(size)) }

// waitReadable is how a polling host thread waits: in C, in poll(2), not
// on a Go channel. The host thread is a C thread, and parking its
// goroutine would make every wake-up a hand-off between OS threads through
// the Go scheduler (tens of microseconds per event on a busy 2-CPU
// machine). In a cgo call the thread simply sleeps in the kernel and the
// loop that queues the event wakes it with one eventfd write.
func waitReadable(fd int, timeout time.Duration) {
	ms := C.int(-1)
	if timeout >= 0 {
		ms = C.int(min((timeout+time.Millisecond-1)/time.Millisecond, 1<<30))
	}
	C.capi_wait_readable(C.int(fd), ms)
}

// poll implements netsys_*_poll on q: it fills out, the host's array,
// viewed as the queue's records (the same layout, checked below).
func poll(q *handoff.Inbox, out []C.capi_event, timeout time.Duration) (int, status) {
	n, err := q.TakeRecords(unsafe.Slice((*handoff.Record)(unsafe.Pointer(unsafe.SliceData(out))), len(out)), timeout)
	switch {
	case err == nil:
		return n, statusOK
	case errors.Is(err, handoff.ErrBusy):
		return 0, fail(errBusy, "another thread is polling this handle")
	case errors.Is(err, handoff.ErrClosed):
		return 0, fail(errInvalidHandle, "the handle was destroyed")
	default:
		return 0, fail(errIO, "cannot create the event descriptor: %v", err)
	}
}

// pollCount is poll into a fresh array of capacity events, for the Go-side
// tests (which cannot name C types).
func pollCount(q *handoff.Inbox, capacity int, timeout time.Duration) (int, status) {
	return poll(q, make([]C.capi_event, capacity), timeout)
}

// The host's netsys_event and the queue's Record must agree field by
// field: a mismatch does not compile (a constant index out of range, or a
// negative constant converted to uintptr).
var _ = [1]struct{}{}[unsafe.Sizeof(C.capi_event{})-unsafe.Sizeof(handoff.Record{})]
var _ = [1]struct{}{}[unsafe.Sizeof(handoff.Record{})-unsafe.Sizeof(C.capi_event{})]
var _ = [1]struct{}{}[unsafe.Offsetof(C.capi_event{}.status)-unsafe.Offsetof(handoff.Record{}.Status)]
var _ = [1]struct{}{}[unsafe.Offsetof(C.capi_event{}.session_id)-unsafe.Offsetof(handoff.Record{}.Session)]
var _ = [1]struct{}{}[unsafe.Offsetof(C.capi_event{}.data)-unsafe.Offsetof(handoff.Record{}.Data)]
var _ = [1]struct{}{}[unsafe.Offsetof(C.capi_event{}.size)-unsafe.Offsetof(handoff.Record{}.Size)]
