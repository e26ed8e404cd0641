package main

// Go-side unit tests of the translation layer: what the C tests cannot
// reach (a panic inside an entry point) and the error-to-status mapping.
// The C ABI itself is tested from C under tests/c/.

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/netsys/netsys/core"
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
	s.queue.mu.Lock()
	defer s.queue.mu.Unlock()
	evs := s.queue.buf.events
	if len(evs) != 1 || evs[0].typ != evError || evs[0].status != int32(errInternal) {
		t.Fatalf("queued events %+v, want one ERROR event with NETSYS_E_INTERNAL", evs)
	}
	text := string(s.queue.buf.data[evs[0].off : evs[0].off+evs[0].size])
	if !strings.Contains(text, "assignment to entry in nil map") {
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

// countingPauser records pause and resume calls.
type countingPauser struct{ pauses, resumes int }

func (p *countingPauser) PauseReading()  { p.pauses++ }
func (p *countingPauser) ResumeReading() { p.resumes++ }

// The host may drain the whole backlog between the moment the I/O thread
// sees the limit exceeded and the moment it records the pause: the pause
// must then be undone at once, or the session stays paused with nothing left
// for the host to drain (a stall).
func TestFlowPauseAfterHostDrainedResumes(t *testing.T) {
	var f flow
	f.limit.Store(4)
	f.byteLimit.Store(1 << 20)
	exceeded := false
	for i := 0; i < 5; i++ {
		exceeded = f.add(10)
	}
	if !exceeded {
		t.Fatal("five events over a limit of four must exceed it")
	}
	f.consumed(5, 50) // the host drains everything before pause runs
	src := &countingPauser{}
	f.pause(src)
	if src.pauses != 1 || src.resumes != 1 {
		t.Fatalf("pause after a full drain: %d pauses, %d resumes; want 1 and 1", src.pauses, src.resumes)
	}

	// The usual order: paused while the backlog is high, resumed on drain.
	for i := 0; i < 5; i++ {
		f.add(10)
	}
	src2 := &countingPauser{}
	f.pause(src2)
	if src2.resumes != 0 {
		t.Fatal("resumed while the backlog is still over the limit")
	}
	f.consumed(5, 50)
	if src2.pauses != 1 || src2.resumes != 1 {
		t.Fatalf("drain: %d pauses, %d resumes; want 1 and 1", src2.pauses, src2.resumes)
	}
}

// batchOf passes messages that lie back to back in one buffer (a read
// buffer: frames separated by their headers) without copying, and copies
// anything else, keeping every message, its order and the empty ones.
func TestBatchOfAliasesOneBufferAndCopiesOtherwise(t *testing.T) {
	const header = 8
	read := []byte("hdr.....first...hdr.....second..hdr.....third...")
	framed := [][]byte{read[header:16], {}, read[16+header : 32], read[32+header : 48]}
	scattered := [][]byte{[]byte("elsewhere"), read[header:16], nil, []byte("and here")}
	for _, tc := range []struct {
		name    string
		msgs    [][]byte
		aliased bool
	}{
		{"one read buffer", framed, true},
		{"separate buffers", scattered, false},
		{"all empty", [][]byte{nil, {}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := new(batchScratch)
			b := batchOf(tc.msgs, sc)
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
			if tc.aliased && len(b.base) > 0 && &b.base[0] != &tc.msgs[0][0] {
				t.Error("the batch does not alias the read buffer")
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
	if rc := srv.setInt(optReconnectQueueTOMS, 100); rc != errUnsupported {
		t.Errorf("NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS on a server: status %d, want NETSYS_E_UNSUPPORTED", rc)
	}
	if rc := cli.setInt(optReconnectQueueTOMS, -1); rc != statusOK || cli.client.ReconnectQueueTimeout != core.Disabled {
		t.Errorf("NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS = -1: status %d, timeout %v", rc, cli.client.ReconnectQueueTimeout)
	}
	if rc := cli.setInt(optReconnectQueueTOMS, 250); rc != statusOK || cli.client.ReconnectQueueTimeout != 250*time.Millisecond {
		t.Errorf("NETSYS_OPT_RECONNECT_QUEUE_TIMEOUT_MS = 250: status %d, timeout %v", rc, cli.client.ReconnectQueueTimeout)
	}
	if statusOf(core.ErrUnsupported) != errUnsupported {
		t.Errorf("ErrUnsupported maps to status %d", statusOf(core.ErrUnsupported))
	}
}
