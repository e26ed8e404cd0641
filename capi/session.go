package main

/*
#include <string.h>
#include "shims.h"
*/
import "C"

import (
	"time"
	"unsafe"

	"github.com/netsys/netsys/core"
)

// lookupSession resolves a (server handle, session id) pair.
func lookupSession(h, sid C.uint64_t) (*core.Session, status) {
	s, rc := lookupServer(h)
	if rc != statusOK {
		return nil, rc
	}
	sess := s.srv.Session(uint64(sid))
	if sess == nil {
		return nil, fail(errNotFound, "server %d has no open session %d", uint64(h), uint64(sid))
	}
	return sess, statusOK
}

func sendOn(h, sid C.uint64_t, data *C.uint8_t, size C.size_t, timeout time.Duration) status {
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	msg, rc := bytesOf(data, size)
	if rc != statusOK {
		return rc
	}
	if err := sess.SendTimeout(msg, timeout); err != nil {
		return failErr(err)
	}
	return statusOK
}

//export netsys_session_send
func netsys_session_send(h, sid C.uint64_t, data *C.uint8_t, size C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	return sendOn(h, sid, data, size, 0)
}

//export netsys_session_send_string
func netsys_session_send_string(h, sid C.uint64_t, text *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	if text == nil {
		return fail(errNullPointer, "text must not be NULL")
	}
	return sendOn(h, sid, (*C.uint8_t)(unsafe.Pointer(text)), C.strlen(text), 0)
}

//export netsys_session_send_timeout
func netsys_session_send_timeout(h, sid C.uint64_t, data *C.uint8_t, size C.size_t, timeoutMS C.int) (rc status) {
	defer guard(&rc, uint64(h))
	if timeoutMS < 0 {
		return fail(errInvalidArgument, "timeout_ms must not be negative")
	}
	return sendOn(h, sid, data, size, time.Duration(timeoutMS)*time.Millisecond)
}

//export netsys_session_disconnect
func netsys_session_disconnect(h, sid C.uint64_t, reason *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	if err := sess.Disconnect(optString(reason)); err != nil {
		return failErr(err)
	}
	return statusOK
}

//export netsys_session_get_state
func netsys_session_get_state(h, sid C.uint64_t, out *C.int) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "state must not be NULL")
	}
	*out = C.int(sess.State())
	return statusOK
}

//export netsys_session_client_id
func netsys_session_client_id(h, sid C.uint64_t, buf *C.char, capacity C.size_t, needed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	return copyOut(sess.ClientID(), buf, capacity, needed)
}

//export netsys_session_remote_address
func netsys_session_remote_address(h, sid C.uint64_t, buf *C.char, capacity C.size_t, needed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	return copyOut(sess.RemoteAddr().String(), buf, capacity, needed)
}

//export netsys_session_local_address
func netsys_session_local_address(h, sid C.uint64_t, buf *C.char, capacity C.size_t, needed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	return copyOut(sess.LocalAddr().String(), buf, capacity, needed)
}

//export netsys_session_get_stats
func netsys_session_get_stats(h, sid C.uint64_t, out *C.capi_session_stats) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	st := sess.Statistics()
	return fillStats(out, C.capi_session_stats{
		messages_sent:     C.uint64_t(st.MessagesSent),
		messages_received: C.uint64_t(st.MessagesReceived),
		bytes_sent:        C.uint64_t(st.BytesSent),
		bytes_received:    C.uint64_t(st.BytesReceived),
		errors:            C.uint64_t(st.Errors),
		last_message_ns:   unixNano(st.LastMessageTime),
		connect_time_ns:   unixNano(sess.ConnectTime()),
		last_activity_ns:  unixNano(sess.LastActivity()),
	}, C.CAPI_SESSION_STATS_MIN)
}

//export netsys_session_reset_stats
func netsys_session_reset_stats(h, sid C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc == statusOK {
		sess.ResetStatistics()
	}
	return rc
}

//export netsys_session_pause_reading
func netsys_session_pause_reading(h, sid C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc == statusOK {
		sess.PauseReading()
	}
	return rc
}

//export netsys_session_resume_reading
func netsys_session_resume_reading(h, sid C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc == statusOK {
		sess.ResumeReading()
	}
	return rc
}

// sessionCallbackHook runs between the session's lookup and the store of
// its callback; tests use it to end the session in that gap.
var sessionCallbackHook = func(*core.Session) {}

//export netsys_session_set_message_callback
func netsys_session_set_message_callback(h, sid C.uint64_t, fn C.capi_server_message_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	s, rc := lookupServer(h)
	if rc != statusOK {
		return rc
	}
	var cb *sessionCallback
	if fn != nil {
		cb = &sessionCallback{fn: fn, ud: ud}
	}
	return s.setSessionCallback(uint64(sid), cb)
}

// setSessionCallback sets (nil: removes) a session's message callback. The
// core's session keeps it: a session that ends after the lookup below takes
// the callback with it, so nothing is left behind and no message of
// another session pays for it.
func (s *server) setSessionCallback(sid uint64, cb *sessionCallback) status {
	sess, rc := lookupSession(C.uint64_t(s.handle), C.uint64_t(sid))
	if rc != statusOK {
		return rc
	}
	if s.deliveryMode() != deliveryCallbacks {
		return fail(errWrongMode, "session callbacks need NETSYS_DELIVERY_CALLBACKS")
	}
	sessionCallbackHook(sess)
	if cb == nil {
		sess.OnMessage(nil)
		return statusOK
	}
	sess.OnMessage(func(ss *core.Session, msg []byte) { s.emitSessionMessage(ss.ID(), msg, ss, cb) })
	return statusOK
}

//export netsys_session_join_group
func netsys_session_join_group(h, sid C.uint64_t, group *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	g, rc := goString(group, "group")
	if rc == statusOK {
		sess.JoinGroup(g)
	}
	return rc
}

//export netsys_session_leave_group
func netsys_session_leave_group(h, sid C.uint64_t, group *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	g, rc := goString(group, "group")
	if rc == statusOK {
		sess.LeaveGroup(g)
	}
	return rc
}

//export netsys_session_in_group
func netsys_session_in_group(h, sid C.uint64_t, group *C.char, out *C.bool) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	g, rc := goString(group, "group")
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "member must not be NULL")
	}
	*out = cBool(sess.InGroup(g))
	return statusOK
}

//export netsys_session_groups
func netsys_session_groups(h, sid C.uint64_t, buf *C.char, capacity C.size_t, needed, count *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	return copyPacked(sess.Groups(), buf, capacity, needed, count)
}

//export netsys_session_data_set
func netsys_session_data_set(h, sid C.uint64_t, key, value *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	k, rc := goString(key, "key")
	if rc != statusOK {
		return rc
	}
	v, rc := goString(value, "value")
	if rc == statusOK {
		sess.Data().Set(k, v)
	}
	return rc
}

//export netsys_session_data_get
func netsys_session_data_get(h, sid C.uint64_t, key *C.char, buf *C.char, capacity C.size_t, needed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	k, rc := goString(key, "key")
	if rc != statusOK {
		return rc
	}
	v, ok := sess.Data().Get(k)
	if !ok {
		return fail(errNotFound, "session %d has no key %q", uint64(sid), k)
	}
	return copyOut(v, buf, capacity, needed)
}

//export netsys_session_data_has
func netsys_session_data_has(h, sid C.uint64_t, key *C.char, out *C.bool) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	k, rc := goString(key, "key")
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "present must not be NULL")
	}
	*out = cBool(sess.Data().Has(k))
	return statusOK
}

//export netsys_session_data_remove
func netsys_session_data_remove(h, sid C.uint64_t, key *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	k, rc := goString(key, "key")
	if rc == statusOK {
		sess.Data().Remove(k)
	}
	return rc
}

//export netsys_session_data_clear
func netsys_session_data_clear(h, sid C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc == statusOK {
		sess.Data().Clear()
	}
	return rc
}

//export netsys_session_data_keys
func netsys_session_data_keys(h, sid C.uint64_t, buf *C.char, capacity C.size_t, needed, count *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	sess, rc := lookupSession(h, sid)
	if rc != statusOK {
		return rc
	}
	return copyPacked(sess.Data().Keys(), buf, capacity, needed, count)
}
