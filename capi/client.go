package main

/*
#include <string.h>
#include "shims.h"
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/netsys/netsys/core"
)

// client is what a netsys_client handle names.
//
// A core.Client takes its configuration once, at creation, so the C client
// keeps the options and builds a fresh core.Client at the next connect
// after an option changed (options may change only while stopped). The
// current core.Client is read lock-free by the I/O calls.
type client struct {
	endpoint

	mu       sync.Mutex // serializes connect and option changes
	cfg      core.ClientConfig
	delivery deliveryConfig
	dirty    bool          // cfg changed since cl was built
	starting bool          // a connect is between beginRun and the core's start
	runDone  chan struct{} // closed once the current run is over

	cl atomic.Pointer[core.Client]

	onConnect    atomic.Pointer[callback[C.capi_client_connect_fn]]
	onMessage    atomic.Pointer[callback[C.capi_client_message_fn]]
	onDisconnect atomic.Pointer[callback[C.capi_client_disconnect_fn]]
	onError      atomic.Pointer[callback[C.capi_client_error_fn]]
}

func newClient(id string) (*client, error) {
	c := &client{cfg: core.ClientConfig{ClientID: id}}
	c.init(newHandle(), c)
	c.configure(c.delivery)
	if err := c.rebuildLocked(); err != nil {
		return nil, err
	}
	return c, nil
}

// rebuildLocked replaces the core client with one built from cfg and wires
// its handlers to this object's delivery. The caller holds mu (or owns c).
func (c *client) rebuildLocked() error {
	cl, err := core.NewClient(c.cfg)
	if err != nil {
		return err
	}
	cl.OnConnect(func() { c.emitText(evConnect, statusOK, cl.SessionID(), "") })
	cl.OnMessage(func(msg []byte) { c.emitMessage(cl.SessionID(), msg, cl) })
	cl.OnDisconnect(func(reason string) { c.emitText(evDisconnect, statusOK, cl.SessionID(), reason) })
	cl.OnError(func(err error) { c.emitText(evError, statusOf(err), cl.SessionID(), err.Error()) })
	c.cl.Store(cl)
	c.dirty = false
	return nil
}

// callHost calls the host's callback for one event (see hostCaller).
func (c *client) callHost(typ uint32, st int32, _ uint64, data []byte, io C.int) {
	if !c.enter() {
		return
	}
	defer c.leave()
	h := C.uint64_t(c.handle)
	var ptr *C.uint8_t
	if len(data) > 0 {
		ptr = (*C.uint8_t)(unsafe.Pointer(&data[0]))
	}
	switch typ {
	case evConnect:
		if cb := c.onConnect.Load(); cb != nil {
			C.capi_call_client_connect(cb.fn, cb.ud, h, io)
		}
	case evMessage:
		if cb := c.onMessage.Load(); cb != nil {
			C.capi_call_client_message(cb.fn, cb.ud, h, ptr, C.size_t(len(data)), io)
		}
	case evDisconnect:
		if cb := c.onDisconnect.Load(); cb != nil {
			C.capi_call_client_disconnect(cb.fn, cb.ud, h, (*C.char)(unsafe.Pointer(ptr)), io)
		}
	case evError:
		if cb := c.onError.Load(); cb != nil {
			C.capi_call_client_error(cb.fn, cb.ud, h, C.int(st), (*C.char)(unsafe.Pointer(ptr)), io)
		}
	}
}

func (c *client) reportInternal(msg string) { c.emitText(evError, errInternal, 0, msg) }

// applyOption runs set on a copy of the configuration and keeps it if the
// core accepts it (it validates by building a client, which dials nothing).
func (c *client) applyOption(set func(settings) status) status {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.starting || c.cl.Load().IsRunning() {
		return fail(errAlreadyRunning, "options cannot change while the client is running")
	}
	cfg, d := c.cfg, c.delivery
	cfg.Compression = append([]core.Codec(nil), cfg.Compression...)
	cfg.Transforms = append([]string(nil), cfg.Transforms...)
	if rc := set(settings{client: &cfg, delivery: &d}); rc != statusOK {
		return rc
	}
	if _, err := core.NewClient(cfg); err != nil {
		return optionError(err)
	}
	if d != c.delivery {
		c.configure(d)
	}
	c.cfg, c.delivery, c.dirty = cfg, d, true
	return statusOK
}

//export netsys_client_create
func netsys_client_create(out *C.uint64_t, id *C.char) (rc status) {
	defer guard(&rc, 0)
	if out == nil {
		return fail(errNullPointer, "out must not be NULL")
	}
	name, rc := goString(id, "client_id")
	if rc != statusOK {
		return rc
	}
	if len(name) > 255 {
		return fail(errInvalidArgument, "client id of %d bytes is longer than 255", len(name))
	}
	c, err := newClient(name)
	if err != nil {
		return failErr(err)
	}
	handles.Store(c.handle, c)
	liveCli.Add(1)
	*out = C.uint64_t(c.handle)
	return statusOK
}

//export netsys_client_destroy
func netsys_client_destroy(h C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	if !handles.CompareAndDelete(uint64(h), c) {
		return fail(errInvalidHandle, "client %d is being destroyed by another call", uint64(h))
	}
	liveCli.Add(-1)
	own := int64(C.capi_callback_depth(h))
	c.shutdown()
	c.cl.Load().Stop() // returns at once when called on an I/O loop
	c.waitCallbacks(own)
	c.queue.Free()
	return statusOK
}

//export netsys_client_set_int
func netsys_client_set_int(h C.uint64_t, opt C.int, v C.int64_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	return c.applyOption(func(st settings) status { return st.setInt(int(opt), int64(v)) })
}

//export netsys_client_get_int
func netsys_client_get_int(h C.uint64_t, opt C.int, out *C.int64_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "value must not be NULL")
	}
	c.mu.Lock()
	v, rc := settings{client: &c.cfg, delivery: &c.delivery}.getInt(int(opt))
	c.mu.Unlock()
	if rc == statusOK {
		*out = C.int64_t(v)
	}
	return rc
}

//export netsys_client_set_string
func netsys_client_set_string(h C.uint64_t, opt C.int, value *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	v, rc := goString(value, "value")
	if rc != statusOK {
		return rc
	}
	return c.applyOption(func(st settings) status { return st.setString(int(opt), v) })
}

//export netsys_client_get_string
func netsys_client_get_string(h C.uint64_t, opt C.int, buf *C.char, capacity C.size_t, needed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	c.mu.Lock()
	v, rc := settings{client: &c.cfg, delivery: &c.delivery}.getString(int(opt))
	c.mu.Unlock()
	if rc != statusOK {
		return rc
	}
	return copyOut(v, buf, capacity, needed)
}

//export netsys_client_set_connect_callback
func netsys_client_set_connect_callback(h C.uint64_t, fn C.capi_client_connect_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc == statusOK {
		setCallback(&c.onConnect, fn, ud)
	}
	return rc
}

//export netsys_client_set_message_callback
func netsys_client_set_message_callback(h C.uint64_t, fn C.capi_client_message_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc == statusOK {
		setCallback(&c.onMessage, fn, ud)
	}
	return rc
}

//export netsys_client_set_disconnect_callback
func netsys_client_set_disconnect_callback(h C.uint64_t, fn C.capi_client_disconnect_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc == statusOK {
		setCallback(&c.onDisconnect, fn, ud)
	}
	return rc
}

//export netsys_client_set_error_callback
func netsys_client_set_error_callback(h C.uint64_t, fn C.capi_client_error_fn, ud unsafe.Pointer) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc == statusOK {
		setCallback(&c.onError, fn, ud)
	}
	return rc
}

// beginRun prepares a connect: it rebuilds the core client if its options
// changed and installs the delivery and the run's done channel.
func (c *client) beginRun() (*core.Client, chan struct{}, status) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.starting || c.cl.Load().IsRunning() {
		return nil, nil, fail(errAlreadyRunning, "client is already running (stop it first)")
	}
	if c.dirty {
		if err := c.rebuildLocked(); err != nil {
			return nil, nil, optionError(err)
		}
	}
	c.configure(c.delivery)
	done := make(chan struct{})
	c.runDone = done
	c.starting = true
	return c.cl.Load(), done, statusOK
}

// endRun closes done once cl stops; a run that really started ends with a
// STOPPED event (a connect refused before starting has nothing to end).
func (c *client) endRun(cl *core.Client, done chan struct{}, started bool) {
	c.mu.Lock()
	c.starting = false
	c.mu.Unlock()
	if !started {
		close(done)
		return
	}
	go func() {
		cl.Wait()
		c.emitText(evStopped, statusOK, cl.SessionID(), "")
		close(done)
	}()
}

func connectArgs(host *C.char, port C.int) (string, status) {
	hs, rc := goString(host, "host")
	if rc != statusOK {
		return "", rc
	}
	if hs == "" || port <= 0 || port > 65535 {
		return "", fail(errInvalidArgument, "host must not be empty and port must be in 1..65535 (got %q, %d)", hs, int(port))
	}
	return hs, statusOK
}

//export netsys_client_connect
func netsys_client_connect(h C.uint64_t, host *C.char, port C.int) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	hs, rc := connectArgs(host, port)
	if rc != statusOK {
		return rc
	}
	cl, done, rc := c.beginRun()
	if rc != statusOK {
		return rc
	}
	err := cl.Connect(hs, int(port))
	c.endRun(cl, done, err == nil)
	if err != nil {
		return failErr(err)
	}
	return statusOK
}

//export netsys_client_connect_async
func netsys_client_connect_async(h C.uint64_t, host *C.char, port C.int) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	hs, rc := connectArgs(host, port)
	if rc != statusOK {
		return rc
	}
	cl, done, rc := c.beginRun()
	if rc != statusOK {
		return rc
	}
	err := cl.ConnectAsync(hs, int(port))
	c.endRun(cl, done, err == nil)
	if err != nil {
		return failErr(err)
	}
	return statusOK
}

//export netsys_client_stop
func netsys_client_stop(h C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	c.cl.Load().Stop()
	if C.capi_in_io_callback() == 0 {
		// Let the STOPPED event out first, so it is the run's last event.
		c.mu.Lock()
		done := c.runDone
		c.mu.Unlock()
		if done != nil {
			<-done
		}
	}
	return statusOK
}

//export netsys_client_wait
func netsys_client_wait(h C.uint64_t, timeoutMS C.int) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	if C.capi_in_io_callback() != 0 {
		return fail(errDeadlock, "netsys_client_wait called from a callback on an I/O thread would wait for itself")
	}
	c.mu.Lock()
	done := c.runDone
	c.mu.Unlock()
	return waitRun(done, timeoutMS)
}

//export netsys_client_is_connected
func netsys_client_is_connected(h C.uint64_t, out *C.bool) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "connected must not be NULL")
	}
	*out = cBool(c.cl.Load().IsConnected())
	return statusOK
}

//export netsys_client_is_running
func netsys_client_is_running(h C.uint64_t, out *C.bool) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "running must not be NULL")
	}
	*out = cBool(c.cl.Load().IsRunning())
	return statusOK
}

//export netsys_client_session_id
func netsys_client_session_id(h C.uint64_t, out *C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	if out == nil {
		return fail(errNullPointer, "session_id must not be NULL")
	}
	*out = C.uint64_t(c.cl.Load().SessionID())
	return statusOK
}

//export netsys_client_id
func netsys_client_id(h C.uint64_t, buf *C.char, capacity C.size_t, needed *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	c.mu.Lock()
	id := c.cfg.ClientID
	c.mu.Unlock()
	return copyOut(id, buf, capacity, needed)
}

func clientSend(h C.uint64_t, data *C.uint8_t, size C.size_t, timeout time.Duration) status {
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	msg, rc := bytesOf(data, size)
	if rc != statusOK {
		return rc
	}
	if err := c.cl.Load().SendTimeout(msg, timeout); err != nil {
		return failErr(err)
	}
	return statusOK
}

//export netsys_client_send
func netsys_client_send(h C.uint64_t, data *C.uint8_t, size C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	return clientSend(h, data, size, 0)
}

//export netsys_client_send_string
func netsys_client_send_string(h C.uint64_t, text *C.char) (rc status) {
	defer guard(&rc, uint64(h))
	if text == nil {
		return fail(errNullPointer, "text must not be NULL")
	}
	return clientSend(h, (*C.uint8_t)(unsafe.Pointer(text)), C.strlen(text), 0)
}

//export netsys_client_send_timeout
func netsys_client_send_timeout(h C.uint64_t, data *C.uint8_t, size C.size_t, timeoutMS C.int) (rc status) {
	defer guard(&rc, uint64(h))
	if timeoutMS < 0 {
		return fail(errInvalidArgument, "timeout_ms must not be negative")
	}
	return clientSend(h, data, size, time.Duration(timeoutMS)*time.Millisecond)
}

//export netsys_client_get_stats
func netsys_client_get_stats(h C.uint64_t, out *C.capi_client_stats) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	st := c.cl.Load().Statistics()
	return fillStats(out, C.capi_client_stats{
		messages_sent:     C.uint64_t(st.MessagesSent),
		messages_received: C.uint64_t(st.MessagesReceived),
		bytes_sent:        C.uint64_t(st.BytesSent),
		bytes_received:    C.uint64_t(st.BytesReceived),
		errors:            C.uint64_t(st.Errors),
		reconnects:        C.uint64_t(st.Reconnects),
		last_message_ns:   unixNano(st.LastMessageTime),
	}, C.CAPI_CLIENT_STATS_MIN)
}

//export netsys_client_pause_reading
func netsys_client_pause_reading(h C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc == statusOK {
		c.cl.Load().PauseReading()
	}
	return rc
}

//export netsys_client_resume_reading
func netsys_client_resume_reading(h C.uint64_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc == statusOK {
		c.cl.Load().ResumeReading()
	}
	return rc
}

//export netsys_client_poll
func netsys_client_poll(h C.uint64_t, events *C.capi_event, capacity C.size_t, timeoutMS C.int, count *C.size_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	return pollEvents(&c.endpoint, events, capacity, timeoutMS, count)
}

//export netsys_client_event_fd
func netsys_client_event_fd(h C.uint64_t, fd *C.int) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	return eventFD(&c.endpoint, c.deliveryMode(), fd)
}

//export netsys_client_hold_events
func netsys_client_hold_events(h C.uint64_t, events, bytes C.int64_t) (rc status) {
	defer guard(&rc, uint64(h))
	c, rc := lookupClient(h)
	if rc != statusOK {
		return rc
	}
	return holdEvents(&c.endpoint, c.deliveryMode(), events, bytes)
}

// deliveryMode is the NETSYS_OPT_DELIVERY the client is configured with.
func (c *client) deliveryMode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.delivery.mode
}
