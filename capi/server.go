package main

/*
#include "shims.h"
*/
import "C"

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/netsys/netsys/core"
)

// server is what a netsys_server handle names.
type server struct {
	endpoint
	srv *core.Server

	mu       sync.Mutex // serializes start and option changes
	cfg      core.ServerConfig
	delivery deliveryConfig
	runDone  chan struct{} // closed once the current run's STOPPED is out

	onConnect      atomic.Pointer[callback[C.capi_server_connect_fn]]
	onMessage      atomic.Pointer[callback[C.capi_server_message_fn]]
	onMessageBatch atomic.Pointer[callback[C.capi_server_message_batch_fn]] // while set, replaces onMessage (batch.go)
	onDisconnect   atomic.Pointer[callback[C.capi_server_disconnect_fn]]
	onError        atomic.Pointer[callback[C.capi_server_error_fn]]

	ud userData // the host's session pointers (userdata.go)
}

// callback is a host function pointer with its user data (C pointers, so
// Go may keep them).
type callback[F any] struct {
	fn F
	ud unsafe.Pointer
}

// setCallback stores fn and ud, or clears the slot when fn is NULL.
func setCallback[F comparable](slot *atomic.Pointer[callback[F]], fn F, ud unsafe.Pointer) {
	var null F
	if fn == null {
		slot.Store(nil)
		return
	}
	slot.Store(&callback[F]{fn: fn, ud: ud})
}

func newServer(id string) (*server, error) {
	srv, err := core.NewServer(id, core.ServerConfig{})
	if err != nil {
		return nil, err
	}
	s := &server{srv: srv}
	s.init(newHandle(), s)
	s.configure(s.delivery)
	srv.OnConnect(func(sess *core.Session) { s.emitText(evConnect, statusOK, sess.ID(), sess.ClientID()) })
	srv.OnMessage(func(sess *core.Session, msg []byte) { s.emitMessage(sess.ID(), msg, sess) })
	srv.OnDisconnect(func(sess *core.Session, reason string) {
		s.ud.ended(sess)
		s.emitText(evDisconnect, statusOK, sess.ID(), reason)
	})
	srv.OnError(func(sess *core.Session, err error) {
		var sid uint64
		if sess != nil {
			sid = sess.ID()
		}
		s.emitText(evError, statusOf(err), sid, err.Error())
	})
	return s, nil
}

// callHost calls the host's callback for one event (see hostCaller).
func (s *server) callHost(typ uint32, st int32, sid uint64, data []byte, io C.int) {
	if !s.enter() {
		return
	}
	defer s.leave()
	h := C.uint64_t(s.handle)
	var ptr *C.uint8_t
	if len(data) > 0 {
		ptr = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	switch typ {
	case evConnect:
		if cb := s.onConnect.Load(); cb != nil {
			C.capi_call_server_connect(cb.fn, cb.ud, h, C.uint64_t(sid), io)
		}
	case evMessage:
		if s.batching() {
			// The batch callback was set while this message was on its way
			// through the per-message path: a batch of one.
			s.callBatchOfOne(sid, data, io)
			return
		}
		if cb := s.onMessage.Load(); cb != nil {
			C.capi_call_server_message(cb.fn, cb.ud, h, C.uint64_t(sid), ptr, C.size_t(len(data)), io)
		}
	case evDisconnect:
		cb := s.onDisconnect.Load()
		if s.ud.release.Load() != nil {
			var fn C.capi_server_disconnect_fn
			var ud unsafe.Pointer
			if cb != nil {
				fn, ud = cb.fn, cb.ud
			}
			C.capi_call_server_disconnect_release(fn, ud, h, C.uint64_t(sid), (*C.char)(unsafe.Pointer(ptr)), io)
			return
		}
		if cb != nil {
			C.capi_call_server_disconnect(cb.fn, cb.ud, h, C.uint64_t(sid), (*C.char)(unsafe.Pointer(ptr)), io)
		}
		s.releaseEnded(sid, io) // nothing to call: only forgets the session
	case evError:
		if cb := s.onError.Load(); cb != nil {
			C.capi_call_server_error(cb.fn, cb.ud, h, C.uint64_t(sid), C.int(st), (*C.char)(unsafe.Pointer(ptr)), io)
		}
	}
}

// callSession calls a per-session message callback (see sessionCaller).
func (s *server) callSession(cb *sessionCallback, sid uint64, msg []byte, io C.int) {
	if !s.enter() {
		return
	}
	defer s.leave()
	C.capi_call_server_message(cb.fn, cb.ud, C.uint64_t(s.handle), C.uint64_t(sid), bytePtr(msg), C.size_t(len(msg)), io)
}

func (s *server) reportInternal(msg string) { s.emitText(evError, errInternal, 0, msg) }

// settings gives the option code access to the stored configuration.
func (s *server) settings(cfg *core.ServerConfig, d *deliveryConfig) settings {
	return settings{server: cfg, delivery: d}
}

// applyOption runs set on a copy of the configuration and keeps the copy
// only if the core accepts it (SetConfig refuses while running).
func (s *server) applyOption(set func(settings) status) status {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv.IsRunning() || stillRunning(s.runDone) {
		return fail(errAlreadyRunning, "options cannot change while the server is running or stopping")
	}
	cfg, d := s.cfg, s.delivery
	cfg.Compression = append([]core.Codec(nil), cfg.Compression...)
	cfg.Transforms = append([]string(nil), cfg.Transforms...)
	if rc := set(s.settings(&cfg, &d)); rc != statusOK {
		return rc
	}
	if err := s.srv.SetConfig(cfg); err != nil {
		return optionError(err)
	}
	if d != s.delivery {
		s.configure(d) // stopped: the next run (and poll) use it at once
	}
	s.cfg, s.delivery = cfg, d
	return statusOK
}

//export netsys_server_create
func netsys_server_create(out *C.uint64_t, id *C.char) (rc status) {
	defer guard(&rc, 0)
	if out == nil {
		return fail(errNullPointer, "out must not be NULL")
	}
	name, rc := goString(id, "server_id")
	if rc != statusOK {
		return rc
	}
	s, err := newServer(name)
	if err != nil {
		return failErr(err)
	}
	handles.Store(s.handle, s)
	liveSrv.Add(1)
	*out = C.uint64_t(s.handle)
	return statusOK
}

//export netsys_server_destroy
func netsys_server_destroy(h C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	if !handles.CompareAndDelete(uint64(h), s) {
		return fail(errInvalidHandle, "server %d is being destroyed by another call", uint64(h))
	}
	liveSrv.Add(-1)
	own := int64(C.capi_callback_depth(h))
	s.shutdown()
	s.srv.Stop() // returns at once when called on one of its loops
	s.waitCallbacks(own)
	s.releaseAll()
	s.queue.Free()
	return statusOK
}

//export netsys_server_set_int
func netsys_server_set_int(h C.uint64_t, opt C.int, v C.int64_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	return s.applyOption(func(st settings) status { return st.setInt(int(opt), int64(v)) })
}

//export netsys_server_get_int
func netsys_server_get_int(h C.uint64_t, opt C.int, out *C.int64_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "value must not be NULL")
	}
	s.mu.Lock()
	v, rc := s.settings(&s.cfg, &s.delivery).getInt(int(opt))
	s.mu.Unlock()
	if rc == statusOK {
		*out = C.int64_t(v)
	}
	return rc
}

//export netsys_server_set_string
func netsys_server_set_string(h C.uint64_t, opt C.int, value *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	v, rc := goString(value, "value")
	if rc != statusOK {
		return rc
	}
	return s.applyOption(func(st settings) status { return st.setString(int(opt), v) })
}

//export netsys_server_get_string
func netsys_server_get_string(h C.uint64_t, opt C.int, buf *C.char, capacity C.size_t, needed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	s.mu.Lock()
	v, rc := s.settings(&s.cfg, &s.delivery).getString(int(opt))
	s.mu.Unlock()
	if rc != statusOK {
		return rc
	}
	return copyOut(v, buf, capacity, needed)
}

//export netsys_server_set_connect_callback
func netsys_server_set_connect_callback(h C.uint64_t, fn C.capi_server_connect_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc == statusOK {
		setCallback(&s.onConnect, fn, ud)
	}
	return rc
}

//export netsys_server_set_message_callback
func netsys_server_set_message_callback(h C.uint64_t, fn C.capi_server_message_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc == statusOK {
		setCallback(&s.onMessage, fn, ud)
	}
	return rc
}

//export netsys_server_set_disconnect_callback
func netsys_server_set_disconnect_callback(h C.uint64_t, fn C.capi_server_disconnect_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc == statusOK {
		setCallback(&s.onDisconnect, fn, ud)
	}
	return rc
}

//export netsys_server_set_error_callback
func netsys_server_set_error_callback(h C.uint64_t, fn C.capi_server_error_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc == statusOK {
		setCallback(&s.onError, fn, ud)
	}
	return rc
}

//export netsys_server_start
func netsys_server_start(h C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv.IsRunning() {
		return fail(errAlreadyRunning, "server is already running")
	}
	if stillRunning(s.runDone) {
		// Stopped from a callback and not done yet: its delivery is still
		// in use, so it cannot be replaced for a new run.
		return fail(errAlreadyRunning, "server is still stopping")
	}
	s.configure(s.delivery)
	if err := s.srv.Start(); err != nil {
		return failErr(err)
	}
	done := make(chan struct{})
	s.runDone = done
	go func() {
		s.srv.Wait()
		s.emitText(evStopped, statusOK, 0, "")
		close(done)
	}()
	return statusOK
}

//export netsys_server_stop
func netsys_server_stop(h C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	if err := s.srv.Stop(); err != nil {
		return failErr(err)
	}
	if C.capi_in_io_callback() == 0 {
		// Stopped for good: let the STOPPED event out before returning, so
		// the host sees it as the last event of the run.
		s.mu.Lock()
		done := s.runDone
		s.mu.Unlock()
		if done != nil {
			<-done
		}
	}
	return statusOK
}

// stillRunning reports whether a run (done nil: none yet) has not ended:
// a stop from a callback returns before it has.
func stillRunning(done chan struct{}) bool {
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// waitRun waits for a run's end (nil: never started) up to timeoutMS.
func waitRun(done chan struct{}, timeoutMS C.int) status {
	if done == nil {
		return statusOK
	}
	switch {
	case timeoutMS < 0:
		<-done
		return statusOK
	case timeoutMS == 0:
		select {
		case <-done:
			return statusOK
		default:
			return fail(errTimeout, "still running")
		}
	}
	t := time.NewTimer(time.Duration(timeoutMS) * time.Millisecond)
	defer t.Stop()
	select {
	case <-done:
		return statusOK
	case <-t.C:
		return fail(errTimeout, "still running after %d ms", int(timeoutMS))
	}
}

//export netsys_server_wait
func netsys_server_wait(h C.uint64_t, timeoutMS C.int) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	if C.capi_in_io_callback() != 0 {
		return fail(errDeadlock, "netsys_server_wait called from a callback on an I/O thread would wait for itself")
	}
	s.mu.Lock()
	done := s.runDone
	s.mu.Unlock()
	return waitRun(done, timeoutMS)
}

//export netsys_server_is_running
func netsys_server_is_running(h C.uint64_t, out *C.bool) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "running must not be NULL")
	}
	*out = cBool(s.srv.IsRunning())
	return statusOK
}

//export netsys_server_port
func netsys_server_port(h C.uint64_t, out *C.int) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "port must not be NULL")
	}
	*out = C.int(s.srv.Port())
	return statusOK
}

//export netsys_server_connection_count
func netsys_server_connection_count(h C.uint64_t, out *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "count must not be NULL")
	}
	*out = C.size_t(s.srv.ConnectionCount())
	return statusOK
}

//export netsys_server_id
func netsys_server_id(h C.uint64_t, buf *C.char, capacity C.size_t, needed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	return copyOut(s.srv.ID(), buf, capacity, needed)
}

// unixNano converts for the stats structs: the zero time is 0.
func unixNano(t time.Time) C.int64_t {
	if t.IsZero() {
		return 0
	}
	return C.int64_t(t.UnixNano())
}

// fillStats copies a fully built stats struct into the caller's, as far as
// its struct_size says, and reports the bytes filled in struct_size.
func fillStats[T any](dst *T, full T, minSize C.size_t) status {
	if dst == nil {
		return fail(errNullPointer, "stats must not be NULL")
	}
	size := *(*C.size_t)(unsafe.Pointer(dst))
	if size < minSize {
		return fail(errInvalidArgument, "stats.struct_size is %d, at least %d needed (set it to sizeof the struct)",
			uint64(size), uint64(minSize))
	}
	n := min(int(size), int(unsafe.Sizeof(full)))
	copy(unsafe.Slice((*byte)(unsafe.Pointer(dst)), n), unsafe.Slice((*byte)(unsafe.Pointer(&full)), n))
	*(*C.size_t)(unsafe.Pointer(dst)) = C.size_t(n)
	return statusOK
}

//export netsys_server_get_stats
func netsys_server_get_stats(h C.uint64_t, out *C.capi_server_stats) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	st := s.srv.Statistics()
	return fillStats(out, C.capi_server_stats{
		total_connections:    C.uint64_t(st.TotalConnections),
		current_connections:  C.uint64_t(st.CurrentConnections),
		rejected_connections: C.uint64_t(st.RejectedConnections),
		messages_sent:        C.uint64_t(st.MessagesSent),
		messages_received:    C.uint64_t(st.MessagesReceived),
		bytes_sent:           C.uint64_t(st.BytesSent),
		bytes_received:       C.uint64_t(st.BytesReceived),
		protocol_errors:      C.uint64_t(st.ProtocolErrors),
		oversize_messages:    C.uint64_t(st.OversizeMessages),
		start_time_ns:        unixNano(st.StartTime),
		last_activity_ns:     unixNano(st.LastActivity),
	}, C.CAPI_SERVER_STATS_MIN)
}

//export netsys_server_reset_stats
func netsys_server_reset_stats(h C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc == statusOK {
		s.srv.ResetStatistics()
	}
	return rc
}

//export netsys_server_sessions
func netsys_server_sessions(h C.uint64_t, ids *C.uint64_t, capacity C.size_t, count *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	sessions := s.srv.Sessions()
	list := make([]uint64, len(sessions))
	for i, sess := range sessions {
		list[i] = sess.ID()
	}
	return copyIDs(list, ids, capacity, count)
}

//export netsys_server_has_session
func netsys_server_has_session(h C.uint64_t, sid C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	_, rc = lookupSession(h, sid)
	return rc
}

// broadcastResult reports a broadcast's counts: the core returns how many
// sessions queued the message and the failures of the others, joined.
func broadcastResult(n int, err error, sent, failed *C.size_t) status {
	nfailed := 0
	if err != nil {
		nfailed = 1
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			nfailed = len(j.Unwrap())
		}
	}
	if sent != nil {
		*sent = C.size_t(n)
	}
	if failed != nil {
		*failed = C.size_t(nfailed)
	}
	return statusOK
}

//export netsys_server_broadcast
func netsys_server_broadcast(h C.uint64_t, data *C.uint8_t, size C.size_t, sent, failed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	msg, rc := bytesOf(data, size)
	if rc != statusOK {
		return rc
	}
	if !s.srv.IsRunning() {
		return fail(errNotRunning, "server is not running")
	}
	n, err := s.srv.Broadcast(msg)
	return broadcastResult(n, err, sent, failed)
}

//export netsys_server_broadcast_to_group
func netsys_server_broadcast_to_group(h C.uint64_t, group *C.char, data *C.uint8_t, size C.size_t, sent, failed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	g, rc := goString(group, "group")
	if rc != statusOK {
		return rc
	}
	msg, rc := bytesOf(data, size)
	if rc != statusOK {
		return rc
	}
	if !s.srv.IsRunning() {
		return fail(errNotRunning, "server is not running")
	}
	n, err := s.srv.BroadcastToGroup(g, msg)
	if err != nil && n == 0 && errors.Is(err, core.ErrNotFound) {
		err = nil // an unknown group simply has no members
	}
	return broadcastResult(n, err, sent, failed)
}

//export netsys_server_group_members
func netsys_server_group_members(h C.uint64_t, group *C.char, ids *C.uint64_t, capacity C.size_t, count *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	g, rc := goString(group, "group")
	if rc != statusOK {
		return rc
	}
	return copyIDs(s.srv.GroupMembers(g), ids, capacity, count)
}

//export netsys_server_disconnect_all
func netsys_server_disconnect_all(h C.uint64_t, reason *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc == statusOK {
		s.srv.DisconnectAll(optString(reason))
	}
	return rc
}

// pollEvents implements netsys_*_poll for either kind of object.
func pollEvents(e *endpoint, events *C.capi_event, capacity C.size_t, timeoutMS C.int, count *C.size_t) status {
	switch {
	case events == nil || count == nil:
		return fail(errNullPointer, "events and count must not be NULL")
	case capacity == 0:
		return fail(errInvalidArgument, "capacity must be at least 1")
	case e.active.Load().mode != deliveryEvents:
		return fail(errWrongMode, "poll needs NETSYS_OPT_DELIVERY = NETSYS_DELIVERY_EVENTS (set before start)")
	}
	*count = 0
	timeout := time.Duration(timeoutMS) * time.Millisecond
	if timeoutMS < 0 {
		timeout = -1
	}
	n, rc := poll(e.queue, unsafe.Slice(events, int(min(capacity, 1<<20))), timeout)
	*count = C.size_t(n)
	return rc
}

// eventFD implements netsys_*_event_fd.
func eventFD(e *endpoint, delivery int, fd *C.int) status {
	if fd == nil {
		return fail(errNullPointer, "fd must not be NULL")
	}
	if delivery != deliveryEvents {
		return fail(errWrongMode, "event_fd needs NETSYS_OPT_DELIVERY = NETSYS_DELIVERY_EVENTS")
	}
	n, err := e.queue.FD()
	if err != nil {
		return fail(errIO, "cannot create the event descriptor: %v", err)
	}
	*fd = C.int(n)
	return statusOK
}

//export netsys_server_poll
func netsys_server_poll(h C.uint64_t, events *C.capi_event, capacity C.size_t, timeoutMS C.int, count *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	rc = pollEvents(&s.endpoint, events, capacity, timeoutMS, count)
	if rc == statusOK {
		s.releasePolled(unsafe.Slice(events, int(*count)))
	}
	return rc
}

//export netsys_server_event_fd
func netsys_server_event_fd(h C.uint64_t, fd *C.int) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	return eventFD(&s.endpoint, s.deliveryMode(), fd)
}

// holdEvents implements netsys_*_hold_events for either kind of object.
func holdEvents(e *endpoint, delivery int, events, bytes C.int64_t) status {
	if delivery != deliveryEvents {
		return fail(errWrongMode, "hold_events needs NETSYS_OPT_DELIVERY = NETSYS_DELIVERY_EVENTS")
	}
	if err := e.flow.Hold(int64(events), int64(bytes)); err != nil {
		return failErr(err)
	}
	return statusOK
}

//export netsys_server_hold_events
func netsys_server_hold_events(h C.uint64_t, events, bytes C.int64_t) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	return holdEvents(&s.endpoint, s.deliveryMode(), events, bytes)
}

// deliveryMode is the NETSYS_OPT_DELIVERY the server is configured with.
func (s *server) deliveryMode() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delivery.mode
}
