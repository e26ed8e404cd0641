package main

/*
#include <stdint.h>
#include "shims.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/netsys/netsys/core"
)

// hostData is the host's session pointer as core keeps it (the session's
// Context). It is an integer, never a Go pointer: the memory is the host's,
// and the Go collector must neither scan it nor keep it alive.
type hostData uintptr

type sessionRelease = callback[C.capi_session_release_fn]

// userData is what a server keeps to hand the host's session pointers back
// exactly once. Core forgets a session as soon as it ends, but the host
// still fetches its pointer in the disconnect callback, which may run
// later (on a callback worker, or when the host polls the DISCONNECT
// event): ending holds those sessions, and only those, until the release.
type userData struct {
	release atomic.Pointer[sessionRelease]

	mu     sync.Mutex
	ending map[uint64]*core.Session // ended in core, not released yet
	polled []uint64                 // pull mode: sessions whose DISCONNECT the last poll returned
	spare  []uint64                 // polled's previous backing array, reused
	closed bool                     // destroy has released everything: attach nothing more
	// holding is whether ending or polled holds a session, stored under mu
	// whenever either changes: a poll of messages only, the common one,
	// then skips the lock and the scan of its events for DISCONNECT. (A
	// session is in ending before its DISCONNECT is queued, so a poll that
	// takes that event finds holding set.)
	holding atomic.Bool
}

// heldLocked updates holding after ending or polled changed; u.mu is held.
func (u *userData) heldLocked() { u.holding.Store(len(u.ending) > 0 || len(u.polled) > 0) }

// ended records a session that core has just closed; called before its
// disconnect event is delivered, so the event's callback still finds it.
func (u *userData) ended(sess *core.Session) {
	u.mu.Lock()
	if !u.closed {
		if u.ending == nil {
			u.ending = make(map[uint64]*core.Session)
		}
		u.ending[sess.ID()] = sess
		u.heldLocked()
	}
	u.mu.Unlock()
}

// take detaches and returns a session's pointer (0: none); u.mu is held,
// so a concurrent set either lands before (and is released) or finds the
// session gone.
func take(sess *core.Session) hostData {
	v, _ := sess.Context().(hostData)
	if v != 0 {
		sess.SetContext(nil)
	}
	return v
}

// find returns the session whose pointer the host may use: open in core,
// or ended and not released yet.
func (s *server) findForData(sid uint64) (*core.Session, status) {
	if sess := s.srv.Session(sid); sess != nil {
		return sess, statusOK // the common case, without the lock (C++ asks once per message batch)
	}
	s.ud.mu.Lock()
	defer s.ud.mu.Unlock()
	return s.findForDataLocked(sid)
}

// findForDataLocked is findForData for a caller holding s.ud.mu.
func (s *server) findForDataLocked(sid uint64) (*core.Session, status) {
	sess := s.srv.Session(sid)
	if sess == nil {
		sess = s.ud.ending[sid]
	}
	if sess == nil {
		return nil, fail(errNotFound, "server %d has no open session %d", s.handle, sid)
	}
	return sess, statusOK
}

// callRelease hands taken pointers to the host's release callback, if any
// (without one, the host keeps the ownership it never gave away).
func (s *server) callRelease(sids []uint64, data []hostData, io C.int) {
	cb := s.ud.release.Load()
	if cb == nil {
		return
	}
	for i, v := range data {
		if v != 0 {
			C.capi_call_session_release(cb.fn, cb.ud, C.uint64_t(s.handle), C.uint64_t(sids[i]), C.uintptr_t(v), io)
		}
	}
}

// releaseEnded releases one session after its disconnect callback has
// returned (callback delivery, on the thread that ran it).
func (s *server) releaseEnded(sid uint64, io C.int) {
	s.ud.mu.Lock()
	sess := s.ud.ending[sid]
	var v hostData
	if sess != nil {
		delete(s.ud.ending, sid)
		s.ud.heldLocked()
		v = take(sess)
	}
	s.ud.mu.Unlock()
	if v != 0 {
		s.callRelease([]uint64{sid}, []hostData{v}, io)
	}
}

// capi_release_ended is releaseEnded called from the disconnect
// trampoline, right after the host's disconnect callback on the same OS
// thread. A panic must not unwind through the C frames below it: it is
// reported instead.
//
//export capi_release_ended
func capi_release_ended(h, sid C.uint64_t, io C.int) {
	obj, ok := handles.Load(uint64(h))
	if !ok {
		return // being destroyed: destroy's sweep releases it
	}
	s, ok := obj.(*server)
	if !ok {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			s.reportInternal(fmt.Sprintf("netsys internal error releasing session %d: %v", uint64(sid), r))
		}
	}()
	s.releaseEnded(uint64(sid), io)
}

// releasePolled is the pull interface's rule: a session is released in the
// poll after the one that returned its DISCONNECT event, when that event's
// data is no longer valid, on the polling thread.
func (s *server) releasePolled(events []C.capi_event) {
	if !s.ud.holding.Load() {
		return // no session ended since the last poll released them: no DISCONNECT among these events
	}
	s.ud.mu.Lock()
	prev := s.ud.polled
	next := s.ud.spare[:0]
	for i := range events {
		if events[i]._type == evDisconnect {
			next = append(next, uint64(events[i].session_id))
		}
	}
	s.ud.polled = next
	var sids []uint64
	var data []hostData
	for _, sid := range prev {
		if sess := s.ud.ending[sid]; sess != nil {
			delete(s.ud.ending, sid)
			if v := take(sess); v != 0 {
				sids, data = append(sids, sid), append(data, v)
			}
		}
	}
	s.ud.spare = prev[:0]
	s.ud.heldLocked()
	s.ud.mu.Unlock()
	s.callRelease(sids, data, 0)
}

// releaseAll is destroy's sweep, once no callback of the server runs:
// every session still holding a pointer, open or ended, is released, and
// nothing can be attached afterwards.
func (s *server) releaseAll() {
	open := s.srv.Sessions()
	s.ud.mu.Lock()
	s.ud.closed = true
	var sids []uint64
	var data []hostData
	add := func(sess *core.Session) {
		if v := take(sess); v != 0 {
			sids, data = append(sids, sess.ID()), append(data, v)
		}
	}
	for _, sess := range open {
		add(sess)
	}
	for _, sess := range s.ud.ending {
		add(sess)
	}
	s.ud.ending, s.ud.polled, s.ud.spare = nil, nil, nil
	s.ud.heldLocked()
	s.ud.mu.Unlock()
	s.callRelease(sids, data, 0)
}

//export netsys_session_set_user_data
func netsys_session_set_user_data(h, sid C.uint64_t, data unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	// Under the lock: a release (or destroy's sweep) either sees this
	// pointer or makes this call fail, so no pointer is left unreleased.
	s.ud.mu.Lock()
	defer s.ud.mu.Unlock()
	if s.ud.closed {
		return fail(errInvalidHandle, "server %d is being destroyed", uint64(h))
	}
	sess, rc := s.findForDataLocked(uint64(sid))
	if rc != statusOK {
		return rc
	}
	if data == nil {
		sess.SetContext(nil)
	} else {
		sess.SetContext(hostData(uintptr(data)))
	}
	return statusOK
}

//export netsys_session_get_user_data
func netsys_session_get_user_data(h, sid C.uint64_t, out *unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "data must not be NULL")
	}
	sess, rc := s.findForData(uint64(sid))
	if rc != statusOK {
		return rc
	}
	v, _ := sess.Context().(hostData)
	// Written as an integer: the value is the host's pointer, not Go's.
	*(*uintptr)(unsafe.Pointer(out)) = uintptr(v)
	return statusOK
}

//export netsys_server_set_session_release_callback
func netsys_server_set_session_release_callback(h C.uint64_t, fn C.capi_session_release_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc == statusOK {
		setCallback(&s.ud.release, fn, ud)
	}
	return rc
}
