package wire

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

type frame struct {
	typ     byte
	flags   byte
	payload string
}

func sampleStream() ([]byte, []frame) {
	frames := []frame{
		{TypeHello, 0, string(AppendHello(nil, &Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, ClientID: "c1", Codecs: []byte{CodecSnappy}}))},
		{TypeData, 0, "hello"},
		{TypeData, 0, ""},
		{TypePing, 0, "12345678"},
		{TypeData, FlagCompressed, string(bytes.Repeat([]byte("x"), 300))},
		{TypeClose, 0, string(AppendCodeReason(nil, CloseNormal, "bye"))},
	}
	var stream []byte
	for _, f := range frames {
		stream = AppendFrame(stream, f.typ, f.flags, []byte(f.payload))
	}
	return stream, frames
}

func decodeAll(t *testing.T, d *Decoder, chunks ...[]byte) []frame {
	t.Helper()
	var got []frame
	for _, c := range chunks {
		require.NoError(t, d.Feed(c, func(h Header, p []byte) error {
			got = append(got, frame{h.Type, h.Flags, string(p)})
			return nil
		}))
	}
	return got
}

func TestDecoderEverySplit(t *testing.T) {
	stream, want := sampleStream()
	for cut := 0; cut <= len(stream); cut++ {
		d := &Decoder{DataLimit: 1 << 20, CompressionOn: true}
		got := decodeAll(t, d, stream[:cut], stream[cut:])
		require.Equal(t, want, got, "split at %d", cut)
		require.Zero(t, d.Buffered())
	}
}

func TestDecoderByteByByte(t *testing.T) {
	stream, want := sampleStream()
	d := &Decoder{DataLimit: 1 << 20, CompressionOn: true}
	var chunks [][]byte
	for i := range stream {
		chunks = append(chunks, stream[i:i+1])
	}
	require.Equal(t, want, decodeAll(t, d, chunks...))
}

func TestDecoderCoalescedTwice(t *testing.T) {
	stream, want := sampleStream()
	d := &Decoder{DataLimit: 1 << 20, CompressionOn: true}
	got := decodeAll(t, d, append(append([]byte(nil), stream...), stream...))
	require.Equal(t, append(want, want...), got)
}

func TestDecoderRejects(t *testing.T) {
	cases := []struct {
		name   string
		frame  []byte
		tooBig bool
		reason string
	}{
		{"oversize data", AppendFrame(nil, TypeData, 0, make([]byte, 11)), true, ""},
		{"unknown type", []byte{0, 0, 0, 0, 0x42, 0}, false, "unknown frame type 0x42"},
		{"zero type", []byte{0, 0, 0, 0, 0, 0}, false, "unknown frame type 0x00"},
		{"reserved flag", []byte{0, 0, 0, 0, TypeData, 0x80}, false, "invalid flags"},
		{"compressed ping", []byte{0, 0, 0, 0, TypePing, FlagCompressed}, false, "invalid flags"},
		{"huge ping", []byte{0, 0, 0, 65, TypePing, 0}, false, "PING frame too large"},
		{"huge control", []byte{0, 1, 0, 0, TypeHello, 0}, false, "HELLO frame too large"},
		{"4GiB announced", []byte{0xff, 0xff, 0xff, 0xff, TypeData, 0}, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range []int{len(tc.frame), 3} {
				d := &Decoder{DataLimit: 10}
				err := d.Feed(tc.frame[:split], func(Header, []byte) error { return nil })
				if err == nil {
					err = d.Feed(tc.frame[split:], func(Header, []byte) error { return nil })
				}
				if tc.tooBig {
					require.ErrorIs(t, err, ErrTooLarge)
					continue
				}
				var pe *ProtocolError
				require.ErrorAs(t, err, &pe)
				require.Equal(t, tc.reason, pe.Detail)
			}
		})
	}
}

func TestCompressedFlagNeedsCodec(t *testing.T) {
	d := &Decoder{DataLimit: 100}
	err := d.Feed(AppendFrame(nil, TypeData, FlagCompressed, []byte("x")), func(Header, []byte) error { return nil })
	var pe *ProtocolError
	require.ErrorAs(t, err, &pe)
}

func TestHandlerErrorStopsFeed(t *testing.T) {
	stream, _ := sampleStream()
	stop := errors.New("stop")
	n := 0
	d := &Decoder{DataLimit: 1 << 20, CompressionOn: true}
	err := d.Feed(stream, func(Header, []byte) error { n++; return stop })
	require.ErrorIs(t, err, stop)
	require.Equal(t, 1, n)
}

func TestHelloRoundTrip(t *testing.T) {
	h := &Hello{MinVersion: 1, MaxVersion: 3, MaxMessage: 4096, ClientID: "client-ü",
		Codecs: []byte{CodecZstd, CodecSnappy}, Transforms: []string{"xor", "rot"}}
	require.NoError(t, h.Validate())
	p := AppendHello(nil, h)
	// Unknown extensions are skipped.
	p = append(p, 0x12, 0x34, 0, 2, 'o', 'k')
	got, err := ParseHello(p)
	require.NoError(t, err)
	require.Equal(t, h, got)
	for cut := 0; cut < len(p)-6; cut++ {
		_, err := ParseHello(p[:cut])
		require.Error(t, err, "truncated at %d", cut)
	}
}

func TestWelcomeRoundTrip(t *testing.T) {
	w := &Welcome{Version: 1, MaxMessage: 1 << 20, SessionID: 42, Codec: CodecSnappy, MinCompress: 512, Transforms: []string{"xor"}}
	got, err := ParseWelcome(AppendWelcome(nil, w))
	require.NoError(t, err)
	require.Equal(t, w, got)
	w.SessionID = 0
	_, err = ParseWelcome(AppendWelcome(nil, w))
	require.Error(t, err)
}

func TestNegotiateVersion(t *testing.T) {
	v, ok := NegotiateVersion(1, 5)
	require.True(t, ok)
	require.EqualValues(t, 1, v)
	_, ok = NegotiateVersion(2, 5)
	require.False(t, ok)
}

func FuzzDecoder(f *testing.F) {
	stream, _ := sampleStream()
	f.Add(stream, uint16(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, TypeData, 0}, uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		// Any split of the same bytes must yield the same frames and error,
		// before the handshake (control limit for every type) and after it.
		for _, handshaking := range []bool{false, true} {
			fuzzSplits(t, data, split, handshaking)
		}
	})
}

// fuzzSplits decodes data whole and split at split, in one state, and
// checks both give the same frames and error.
func fuzzSplits(t *testing.T, data []byte, split uint16, handshaking bool) {
	collect := func(chunks ...[]byte) ([]frame, error) {
		d := &Decoder{DataLimit: 1 << 17, CompressionOn: !handshaking, Handshaking: handshaking}
		var got []frame
		for _, c := range chunks {
			if err := d.Feed(c, func(h Header, p []byte) error {
				got = append(got, frame{h.Type, h.Flags, string(p)})
				return nil
			}); err != nil {
				return got, err
			}
		}
		return got, nil
	}
	whole, errWhole := collect(data)
	cut := int(split) % (len(data) + 1)
	parts, errParts := collect(data[:cut], data[cut:])
	require.Equal(t, whole, parts)
	require.Equal(t, errWhole == nil, errParts == nil)
	if errWhole != nil && errParts != nil {
		require.Equal(t, errWhole.Error(), errParts.Error())
	}
	for _, f := range whole {
		if handshaking && len(f.payload) > MaxControlPayload {
			t.Fatalf("a %d-byte %s frame passed the control limit before the handshake", len(f.payload), TypeName(f.typ))
		}
	}
}

func FuzzHandshake(f *testing.F) {
	f.Add(AppendHello(nil, &Hello{MinVersion: 1, MaxVersion: 1, MaxMessage: 10, ClientID: "a", Codecs: []byte{1, 2}, Transforms: []string{"t"}}))
	f.Add(AppendWelcome(nil, &Welcome{Version: 1, MaxMessage: 10, SessionID: 7, Transforms: []string{"t"}}))
	f.Fuzz(func(t *testing.T, p []byte) {
		if h, err := ParseHello(p); err == nil {
			require.NoError(t, h.Validate())
			again, err := ParseHello(AppendHello(nil, h))
			require.NoError(t, err)
			require.Equal(t, h, again)
		}
		if w, err := ParseWelcome(p); err == nil {
			again, err := ParseWelcome(AppendWelcome(nil, w))
			require.NoError(t, err)
			require.Equal(t, w, again)
		}
	})
}
