package core

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"github.com/netsys/netsys/core/internal/wire"
)

func jsonLike(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"id":%d,"user":"user-%d","action":"update","ok":true},`, i, i%17)
	}
	return b.Bytes()[:n]
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestCompressionRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		name           string
		server, client []Codec
		wantCompressed bool
	}{
		{"s2", []Codec{CodecS2}, []Codec{CodecS2}, true},
		{"zstd", []Codec{CodecZstd, CodecS2}, []Codec{CodecZstd}, true},
		{"client prefers zstd", []Codec{CodecS2, CodecZstd}, []Codec{CodecZstd, CodecS2}, true},
		{"server only", []Codec{CodecS2}, nil, false},
		{"client only", nil, []Codec{CodecZstd}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Compression: tc.server, MessageSizeLimit: 1 << 20}})
			s.OnMessage(func(sess *Session, m []byte) { sess.Send(m) })
			c := dial(t, s, ClientConfig{TransportConfig: TransportConfig{Compression: tc.client}})
			require.Equal(t, tc.wantCompressed, c.ready.params.Load().codec != wire.CodecNone)
			in := newInbox()
			c.OnMessage(in.add)
			msgs := [][]byte{[]byte("tiny"), jsonLike(1024), randomBytes(1024), jsonLike(64 << 10), randomBytes(64 << 10), jsonLike(1 << 20)}
			for _, m := range msgs {
				require.NoError(t, c.SendTimeout(m, 5e9))
			}
			waitFor(t, "echoes", func() bool { return in.count() == len(msgs) })
			require.Equal(t, msgs, in.all())
		})
	}
}

func TestCompressionBombClosesConnection(t *testing.T) {
	const limit = 64 << 10
	for _, tc := range []struct {
		codec   Codec
		id      byte
		payload []byte
	}{
		{CodecS2, wire.CodecSnappy, s2.Encode(nil, make([]byte, 10<<20))},
		{CodecZstd, wire.CodecZstd, zstdEncoder.EncodeAll(make([]byte, 10<<20), nil)},
	} {
		t.Run(string(tc.codec), func(t *testing.T) {
			require.Less(t, len(tc.payload), limit, "the bomb itself fits the frame limit")
			s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Compression: []Codec{tc.codec}, MessageSizeLimit: limit}})
			p := dialRaw(t, s.Port())
			p.write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, &wire.Hello{
				MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, Codecs: []byte{tc.id}})))
			f, _ := p.next()
			w, err := wire.ParseWelcome(f.payload)
			require.NoError(t, err)
			require.Equal(t, tc.id, w.Codec)
			p.write(wire.AppendFrame(nil, wire.TypeData, wire.FlagCompressed, tc.payload))
			code, reason := p.expectClose(wire.TypeClose)
			require.Equal(t, wire.CloseTooLarge, code)
			require.Equal(t, "message too large: 10485760 > 65536", reason)
		})
	}
}

func TestCorruptCompressedFrame(t *testing.T) {
	for _, tc := range []struct {
		codec Codec
		id    byte
		bad   []byte
	}{
		{CodecS2, wire.CodecSnappy, append(s2.Encode(nil, jsonLike(2000))[:20], 0xff, 0xff)},
		{CodecZstd, wire.CodecZstd, []byte{0x28, 0xb5, 0x2f, 0xfd, 0x20, 0x10, 0x55, 0x55, 0x55}},
		{CodecZstd, wire.CodecZstd, []byte("not zstd at all")},
	} {
		t.Run(string(tc.codec), func(t *testing.T) {
			s := startServer(t, ServerConfig{TransportConfig: TransportConfig{Compression: []Codec{tc.codec}}})
			p := dialRaw(t, s.Port())
			p.write(wire.AppendFrame(nil, wire.TypeHello, 0, wire.AppendHello(nil, &wire.Hello{
				MinVersion: 1, MaxVersion: 1, MaxMessage: 1 << 20, Codecs: []byte{tc.id}})))
			p.next()
			p.write(wire.AppendFrame(nil, wire.TypeData, wire.FlagCompressed, tc.bad))
			code, reason := p.expectClose(wire.TypeClose)
			require.Equal(t, wire.CloseProtocolError, code)
			require.Equal(t, "protocol error: corrupt compressed frame", reason)
		})
	}
}

// xorTransform is a toy symmetric transform for tests.
type xorTransform struct{ key byte }

func (x xorTransform) Encode(dst, msg []byte) ([]byte, error) {
	for _, b := range msg {
		dst = append(dst, b^x.key)
	}
	return dst, nil
}

func (x xorTransform) Decode(dst, msg []byte, limit int) ([]byte, error) {
	if len(msg) > limit {
		return dst, errors.New("too long")
	}
	return x.Encode(dst, msg)
}

// tagTransform appends a tag on encode and checks it on decode, so the order
// in which transforms are applied is observable.
type tagTransform struct{ tag string }

func (tt tagTransform) Encode(dst, msg []byte) ([]byte, error) {
	return append(append(dst, msg...), tt.tag...), nil
}

func (tt tagTransform) Decode(dst, msg []byte, limit int) ([]byte, error) {
	if !bytes.HasSuffix(msg, []byte(tt.tag)) {
		return dst, fmt.Errorf("missing tag %q", tt.tag)
	}
	return append(dst, msg[:len(msg)-len(tt.tag)]...), nil
}

func TestTransformsRoundTripAndOrder(t *testing.T) {
	require.NoError(t, RegisterTransform("xor", xorTransform{0x5a}))
	require.NoError(t, RegisterTransform("tag-a", tagTransform{"A"}))
	require.NoError(t, RegisterTransform("tag-b", tagTransform{"B"}))
	cfg := TransportConfig{Transforms: []string{"xor", "tag-a", "tag-b"}, Compression: []Codec{CodecS2}}
	s := startServer(t, ServerConfig{TransportConfig: cfg})
	s.OnMessage(func(sess *Session, m []byte) { sess.Send(m) })
	c := dial(t, s, ClientConfig{TransportConfig: TransportConfig{Transforms: []string{"tag-a", "xor"}, Compression: []Codec{CodecS2}}})
	in := newInbox()
	c.OnMessage(in.add)
	msgs := [][]byte{[]byte("secret"), jsonLike(5000), {}}
	for _, m := range msgs {
		require.NoError(t, c.Send(m))
	}
	waitFor(t, "echoes", func() bool { return in.count() == len(msgs) })
	require.Equal(t, msgs, in.all())
}

func TestTransformMismatchRejects(t *testing.T) {
	require.NoError(t, RegisterTransform("only-client", xorTransform{1}))
	s := startServer(t, ServerConfig{})
	c, err := NewClient(ClientConfig{TransportConfig: TransportConfig{Transforms: []string{"only-client"}}})
	require.NoError(t, err)
	err = c.Connect("127.0.0.1", s.Port())
	require.ErrorIs(t, err, ErrRejected)
	require.Contains(t, err.Error(), "transform mismatch: only-client")
}

// failingTransform fails to decode anything containing "bad".
type failingTransform struct{}

func (failingTransform) Encode(dst, msg []byte) ([]byte, error) { return append(dst, msg...), nil }
func (failingTransform) Decode(dst, msg []byte, _ int) ([]byte, error) {
	if bytes.Contains(msg, []byte("bad")) {
		return dst, errors.New("plugin refused message")
	}
	return append(dst, msg...), nil
}

func TestFailingTransformClosesOnlyThatConnection(t *testing.T) {
	require.NoError(t, RegisterTransform("picky", failingTransform{}))
	cfg := TransportConfig{Transforms: []string{"picky"}}
	s := startServer(t, ServerConfig{TransportConfig: cfg})
	errs := make(chan error, 4)
	s.OnError(func(_ *Session, err error) { errs <- err })
	s.OnMessage(func(sess *Session, m []byte) { sess.Send(m) })
	victim := dial(t, s, ClientConfig{TransportConfig: cfg})
	reasons := make(chan string, 1)
	victim.OnDisconnect(func(r string) { reasons <- r })
	other := dial(t, s, ClientConfig{TransportConfig: cfg})
	in := newInbox()
	other.OnMessage(in.add)
	victim.Send([]byte("bad message"))
	require.Contains(t, <-reasons, "plugin refused message")
	require.ErrorIs(t, <-errs, ErrTransform)
	other.Send([]byte("fine"))
	waitFor(t, "other still served", func() bool { return in.count() == 1 })
}

func TestDecompressRefusesBeforeAllocating(t *testing.T) {
	bomb := s2.Encode(nil, make([]byte, 1<<20))
	_, err := decompress(wire.CodecSnappy, nil, bomb, 1000)
	require.ErrorIs(t, err, wire.ErrTooLarge)
	// A zstd frame without a content size is refused: its size is unknowable.
	enc, _ := zstd.NewWriter(nil, zstd.WithSingleSegment(false))
	var buf bytes.Buffer
	enc.Reset(&buf)
	enc.Write(make([]byte, 100))
	enc.Close()
	_, err = decompress(wire.CodecZstd, nil, buf.Bytes(), 1000)
	require.Error(t, err)
}
