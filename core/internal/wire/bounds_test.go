package wire

import (
	"runtime"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// allocated reports the bytes fn allocated on the heap.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A peer that announces a 1 MiB frame and sends 10 bytes of it costs about
// those 10 bytes, not the announced length.
func TestDecoderMemoryFollowsBytesReceived(t *testing.T) {
	const announced = 1 << 20
	d := &Decoder{DataLimit: 2 << 20}
	var h [HeaderSize]byte
	PutHeader(h[:], announced, TypeData, 0)
	cost := allocated(func() {
		require.NoError(t, d.Feed(append(h[:], make([]byte, 10)...), func(Header, []byte) error { return nil }))
	})
	require.Equal(t, HeaderSize+10, d.Buffered())
	require.LessOrEqual(t, cap(d.pending), 64, "the carry-over buffer follows the bytes received")
	// TotalAlloc is the process's: the race detector and the test runtime
	// allocate too, so the bound is loose; reserving the declared length
	// would cost 1 MiB.
	require.Less(t, cost, uint64(announced/16), "declare 1 MiB, send 10 bytes: allocated %d bytes", cost)

	// Trickled in: capacity stays within twice what arrived, and the frame
	// is delivered whole.
	var got []byte
	chunk := make([]byte, 1000)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	sent := 10
	for sent < announced {
		n := min(len(chunk), announced-sent)
		require.NoError(t, d.Feed(chunk[:n], func(_ Header, p []byte) error { got = append([]byte(nil), p...); return nil }))
		sent += n
		if sent < announced {
			require.LessOrEqual(t, cap(d.pending), 2*(HeaderSize+sent)+64, "after %d bytes", sent)
		}
	}
	require.Len(t, got, announced)
	require.Zero(t, d.Buffered())
}

// The same frame announced in one read and completed in a second costs one
// growth step at most per doubling, never more than the frame.
func TestDecoderCarryOverNeverExceedsTheFrame(t *testing.T) {
	d := &Decoder{DataLimit: 1 << 20}
	frame := AppendFrame(nil, TypeData, 0, make([]byte, 100000))
	require.NoError(t, d.Feed(frame[:50000], func(Header, []byte) error { return nil }))
	require.NoError(t, d.Feed(frame[50000:99990], func(Header, []byte) error { return nil }))
	require.LessOrEqual(t, cap(d.pending), len(frame))
}

// Before the handshake, every frame type is held to the control limit: a
// DATA header announcing more is a protocol error, not an allocation.
func TestDecoderHandshakingUsesTheControlLimit(t *testing.T) {
	for _, n := range []int{MaxControlPayload + 1, 1 << 20, 1<<32 - 1} {
		d := &Decoder{DataLimit: 1 << 30, Handshaking: true}
		var h [HeaderSize]byte
		PutHeader(h[:], n, TypeData, 0)
		err := d.Feed(h[:], func(Header, []byte) error { return nil })
		var pe *ProtocolError
		require.ErrorAs(t, err, &pe, "length %d", n)
		require.Equal(t, "DATA frame too large", pe.Detail)
		require.Zero(t, d.Buffered())
	}
	d := &Decoder{DataLimit: 1 << 30, Handshaking: true}
	require.NoError(t, d.Feed(AppendFrame(nil, TypeData, 0, make([]byte, MaxControlPayload)), func(Header, []byte) error { return nil }))
}

func TestTooLargeNamesSizes(t *testing.T) {
	d := &Decoder{DataLimit: 1048576}
	var h [HeaderSize]byte
	PutHeader(h[:], 2000000, TypeData, 0)
	err := d.Feed(h[:], func(Header, []byte) error { return nil })
	require.ErrorIs(t, err, ErrTooLarge)
	require.Equal(t, "message too large: 2000000 > 1048576", err.Error())
}

func TestReasonFormat(t *testing.T) {
	require.Equal(t, "server full", Reason(ReasonServerFull, ""))
	require.Equal(t, "bad hello: truncated client id", Reason(ReasonBadHello, "truncated client id"))
	require.Equal(t, "protocol error: unknown frame type 0x42", (&ProtocolError{Detail: "unknown frame type 0x42"}).Error())

	long := strings.Repeat("é", 1000) // 2000 bytes
	cut := Reason(ReasonProtocol, long)
	require.LessOrEqual(t, len(cut), MaxReasonLen)
	require.True(t, utf8.ValidString(cut))
	require.True(t, strings.HasPrefix(cut, "protocol error: éé"))
	require.Greater(t, len(cut), MaxReasonLen-2, "cut at the last code point that fits")
}

func TestCodeReasonIsCutAndRepaired(t *testing.T) {
	p := AppendCodeReason(nil, CloseNormal, strings.Repeat("€", 2000))
	code, reason, err := ParseCodeReason(TypeClose, p)
	require.NoError(t, err)
	require.Equal(t, CloseNormal, code)
	require.LessOrEqual(t, len(reason), MaxReasonLen)
	require.True(t, utf8.ValidString(reason))

	// A receiver accepts invalid UTF-8 and replaces it.
	_, reason, err = ParseCodeReason(TypeClose, []byte{0x03, 0xe8, 'o', 'k', 0xff, 0xfe, '!'})
	require.NoError(t, err)
	require.Equal(t, "ok\uFFFD!", reason)
	_, _, err = ParseCodeReason(TypeClose, []byte{0x03})
	require.Error(t, err, "a payload shorter than 2 bytes is a protocol error")
}

// The negotiation rule alone decides: there is no separate range check.
func TestVersionRangesFollowTheNegotiationRule(t *testing.T) {
	for _, tc := range []struct {
		min, max uint16
		ok       bool
	}{{0, 0, false}, {0, 1, true}, {3, 1, false}, {1, 5, true}, {2, 5, false}, {1, 1, true}} {
		p := AppendHello(nil, &Hello{MinVersion: tc.min, MaxVersion: tc.max, MaxMessage: 10})
		h, err := ParseHello(p)
		require.NoError(t, err, "%d..%d parses", tc.min, tc.max)
		v, ok := NegotiateVersion(h.MinVersion, h.MaxVersion)
		require.Equal(t, tc.ok, ok, "%d..%d", tc.min, tc.max)
		if ok {
			require.EqualValues(t, 1, v)
		}
	}
}

func TestMaxMessageAboveOneGiBReadsAsOneGiB(t *testing.T) {
	h, err := ParseHello(AppendHello(nil, &Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1<<32 - 1}))
	require.NoError(t, err)
	require.EqualValues(t, 1<<30, h.MaxMessage)
	w, err := ParseWelcome(AppendWelcome(nil, &Welcome{Version: 1, MaxMessage: 1<<30 + 1, SessionID: 1}))
	require.NoError(t, err)
	require.EqualValues(t, 1<<30, w.MaxMessage)
}

func TestHeartbeatExtension(t *testing.T) {
	h := &Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 10, HasHeartbeat: true, HeartbeatMS: 30000}
	p := AppendHello(nil, h)
	require.Equal(t, []byte{0x00, 0x01, 0x00, 0x04, 0x00, 0x00, 0x75, 0x30}, p[len(p)-8:], "tag 0x0001, length 4, idle_timeout_ms")
	got, err := ParseHello(p)
	require.NoError(t, err)
	require.Equal(t, h, got)

	w := &Welcome{Version: 1, MaxMessage: 10, SessionID: 3, HasHeartbeat: true, HeartbeatMS: 0}
	gotW, err := ParseWelcome(AppendWelcome(nil, w))
	require.NoError(t, err)
	require.Equal(t, w, gotW)

	// Unknown tags around it are skipped; a short heartbeat is malformed.
	p = AppendHello(nil, &Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 10})
	_, err = ParseHello(append(append([]byte(nil), p...), 0x00, 0x01, 0x00, 0x02, 0, 1))
	var pe *ProtocolError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "bad heartbeat extension", pe.Detail)
	got, err = ParseHello(append(append([]byte(nil), p...), 0x77, 0x77, 0, 1, 9, 0x00, 0x01, 0x00, 0x04, 0, 0, 0x03, 0xe8))
	require.NoError(t, err)
	require.True(t, got.HasHeartbeat)
	require.EqualValues(t, 1000, got.HeartbeatMS)

	// A repeated tag: the first occurrence is the one in effect, later ones
	// are skipped (even malformed ones).
	got, err = ParseHello(append(append([]byte(nil), p...),
		0x00, 0x01, 0x00, 0x04, 0, 0, 0x01, 0x2c, 0x00, 0x01, 0x00, 0x04, 0, 0, 0x03, 0xe8, 0x00, 0x01, 0x00, 0x00))
	require.NoError(t, err)
	require.EqualValues(t, 300, got.HeartbeatMS)
}

func TestWelcomeWithZeroMaxMessageIsRefused(t *testing.T) {
	_, err := ParseWelcome(AppendWelcome(nil, &Welcome{Version: 1, MaxMessage: 0, SessionID: 3}))
	var pe *ProtocolError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "zero max message", pe.Detail)
}
