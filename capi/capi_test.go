package main

// Go-side unit tests of the translation layer: what the C tests cannot
// reach (a panic inside an entry point) and the error-to-status mapping.
// The C ABI itself is tested from C under tests/c/.

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"
	"weak"

	"github.com/netsys/netsys/core"
	"github.com/netsys/netsys/core/handoff"
)

func TestGuardTurnsPanicIntoInternalStatusAndErrorEvent(t *testing.T) {
	s, err := newServer("panicky")
	if err != nil {
		t.Fatal(err)
	}
	handles.Store(s.handle, s)
	defer handles.Delete(s.handle)
	s.configure(deliveryConfig{mode: deliveryEvents})

	rc := func() (rc status) {
		defer guard(&rc, s.handle)
		var m map[string]int
		m["boom"] = 1 // a real runtime panic, as a bug would cause
		return statusOK
	}()
	if rc != errInternal {
		t.Fatalf("status %d, want NETSYS_E_INTERNAL (%d)", rc, errInternal)
	}
	var evs []handoff.Event
	if _, err := s.queue.Take(8, 0, func(_ int, ev *handoff.Event) {
		e := *ev
		e.Data = append([]byte(nil), ev.Data...)
		evs = append(evs, e)
	}); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Kind != evError || evs[0].Status != int32(errInternal) {
		t.Fatalf("queued events %+v, want one ERROR event with NETSYS_E_INTERNAL", evs)
	}
	if text := string(evs[0].Data); !strings.Contains(text, "assignment to entry in nil map") {
		t.Fatalf("error event text %q does not carry the panic", text)
	}
}

func TestGuardWithoutPanicKeepsStatus(t *testing.T) {
	rc := func() (rc status) {
		defer guard(&rc, 0)
		return errNotFound
	}()
	if rc != errNotFound {
		t.Fatalf("status %d, want %d", rc, errNotFound)
	}
}

func TestStatusOfMapsEveryCoreSentinel(t *testing.T) {
	cases := []struct {
		err  error
		want status
	}{
		{nil, statusOK},
		{core.ErrTooLarge, errTooLarge},
		{core.ErrBackpressure, errWouldBlock},
		{core.ErrServerFull, errServerFull},
		{core.ErrRejected, errRejected},
		{core.ErrNotDelivered, errNotDelivered},
		{core.ErrTransform, errTransform},
		{core.ErrHandlerPanic, errInternal},
		{core.ErrTimeout, errTimeout},
		{core.ErrProtocol, errProtocol},
		{core.ErrNotConnected, errNotConnected},
		{core.ErrNotRunning, errNotRunning},
		{core.ErrAlreadyRunning, errAlreadyRunning},
		{core.ErrNotFound, errNotFound},
		{core.ErrClosed, errClosed},
		{core.ErrInvalidArgument, errInvalidArgument},
		{fmt.Errorf("wrapped: %w", core.ErrTooLarge), errTooLarge},
		// The refined kinds, by kind alone (no operation name is looked at).
		{&core.Error{Op: "anything", Kind: core.ErrBind, Reason: "r"}, errBind},
		{&core.Error{Op: "anything", Kind: core.ErrBadAddress, Reason: "r"}, errBadAddress},
		{&core.Error{Op: "anything", Kind: core.ErrSystem, Reason: "r"}, errIO},
		{&core.Error{Op: "anything", Kind: core.ErrResolve, Reason: "r"}, errResolve},
		{&core.Error{Op: "anything", Kind: core.ErrConnect, Reason: "r"}, errConnect},
		{&core.Error{Op: "listen", Kind: core.ErrInvalidArgument, Reason: "r"}, errInvalidArgument},
		{errors.New("something else"), errInternal},
	}
	for _, c := range cases {
		if got := statusOf(c.err); got != c.want {
			t.Errorf("statusOf(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestOptionsTableCoversEveryOptionWithSetterAndGetter(t *testing.T) {
	for opt, info := range options {
		for _, obj := range []string{"server", "client"} {
			if obj == "server" && !info.server || obj == "client" && !info.client {
				continue
			}
			st := settings{delivery: &deliveryConfig{}}
			if obj == "server" {
				st.server = &core.ServerConfig{}
			} else {
				st.client = &core.ClientConfig{}
			}
			if info.kind == stringOption {
				if rc := st.setString(opt, ""); rc != statusOK {
					t.Errorf("%s: set on %s: status %d", info.name, obj, rc)
				}
				if _, rc := st.getString(opt); rc != statusOK {
					t.Errorf("%s: get on %s: status %d", info.name, obj, rc)
				}
				continue
			}
			if rc := st.setInt(opt, 1); rc != statusOK {
				t.Errorf("%s: set on %s: status %d", info.name, obj, rc)
			}
			if v, rc := st.getInt(opt); rc != statusOK || v != 1 {
				t.Errorf("%s: get on %s: %d, status %d; want 1", info.name, obj, v, rc)
			}
		}
	}
}

// BenchmarkBatchOf64B is the C ABI's cost per message of describing a
// read's 64 B messages to C for the batch callback (1,024 to a read).
func BenchmarkBatchOf64B(b *testing.B) {
	const header, size, perRead = 6, 64, 1024
	read := make([]byte, perRead*(header+size))
	msgs := make([][]byte, perRead)
	for i := range msgs {
		start := i*(header+size) + header
		msgs[i] = read[start : start+size : start+size]
	}
	sc := new(batchScratch)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += perRead {
		if batch := batchOf(read, msgs, sc); len(batch.spans) != perRead {
			b.Fatalf("%d spans", len(batch.spans))
		}
	}
}

// batchOf passes messages that lie in the buffer the core names (a read
// buffer: frames separated by their headers) without copying, and copies
// anything else, keeping every message, its order and the empty ones.
func TestBatchOfAliasesOneBufferAndCopiesOtherwise(t *testing.T) {
	const header = 8
	read := []byte("hdr.....first...hdr.....second..hdr.....third...")
	framed := [][]byte{read[header:16], {}, read[16+header : 32], read[32+header : 48]}
	scattered := [][]byte{[]byte("elsewhere"), read[header:16], nil, []byte("and here")}
	for _, tc := range []struct {
		name    string
		in      []byte
		msgs    [][]byte
		aliased bool
	}{
		{"one read buffer", read, framed, true},
		{"separate buffers", read, scattered, false},
		{"all empty", nil, [][]byte{nil, {}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := new(batchScratch)
			b := batchOf(tc.in, tc.msgs, sc)
			if len(b.spans) != len(tc.msgs) {
				t.Fatalf("%d spans for %d messages", len(b.spans), len(tc.msgs))
			}
			for i, m := range tc.msgs {
				if got := string(b.message(i)); got != string(m) {
					t.Errorf("message %d is %q, want %q", i, got, m)
				}
			}
			if tc.aliased != (len(sc.copy) == 0) {
				t.Errorf("copied %d bytes; aliasing expected: %v", len(sc.copy), tc.aliased)
			}
			if tc.aliased {
				for i, m := range tc.msgs {
					if len(m) > 0 && &b.message(i)[0] != &m[0] {
						t.Errorf("message %d does not alias the read buffer", i)
					}
				}
			}
		})
	}
}

// The idle, frame and send-stall timeouts: 0 is the core's default, -1
// turns them off (core.Disabled) and reads back as -1; other negatives
// are refused.
func TestTimeoutOptionsTakeOff(t *testing.T) {
	for _, opt := range []int{optIdleTimeoutMS, optFrameTimeoutMS, optSendStallTimeoutMS} {
		st := settings{server: &core.ServerConfig{}, delivery: &deliveryConfig{}}
		if rc := st.setInt(opt, -1); rc != statusOK {
			t.Fatalf("%s = -1: status %d", options[opt].name, rc)
		}
		if v, _ := st.getInt(opt); v != -1 {
			t.Errorf("%s reads back %d, want -1", options[opt].name, v)
		}
		if rc := st.setInt(opt, -2); rc != errInvalidArgument {
			t.Errorf("%s = -2: status %d, want NETSYS_E_INVALID_ARGUMENT", options[opt].name, rc)
		}
		srv, err := core.NewServer("opt", *st.server)
		if err != nil {
			t.Fatal(err)
		}
		cfg := srv.Config()
		got := map[int]time.Duration{optIdleTimeoutMS: cfg.IdleTimeout, optFrameTimeoutMS: cfg.FrameTimeout,
			optSendStallTimeoutMS: cfg.SendStallTimeout}[opt]
		if got != core.Disabled {
			t.Errorf("%s = -1 gives %v in the core, want Disabled", options[opt].name, got)
		}
	}
	st := settings{server: &core.ServerConfig{}, delivery: &deliveryConfig{}}
	if rc := st.setInt(optHandshakeTimeoutMS, -1); rc != errInvalidArgument {
		t.Errorf("handshake timeout = -1: status %d, want NETSYS_E_INVALID_ARGUMENT", rc)
	}
	srv, _ := core.NewServer("defaults", *st.server)
	if srv.Config().IdleTimeout != core.DefaultIdleTimeout {
		t.Errorf("0 gives %v, want the default", srv.Config().IdleTimeout)
	}
}

// A session that ends between the check that it exists and the store of
// its callback leaves nothing behind: the callback lives on the core's
// session and goes with it (it was a map entry that stayed forever).
func TestSessionCallbackSetAsTheSessionEndsLeavesNothing(t *testing.T) {
	s, err := newServer("gap")
	if err != nil {
		t.Fatal(err)
	}
	handles.Store(s.handle, s)
	defer handles.Delete(s.handle)
	if err := s.srv.SetConfig(core.ServerConfig{BindAddress: "127.0.0.1", Loops: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.srv.Stop()
	cl, err := core.NewClient(core.ClientConfig{ClientID: "leaving"})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Connect("127.0.0.1", s.srv.Port()); err != nil {
		t.Fatal(err)
	}
	sid := cl.SessionID()
	waitUntil(t, "the session", func() bool { return s.srv.Session(sid) != nil })

	defer func(old func(*core.Session)) { sessionCallbackHook = old }(sessionCallbackHook)
	sessionCallbackHook = func(*core.Session) {
		cl.Stop()
		waitUntil(t, "the session's end", func() bool { return s.srv.Session(sid) == nil })
	}
	cb := &sessionCallback{}
	gone := weak.Make(cb)
	if rc := s.setSessionCallback(sid, cb); rc != statusOK {
		t.Fatalf("status %d for a session found before it ended", rc)
	}
	cb = nil
	waitUntil(t, "the callback of the ended session to be collected", func() bool {
		runtime.GC()
		return gone.Value() == nil
	})
}

// waitUntil polls cond for up to 5 s (a bound, not a timing assertion).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 5 s", what)
		}
	}
}

// Out of C memory while queueing an event: nothing panics under the
// queue's lock (every loop queueing an event would then wait on it
// forever), the event is not counted against the bound, and the queue keeps
// working once memory is back.
func TestQueueOutOfMemoryLeavesTheQueueUsable(t *testing.T) {
	s, err := newServer("oom")
	if err != nil {
		t.Fatal(err)
	}
	s.configure(deliveryConfig{mode: deliveryEvents})
	defer s.queue.Free()
	saved := chunkAlloc
	chunkAlloc = func(int) unsafe.Pointer { return nil }
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Errorf("queueing panicked: %v", r)
			}
		}()
		s.emitText(evError, errInternal, 0, "lost")
	}()
	chunkAlloc = saved
	// (That the queue's lock is not left held is handoff's test; a held
	// lock would hang the push below.)
	if events, bytes := s.flow.Pending(); events != 0 || bytes != 0 {
		t.Fatalf("the event that was not queued still counts: %d events, %d bytes", events, bytes)
	}
	s.emitText(evError, errInternal, 0, "second")
	n, rc := pollCount(s.queue, 4, 0)
	if rc != statusOK || n != 1 {
		t.Fatalf("after recovery: %d events, status %d; want the second one", n, rc)
	}
}

// Text events count against the event queue's byte limit, like messages.
func TestTextEventsCountInBytes(t *testing.T) {
	s, err := newServer("text")
	if err != nil {
		t.Fatal(err)
	}
	s.configure(deliveryConfig{mode: deliveryEvents})
	defer s.queue.Free()
	reason := strings.Repeat("r", 1000)
	s.emitText(evDisconnect, statusOK, 1, reason)
	if _, got := s.flow.Pending(); got != int64(len(reason)) {
		t.Fatalf("a queued %d-byte reason counts %d bytes", len(reason), got)
	}
	if n, rc := pollCount(s.queue, 4, 0); rc != statusOK || n != 1 {
		t.Fatalf("poll: %d events, status %d", n, rc)
	}
	if _, got := s.flow.Pending(); got != 0 {
		t.Fatalf("after the poll %d bytes still counted", got)
	}
}

// ErrWouldBlockLoop is NETSYS_E_DEADLOCK, also when it wraps backpressure.
func TestWouldBlockLoopIsDeadlock(t *testing.T) {
	err := &core.Error{Op: "send", Kind: core.ErrWouldBlockLoop, Reason: "full", Err: core.ErrBackpressure}
	if got := statusOf(err); got != errDeadlock {
		t.Fatalf("status %d, want NETSYS_E_DEADLOCK", got)
	}
}

// The acknowledged-delivery options reach the core's config: a bool and a
// byte bound for both objects, and the client's queue timeout, where -1 is
// off (core.Disabled) and 0 the default.
func TestAcknowledgedDeliveryOptions(t *testing.T) {
	srv := settings{server: &core.ServerConfig{}, delivery: &deliveryConfig{}}
	cli := settings{client: &core.ClientConfig{}, delivery: &deliveryConfig{}}
	for _, st := range []settings{srv, cli} {
		if rc := st.setInt(optAcknowledged, 1); rc != statusOK {
			t.Fatalf("NETSYS_OPT_ACKNOWLEDGED = 1: status %d", rc)
		}
		if rc := st.setInt(optAckBufferBytes, 4096); rc != statusOK {
			t.Fatalf("NETSYS_OPT_ACK_BUFFER_BYTES = 4096: status %d", rc)
		}
		if tc := st.transport(); !tc.Acknowledged || tc.AckBufferBytes != 4096 {
			t.Errorf("transport config %+v", *tc)
		}
	}
	if rc := srv.setInt(optReconnectQueueMS, 100); rc != errUnsupported {
		t.Errorf("NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS on a server: status %d, want NETSYS_E_UNSUPPORTED", rc)
	}
	if rc := cli.setInt(optReconnectQueueMS, -1); rc != statusOK || cli.client.ReconnectQueueTimeout != core.Disabled {
		t.Errorf("NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS = -1: status %d, timeout %v", rc, cli.client.ReconnectQueueTimeout)
	}
	if rc := cli.setInt(optReconnectQueueMS, 250); rc != statusOK || cli.client.ReconnectQueueTimeout != 250*time.Millisecond {
		t.Errorf("NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS = 250: status %d, timeout %v", rc, cli.client.ReconnectQueueTimeout)
	}
	if statusOf(core.ErrUnsupported) != errUnsupported {
		t.Errorf("ErrUnsupported maps to status %d", statusOf(core.ErrUnsupported))
	}
}

func TestPullDeliveryGivesTheRuntimeASecondProcessor(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // as if unset: the library decides
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	raiseProcsOnce = sync.Once{}
	defer func() { raiseProcsOnce = sync.Once{} }()

	s, err := newServer("one-cpu")
	if err != nil {
		t.Fatal(err)
	}
	s.configure(deliveryConfig{mode: deliveryCallbacks})
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("callback delivery on the loops changed GOMAXPROCS to %d", n)
	}
	s.configure(deliveryConfig{mode: deliveryEvents})
	if n := runtime.GOMAXPROCS(0); n != minProcs {
		t.Fatalf("GOMAXPROCS %d with the pull interface, want %d", n, minProcs)
	}

	t.Setenv("GOMAXPROCS", "1") // the user's choice stands
	runtime.GOMAXPROCS(1)
	raiseProcsOnce = sync.Once{}
	s.configure(deliveryConfig{mode: deliveryEvents})
	if n := runtime.GOMAXPROCS(0); n != 1 {
		t.Fatalf("GOMAXPROCS=1 in the environment, but the library set %d", n)
	}
}
